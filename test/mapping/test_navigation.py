"""Navigation layers (gnesf_ros/mapping/navigation.py) on hand-made points: every expected value is worked out by
hand in the comments; bad inputs give clear errors."""
import math

import numpy as np
import pytest

from gnesf_ros.classes import ClassList
from gnesf_ros.config import from_dict
from gnesf_ros.errors import ConfigError, InputError
from gnesf_ros.mapping.navigation import (FREE, MASK_OFF, MASK_ON, OCCUPIED, UNKNOWN, GridSpec, NavigationConfig,
                                          NavigationMaps, class_ids, class_mask, estimate_floor_height,
                                          obstacle_mask, occupancy_grid, topic_token)

WALL, FLOOR, TABLE = 0, 1, 6  # ScanNet-20 ids (config/scannet20.yaml)
TRAV = np.array([FLOOR])


def test_floor_height_is_the_median_of_traversable_points_and_needs_enough_of_them():
    z = np.array([0.0, 0.01, 0.02, 0.75, 5.0, -3.0])
    label = np.array([FLOOR, FLOOR, FLOOR, FLOOR, WALL, WALL])
    # floor z: 0.0, 0.01, 0.02, 0.75 (one mislabelled table point) -> median (0.01 + 0.02) / 2 = 0.015
    assert estimate_floor_height(z, label, TRAV, min_points=4) == pytest.approx(0.015)
    assert estimate_floor_height(z, label, TRAV, min_points=5) is None  # only 4 floor points
    assert estimate_floor_height(z, label, np.array([7]), min_points=1) is None  # no point of that class
    with pytest.raises(InputError, match="differ in shape"):
        estimate_floor_height(z, label[:3], TRAV)


def test_obstacle_mask_drops_traversable_classes_and_keeps_the_height_band_and_radius():
    xyz = np.array([[0.0, 0.0, 0.50],    # floor label: never an obstacle, whatever its height
                    [0.5, 0.0, 0.03],    # wall 0.03 m above the floor (z = 0): below the band
                    [0.5, 0.0, 0.05],    # 0.05 m: the band's lower edge, kept (inclusive)
                    [1.0, 0.0, 1.00],    # 1.0 m: kept
                    [1.0, 0.0, 2.10],    # 2.1 m: above the 2.0 m top
                    [3.0, 4.0, 0.50]])   # 0.5 m high, 5 m from the origin in xy
    label = np.array([FLOOR, WALL, TABLE, TABLE, WALL, TABLE])
    band = [0.05, 2.0]
    got = obstacle_mask(xyz, label, TRAV, 0.0, band)
    assert got.tolist() == [False, False, True, True, False, True]
    # the same points with the floor 1 m higher: only the 2.1 m wall point (1.1 m above it) is in the band
    assert obstacle_mask(xyz, label, TRAV, 1.0, band).tolist() == [False, False, False, False, True, False]
    # within 5 m of (0, 0): sqrt(3^2 + 4^2) = 5 -> kept (<=); within 4.99 m: dropped; z does not count
    assert obstacle_mask(xyz, label, TRAV, 0.0, band, np.zeros(2), 5.0).tolist() == got.tolist()
    assert obstacle_mask(xyz, label, TRAV, 0.0, band, np.array([0.0, 0.0, 100.0]), 4.99)[5] == False  # noqa: E712
    with pytest.raises(InputError, match="radius_m must be > 0"):
        obstacle_mask(xyz, label, TRAV, 0.0, band, np.zeros(2), 0.0)
    with pytest.raises(InputError, match=r"expected xyz \(N, 3\) and label \(N,\)"):
        obstacle_mask(xyz[:, :2], label, TRAV, 0.0, band)


def test_grid_spec_covers_points_on_aligned_cells():
    spec = GridSpec.covering(np.array([[0.12, -0.31], [0.49, 0.05]]), 0.1, pad_cells=1)
    # x: floor(0.12 / 0.1) = 1 -> 0 with padding; floor(0.49 / 0.1) + 1 + 1 = 6 -> 6 columns from x = 0.0
    # y: floor(-0.31 / 0.1) = -4 -> -5; floor(0.05 / 0.1) + 2 = 2 -> 7 rows from y = -0.5
    assert (spec.origin_x_m, spec.origin_y_m, spec.width, spec.height) == (0.0, pytest.approx(-0.5), 6, 7)
    idx, inside = spec.cells(np.array([[0.12, -0.31], [0.49, 0.05], [10.0, 0.0]]))
    # (0.12, -0.31): column 1, row floor((-0.31 + 0.5) / 0.1) = 1 -> 1 * 6 + 1 = 7; (0.49, 0.05): column 4, row 5
    assert idx.tolist() == [7, 5 * 6 + 4] and inside.tolist() == [True, True, False]
    assert spec.centers()[1, 1].tolist() == pytest.approx([0.15, -0.35])
    assert GridSpec.covering(np.zeros((0, 2)), 0.1) is None
    with pytest.raises(InputError, match="more than"):
        GridSpec.covering(np.array([[0.0, 0.0], [1e5, 1e5]]), 0.01)
    with pytest.raises(InputError, match="resolution_m must be > 0"):
        GridSpec.covering(np.zeros((1, 2)), 0.0)


def test_occupancy_grid_free_occupied_unknown_with_occupied_winning():
    spec = GridSpec(0.0, 0.0, 1.0, 3, 2)  # 3 x 2 cells of 1 m
    xyz = np.array([[0.5, 0.5, 0.0],    # floor in cell (row 0, col 0) -> free
                    [1.5, 0.5, 0.0],    # floor in (0, 1) ...
                    [1.6, 0.4, 0.7],    # ... and a table point over it -> occupied
                    [2.5, 1.5, 3.0],    # wall 3 m up, above the band, in (1, 2): not an obstacle, not free
                    [0.5, 1.5, 2.5]])   # floor-labelled point 2.5 m up (above the band): does not free (1, 0)
    label = np.array([FLOOR, FLOOR, TABLE, WALL, FLOOR])
    grid = occupancy_grid(xyz, label, spec, TRAV, 0.0, [0.05, 2.0])
    assert grid.dtype == np.int8
    assert grid.tolist() == [[FREE, OCCUPIED, UNKNOWN], [UNKNOWN, UNKNOWN, UNKNOWN]]


def test_class_mask_marks_the_class_at_any_height_and_nothing_unknown():
    spec = GridSpec(-1.0, 0.0, 0.5, 4, 1)  # cells [-1, -0.5), [-0.5, 0), [0, 0.5), [0.5, 1)
    xyz = np.array([[-0.75, 0.2, 0.7], [0.1, 0.2, 0.01], [0.9, 0.2, 0.0], [5.0, 0.2, 0.7]])  # last: off the grid
    label = np.array([TABLE, TABLE, FLOOR, TABLE])
    assert class_mask(xyz, label, spec, TABLE).tolist() == [[MASK_ON, MASK_OFF, MASK_ON, MASK_OFF]]
    assert class_mask(xyz, label, spec, 3).tolist() == [[MASK_OFF] * 4]


def test_navigation_maps_layers_share_one_grid_and_use_the_configured_floor():
    classes = ClassList.from_yaml()
    cfg = NavigationConfig(grid_resolution_m=1.0, floor_height_m=0.5, mask_classes=["table"])
    maps = NavigationMaps(cfg, classes)
    xyz = np.array([[0.5, 0.5, 0.5], [1.5, 0.5, 1.0]])
    label = np.array([FLOOR, TABLE])
    layers = maps.layers(xyz, label)
    # floor fixed at 0.5 m: the table point is 0.5 m up -> occupied; one cell of padding on every side
    assert layers.floor_z_m == 0.5 and (layers.spec.width, layers.spec.height) == (4, 3)
    assert layers.occupancy.tolist() == [[UNKNOWN] * 4, [UNKNOWN, FREE, OCCUPIED, UNKNOWN], [UNKNOWN] * 4]
    assert layers.masks["table"].tolist() == [[0] * 4, [0, 0, 100, 0], [0] * 4]
    # estimated floor, too few floor points: no occupancy, the masks still come
    est = NavigationMaps(NavigationConfig(grid_resolution_m=1.0, mask_classes=["table"]), classes).layers(xyz, label)
    assert est.floor_z_m is None and est.occupancy is None and "table" in est.masks
    assert maps.layers(np.zeros((0, 3)), np.zeros(0, np.uint16)).spec is None


def test_class_names_resolve_to_ids_and_topic_tokens():
    classes = ClassList.from_yaml()
    assert class_ids(["floor", "table"], classes, "x").tolist() == [FLOOR, TABLE]
    with pytest.raises(ConfigError, match=r"mask_classes: unknown class name\(s\) \['tabel'\]"):
        NavigationMaps(NavigationConfig(mask_classes=["tabel"]), classes)
    assert topic_token("shower curtain") == "shower_curtain" and topic_token("2d-thing") == "_2d_thing"


@pytest.mark.parametrize("values,match", [
    ({"obstacle_rate_hz": 0}, "obstacle_rate_hz must be a finite number > 0"),
    ({"grid_resolution_m": -0.05}, "grid_resolution_m must be a finite number > 0"),
    ({"obstacle_radius_m": math.inf}, "obstacle_radius_m must be a finite number > 0"),
    ({"obstacle_height_range_m": [2.0, 0.05]}, r"obstacle_height_range_m must be \[min, max\]"),
    ({"obstacle_height_range_m": [0.1]}, r"obstacle_height_range_m must be \[min, max\]"),
    ({"floor_height_m": math.inf}, "floor_height_m must be finite or .nan"),
    ({"mask_classes": ["table", "table"]}, "mask_classes lists a class twice"),
    ({"traversable_classes": "floor"}, "traversable_classes: expected a list"),
])
def test_bad_navigation_parameters(values, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(NavigationConfig, values, "gnesf_mapping")
