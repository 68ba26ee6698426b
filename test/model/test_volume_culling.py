"""Eq. 1 projects each view's frustum candidates only: mean, variance, count and the features' gradient are bitwise
those of projecting every vertex (cull=False), on the cameras of `culling_cases`, across chunk boundaries."""
import pytest
import torch

from culling_cases import culling_cases
from gnesf_ros.model.volume import mean_var_volume


def _eq1(feats, camera, case, chunk_points, cull):
    feats = feats.clone().requires_grad_(True)
    mean, var, count = mean_var_volume(feats, camera, case.origin_m, case.voxel_size_m, case.dims, chunk_points,
                                       cull=cull)
    g = torch.Generator().manual_seed(1)
    (mean * torch.rand(mean.shape, generator=g) + var * torch.rand(var.shape, generator=g)).sum().backward()
    return mean.detach(), var.detach(), count, feats.grad


@pytest.mark.parametrize("case", culling_cases(seed=3), ids=lambda c: c.name)
@pytest.mark.parametrize("chunk_points", [37, 131072])
def test_culled_eq1_equals_the_full_projection_bitwise(case, chunk_points):
    cam = case.camera
    h, w = max(cam.height // 2, 1), max(cam.width // 2, 1)  # feature maps at half the image size
    feats = torch.randn(cam.num_views, 5, h, w, generator=torch.Generator().manual_seed(2))
    full = _eq1(feats, cam.resized(h, w), case, chunk_points, cull=False)
    culled = _eq1(feats, cam.resized(h, w), case, chunk_points, cull=True)
    for name, a, b in zip(("mean", "var", "count", "grad"), full, culled):
        assert a.dtype == b.dtype and torch.equal(a, b), f"{case.name}: {name} differs"
    if case.name != "sees_nothing":
        assert (full[2] > 0).any()
