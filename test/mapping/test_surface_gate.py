"""New voxels with learned geometry only near a confident zero crossing (mapping/surface_gate.py), and the bound on
voxels per fragment, through the mapper."""
import numpy as np
import pytest

from gnesf_ros.errors import InputError
from gnesf_ros.mapping.surface_gate import closest_to_surface, crossing_mask

VOXEL, TRUNC = 0.04, 0.12


def plane_sdf(dims=(12, 12, 12), z0_m=0.21) -> np.ndarray:
    z = np.arange(dims[2]) * VOXEL
    return np.broadcast_to(np.clip(z0_m - z, -TRUNC, TRUNC), dims).astype(np.float32).copy()


def test_plane_crossing_and_its_dilation():
    sdf = plane_sdf()  # surface between z index 5 (0.20 m, sdf +0.01) and 6 (0.24 m, -0.03)
    m0 = crossing_mask(sdf, VOXEL, TRUNC, min_slope=0.25, dilation_voxels=0)
    assert np.array_equal(np.nonzero(m0.any(axis=(0, 1)))[0], [5, 6]) and m0[:, :, 5:7].all()
    m2 = crossing_mask(sdf, VOXEL, TRUNC, min_slope=0.25, dilation_voxels=2)
    assert np.array_equal(np.nonzero(m2.any(axis=(0, 1)))[0], [3, 4, 5, 6, 7, 8])


def test_flicker_around_zero_and_free_space_are_not_surfaces():
    rng = np.random.default_rng(0)
    flicker = rng.uniform(-0.004, 0.004, (12, 12, 12)).astype(np.float32)  # sign changes, 0.2 voxel at most
    assert not crossing_mask(flicker, VOXEL, TRUNC, min_slope=0.25, dilation_voxels=2).any()
    assert crossing_mask(flicker, VOXEL, TRUNC, min_slope=0.0, dilation_voxels=0).mean() > 0.5  # without the slope
    free = np.full((6, 6, 6), TRUNC, np.float32)
    free[3] = -TRUNC  # a jump from +tr to -tr is outside the band on both sides: not a crossing it can place
    assert not crossing_mask(free, VOXEL, TRUNC, 0.25, 1).any()
    nan = plane_sdf()
    nan[:, :, 6] = np.nan
    assert not crossing_mask(nan, VOXEL, TRUNC, 0.25, 0)[:, :, 5].any()
    with pytest.raises(InputError, match=r"\(X, Y, Z\)"):
        crossing_mask(np.zeros((4, 4)), VOXEL, TRUNC, 0.25, 1)


def test_closest_to_surface_keeps_smallest_abs_sdf_in_order():
    cand = np.array([10, 11, 12, 13, 14])
    np.testing.assert_array_equal(closest_to_surface(cand, np.array([0.1, -0.01, 0.05, 0.0, -0.2]), 3), [11, 12, 13])
    np.testing.assert_array_equal(closest_to_surface(cand, np.zeros(5), 0), cand)


def test_mapper_bounds_new_voxels_per_fragment_and_counts_it(class_list):
    from gnesf_ros.mapping import Mapper
    from mapping_fixtures import plane_sequence
    from test_mapper_gnesf import config, tiny_model

    def run(**overrides):
        mapper = Mapper(config(geometry_source="depth", **overrides), model=tiny_model(), class_list=class_list)
        created = []
        for frame in plane_sequence(6):
            created.append(mapper.add_frame(frame).voxels_created)
        created.append(mapper.flush().voxels_created)
        return mapper, created

    free, created_free = run(max_new_voxels_per_fragment=0)
    assert free.stats()["capped_fragments"] == 0 and max(created_free) > 60
    capped, created = run(max_new_voxels_per_fragment=60)
    st = capped.stats()
    assert max(created) <= 60 and st["capped_fragments"] >= 1 and st["voxels_not_created"] > 0
    assert st["voxels"] + st["voxels_not_created"] >= free.stats()["voxels"]
    # the voxels kept are the ones nearest the surface: the plane z = 0 stays in the map
    assert np.abs(capped.map.data.sdf_m).mean() < np.abs(free.map.data.sdf_m).mean()
    with pytest.raises(ValueError, match="max_new_voxels_per_fragment"):
        config(max_new_voxels_per_fragment=-1)
    with pytest.raises(ValueError, match="new_voxel_rule"):
        config(new_voxel_rule="all")


def test_learned_mapper_creates_voxels_only_near_crossings(class_list):
    """A random-weight model's SDF is unsure everywhere: the band rule fills the frusta, the crossing rule does not."""
    from gnesf_ros.mapping import Mapper
    from mapping_fixtures import plane_sequence
    from test_mapper_gnesf import config, tiny_model

    sizes = {}
    for rule in ("band", "crossing"):
        mapper = Mapper(config(new_voxel_rule=rule), model=tiny_model(), class_list=class_list)
        for frame in plane_sequence(6):
            mapper.add_frame(frame)
        mapper.flush()
        sizes[rule] = len(mapper.map)
    assert sizes["crossing"] < sizes["band"]
