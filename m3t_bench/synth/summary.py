"""A one-screen summary of a generated SynthSign corpus (what ``make demo`` prints)."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from m3t_bench.datasets.loader import open_split
from m3t_bench.errors import UserError
from m3t_bench.synth.generate import LANGUAGE_DATASETS, NMFS_DATASET
from m3t_bench.synth.lexicon import load_lexicon


def summarize(out_dir: str | Path) -> str:
    """Text table of a corpus written by :func:`m3t_bench.synth.generate`: per dataset the language, fps,
    lexicon size, confusing groups, samples per split, total frames and mean clip length."""
    out = Path(out_dir)
    rows, info = [], None
    for name in (*LANGUAGE_DATASETS, NMFS_DATASET):
        if not (out / name).is_dir():
            raise UserError("no SynthSign dataset here (run `m3t-bench synth --out DIR` first)", file=out / name)
        lexicon = load_lexicon(out / "lexicon", name)
        splits = [open_split(out / name, s, verify=True) for s in ("train", "val", "test")
                  if (out / name / s).is_dir()]
        info = info or splits[0].info.get("generator", {})
        frames = sum(e["n_frames"] for sp in splits for e in sp.entries)
        seconds = sum(e["n_frames"] / e["fps"] for sp in splits for e in sp.entries)
        n = sum(len(sp) for sp in splits)
        groups = lexicon.groups()
        rows.append([name, splits[0].info.get("generator", {}).get("annotations", "?"), splits[0].spec.language, f"{splits[0].spec.fps:g}", len(lexicon),
                     f"{len(groups)} ({sum(map(len, groups.values()))} signs)",
                     " / ".join(f"{sp.split} {len(sp)}" for sp in splits), f"{frames:,}", f"{seconds / max(n, 1):.1f}"])
    head = f"SynthSign corpus at {out} (preset {info.get('preset')}, seed {info.get('seed')})"
    table = tabulate(rows, headers=["dataset", "text from", "lang", "fps", "signs", "confusing groups", "samples per split",
                                    "frames", "mean s"], tablefmt="simple")
    return head + "\n" + table
