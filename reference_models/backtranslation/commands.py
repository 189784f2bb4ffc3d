"""``m3t-bench train bt`` and ``m3t-bench backtranslate`` (added by :func:`reference_models.commands.register`).
Heavy imports happen inside the handlers, so ``m3t-bench --help`` stays fast."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from m3t_bench import cli_args
from m3t_bench.errors import UserError


def cmd_train_bt(args) -> int:
    from m3t_bench.datasets import open_split
    from m3t_bench.scoring.backtranslators import signature_id
    from reference_models.backtranslation.config import get_config
    from reference_models.backtranslation.plugin import load
    from reference_models.backtranslation.train import train_backtranslator
    cfg = get_config(args.config).replace(epochs=args.epochs, batch_size=args.batch_size, beam_size=args.beam_size,
                                          beam_alpha=args.beam_alpha)
    train = open_split(args.data, args.train_split, data_root=args.data_root)
    val = open_split(args.data, args.val_split, data_root=args.data_root)
    started = time.perf_counter()
    result = train_backtranslator(cfg, train, val, args.out, device=args.device, seed=args.seed, name=args.name,
                                  progress=not args.quiet)
    if result.best_epoch > 0 and Path(args.out, "manifest.json").is_file():
        model = load(args.out)
        beam = result.final.get("val_bleu4_beam", float("nan"))
        print(f"{train.spec.id} back-translation ({cfg.name}, {result.parameters:,} parameters, glosses: "
              f"{result.gloss_source}): best validation BLEU-4 {result.best_val_bleu4:.2f} (greedy) at epoch "
              f"{result.best_epoch} of {result.epochs_run}, {beam:.2f} with beam {cfg.beam_size}; "
              f"{time.perf_counter() - started:.0f} s; checkpoint {args.out} (bt:{signature_id(model)})")
    return 0


def cmd_backtranslate(args) -> int:
    from m3t_bench.fileio import atomic_write_text, check_output_path
    from m3t_bench.scoring.backtranslators import load_backtranslator
    from m3t_bench.scoring.score import validate_against_split
    from m3t_bench.scoring.submission import JOINTS_KIND
    check_output_path(args.out)  # before the decoding, which takes minutes
    sub, split = validate_against_split(args.pred_dir, args.dataset, split=args.split, data_root=args.data_root)
    model = load_backtranslator(args.bt_model, device=args.device)
    if sub.kind == JOINTS_KIND:
        raise UserError("skeleton-only submission: the back-translation model reads SMPL-FX parameters",
                        file=args.pred_dir)
    if model.dataset != split.spec.id:
        raise UserError(f"model was trained on {model.dataset}, not {split.spec.id}", file=args.bt_model)
    hyps = model.translate([sub.samples[i] for i in sub.ids], progress=not args.quiet)
    atomic_write_text(args.out, "".join(f"{i}\t{h}\n" for i, h in zip(sub.ids, hyps)))
    print(f"wrote {len(hyps)} hypotheses to {args.out}")
    return 0


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder holding <dataset>/<split>/ (default: $M3T_DATA_ROOT, else ./data)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(subparsers, train_subparsers) -> None:
    """Add ``train bt`` (under the ``train`` command) and ``backtranslate``."""
    p = train_subparsers.add_parser(
        "bt", help="train a back-translation model (SL-T style) on a dataset's ground truth",
        description="Train one back-translation model on the ground-truth motion of a dataset; writes OUT/ "
                    "(config.json, text_vocab.json, gloss_vocab.json, model.safetensors, manifest.json with the "
                    "content hash). Several processes: torchrun --nproc_per_node N $(which m3t-bench) train bt ...")
    p.add_argument("--data", required=True, help="registered dataset name or dataset folder (holding train/, val/)")
    p.add_argument("--out", required=True, type=Path, help="checkpoint folder (replaced atomically)")
    p.add_argument("--config", default="tiny", choices=("tiny", "full"), help="architecture/training config")
    p.add_argument("--name", help="model name in signatures (default slt-<config>-<dataset>)")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val", help="split for checkpoint selection (default val)")
    p.add_argument("--epochs", type=cli_args.positive, help="override the config's epochs")
    p.add_argument("--batch-size", type=cli_args.positive, help="override the config's global batch size")
    p.add_argument("--beam-size", type=cli_args.positive, help="override the config's beam width used when scoring")
    p.add_argument("--beam-alpha", type=float, help="override the config's length penalty alpha")
    p.add_argument("--seed", type=cli_args.seed, default=0)
    _add_common(p)
    p.set_defaults(func=cmd_train_bt)

    p = subparsers.add_parser("backtranslate", help="decode a submission's motion into text with a back-"
                                                    "translation model ('<id>\\t<text>' lines for --bt-hyps)")
    p.add_argument("pred_dir", type=Path, metavar="PRED_DIR", help="submission folder (validated first)")
    p.add_argument("--dataset", required=True, help="registered dataset name or dataset/split folder")
    p.add_argument("--split", default="test")
    p.add_argument("--bt-model", required=True, type=Path, metavar="DIR", help="back-translation model folder")
    p.add_argument("--out", required=True, type=Path, help="hypotheses file to write")
    _add_common(p)
    p.set_defaults(func=cmd_backtranslate)
