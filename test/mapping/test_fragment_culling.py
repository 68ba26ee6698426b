"""build_fragment projects each view's frustum candidates only: mask, colour, TSDF and weights are bitwise those of
projecting every voxel (cull=False), on the cameras of `culling_cases` and by hand."""
import numpy as np
import pytest
import torch

from culling_cases import culling_cases
from gnesf_ros.geometry.camera import Camera
from gnesf_ros.mapping.fragment import _centres_table, build_fragment


def _images_and_depth(camera: Camera, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random colours (V, 3, H, W) and depths (V, H, W) in 0.2..2.2 m with ~10% holes (0)."""
    g = torch.Generator().manual_seed(seed)
    V, H, W = camera.num_views, camera.height, camera.width
    depth = 0.2 + 2.0 * torch.rand(V, H, W, generator=g)
    depth[torch.rand(V, H, W, generator=g) < 0.1] = 0.0
    return torch.rand(V, 3, H, W, generator=g), depth


def _assert_same(a, b, where: str) -> None:
    for name in ("mask", "rgb", "tsdf_m", "tsdf_weight"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), f"{where}: {name}"
        assert x is None or (x.dtype == y.dtype and np.array_equal(x, y)), f"{where}: {name} differs"


@pytest.mark.parametrize("case", culling_cases(), ids=lambda c: c.name)
@pytest.mark.parametrize("tsdf_distance", ["projective", "plane"])
def test_culled_fragment_equals_the_full_projection_bitwise(case, tsdf_distance):
    images, depth = _images_and_depth(case.camera, seed=len(case.name))
    for voxel_scale, max_depth_m in ((1.0, 1.3), (1.0, 6.0), (3.0, 2.0)):  # x3: a 3x larger radius margin
        vs = case.voxel_size_m * voxel_scale
        bounds = (np.floor(case.key_min / voxel_scale).astype(np.int64), case.dims, False)
        kwargs = dict(images=images, depth_m=depth, tsdf_trunc_m=0.15, bounds=bounds, tsdf_distance=tsdf_distance)
        full = build_fragment(case.camera, vs, max_depth_m, 64, cull=False, **kwargs)
        culled = build_fragment(case.camera, vs, max_depth_m, 64, **kwargs)
        _assert_same(full, culled, f"{case.name} voxel {vs} max depth {max_depth_m}")
        if case.name != "sees_nothing":
            assert full.mask.any() and full.tsdf_weight.any(), case.name


@pytest.mark.parametrize("case", culling_cases(seed=2)[:3], ids=lambda c: c.name)
def test_culled_mask_only_fragment_and_default_bounds(case):
    """Without images or depth (the mask alone), and with bounds from the frusta (a box they fill)."""
    full = build_fragment(case.camera, 0.05, 2.0, 48, cull=False)
    culled = build_fragment(case.camera, 0.05, 2.0, 48)
    _assert_same(full, culled, case.name)
    assert full.dims == culled.dims and full.mask.any()


def test_centres_table_is_centers_m():
    case = culling_cases()[-1]  # hundreds of metres from the origin
    frag = build_fragment(case.camera, case.voxel_size_m, 1.0, 64, bounds=(case.key_min, case.dims, False))
    assert torch.equal(_centres_table(frag), torch.from_numpy(frag.centers_m()).float())


def test_culled_fragment_by_hand():
    # a 1x1 image of focal 1 at the origin looking along +z; voxels of 0.5 m, keys -2..2 on each axis. A voxel counts
    # when u = x / z in [-0.5 - r / z, 0.5 + r / z), r = the half-diagonal 0.433 m: up to 0.9 m only z = 0.5 is in
    # range, where x (and y) in [-0.683, 0.683): 3 x 3 voxels. Depth 0.6 m everywhere: their TSDF is 0.1 m.
    cam = Camera.single(torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1]]), torch.eye(4), 1, 1)
    image = torch.tensor([0.2, 0.4, 0.8]).reshape(1, 3, 1, 1)
    depth = torch.full((1, 1, 1), 0.6)
    bounds = (np.array([-2, -2, -2]), (5, 5, 5), False)
    frags = [build_fragment(cam, 0.5, 0.9, 8, images=image, depth_m=depth, tsdf_trunc_m=0.2, bounds=bounds,
                            cull=cull) for cull in (False, True)]
    _assert_same(*frags, "by hand")
    frag = frags[1]
    hand = np.zeros((5, 5, 5), dtype=bool)
    hand[1:4, 1:4, 3] = True  # x, y keys -1..1, z key 1 (0.5 m)
    assert np.array_equal(frag.mask, hand)
    assert np.array_equal(frag.tsdf_weight, hand.astype(np.float32))
    assert np.allclose(frag.tsdf_m[hand], 0.1) and (frag.tsdf_m[~hand] == 0.2).all()
    assert np.allclose(frag.rgb[hand], [0.2, 0.4, 0.8]) and (frag.rgb[~hand] == 0).all()
