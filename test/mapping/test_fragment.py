import numpy as np
import torch

from gnesf_ros.mapping.fragment import build_fragment, fragment_bounds, frustum_points
from mapping_fixtures import CAMERA_HEIGHT_M, HEIGHT, K_SMALL, WIDTH, downward_pose

VOXEL = 0.1


def views(xs):
    K = torch.from_numpy(np.stack([K_SMALL] * len(xs))).float()
    T = torch.from_numpy(np.stack([downward_pose(x) for x in xs])).float()
    return K, T


def test_bounds_contain_frusta_and_are_snapped():
    frusta = [frustum_points(K_SMALL, downward_pose(x), HEIGHT, WIDTH, 2.0) for x in (0.0, 0.37)]
    key_min, dims, cropped = fragment_bounds(frusta, VOXEL, max_dims=200)
    assert not cropped and key_min.dtype == np.int64
    lo = key_min * VOXEL
    hi = (key_min + np.array(dims) - 1) * VOXEL
    pts = np.concatenate(frusta)
    assert np.all(pts >= lo - 1e-9) and np.all(pts <= hi + 1e-9)
    assert np.all(np.array(dims) >= 2)
    # one voxel less on any side would miss a frustum vertex: the box is tight
    assert np.any(pts[:, 0] < lo[0] + VOXEL) and np.any(pts[:, 2] > hi[2] - VOXEL)


def test_bounds_capped_and_centred_on_frusta():
    frusta = [frustum_points(K_SMALL, downward_pose(x), HEIGHT, WIDTH, 2.0) for x in (0.0, 0.4)]
    key_min, dims, cropped = fragment_bounds(frusta, VOXEL, max_dims=10)
    assert cropped and max(dims) <= 10
    centre = (key_min + (np.array(dims) - 1) / 2.0) * VOXEL
    # x: the frusta span -1.6..2.0 m, centred near their centroid x = 0.2; z: centroid at 1.5 - 0.75 * 2 = 0
    assert abs(centre[0] - 0.2) <= VOXEL and abs(centre[2] - 0.0) <= 1.5 * VOXEL


def test_mask_is_inside_some_frustum():
    K, T = views([0.0])
    frag = build_fragment(K, T, HEIGHT, WIDTH, VOXEL, 2.0, 96)
    keys = frag.keys().reshape(frag.dims + (3,))
    centres = keys * VOXEL
    # straight below the camera at 1 m depth (z = 0.5 m): inside; at or beside the camera centre: outside; far corner: outside
    def at(p):
        idx = np.round(np.array(p) / VOXEL).astype(int) - frag.key_min
        return frag.mask[tuple(idx)]
    assert at([0.0, 0.0, 0.5]) and at([0.0, 0.0, -0.4])
    assert not at([0.0, 0.0, CAMERA_HEIGHT_M]) and not at([0.5, 0.0, CAMERA_HEIGHT_M - 0.1])
    assert not at([1.5, 1.1, 1.2])  # outside the image at that depth
    assert 0 < frag.mask.sum() < frag.mask.size
    np.testing.assert_allclose(centres[0, 0, 0], frag.origin_m)


def test_depth_tsdf_of_a_plane():
    K, T = views([0.0, 0.2])
    depth = torch.full((2, HEIGHT, WIDTH), CAMERA_HEIGHT_M)
    frag = build_fragment(K, T, HEIGHT, WIDTH, VOXEL, 2.0, 96, depth_m=depth, tsdf_trunc_m=0.3)
    z = frag.centers_m()[:, 2].reshape(frag.dims)
    seen = frag.tsdf_weight > 0
    assert np.all(seen <= frag.mask)  # depth observations only inside the frusta
    # plane z = 0 seen from above: projective SDF = depth - z_cam = z (map), truncated at 0.3
    np.testing.assert_allclose(frag.tsdf_m[seen], np.clip(z[seen], -0.3, 0.3), atol=1e-5)
    assert np.all(z[seen] >= -0.3 - 1e-6)  # nothing fused far behind the surface
    assert np.all(frag.tsdf_m[~seen] == np.float32(0.3))
