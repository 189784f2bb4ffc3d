"""A one-screen summary of a generated SynthSign corpus (what ``make demo`` prints): sizes per dataset and
the face statistics of each beside those of the real FLAME sequence the face prior was fitted to."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from m3t_bench.datasets.face_stats import face_statistics, format_face_stats, split_clips
from m3t_bench.datasets.loader import open_split
from m3t_bench.errors import UserError
from m3t_bench.synth.generate import FACES_DATASET, LANGUAGE_DATASETS, NMFS_DATASET
from m3t_bench.synth.lexicon import load_lexicon

#: Clips per dataset the face statistics read (train split, manifest order).
FACE_STATS_CLIPS = 200
REAL_COLUMN = "real FLAME (BEAT2)"


def _datasets(out: Path) -> list[str]:
    names = [n for n in (*LANGUAGE_DATASETS, NMFS_DATASET) if (out / n).is_dir()]
    if len(names) < 4:
        missing = next(n for n in (*LANGUAGE_DATASETS, NMFS_DATASET) if not (out / n).is_dir())
        raise UserError("no SynthSign dataset here (run `m3t-bench synth --out DIR` first)", file=out / missing)
    return names + ([FACES_DATASET] if (out / FACES_DATASET).is_dir() else [])   # older corpora: no faces set


def summarize(out_dir: str | Path, *, face_stats: bool = True) -> str:
    """Text tables of a corpus written by :func:`m3t_bench.synth.generate`: per dataset the language, fps,
    lexicon size, confusing groups, samples per split, total frames and mean clip length; with
    ``face_stats`` also the face statistics (:mod:`m3t_bench.datasets.face_stats`) of each dataset's train
    split (first 200 clips) beside the real FLAME sequence's."""
    out = Path(out_dir)
    rows, info, stats = [], None, {}
    for name in _datasets(out):
        lexicon = None if name == FACES_DATASET else load_lexicon(out / "lexicon", name)
        splits = [open_split(out / name, s, verify=True) for s in ("train", "val", "test")
                  if (out / name / s).is_dir()]
        info = info or splits[0].info.get("generator", {})
        frames = sum(e["n_frames"] for sp in splits for e in sp.entries)
        seconds = sum(e["n_frames"] / e["fps"] for sp in splits for e in sp.entries)
        n = sum(len(sp) for sp in splits)
        groups = lexicon.groups() if lexicon else {}
        rows.append([name, splits[0].info.get("generator", {}).get("annotations", "?"), splits[0].spec.language,
                     f"{splits[0].spec.fps:g}", len(lexicon) if lexicon else "-",
                     f"{len(groups)} ({sum(map(len, groups.values()))} signs)" if lexicon else "-",
                     " / ".join(f"{sp.split} {len(sp)}" for sp in splits), f"{frames:,}", f"{seconds / max(n, 1):.1f}"])
        if face_stats:
            stats[name.removeprefix("synthsign-")] = face_statistics(split_clips(splits[0], FACE_STATS_CLIPS))
    head = (f"SynthSign corpus at {out} (preset {info.get('preset')}, seed {info.get('seed')}, "
            f"lexicon format {info.get('lexicon_format', 1)})")
    table = tabulate(rows, headers=["dataset", "text from", "lang", "fps", "signs", "confusing groups", "samples per split",
                                    "frames", "mean s"], tablefmt="simple")
    if not face_stats:
        return head + "\n" + table
    from m3t_bench.synth.face_prior import default_prior
    stats[REAL_COLUMN] = default_prior().real_statistics()
    return (head + "\n" + table + f"\n\nFace streams (train splits, first {FACE_STATS_CLIPS} clips; "
            f"m3t_bench.datasets.face_stats):\n" + format_face_stats(stats))
