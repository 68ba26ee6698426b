"""Geometry metrics (eval/geometry.py) on hand-computed cases, and the open3d TSDF reference on a known plane."""
import math

import numpy as np
import pytest

from gnesf_ros.errors import InputError
from gnesf_ros.eval.geometry import (DepthAccumulator, TSDFFusion, depth_errors, downsample_points,
                                     geometry_scores)


def test_downsample_means_points_per_voxel():
    xyz = np.array([[0.001, 0.001, 0.001], [0.011, 0.005, 0.003], [0.5, 0.5, 0.5], [np.nan, 0, 0]])
    out = downsample_points(xyz, 0.02)
    out = out[np.argsort(out[:, 0])]
    np.testing.assert_allclose(out, [[0.006, 0.003, 0.002], [0.5, 0.5, 0.5]])


def test_geometry_scores_two_tiny_clouds():
    truth = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    pred = np.array([[0.0, 0, 0.03], [1, 0, 0.1], [10, 0, 0]])
    s = geometry_scores(pred, truth, threshold_m=0.05, voxel_m=0.02)
    assert s.accuracy_m == pytest.approx((0.03 + 0.1 + 7.0) / 3)
    assert s.completeness_m == pytest.approx((0.03 + 0.1 + math.sqrt(1.01) + math.sqrt(4.01)) / 4)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(1 / 4)
    assert s.fscore == pytest.approx(2 / 7)
    assert (s.num_pred, s.num_true) == (3, 4)
    d = s.as_dict("gnesf.")
    assert d["gnesf.fscore_5cm"] == pytest.approx(0.2857) and d["gnesf.recall_5cm"] == 0.25
    # a 12 cm threshold also takes the 10 cm point
    assert geometry_scores(pred, truth, threshold_m=0.12).precision == pytest.approx(2 / 3)


def test_geometry_scores_perfect_empty_and_bad_input():
    truth = np.random.default_rng(0).uniform(0, 1, (200, 3))
    s = geometry_scores(truth, truth, voxel_m=0.0)
    assert s.fscore == 1.0 and s.accuracy_m == 0.0 and s.completeness_m == 0.0
    empty = geometry_scores(np.zeros((0, 3)), truth)
    assert empty.fscore == 0.0 and math.isnan(empty.accuracy_m)
    assert empty.as_dict()["accuracy_m"] is None
    with pytest.raises(InputError, match=r"\(N, 3\)"):
        geometry_scores(np.zeros((4, 2)), truth)
    with pytest.raises(InputError, match="no points"):
        geometry_scores(truth, np.zeros((0, 3)))


def test_depth_errors_hand_computed():
    truth = np.array([[1.0, 2.0, 4.0], [3.0, 0.0, 5.0]])
    pred = np.array([[1.1, 1.0, 4.0], [0.0, 3.0, 5.0]])
    e = depth_errors(pred, truth, max_depth_m=4.5)  # 5 m is out of range, 0 m unknown, 3 m not rendered
    assert e.num_pixels == 3
    assert e.abs_rel == pytest.approx((0.1 + 0.5 + 0.0) / 3)
    assert e.rmse_m == pytest.approx(math.sqrt((0.01 + 1.0) / 3))
    assert e.delta_1_25 == pytest.approx(2 / 3)
    assert e.coverage == pytest.approx(3 / 4)
    acc = DepthAccumulator(4.5)
    acc.add(pred[:, :2], truth[:, :2])
    acc.add(pred[:, 2:], truth[:, 2:])
    assert acc.result() == e  # pooled over pixels, however they are split
    assert math.isnan(depth_errors(np.zeros((2, 2)), np.ones((2, 2))).abs_rel)
    with pytest.raises(InputError, match="differ in size"):
        depth_errors(np.zeros((2, 2)), np.zeros((2, 3)))


def _down(x, height):
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])  # optical z = -map z
    T[:3, 3] = [x, 0.0, height]
    return T


def test_tsdf_fusion_reference_finds_a_plane_and_renders_its_depth():
    K = np.array([[40.0, 0, 31.5], [0, 40.0, 23.5], [0, 0, 1]])
    fusion = TSDFFusion(voxel_m=0.02, trunc_voxels=4, max_depth_m=3.0)
    assert len(fusion.points()) == 0 and not fusion.render_depth(K, _down(0.0, 1.5), 48, 64).any()
    for x in (-0.2, 0.0, 0.2):  # the plane z = -0.011
        fusion.integrate(np.full((48, 64), 1.511, np.float32), K, _down(x, 1.5))
    pts = fusion.points()
    assert len(pts) > 500 and np.all(np.abs(pts[:, 2] + 0.011) < 0.005)
    depth = fusion.render_depth(K, _down(0.1, 1.2), 48, 64)
    hit = depth > 0
    assert hit.mean() > 0.8 and np.all(np.abs(depth[hit] - 1.211) < 0.005)
    on_lattice = TSDFFusion(voxel_m=0.02)  # a plane through voxel vertices (z = 0) is found too
    on_lattice.integrate(np.full((48, 64), 1.5, np.float32), K, _down(0.0, 1.5))
    assert len(on_lattice.points()) > 500 and np.all(np.abs(on_lattice.points()[:, 2]) < 0.005)
