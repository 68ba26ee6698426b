"""Newton steps onto an SDF's zero level (geometry/surface.py) and the map's surface points."""
import numpy as np

from gnesf_ros.geometry.surface import MIN_GRADIENT_NORM, central_gradient, newton_step
from gnesf_ros.mapping.voxel_map import VoxelMap

VOXEL_M = 0.04


def _plane_map(normal, offset_m, stretch=1.0, size=6):
    """A map holding the SDF of the plane n.x = offset (times `stretch`) on a size^3 block of voxels."""
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    ijk = np.stack(np.meshgrid(*(np.arange(size),) * 3, indexing="ij"), -1).reshape(-1, 3)
    sdf = stretch * (ijk * VOXEL_M @ n - offset_m)
    m = VoxelMap(3, VOXEL_M)
    m.integrate(ijk, sdf, np.ones(len(ijk)), np.zeros((len(ijk), 3)))
    return m, n


def test_central_gradient_uses_the_neighbours_that_exist():
    minus, center, plus = np.array([1.0, 1.0, 1.0]), np.array([2.0, 2.0, 2.0]), np.array([4.0, 4.0, 4.0])
    has_minus = np.array([True, False, False])
    has_plus = np.array([True, True, False])
    g = central_gradient(minus, center, plus, has_minus, has_plus, 0.5)
    # central (4 - 1) / 2 / 0.5 = 3, forward (4 - 2) / 0.5 = 4, none 0
    np.testing.assert_allclose(g, [3.0, 4.0, 0.0])


def test_flat_or_missing_gradients_do_not_move_and_steps_are_clipped():
    sdf = np.array([0.03, 0.03, 0.5, np.nan])
    grad = np.array([[0.0, 0.0, 0.0], [0.0, MIN_GRADIENT_NORM * 0.9, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    step = newton_step(sdf, grad, max_step_m=0.1)
    np.testing.assert_allclose(step[[0, 1, 3]], 0.0)
    np.testing.assert_allclose(step[2], [-0.1, 0.0, 0.0])  # 0.5 m wanted, clipped to 0.1


def test_surface_points_land_on_a_tilted_plane_along_its_normal():
    m, n = _plane_map([1.0, 2.0, 2.0], 0.2)
    surface = np.nonzero(m.surface_mask())[0]
    # voxels on the block's faces have one-sided differences: exact too for a linear field
    pts = m.surface_points(surface)
    np.testing.assert_allclose(pts @ n, 0.2, atol=1e-6)
    np.testing.assert_allclose(np.cross(pts - m.centers_m()[surface], n), 0.0, atol=1e-6)  # the foot point


def test_stretched_sdf_is_undone_by_the_squared_norm():
    """A projective TSDF (distance along rays at an angle) is the true SDF times 1 / cos > 1, with a gradient
    longer by the same factor: 1.2 and 1.74 (35 and 55 degrees)."""
    for stretch in (1.2, 1.74):
        m, _ = _plane_map([0.0, 0.0, 1.0], 0.1, stretch=stretch)
        surface = np.nonzero(m.surface_mask())[0]
        np.testing.assert_allclose(m.surface_points(surface)[:, 2], 0.1, atol=1e-6)


def test_unobserved_neighbours_are_not_read_and_lone_voxels_stay():
    m, _ = _plane_map([0.0, 0.0, 1.0], 0.1)
    lone = VoxelMap(3, VOXEL_M)
    lone.integrate(np.array([[1, 2, 3]]), [0.01], [1.0], np.zeros((1, 3)))
    np.testing.assert_allclose(lone.surface_points(), [[0.04, 0.08, 0.12]])
    assert m.surface_points(np.zeros(0, np.int64)).shape == (0, 3)
    # one missing neighbour (a hole in the map) falls back to the one-sided difference
    keep = np.ones(len(m), bool)
    keep[np.nonzero((m.ijk() == [2, 2, 3]).all(axis=1))[0]] = False
    m._keep(keep)
    idx = np.nonzero((m.ijk() == [2, 2, 2]).all(axis=1))[0]
    np.testing.assert_allclose(m.surface_points(idx)[:, 2], 0.1, atol=1e-6)
