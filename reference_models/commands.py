"""``m3t-bench train tokenizer | train smlm | generate | tokenize | detokenize | ablate tokenizer`` (and ``train
bt``, ``backtranslate`` from :mod:`reference_models.backtranslation.commands`, ``train slr``/``eval slr``,
``reproduce``; plugged in through the ``m3t_bench.commands`` entry point). Heavy imports happen inside the
handlers, so ``m3t-bench --help`` stays fast."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from m3t_bench import cli_args
from m3t_bench.errors import UserError
from reference_models.backtranslation.commands import register as register_backtranslation
from reference_models.reproduce.commands import register as register_reproduce
from reference_models.slr_commands import register as register_slr

MODALITY_CHOICES = ("body", "hand", "face")


def _add_body_models(parser: argparse.ArgumentParser) -> None:
    from m3t_bench.body import add_body_models_argument
    add_body_models_argument(parser)


def _add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")


def _add_tokenizer_io(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt-dir", required=True, help="tokenizer directory with body/, hand/, face/ checkpoints")
    parser.add_argument("--out", required=True, help="output folder (one .npz per sample)")
    _add_device(parser)


def _load_split(data: str, split: str) -> tuple[list, dict]:
    """All sequences of ``data``'s ``split`` and the provenance recorded with what is trained on them."""
    from m3t_bench.datasets import open_split
    sp = open_split(data, split)
    info = {"name": sp.spec.id, "split": sp.split, "manifest_sha256": sp.manifest_sha256,
            "body_model_id": sp.body_model_id}
    return [sp.load(i) for i in sp.ids], info


def _load_face_data(args) -> tuple[list, dict | None]:
    """The extra face-only training sequences of ``--face-data`` (train split) and their provenance."""
    if not getattr(args, "face_data", None):
        return [], None
    if getattr(args, "modality", "face") != "face":
        raise UserError("--face-data adds face-only clips and applies to --modality face only", field="--face-data")
    seqs, info = _load_split(args.face_data, args.face_data_split)
    return seqs, {**info, "samples": len(seqs)}


def _load_splits(datas: list[str], split: str) -> tuple[list, dict]:
    """All sequences of ``split`` of every dataset in ``datas`` (concatenated, in the given order) and their
    provenance: one dataset's info as :func:`_load_split` gives it; for several, their names joined by
    ``+`` and the manifest hash per dataset (the datasets must share one body model)."""
    loaded = [_load_split(d, split) for d in datas]
    if len(loaded) == 1:
        return loaded[0]
    infos = [info for _, info in loaded]
    body_models = sorted({i["body_model_id"] for i in infos})
    if len(body_models) > 1:
        raise UserError(f"the datasets were made with different body models ({', '.join(body_models)}); "
                        f"train on datasets that share one", field="--data")
    info = {"name": "+".join(i["name"] for i in infos), "split": infos[0]["split"],
            "manifest_sha256": {i["name"]: i["manifest_sha256"] for i in infos}, "body_model_id": body_models[0]}
    return [seq for seqs, _ in loaded for seq in seqs], info


def _training_config(args):
    from reference_models.m3t.config import get_config
    return get_config(args.config).replace(epochs=args.epochs, batch_size=args.batch_size,
                                           width=getattr(args, "width", None))


def _open_body_model(args, body_model_id: str):
    import torch
    from m3t_bench.distributed import Distributed, resolve_device
    from reference_models.m3t.train import open_body_model
    device = resolve_device(args.device, Distributed(local_rank=int(os.environ.get("LOCAL_RANK", "0"))))
    return open_body_model(getattr(args, "body_models", None), body_model_id,
                           torch.device("cpu") if device.type == "cpu" else device)


def cmd_train_tokenizer(args) -> int:
    from reference_models.m3t.train import train_tokenizer
    cfg = _training_config(args)
    train, train_info = _load_splits(args.data, args.train_split)
    val, val_info = _load_splits(args.data, args.val_split)
    extra, extra_info = _load_face_data(args)
    body_model = _open_body_model(args, train_info["body_model_id"])
    data_info = {"train": train_info, "val": val_info, **({"face_extra": extra_info} if extra_info else {})}
    result = train_tokenizer(args.modality, cfg, train + extra, val, Path(args.out) / args.modality,
                             quantizer=args.quantizer, body_model=body_model, device=args.device, seed=args.seed,
                             resume=args.resume, stop_after_epochs=args.stop_after_epochs,
                             data_info=data_info, progress=not args.quiet)
    if result.best_epoch > 0:
        print(f"{args.modality} {args.quantizer} ({cfg.name}, {result.parameters:,} parameters): best validation "
              f"vertex error {result.best_val_mm:.3f} mm at epoch {result.best_epoch}; {result.steps} steps; "
              f"checkpoint {result.out_dir}")
    return 0


def cmd_tokenize(args) -> int:
    from reference_models.m3t.checkpoint import load_tokenizer_dir
    from reference_models.m3t.tokenize import tokenize_folder
    models = load_tokenizer_dir(args.ckpt_dir, device=args.device)
    n = tokenize_folder(args.data, args.ckpt_dir, args.out, models, split=args.split)
    print(f"tokenized {n} sample(s) into {args.out}")
    return 0


def cmd_detokenize(args) -> int:
    from reference_models.m3t.checkpoint import load_tokenizer_dir
    from reference_models.m3t.tokenize import detokenize_folder
    models = load_tokenizer_dir(args.ckpt_dir, device=args.device)
    n = detokenize_folder(args.tokens, args.out, models)
    print(f"decoded {n} sample(s) into {args.out}")
    return 0


def cmd_ablate_tokenizer(args) -> int:
    import sys

    from reference_models.m3t.ablate import run_seeds, table_rows, write_tables
    from tabulate import tabulate
    if args.seeds < 1:
        raise UserError(f"--seeds {args.seeds}; expected at least 1", field="--seeds")
    cfg = _training_config(args)
    if len(args.data) != 1:
        raise UserError(f"the ablation runs on one dataset, got {len(args.data)}", field="--data")
    train, train_info = _load_split(args.data[0], args.train_split)
    val, val_info = _load_split(args.data[0], args.val_split)
    evaluation, eval_info = _load_split(args.data[0], args.eval_split)
    evaluation = evaluation[:args.eval_samples]
    extra, extra_info = _load_face_data(args)
    body_model = _open_body_model(args, train_info["body_model_id"])
    data_info = {"name": train_info["name"], "eval_split": eval_info["split"], "eval_samples": len(evaluation),
                 "manifest_sha256": {i["split"]: i["manifest_sha256"] for i in (train_info, val_info, eval_info)},
                 **({"face_extra": extra_info} if extra_info else {})}
    with tempfile.TemporaryDirectory(prefix="m3t-ablation-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        result = run_seeds(train, val, evaluation, body_model, cfg, work, seeds=list(range(args.seed, args.seed + args.seeds)),
                           grid=args.grid, device=args.device, data_info=data_info, progress=not args.quiet,
                           face_train_seqs=extra, log=lambda line: print(line, file=sys.stderr, flush=True))
    paths = write_tables(result, Path(args.out))
    header, rows = table_rows(result)
    print(tabulate(rows, header, tablefmt="github"))
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def cmd_train_smlm(args) -> int:
    from m3t_bench.datasets import open_split
    from reference_models.m3t.smlm import get_smlm_config
    from reference_models.m3t.smlm_train import train_smlm
    cfg = get_smlm_config(args.config).replace(epochs=args.epochs, batch_size=args.batch_size,
                                               p_translate=args.p_translate, val_samples=args.val_samples,
                                               dropout=args.dropout)
    train = [open_split(d, args.train_split) for d in args.data]
    val = [open_split(d, args.val_split) for d in args.data]
    body_model_ids = sorted({sp.body_model_id for sp in train})
    if len(body_model_ids) > 1:
        raise UserError(f"the datasets were made with different body models ({', '.join(body_model_ids)})",
                        field="--data")
    body_model = _open_body_model(args, body_model_ids[0])
    result = train_smlm(cfg, train, val, args.tokenizer, args.out, body_model=body_model, mbart_dir=args.mbart,
                        device=args.device, seed=args.seed, resume=args.resume,
                        stop_after_epochs=args.stop_after_epochs, progress=not args.quiet)
    if result.best_epoch > 0:
        print(f"SMLM {cfg.name} ({result.parameters:,} parameters, p_translate {cfg.p_translate}): best validation "
              f"DTW-JPE {result.best_val_dtw_jpe_mm:.2f} mm at epoch {result.best_epoch}; {result.steps} steps; "
              f"checkpoint {result.out_dir}")
    return 0


def cmd_generate(args) -> int:
    from reference_models.m3t.smlm_generate import generate_split
    folder, n = generate_split(args.ckpt, args.dataset, args.split, args.out, data_root=args.data_root,
                               max_len=args.max_len, batch_size=args.batch_size, device=args.device,
                               system=args.system, progress=not args.quiet)
    print(f"generated {n} sample(s) into {folder}")
    return 0


def _add_training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, nargs="+", metavar="DATA",
                   help="dataset folder(s) holding the split folders (train/, val/, ...); several are trained on "
                        "together (train tokenizer)")
    p.add_argument("--config", default="tiny", choices=("tiny", "full"), help="architecture/training config")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val", help="split for checkpoint selection (default val)")
    p.add_argument("--epochs", type=cli_args.positive, help="override the config's epochs")
    p.add_argument("--batch-size", type=cli_args.positive, help="override the config's global batch size")
    p.add_argument("--seed", type=cli_args.seed, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_device(p)
    _add_body_models(p)


def _add_face_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--face-data", help="a face-only dataset (e.g. synthsign-faces; name or folder) whose "
                                       "--face-data-split clips are added to the face tokenizer's training set, "
                                       "as the paper adds MEAD")
    p.add_argument("--face-data-split", default="train", help="split of --face-data to add (default train)")


def register(subparsers) -> None:
    """Add the tokenizer commands to the ``m3t-bench`` parser."""
    train = subparsers.add_parser("train", help="train a reference model")
    train_sub = train.add_subparsers(dest="model", metavar="MODEL", parser_class=type(train))
    p = train_sub.add_parser("tokenizer", help="train one modality's FSQ-VAE (or VQ-VAE) tokenizer",
                             description="Train one modality's tokenizer; writes OUT/<modality>/ (config.json, "
                                         "model.safetensors, resumable state). Several processes: "
                                         "torchrun --nproc_per_node N $(which m3t-bench) train tokenizer ...")
    p.add_argument("--modality", required=True, choices=MODALITY_CHOICES)
    p.add_argument("--out", required=True, help="tokenizer directory (the checkpoint goes to OUT/<modality>/)")
    p.add_argument("--quantizer", default="fsq", choices=("fsq", "vq"))
    p.add_argument("--width", type=cli_args.positive, help="override the config's hidden width")
    p.add_argument("--resume", action="store_true", help="continue from OUT/<modality>/'s saved state")
    p.add_argument("--stop-after-epochs", type=cli_args.positive, help="end this invocation after N epochs (resume later)")
    _add_training_options(p)
    _add_face_data(p)
    p.set_defaults(func=cmd_train_tokenizer)

    p = train_sub.add_parser("smlm", help="train the Sign Motion Language Model (text -> motion tokens)",
                             description="Train one multilingual SMLM on all --data datasets (paper §3.3, D.2); "
                                         "writes OUT/ (config.json, model.safetensors, text tokenizer, frozen "
                                         "tokenizers, curves.csv/png, resumable state). Several processes: "
                                         "torchrun --nproc_per_node N $(which m3t-bench) train smlm ...")
    p.add_argument("--tokenizer", required=True, help="tokenizer directory with body/, hand/, face/ checkpoints")
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--mbart", help="local mBART-large-cc25 folder (weights + sentencepiece.bpe.model); default: "
                                   "random initialisation and a text tokenizer trained on the training texts")
    p.add_argument("--p-translate", type=float, help="probability of a translation batch (0: production only)")
    p.add_argument("--val-samples", type=int, help="validate on the first N samples of each validation split")
    p.add_argument("--dropout", type=float, help="override the config's dropout")
    p.add_argument("--resume", action="store_true", help="continue from OUT's saved state")
    p.add_argument("--stop-after-epochs", type=int, help="end this invocation after N epochs (resume later)")
    _add_training_options(p)
    p.set_defaults(func=cmd_train_smlm)

    p = subparsers.add_parser("generate", help="text -> motion with a trained SMLM: a submission folder",
                              description="Greedy decoding (KV cache, per-sample stop) of every sample of a split; "
                                          "writes OUT/<id>.npz + meta.json for m3t-bench validate and score.")
    p.add_argument("--ckpt", required=True, help="SMLM checkpoint folder (from m3t-bench train smlm)")
    p.add_argument("--dataset", required=True, help="registered dataset name or dataset/split folder")
    p.add_argument("--split", default="test")
    p.add_argument("--data-root", help="folder holding registered datasets (default $M3T_DATA_ROOT or ./data)")
    p.add_argument("--out", required=True, help="submission folder to write")
    p.add_argument("--max-len", type=int, help="most tokens per sample (default: twice the longest training "
                                               "sequence, within the config's cap)")
    p.add_argument("--batch-size", type=int, default=8, help="samples decoded together (default 8)")
    p.add_argument("--system", help="system name for meta.json (default m3t-smlm-<config>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_device(p)
    p.set_defaults(func=cmd_generate)

    p = subparsers.add_parser("tokenize", help="samples -> token streams (one .npz of int arrays per sample)")
    p.add_argument("data", help="a dataset split folder (or dataset folder with --split) or a folder of sample .npz")
    p.add_argument("--split", help="split name when DATA is a dataset folder")
    _add_tokenizer_io(p)
    p.set_defaults(func=cmd_tokenize)

    p = subparsers.add_parser("detokenize", help="token streams -> SMPL-FX sample .npz files")
    p.add_argument("tokens", help="folder of token .npz files (as written by m3t-bench tokenize)")
    _add_tokenizer_io(p)
    p.set_defaults(func=cmd_detokenize)

    ablate = subparsers.add_parser("ablate", help="ablation studies of the reference models")
    ablate_sub = ablate.add_subparsers(dest="study", metavar="STUDY", parser_class=type(ablate))
    p = ablate_sub.add_parser("tokenizer", help="FSQ vs VQ and a BS/HS grid (paper Table 3)")
    p.add_argument("--out", required=True, help="folder for tokenizer_ablation.{md,csv,json}")
    p.add_argument("--eval-split", default="test", help="split the table is computed on (default test)")
    p.add_argument("--eval-samples", type=cli_args.positive, help="evaluate on the split's first N samples (default all)")
    p.add_argument("--grid", default="small", choices=("none", "small"))
    p.add_argument("--work", help="keep the trained checkpoints and each seed's result here (default: a temporary "
                                  "folder); a restarted run reuses finished seeds and resumes interrupted trainings "
                                  "there, and refuses a folder started with other settings")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds, from --seed on (default 1); cells are "
                                                        "mean ± std over them")
    _add_training_options(p)
    _add_face_data(p)
    p.set_defaults(func=cmd_ablate_tokenizer)

    register_slr(train_sub, subparsers)
    register_backtranslation(subparsers, train_sub)
    register_reproduce(subparsers)

    for parent, children in ((train, train_sub), (ablate, ablate_sub)):
        parent.set_defaults(func=lambda args, parser=parent, children=children: _missing_subcommand(parser, children))


def _missing_subcommand(parser: argparse.ArgumentParser, children) -> int:
    raise UserError(f"name what to run: {parser.prog} {{{', '.join(children.choices)}}}")
