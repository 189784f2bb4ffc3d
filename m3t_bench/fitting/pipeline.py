"""A folder of keypoint files -> a fitted dataset split in the data contract (resumable, shardable).

::

    OUT/NAME/SPLIT.fitting/          the work folder (kept; what makes a run resumable)
        run.json                     settings of the run (layout, body model, fitting config, inputs)
        clips/<id>.json              one record per clip: converged or why not, metrics, losses, camera,
                                     keypoint source + sha256, settings hash; written last, atomically
        clips/<id>.npz               the fitted parameters of a converged clip
        overlays/<id>.png            detected vs projected fitted keypoints, first frames
    OUT/NAME/SPLIT/                  the dataset split (written by the final merge, swapped in whole):
        manifest.jsonl, dataset.json (card: fitting config, keypoint source, final losses per clip),
        <id>.npz per converged clip, quality.json / quality.md (the quality report), overlays/

A clip whose record exists with the same settings hash and keypoint sha256 is not fitted again (resume).
Clips that do not converge, cannot be read or are too long get a record saying why and are left out of the
split, never silently kept. Under ``torchrun`` rank ``r`` of ``N`` fits clips ``r, r+N, ...``; after a
barrier rank 0 merges all records into the split.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from m3t_bench.distributed import Distributed
from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write_text, replace_folder, sha256_file
from m3t_bench.fitting.optimise import FitConfig, FitResult, fit_clip
from m3t_bench.fitting.quality import dumps, report_markdown, summarise
from m3t_bench.motion import load_sample, save_sample
from m3t_bench.safe_read import MAX_JSON_BYTES, read_json_object

RECORD_SCHEMA = "m3t-bench-fit-clip"


@dataclass
class FitJob:
    """Everything one ``m3t-bench fit`` run needs (see :func:`fit_folder`)."""

    keypoints: Path
    out_root: Path
    name: str
    split: str
    layout: str
    config: FitConfig = field(default_factory=FitConfig)
    body_models: Path | None = None
    init_dir: Path | None = None
    face_map: Path | None = None
    use_face: bool = True
    use_3d: bool = True
    image_size: tuple[int, int] | None = None
    focal: float | None = None
    fps: float | None = None
    language: str | None = None
    texts: Path | None = None
    overlays: bool = True
    device: str = "cpu"

    def work_dir(self, split: str) -> Path:
        return self.out_root / self.name.split("@")[0] / f"{split}.fitting"


def _settings(job: FitJob, model_id: str, face_map: dict | None) -> dict:
    return {"layout": job.layout, "body_model_id": model_id, "config": job.config.to_json(),
            "face_map": None if face_map is None else {k: face_map.get(k) for k in ("body_model_id", "method", "source")},
            "use_3d": job.use_3d, "image_size": list(job.image_size) if job.image_size else None, "focal": job.focal,
            "init": None if job.init_dir is None else str(job.init_dir)}


def _settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _done(work: Path, clip_id: str, settings_hash: str, source_sha: str) -> bool:
    path = work / "clips" / f"{clip_id}.json"
    if not path.is_file():
        return False
    try:
        record = read_json_object(path, links="refuse")
    except UserError:  # a damaged record is redone
        return False
    keypoints = record.get("keypoints")
    if record.get("settings_sha256") != settings_hash or not isinstance(keypoints, dict) \
            or keypoints.get("sha256") != source_sha or not isinstance(record.get("converged"), bool):
        return False
    if str(record.get("reason", "")).startswith("input:"):   # unreadable inputs are retried (they may be fixed)
        return False
    return not record["converged"] or (work / "clips" / f"{clip_id}.npz").is_file()


def _source_sha(path: Path) -> str:
    if path.is_dir():
        digest = hashlib.sha256()
        for f in sorted(path.glob("*.json")):
            digest.update(bytes.fromhex(sha256_file(f, max_bytes=MAX_JSON_BYTES, what="OpenPose keypoint JSON")))
        return digest.hexdigest()
    return sha256_file(path)


def _write_record(work: Path, record: dict, result: FitResult | None) -> None:
    if result is not None and result.converged:
        save_sample(work / "clips" / f"{record['id']}.npz", result.sequence)
    atomic_write_text(work / "clips" / f"{record['id']}.json", dumps(record))


def fit_folder(job: FitJob, ranks: Distributed = Distributed(), *, progress: bool = True) -> Path | None:
    """Fit every clip of ``job.keypoints`` that this rank owns and, on rank 0 after all ranks are done, merge
    the split. Returns the split folder on rank 0 (``None`` on the others)."""
    from m3t_bench.body import SMPLFX, resolve_body_models
    from m3t_bench.body.files import load_flame_arrays, locate_body_model_files
    from m3t_bench.datasets.convert import output_spec
    from m3t_bench import distributed
    from m3t_bench.fitting.face_maps import load_face_map
    from m3t_bench.fitting.layouts import get_layout, resolve_layout
    from m3t_bench.fitting.readers import discover_clips

    from m3t_bench.datasets.convert import _read_texts
    layout = get_layout(job.layout)
    sources = discover_clips(job.keypoints)
    texts = _read_texts(job.texts)   # read up front: a bad table fails before hours of fitting
    spec = output_spec(job.name, job.split, job.language, job.fps or _first_fps(job, sources, layout))
    split = spec.canonical_split(job.split)
    work = job.work_dir(split)
    device = distributed.resolve_device(job.device, ranks)
    model_dir = resolve_body_models(job.body_models)
    model = SMPLFX.from_dir(model_dir, device=device)
    face_map = None
    if job.use_face:
        flame_faces = load_flame_arrays(locate_body_model_files(model_dir).flame)["f"] if job.face_map else None
        face_map = load_face_map(job.face_map, model, flame_faces=flame_faces)
    resolved = resolve_layout(layout, face_map)
    settings = _settings(job, model.model_id, face_map)
    digest = _settings_hash(settings)
    if ranks.is_main:
        atomic_write_text(work / "run.json", dumps({**settings, "settings_sha256": digest, "keypoints": str(job.keypoints),
                                                   "name": spec.name, "split": split}))
    mine = ranks.shard(sources)
    bar = _progress(len(mine), progress and ranks.is_main, f"fit {spec.name}/{split}")
    for source in mine:
        sha = _source_sha(source.path)
        if not _done(work, source.clip_id, digest, sha):
            record, result, clip = _fit_one(job, model, resolved, source, sha, digest, spec)
            _write_record(work, record, result)
            if result is not None and result.converged and job.overlays:
                from m3t_bench.fitting.overlay import render_overlay
                render_overlay(work / "overlays" / f"{source.clip_id}.png", model, resolved, clip, result.sequence,
                               result.camera, min_confidence=job.config.min_confidence)
        bar.update(1)
    bar.close()
    distributed.barrier(ranks)
    if not ranks.is_main:
        return None
    return merge_split(job, [s.clip_id for s in sources], spec, split, model.model_id, settings, texts)


def _first_fps(job: FitJob, sources: list, layout) -> float | None:
    """The frame rate the first readable clip declares (``.pose`` headers, ``fps`` in an npz), for a new
    dataset when ``--fps`` is not given."""
    from m3t_bench.datasets.specs import is_registered
    from m3t_bench.fitting.readers import read_clip
    if is_registered(job.name):
        return None
    for source in sources:
        try:
            fps = read_clip(source, layout, image_size=job.image_size or (1, 1)).fps
        except UserError:
            continue
        if fps:
            return fps
    return None


def _progress(total: int, enabled: bool, desc: str):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="clip", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def _fit_one(job: FitJob, model, resolved, source, sha: str, digest: str, spec) -> tuple[dict, FitResult | None, object]:
    """Read, fit and describe one clip: ``(record, result, keypoint clip)``; a user error in its inputs
    becomes a failed record (result and clip ``None``)."""
    from m3t_bench.fitting.init_params import read_init
    from m3t_bench.fitting.readers import read_clip
    record = {"schema": RECORD_SCHEMA, "id": source.clip_id, "settings_sha256": digest,
              "keypoints": {"path": str(source.path), "kind": source.kind, "sha256": sha}}
    try:
        clip = read_clip(source, resolved.layout, image_size=job.image_size, fps=job.fps)
        if clip.fps is not None and abs(clip.fps - spec.fps) > 1e-3:
            raise UserError(f"keypoints at {clip.fps:g} fps but {spec.id} is {spec.fps:g} fps", file=source.path,
                            field="fps")
        init = None
        if job.init_dir is not None:
            path = job.init_dir / f"{source.clip_id}.npz"
            if not path.is_file():
                raise UserError("no tracker initialisation for this clip", file=path)
            init = read_init(path, clip.n_frames)
            record["init"] = {"path": str(path), "sha256": sha256_file(path)}
        result = fit_clip(model, resolved, clip, job.config, init=init, focal=job.focal, use_3d=job.use_3d)
    except UserError as exc:
        record.update(converged=False, reason=f"input: {exc}", n_frames=0, metrics={}, losses={})
        return record, None, None
    record.update(converged=result.converged, reason=result.reason, n_frames=clip.n_frames, fps=clip.fps,
                  image_size=list(clip.image_size), metrics=result.metrics, losses=result.losses,
                  camera=result.camera, history=result.history)
    return record, result, clip


def merge_split(job: FitJob, clip_ids: list[str], spec, split: str, model_id: str, settings: dict,
                texts: dict) -> Path:
    """Write the split from the clip records (all ranks' work) and ``texts`` (id -> text, gloss, signer), all
    or nothing: into a temporary sibling folder, then swapped in place of the previous split."""
    from m3t_bench.datasets.store import SplitWriter
    work = job.work_dir(split)
    records = []
    for clip_id in clip_ids:
        path = work / "clips" / f"{clip_id}.json"
        if not path.is_file():
            raise UserError("clip record missing after the barrier (did a rank fail?)", file=path)
        records.append(read_json_object(path, links="refuse"))
    final = job.out_root / spec.name / split
    staging = final.with_name(f".{split}.merge")
    shutil.rmtree(staging, ignore_errors=True)
    summary = summarise(records)
    card = {"present": ["body", "lhand", "rhand", "face", "shape"],
            "converted": {"all streams": f"fitted to {job.layout} keypoints (m3t_bench.fitting)"},
            "absent": ["joints", "root orientation and translation (per-clip camera, in the fitting records)"],
            "fitting": {**settings, "settings_sha256": _settings_hash(settings), "keypoint_source": str(job.keypoints),
                        "clips": {r["id"]: {"converged": r["converged"], "reason": r["reason"],
                                            "keypoints_sha256": r["keypoints"]["sha256"], "losses": r["losses"],
                                            "reprojection_px": r["metrics"].get("reprojection_px")} for r in records},
                        "summary": {k: v for k, v in summary.items() if k != "failed"}}}
    writer = SplitWriter(staging, spec, split, body_model_id=model_id, card=card,
                         generator={"name": "m3t_bench.fitting", "layout": job.layout})
    for record in records:
        if not record["converged"]:
            continue
        seq = load_sample(work / "clips" / f"{record['id']}.npz")
        row = texts.get(record["id"], {"text": "", "gloss": "", "signer": "unknown"})
        writer.add(record["id"], seq, **row, fit_reprojection_px=record["metrics"].get("reprojection_px"),
                   fit_joint_acceleration_mm=record["metrics"].get("joint_acceleration_mm"))
    atomic_write_text(staging / "quality.json", dumps({"summary": summary, "clips": [
        {k: r.get(k) for k in ("id", "converged", "reason", "n_frames", "metrics", "losses")} for r in records]}))
    atomic_write_text(staging / "quality.md", report_markdown(summary, records))
    overlays = work / "overlays"
    for record in records:
        png = overlays / f"{record['id']}.png"
        if record["converged"] and png.is_file():
            (staging / "overlays").mkdir(exist_ok=True)
            shutil.copyfile(png, staging / "overlays" / png.name)
    writer.close()
    replace_folder(staging, final)
    return final
