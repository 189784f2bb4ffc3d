"""The scoring engine behind ``m3t-bench score``: a submission scored under a protocol.

Every number goes through its metric spec (:mod:`m3t_bench.protocols`): metrics on points get the
evaluation points of the item's joint set (:mod:`m3t_bench.scoring.points`: prediction and reference
through the same SMPL-FX model, batched, memory-bounded), text metrics get back-translation hypotheses
(:mod:`m3t_bench.scoring.backtranslation`) against the split's reference texts with the dataset's
language-aware tokenisation; each item's per-sample values are then aggregated with a bootstrap CI and
signed (:mod:`m3t_bench.scoring.items`). Skeleton-only submissions (``joints`` in the model's
``joint_names`` order) are scored on joint sets made of named joints only; sets needing vertices
(fingertips, face) are skipped and recorded in ``skipped``, as are text metrics without hypotheses.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from m3t_bench.body import SMPLFX, resolve_body_models
from m3t_bench.datasets import open_split
from m3t_bench.errors import UserError
from m3t_bench.protocols import Protocol, get_metric, get_protocol
from m3t_bench.results import build_results, write_per_sample, write_results
from m3t_bench.scoring.backtranslation import BackTranslations, check_back_translations, read_hypotheses_file
from m3t_bench.scoring.items import N_BOOTSTRAP, ScoreItem, protocol_items, summarise
from m3t_bench.scoring.points import chunk_ids, model_points, passes, skeleton_columns
from m3t_bench.scoring.submission import JOINTS_KIND, Submission, check_submission, predictions_sha256

#: Input kinds of the metrics a submission can be scored on (see :data:`m3t_bench.protocols.INPUTS`).
SUBMISSION_INPUTS = ("points", "text")
NO_BACK_TRANSLATIONS = ("no back-translation hypotheses given (--bt-hyps) and no back-translation model is "
                        "registered for this dataset")


def validate_against_split(pred_dir: str | Path, dataset: str | Path, *, split: str = "test",
                           data_root: str | Path | None = None):
    """Open the split and validate the submission against it -> ``(Submission, Split)``."""
    sp = open_split(dataset, split, data_root=data_root)
    return check_submission(pred_dir, {e["id"]: int(e["n_frames"]) for e in sp.entries}), sp


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
        return write_per_sample(path, self.per_sample)


def _skip(item: ScoreItem, reason: str) -> dict:
    return {"metric": item.metric, "part": item.part, "reason": reason}


def _skeleton_sets(names: tuple[str, ...], items: list[ScoreItem], model,
                   skipped: list[dict]) -> dict[str, list[int]]:
    """The columns of each set a skeleton-only submission can give; the others' items go to ``skipped``."""
    columns = {}
    for name in names:
        cols, lacking = skeleton_columns(model, model.joint_set(name).points)
        if not lacking:
            columns[name] = cols
            continue
        skipped += [_skip(it, f"skeleton-only submission: joint set {name!r} needs {len(lacking)} point(s) that "
                              f"are not among the model's {len(model.joint_names)} joints (e.g. {lacking[0]})")
                    for it in items if it.joint_set == name]
    return columns


def point_values(items: list[ScoreItem], sub: Submission, refs: dict, model, *, jobs: int, progress: bool,
                 skipped: list[dict]) -> dict[ScoreItem, np.ndarray]:
    """Per-sample values (in sorted-id order) of every item on points; the items a skeleton-only submission
    cannot give are recorded in ``skipped`` and left out."""
    values: dict[ScoreItem, list[float]] = {it: [] for it in items}
    sizes = {name: len(model.joint_set(name).points) for name in sorted({it.joint_set for it in items})}
    given = set(sizes)
    for names in passes(sizes):
        columns = _skeleton_sets(names, items, model, skipped) if sub.kind == JOINTS_KIND else None
        given -= {n for n in names if columns is not None and n not in columns}
        names = tuple(n for n in names if n in given)
        if names:
            with tqdm(total=len(sub.ids), desc=f"{', '.join(names)} ({sum(sizes[n] for n in names)} points)",
                      unit="sample", disable=not progress, leave=False, file=sys.stderr) as bar:
                _pass_values(names, [it for it in items if it.joint_set in names], sub, refs, model, columns,
                             jobs=jobs, values=values, bar=bar)
    return {it: np.asarray(v, dtype=np.float64) for it, v in values.items() if it.joint_set in given}


def _pass_values(names: tuple[str, ...], items: list[ScoreItem], sub: Submission, refs: dict, model,
                 columns: dict[str, list[int]] | None, *, jobs: int, values: dict, bar) -> None:
    """Append the per-sample values of ``items`` (all on the sets ``names``) over memory-bounded chunks of
    samples sharing one forward pass; ``columns``: a skeleton-only submission's columns per set."""
    n_points = sum(len(model.joint_set(n).points) for n in names)
    for chunk in chunk_ids(sub.ids, sub, refs, n_points):
        chunk_refs = [refs[i] for i in chunk]
        ref_points = model_points(model, names, chunk_refs, chunk_refs)
        if columns is None:
            pred_points = model_points(model, names, [sub.samples[i] for i in chunk], chunk_refs)
        else:
            joints = [np.asarray(sub.samples[i].joints, dtype=np.float32) for i in chunk]
            pred_points = {n: [j[:, columns[n]] for j in joints] for n in names}
        for it in items:
            jset = model.joint_set(it.joint_set)
            values[it].extend(it.per_sample(pred_points[it.joint_set], ref_points[it.joint_set], root=jset.root,
                                            scored=jset.scored, jobs=jobs))
        bar.update(len(chunk))


def text_values(items: list[ScoreItem], back_translations: BackTranslations, split) -> dict[ScoreItem, np.ndarray]:
    """Per-sample values (or statistics rows), in sorted-id order, of the text items: the hypotheses against
    the split's reference texts in the dataset's language."""
    ids = sorted(back_translations.hyps)
    hyps = [back_translations.hyps[i] for i in ids]
    refs = [split.entry(i)["text"] for i in ids]
    return {it: it.per_sample(hyps, refs, lang=split.spec.language) for it in items}


def _back_translations(ids: list[str], *, bt_hyps, back_translations) -> BackTranslations | None:
    """The hypotheses the text metrics use: given, or read from ``bt_hyps``; checked against the split."""
    if back_translations is None and bt_hyps is not None:
        return read_hypotheses_file(bt_hyps, ids)
    if back_translations is not None:
        check_back_translations(back_translations, ids)
    return back_translations


def _protocol(protocol: str | Protocol) -> Protocol:
    proto = protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
    other = sorted({it.metric for it in proto.items if get_metric(it.metric).inputs not in SUBMISSION_INPUTS})
    if other:
        raise UserError(f"protocol {proto.name} holds metrics a submission does not give ({', '.join(other)}); "
                        f"expected a protocol of metrics on points or back-translations", field="--protocol")
    return proto


def score_submission(pred_dir: str | Path, dataset: str | Path, *, split: str = "test",
                     protocol: str | Protocol = "m3t@1", body_models: str | Path | None = None,
                     data_root: str | Path | None = None, jobs: int = 1, seed: int = 0,
                     bt_hyps: str | Path | None = None, bt_model: str | Path | None = None,
                     back_translations: BackTranslations | None = None, progress: bool = False, model=None,
                     n_resamples: int = N_BOOTSTRAP) -> ScoreReport:
    """Validate then score a submission folder under ``protocol`` (a registered name or a
    :class:`~m3t_bench.protocols.Protocol`); return the results object and per-sample values.

    ``model``: an already built :class:`m3t_bench.body.SMPLFX` (else built from ``body_models`` /
    ``$M3T_BODY_MODELS``). ``jobs``: parallel DTW workers (results do not depend on it). Text metrics use
    ``back_translations`` (from any producer) or the hypotheses file ``bt_hyps``; without either they are
    listed under ``skipped``.
    """
    if bt_model is not None:
        raise UserError("no back-translation model format is available in this toolkit yet; run your "
                        "back-translation model yourself and pass its outputs with --bt-hyps FILE "
                        "('<sample_id>\\t<text>' lines)", field="--bt-model")
    if jobs < 1:
        raise UserError(f"{jobs}; expected at least 1", field="--jobs")
    sub, sp = validate_against_split(pred_dir, dataset, split=split, data_root=data_root)
    proto = _protocol(protocol)
    back_translations = _back_translations(sp.ids, bt_hyps=bt_hyps, back_translations=back_translations)
    model = model if model is not None else SMPLFX.from_dir(resolve_body_models(body_models))
    items = protocol_items(proto, model_id=model.model_id, dataset_id=sp.spec.id, language=sp.spec.language,
                           seed=seed, n_resamples=n_resamples,
                           bt_id=None if back_translations is None else back_translations.source_id)
    skipped: list[dict] = []
    values = point_values([it for it in items if it.joint_set], sub, {i: sp.load(i) for i in sub.ids}, model,
                          jobs=jobs, progress=progress, skipped=skipped)
    text_items = [it for it in items if not it.joint_set]
    if back_translations is None:
        skipped += [_skip(it, NO_BACK_TRANSLATIONS) for it in text_items]
    else:
        values.update(text_values(text_items, back_translations, sp))
    results = build_results(
        system=sub.meta, protocol=proto.name, body_model_id=model.model_id,
        dataset={"name": sp.spec.name, "version": sp.spec.version, "split": sp.split,
                 "manifest_sha256": sp.manifest_sha256, "n_samples": len(sp.entries)},
        predictions={"sha256": predictions_sha256(sub.root, sub.ids), "n_files": len(sub.ids), "kind": sub.kind},
        bootstrap={"seed": seed, "n_resamples": n_resamples},
        scores=[summarise(it, values[it], seed=seed, n_resamples=n_resamples) for it in items if it in values],
        skipped=skipped)
    # every value array is in sorted-id order: the submission's ids, which are the split's
    per_sample = {(it.metric, it.part): dict(zip(sub.ids, map(float, v))) for it, v in values.items() if v.ndim == 1}
    return ScoreReport(results=results, per_sample=per_sample)
