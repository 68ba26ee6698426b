import numpy as np

from gnesf_ros.data.trajectory import handheld_trajectory


def test_trajectory_is_rigid_inside_room_and_smooth(scene, renderer, poses):
    assert poses.shape == (120, 4, 4)
    R = poses[:, :3, :3]
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    assert np.allclose(np.linalg.det(R), 1.0)
    c = poses[:, :3, 3]
    L = scene.room_size_m
    assert np.all(c[:, :2] > 0.5) and np.all(c[:, :2] < L[:2] - 0.5)
    assert np.all((c[:, 2] >= 1.0) & (c[:, 2] <= 1.8))
    assert not scene.inside_solid(c).any()
    step = np.linalg.norm(np.diff(c, axis=0), axis=1)
    assert step.max() < 0.03 and 0.005 < step.mean() < 0.025
    rel = np.einsum("fji,fjk->fik", R[:-1], R[1:])
    angle = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert angle.max() < 3.0 and 0.3 < angle.mean() < 2.0
    assert np.mean(R[:, 2, 2]) < -0.1  # optical axis (z) pitched down on average


def test_trajectory_deterministic_and_looks_into_the_room(scene, views):
    a = handheld_trajectory(scene, 30, seed=5)
    np.testing.assert_array_equal(a, handheld_trajectory(scene, 30, seed=5))
    assert not np.allclose(a, handheld_trajectory(scene, 30, seed=6))
    for v in views:
        assert np.median(v.depth_m) > 0.6
