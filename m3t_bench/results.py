"""The results JSON written by ``m3t-bench score --json`` and read by ``m3t-bench table``.

One file = one system scored on one dataset split under one protocol. Layout (schema version 1)::

    {
      "schema": "m3t-bench-results", "schema_version": 1,
      "created": "2025-01-01T00:00:00Z",            # the ONE timestamp; everything else is reproducible
      "toolkit": {"name": "m3t-bench", "version": "0.1.0", "git": "<commit>" | null},
      "system": {"system": ..., "paper": ..., "url": ..., "params": ...},   # the submission's meta.json
      "protocol": "m3t@1",
      "dataset": {"name": "csl-daily", "version": 1, "split": "test", "manifest_sha256": "...", "n_samples": 1176},
      "body_model": {"model_id": "smplfx-standin@1"},
      "predictions": {"sha256": "...", "n_files": 1176, "kind": "streams" | "joints"},
      "bootstrap": {"seed": 0, "n_resamples": 1000},
      "scores": [{"metric": "dtw-jpe", "part": "body", "value": 4.63, "unit": "mm", "ci95": [lo, hi],
                  "n": 1176, "higher_is_better": false, "signature": "dtw-jpe@1|part:body|..."}, ...],
      "skipped": [{"metric": "dtw-vpe", "part": "face", "reason": "..."}],
      "packages": {"numpy": "...", "torch": "...", ...}
    }

Files are written atomically with sorted keys, ``allow_nan=False`` and full-precision floats (Python's
``repr``, which round-trips), so identical inputs give byte-identical files apart from ``created``.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

import m3t_bench
from m3t_bench.errors import UserError, ValidationFailed
from m3t_bench.fileio import atomic_write_text
from m3t_bench.protocols import METRICS, PARTS
from m3t_bench.safe_read import decode_utf8, open_regular, parse_json, read_json

SCHEMA = "m3t-bench-results"
SCHEMA_VERSION = 1
TIMESTAMP_FIELD = "created"
#: Distributions whose versions are recorded in every results file.
RECORDED_PACKAGES = ("numpy", "torch", "numba", "scipy", "sacrebleu", "rouge-score", "jieba", "smplx")
#: Parts a score may be reported for: every part a registered metric declares (:mod:`m3t_bench.protocols`).
SCORE_PARTS = PARTS
#: Relative tolerance of :func:`check_per_sample` (aggregated per-sample values vs the results file's value).
PER_SAMPLE_RTOL = 1e-9
#: Longest accepted line of a per-sample file (bytes): bounds memory on a corrupt file.
MAX_PER_SAMPLE_LINE = 4096

_TOP_LEVEL: dict[str, type | tuple[type, ...]] = {
    "schema": str, "schema_version": int, TIMESTAMP_FIELD: str, "toolkit": dict, "system": dict,
    "protocol": str, "dataset": dict, "body_model": dict, "predictions": dict, "bootstrap": dict,
    "scores": list, "skipped": list, "packages": dict,
}
_NESTED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "toolkit": {"name": str, "version": str, "git": (str, type(None))},
    "system": {"system": str},
    "dataset": {"name": str, "version": int, "split": str, "manifest_sha256": str, "n_samples": int},
    "body_model": {"model_id": str},
    "predictions": {"sha256": str, "n_files": int, "kind": str},
    "bootstrap": {"seed": int, "n_resamples": int},
}
_SCORE: dict[str, type | tuple[type, ...]] = {
    "metric": str, "part": str, "value": (int, float), "unit": str, "ci95": (list, type(None)), "n": int,
    "higher_is_better": bool, "signature": str,
}


def package_versions() -> dict[str, str | None]:
    """Installed versions of :data:`RECORDED_PACKAGES` (``None`` for one that is not installed)."""
    out: dict[str, str | None] = {}
    for name in RECORDED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_commit(repo_dir: str | Path | None = None) -> str | None:
    """The toolkit checkout's commit hash, or ``None`` (no git, not a checkout, any failure)."""
    repo_dir = Path(repo_dir) if repo_dir else Path(m3t_bench.__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(repo_dir), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def toolkit_info() -> dict:
    return {"name": "m3t-bench", "version": m3t_bench.__version__, "git": git_commit()}


def utc_timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _type_problem(where: str, value, want) -> str | None:
    wants = want if isinstance(want, tuple) else (want,)
    if isinstance(value, bool) and bool not in wants:
        return f"{where}: got a boolean; expected {'/'.join(w.__name__ for w in wants)}"
    if not isinstance(value, wants):
        return f"{where}: got {type(value).__name__}; expected {'/'.join(w.__name__ for w in wants)}"
    return None


def score_problems(score, where: str) -> list[str]:
    """Problems with one entry of ``scores`` (empty when valid)."""
    if not isinstance(score, dict):
        return [f"{where}: got {type(score).__name__}; expected an object"]
    out = [p for key, want in _SCORE.items() if key in score and (p := _type_problem(f"{where}.{key}", score[key], want))]
    out += [f"{where}.{key}: missing" for key in _SCORE if key not in score]
    if out:
        return out
    if not math.isfinite(score["value"]):
        out.append(f"{where}.value: {score['value']!r}; expected a finite number")
    if score["part"] not in SCORE_PARTS:
        out.append(f"{where}.part: {score['part']!r}; expected one of {', '.join(SCORE_PARTS)}")
    ci = score["ci95"]
    if ci is not None and (len(ci) != 2 or not all(isinstance(c, (int, float)) and math.isfinite(c) for c in ci)
                           or ci[0] > ci[1]):
        out.append(f"{where}.ci95: {ci!r}; expected [lo, hi] with finite lo <= hi, or null")
    if score["n"] < 1:
        out.append(f"{where}.n: {score['n']}; expected >= 1")
    return out


def results_problems(data) -> list[str]:
    """Every schema problem of a parsed results object, one line each (empty when valid)."""
    if not isinstance(data, dict):
        return [f"(top level): got {type(data).__name__}; expected an object"]
    out = [f"{key}: missing" for key in _TOP_LEVEL if key not in data]
    out += [p for key, want in _TOP_LEVEL.items() if key in data and (p := _type_problem(key, data[key], want))]
    out += [f"{key}: unknown key" for key in sorted(set(data) - set(_TOP_LEVEL))]
    if out:
        return out
    if data["schema"] != SCHEMA:
        out.append(f"schema: {data['schema']!r}; expected {SCHEMA!r}")
    if data["schema_version"] != SCHEMA_VERSION:
        out.append(f"schema_version: {data['schema_version']}; this toolkit reads version {SCHEMA_VERSION}")
    for section, fields in _NESTED.items():
        for key, want in fields.items():
            if key not in data[section]:
                out.append(f"{section}.{key}: missing")
            elif p := _type_problem(f"{section}.{key}", data[section][key], want):
                out.append(p)
    for i, score in enumerate(data["scores"]):
        out += score_problems(score, f"scores[{i}]")
    keys = [(s.get("metric"), s.get("part")) for s in data["scores"] if isinstance(s, dict)]
    for dup in sorted({k for k in keys if keys.count(k) > 1}):
        out.append(f"scores: metric {dup[0]!r} part {dup[1]!r} appears more than once; expected once")
    for i, skip in enumerate(data["skipped"]):
        if not isinstance(skip, dict) or not {"metric", "part", "reason"} <= set(skip):
            out.append(f"skipped[{i}]: expected an object with metric, part, reason")
    return out


def score_entry(*, metric: str, part: str, value: float, unit: str, ci95: tuple[float, float] | None, n: int,
                higher_is_better: bool, signature: str) -> dict:
    """One entry of ``scores``, with plain JSON types."""
    return {"metric": metric, "part": part, "value": float(value), "unit": unit,
            "ci95": None if ci95 is None else [float(ci95[0]), float(ci95[1])], "n": int(n),
            "higher_is_better": bool(higher_is_better), "signature": signature}


def build_results(*, system: dict, protocol: str, dataset: dict, body_model_id: str, predictions: dict,
                  bootstrap: dict, scores: list[dict], skipped: list[dict]) -> dict:
    """A results object (schema above) from its parts; adds the schema, the timestamp, the toolkit and the
    package versions. ``dataset``: name, version, split, manifest_sha256, n_samples; ``predictions``: sha256,
    n_files, kind; ``bootstrap``: seed, n_resamples."""
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, TIMESTAMP_FIELD: utc_timestamp(),
            "toolkit": toolkit_info(), "system": dict(system), "protocol": protocol, "dataset": dict(dataset),
            "body_model": {"model_id": body_model_id}, "predictions": dict(predictions),
            "bootstrap": dict(bootstrap), "scores": scores, "skipped": skipped, "packages": package_versions()}


def write_per_sample(path: str | Path, per_sample: Mapping[tuple[str, str], Mapping[str, float]]) -> Path:
    """Write per-sample values (``(metric, part)`` -> ``{sample_id: value}``) atomically as JSON lines
    ``{"id", "metric", "part", "value"}``, sorted by metric, part and id; full-precision floats."""
    return atomic_write_text(path, per_sample_text(per_sample))


def per_sample_text(per_sample: Mapping[tuple[str, str], Mapping[str, float]]) -> str:
    """The JSON-lines text of :func:`write_per_sample`."""
    lines = [json.dumps({"id": sample_id, "metric": metric, "part": part, "value": values[sample_id]},
                        sort_keys=True, allow_nan=False)
             for (metric, part), values in sorted(per_sample.items()) for sample_id in sorted(values)]
    return "\n".join(lines) + ("\n" if lines else "")


def read_per_sample(path: str | Path, expected: dict[tuple[str, str], int] | None = None, *, links: str = "follow"
                    ) -> dict[tuple[str, str], dict[str, float]]:
    """Read a ``--per-sample`` JSONL file: ``{"id", "metric", "part", "value"}`` per line ->
    ``{(metric, part): {sample_id: value}}``. :class:`UserError` names the line of the first problem. With
    ``expected`` (``{(metric, part): n}``), reading stops at the first value of an unexpected metric or the
    first value beyond ``n``, so memory stays bounded by the results file's sample counts. The file is opened
    through :mod:`m3t_bench.safe_read` (a regular file: never a FIFO or device; ``links``: its link policy)."""
    path = Path(path)
    out: dict[tuple[str, str], dict[str, float]] = {}
    expect = " written together with the results file" if expected is not None else ""
    try:
        with open_regular(path, links=links, what="--per-sample JSONL of m3t-bench score") as fh:
            for lineno, raw in enumerate(iter(lambda: fh.readline(MAX_PER_SAMPLE_LINE + 1), b""), start=1):
                if len(raw) > MAX_PER_SAMPLE_LINE:
                    raise UserError(f"line {lineno} is longer than {MAX_PER_SAMPLE_LINE} bytes; expected one short JSON "
                                    f"object per line", file=path)
                if not raw.strip():
                    continue
                try:
                    row = parse_json(decode_utf8(raw, file=path), file=path)
                except UserError as exc:
                    raise UserError(f"line {lineno} is not JSON ({exc.detail}); expected {{\"id\", \"metric\", "
                                    f"\"part\", \"value\"}}", file=path) from None
                ok = (isinstance(row, dict) and all(isinstance(row.get(k), str) for k in ("id", "metric", "part"))
                      and isinstance(row.get("value"), (int, float)) and not isinstance(row.get("value"), bool)
                      and math.isfinite(row["value"]))
                if not ok:
                    raise UserError(f"line {lineno}: expected string id, metric, part and a finite number value",
                                    file=path)
                key = (row["metric"], row["part"])
                if expected is not None and key not in expected:
                    raise UserError(f"line {lineno}: {key[0]} {key[1]} has per-sample values but no score in the "
                                    f"results file; expected the --per-sample file{expect}", file=path)
                values = out.setdefault(key, {})
                if row["id"] in values:
                    raise UserError(f"line {lineno}: sample {row['id']!r} appears twice for {key[0]} {key[1]}; "
                                    f"expected once", file=path)
                if expected is not None and len(values) >= expected[key]:
                    raise UserError(f"line {lineno}: more than n={expected[key]} per-sample values for {key[0]} "
                                    f"{key[1]}; expected the --per-sample file{expect}", file=path)
                values[row["id"]] = float(row["value"])
    except OSError as exc:
        raise UserError(f"not readable ({type(exc).__name__}); expected the --per-sample JSONL of "
                        f"m3t-bench score", file=path) from None
    return out


def check_per_sample(per_sample: dict[tuple[str, str], dict[str, float]], results: dict, path: Path) -> None:
    """Refuse (:class:`UserError`) a per-sample file that does not belong to ``results``: a (metric, part)
    without a score, a count other than the score's ``n``, or values that the metric's aggregation (its spec's
    ``aggregate``, e.g. the mean) does not turn into the score's value (relative tolerance
    :data:`PER_SAMPLE_RTOL`: the same run's file agrees to the last bits; a rerun may differ ~1e-9)."""
    scores = {(s["metric"], s["part"]): s for s in results["scores"]}
    for (metric, part), values in per_sample.items():
        score = scores.get((metric, part))
        if score is None:
            raise UserError(f"{metric} {part} has per-sample values but no score in the results file; expected "
                            f"the --per-sample file written together with it", file=path)
        if len(values) != score["n"]:
            raise UserError(f"{metric} {part}: {len(values)} per-sample values, the results file says n="
                            f"{score['n']}; expected the --per-sample file written together with it", file=path)
        spec = METRICS.get(metric)
        if spec is None:
            continue  # (an unregistered metric: its aggregation is unknown, only the count is checked)
        value = spec.aggregate(np.fromiter(values.values(), dtype=np.float64))
        if not math.isclose(value, score["value"], rel_tol=PER_SAMPLE_RTOL, abs_tol=1e-12):
            raise UserError(f"{metric} {part}: the per-sample values aggregate to {value!r}, the results file says "
                            f"{score['value']!r}; expected the --per-sample file written together with it",
                            file=path)


def dumps_results(data: dict) -> str:
    """Canonical JSON text: sorted keys, 2-space indent, no NaN/Infinity, floats at full precision."""
    try:
        return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as exc:
        raise ValueError(f"results hold a non-finite number, which JSON cannot carry: {exc}") from None


def results_text(data: dict) -> str:
    """The text of a results file: ``data`` validated against the schema, then :func:`dumps_results`."""
    problems = results_problems(data)
    if problems:
        raise ValueError("refusing to write an invalid results file: " + "; ".join(problems))
    return dumps_results(data)


def write_results(path: str | Path, data: dict) -> Path:
    """Validate ``data`` against the schema and write it atomically (see :func:`results_text`)."""
    return atomic_write_text(path, results_text(data))


def read_results(path: str | Path) -> dict:
    """Read and schema-check a results file; :class:`ValidationFailed` lists every problem."""
    path = Path(path)
    data = read_json(path, what="results JSON written by `m3t-bench score --json`")
    problems = results_problems(data)
    if problems:
        raise ValidationFailed([f"{path}: {p}" for p in problems])
    return data


__all__ = ["MAX_PER_SAMPLE_LINE", "PER_SAMPLE_RTOL", "RECORDED_PACKAGES", "SCHEMA", "SCHEMA_VERSION", "SCORE_PARTS",
           "TIMESTAMP_FIELD", "build_results", "check_per_sample", "dumps_results", "git_commit", "package_versions",
           "read_per_sample", "read_results", "results_problems", "score_entry", "score_problems", "toolkit_info",
           "utc_timestamp", "write_per_sample", "write_results"]
