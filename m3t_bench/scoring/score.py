"""The scoring engine behind ``m3t-bench score``: a submission scored under a protocol.

Every number goes through its metric spec (:mod:`m3t_bench.protocols`): metrics on points get the
evaluation points of the item's joint set (:mod:`m3t_bench.scoring.points`: prediction and reference
through the same SMPL-FX model, batched, memory-bounded), text metrics get back-translation hypotheses
(:mod:`m3t_bench.scoring.backtranslation`: from any producer, a ``<sample_id>\\t<hypothesis>`` file, or a
back-translation model folder decoding the submission's motion through its plug-in,
:mod:`m3t_bench.scoring.backtranslators`) against the split's reference texts with the dataset's
language-aware tokenisation; each item's per-sample values are then aggregated with a bootstrap CI and
signed (:mod:`m3t_bench.scoring.items`). Skeleton-only submissions (``joints`` in the model's
``joint_names`` order) are scored on joint sets made of named joints only; sets needing vertices
(fingertips, face) are skipped and recorded in ``skipped``, as are text metrics without hypotheses (and
with a back-translation model, which reads SMPL-FX parameters that joint positions do not give).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from m3t_bench.body import SMPLFX, resolve_body_models
from m3t_bench.datasets import open_split
from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write_many, check_output_path, text_writer
from m3t_bench.protocols import Protocol, get_metric, get_protocol
from m3t_bench.results import build_results, per_sample_text, results_text
from m3t_bench.scoring.backtranslation import BackTranslations, check_back_translations, read_hypotheses_file
from m3t_bench.scoring.backtranslators import load_backtranslator, signature_id
from m3t_bench.scoring.items import N_BOOTSTRAP, ScoreItem, protocol_items, summarise
from m3t_bench.scoring.points import (chunk_ids, chunked_model_points, model_points, needs_chunking, passes,
                                     reference_points, skeleton_columns)
from m3t_bench.scoring.reference_cache import open_reference_cache
from m3t_bench.scoring.submission import JOINTS_KIND, Submission, check_submission, predictions_sha256

#: Input kinds of the metrics a submission can be scored on (see :data:`m3t_bench.protocols.INPUTS`).
SUBMISSION_INPUTS = ("points", "text")
NO_BACK_TRANSLATIONS = "no back-translation source given (--bt-model DIR or --bt-hyps FILE)"
JOINTS_BACK_TRANSLATION = ("skeleton-only submission: the back-translation model reads SMPL-FX parameters (body, "
                           "lhand, rhand, face), which joint positions do not give")


def validate_against_split(pred_dir: str | Path, dataset: str | Path, *, split: str = "test",
                           data_root: str | Path | None = None):
    """Open the split and validate the submission against it -> ``(Submission, Split)``."""
    sp = open_split(dataset, split, data_root=data_root)
    return check_submission(pred_dir, {e["id"]: int(e["n_frames"]) for e in sp.entries},
                            reference_files={i: sp.path(i) for i in sp.ids}), sp


def check_output_paths(paths: list[str | Path | None], *, protected: str | Path | None = None) -> None:
    """Fail before any work when the output files ``paths`` (``None`` entries ignored) cannot all be written:
    one is a folder or below a file, two name the same file, or one lies inside ``protected`` (the scored
    split's folder, whose reference files an output must never replace)."""
    given = [check_output_path(p) for p in paths if p is not None]
    if len({os.path.realpath(p) for p in given}) != len(given):
        raise UserError("the same path is given for two outputs; expected one file per output", file=given[0])
    if protected is not None:
        root = Path(os.path.realpath(protected))
        for p in given:
            if Path(os.path.realpath(p)).is_relative_to(root):
                raise UserError(f"lies inside the scored split's folder {str(protected)!r}; expected an output "
                                f"path outside the reference data", file=p)


@dataclass
class ScoreReport:
    """``results``: the results object (:mod:`m3t_bench.results` schema); ``per_sample``: metric key
    ``(metric, part)`` -> ``{sample_id: value}``; ``split_dir``: the scored split's folder (never written)."""

    results: dict
    per_sample: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    split_dir: Path | None = None

    def write_json(self, path: str | Path) -> Path:
        return self.write(json_path=path)[0]

    def write_per_sample(self, path: str | Path) -> Path:
        """One JSON line per (metric, part, sample), sorted; full-precision floats."""
        return self.write(per_sample_path=path)[0]

    def write(self, *, json_path: str | Path | None = None, per_sample_path: str | Path | None = None) -> list[Path]:
        """Write the results file and/or the per-sample file, all or nothing (when one cannot be written,
        neither changes)."""
        check_output_paths([json_path, per_sample_path], protected=self.split_dir)
        writers = {}
        if json_path is not None:
            writers[json_path] = text_writer(results_text(self.results))
        if per_sample_path is not None:
            writers[per_sample_path] = text_writer(per_sample_text(self.per_sample))
        return atomic_write_many(writers) if writers else []


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
                 skipped: list[dict], reference_cache=None, device=None) -> dict[ScoreItem, np.ndarray]:
    """Per-sample values (in sorted-id order) of every item on points; the items a skeleton-only submission
    cannot give are recorded in ``skipped`` and left out. ``reference_cache``: joint-set names -> the
    :class:`~m3t_bench.scoring.reference_cache.ReferenceCache` of the references on those sets (None: no
    cache); ``device``: where DTW cost matrices are computed (None: the compiled CPU kernels)."""
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
                cache = None if reference_cache is None else reference_cache(names)
                _pass_values(names, [it for it in items if it.joint_set in names], sub, refs, model, columns,
                             jobs=jobs, values=values, bar=bar, cache=cache, device=device)
    return {it: np.asarray(v, dtype=np.float64) for it, v in values.items() if it.joint_set in given}


def _pass_values(names: tuple[str, ...], items: list[ScoreItem], sub: Submission, refs: dict, model,
                 columns: dict[str, list[int]] | None, *, jobs: int, values: dict, bar, cache, device) -> None:
    """Append the per-sample values of ``items`` (all on the sets ``names``) over memory-bounded chunks of
    samples sharing one forward pass; ``columns``: a skeleton-only submission's columns per set."""
    n_points = sum(len(model.joint_set(n).points) for n in names)
    for chunk in chunk_ids(sub.ids, sub, refs, n_points):
        chunk_refs = [refs[i] for i in chunk]
        ref_points = reference_points(model, names, chunk, refs, cache)
        if columns is None and len(chunk) == 1 and needs_chunking(sub.samples[chunk[0]], n_points):
            # one very long prediction: its points in chunks of frames, memory bounded by the reference
            pred_points = {n: [chunked_model_points(model, n, sub.samples[chunk[0]], chunk_refs[0])] for n in names}
        elif columns is None:
            pred_points = model_points(model, names, [sub.samples[i] for i in chunk], chunk_refs)
        else:
            joints = [np.asarray(sub.samples[i].joints, dtype=np.float32) for i in chunk]
            pred_points = {n: [j[:, columns[n]] for j in joints] for n in names}
        for it in items:
            jset = model.joint_set(it.joint_set)
            values[it].extend(it.per_sample(pred_points[it.joint_set], ref_points[it.joint_set], root=jset.root,
                                            scored=jset.scored, jobs=jobs, device=device))
        bar.update(len(chunk))


def text_values(items: list[ScoreItem], back_translations: BackTranslations, split) -> dict[ScoreItem, np.ndarray]:
    """Per-sample values (or statistics rows), in sorted-id order, of the text items: the hypotheses against
    the split's reference texts in the dataset's language."""
    ids = sorted(back_translations.hyps)
    hyps = [back_translations.hyps[i] for i in ids]
    refs = [split.entry(i)["text"] for i in ids]
    return {it: it.per_sample(hyps, refs, lang=split.spec.language) for it in items}


def _back_translations(sub: Submission, split, *, bt_hyps, bt_model, bt_device: str, back_translations,
                        progress: bool) -> BackTranslations | None:
    """The hypotheses the text metrics use: given, read from ``bt_hyps``, or decoded from the submission's
    motion by the model folder ``bt_model`` (which must have been trained on the scored dataset); checked
    against the split. ``None`` when there is none (or a skeleton-only submission meets a model)."""
    if sum(x is not None for x in (bt_hyps, bt_model, back_translations)) > 1:
        raise UserError("give one back-translation source (--bt-hyps or --bt-model), not several", field="--bt-model")
    if bt_hyps is not None:
        return read_hypotheses_file(bt_hyps, split.ids)
    if bt_model is not None:
        translator = load_backtranslator(bt_model, device=bt_device)
        if translator.dataset != split.spec.id:
            raise UserError(f"model was trained on {translator.dataset}; scoring {split.spec.id} needs a "
                            f"back-translation model trained on that dataset", file=bt_model, field="--bt-model")
        if sub.kind == JOINTS_KIND:
            return None
        hyps = translator.translate([sub.samples[i] for i in sub.ids], progress=progress)
        return BackTranslations(hyps=dict(zip(sub.ids, hyps)), source_id=signature_id(translator))
    if back_translations is not None:
        check_back_translations(back_translations, split.ids)
    return back_translations


def check_finite(values: dict[ScoreItem, np.ndarray], ids: list[str]) -> None:
    """:class:`UserError` when a per-sample value (or statistics row) is NaN/Inf, naming the item and the first
    sample (``ids``: the rows' sample ids), so that such a number never reaches a table or a file. Inputs
    within the data contract's limits do not produce one; a refusal here means an input validation let
    through or a bug."""
    for it, vals in values.items():
        bad = ~np.isfinite(np.asarray(vals, dtype=np.float64))
        if bad.any():
            first = int(np.argwhere(bad)[0][0])
            raise UserError(f"{it.metric} {it.part} is not finite for sample {ids[first]!r} ({int(bad.sum())} value(s)); "
                            f"nothing is written (please report the input)", field="scores")


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
                     n_resamples: int = N_BOOTSTRAP, cache_dir: str | Path | None = None,
                     device: str | None = None) -> ScoreReport:
    """Validate then score a submission folder under ``protocol`` (a registered name or a
    :class:`~m3t_bench.protocols.Protocol`); return the results object and per-sample values.

    ``model``: an already built :class:`m3t_bench.body.SMPLFX` (else built from ``body_models`` /
    ``$M3T_BODY_MODELS``). ``jobs``: parallel DTW workers (results do not depend on it). Text metrics use
    one of ``back_translations`` (from any producer), the hypotheses file ``bt_hyps`` or the
    back-translation model folder ``bt_model``; without any they are listed under ``skipped``. ``cache_dir``:
    keep the references' evaluation points in a reference cache there
    (:mod:`m3t_bench.scoring.reference_cache`; None: no cache). ``device``: a torch device for the body-model
    forward, the DTW cost matrices of translation-aligned metrics and the back-translation model (None: the
    compiled CPU kernels; a device, ``"cpu"`` included, runs the torch path there; numbers agree within
    float32 rounding).
    """
    if jobs < 1:
        raise UserError(f"{jobs}; expected at least 1", field="--jobs")
    sub, sp = validate_against_split(pred_dir, dataset, split=split, data_root=data_root)
    proto = _protocol(protocol)
    back_translations = _back_translations(sub, sp, bt_hyps=bt_hyps, bt_model=bt_model,
                                           bt_device="cpu" if device is None else str(device),
                                           back_translations=back_translations, progress=progress)
    device = None if device is None else torch.device(device)
    model = model if model is not None else SMPLFX.from_dir(resolve_body_models(body_models), device=device)
    items = protocol_items(proto, model_id=model.model_id, dataset_id=sp.spec.id, language=sp.spec.language,
                           seed=seed, n_resamples=n_resamples,
                           bt_id=None if back_translations is None else back_translations.source_id)
    skipped: list[dict] = []
    cache = None if cache_dir is None else (lambda names: open_reference_cache(cache_dir, split=sp, model=model,
                                                                              names=names))
    values = point_values([it for it in items if it.joint_set], sub, {i: sp.load(i) for i in sub.ids}, model,
                          jobs=jobs, progress=progress, skipped=skipped, reference_cache=cache, device=device)
    text_items = [it for it in items if not it.joint_set]
    if back_translations is None:
        reason = JOINTS_BACK_TRANSLATION if bt_model is not None else NO_BACK_TRANSLATIONS
        skipped += [_skip(it, reason) for it in text_items]
    else:
        values.update(text_values(text_items, back_translations, sp))
    check_finite(values, sub.ids)  # every value array is in sorted-id order (see below)
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
    return ScoreReport(results=results, per_sample=per_sample, split_dir=sp.root)
