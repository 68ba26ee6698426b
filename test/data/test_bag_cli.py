"""`gnesf-bag`: argument parsing hands off to the converters and returns exit codes."""
from __future__ import annotations

import pytest

from gnesf_ros.cli.bag import main
from gnesf_ros.data.bag import read_frames_from_bag

from scannet_fixtures import make_tiny_scan, write_exported_scan, write_tsv


def test_scannet_folder_to_bag(tmp_path, capsys):
    folder = write_exported_scan(tmp_path / "scan", make_tiny_scan())
    tsv = write_tsv(tmp_path / "t.tsv")
    rc = main(["scannet", str(folder), str(tmp_path / "bag"), "--semantics", "truth", "--tsv", str(tsv),
               "--every", "2", "--format", "sqlite3", "--quiet"])
    assert rc == 0
    # --every 2 keeps frames 0 and 2; frame 2 has a -inf pose
    out = capsys.readouterr().out
    assert "wrote 1 frame(s)" in out and "1 skipped (invalid pose)" in out
    assert [b.frame.stamp_ns for b in read_frames_from_bag(tmp_path / "bag")] == [1_000_000_000]


def test_missing_tsv_exit_code(tmp_path, capsys):
    folder = write_exported_scan(tmp_path / "scan", make_tiny_scan())
    rc = main(["scannet", str(folder), str(tmp_path / "bag"), "--semantics", "truth", "--tsv", str(tmp_path / "x.tsv"),
               "--quiet"])
    assert rc == 1
    assert "label table not found" in capsys.readouterr().err


def test_synthetic_to_bag(tmp_path):
    pytest.importorskip("gnesf_ros.data.synthetic", reason="synthetic scene generator not in this checkout")
    assert main(["synthetic", "--seed", "3", str(tmp_path / "bag"), "--frames", "2", "--height", "24", "--width", "32",
                 "--quiet"]) == 0
    frames = list(read_frames_from_bag(tmp_path / "bag"))
    assert len(frames) == 2 and frames[0].truth_labels.shape == (24, 32)


def test_synthetic_realistic_style_bag_carries_the_sensor_depth(tmp_path):
    from gnesf_ros.data.synthetic import SyntheticScan

    assert main(["synthetic", "--seed", "3", str(tmp_path / "bag"), "--frames", "2", "--height", "24", "--width", "32",
                 "--style", "realistic", "--quiet"]) == 0
    got = list(read_frames_from_bag(tmp_path / "bag"))
    frame, view = SyntheticScan(3, 2, 24, 32, style="realistic").frame(1)
    depth = got[1].frame.depth_m
    # the bag holds the sensor's depth (millimetres, 0 = hole), not the exact truth
    assert abs(depth - frame.depth_m).max() <= 0.0006 and ((depth == 0) == (frame.depth_m == 0)).all()
    assert (got[1].truth_labels == view.labels).all()
    assert ((view.depth_m > 0) & (depth == 0)).any()
def _topics(bag) -> dict[str, int]:
    from rosbags.highlevel import AnyReader

    with AnyReader([bag]) as reader:
        return {c.topic: c.msgcount for c in reader.connections}


def test_scannet_without_labels_semantics_none_and_period(tmp_path, capsys):
    """A scan without label images (the test split, a user's recording): colour, depth, camera_info and poses only,
    stamped at the given period (frame i at 1 s + i * period)."""
    import shutil

    folder = write_exported_scan(tmp_path / "scan", make_tiny_scan(bad_pose=()))
    for labels in folder.glob("label*"):
        shutil.rmtree(labels) if labels.is_dir() else labels.unlink()
    assert main(["scannet", str(folder), str(tmp_path / "refused"), "--quiet"]) == 1  # noise needs labels
    assert "needs ScanNet label images" in capsys.readouterr().err
    assert main(["scannet", str(folder), str(tmp_path / "bag"), "--semantics", "none", "--period-s", "0.2",
                 "--every", "2", "--quiet"]) == 0
    assert "semantics: none" in capsys.readouterr().out
    assert _topics(tmp_path / "bag") == {"/tf_static": 1, "/color/image": 2, "/color/camera_info": 2,
                                         "/depth/image": 2, "/pose": 2, "/tf": 2}
    from rosbags.highlevel import AnyReader

    with AnyReader([tmp_path / "bag"]) as reader:
        (conn,) = [c for c in reader.connections if c.topic == "/color/image"]
        stamps = [t for _, t, _ in reader.messages(connections=[conn])]
    assert stamps == [1_000_000_000, 1_400_000_000]  # frames 0 and 2 of the scan, 0.2 s apart each
    assert main(["scannet", str(folder), str(tmp_path / "bad"), "--semantics", "none", "--period-s", "0",
                 "--quiet"]) == 1
    assert "period_s must be > 0, got 0.0" in capsys.readouterr().err


def test_synthetic_semantics_none(tmp_path):
    pytest.importorskip("gnesf_ros.data.synthetic", reason="synthetic scene generator not in this checkout")
    assert main(["synthetic", "--seed", "3", str(tmp_path / "bag"), "--frames", "2", "--height", "24", "--width", "32",
                 "--semantics", "none", "--quiet"]) == 0
    assert set(_topics(tmp_path / "bag")) == {"/tf_static", "/color/image", "/color/camera_info", "/depth/image",
                                              "/pose", "/tf"}
    with pytest.raises(Exception, match="has no topic /semantic/image"):
        list(read_frames_from_bag(tmp_path / "bag"))
