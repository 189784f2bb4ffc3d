"""The keypoint fitting: layouts and face maps (as data), readers, camera, losses, tracker initialisations,
and the synthetic round trip per keypoint layout (known SynthSign motion -> camera -> noisy, 20%-dropped
keypoints -> fit from a perturbed start -> recovered joints and face)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from m3t_bench.errors import UserError
from m3t_bench.fitting.camera import FACING_CAMERA, default_intrinsics, initial_translation, project, to_camera
from m3t_bench.fitting.face_maps import load_face_map, read_face_map_json, read_flame_mediapipe_embedding
from m3t_bench.fitting.init_params import read_init, rest_sequence
from m3t_bench.fitting.layouts import LAYOUT_NAMES, get_layout, resolve_layout
from m3t_bench.fitting.losses import acceleration_term, geman_mcclure, part_means
from m3t_bench.fitting.optimise import FitConfig, fit_clip
from m3t_bench.fitting.readers import discover_clips, read_clip
from m3t_bench.fitting.synthetic import corrupt, perturb_init, recovery_errors, render_keypoints
from m3t_bench.motion import SMPLX_JOINT_NAMES, MotionSequence, write_npz

#: Clip length and Adam iterations of the round trips (CI-sized; the note's table uses the defaults).
FRAMES, ITERATIONS = 30, 200


@pytest.fixture(scope="module")
def face_map(smplfx):
    return load_face_map(None, smplfx)


@pytest.fixture(scope="module")
def truth(synth_tiny) -> MotionSequence:
    """FRAMES frames of a SynthSign sentence (signing, not the rest pose at the start)."""
    from m3t_bench.datasets import open_split
    split = open_split(synth_tiny / "synthsign-dgs", "test")
    seq = max((split.load(i) for i in split.ids), key=lambda s: s.n_frames)
    start = 12
    return MotionSequence(body=seq.body[start:start + FRAMES], lhand=seq.lhand[start:start + FRAMES],
                          rhand=seq.rhand[start:start + FRAMES], face=seq.face[start:start + FRAMES], shape=seq.shape)


# ---- layouts and face maps ------------------------------------------------------------------------------
def test_layout_sizes_and_orders_follow_the_published_lists():
    sizes = {name: len(get_layout(name)) for name in LAYOUT_NAMES}
    assert sizes == {"mediapipe-holistic": 553, "openpose": 137, "openpose-135": 135, "coco-wholebody": 133, "pt50": 50}
    mp = get_layout("mediapipe")
    assert [(k.name, k.target) for k in mp.keypoints[15:17]] == [("LEFT_WRIST", (("left_wrist", 1.0),)),
                                                                  ("RIGHT_WRIST", (("right_wrist", 1.0),))]
    hand = [k for k in mp.keypoints if k.component == "LEFT_HAND_LANDMARKS"]
    assert (hand[4].name, hand[4].target) == ("THUMB_TIP", (("left_thumb", 1.0),))     # smplx tip vertex
    assert (hand[8].name, hand[8].target) == ("INDEX_FINGER_TIP", (("left_index", 1.0),))
    assert get_layout("openpose").keypoints[4].target == (("right_wrist", 1.0),)        # BODY_25: 4 = RWrist
    assert get_layout("coco-wholebody").keypoints[9].target == (("left_wrist", 1.0),)   # COCO: 9 = left wrist
    pt = get_layout("pt50").keypoints
    assert pt[7].target == pt[8].target == (("left_wrist", 1.0),) and pt[29].target == (("right_wrist", 1.0),)
    with pytest.raises(UserError, match="did you mean"):
        get_layout("openpos")


def test_layout_point_names_match_pose_format_headers():
    """pose-format's own point lists (an independent source) in our order."""
    from pose_format.utils import cocowholebody133_header as coco, openpose, openpose_135
    names = lambda layout, comp: [k.name for k in get_layout(layout).keypoints if k.component == comp]  # noqa: E731
    assert names("openpose", "pose_keypoints_2d") == openpose.BODY_POINTS
    assert names("openpose", "face_keypoints_2d") == openpose.FACE_POINTS
    assert names("openpose", "hand_left_keypoints_2d") == openpose.HAND_POINTS
    assert names("openpose-135", "BODY_135") == openpose_135.BODY_135_POINTS
    assert names("coco-wholebody", "BODY") == coco.BODY_POINTS and names("coco-wholebody", "FACE") == coco.FACE_POINTS
    assert names("coco-wholebody", "RIGHT_HAND") == coco.HAND_POINTS


def test_every_target_resolves_and_no_face_drops_the_face(smplfx, face_map):
    for name in LAYOUT_NAMES:
        full, bare = resolve_layout(get_layout(name), face_map), resolve_layout(get_layout(name), None)
        points = smplfx.named_points(full.point_names, body=rest_sequence(1).body, lhand=rest_sequence(1).lhand,
                                     rhand=rest_sequence(1).rhand, face=rest_sequence(1).face)
        assert torch.isfinite(points).all() and np.allclose(full.weights.sum(1)[full.mapped], 1.0)
        assert not bare.part_mask("face").any() and bare.mapped.sum() < full.mapped.sum() or name == "pt50"
    mp = resolve_layout(get_layout("mediapipe"), face_map)
    assert mp.part_mask("face").sum() == 470        # 468 mesh points + 2 iris centres; iris rings unmapped
    assert mp.part_mask("body").sum() == 25         # 33 minus legs, heels, feet


def test_standin_face_map_places_landmarks_on_the_right_features(smplfx, face_map):
    """Geometric sanity of the shipped map against the stand-in's design (eyes at y 0.668, x ±0.032; mouth
    at y 0.593): eye contours around the right eye centre, lips at mouth height, chin below the mouth."""
    from m3t_bench.body import standin_mesh as sm
    from m3t_bench.fitting.standin_face_map import LEFT_EYE_CONTOUR, RIGHT_EYE_CONTOUR
    head = smplfx.template[smplfx.flame_ids].numpy()
    pos = lambda i: head[int(face_map["points"][str(i)][0][0].split(":")[1])]  # noqa: E731
    for contour, side in ((LEFT_EYE_CONTOUR, 1), (RIGHT_EYE_CONTOUR, -1)):
        centre = np.array([side * sm.EYE_OFFSET_X, sm.EYE_Y])
        assert all(np.linalg.norm(pos(i)[:2] - centre) < 0.02 for i in contour)
    lips = (61, 291, 0, 17, 13, 14, 78, 308)
    assert all(abs(pos(i)[1] - sm.MOUTH_Y) < 0.015 for i in lips)
    assert pos(152)[1] < min(pos(i)[1] for i in lips) and pos(10)[1] > sm.EYE_Y     # chin below, forehead above
    assert pos(61)[0] < 0 < pos(291)[0]                                            # right corner on -x


def test_face_map_is_refused_for_another_body_model_and_read_from_flame_embedding(smplfx, tmp_path):
    class Other:
        model_id = "smplfx-0123456789ab"
    with pytest.raises(UserError, match="--face-map"):
        load_face_map(None, Other())
    faces = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    write_npz(tmp_path / "emb.npz", {"lmk_face_idx": np.array([2, 0]), "lmk_b_coords": np.array([[0.2, 0.3, 0.5],
                                                                                              [1.0, 0.0, 0.0]]),
                                     "landmark_indices": np.array([61, 291])})
    data = read_flame_mediapipe_embedding(tmp_path / "emb.npz", faces)
    assert data["points"]["61"] == [("flame:6", 0.2), ("flame:7", 0.3), ("flame:8", 0.5)]
    assert load_face_map(tmp_path / "emb.npz", Other(), flame_faces=faces)["points"]["291"][0] == ("flame:0", 1.0)
    (tmp_path / "bad.json").write_text(json.dumps({"body_model_id": "*", "points": {"1": [["nose_tip", 1.0]]}}))
    with pytest.raises(UserError, match="bad.json: points"):
        read_face_map_json(tmp_path / "bad.json")


def test_face_points_with_one_shared_shape_over_many_frames(smplfx):
    """Regression: the evaluation path splits long inputs into cache-sized frame chunks; a single ``(310,)``
    shape used to be sliced with the frames (empty after the first chunk)."""
    seq = rest_sequence(150)
    shape = np.linspace(-1, 1, 310).astype(np.float32)
    kw = dict(body=torch.as_tensor(seq.body), lhand=torch.as_tensor(seq.lhand), rhand=torch.as_tensor(seq.rhand),
              face=torch.as_tensor(seq.face))
    shared = smplfx.evaluation_points("face", **kw, shape=torch.as_tensor(shape))
    per_frame = smplfx.evaluation_points("face", **kw, shape=torch.as_tensor(np.tile(shape, (150, 1))))
    torch.testing.assert_close(shared, per_frame)


# ---- camera, losses ---------------------------------------------------------------------------------------
def test_initial_translation_inverts_the_projection():
    rng = np.random.default_rng(0)
    intr = default_intrinsics(1280, 720)
    points = rng.uniform(-0.4, 0.6, (30, 3)).astype(np.float32)
    true_t = np.array([0.05, 0.3, 2.4], np.float32)
    px = project(to_camera(torch.as_tensor(points), torch.as_tensor(FACING_CAMERA), torch.as_tensor(true_t)),
                 intr.focal, intr.cx, intr.cy).numpy()
    assert intr.focal == pytest.approx(np.hypot(1280, 720))
    np.testing.assert_allclose(initial_translation(points, px, np.ones(30), FACING_CAMERA, intr), true_t, atol=1e-4)


def test_loss_terms_hand_computed():
    sq = torch.tensor([0.0, 1.0, 1e8])
    np.testing.assert_allclose(geman_mcclure(sq, 2.0).numpy(), [0.0, 4 / 5, 4.0], rtol=1e-6)
    values, weights = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[1.0, 3.0, 0.0]])
    means, mass = part_means(values, weights, torch.tensor([0, 0, 1]), 3)
    np.testing.assert_allclose(means.numpy(), [7 / 4, 0.0, 0.0]) and np.testing.assert_allclose(mass.numpy(), [4, 0, 0])
    t = torch.arange(6.0)[:, None, None]
    assert acceleration_term(t * torch.tensor([0.1, 0.2, 0.3])) == pytest.approx(0.0, abs=1e-6)   # constant velocity
    assert acceleration_term(t ** 2 * torch.tensor([0.001, 0.0, 0.0])) == pytest.approx(4.0)      # (2 mm)^2


# ---- readers and tracker initialisations -----------------------------------------------------------------
def _pose_file(path, layout_components: dict, frames: int = 5, fps: float = 25.0, mask_point=None):
    """A pose-format file with the given components ``{name: [point names]}``; coordinates = point index."""
    from pose_format import Pose
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions
    comps = [PoseHeaderComponent(name=n, points=p, limbs=[], colors=[(0, 0, 0)], point_format="XYC")
             for n, p in layout_components.items()]
    total = sum(len(p) for p in layout_components.values())
    data = np.broadcast_to(np.arange(total, dtype=np.float32)[None, None, :, None], (frames, 1, total, 2)).copy()
    conf = np.ones((frames, 1, total), np.float32)
    masked = np.ma.masked_array(data, mask=np.zeros_like(data, bool))
    if mask_point is not None:         # pose-format stores a missed point as confidence 0 (read back masked)
        masked.mask[:, :, mask_point] = True
        conf[:, :, mask_point] = 0.0
    pose = Pose(PoseHeader(0.1, PoseHeaderDimensions(640, 480, 1), comps), NumPyPoseBody(fps, masked, conf))
    with open(path, "wb") as fh:
        pose.write(fh)


def test_pose_file_points_are_matched_by_name(tmp_path):
    _pose_file(tmp_path / "clip.pose", {"POSE_LANDMARKS": ["LEFT_WRIST", "NOSE"], "FACE_LANDMARKS": ["13", "0"],
                                        "OTHER": ["X"]}, mask_point=3)
    layout = get_layout("mediapipe")
    clip = read_clip(discover_clips(tmp_path)[0], layout)
    index = layout.index()
    assert clip.image_size == (640, 480) and clip.fps == 25.0 and clip.xy.shape == (5, 553, 2)
    assert clip.xy[0, index[("POSE_LANDMARKS", "LEFT_WRIST")], 0] == 0.0
    assert clip.xy[0, index[("POSE_LANDMARKS", "NOSE")], 0] == 1.0
    assert clip.xy[0, index[("FACE_LANDMARKS", "13")], 0] == 2.0
    assert clip.confidence[0, index[("FACE_LANDMARKS", "0")]] == 0.0       # masked point -> missing
    assert clip.confidence.sum() == 5 * 3
    with pytest.raises(UserError, match="check --format"):
        read_clip(discover_clips(tmp_path)[0], get_layout("coco-wholebody"))


def test_openpose_json_folder(tmp_path):
    folder = tmp_path / "kp" / "clip7"
    folder.mkdir(parents=True)
    person = lambda c: {"pose_keypoints_2d": [10.0, 20.0, c] * 25, "face_keypoints_2d": [1.0, 2.0, 0.5] * 70,  # noqa: E731
                        "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [3.0, 4.0, 0.9] * 21}
    (folder / "v_000000000000_keypoints.json").write_text(json.dumps({"people": [person(0.2), person(0.8)]}))
    (folder / "v_000000000002_keypoints.json").write_text(json.dumps({"people": [person(0.7)]}))
    (folder / "v_000000000001_keypoints.json").write_text(json.dumps({"people": []}))
    layout = get_layout("openpose")
    source = discover_clips(tmp_path / "kp")[0]
    assert (source.clip_id, source.kind) == ("clip7", "openpose-json")
    with pytest.raises(UserError, match="image-size"):
        read_clip(source, layout)
    clip = read_clip(source, layout, image_size=(1920, 1080), fps=30)
    assert clip.n_frames == 3 and clip.confidence[0, 0] == pytest.approx(0.8)   # the more confident person
    assert not clip.confidence[1].any() and clip.confidence[2, 0] == pytest.approx(0.7)
    assert clip.confidence[0, 95 + 21:].min() == pytest.approx(0.9) and not clip.confidence[0, 95:116].any()
    (folder / "v_000000000003_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 30}]}))
    with pytest.raises(UserError, match="v_000000000003_keypoints.json: pose_keypoints_2d: 10 keypoints"):
        read_clip(source, layout, image_size=(1920, 1080))


def test_array_files_and_folder_problems(tmp_path):
    layout = get_layout("mediapipe")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.uniform(0, 100, (4, 543, 3)).astype(np.float32))      # Holistic without iris
    write_npz(tmp_path / "b.npz", {"keypoints": rng.uniform(0, 100, (6, 553, 2)).astype(np.float32),
                                   "image_size": np.array([320, 240]), "fps": np.array(50.0)})
    a, b = (read_clip(s, layout, image_size=(100, 100)) for s in discover_clips(tmp_path))
    iris = layout.index()[("FACE_LANDMARKS", "470")]
    assert a.xy.shape == (4, 553, 2) and not a.confidence[:, iris].any() and a.confidence[:, 0].all()
    assert b.image_size == (320, 240) and b.fps == 50.0 and b.confidence.min() == 1.0
    np.save(tmp_path / "c.npy", np.zeros((4, 100, 3), np.float32))
    with pytest.raises(UserError, match="100 keypoints per frame, expected 543 or 553"):
        read_clip(discover_clips(tmp_path)[2], layout, image_size=(100, 100))
    np.save(tmp_path / "b.npy", np.zeros((4, 553, 3), np.float32))
    with pytest.raises(UserError, match="two inputs for clip 'b'"):
        discover_clips(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no keypoint files"):
        discover_clips(tmp_path / "empty")


def test_tracker_initialisations_in_three_layouts_agree(tmp_path):
    rng = np.random.default_rng(1)
    t = 4
    poses = rng.uniform(-0.5, 0.5, (t, 165)).astype(np.float32)
    expr = rng.normal(0, 1, (t, 100)).astype(np.float32)
    write_npz(tmp_path / "x2020.npz", {"poses": poses, "expressions": expr, "betas": np.ones(300, np.float32)})
    aa = poses.reshape(t, 55, 3)
    write_npz(tmp_path / "parts.npz", {"global_orient": aa[:, 0], "body_pose": aa[:, 1:22].reshape(t, 63),
                                       "left_hand_pose": aa[:, 25:40].reshape(t, 45),
                                       "right_hand_pose": aa[:, 40:55].reshape(t, 45), "jaw_pose": aa[:, 22],
                                       "expression": expr, "betas": np.ones(10, np.float32)})
    a, b = read_init(tmp_path / "x2020.npz", t), read_init(tmp_path / "parts.npz", t)
    for stream in ("body", "lhand", "rhand", "face"):
        np.testing.assert_allclose(getattr(a.sequence, stream), getattr(b.sequence, stream), atol=1e-6)
    np.testing.assert_allclose(a.root_rotation, b.root_rotation, atol=1e-6)
    write_npz(tmp_path / "fx.npz", a.sequence.to_arrays())
    np.testing.assert_array_equal(read_init(tmp_path / "fx.npz", t).sequence.face, a.sequence.face)
    with pytest.raises(UserError, match="4 frames, the keypoints have 5"):
        read_init(tmp_path / "x2020.npz", 5)
    assert SMPLX_JOINT_NAMES[22] == "jaw" and SMPLX_JOINT_NAMES[25] == "left_index1"


# ---- synthetic round trips -------------------------------------------------------------------------------
#: Stated tolerances of the CI round trip (30 frames, 1 px noise, 20% dropped, start perturbed by 10° body /
#: 15° hands / 0.5 expression): mean joint error (model space, depth ambiguity of monocular 2D included),
#: Procrustes-aligned joint error, wrist-aligned finger error; pt50 is fitted from 3D keypoints.
TOLERANCE_MM = {"joints_mm": 45.0, "joints_pa_mm": 15.0, "hands_wrist_aligned_mm": 12.0}
#: pt50 has no point below the shoulders: its 3D keypoints fix the upper body only up to the per-clip
#: similarity, so the absolute error keeps a global rotation (the aligned errors are the ones that matter).
TOLERANCE_MM_PT50 = {"joints_mm": 90.0, "joints_pa_mm": 15.0, "hands_wrist_aligned_mm": 20.0}


@pytest.mark.parametrize("layout", LAYOUT_NAMES)
def test_round_trip_recovers_joints_and_face(layout, smplfx, face_map, truth):
    rng = np.random.default_rng(0)
    resolved = resolve_layout(get_layout(layout), face_map)
    clip, _ = render_keypoints(smplfx, resolved, truth, with_3d=layout == "pt50")
    if layout == "pt50":                      # the Progressive Transformers skeletons are 3D
        clip.confidence[:] = 0.0
    noisy = corrupt(clip, rng, noise_px=1.0, drop=0.2, noise_3d=0.005)
    start = perturb_init(truth, rng)
    result = fit_clip(smplfx, resolved, noisy, FitConfig(iterations=ITERATIONS), init=start)
    assert result.converged, result.reason
    before, after = recovery_errors(smplfx, truth, start.sequence), recovery_errors(smplfx, truth, result.sequence)
    for key, tol in (TOLERANCE_MM_PT50 if layout == "pt50" else TOLERANCE_MM).items():
        assert after[key] < tol and after[key] < before[key], (key, before[key], after[key])
    if layout != "pt50":
        assert result.metrics["reprojection_px"] < 2.5 < result.metrics["reprojection_px_init"]
        assert after["face_mm"] < before["face_mm"] and after["expression_abs"] < before["expression_abs"]
        assert result.sequence.face[:, 100:102].std() > 0        # eyelids move (driven by the eye landmarks)


def test_missing_hands_and_face_frames_are_bridged(smplfx, face_map, truth):
    resolved = resolve_layout(get_layout("mediapipe"), face_map)
    clip, _ = render_keypoints(smplfx, resolved, truth)
    rng = np.random.default_rng(3)
    noisy = corrupt(clip, rng, noise_px=1.0, drop=0.0)
    noisy.confidence[8:16, resolved.part_mask("lhand")] = 0.0     # the left hand is not detected for 8 frames
    noisy.confidence[12:20, resolved.part_mask("face")] = 0.0     # nor the face for 8 frames
    noisy.confidence[25] = 0.0                                    # nobody in one frame
    start = perturb_init(truth, rng)
    result = fit_clip(smplfx, resolved, noisy, FitConfig(iterations=ITERATIONS), init=start)
    assert result.converged and all(np.isfinite(a).all() for a in result.sequence.to_arrays().values())
    gap = lambda s: MotionSequence(**{k: getattr(s, k)[8:16] for k in ("body", "lhand", "rhand", "face")},  # noqa: E731
                                   shape=s.shape)
    before, after = recovery_errors(smplfx, gap(truth), gap(start.sequence)), recovery_errors(smplfx, gap(truth), gap(result.sequence))
    assert after["hands_wrist_aligned_mm"] < before["hands_wrist_aligned_mm"]
    assert result.metrics["joint_acceleration_mm"] < 2.0 * recovery_acceleration(smplfx, truth)


def recovery_acceleration(model, seq: MotionSequence) -> float:
    from m3t_bench.fitting.quality import acceleration_mm
    with torch.no_grad():
        joints = model.joints(body=torch.as_tensor(seq.body), lhand=torch.as_tensor(seq.lhand),
                              rhand=torch.as_tensor(seq.rhand), face=torch.as_tensor(seq.face),
                              shape=torch.as_tensor(seq.full_shape()))
    return acceleration_mm(joints)


def test_fit_is_deterministic_and_the_synthetic_data_follow_the_seed(smplfx, face_map, truth):
    resolved = resolve_layout(get_layout("coco-wholebody"), face_map)
    clip, _ = render_keypoints(smplfx, resolved, truth)
    a, b, c = (corrupt(clip, np.random.default_rng(s), noise_px=1.0) for s in (5, 5, 6))
    assert np.array_equal(a.xy, b.xy) and not np.array_equal(a.xy, c.xy)
    config = FitConfig(camera_iterations=10, iterations=20)
    r1, r2 = (fit_clip(smplfx, resolved, a, config, init=perturb_init(truth, np.random.default_rng(1))) for _ in range(2))
    for key, value in r1.sequence.to_arrays().items():
        np.testing.assert_array_equal(value, r2.sequence.to_arrays()[key])
    assert r1.losses == r2.losses


def test_garbage_keypoints_do_not_converge(smplfx, face_map):
    resolved = resolve_layout(get_layout("openpose"), face_map)
    rng = np.random.default_rng(0)
    from m3t_bench.fitting.keypoints import KeypointClip
    clip = KeypointClip("noise", resolved.layout, rng.uniform(0, 1000, (12, 137, 2)).astype(np.float32),
                        np.ones((12, 137), np.float32), (1000, 1000), 25.0).checked()
    result = fit_clip(smplfx, resolved, clip, FitConfig(camera_iterations=10, iterations=30))
    assert not result.converged and "above max_error" in result.reason
    empty = KeypointClip("empty", resolved.layout, np.zeros((3, 137, 2), np.float32), np.zeros((3, 137), np.float32),
                         (100, 100), 25.0).checked()
    assert fit_clip(smplfx, resolved, empty).reason == "no confident mapped keypoints"
    too_long = fit_clip(smplfx, resolved, clip, FitConfig(max_frames=10))
    assert not too_long.converged and "max_frames=10" in too_long.reason
