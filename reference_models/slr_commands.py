"""``m3t-bench train slr`` and ``m3t-bench eval slr``: the SLR probe on frozen tokenizer encoders (NMFs-CSL
protocol). Heavy imports happen inside the handlers, so ``m3t-bench --help`` stays fast."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from m3t_bench import cli_args
from m3t_bench.errors import UserError

DEFAULT_MODALITIES = "body,hand,face"


def _device_and_body_model(args, body_model_id: str):
    import torch
    from m3t_bench.distributed import Distributed, resolve_device
    from reference_models.m3t.train import open_body_model
    device = resolve_device(args.device, Distributed(local_rank=int(os.environ.get("LOCAL_RANK", "0"))))
    return device, open_body_model(args.body_models, body_model_id,
                                   torch.device("cpu") if device.type == "cpu" else device)


def _split_info(split) -> dict:
    return {"name": split.spec.id, "split": split.split, "manifest_sha256": split.manifest_sha256,
            "n_samples": len(split)}


def cmd_train_slr(args) -> int:
    from m3t_bench.datasets import open_split
    from reference_models.m3t.checkpoint import load_tokenizer_dir
    from reference_models.m3t.slr import get_config, modality_streams, parse_modalities
    from reference_models.m3t.slr_checkpoint import class_records, tokenizer_identity
    from reference_models.m3t.slr_data import (FrozenEncoders, LazySamples, ProbeDataset, find_class_list,
                                               holdout_split, split_labels)
    from reference_models.m3t.slr_train import train_probe
    from reference_models.m3t.slr_window import WindowConfig

    t0 = time.perf_counter()
    cfg = get_config(args.config).replace(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                          dropout=args.dropout, val_fraction=args.val_fraction)
    if args.no_crop:
        cfg = cfg.replace(window=WindowConfig(enabled=False))
    modalities = parse_modalities(args.modalities)
    streams = modality_streams(modalities)
    classes = find_class_list(args.data, args.classes)
    train_split = open_split(args.data, args.train_split)
    labels = split_labels(train_split, classes)
    device, body_model = _device_and_body_model(args, train_split.body_model_id)
    encoders = FrozenEncoders(load_tokenizer_dir(args.tokenizer, modalities, device=device), streams)
    fps = train_split.spec.fps
    val_name = args.val_split or next((s for s in ("val", "dev") if (Path(args.data) / s / "manifest.jsonl").is_file()),
                                      None)
    if val_name:
        val_split = open_split(args.data, val_name)
        train_set = ProbeDataset(LazySamples(train_split), labels, encoders, body_model, fps, cfg)
        val_set = ProbeDataset(LazySamples(val_split), split_labels(val_split, classes), encoders, body_model,
                               val_split.spec.fps, cfg)
        validation = f"split {val_split.split!r} ({len(val_split)} samples)"
        data_info = {"train": _split_info(train_split), "val": _split_info(val_split)}
    else:
        held = holdout_split([row["signer"] for row in train_split.entries], labels, cfg.val_fraction, args.seed)
        train_set = ProbeDataset(LazySamples(train_split, held.train), labels[held.train], encoders, body_model,
                                 fps, cfg)
        val_set = ProbeDataset(LazySamples(train_split, held.val), labels[held.val], encoders, body_model, fps, cfg)
        validation = held.description
        data_info = {"train": _split_info(train_split)}
    meta = {"modalities": list(modalities), "widths": encoders.widths, "classes": class_records(classes),
            "tokenizer": tokenizer_identity(args.tokenizer, tuple(encoders.tokenizers)),
            "body_model": body_model.model_id, "data": data_info, "validation": validation}
    result = train_probe(cfg, streams, encoders.widths, train_set, val_set, len(classes), Path(args.out),
                         device=args.device, seed=args.seed, meta=meta, progress=not args.quiet)
    if result.best_epoch > 0:
        paper = " (paper, appendix D.3: 26M for W = 1024 and 1,067 classes)" if cfg.name == "full" else ""
        print(f"SLR probe {','.join(modalities)} ({cfg.name}, {result.parameters:,} trainable parameters{paper}; "
              f"frozen encoders {sum(p.numel() for m in encoders.tokenizers.values() for p in m.encoder.parameters()):,}): "
              f"best validation top-1 {result.best_val_top1:.2f}% at epoch {result.best_epoch} ({validation}); "
              f"{result.steps} steps in {time.perf_counter() - t0:.1f} s; checkpoint {result.out_dir}")
    return 0


def cmd_eval_slr(args) -> int:
    from m3t_bench.datasets import open_split
    from m3t_bench.results import write_results
    from reference_models.m3t.checkpoint import CONFIG_FILE
    from reference_models.m3t.slr_checkpoint import (
        check_evaluation_fields, classes_from_records, load_probe, load_probe_tokenizers,
    )
    from reference_models.m3t.slr_data import FrozenEncoders, LazySamples, ProbeDataset, find_class_list, split_labels
    from reference_models.m3t.slr_eval import confusing_mask, format_scores, slr_results, slr_scores
    from reference_models.m3t.slr_train import predict

    t0 = time.perf_counter()
    split = open_split(args.data, args.split)
    device, body_model = _device_and_body_model(args, split.body_model_id)
    head, meta = load_probe(args.ckpt, device=device)
    check_evaluation_fields(meta, file=Path(args.ckpt) / CONFIG_FILE)
    if meta.get("body_model") != body_model.model_id:
        raise UserError(f"the probe's windows were found with body model {meta.get('body_model')!r} but "
                        f"{body_model.model_id!r} was loaded; pass the matching --body-models",
                        field="--body-models")
    classes = classes_from_records(meta["classes"], file=Path(args.ckpt) / CONFIG_FILE)
    if args.classes is not None or (Path(args.data) / "classes.tsv").is_file():
        if find_class_list(args.data, args.classes) != classes:
            raise UserError("the class list differs from the one the probe was trained with", field="--classes")
    labels = split_labels(split, classes)
    encoders = FrozenEncoders(load_probe_tokenizers(meta, args.tokenizer, device=device), head.streams)
    dataset = ProbeDataset(LazySamples(split), labels, encoders, body_model, split.spec.fps, head.cfg)
    logits, labels = predict(head, dataset, batch_size=head.cfg.batch_size)
    scores, skipped = slr_scores(logits, labels, confusing_mask(labels, classes), dataset_id=split.spec.id,
                                 seed=args.seed, n_resamples=args.bootstrap)
    print(f"SLR probe {','.join(meta['modalities'])} on {split.spec.id} {split.split} ({len(split)} samples, "
          f"{time.perf_counter() - t0:.1f} s), protocol slr@1")
    print(format_scores(scores))
    if args.json is not None:
        write_results(args.json, slr_results(scores, skipped, logits=logits, meta=meta, split=split,
                                             ckpt=Path(args.ckpt), system=args.system, seed=args.seed,
                                             n_resamples=args.bootstrap))
        print(f"wrote {args.json}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    from m3t_bench.body import add_body_models_argument
    p.add_argument("--data", required=True, help="dataset folder holding the split folders and classes.tsv")
    p.add_argument("--classes", help="class list TSV (default: DATA/classes.tsv; NMFs-CSL users supply theirs)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--seed", type=cli_args.seed, default=0)
    add_body_models_argument(p)


def register(train_sub, subparsers) -> None:
    """Add ``train slr`` (under the existing ``train`` parser's sub-commands) and ``eval slr``."""
    p = train_sub.add_parser("slr", help="train the SLR probe on frozen tokenizer encoders (NMFs-CSL protocol)",
                             description="Train the SLR probe head on the frozen encoders of TOKENIZER (isolated "
                                         "signs with a 'label' per manifest row and a class list). Several "
                                         "processes: torchrun --nproc_per_node N $(which m3t-bench) train slr ...")
    _common(p)
    p.add_argument("--tokenizer", required=True, help="tokenizer directory (body/, hand/, face/ checkpoints)")
    p.add_argument("--out", required=True, help="checkpoint folder (config.json, model.safetensors)")
    p.add_argument("--modalities", default=DEFAULT_MODALITIES,
                   help="streams the probe sees: body,hand,face (default), body,hand (face-blind) or face")
    p.add_argument("--config", default="tiny", choices=("tiny", "full"), help="probe config (default tiny)")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", help="validation split (default: val/dev when the dataset has one, else a held-out "
                                       "part of the training split: whole signers, see --val-fraction)")
    p.add_argument("--val-fraction", type=float, help="share of the training split held out (default: config's)")
    p.add_argument("--epochs", type=cli_args.positive, help="override the config's epochs")
    p.add_argument("--batch-size", type=cli_args.positive, help="override the config's global batch size")
    p.add_argument("--lr", type=float, help="override the config's peak learning rate")
    p.add_argument("--dropout", type=float, help="override the config's dropout")
    p.add_argument("--no-crop", action="store_true", help="keep whole clips (no active-window cropping)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train_slr)

    ev = subparsers.add_parser("eval", help="evaluate a reference model")
    ev_sub = ev.add_subparsers(dest="model", metavar="MODEL", parser_class=type(ev))
    p = ev_sub.add_parser("slr", help="top-1/top-5 overall, confusing, normal of an SLR probe",
                          description="Evaluate an SLR probe: top-1/top-5 accuracy overall and on the confusing "
                                      "and normal classes, with bootstrap 95% intervals.")
    _common(p)
    p.add_argument("--ckpt", required=True, help="probe checkpoint folder (from m3t-bench train slr)")
    p.add_argument("--split", default="test")
    p.add_argument("--tokenizer", help="tokenizer directory (default: the one recorded in the checkpoint)")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the results JSON here")
    p.add_argument("--system", help="system name in the results (default: from the checkpoint)")
    p.add_argument("--bootstrap", type=cli_args.positive, default=1000, help="bootstrap resamples for the 95%% CIs (default 1000)")
    p.set_defaults(func=cmd_eval_slr)
    ev.set_defaults(func=lambda args: _missing(ev))


def _missing(parser: argparse.ArgumentParser) -> int:
    raise UserError(f"name what to evaluate: {parser.prog} {{slr}}")
