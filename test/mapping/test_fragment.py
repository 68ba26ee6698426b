import numpy as np
import pytest
import torch

from gnesf_ros.errors import InputError
from gnesf_ros.geometry.camera import Camera
import gnesf_ros.mapping.fragment as fragment_module
from gnesf_ros.mapping.fragment import build_fragment, depth_hits, fragment_bounds, fragment_tiles, tiles_in_frusta
from gnesf_ros.mapping.voxel_map import pack_keys
from mapping_fixtures import CAMERA_HEIGHT_M, HEIGHT, K_SMALL, WIDTH, downward_pose

VOXEL = 0.1


def views(xs) -> Camera:
    """Downward cameras at x = xs (float32, as the mapper's)."""
    K = torch.from_numpy(np.stack([K_SMALL] * len(xs))).float()
    T = torch.from_numpy(np.stack([downward_pose(x) for x in xs])).float()
    return Camera(K, T, HEIGHT, WIDTH)


def frustum(x: float) -> np.ndarray:
    """The (5, 3) frustum at 2 m of the downward camera at x."""
    return Camera.single(K_SMALL, downward_pose(x), HEIGHT, WIDTH).frusta(2.0)[0]


def test_bounds_contain_frusta_and_are_snapped():
    frusta = [frustum(x) for x in (0.0, 0.37)]
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
    frusta = [frustum(x) for x in (0.0, 0.4)]
    key_min, dims, cropped = fragment_bounds(frusta, VOXEL, max_dims=10)
    assert cropped and max(dims) <= 10
    centre = (key_min + (np.array(dims) - 1) / 2.0) * VOXEL
    # x: the frusta span -1.6..2.0 m, centred near their centroid x = 0.2; z: centroid at 1.5 - 0.75 * 2 = 0
    assert abs(centre[0] - 0.2) <= VOXEL and abs(centre[2] - 0.0) <= 1.5 * VOXEL


def test_mask_is_inside_some_frustum():
    cam = views([0.0])
    frag = build_fragment(cam, VOXEL, 2.0, 96)
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


def test_voxels_reaching_into_the_image_are_seen_at_its_border():
    # An object entering at the image border: a voxel whose centre projects just past the border still
    # overlaps the image (within its projected half-diagonal, here 20 px * 0.087 m / 1.5 m = 1.15 px); it is
    # seen and takes the border pixel's depth. A voxel one further out is not.
    cam = views([0.05])
    depth = torch.full((1, HEIGHT, WIDTH), CAMERA_HEIGHT_M)
    frag = build_fragment(cam, VOXEL, 2.0, 96, depth_m=depth, tsdf_trunc_m=0.3)

    def at(p):
        idx = tuple(np.round(np.array(p) / VOXEL).astype(int) - frag.key_min)
        return bool(frag.mask[idx]), float(frag.tsdf_weight[idx]), float(frag.tsdf_m[idx])

    # floor z = 0 at 1.5 m depth: x = 1.3 projects to u = 15.5 + (1.3 - 0.05) / 1.5 * 20 = 32.17 > 31.5
    seen, weight, sdf = at([1.3, 0.0, 0.0])
    assert seen and weight == 1.0 and abs(sdf) < 1e-5
    assert at([1.2, 0.0, 0.0])[0]  # u = 30.8: inside the image
    assert not at([1.4, 0.0, 0.0])[0]  # u = 33.5 > 31.5 + 1.15


def test_depth_tsdf_of_a_plane():
    cam = views([0.0, 0.2])
    depth = torch.full((2, HEIGHT, WIDTH), CAMERA_HEIGHT_M)
    frag = build_fragment(cam, VOXEL, 2.0, 96, depth_m=depth, tsdf_trunc_m=0.3)
    z = frag.centers_m()[:, 2].reshape(frag.dims)
    seen = frag.tsdf_weight > 0
    assert np.all(seen <= frag.mask)  # depth observations only inside the frusta
    # plane z = 0 seen from above: projective SDF = depth - z_cam = z (map), truncated at 0.3
    np.testing.assert_allclose(frag.tsdf_m[seen], np.clip(z[seen], -0.3, 0.3), atol=1e-5)
    assert np.all(z[seen] >= -0.3 - 1e-6)  # nothing fused far behind the surface
    assert np.all(frag.tsdf_m[~seen] == np.float32(0.3))


def test_tiles_partition_the_uncropped_box():
    """A window too large for one volume is split into tiles of at most max_dims per axis that hold every
    voxel of the full bounding box exactly once."""
    frusta = [frustum(x) for x in (0.0, 0.4)]
    full_min, full_dims, cropped = fragment_bounds(frusta, VOXEL, max_dims=1000)
    assert not cropped
    tiles = fragment_tiles(frusta, VOXEL, max_dims=10)
    assert len(tiles) > 1 and all(max(d) <= 10 and not c for _, d, c in tiles)
    keys = np.concatenate([np.stack(np.meshgrid(*(np.arange(k, k + d) for k, d in zip(kmin, dims)), indexing="ij"),
                                    -1).reshape(-1, 3) for kmin, dims, _ in tiles])
    assert len(keys) == int(np.prod(full_dims))
    assert len(np.unique(keys, axis=0)) == len(keys)
    assert np.array_equal(keys.min(axis=0), full_min) and np.array_equal(keys.max(axis=0), full_min + np.array(full_dims) - 1)
    # a box within the cap is one tile, equal to fragment_bounds
    (kmin, dims, c), = fragment_tiles(frusta, VOXEL, max_dims=1000)
    assert np.array_equal(kmin, full_min) and dims == full_dims and not c


def test_mapper_tiles_a_large_window_instead_of_cropping():
    """Same frames, a volume cap smaller than the window: "crop" loses voxels the "tile" mapper keeps."""
    from gnesf_ros.mapping import Mapper, MapperConfig
    from mapping_fixtures import FakeModel, plane_sequence, small_class_list

    maps = {}
    for mode in ("tile", "crop"):
        m = Mapper(MapperConfig(voxel_size_m=0.1, max_depth_m=2.0, max_volume_dims=12, window_size=4, image_width_px=0,
                                tsdf_trunc_m=0.2, max_keyframes=20, render_num_views=3, large_windows=mode),
                   model=FakeModel(), class_list=small_class_list())
        for f in plane_sequence(8, step_m=0.3):
            m.add_frame(f)
        m.flush()
        maps[mode] = m
    tile, crop = maps["tile"], maps["crop"]
    assert crop.stats()["cropped_fragments"] >= 1 and tile.stats()["cropped_fragments"] == 0
    assert tile.stats()["fragments"] > crop.stats()["fragments"]
    kept = np.isin(crop.map.data.keys, tile.map.data.keys)
    assert kept.all() and len(tile.map) > len(crop.map)


K_FINE = np.array([[200.0, 0.0, 79.5], [0.0, 200.0, 59.5], [0.0, 0.0, 1.0]])  # 160x120, a 44 deg field of view


def _tilted_plane_depth(slope: float) -> torch.Tensor:
    """z-depth image (1, 120, 160) of the plane z_map = slope * x_map seen by the downward camera at x = 0."""
    v, u = np.mgrid[0:120, 0:160].astype(np.float64)
    dx = (u - K_FINE[0, 2]) / K_FINE[0, 0]  # map x per metre of camera depth (optical x = map x)
    s = CAMERA_HEIGHT_M / (1.0 + slope * dx)  # C_z - s = slope * s * dx
    return torch.from_numpy(np.where(s > 0, s, 0.0)).float()[None]


def test_plane_tsdf_keeps_the_distance_to_a_steep_surface():
    """A plane at 72 deg to the image plane: the projective TSDF stretches distances by up to 1/cos (3x); "plane"
    (depth difference times |cos| of the ray to the depth image's normal) gives the perpendicular distance."""
    slope = 3.0
    K = torch.from_numpy(K_FINE[None]).float()
    T = torch.from_numpy(downward_pose(0.0)[None]).float()
    depth = _tilted_plane_depth(slope)
    errors = {}
    for mode in ("projective", "plane"):
        frag = build_fragment(Camera(K, T, 120, 160), 0.02, 2.0, 128, depth_m=depth, tsdf_trunc_m=0.3,
                              tsdf_distance=mode, tsdf_min_cos=0.05)
        c = frag.centers_m()
        true = ((c[:, 2] - slope * c[:, 0]) / np.sqrt(1.0 + slope ** 2)).reshape(frag.dims)
        near = (frag.tsdf_weight > 0) & (np.abs(true) < 0.06)
        assert near.sum() > 100
        errors[mode] = np.median(np.abs(frag.tsdf_m[near] - true[near]))
    assert errors["plane"] < 0.01 and errors["projective"] > 3 * errors["plane"], errors


def test_plane_tsdf_equals_projective_for_a_frontal_plane_and_checks_its_mode():
    cam = views([0.0, 0.2])
    depth = torch.full((2, HEIGHT, WIDTH), CAMERA_HEIGHT_M)
    proj = build_fragment(cam, VOXEL, 2.0, 96, depth_m=depth, tsdf_trunc_m=0.3)
    plane = build_fragment(cam, VOXEL, 2.0, 96, depth_m=depth, tsdf_trunc_m=0.3,
                           tsdf_distance="plane")
    inside = (proj.tsdf_weight > 0) & (np.abs(proj.tsdf_m) < 0.29)  # away from the -trunc cut, where rounding decides
    assert inside.sum() > 100
    np.testing.assert_allclose(plane.tsdf_m[inside], proj.tsdf_m[inside], atol=1e-5)
    with pytest.raises(InputError, match="tsdf_distance"):
        build_fragment(cam, VOXEL, 2.0, 96, depth_m=depth, tsdf_trunc_m=0.3, tsdf_distance="ray")


def test_depth_hits_bin_pixels_into_nearest_voxels():
    """Two 1 x 2 views, K = identity-like (f = 1, c = 0). View 0 at the origin: pixel (0, 0) at depth 1 -> (0, 0, 1),
    pixel (1, 0) at depth 2 -> (2, 0, 2). View 1 moved 0.1 m along x: pixel (0, 0) at depth 1 -> (0.1, 0, 1), in the
    first point's voxel; its other pixel has no depth. Voxel 0.5 m, key = round(x / 0.5)."""
    K = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).expand(2, 3, 3)
    T = torch.eye(4).repeat(2, 1, 1)
    T[1, 0, 3] = 0.1
    depth = torch.tensor([[[1.0, 2.0]], [[1.0, 0.0]]])
    hits = depth_hits(depth, Camera(K, T, 1, 2), 0.5, max_depth_m=3.0)
    np.testing.assert_array_equal(hits.keys, pack_keys(np.array([[0, 0, 2], [4, 0, 4]])))
    np.testing.assert_allclose(hits.mean_m, [[0.05, 0.0, 1.0], [2.0, 0.0, 2.0]], atol=1e-12)
    np.testing.assert_array_equal(hits.count, [2, 1])
    idx, found = hits.lookup(pack_keys(np.array([[4, 0, 4], [1, 0, 2]])))
    assert found.tolist() == [True, False] and idx[0] == 1

    # NaN, inf, negative and beyond-range depths are no hits
    depth = torch.tensor([[[float("nan"), float("inf")]], [[-1.0, 3.5]]])
    assert depth_hits(depth, Camera(K, T, 1, 2), 0.5, max_depth_m=3.0).keys.size == 0


def test_depth_hits_of_a_plane_lie_on_it():
    cam = views([0.0, 0.2])
    depth = torch.full((2, HEIGHT, WIDTH), CAMERA_HEIGHT_M)
    hits = depth_hits(depth, cam, VOXEL, max_depth_m=2.0)
    assert hits.count.sum() == 2 * HEIGHT * WIDTH
    np.testing.assert_allclose(hits.mean_m[:, 2], 0.0, atol=1e-9)  # plane z = 0
    # each mean lies in its own voxel (nearest centre)
    ijk = np.round(hits.mean_m / VOXEL).astype(np.int64)
    np.testing.assert_array_equal(pack_keys(ijk), hits.keys)


def test_tiles_outside_every_frustum_are_skipped_and_no_seen_voxel_is_lost():
    """Two views looking down at x = 0 and x = 8 m: their box spans 8 m in x, the pyramids only its ends. Tiles
    between them that no frustum reaches are dropped; every voxel build_fragment counts as seen lies in a kept tile."""
    xs = (0.0, 8.0)
    cam = views(xs)
    frusta = [frustum(x) for x in xs]
    tiles = fragment_tiles(frusta, VOXEL, max_dims=6)
    kept = tiles_in_frusta(tiles, frusta, VOXEL)
    assert 0 < len(kept) < len(tiles)
    kept_min = {tuple(k) for k, _, _ in kept}
    for tile in tiles:
        frag = build_fragment(cam, VOXEL, 2.0, 96, bounds=tile)
        if frag.mask.any():
            assert tuple(tile[0]) in kept_min, f"tile at {tile[0]} sees {int(frag.mask.sum())} voxels but was dropped"


def test_depth_hits_dense_bins_equal_sorted_keys(monkeypatch):
    """The dense bincount over the hits' box and the sort of their keys give the same hits, bit for bit."""
    cam = views([0.0, 0.25, 0.6])
    rng = np.random.default_rng(3)
    depth = torch.from_numpy(rng.uniform(0.5, 2.5, (3, HEIGHT, WIDTH))).float()
    depth[0, :2] = 0.0  # some pixels without a return
    dense = depth_hits(depth, cam, VOXEL, max_depth_m=2.0)
    monkeypatch.setattr(fragment_module, "DENSE_HIT_BINS", 0)
    sorted_ = depth_hits(depth, cam, VOXEL, max_depth_m=2.0)
    assert dense.keys.size > 10 and np.all(np.diff(dense.keys) > 0)
    np.testing.assert_array_equal(dense.keys, sorted_.keys)
    np.testing.assert_array_equal(dense.mean_m, sorted_.mean_m)
    np.testing.assert_array_equal(dense.count, sorted_.count)
