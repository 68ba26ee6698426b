import numpy as np
import pytest

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError
from gnesf_ros.eval.baselines import (BayesFusion, MajorityVote, backproject_depth, bayes_fusion, keys_to_voxels,
                                      majority_vote, probs_to_labels, voxel_keys)
from gnesf_ros.frame import Frame
from gnesf_ros.geometry.splat import splat_labels

# 1x2 images, f = 1, principal point at pixel 0: pixel (0, 0) at depth 1 -> (0, 0, 1), pixel (0, 1) -> (1, 0, 1)
K1 = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1]])


def _frame(probs_rows, depth=(1.0, 1.0)):
    probs = np.asarray(probs_rows, dtype=np.float32).reshape(1, 2, -1)
    return Frame(rgb=np.zeros((1, 2, 3), np.uint8), K=K1, T_map_cam=np.eye(4), probs=probs,
                 depth_m=np.asarray(depth, np.float32).reshape(1, 2))


def _two_frames():
    # pixel 0 sees the same voxel twice with known semantics; pixel 1 is unknown in both frames
    return [_frame([[0.6, 0.4, 0.0], [0, 0, 0]]), _frame([[0.3, 0.7, 0.0], [0, 0, 0]])]


def test_voxel_keys_roundtrip():
    ijk = np.array([[0, 0, 0], [-5, 7, 123456], [-(2 ** 20), 2 ** 20 - 1, -1]])
    np.testing.assert_array_equal(keys_to_voxels(voxel_keys(ijk)), ijk)
    with pytest.raises(InputError, match="key range"):
        voxel_keys(np.array([[2 ** 20, 0, 0]]))


def test_backproject_depth_skips_invalid_and_strides():
    depth = np.array([[1.0, 0.0, np.nan], [2.0, np.inf, 5.0]], np.float32)
    pts, rows, cols = backproject_depth(depth, K1, np.eye(4), max_depth_m=4.0)
    np.testing.assert_array_equal(rows, [0, 1])
    np.testing.assert_array_equal(cols, [0, 0])
    np.testing.assert_allclose(pts, [[0, 0, 1], [0, 2, 2]])
    T = np.eye(4)
    T[:3, 3] = [1, 2, 3]
    pts, rows, cols = backproject_depth(depth, K1, T, pixel_stride=2)  # row 0, cols 0 and 2 (NaN)
    np.testing.assert_array_equal(cols, [0])
    np.testing.assert_allclose(pts, [[1, 2, 4]])


def test_bayes_fusion_sums_log_probabilities():
    fusion = bayes_fusion(_two_frames(), 3, voxel_size_m=0.04, eps=1e-3)
    keys, scores, votes = fusion.voxel_scores()
    assert keys.shape == (2,)
    ijk = keys_to_voxels(keys)
    known = np.nonzero(ijk[:, 0] == 0)[0][0]
    expected = [np.log(0.6) + np.log(0.3), np.log(0.4) + np.log(0.7), 2 * np.log(1e-3)]
    np.testing.assert_allclose(scores[known], expected, rtol=1e-6)
    np.testing.assert_array_equal(scores[1 - known], [0, 0, 0])  # unknown rows add nothing
    np.testing.assert_array_equal(votes[[known, 1 - known]], [2, 0])
    pts = fusion.points()
    order = np.argsort(pts.xyz[:, 0])
    np.testing.assert_allclose(pts.xyz[order], [[0, 0, 1], [1, 0, 1]], atol=1e-6)
    np.testing.assert_array_equal(pts.label[order], [1, IGNORE_ID])  # 0.28 > 0.18: class 1
    np.testing.assert_allclose(pts.confidence[order][0], 0.28 / (0.28 + 0.18 + 1e-6), rtol=1e-5)
    assert fusion.points(include_unknown=False).label.tolist() == [1]


def test_majority_vote_counts_argmax_labels():
    frames = _two_frames() + [_frame([[0.1, 0.2, 0.7], [0, 0, 0]])]
    fusion = majority_vote(frames[:2], 3)
    keys, scores, votes = fusion.voxel_scores()
    known = np.nonzero(keys_to_voxels(keys)[:, 0] == 0)[0][0]
    np.testing.assert_array_equal(scores[known], [1, 1, 0])
    assert fusion.points(include_unknown=False).label.tolist() == [0]  # tie -> lowest id
    fusion.integrate(frames[2])
    fusion.integrate(frames[1])
    keys, scores, _ = fusion.voxel_scores()
    np.testing.assert_array_equal(scores[known], [1, 2, 1])
    pts = fusion.points(include_unknown=False)
    assert pts.label.tolist() == [1]
    np.testing.assert_allclose(pts.confidence, [0.5])


def test_incremental_merge_matches_batch():
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(5):
        p = rng.random((6, 8, 4)).astype(np.float32)
        p[rng.random((6, 8)) < 0.2] = 0.0
        frames.append(Frame(rgb=np.zeros((6, 8, 3), np.uint8), K=np.array([[8.0, 0, 4], [0, 8, 3], [0, 0, 1]]),
                            T_map_cam=np.eye(4), probs=p, depth_m=rng.uniform(0.5, 1.5, (6, 8)).astype(np.float32)))
    a = BayesFusion(4, voxel_size_m=0.05, merge_rows=1)  # merges after every frame
    b = BayesFusion(4, voxel_size_m=0.05)
    a.integrate_all(frames)
    b.integrate_all(frames)
    for x, y in zip(a.voxel_scores(), b.voxel_scores()):
        np.testing.assert_allclose(x, y)


def test_integrate_rejects_bad_frames():
    f = _frame([[1, 0, 0], [0, 1, 0]])
    with pytest.raises(InputError, match="expected 4 semantic channels, got 3"):
        BayesFusion(4).integrate(f)
    f.depth_m = None
    with pytest.raises(InputError, match="needs depth"):
        MajorityVote(3).integrate(f)


def test_probs_to_labels_unknown_rows():
    p = np.zeros((1, 3, 2), np.float32)
    p[0, 0] = [0.2, 0.8]
    p[0, 2] = [0.9, 0.1]
    assert probs_to_labels(p).tolist() == [[1, IGNORE_ID, 0]]


def test_splat_plane_of_voxels_gives_expected_label_image():
    # camera at the origin looking along +z; 4x4 image, f = 10 px; voxels of 0.1 m on the plane z = 1 cover
    # exactly one pixel each. Plane points fill the left 3 columns; a farther plane (z = 2) is hidden except
    # where nothing is in front; one near voxel (z = 0.5, so 2x2 px) projected at pixel (0, 0) wins 4 pixels.
    K = np.array([[10.0, 0, 1.5], [0, 10.0, 1.5], [0, 0, 1]])
    xyz, label = [], []
    for v in range(4):
        for u in range(3):
            xyz.append([(u - 1.5) / 10, (v - 1.5) / 10, 1.0])
            label.append(u + 3 * v)
        for u in range(4):
            xyz.append([2 * (u - 1.5) / 10, 2 * (v - 1.5) / 10, 2.0])
            label.append(19)
    xyz.append([0.5 * -1.5 / 10, 0.5 * -1.5 / 10, 0.5])
    label.append(15)
    xyz.append([0.0, 0.0, -1.0])  # behind the camera: ignored
    label.append(16)
    out = splat_labels(np.array(xyz), np.array(label), K, np.eye(4), 4, 5, footprint_m=0.1)
    expected = np.array([[15, 15, 2, 19, IGNORE_ID],
                         [15, 15, 5, 19, IGNORE_ID],
                         [6, 7, 8, 19, IGNORE_ID],
                         [9, 10, 11, 19, IGNORE_ID]])
    np.testing.assert_array_equal(out.label, expected)
    assert out.depth_m[0, 0] == pytest.approx(0.5) and out.depth_m[1, 3] == pytest.approx(2.0)
    assert out.depth_m[0, 4] == 0.0


def test_splat_footprint_grows_near_the_camera():
    K = np.array([[10.0, 0, 4.5], [0, 10.0, 4.5], [0, 0, 1]])
    # a 0.1 m voxel at 0.25 m covers 4 px: pixel centres within +-2 px of its projection (4.5, 4.5)
    out = splat_labels(np.array([[0.0, 0.0, 0.25]]), np.array([3]), K, np.eye(4), 10, 10, footprint_m=0.1)
    rows, cols = np.nonzero(out.label == 3)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (3, 6, 3, 6)
    assert np.count_nonzero(out.label != IGNORE_ID) == 16


def test_fusion_render_projects_voxels_into_a_view():
    # fuse a fronto-parallel wall seen at 1 m (left half class 2, right half class 5), render it from the
    # same pose: every pixel is labelled and matches the input
    h, w = 12, 16
    K = np.array([[20.0, 0, 7.5], [0, 20.0, 5.5], [0, 0, 1]])
    lab = np.where(np.arange(w)[None, :] < w // 2, 2, 5).repeat(h, 0)
    probs = np.eye(6, dtype=np.float32)[lab]
    frame = Frame(rgb=np.zeros((h, w, 3), np.uint8), K=K, T_map_cam=np.eye(4), probs=probs,
                  depth_m=np.ones((h, w), np.float32))
    fusion = bayes_fusion([frame], 6, voxel_size_m=0.02)
    out = fusion.render(K, np.eye(4), h, w)
    assert np.count_nonzero(out.label == IGNORE_ID) == 0
    np.testing.assert_array_equal(out.label[:, 2:6], 2)
    np.testing.assert_array_equal(out.label[:, 10:14], 5)
    assert (out.label == lab).mean() > 0.9
