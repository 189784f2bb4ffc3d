"""Writing a SynthSign corpus: three sentence datasets (ASL/CSL/DGS-like), the isolated-sign set, the
face-only talking-face set and the lexicons, in the standard dataset layout (:mod:`m3t_bench.datasets.store`)."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

import m3t_bench
from m3t_bench.datasets.nmfs import NmfsClass, format_class_list
from m3t_bench.datasets.specs import get_spec
from m3t_bench.datasets.store import CARD, MANIFEST, SplitWriter
from m3t_bench.errors import UserError
from m3t_bench.synth import annotations as ann
from m3t_bench.synth.face_prior import default_prior_sha256
from m3t_bench.synth.faces import draw_vocabulary
from m3t_bench.synth.faces_corpus import EMOTIONS, draw_emotions, talking_face
from m3t_bench.synth.grammar import NEGATION_GLOSSES, Grammar, builtin_words
from m3t_bench.synth.lexicon import LEXICON_FORMAT, Lexicon, build_lexicon, save_lexicon
from m3t_bench.synth.presets import Preset, get_preset
from m3t_bench.synth.render import synthesize
from m3t_bench.synth.seeding import stream
from m3t_bench.synth.signers import make_signer

#: dataset name -> language
LANGUAGE_DATASETS = {"synthsign-asl": "en", "synthsign-csl": "zh", "synthsign-dgs": "de"}
NMFS_DATASET = "synthsign-nmfs"
FACES_DATASET = "synthsign-faces"
SPLITS = ("train", "val", "test")
CARD_FIELDS = {"present": ["body", "lhand", "rhand", "face", "shape"], "converted": {},
               "absent": ["joints"], "note": "procedural SMPL-FX parameters (SynthSign); shape = per-signer"}
FACES_CARD_FIELDS = {"present": ["face", "shape"], "converted": {}, "absent": ["joints"],
                     "note": "procedural talking faces (SynthSign); body, lhand, rhand hold the rest pose"}
#: Extra negation glosses of the real corpora (head shake).
REAL_NEGATIONS = {"de": ("NICHT", "KEIN"), "zh": ("不", "没有"), "en": ("not", "never")}


def _resolve_annotations(annotations) -> Path | None:
    if annotations is None or annotations == "none":
        return None
    if annotations == "auto":
        return ann.default_annotation_root()
    root = Path(annotations)
    if not root.is_dir():
        raise UserError("annotation folder not found (expected the layout of ../shared/data)", file=root,
                        field="annotations")
    return root


def _sentences(language: str, preset: Preset, seed: int, root: Path | None):
    """Per split: list of (id, text, gloss, signer, question); plus the vocabulary to build signs for."""
    sizes = dict(zip(SPLITS, preset.sentences))
    if root is None:
        grammar = Grammar(language, stream(seed, "vocab", language), preset.n_signs)
        out = {}
        for split, n in sizes.items():
            rng = stream(seed, "sentences", language, split)
            signers = [f"{language}-s{k:02d}" for k in range(preset.signers)]
            out[split] = []
            for i in range(n):
                s = grammar.sample(rng)
                out[split].append((f"{language}-{split}-{i:05d}", s.text, s.gloss, signers[int(rng.integers(len(signers)))],
                                   s.question))
        return out, grammar.glosses(), NEGATION_GLOSSES[language], "builtin"
    rows = ann.sample_sentences(root, language, sizes, stream(seed, "real", language), max_glosses=preset.max_glosses)
    out = {split: [(r.id, r.text, r.gloss, r.signer, r.question) for r in rs] for split, rs in rows.items()}
    vocab = [g for split in SPLITS for row in out[split] for g in row[2].split()]
    return out, vocab, REAL_NEGATIONS[language], ann.CORPUS_OF_LANGUAGE[language]


def _clean(split_dir: Path) -> None:
    if split_dir.is_dir():
        for p in split_dir.iterdir():
            if p.suffix == ".npz" or p.name in (MANIFEST, CARD):
                p.unlink()


def _generator_info(preset: Preset, seed: int, source: str) -> dict:
    return {"name": "m3t_bench.synth", "version": m3t_bench.__version__, "preset": preset.name, "seed": seed,
            "annotations": source, "lexicon_format": LEXICON_FORMAT, "face_prior_sha256": default_prior_sha256()}


def _sentence_dataset(out: Path, name: str, preset: Preset, seed: int, root: Path | None, bar) -> Lexicon:
    language = LANGUAGE_DATASETS[name]
    spec = get_spec(name)
    rows, vocab, negation, source = _sentences(language, preset, seed, root)
    lexicon = build_lexicon(vocab, language, stream(seed, "lexicon", language), negation=negation,
                            confusing_fraction=preset.confusing_fraction, seed=seed,
                            meta={"source": source, "dataset": name})
    save_lexicon(lexicon, out / "lexicon")
    for split in SPLITS:
        _clean(out / name / split)
        writer = SplitWriter(out / name / split, spec, split, card=CARD_FIELDS,
                             generator=_generator_info(preset, seed, source))
        for sample_id, text, gloss, signer_name, question in rows[split]:
            signer = make_signer(signer_name, seed)
            seq = synthesize(lexicon, gloss.split(), signer=signer, fps=spec.fps, question=question,
                             rng=stream(seed, "render", name, split, sample_id))
            writer.add(sample_id, seq, text=text, gloss=gloss, signer=signer_name, segments=seq.meta["segments"],
                       sentence_type="question" if question else "statement", source=source)
            bar.update(1)
        writer.close()
    return lexicon


def _nmfs_dataset(out: Path, preset: Preset, seed: int, bar) -> Lexicon:
    spec = get_spec(NMFS_DATASET)
    words = builtin_words("zh")
    n_classes = preset.nmfs_classes
    glosses = [words[i] if i < len(words) else f"手语{i:03d}" for i in range(n_classes)]
    groups, start = [], 0
    for size in preset.nmfs_groups:
        groups.append(glosses[start:start + size])
        start += size
    lexicon = build_lexicon(glosses, "zh", stream(seed, "lexicon", "nmfs"), groups=groups, seed=seed,
                            meta={"source": "builtin", "dataset": NMFS_DATASET})
    save_lexicon(lexicon, out / "lexicon", key="nmfs")
    classes = [NmfsClass(i, g, lexicon[g].group, lexicon[g].confusing) for i, g in enumerate(glosses)]
    (out / NMFS_DATASET).mkdir(parents=True, exist_ok=True)
    (out / NMFS_DATASET / "classes.tsv").write_text(format_class_list(classes), encoding="utf-8")
    signers = [f"nmfs-s{k:02d}" for k in range(preset.nmfs_signers)]
    test_signers = set(signers[len(signers) - preset.nmfs_test_signers:])
    for split in spec.splits:
        _clean(out / NMFS_DATASET / split)
        writer = SplitWriter(out / NMFS_DATASET / split, spec, split, card=CARD_FIELDS,
                             generator=_generator_info(preset, seed, "builtin"))
        for signer_name in signers:
            if (signer_name in test_signers) != (split == "test"):
                continue
            signer = make_signer(signer_name, seed)
            for cls in classes:
                sign = lexicon[cls.gloss]
                for rep in range(preset.nmfs_repetitions):
                    # Seeded by the manual part, not the class: a confusing group's members get identical
                    # arm and hand motion for the same signer and repetition.
                    rng = stream(seed, "nmfs", signer_name, rep, sign.manual_id)
                    seq = synthesize(lexicon, [cls.gloss], signer=signer, fps=spec.fps, rng=rng)
                    writer.add(f"nmfs-c{cls.class_id:04d}-{signer_name}-r{rep}", seq, text=cls.gloss, gloss=cls.gloss,
                               signer=signer_name, label=cls.class_id, group=cls.group, confusing=cls.confusing,
                               repetition=rep, segments=seq.meta["segments"])
                    bar.update(1)
        writer.close()
    return lexicon


def _faces_dataset(out: Path, preset: Preset, seed: int, bar) -> None:
    spec = get_spec(FACES_DATASET)
    vocabulary = draw_vocabulary(stream(seed, "faces", "vocabulary"))
    emotions = draw_emotions(stream(seed, "faces", "emotions"))
    index = 0
    for split, n_speakers in zip(SPLITS, preset.face_speakers):
        _clean(out / FACES_DATASET / split)
        writer = SplitWriter(out / FACES_DATASET / split, spec, split, card=FACES_CARD_FIELDS,
                             generator=_generator_info(preset, seed, "builtin"))
        for _ in range(n_speakers):
            name = f"face-s{index:02d}"
            index += 1
            speaker = make_signer(name, seed)
            for label, emotion in enumerate(EMOTIONS):
                for intensity in (1,) if emotion == "neutral" else preset.face_intensities:
                    for rep in range(preset.face_repetitions):
                        seq = talking_face(vocabulary, emotions, emotion, intensity, speaker, spec.fps,
                                           stream(seed, "faces", name, emotion, intensity, rep))
                        writer.add(f"{name}-{emotion}-i{intensity}-r{rep}", seq, text=f"{emotion} {intensity}",
                                   gloss=emotion, signer=name, label=label, emotion=emotion, intensity=intensity,
                                   repetition=rep, segments=seq.meta["segments"])
                        bar.update(1)
        writer.close()


def generate(out_dir: str | Path, *, preset: str = "tiny", seed: int = 0, annotations=None,
             progress: bool = False) -> Path:
    """Write a SynthSign corpus to ``out_dir`` and return it.

    Layout: ``out_dir/<dataset>/<split>/{manifest.jsonl,dataset.json,<id>.npz}`` for ``synthsign-asl``,
    ``synthsign-csl``, ``synthsign-dgs`` (train/val/test), ``synthsign-nmfs`` (train/test, rows with
    ``label``, ``group``, ``confusing``; class list in ``synthsign-nmfs/classes.tsv``) and
    ``synthsign-faces`` (train/val/test talking faces, rows with ``emotion``, ``intensity``, ``label``), and
    ``out_dir/lexicon/{en,zh,de,nmfs}.json``. ``annotations``: None/"none" (built-in grammar), "auto"
    (``$M3T_DATA`` or ``../shared/data`` when present) or a folder with the real annotation files.
    Same arguments -> byte-identical files. ``progress`` shows a bar on stderr.
    """
    p = get_preset(preset)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = _resolve_annotations(annotations)
    total = (3 * sum(p.sentences) + p.nmfs_classes * p.nmfs_signers * p.nmfs_repetitions
             + sum(p.face_speakers) * p.face_clips_per_speaker)
    with tqdm(total=total, disable=not progress, desc=f"SynthSign {preset}", unit="sample", leave=False) as bar:
        for name in LANGUAGE_DATASETS:
            _sentence_dataset(out, name, p, seed, root, bar)
        _nmfs_dataset(out, p, seed, bar)
        _faces_dataset(out, p, seed, bar)
    return out

