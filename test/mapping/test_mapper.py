import numpy as np
import pytest

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError, MapFileError
from gnesf_ros.mapping import Mapper, MapperConfig
from mapping_fixtures import HEIGHT, K_SMALL, WIDTH, FakeModel, downward_pose, label_at, plane_frame, plane_sequence

VOXEL = 0.1


def config(**overrides) -> MapperConfig:
    values = dict(voxel_size_m=VOXEL, max_depth_m=2.0, max_volume_dims=48, window_size=3, image_width_px=0,
                  tsdf_trunc_m=0.2, max_keyframes=20, render_num_views=3)
    values.update(overrides)
    return MapperConfig(**values)


def run(mapper: Mapper, frames) -> list:
    updates = [mapper.add_frame(f) for f in frames]
    updates.append(mapper.flush())
    return updates


@pytest.mark.parametrize("geometry_source", ["learned", "depth"])
def test_plane_end_to_end(geometry_source, class_list, fake_model):
    mapper = Mapper(config(geometry_source=geometry_source), model=fake_model, class_list=class_list)
    updates = run(mapper, plane_sequence(8))
    assert [u.is_keyframe for u in updates[:-1]] == [True] * 8
    assert [u.fragment_fused for u in updates] == [False, False, True, False, False, True, False, False, True]
    assert {"volume", "encode", "query", "fusion"} <= set(updates[2].timings)
    pts = mapper.semantic_points()
    assert len(pts) > 100
    assert np.all(np.abs(pts.xyz[:, 2]) < VOXEL + 1e-6)  # surface voxels hug the plane z = 0
    off_boundary = np.abs(pts.xyz[:, 0]) > 0.15
    np.testing.assert_array_equal(pts.label[off_boundary], label_at(pts.xyz[off_boundary, 0]))
    assert np.all((pts.confidence > 0.5) & (pts.confidence <= 1.0))
    np.testing.assert_array_equal(pts.rgb, class_list.colorize(pts.label))
    stats = mapper.stats()
    assert stats["frames"] == 8 and stats["keyframes"] == 8 and stats["fragments"] == 3
    assert stats["voxels"] == len(mapper.map) and stats["pending_keyframes"] == 0
    assert stats["seconds"]["fusion"] > 0


def test_semantic_points_are_surface_voxels_only(class_list):
    mapper = Mapper(config(tsdf_trunc_m=0.35), model=FakeModel(trunc_m=0.35), class_list=class_list)
    run(mapper, plane_sequence(6))
    all_z = mapper.map.centers_m()[:, 2]
    assert np.any(np.abs(all_z) > 2.5 * VOXEL)  # the map holds voxels of the truncation band off the surface
    pts = mapper.semantic_points()
    assert len(pts) < len(mapper.map) and np.all(np.abs(pts.xyz[:, 2]) < VOXEL + 1e-6)
    assert np.any(np.abs(pts.xyz[:, 2]) < 1e-6)


def test_non_keyframes_are_cheap(class_list, fake_model):
    mapper = Mapper(config(fuse_all_frames=False), model=fake_model, class_list=class_list)
    mapper.add_frame(plane_frame(0.0))
    update = mapper.add_frame(plane_frame(0.05))
    assert not update.is_keyframe and not update.fragment_fused and set(update.timings) == {"keyframe"}
    assert len(mapper.keyframes) == 1 and mapper.stats()["frames"] == 2 and fake_model.encode_calls == 0


def test_deterministic(class_list):
    blobs = []
    for _ in range(2):
        mapper = Mapper(config(), model=FakeModel(), class_list=class_list)
        run(mapper, plane_sequence(7))
        blobs.append(mapper.to_bytes())
    assert blobs[0] == blobs[1]


def test_max_keyframes_and_max_voxels_enforced_and_reported(class_list, fake_model):
    mapper = Mapper(config(max_keyframes=4, max_voxels=300), model=fake_model, class_list=class_list)
    run(mapper, plane_sequence(8))
    stats = mapper.stats()
    assert stats["cached_keyframes"] == 4 and stats["dropped_keyframes"] == 4
    assert stats["voxels"] == 300 and stats["dropped_voxels"] > 0
    # the kept voxels are the ones nearest the last window's camera
    camera = downward_pose(-0.5 + 7 * 0.15)[:3, 3]
    kept = np.linalg.norm(mapper.map.centers_m() - camera, axis=1).max()
    assert kept < 2.5


def test_clearing_radius(class_list, fake_model):
    mapper = Mapper(config(map_clearing_radius_m=2.0), model=fake_model, class_list=class_list)
    run(mapper, plane_sequence(8))
    camera = downward_pose(-0.5 + 7 * 0.15)[:3, 3]
    assert np.linalg.norm(mapper.map.centers_m() - camera, axis=1).max() <= 2.0


def test_depth_mode_needs_depth(class_list, fake_model):
    mapper = Mapper(config(geometry_source="depth"), model=fake_model, class_list=class_list)
    with pytest.raises(InputError, match="no depth image"):
        mapper.add_frame(plane_frame(0.0, with_depth=False))
    assert mapper.stats()["frames"] == 0


def test_wrong_class_count_is_rejected():
    from mapping_fixtures import small_class_list
    from gnesf_ros.classes import ClassList
    cl = ClassList(names=("a", "b"), colors_rgb=small_class_list().colors_rgb[:2])
    mapper = Mapper(config(), model=FakeModel(num_classes=2), class_list=cl)
    with pytest.raises(InputError, match="expected 2 semantic channels, got 4"):
        mapper.add_frame(plane_frame(0.0))


def test_render_novel_view(class_list, fake_model):
    mapper = Mapper(config(), model=fake_model, class_list=class_list)
    empty = mapper.render(K_SMALL, downward_pose(0.0), HEIGHT, WIDTH)
    assert np.all(empty.label == IGNORE_ID) and np.all(empty.depth_m == 0)
    run(mapper, plane_sequence(8))
    T = downward_pose(0.3, 0.1, 1.2)  # a pose no frame had
    out = mapper.render(K_SMALL, T, HEIGHT, WIDTH)
    assert out.label.shape == (HEIGHT, WIDTH) and out.label.dtype == np.uint16
    assert out.rgb.shape == (HEIGHT, WIDTH, 3) and out.confidence.dtype == np.float32
    known = out.label != IGNORE_ID
    assert known.mean() > 0.5
    np.testing.assert_allclose(out.depth_m[known], 1.2, atol=1e-4)
    u = np.arange(WIDTH)
    x = 0.3 + (u - K_SMALL[0, 2]) / K_SMALL[0, 0] * 1.2
    expected = np.repeat(label_at(x)[None], HEIGHT, axis=0)
    clear = known & (np.abs(np.repeat(x[None], HEIGHT, axis=0)) > 0.15)
    np.testing.assert_array_equal(out.label[clear], expected[clear])


def test_missing_checkpoint_is_a_clear_error(tmp_path, class_list):
    with pytest.raises(MapFileError, match="no model checkpoint at .*nope.pt"):
        Mapper(config(checkpoint=str(tmp_path / "nope.pt")), class_list=class_list)


def test_render_fills_unknown_pixels_from_the_fused_map(class_list, fake_model):
    """A view rendered with the keyframe cache emptied (as after loading a map file) is drawn from the fused
    map alone; with render_fill_from_map off it stays unknown. Labels match the plane's truth."""
    mapper = Mapper(config(), model=fake_model, class_list=class_list)
    run(mapper, plane_sequence(8))
    mapper.keyframes.clear()
    T = downward_pose(0.3, 0.0, 1.2)
    out = mapper.render(K_SMALL, T, HEIGHT, WIDTH)
    known = out.label != IGNORE_ID
    assert known.mean() > 0.5
    assert np.all(out.depth_m[known] > 1.0) and np.all(out.depth_m[known] < 1.4)
    assert np.all(out.confidence[known] > 0) and np.all(out.confidence[~known] == 0)
    u = np.arange(WIDTH)
    x = 0.3 + (u - K_SMALL[0, 2]) / K_SMALL[0, 0] * 1.2
    expected = np.repeat(label_at(x)[None], HEIGHT, axis=0)
    clear = known & (np.abs(np.repeat(x[None], HEIGHT, axis=0)) > 0.15)
    assert clear.sum() > 20
    np.testing.assert_array_equal(out.label[clear], expected[clear])
    np.testing.assert_array_equal(out.rgb[known], class_list.colorize(out.label)[known])
    off = Mapper(config(render_fill_from_map=False), model=fake_model, class_list=class_list)
    off.map.data = mapper.map.data
    assert np.all(off.render(K_SMALL, T, HEIGHT, WIDTH).label == IGNORE_ID)


def test_frames_between_keyframes_join_their_window(class_list):
    model = FakeModel()
    mapper = Mapper(config(geometry_source="depth", keyframe_min_translation_m=0.19), model=model, class_list=class_list)
    frames = plane_sequence(12, step_m=0.1)  # keyframes at every other frame
    updates = run(mapper, frames)
    assert [u.is_keyframe for u in updates[:-1]] == [True, False] * 6
    assert "features" in updates[1].timings  # a non-keyframe now costs its 2D features
    stats = mapper.stats()
    assert stats["keyframes"] == 6 and stats["extra_frames"] == 6 and stats["pending_extra_frames"] == 0
    # windows of 3 keyframes: frames 0-4 (keyframes 0, 2, 4), frames 5-10, and frame 11 alone at the flush,
    # where it builds Eq. 1 itself
    assert model.calls == [(5, 3), (6, 3), (1, 1)]
    assert len(mapper.keyframes) == 6  # extra frames are not cached for rendering


def test_extra_frames_extend_the_depth_map(class_list):
    """One keyframe and frames that travel on: without fuse_all_frames their depth is thrown away."""
    frames = plane_sequence(5, step_m=0.15)
    extents = {}
    for fuse_all in (False, True):
        mapper = Mapper(config(geometry_source="depth", keyframe_min_translation_m=5.0, fuse_all_frames=fuse_all),
                        model=FakeModel(), class_list=class_list)
        run(mapper, frames)
        assert mapper.stats()["keyframes"] == 1
        extents[fuse_all] = mapper.semantic_points().xyz[:, 0].max()
    assert extents[True] > extents[False] + 0.4  # the last frame sits 0.6 m further along x


def test_a_full_window_is_fused_at_the_cap_so_every_frame_votes(class_list):
    """window_overflow "fuse" (default): a camera standing still makes one keyframe; frames 1-4 fill the first
    window (fused at frame 4 with the keyframe), frames 5-8 the second (extra frames only: the first builds Eq. 1),
    and 9-11 wait for the next."""
    model = FakeModel()
    mapper = Mapper(config(max_window_frames=4), model=model, class_list=class_list)
    updates = [mapper.add_frame(plane_frame(0.0, stamp_ns=i)) for i in range(12)]
    assert [i for i, u in enumerate(updates) if u.fragment_fused] == [4, 8]
    assert model.calls == [(5, 1), (4, 1)]
    stats = mapper.stats()
    assert stats["extra_frames"] == 11 and stats["pending_extra_frames"] == 3 and stats["fragments"] == 2
    assert [kf.stamp_ns for kf in mapper._extras] == [9, 10, 11]
    assert mapper.flush().fragment_fused and model.calls[-1] == (3, 1)
    with pytest.raises(ValueError, match="window_overflow"):
        config(window_overflow="drop")


def test_extra_frames_are_thinned_evenly_past_the_cap(class_list):
    mapper = Mapper(config(max_window_frames=4, window_overflow="thin"), model=FakeModel(), class_list=class_list)
    frames = [plane_frame(0.0, stamp_ns=i) for i in range(12)]  # a camera standing still: one keyframe
    for f in frames:
        mapper.add_frame(f)
        assert mapper.stats()["pending_extra_frames"] <= 4
    stamps = [kf.stamp_ns for kf in mapper._extras]  # frames 1..11: every second, then every fourth
    assert stamps == [1, 5, 9]
    mapper.flush()
    assert mapper.stats()["fragments"] == 1 and mapper.stats()["pending_extra_frames"] == 0
    mapper.add_frame(plane_frame(0.0, stamp_ns=20))  # only an extra frame pending: flush still maps it
    assert mapper.flush().fragment_fused


def test_fuse_all_frames_off_keeps_non_keyframes_cheap(class_list, fake_model):
    mapper = Mapper(config(fuse_all_frames=False), model=fake_model, class_list=class_list)
    mapper.add_frame(plane_frame(0.0))
    update = mapper.add_frame(plane_frame(0.05))
    assert set(update.timings) == {"keyframe"} and mapper.stats()["extra_frames"] == 0
