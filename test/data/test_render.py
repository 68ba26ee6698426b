import numpy as np
import open3d as o3d
import pytest

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError

H, W = 60, 80  # as in conftest.py


def _unproject(view, K, T):
    v, u = np.nonzero(view.depth_m > 0)
    z = view.depth_m[v, u].astype(np.float64)
    pts_cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], 1)
    return (v, u), pts_cam @ T[:3, :3].T + T[:3, 3]


def test_view_shapes_and_dtypes(views):
    v = views[0]
    assert v.rgb.shape == (H, W, 3) and v.rgb.dtype == np.uint8
    assert v.depth_m.shape == (H, W) and v.depth_m.dtype == np.float32
    assert v.labels.dtype == np.uint8 and v.instance.dtype == np.int32
    assert np.all((v.normal_cos >= 0) & (v.normal_cos <= 1.0 + 1e-5))
    assert np.all(v.depth_m > 0)  # the room is closed: every ray hits something
    assert np.all(v.rgb.reshape(-1, 3).std(axis=0) > 5)  # textured, lit, not a flat image


def test_labels_consistent_with_geometry(scene, renderer, views, poses, K):
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(scene.vertices), o3d.core.Tensor(scene.triangles.astype(np.uint32)))
    agree, total = 0, 0
    for view, T in zip(views, poses[0:120:30]):
        (v, u), pts = _unproject(view, K, T)
        ans = rc.compute_closest_points(o3d.core.Tensor(pts.astype(np.float32)))
        dist = np.linalg.norm(ans["points"].numpy() - pts, axis=1)
        assert np.median(dist) < 1e-3
        prim = ans["primitive_ids"].numpy().astype(np.int64)
        agree += np.sum(scene.tri_labels[prim] == view.labels[v, u])
        total += len(prim)
        assert np.all(view.instance[v, u] >= 0)
        ceiling = scene.tri_labels[prim] == IGNORE_ID
        assert np.all(view.labels[v, u][ceiling & (dist < 1e-4)] == IGNORE_ID)
    assert agree / total > 0.97  # the rest lie on edges shared by two labelled surfaces


def test_true_sdf_sign(scene, renderer, poses, views, K):
    cams = poses[:, :3, 3]
    assert np.all(renderer.true_sdf(cams) > 0.25)
    # half way along every viewing ray is free space
    (v, u), pts = _unproject(views[0], K, poses[0])
    mid = 0.5 * (pts + poses[0][:3, 3])
    assert np.all(renderer.true_sdf(mid) > 0)
    # outside the room and inside furniture is negative
    L = scene.room_size_m
    outside = np.array([[-0.5, 1.0, 1.0], [L[0] + 0.3, 1.0, 1.0], [1.0, 1.0, L[2] + 0.2]])
    assert np.all(renderer.true_sdf(outside) < 0)
    inside = np.array([p.center for p in scene.primitives if min(p.half_extents) > 0.05])
    assert len(inside) > 0 and np.all(renderer.true_sdf(inside) < 0)
    d = renderer.true_sdf(np.array([[L[0] / 2, L[1] / 2, 0.3]]))
    assert d.dtype == np.float32
    with pytest.raises(InputError, match=r"\(N, 3\)"):
        renderer.true_sdf(np.zeros((4, 2)))


def test_surface_points_labels_match(scene, renderer):
    pts, labels = renderer.surface_points(spacing_m=0.08)
    assert pts.dtype == np.float32 and labels.dtype == np.uint8 and len(pts) == len(labels) > 500
    assert IGNORE_ID not in labels
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(scene.vertices), o3d.core.Tensor(scene.triangles.astype(np.uint32)))
    ans = rc.compute_closest_points(o3d.core.Tensor(pts))
    assert np.max(np.linalg.norm(ans["points"].numpy() - pts, axis=1)) < 1e-3
    prim = ans["primitive_ids"].numpy().astype(np.int64)
    assert np.mean(scene.tri_labels[prim] == labels) > 0.98
    # observable surface only: nothing on the floor under a solid piece of furniture
    floor = pts[labels == 1]
    assert np.all(renderer.true_sdf(floor + [0, 0, 0.01]) > 0)
    # deterministic, and about one point per spacing^2
    pts2, _ = renderer.surface_points(spacing_m=0.08)
    np.testing.assert_array_equal(pts, pts2)
    L = scene.room_size_m
    assert 0.5 * L[0] * L[1] / 0.08 ** 2 < np.sum(labels == 1) < 1.05 * L[0] * L[1] / 0.08 ** 2


def test_render_rejects_bad_input(renderer, K, poses):
    with pytest.raises(InputError, match="K must be"):
        renderer.render(np.eye(4), poses[0], H, W)
