import numpy as np

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.data.scene import LOOP_CLEARANCE_M, _dist_points_obb, _obb_overlap, generate_scene


def test_same_seed_same_scene_different_seed_different_scene():
    a, b, c = generate_scene(7), generate_scene(7), generate_scene(8)
    for name in ("vertices", "triangles", "tri_labels", "tri_object", "base_rgb", "texture", "walk_loop",
                 "room_size_m"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.vertices.shape != c.vertices.shape or not np.array_equal(a.vertices, c.vertices)


def test_mesh_arrays_and_labels(scene):
    assert scene.vertices.dtype == np.float32 and scene.vertices.shape[1] == 3
    assert scene.triangles.dtype == np.int32 and scene.triangles.max() < len(scene.vertices)
    assert scene.tri_labels.dtype == np.uint8 and scene.tri_object.dtype == np.int32
    assert len(scene.tri_labels) == len(scene.triangles) == len(scene.tri_object)
    assert set(np.unique(scene.tri_labels)) <= set(range(20)) | {IGNORE_ID}
    assert {0, 1, IGNORE_ID} <= set(np.unique(scene.tri_labels).tolist())
    lo, hi = scene.bounds
    assert np.all(scene.vertices >= lo - 1e-4) and np.all(scene.vertices <= hi + 1e-4)
    # each object has one label, matching its triangles
    for obj in scene.objects:
        assert set(np.unique(scene.tri_labels[scene.tri_object == obj.object_id])) == {obj.label}
    assert scene.base_rgb.shape == (scene.num_objects, 3)


def test_furniture_on_floor_without_overlap_and_clear_of_walk_loop():
    for seed in (1, 2, 3, 2001):
        sc = generate_scene(seed)
        fps = [o.footprint for o in sc.objects if o.footprint is not None]
        assert 3 <= len(fps) <= 14
        for i, a in enumerate(fps):
            assert _dist_points_obb(sc.walk_loop.astype(np.float64), a).min() >= LOOP_CLEARANCE_M - 1e-6
            for b in fps[i + 1:]:
                assert not _obb_overlap(a, b, 0.0)
        furniture = np.isin(sc.tri_object, [o.object_id for o in sc.objects if o.footprint is not None])
        z = sc.vertices[sc.triangles[furniture].ravel(), 2]
        assert z.min() >= -1e-5 and np.isclose(z.min(), 0.0, atol=0.02)


def test_every_class_appears_in_some_scenes():
    counts = np.zeros(20)
    for seed in range(20):
        for label in generate_scene(seed).labels_present:
            counts[label] += 1
    assert np.all(counts >= 1), counts
    sizes = [generate_scene(s).room_size_m for s in range(5)]
    for L in sizes:
        assert 3.0 <= L[0] <= 7.0 and 3.0 <= L[1] <= 7.0 and 2.5 <= L[2] <= 3.0
