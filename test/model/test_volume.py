"""Eq. 1: running-sum mean/variance against a brute-force computation; the 3D network's shapes."""
import torch

from gnesf_ros.geometry.camera import Camera
from gnesf_ros.model.features import FeatureNet, feature_size, sample_image
from gnesf_ros.model.volume import VolumeNet, mean_var_volume, sample_volume, vertex_points


def test_mean_var_matches_brute_force(scene):
    g = torch.Generator().manual_seed(0)
    V, D, h, w = 3, 5, 6, 8
    feats = torch.randn(V, D, h, w, generator=g)
    feat_camera = Camera(scene["K"], scene["T_map_cam"], 12, 16).resized(h, w)
    origin, vox, dims = scene["origin_m"], scene["voxel_size_m"], scene["dims"]
    mean, var, count = mean_var_volume(feats, feat_camera, origin, vox, dims, chunk_points=37)

    pts = vertex_points(origin, vox, dims)  # (216, 3)
    uv, _, seen = feat_camera.project(pts)
    f = sample_image(feats, uv)  # (V, P, D)
    for p in range(pts.shape[0]):
        i, j, k = p // 36, (p // 6) % 6, p % 6
        views = seen[:, p]
        assert count[i, j, k] == views.sum()
        if views.any():
            x = f[views, p]
            assert torch.allclose(mean[:, i, j, k], x.mean(0), atol=1e-5)
            assert torch.allclose(var[:, i, j, k], x.var(0, unbiased=False), atol=1e-5)
        else:
            assert (mean[:, i, j, k] == 0).all() and (var[:, i, j, k] == 0).all()
    assert 0 < (count > 0).float().mean() and (count == 3).any()


def test_vertex_points_and_trilinear_sampling():
    origin = torch.tensor([1.0, 2.0, 3.0])
    pts = vertex_points(origin, 0.5, (2, 3, 4))
    assert torch.allclose(pts[0], origin) and torch.allclose(pts[-1], origin + torch.tensor([0.5, 1.0, 1.5]))
    vol = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 2, 3, 4)
    vals, inside = sample_volume(vol, origin, 0.5, pts)
    assert torch.allclose(vals[:, 0], vol.reshape(-1)) and inside.all()
    mid, inside = sample_volume(vol, origin, 0.5, torch.stack([origin + 0.25, origin - 1]))
    assert torch.allclose(mid[0, 0], vol[0, :2, :2, :2].mean()) and inside.tolist() == [True, False]
    assert mid[1, 0] == 0


def test_feature_and_volume_net_shapes(tiny_cfg):
    f = FeatureNet(tiny_cfg)(torch.rand(2, 3, 12, 16))
    assert f.shape == (2, 4, *feature_size(12, 16, tiny_cfg.image_scale))
    out = VolumeNet(9, 4, 4)(torch.rand(9, 5, 6, 7))
    assert out.shape == (4, 5, 6, 7)
