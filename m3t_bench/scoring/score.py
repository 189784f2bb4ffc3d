"""The scoring engine behind ``m3t-bench score``.

For every sample, the prediction and the reference go through the *same* SMPL-FX model
(``model.evaluation_points(set_name, ...)``), with the reference sample's shape vector for both (the
metrics measure motion, not body shape; a ``shape`` array in a prediction is ignored). Forward passes are
batched over the frames of many samples at once (one call per chunk of about ``POINT_BUDGET`` points), then
every DTW metric of the protocol that uses that joint set runs over the chunk's pairs in parallel
(``jobs``). Skeleton-only submissions (``joints`` in the model's ``joint_names`` order) are scored on joint
sets made of named joints only; sets needing vertices (fingertips, face) are skipped and recorded in
``skipped``.

Back-translation: ``bt_hyps`` is a UTF-8 text file of ``<sample_id>\\t<hypothesis>`` lines, one per sample
of the split, produced by any back-translation model; BLEU-4 and ROUGE-L are computed against the split's
reference texts with the dataset's language-aware tokenisation. No back-translation model format exists in
the toolkit yet, so ``bt_model`` is refused with a message rather than producing a number.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write_text
from m3t_bench.results import (TIMESTAMP_FIELD, SCHEMA, SCHEMA_VERSION, package_versions,
                               toolkit_info, utc_timestamp, write_results)
from m3t_bench.scoring.submission import JOINTS_KIND, Submission, check_submission

#: Points (frames x evaluation points) per batched forward pass and DTW chunk (~190 MB per float32 array).
POINT_BUDGET = 16_000_000
N_BOOTSTRAP = 1000


def validate_against_split(pred_dir: str | Path, dataset: str | Path, *, split: str = "test",
                           data_root: str | Path | None = None):
    """Open the split and validate the submission against it -> ``(Submission, Split)``."""
    from m3t_bench.datasets import open_split
    sp = open_split(dataset, split, data_root=data_root)
    return check_submission(pred_dir, {e["id"]: int(e["n_frames"]) for e in sp.entries},
                            reference_files={i: sp.path(i) for i in sp.ids}), sp


def predictions_sha256(root: str | Path, ids: list[str]) -> str:
    """sha256 over the sorted prediction files: for each, its name, a NUL, its byte length, a NUL, its bytes."""
    digest = hashlib.sha256()
    for sample_id in sorted(ids):
        data = (Path(root) / f"{sample_id}.npz").read_bytes()
        digest.update(f"{sample_id}.npz\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def read_bt_hypotheses(path: str | Path, ids: list[str]) -> dict[str, str]:
    """Parse ``<sample_id>\\t<hypothesis>`` lines; every split id exactly once (all problems reported)."""
    from m3t_bench.errors import ValidationFailed
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"unreadable ({type(exc).__name__}); expected UTF-8 lines '<sample_id>\\t<text>'",
                        file=path) from None
    hyps: dict[str, str] = {}
    problems = []
    wanted = set(ids)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        sample_id, tab, text = line.partition("\t")
        if not tab:
            problems.append(f"{path}: line {lineno}: no tab; expected '<sample_id>\\t<hypothesis>'")
        elif sample_id not in wanted:
            problems.append(f"{path}: line {lineno}: id {sample_id!r} is not in the split")
        elif sample_id in hyps:
            problems.append(f"{path}: line {lineno}: id {sample_id!r} appears twice; expected once")
        else:
            hyps[sample_id] = text.strip()
    problems += [f"{path}: {i}: missing hypothesis; expected one line per split id" for i in ids if i not in hyps]
    if problems:
        raise ValidationFailed(problems)
    return hyps


@dataclass
class ScoreReport:
    """``results``: the results object (:mod:`m3t_bench.results` schema); ``per_sample``: metric key
    ``(metric, part)`` -> ``{sample_id: value}``."""

    results: dict
    per_sample: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)

    def write_json(self, path: str | Path) -> Path:
        return write_results(path, self.results)

    def write_per_sample(self, path: str | Path) -> Path:
        """One JSON line per (metric, part, sample), sorted; full-precision floats."""
        lines = []
        for (metric, part), values in sorted(self.per_sample.items()):
            for sample_id in sorted(values):
                lines.append(json.dumps({"id": sample_id, "metric": metric, "part": part,
                                         "value": values[sample_id]}, sort_keys=True, allow_nan=False))
        return atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


# ------------------------------------------------------------------------------------------ geometry
def _frames_tensor(seqs: list, stream: str) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([np.asarray(getattr(s, stream), dtype=np.float32) for s in seqs]))


def _shape_tensor(refs: list, lengths: list[int]) -> torch.Tensor:
    """Per-frame (N, 310) shape: each reference sample's shape repeated over the frames it pairs with."""
    return torch.from_numpy(np.concatenate([np.repeat(r.full_shape()[None], n, axis=0) for r, n in zip(refs, lengths)]))


def _split_frames(points: torch.Tensor, lengths: list[int]) -> list[np.ndarray]:
    arr = points.detach().cpu().numpy()
    return list(np.split(arr, np.cumsum(lengths)[:-1]))


def model_points(model, set_names: tuple[str, ...], seqs: list, refs: list) -> dict[str, list[np.ndarray]]:
    """Evaluation points ``(T_i, P, 3)`` (metres) of each sequence in ``seqs`` for each named joint set, in one
    forward pass, using the shape vector of the paired reference in ``refs``: set name -> list per sequence."""
    lengths = [s.n_frames for s in seqs]
    with torch.no_grad():
        points = model.evaluation_points_many(
            tuple(set_names), **{s: _frames_tensor(seqs, s) for s in ("body", "lhand", "rhand", "face")},
            shape=_shape_tensor(refs, lengths))
    return {name: _split_frames(p, lengths) for name, p in points.items()}


#: Joint sets up to this many points are evaluated together in one forward pass (the kinematic chain is
#: shared); larger ones (the face region) get passes of their own, chunked to fit ``POINT_BUDGET``.
SHARED_PASS_MAX_POINTS = 1000


def _passes(set_names: list[str]) -> list[tuple[str, ...]]:
    from m3t_bench.body.joint_sets import JOINT_SETS
    small = tuple(n for n in set_names if len(JOINT_SETS[n].points) <= SHARED_PASS_MAX_POINTS)
    return ([small] if small else []) + [(n,) for n in set_names if n not in small]


def _chunks(ids: list[str], sub: Submission, refs: dict, n_points: int) -> list[list[str]]:
    """Consecutive groups of ids whose prediction + reference frames times ``n_points`` fit ``POINT_BUDGET``."""
    budget = max(1, POINT_BUDGET // max(1, n_points))
    out, cur, used = [], [], 0
    for sample_id in ids:
        frames = sub.samples[sample_id].n_frames + refs[sample_id].n_frames
        if cur and used + frames > budget:
            out.append(cur)
            cur, used = [], 0
        cur.append(sample_id)
        used += frames
    if cur:
        out.append(cur)
    return out


# ------------------------------------------------------------------------------------------ protocol
@dataclass(frozen=True)
class ScoreItem:
    """One number the protocol asks for, as the engine needs it. ``joint_set`` is ``None`` for text metrics;
    ``params`` are the metric function's keyword arguments (e.g. align, norm, unit, backend)."""

    metric: str
    part: str
    joint_set: str | None
    unit: str
    higher_is_better: bool
    signature: str
    params: tuple[tuple[str, object], ...] = ()


def protocol_items(protocol, *, model_id: str, dataset_id: str, language: str, seed: int = 0,
                   n_resamples: int = N_BOOTSTRAP, bt_id: str | None = None) -> list[ScoreItem]:
    """The protocol's items turned into :class:`ScoreItem` s with their signatures (which record the body
    model, dataset, bootstrap resamples and seed and, for text metrics, the back-translation source)."""
    from m3t_bench.protocols import get_metric
    items = []
    for item in protocol.items:
        spec = get_metric(item.metric)
        extra = {"boot": f"{n_resamples}-s{seed}"}
        if item.joint_set is None and bt_id is not None:
            extra["bt"] = bt_id
        signature = protocol.signature_for(item, body_model_id=model_id, dataset_id=dataset_id, language=language,
                                           extra=extra)
        items.append(ScoreItem(metric=item.metric, part=item.part, joint_set=item.joint_set,
                               unit=str(item.params.get("unit", spec.unit)), higher_is_better=spec.higher_is_better,
                               signature=str(signature), params=tuple(sorted(item.params.items()))))
    return items


# ------------------------------------------------------------------------------------------ engine
def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="sample", disable=not enabled, leave=False, file=__import__("sys").stderr)


def _geometric_values(items: list[ScoreItem], sub: Submission, refs: dict, model, *, jobs: int, progress: bool,
                      skipped: list[dict]) -> dict[ScoreItem, np.ndarray]:
    """Per-sample values (in sorted-id order) of every DTW metric. Small joint sets share one forward pass per
    chunk of samples (see :func:`_passes`); sets a skeleton-only submission cannot give are recorded in
    ``skipped``."""
    from m3t_bench.body.joint_sets import JOINT_SETS
    from m3t_bench.metrics import dtw_jpe_many
    ids = sub.ids
    values: dict[ScoreItem, list[float]] = {it: [] for it in items}
    skipped_sets: set[str] = set()
    for names in _passes(sorted({it.joint_set for it in items})):
        index: dict[str, list[int]] = {}
        if sub.kind == JOINTS_KIND:
            for set_name in names:
                jset = JOINT_SETS[set_name]
                lacking = [p for p in jset.points if p not in model.joint_names]
                if not lacking:
                    index[set_name] = [model.joint_names.index(p) for p in jset.points]
                    continue
                skipped_sets.add(set_name)
                for it in items:
                    if it.joint_set == set_name:
                        skipped.append({"metric": it.metric, "part": it.part,
                                        "reason": f"skeleton-only submission: joint set {set_name!r} needs "
                                                  f"{len(lacking)} point(s) that are not among the model's "
                                                  f"{len(model.joint_names)} joints (e.g. {lacking[0]})"})
            names = tuple(n for n in names if n in index)
            if not names:
                continue
        n_points = sum(len(JOINT_SETS[n].points) for n in names)
        with _progress(len(ids), f"{', '.join(names)} ({n_points} points)", progress) as bar:
            for chunk in _chunks(ids, sub, refs, n_points):
                chunk_refs = [refs[i] for i in chunk]
                ref_points = model_points(model, names, chunk_refs, chunk_refs)
                if sub.kind == JOINTS_KIND:
                    joints = [np.asarray(sub.samples[i].joints, dtype=np.float32) for i in chunk]
                    pred_points = {n: [j[:, index[n]] for j in joints] for n in names}
                else:
                    pred_points = model_points(model, names, [sub.samples[i] for i in chunk], chunk_refs)
                for it in items:
                    if it.joint_set in names:
                        jset = JOINT_SETS[it.joint_set]
                        values[it].extend(dtw_jpe_many(pred_points[it.joint_set], ref_points[it.joint_set],
                                                       root=jset.root, scored=jset.scored, jobs=jobs,
                                                       **dict(it.params)))
                bar.update(len(chunk))
    return {it: np.asarray(v, dtype=np.float64) for it, v in values.items() if it.joint_set not in skipped_sets}


def _text_values(items: list[ScoreItem], hyps: dict[str, str], split, *, seed: int,
                 n_resamples: int) -> dict[ScoreItem, tuple[float, np.ndarray, list[float]]]:
    """(corpus value, per-sample values, 95% CI) of BLEU-4 / ROUGE-L over the split's reference texts.
    BLEU's per-sample values are sentence statistics rows (resampled for the CI), ROUGE-L's are sentence F."""
    from m3t_bench.metrics import bleu_from_statistics, bleu_statistics, bootstrap_ci, rouge_l_per_sentence
    ids = sorted(hyps)
    refs = [split.entry(i)["text"] for i in ids]
    hyp_list = [hyps[i] for i in ids]
    lang = split.spec.language
    out = {}
    for it in items:
        kwargs = dict(it.params)
        if it.metric == "bleu4":
            stats = bleu_statistics(hyp_list, refs, lang, **kwargs)
            ci = bootstrap_ci(stats, seed=seed, n_resamples=n_resamples, statistic=bleu_from_statistics)
            out[it] = (bleu_from_statistics(stats), stats, list(ci))
        elif it.metric == "rouge-l":
            per = rouge_l_per_sentence(hyp_list, refs, lang, **kwargs)
            out[it] = (float(per.mean()), per, list(bootstrap_ci(per, seed=seed, n_resamples=n_resamples)))
        else:
            raise UserError(f"metric {it.metric!r} of this protocol cannot be computed from back-translations",
                            field="--protocol")
    return out


def _score_entry(it: ScoreItem, value: float, ci: list[float], n: int) -> dict:
    return {"metric": it.metric, "part": it.part, "value": float(value), "unit": it.unit,
            "ci95": [float(ci[0]), float(ci[1])], "n": int(n), "higher_is_better": bool(it.higher_is_better),
            "signature": it.signature}


def score_submission(pred_dir: str | Path, dataset: str | Path, *, split: str = "test", protocol: str = "m3t@1",
                     body_models: str | Path | None = None, data_root: str | Path | None = None, jobs: int = 1,
                     seed: int = 0, bt_hyps: str | Path | None = None, bt_model: str | Path | None = None,
                     progress: bool = False, model=None, n_resamples: int = N_BOOTSTRAP) -> ScoreReport:
    """Validate then score a submission folder; return the results object and per-sample values.

    ``model``: an already built :class:`m3t_bench.body.SMPLFX` (else built from ``body_models`` /
    ``$M3T_BODY_MODELS``). ``jobs``: parallel DTW workers (results do not depend on it).
    """
    if bt_model is not None:
        raise UserError("no back-translation model format is available in this toolkit yet; run your "
                        "back-translation model yourself and pass its outputs with --bt-hyps FILE "
                        "('<sample_id>\\t<text>' lines)", field="--bt-model")
    if jobs < 1:
        raise UserError(f"{jobs}; expected at least 1", field="--jobs")
    sub, sp = validate_against_split(pred_dir, dataset, split=split, data_root=data_root)
    from m3t_bench.metrics import bootstrap_ci
    from m3t_bench.protocols import get_protocol
    proto = get_protocol(protocol)
    hyps = read_bt_hypotheses(bt_hyps, sp.ids) if bt_hyps is not None else None
    if model is None:
        from m3t_bench.body import SMPLFX, resolve_body_models
        model = SMPLFX.from_dir(resolve_body_models(body_models))
    bt_id = None if bt_hyps is None else "hyps-" + hashlib.sha256(Path(bt_hyps).read_bytes()).hexdigest()[:12]
    items = protocol_items(proto, model_id=model.model_id, dataset_id=sp.spec.id, language=sp.spec.language,
                           seed=seed, n_resamples=n_resamples, bt_id=bt_id)
    refs = {i: sp.load(i) for i in sub.ids}
    skipped: list[dict] = []
    geometric = _geometric_values([it for it in items if it.joint_set], sub, refs, model, jobs=jobs,
                                  progress=progress, skipped=skipped)
    text_items = [it for it in items if not it.joint_set]
    if hyps is None:
        skipped += [{"metric": it.metric, "part": it.part,
                     "reason": "no back-translation hypotheses given (--bt-hyps) and no back-translation model "
                               "is registered for this dataset"} for it in text_items]
        text = {}
    else:
        text = _text_values(text_items, hyps, sp, seed=seed, n_resamples=n_resamples)
    scores, per_sample = [], {}
    for it in items:
        if it in geometric:
            vals = geometric[it]
            ci = bootstrap_ci(vals, seed=seed, n_resamples=n_resamples)
            scores.append(_score_entry(it, float(vals.mean()), ci, len(vals)))
            per_sample[(it.metric, it.part)] = dict(zip(sub.ids, map(float, vals)))
        elif it in text:
            value, vals, ci = text[it]
            scores.append(_score_entry(it, value, ci, len(hyps)))
            if vals.ndim == 1:
                per_sample[(it.metric, it.part)] = dict(zip(sorted(hyps), map(float, vals)))
    results = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, TIMESTAMP_FIELD: utc_timestamp(),
        "toolkit": toolkit_info(), "system": dict(sub.meta), "protocol": proto.name,
        "dataset": {"name": sp.spec.name, "version": sp.spec.version, "split": sp.split,
                    "manifest_sha256": sp.manifest_sha256, "n_samples": len(sp.entries)},
        "body_model": {"model_id": model.model_id},
        "predictions": {"sha256": predictions_sha256(sub.root, sub.ids), "n_files": len(sub.ids), "kind": sub.kind},
        "bootstrap": {"seed": seed, "n_resamples": n_resamples},
        "scores": scores, "skipped": skipped, "packages": package_versions(),
    }
    return ScoreReport(results=results, per_sample=per_sample)


def format_scores(results: dict) -> str:
    """The human-readable table printed by ``m3t-bench score``: one row per number, then the signatures."""
    from tabulate import tabulate
    rows = [[s["metric"], s["part"], f"{s['value']:.3f}",
             "" if s["ci95"] is None else f"[{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]", s["n"], s["unit"]]
            for s in results["scores"]]
    ds = results["dataset"]
    head = (f"{results['system']['system']} on {ds['name']}@{ds['version']} {ds['split']} "
            f"({results['predictions']['kind']}), protocol {results['protocol']}, body model "
            f"{results['body_model']['model_id']}")
    lines = [head, tabulate(rows, headers=["metric", "part", "value", "95% CI", "n", "unit"], tablefmt="github")]
    lines += [f"{s['metric']}/{s['part']}: {s['signature']}" for s in results["scores"]]
    lines += [f"skipped {s['metric']}/{s['part']}: {s['reason']}" for s in results["skipped"]]
    return "\n".join(lines)
