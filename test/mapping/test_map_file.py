import dataclasses

import numpy as np
import pytest

from gnesf_ros.classes import ClassList
from gnesf_ros.errors import MapFileError
from gnesf_ros.mapping import Mapper, MapperConfig
from gnesf_ros.mapping.voxel_map import VoxelArrays
from mapping_fixtures import FakeModel, plane_sequence, small_class_list


CONFIG = MapperConfig(voxel_size_m=0.1, max_depth_m=2.0, max_volume_dims=48, window_size=3, image_width_px=0,
                      tsdf_trunc_m=0.2, max_keyframes=20, render_num_views=3)


def mapped(config: MapperConfig = CONFIG) -> Mapper:
    m = Mapper(config, model=FakeModel(), class_list=small_class_list())
    for f in plane_sequence(6):
        m.add_frame(f)
    m.flush()
    assert len(m.map) > 0
    return m


@pytest.fixture(scope="module")
def map_bytes() -> bytes:
    return mapped().to_bytes()


@pytest.fixture
def mapper(map_bytes) -> Mapper:
    """A mapper holding the plane map (built once per module, restored from its bytes)."""
    m = Mapper(CONFIG, model=FakeModel(), class_list=small_class_list())
    m.from_bytes(map_bytes)
    return m


def fresh(mapper: Mapper) -> Mapper:
    return Mapper(mapper.config, model=FakeModel(), class_list=mapper.class_list)


def test_save_load_save_is_byte_identical(tmp_path, mapper):
    a, b = tmp_path / "a.gmap", tmp_path / "b.gmap"
    mapper.save(a)
    other = fresh(mapper)
    other.load(a)
    other.save(b)
    assert a.read_bytes() == b.read_bytes()
    np.testing.assert_array_equal(other.semantic_points().xyz, mapper.semantic_points().xyz)
    assert other.stats()["voxels"] == len(mapper.map)


@pytest.mark.parametrize("damage, cause", [
    (lambda b: b[:len(b) // 2], "truncated"),
    (lambda b: b[:5], "truncated"),
    (lambda b: b"", "truncated"),
    (lambda b: b"PK\x03\x04" + b[4:], "not a gnesf_ros map file"),
    (lambda b: b[:-40] + bytes([b[-40] ^ 1]) + b[-39:], "checksum mismatch"),
    (lambda b: b[:8] + b"\x07\x00\x00\x00" + b[12:], "format version 7"),
    (lambda b: b + b"x", "trailing bytes"),
])
def test_bad_files_raise_and_keep_the_map(tmp_path, mapper, damage, cause):
    good = tmp_path / "good.gmap"
    mapper.save(good)
    bad = tmp_path / "bad.gmap"
    bad.write_bytes(damage(good.read_bytes()))
    before = mapper.to_bytes()
    with pytest.raises(MapFileError, match=rf"bad\.gmap: (\d+ unexpected )?{cause}"):
        mapper.load(bad)
    assert mapper.to_bytes() == before


def test_missing_file_and_other_classes(tmp_path, mapper):
    with pytest.raises(MapFileError, match="missing.gmap"):
        mapper.load(tmp_path / "missing.gmap")
    path = tmp_path / "m.gmap"
    mapper.save(path)
    other_classes = ClassList(names=("w", "x", "y", "z"), colors_rgb=small_class_list().colors_rgb)
    other = Mapper(mapper.config, model=FakeModel(), class_list=other_classes)
    with pytest.raises(MapFileError, match="saved with classes"):
        other.load(path)
    assert len(other.map) == 0


def test_other_semantic_fusion_is_refused(tmp_path, mapper):
    """Log evidence ("bayes") and averaged probabilities ("mean") cannot be mixed in one map."""
    path = tmp_path / "m.gmap"
    mapper.save(path)
    other = Mapper(dataclasses.replace(mapper.config, semantic_fusion="mean"), model=FakeModel(),
                   class_list=mapper.class_list)
    with pytest.raises(MapFileError, match="semantic_fusion 'bayes'"):
        other.load(path)
    assert len(other.map) == 0


def test_export_ply(tmp_path, mapper):
    path = tmp_path / "map.ply"
    n = mapper.export_ply(path)
    blob = path.read_bytes()
    end = blob.index(b"end_header\n") + len(b"end_header\n")
    header = blob[:end].decode("ascii")
    assert f"element vertex {n}" in header and "property ushort label" in header
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"),
                      ("label", "<u2"), ("confidence", "<f4")])
    v = np.frombuffer(blob[end:], dtype=dtype)
    pts = mapper.semantic_points()
    assert len(v) == n == len(pts)
    np.testing.assert_array_equal(v["label"], pts.label)
    np.testing.assert_array_equal(np.stack([v["red"], v["green"], v["blue"]], 1), pts.rgb)


def test_clear_and_reset():
    mapper = mapped()
    mapper.clear()
    assert len(mapper.map) == 0 and len(mapper.keyframes) == 0 and len(mapper.semantic_points()) == 0
    assert mapper.stats()["frames"] == 6
    mapper.reset()
    assert mapper.stats()["frames"] == 0


def test_depth_hits_round_trip_and_old_files_load_without_them(tmp_path, monkeypatch):
    """A depth-geometry map keeps its depth hits (the published cloud) through save and load; a file saved before
    the hit arrays existed still loads, as a map without hits whose cloud is the TSDF surface."""
    depth = dataclasses.replace(CONFIG, geometry_source="depth")
    mapper = mapped(depth)
    assert np.any(mapper.map.data.hit_count > 0)
    path = tmp_path / "hits.gmap"
    mapper.save(path)
    other = Mapper(depth, model=FakeModel(), class_list=small_class_list())
    other.load(path)
    for name in VoxelArrays.FIELDS:
        np.testing.assert_array_equal(getattr(other.map.data, name), getattr(mapper.map.data, name))
    np.testing.assert_array_equal(other.semantic_points().xyz, mapper.semantic_points().xyz)

    old_fields = tuple(f for f in VoxelArrays.FIELDS if f not in VoxelArrays.OPTIONAL_FIELDS)
    monkeypatch.setattr(VoxelArrays, "FIELDS", old_fields)
    old = tmp_path / "old.gmap"
    mapper.save(old)
    assert b"hit_count" not in old.read_bytes()
    monkeypatch.undo()
    other.load(old)
    assert len(other.map) == len(mapper.map) and not np.any(other.map.data.hit_count)
    np.testing.assert_array_equal(other.map.data.prob_sum, mapper.map.data.prob_sum)
    # without hits the cloud falls back to the TSDF surface, as with depth_hit_points off
    tsdf_cloud = Mapper(dataclasses.replace(depth, depth_hit_points=False), model=FakeModel(),
                        class_list=small_class_list())
    tsdf_cloud.load(old)
    assert len(other.semantic_points()) > 0
    np.testing.assert_array_equal(other.semantic_points().xyz, tsdf_cloud.semantic_points().xyz)
