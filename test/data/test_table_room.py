"""scene.table_room(): one rectangular table whose footprint record matches its mesh, in a closed room."""
import numpy as np

from gnesf_ros.data.scene import FLOOR, TABLE, WALL, table_room


def test_table_room_footprint_matches_the_solid_table():
    scene = table_room(table=(2.0, 1.5, 1.2, 0.8, 0.75, np.pi / 2))  # rotated 90 deg: 0.8 along x, 1.2 along y
    table = scene.objects[-1]
    assert table.label == TABLE and table.footprint == (2.0, 1.5, 0.6, 0.4, np.pi / 2)
    assert {o.label for o in scene.objects} == {WALL, FLOOR, TABLE, 255}
    top_z = 0.75 - 0.02  # inside the 4 cm top
    inside = np.array([[2.0, 1.5, top_z], [2.35, 2.05, top_z]])  # centre; near a corner (0.4 - 0.05, 0.6 - 0.05)
    outside = np.array([[2.45, 1.5, top_z], [2.0, 2.15, top_z], [2.0, 1.5, 0.80]])  # past x, past y, above
    assert scene.inside_solid(inside).all() and not scene.inside_solid(outside).any()
    # the walk loop keeps 0.6 m clear of the table's corners
    d = np.hypot(scene.walk_loop[:, 0] - 2.0, scene.walk_loop[:, 1] - 1.5)
    assert np.allclose(d, np.hypot(1.2, 0.8) / 2 + 0.6, atol=1e-5)
