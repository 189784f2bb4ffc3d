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

import m3t_bench
from m3t_bench.errors import UserError, ValidationFailed
from m3t_bench.fileio import atomic_write_text
from m3t_bench.protocols import PARTS

SCHEMA = "m3t-bench-results"
SCHEMA_VERSION = 1
TIMESTAMP_FIELD = "created"
#: Distributions whose versions are recorded in every results file.
RECORDED_PACKAGES = ("numpy", "torch", "numba", "scipy", "sacrebleu", "rouge-score", "jieba", "smplx")
#: Parts a score may be reported for: every part a registered metric declares (:mod:`m3t_bench.protocols`).
SCORE_PARTS = PARTS

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
    lines = [json.dumps({"id": sample_id, "metric": metric, "part": part, "value": values[sample_id]},
                        sort_keys=True, allow_nan=False)
             for (metric, part), values in sorted(per_sample.items()) for sample_id in sorted(values)]
    return atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


def dumps_results(data: dict) -> str:
    """Canonical JSON text: sorted keys, 2-space indent, no NaN/Infinity, floats at full precision."""
    try:
        return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as exc:
        raise ValueError(f"results hold a non-finite number, which JSON cannot carry: {exc}") from None


def write_results(path: str | Path, data: dict) -> Path:
    """Validate ``data`` against the schema and write it atomically (see :func:`dumps_results`)."""
    problems = results_problems(data)
    if problems:
        raise ValueError("refusing to write an invalid results file: " + "; ".join(problems))
    return atomic_write_text(path, dumps_results(data))


def read_results(path: str | Path) -> dict:
    """Read and schema-check a results file; :class:`ValidationFailed` lists every problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("file not found; expected a results JSON written by `m3t-bench score --json`",
                        file=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"not readable as JSON ({exc}); expected a results file", file=path) from None
    problems = results_problems(data)
    if problems:
        raise ValidationFailed([f"{path}: {p}" for p in problems])
    return data


__all__ = ["RECORDED_PACKAGES", "SCHEMA", "SCHEMA_VERSION", "SCORE_PARTS", "TIMESTAMP_FIELD", "build_results",
           "dumps_results", "git_commit", "package_versions", "read_results", "results_problems", "score_entry",
           "score_problems", "toolkit_info", "utc_timestamp", "write_per_sample", "write_results"]
