"""``m3t-bench fit``: keypoint files (+ optional tracker initialisations) -> a fitted SMPL-FX dataset split.

Several processes or GPUs: ``torchrun --nproc_per_node N $(which m3t-bench) fit ...`` (clips are sharded by
rank; rank 0 merges the split at the end).
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

from m3t_bench import cli_args
from m3t_bench.errors import UserError
from m3t_bench.safe_read import read_json_object


def register(subparsers) -> None:
    from m3t_bench.body import add_body_models_argument
    from m3t_bench.cli import plain_text
    from m3t_bench.fitting.layouts import FORMAT_ALIASES, LAYOUT_NAMES
    p = subparsers.add_parser("fit", help="fit SMPL-FX to keypoint files: a pseudo-GT dataset split",
                              description=plain_text(__doc__))
    p.add_argument("--keypoints", required=True, metavar="DIR",
                   help="folder of .pose files, .npy/.npz arrays or OpenPose JSON sub-folders (one clip each)")
    p.add_argument("--format", required=True, choices=[*LAYOUT_NAMES, *FORMAT_ALIASES], metavar="FORMAT",
                   help=f"keypoint layout: {', '.join(LAYOUT_NAMES)} (aliases: {', '.join(FORMAT_ALIASES)})")
    p.add_argument("--out", required=True, metavar="DIR", help="data root; writes DIR/NAME/SPLIT/")
    p.add_argument("--name", required=True, help="dataset name (a registered one gives language and fps)")
    p.add_argument("--split", required=True)
    p.add_argument("--init", metavar="DIR", help="tracker initialisations, <clip id>.npz (SMPL-X/FLAME/SMPL-FX)")
    p.add_argument("--device", default="cpu", help="cpu, cuda (this rank's GPU under torchrun) or cuda:N")
    add_body_models_argument(p)
    p.add_argument("--face-map", metavar="FILE",
                   help="face-landmark map for real model files: FLAME's mediapipe_landmark_embedding.npz or a JSON map")
    p.add_argument("--no-face", action="store_true", help="fit without face landmarks")
    p.add_argument("--no-3d", action="store_true", help="ignore 3D keypoints even when the files have them")
    p.add_argument("--image-size", metavar="WxH", help="frame size in pixels for inputs that do not carry it")
    p.add_argument("--focal", type=float, metavar="PX", help="focal length in pixels (default: the image diagonal)")
    p.add_argument("--fit-focal", action="store_true", help="refine the focal length per clip")
    p.add_argument("--fps", type=float, help="frame rate for inputs that do not carry it / a new dataset")
    p.add_argument("--language", help="language code of a new (unregistered) dataset")
    p.add_argument("--texts", metavar="TSV", help="id (or name), text, optionally gloss, signer columns")
    p.add_argument("--iterations", type=cli_args.positive, help="Adam iterations over all parameters (default 300)")
    p.add_argument("--lbfgs", type=cli_args.int_range(0), metavar="N", help="L-BFGS polish iterations after Adam (default 0)")
    p.add_argument("--max-error", type=float, metavar="PCT",
                   help="a clip converges when its mean reprojection error is at most this percent of the part "
                        "size (default 15)")
    p.add_argument("--max-frames", type=cli_args.positive, help="longest clip fitted; longer ones are reported and skipped")
    p.add_argument("--config", metavar="JSON", help="FitConfig fields as a JSON object (flags win)")
    p.add_argument("--no-overlays", action="store_true", help="do not render overlay PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _image_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"{text!r}, expected WIDTHxHEIGHT in pixels, e.g. 1280x720", field="--image-size") from None
    if w <= 0 or h <= 0:
        raise UserError(f"{text!r}, expected positive sizes", field="--image-size")
    return w, h


def _config(args):
    from m3t_bench.fitting.optimise import FitConfig
    values = {}
    if args.config:
        path = Path(args.config)
        values = read_json_object(path, what="JSON object of FitConfig fields")
        known = {f.name: type(getattr(FitConfig(), f.name)) for f in fields(FitConfig)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UserError(f"unknown field(s) {', '.join(unknown)[:200]}; expected some of {', '.join(known)}",
                            file=path)
        for key, value in values.items():
            kind = known[key]
            if not (isinstance(value, bool) if kind is bool else
                    isinstance(value, int) and not isinstance(value, bool) if kind is int else
                    isinstance(value, (int, float)) and not isinstance(value, bool)):
                raise UserError(f"{value!r:.40}; expected {'true or false' if kind is bool else f'a JSON {kind.__name__}'}",
                                file=path, field=key)
    flags = {"iterations": args.iterations, "lbfgs_iterations": args.lbfgs, "max_error": args.max_error,
             "max_frames": args.max_frames, "fit_focal": True if args.fit_focal else None}
    for key, value in flags.items():
        if value is not None and isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise UserError(f"{value}, expected a non-negative number", field=f"--{key.replace('_', '-')}")
    try:
        return FitConfig(**{**values, **{k: v for k, v in flags.items() if v is not None}})
    except ValueError as exc:
        raise UserError(f"invalid fitting settings ({exc})", file=args.config) from None


def _run(args) -> int:
    import datetime

    from m3t_bench import distributed
    from m3t_bench.fitting.pipeline import FitJob, fit_folder
    job = FitJob(keypoints=Path(args.keypoints), out_root=Path(args.out), name=args.name, split=args.split,
                 layout=args.format, config=_config(args), body_models=args.body_models,
                 init_dir=Path(args.init) if args.init else None, face_map=Path(args.face_map) if args.face_map else None,
                 use_face=not args.no_face, use_3d=not args.no_3d, image_size=_image_size(args.image_size),
                 focal=args.focal, fps=args.fps, language=args.language, texts=Path(args.texts) if args.texts else None,
                 overlays=not args.no_overlays, device=args.device)
    if job.init_dir is not None and not job.init_dir.is_dir():
        raise UserError("initialisation folder not found", file=job.init_dir)
    # a corpus shard can take hours: ranks wait up to two days for each other at the final barrier
    ranks = distributed.init_distributed(args.device, timeout=datetime.timedelta(hours=48))
    try:
        out = fit_folder(job, ranks, progress=not args.quiet)
    finally:
        distributed.leave(ranks)
    if out is None:
        return 0
    report = read_json_object(out / "quality.json")["summary"]
    print(f"fitted {report['n_converged']} of {report['n_clips']} clips -> {out}")
    for clip_id, reason in report["failed"].items():
        print(f"  not converged, skipped: {clip_id}: {reason}", file=sys.stderr)
    px = report.get("reprojection_px", {})
    if px:
        print(f"reprojection error: mean {px['mean']:.2f} px (median {px['median']:.2f}); report {out / 'quality.md'}")
    return 0
