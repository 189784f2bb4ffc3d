"""``m3t-bench datasets list|info|verify|convert``."""

from __future__ import annotations

import sys

from tabulate import tabulate

from m3t_bench.datasets.loader import add_data_root_argument


def register(subparsers) -> None:
    p = subparsers.add_parser("datasets", help="list, describe, verify and convert datasets")
    sub = p.add_subparsers(dest="datasets_command", metavar="ACTION", parser_class=type(p))
    sub.required = True
    sub.add_parser("list", help="registered dataset specs").set_defaults(func=_list)
    info = sub.add_parser("info", help="one dataset's spec")
    info.add_argument("name")
    info.set_defaults(func=_info)
    verify = sub.add_parser("verify", help="check every file of a dataset (exit 2 on problems)")
    verify.add_argument("name_or_path", help="registered name (looked up under --data-root) or a folder")
    verify.add_argument("--split", action="append", help="split(s) to check (default: all of the spec's)")
    add_data_root_argument(verify)
    verify.set_defaults(func=_verify)
    conv = sub.add_parser("convert", help="convert SOKE-style SMPL-X pseudo-GT or flat arrays to the layout")
    conv.add_argument("input", help="folder of <id>.npy / <id>.npz arrays")
    conv.add_argument("--from", dest="source", required=True, choices=["soke-179", "soke-133", "flat360"])
    conv.add_argument("--out", required=True, help="output root; writes OUT/NAME/SPLIT/")
    conv.add_argument("--name", required=True, help="dataset name (a registered one gives language/fps)")
    conv.add_argument("--split", required=True)
    conv.add_argument("--texts", help="TSV/CSV with columns id (or name), text, and optionally gloss, signer")
    conv.add_argument("--language", help="language code when NAME is not registered")
    conv.add_argument("--fps", type=float, help="frame rate when NAME is not registered")
    conv.set_defaults(func=_convert)


def _list(args) -> int:
    from m3t_bench.datasets.specs import list_specs
    rows = [[s.id, s.language, f"{s.fps:g}", s.task, ", ".join(s.splits), s.text_tokenization, s.description]
            for s in list_specs()]
    print(tabulate(rows, headers=["dataset", "lang", "fps", "task", "splits", "text tok.", "description"]))
    return 0


def _info(args) -> int:
    from m3t_bench.datasets.specs import get_spec
    spec = get_spec(args.name)
    for key, value in {"id": spec.id, **spec.to_json(), "description": spec.description}.items():
        print(f"{key:18} {value}")
    return 0


def _verify(args) -> int:
    from pathlib import Path

    from m3t_bench.datasets.loader import verify_split
    from m3t_bench.datasets.specs import get_spec, is_registered
    from m3t_bench.datasets.store import MANIFEST

    target = Path(args.name_or_path)
    if args.split:
        splits = args.split
    elif target.is_dir() and (target / MANIFEST).is_file():
        splits = [None]
    elif target.is_dir():
        splits = sorted(p.name for p in target.iterdir() if (p / MANIFEST).is_file()) or [None]
    elif is_registered(args.name_or_path):
        splits = list(get_spec(args.name_or_path).splits)
    else:
        splits = [None]
    total = 0
    for split in splits:
        sp, problems = verify_split(args.name_or_path, split, data_root=args.data_root)
        where = sp.root if sp is not None else f"{args.name_or_path} {split or ''}".strip()
        if problems:
            print(f"{where}: {len(problems)} problem(s)", file=sys.stderr)
            for line in problems:
                print(f"  {line}", file=sys.stderr)
        else:
            print(f"{where}: ok ({len(sp)} samples, manifest sha256 {sp.manifest_sha256[:12]}…)")
        total += len(problems)
    return 2 if total else 0


def _convert(args) -> int:
    from m3t_bench.datasets.convert import convert_folder
    out = convert_folder(args.input, args.out, source=args.source, name=args.name, split=args.split,
                         texts=args.texts, language=args.language, fps=args.fps)
    print(f"wrote {out}")
    return 0
