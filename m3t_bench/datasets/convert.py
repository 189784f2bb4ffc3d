"""Converters from other tools' per-frame arrays into the standard SMPL-FX layout.

Accepted inputs (one array per sample, ``<id>.npy`` or an ``<id>.npz`` holding one array or ``poses``;
never pickles):

``soke-179``  SOKE-style SMPL-X pseudo-GT, ``(T, 179)`` axis-angle (radians): root 3, body 63 (SMPL-X
              joints 1..21 pelvis-children in model order), left hand 45, right hand 45, jaw 3, shape 10,
              expression 10. Hands are full (non-PCA) axis-angle in SMPL-X's per-hand convention, the same
              convention as our ``lhand``/``rhand`` on disk.
``soke-133``  SOKE's model input ``(T, 133)``: 10 upper-body joints (SMPL-X joints 12..21: neck, collars,
              head, shoulders, elbows, wrists) 30, left hand 45, right hand 45, jaw 3, expression 10.
``flat360``   ``(T, 360)`` SMPL-FX features in ``m3t_bench.motion.FEATURE_SLICES`` order
              (body 72 | lhand 90 | rhand 90 | face 108), i.e. ``MotionSequence.features()``.
``smplx2020-flame``  the SMPL-X 2020 + FLAME layout of BEAT2/EMAGE-style ``<id>.npz`` files: ``poses (T, 165)``
              axis-angle of the 55 SMPL-X joints in model order (root, body, jaw, eyes, left hand, right
              hand), ``expressions (T, 100)`` FLAME expression coefficients, ``betas (≤300,)`` SMPL-X 2020 shape,
              optional ``trans (T, 3)`` and ``mocap_frame_rate``. All 100 expressions are kept (SMPL-FX's face
              *is* FLAME's expression space), body and hands by joint name, jaw to 6D, the first 10 betas
              become the body shape; root, translation, eye rotations and betas 10+ are dropped.

SMPL-X → SMPL-FX: the 12 body-stream joints are taken by joint *name*; the 10 SMPL-X expression
coefficients become FLAME's first 10 expression components (SMPL-X's expression space is FLAME's), the
other 90 are 0; eyelids 0; jaw axis-angle → 6D; root orientation and lower body are dropped (held fixed
in SMPL-FX). The dataset card lists what was converted and what is absent.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from m3t_bench.datasets.specs import DatasetSpec, check_fps, check_name, get_spec, is_registered
from m3t_bench.datasets.store import SplitWriter, check_sample_id
from m3t_bench.errors import UserError
from m3t_bench.fileio import staged_folder
from m3t_bench.motion import (BODY_JOINT_NAMES, FRAME_DIM, SMPLX_JOINT_NAMES, MotionSequence, axis_angle_to_rot6d,
                              identity_rot6d, read_npz, rot6d_to_axis_angle)
from m3t_bench.motion.layout import FACE_DIM, N_BODY_SHAPE
from m3t_bench.motion.limits import AXIS_ANGLE_MAX_RAD, FACE_COEFF_ABS_MAX, MAX_FRAMES, SHAPE_ABS_MAX
from m3t_bench.motion.npz import npz_names, read_npy
from m3t_bench.safe_read import read_text

N_SMPLX_EXPRESSION = 10
#: Joint names of SOKE's 63-d body block (SMPL-X joints 1..21) and of the 133-d model input's 30-d block.
SOKE179_BODY_JOINTS = SMPLX_JOINT_NAMES[1:22]
SOKE133_BODY_JOINTS = SMPLX_JOINT_NAMES[12:22]
SOKE179 = {"root": slice(0, 3), "body": slice(3, 66), "lhand": slice(66, 111), "rhand": slice(111, 156),
           "jaw": slice(156, 159), "shape": slice(159, 169), "expr": slice(169, 179)}
SOKE133 = {"body": slice(0, 30), "lhand": slice(30, 75), "rhand": slice(75, 120), "jaw": slice(120, 123),
           "expr": slice(123, 133)}
WIDTHS = {"soke-179": 179, "soke-133": 133, "flat360": FRAME_DIM}

CARDS = {
    "soke-179": {"present": ["body", "lhand", "rhand", "face", "shape"],
                 "converted": {"body": "SMPL-X axis-angle of the 12 body-stream joints (by name) -> 6D",
                               "lhand/rhand": "SMPL-X 45-d axis-angle -> 6D (same per-hand convention)",
                               "face[0:10]": "SMPL-X expression (FLAME's first 10 components)",
                               "face jaw": "SMPL-X jaw axis-angle -> 6D",
                               "shape": "SMPL-X betas (10), mean over frames"},
                 "absent": ["face[10:100] (0)", "eyelids (0)", "root orientation (dropped)",
                            "lower body (dropped)", "FLAME head shape", "joints"]},
    "soke-133": {"present": ["body", "lhand", "rhand", "face"],
                 "converted": {"body": "SMPL-X axis-angle of neck, collars, head, shoulders, elbows, wrists -> 6D",
                               "lhand/rhand": "SMPL-X 45-d axis-angle -> 6D (same per-hand convention)",
                               "face[0:10]": "SMPL-X expression (FLAME's first 10 components)",
                               "face jaw": "SMPL-X jaw axis-angle -> 6D"},
                 "absent": ["spine2, spine3 (identity)", "face[10:100] (0)", "eyelids (0)", "shape", "joints"]},
    "flat360": {"present": ["body", "lhand", "rhand", "face"], "converted": {}, "absent": ["shape", "joints"]},
    "smplx2020-flame": {"present": ["body", "lhand", "rhand", "face", "shape"],
                        "converted": {"body": "SMPL-X 2020 axis-angle of the 12 body-stream joints (by name) -> 6D",
                                      "lhand/rhand": "SMPL-X 45-d axis-angle -> 6D (same per-hand convention)",
                                      "face[0:100]": "FLAME expressions (all 100)",
                                      "face jaw": "SMPL-X jaw axis-angle -> 6D",
                                      "shape": "SMPL-X 2020 betas[0:10] (body shape)"},
                        "absent": ["eyelids (0)", "root orientation and translation (dropped)",
                                   "eye rotations (dropped)", "betas[10:] (dropped)", "FLAME head shape", "joints"]},
}


def _aa6d(aa: np.ndarray) -> np.ndarray:
    return axis_angle_to_rot6d(torch.from_numpy(np.asarray(aa, dtype=np.float64))).numpy().astype(np.float32)


def _streams(body6: np.ndarray, lhand_aa, rhand_aa, jaw_aa, expr10) -> dict[str, np.ndarray]:
    t = body6.shape[0]
    face = np.zeros((t, FACE_DIM), dtype=np.float32)
    face[:, :N_SMPLX_EXPRESSION] = expr10
    face[:, -6:] = _aa6d(jaw_aa)
    return {"body": body6, "lhand": _aa6d(lhand_aa.reshape(t, 15, 3)), "rhand": _aa6d(rhand_aa.reshape(t, 15, 3)),
            "face": face}


def _body_from(aa_block: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    t = aa_block.shape[0]
    joints = aa_block.reshape(t, len(names), 3)
    out = identity_rot6d(t, len(BODY_JOINT_NAMES)).numpy()
    for i, name in enumerate(BODY_JOINT_NAMES):
        if name in names:
            out[:, i] = _aa6d(joints[:, names.index(name)])
    return out


def soke179_to_sequence(poses: np.ndarray) -> MotionSequence:
    """``(T, 179)`` SOKE-style SMPL-X axis-angle -> :class:`MotionSequence` (shape = mean betas ``(10,)``)."""
    p = np.asarray(poses, dtype=np.float64)
    seq = MotionSequence(**_streams(_body_from(p[:, SOKE179["body"]], SOKE179_BODY_JOINTS), p[:, SOKE179["lhand"]],
                                    p[:, SOKE179["rhand"]], p[:, SOKE179["jaw"]], p[:, SOKE179["expr"]]))
    seq.shape = p[:, SOKE179["shape"]].mean(axis=0).astype(np.float32)
    return seq


def soke133_to_sequence(poses: np.ndarray) -> MotionSequence:
    """``(T, 133)`` SOKE model input -> :class:`MotionSequence` (spine2/spine3 identity)."""
    p = np.asarray(poses, dtype=np.float64)
    return MotionSequence(**_streams(_body_from(p[:, SOKE133["body"]], SOKE133_BODY_JOINTS), p[:, SOKE133["lhand"]],
                                     p[:, SOKE133["rhand"]], p[:, SOKE133["jaw"]], p[:, SOKE133["expr"]]))


def sequence_to_soke179(seq: MotionSequence) -> np.ndarray:
    """Export to SOKE's ``(T, 179)`` layout for SMPL-X tools: root and lower body 0, expression = the first
    10 FLAME components (the rest are lost), shape = the first 10 coefficients broadcast over frames."""
    t = seq.n_frames
    out = np.zeros((t, 179), dtype=np.float32)
    aa = lambda x: rot6d_to_axis_angle(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()  # noqa: E731
    body_aa = aa(seq.body)
    block = out[:, SOKE179["body"]].reshape(t, len(SOKE179_BODY_JOINTS), 3)
    for i, name in enumerate(BODY_JOINT_NAMES):
        block[:, SOKE179_BODY_JOINTS.index(name)] = body_aa[:, i]
    out[:, SOKE179["body"]] = block.reshape(t, -1)
    out[:, SOKE179["lhand"]] = aa(seq.lhand).reshape(t, -1)
    out[:, SOKE179["rhand"]] = aa(seq.rhand).reshape(t, -1)
    out[:, SOKE179["jaw"]] = aa(seq.face[:, -6:])
    out[:, SOKE179["expr"]] = seq.face[:, :N_SMPLX_EXPRESSION]
    out[:, SOKE179["shape"]] = seq.full_shape()[:N_BODY_SHAPE]
    return out


CONVERTERS = {"soke-179": soke179_to_sequence, "soke-133": soke133_to_sequence,
              "flat360": lambda a: MotionSequence.from_features(a)}

# ---- smplx2020-flame: a dict of named arrays per sample ------------------------------------------------
N_SMPLX2020_POSE = 3 * len(SMPLX_JOINT_NAMES)


def _named_block(poses: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """``(T, len(names), 3)`` axis-angles of the named SMPL-X joints from ``(T, 165)`` model-order poses."""
    idx = [SMPLX_JOINT_NAMES.index(n) for n in names]
    return poses.reshape(poses.shape[0], len(SMPLX_JOINT_NAMES), 3)[:, idx]


def smplx2020_flame_to_sequence(arrays: dict, *, file=None) -> MotionSequence:
    """BEAT2/EMAGE-style SMPL-X 2020 + FLAME arrays (see the module docstring) -> :class:`MotionSequence`;
    ``meta`` holds ``root_axis_angle (T, 3)`` and ``fps`` when given. UserError names the file and field."""
    from m3t_bench.motion.layout import BODY_JOINT_NAMES, HAND_JOINT_NAMES, N_EXPRESSION
    poses = _float_array(arrays, "poses", file)
    if poses.ndim != 2 or poses.shape[1] != N_SMPLX2020_POSE or poses.shape[0] == 0:
        raise UserError(f"shape {poses.shape}, expected (T, {N_SMPLX2020_POSE}) with T >= 1 (55 joints x "
                        f"axis-angle)", file=file, field="poses")
    t = poses.shape[0]
    expr = _float_array(arrays, "expressions", file) if "expressions" in arrays else np.zeros((t, N_EXPRESSION))
    if expr.shape != (t, N_EXPRESSION):
        raise UserError(f"shape {expr.shape}, expected ({t}, {N_EXPRESSION}) FLAME coefficients", file=file,
                        field="expressions")
    face = np.zeros((t, FACE_DIM), dtype=np.float32)
    face[:, :N_EXPRESSION] = expr
    face[:, -6:] = _aa6d(_named_block(poses, ("jaw",))[:, 0])
    seq = MotionSequence(body=_aa6d(_named_block(poses, BODY_JOINT_NAMES)),
                         lhand=_aa6d(_named_block(poses, HAND_JOINT_NAMES["left"])),
                         rhand=_aa6d(_named_block(poses, HAND_JOINT_NAMES["right"])), face=face)
    if "betas" in arrays:
        betas = _float_array(arrays, "betas", file).reshape(-1)
        if betas.size < N_BODY_SHAPE:
            raise UserError(f"{betas.size} coefficients, expected at least {N_BODY_SHAPE}", file=file, field="betas")
        seq.shape = betas[:N_BODY_SHAPE].astype(np.float32)
    seq.meta = {"root_axis_angle": _named_block(poses, ("pelvis",))[:, 0].astype(np.float32)}
    if "mocap_frame_rate" in arrays:
        seq.meta["fps"] = float(_float_array(arrays, "mocap_frame_rate", file))
    return seq


def _float_array(arrays: dict, key: str, file) -> np.ndarray:
    value = np.asarray(arrays[key]) if key in arrays else None
    if value is None:
        raise UserError("missing array", file=file, field=key)
    if not np.issubdtype(value.dtype, np.number):
        raise UserError(f"dtype {value.dtype}, expected numbers", file=file, field=key)
    if not np.isfinite(value).all():
        raise UserError("holds NaN/Inf values", file=file, field=key)
    return value.astype(np.float64)


def _convert_file(path: Path, source: str) -> MotionSequence:
    """One input file of ``source`` format as an SMPL-FX sequence (range-checked; not yet validated)."""
    if source == "smplx2020-flame":
        if path.suffix != ".npz":
            raise UserError("expected an .npz with poses, expressions, betas (smplx2020-flame)", file=path)
        seq = smplx2020_flame_to_sequence(read_npz(path), file=path)
        seq.meta = {}
        return seq
    arr = _read_array(path, source)
    problem = input_problem(arr, source)
    if problem:
        raise UserError(problem, file=path)
    return CONVERTERS[source](arr)


#: Axis-angle blocks (3 values per joint) and coefficient blocks of each source format, for range checks.
AXIS_ANGLE_BLOCKS = {"soke-179": ("root", "body", "lhand", "rhand", "jaw"), "soke-133": ("body", "lhand", "rhand", "jaw")}
LAYOUTS = {"soke-179": SOKE179, "soke-133": SOKE133}
TEXTS_MAX_BYTES = 256 << 20


def _array_header_check(source: str):
    width = WIDTHS[source]

    def check(name: str, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        if len(shape) != 2 or shape[1] != width or not 1 <= shape[0] <= MAX_FRAMES or dtype.kind != "f" \
                or dtype.itemsize > 8:
            return (f"array {dtype} {shape}, expected float (T, {width}) with 1 <= T <= {MAX_FRAMES} for {source}")
        return None
    return check


def _read_array(path: Path, source: str) -> np.ndarray:
    """The one array of an input file, its header checked (2-D, the format's width) before reading data."""
    check = _array_header_check(source)
    if path.suffix == ".npy":
        return read_npy(path, check=check)
    keys = npz_names(path)
    if "poses" in keys:
        key = "poses"
    elif len(keys) == 1:
        key = keys[0]
    else:
        raise UserError(f"holds {sorted(keys)}; expected one array or one named 'poses'", file=path)
    return read_npz(path, expected=(key,), check=check)[key]


def input_problem(arr: np.ndarray, source: str) -> str | None:
    """The first out-of-contract value of a source array (finite; axis-angle rotation angles at most
    ``AXIS_ANGLE_MAX_RAD``; expression and shape coefficients within their bounds), or None."""
    if not np.isfinite(arr).all():
        return "holds NaN/Inf values; expected finite numbers"
    if source not in LAYOUTS:
        return None
    layout = LAYOUTS[source]
    for block in AXIS_ANGLE_BLOCKS[source]:
        angles = np.linalg.norm(np.asarray(arr[:, layout[block]], np.float64).reshape(arr.shape[0], -1, 3), axis=-1)
        if (angles > AXIS_ANGLE_MAX_RAD).any():
            return (f"{block}: rotation angle {float(angles.max()):.4g} rad; expected axis-angle rotations of at "
                    f"most {AXIS_ANGLE_MAX_RAD:.4g} rad (4π)")
    for block, bound in (("expr", FACE_COEFF_ABS_MAX), ("shape", SHAPE_ABS_MAX)):
        if block in layout and (np.abs(arr[:, layout[block]]) > bound).any():
            return (f"{block}: |coefficient| up to {float(np.abs(arr[:, layout[block]]).max()):.4g}; expected "
                    f"at most {bound:g}")
    return None


def _read_texts(path: Path | None) -> dict[str, dict]:
    """``{id: {"text", "gloss", "signer"}}`` from a UTF-8 TSV/CSV with a header naming an id column (``id``,
    ``name`` or ``SENTENCE_NAME``) and a text column (``text``, ``SENTENCE`` or ``translation``); every row
    must have the header's number of cells and a non-empty id, and ids are unique."""
    if path is None:
        return {}
    path = Path(path)
    text = read_text(path, max_bytes=TEXTS_MAX_BYTES, what="UTF-8 TSV/CSV text table")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise UserError("empty; expected a header line with an id column (id/name) and a text column (text)",
                        file=path, field="line 1")
    delimiter = "," if path.suffix == ".csv" and "\t" not in lines[0] else "\t"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: dict[str, dict] = {}
    try:
        header = next(reader)
        key = next((k for k in ("id", "name", "SENTENCE_NAME") if k in header), None)
        text_key = next((k for k in ("text", "SENTENCE", "translation") if k in header), None)
        if key is None or text_key is None:
            raise UserError("expected a header with an id column (id/name) and a text column (text)", file=path,
                            field="line 1")
        for cells in reader:
            where = f"line {reader.line_num}"
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise UserError(f"{len(cells)} cell(s), expected {len(header)} like the header", file=path, field=where)
            row = dict(zip(header, cells))
            sample_id = row[key].removesuffix(".mp4").split("/")[-1]
            if not sample_id:
                raise UserError(f"empty {key}; expected a sample id", file=path, field=where)
            if sample_id in out:
                raise UserError(f"id {sample_id!r} appears twice; expected once", file=path, field=where)
            out[sample_id] = {"text": row[text_key], "gloss": row.get("gloss") or "",
                              "signer": row.get("signer") or "unknown"}
    except csv.Error as exc:
        raise UserError(f"not a readable table ({exc})", file=path, field=f"line {reader.line_num}") from None
    return out


def output_spec(name: str, split: str, language: str | None, fps: float | None) -> DatasetSpec:
    """The spec of a dataset being written: the registered one for a registered ``name``, else a new
    version-1 spec with this ``split`` (``language`` and ``fps`` required then; every name checked, so no
    path escapes the output folder)."""
    if is_registered(name):
        return get_spec(name)
    base = check_name(name.split("@")[0], "dataset name")
    if language is None or fps is None:
        raise UserError(f"{name!r} is not a registered dataset; pass --language and --fps", field="name")
    return DatasetSpec(base, 1, check_name(language, "language"), check_fps(fps), (check_name(split, "split"),),
                       "jieba" if language == "zh" else "13a")


def convert_folder(input_dir, out_root, *, source: str, name: str, split: str, texts=None,
                   language: str | None = None, fps: float | None = None) -> Path:
    """Convert every ``<id>.npy``/``<id>.npz`` in ``input_dir`` and write ``out_root/<name>/<split>/``.

    A registered ``name`` supplies language and fps; otherwise pass both (names: see
    :func:`~m3t_bench.datasets.specs.check_name`). Ids missing from ``texts`` get empty text. Every input is
    range-checked and every converted sample validated against the data contract; every problem is a
    UserError naming the file. All or nothing: the split is written into a temporary folder and moved into
    place only when every sample converted, so a failed run leaves an existing split exactly as it was.
    """
    if source not in CONVERTERS and source != "smplx2020-flame":
        raise UserError(f"unknown source format {source!r}; expected {', '.join([*CONVERTERS, 'smplx2020-flame'])}",
                        field="from")
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise UserError("input folder not found", file=input_dir)
    spec = output_spec(name, split, language, fps)
    split = spec.canonical_split(split)
    files = sorted(p for p in input_dir.iterdir() if p.suffix in (".npy", ".npz"))
    if not files:
        raise UserError("no .npy or .npz arrays found", file=input_dir)
    for path in files:
        try:
            check_sample_id(path.stem)
        except UserError as exc:
            raise UserError(exc.detail, file=path, field="id (file name)") from None
    table = _read_texts(texts)
    with staged_folder(Path(out_root) / spec.name / split, replace=True) as tmp:
        writer = SplitWriter(tmp, spec, split, card={**CARDS[source], "source_format": source})
        for path in files:
            seq = _convert_file(path, source)
            problems = seq.problems()
            if problems:
                raise UserError(f"converts into an invalid sample: {problems[0]}"
                                + (f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""),
                                file=path)
            row = table.get(path.stem, {"text": "", "gloss": "", "signer": "unknown"})
            writer.add(path.stem, seq, **row)
        writer.close()
    return Path(out_root) / spec.name / split
