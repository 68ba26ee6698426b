"""ScanNet reader: .sens and exported folder agree; labels map to ScanNet-20; invalid poses are skipped."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from gnesf_ros.data.scannet import (NYU40_TO_SCANNET20, ScanNetScan, load_label_map, map_raw_labels,
                                    nyu40_to_scannet20, read_labels_ply)
from gnesf_ros.data.sens import SensReader
from gnesf_ros.errors import DataError

from scannet_fixtures import (COLOR_HW, DEPTH_HW, K_COLOR, make_tiny_scan, write_exported_scan, write_sens_scan,
                               write_tsv)

# NYU40 class (id, name) -> ScanNet-20 id, written out by hand from the ScanNet benchmark class list.
HAND_TABLE = [
    (1, "wall", 0), (2, "floor", 1), (3, "cabinet", 2), (4, "bed", 3), (5, "chair", 4), (6, "sofa", 5),
    (7, "table", 6), (8, "door", 7), (9, "window", 8), (10, "bookshelf", 9), (11, "picture", 10),
    (12, "counter", 11), (14, "desk", 12), (16, "curtain", 13), (24, "refrigerator", 14),
    (28, "shower curtain", 15), (33, "toilet", 16), (34, "sink", 17), (36, "bathtub", 18),
    (39, "otherfurniture", 19),
]


@pytest.fixture()
def scan_paths(tmp_path):
    scan = make_tiny_scan()
    sens = write_sens_scan(tmp_path / "raw", scan)
    folder = write_exported_scan(tmp_path / "exported", scan)
    tsv = write_tsv(tmp_path / "scannetv2-labels.combined.tsv")
    return scan, sens, folder, tsv


def test_nyu40_to_scannet20_matches_hand_table():
    ids = np.arange(0, 41)
    got = nyu40_to_scannet20(ids)
    expected = np.full(41, 255, dtype=np.uint8)
    for nyu, _, s20 in HAND_TABLE:
        expected[nyu] = s20
    np.testing.assert_array_equal(got, expected)
    assert len(NYU40_TO_SCANNET20) == 20 and sorted(NYU40_TO_SCANNET20.values()) == list(range(20))


def test_raw_ids_through_tsv(tmp_path):
    table = load_label_map(write_tsv(tmp_path / "l.tsv"))
    raw = np.array([[0, 1, 2, 3], [5, 21, 40, 13], [999, 7, 1, 1]])
    # 1->nyu1 wall 0, 2->nyu5 chair 4, 3->nyu7 table 6, 5->nyu2 floor 1, 21->nyu39 19, 40->nyu40 ignore,
    # 13->nyu13 (pillow, not a benchmark class) ignore, 0/999/7 not in the table -> ignore
    np.testing.assert_array_equal(map_raw_labels(raw, table),
                                  [[255, 0, 4, 6], [1, 19, 255, 255], [255, 255, 0, 0]])


def test_missing_tsv_is_a_data_error(scan_paths, tmp_path):
    _, sens, _, _ = scan_paths
    with pytest.raises(DataError, match="label table not found: .*nope.tsv"):
        ScanNetScan(sens, tsv_path=tmp_path / "nope.tsv", semantics="truth")
    with pytest.raises(DataError, match="need scannetv2-labels.combined.tsv"):
        ScanNetScan(sens, tsv_path=None, semantics="truth")


def test_sens_header_and_streaming(scan_paths):
    scan, sens, _, _ = scan_paths
    with SensReader(sens) as r:
        assert len(r) == 4
        assert (r.header.color_height, r.header.color_width) == COLOR_HW
        assert (r.header.depth_height, r.header.depth_width) == DEPTH_HW
        f = r.frame(1)
        assert f.color_bytes == scan.jpegs[1]
        np.testing.assert_array_equal(f.depth_raw, scan.depths[1])
        np.testing.assert_array_equal(f.T_world_cam, scan.poses[1])


def test_sens_and_folder_give_identical_frames(scan_paths):
    scan, sens, folder, tsv = scan_paths
    with ScanNetScan(sens, tsv_path=tsv, semantics="truth") as a, ScanNetScan(folder, tsv_path=tsv, semantics="truth") as b:
        fa, fb = list(a), list(b)
        assert a.skipped_invalid_pose == 1 and b.skipped_invalid_pose == 1
        assert a.info.source == "sens" and b.info.source == "folder" and a.info.semantics == "truth"
    assert [x.index for x in fa] == [x.index for x in fb] == [0, 1, 3]
    for x, y in zip(fa, fb):
        np.testing.assert_array_equal(x.frame.rgb, y.frame.rgb)
        np.testing.assert_array_equal(x.frame.depth_m, y.frame.depth_m)
        np.testing.assert_array_equal(x.frame.K, y.frame.K)
        np.testing.assert_array_equal(x.frame.T_map_cam, y.frame.T_map_cam)
        np.testing.assert_array_equal(x.truth_labels, y.truth_labels)
        np.testing.assert_array_equal(x.frame.probs, y.frame.probs)
        assert x.frame.stamp_ns == y.frame.stamp_ns
        x.frame.validate(20)
    # geometry of the output: colour resized to the depth resolution, K scaled, depth unchanged (same camera)
    f0 = fa[0]
    assert f0.frame.rgb.shape == DEPTH_HW + (3,)
    sx, sy = DEPTH_HW[1] / COLOR_HW[1], DEPTH_HW[0] / COLOR_HW[0]  # pixel centres aligned: c' = (c + 0.5) s - 0.5
    np.testing.assert_allclose(f0.frame.K, [[K_COLOR[0, 0] * sx, 0.0, (K_COLOR[0, 2] + 0.5) * sx - 0.5],
                                            [0.0, K_COLOR[1, 1] * sy, (K_COLOR[1, 2] + 0.5) * sy - 0.5],
                                            [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(f0.frame.depth_m, scan.depths[0].astype(np.float32) / 1000.0)
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(scan.jpegs[0], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(f0.frame.rgb, cv2.resize(decoded, DEPTH_HW[::-1], interpolation=cv2.INTER_AREA))
    # truth: raw labels mapped, then nearest-resized; column blocks of 10 px -> 5 px
    assert f0.truth_labels.dtype == np.uint8 and set(np.unique(f0.truth_labels)) <= {0, 4, 6, 1, 19, 255}
    assert f0.truth_labels[0, 0] == 0 and f0.truth_labels[0, 6] == 4


def test_invalid_poses_are_never_yielded(tmp_path):
    scan = make_tiny_scan(num_frames=5, bad_pose=(0, 3))
    scan.poses[4][1, 1] = np.nan
    sens = write_sens_scan(tmp_path / "s", scan)
    with ScanNetScan(sens, tsv_path=write_tsv(tmp_path / "t.tsv"), semantics="truth") as s:
        assert [f.index for f in s] == [1, 2]
        assert s.skipped_invalid_pose == 3


def test_every_and_full_resolution(scan_paths):
    _, sens, _, tsv = scan_paths
    with ScanNetScan(sens, tsv_path=tsv, semantics="truth", every=3, image_size=COLOR_HW) as s:
        frames = list(s)
    assert [f.index for f in frames] == [0, 3]
    assert frames[0].frame.rgb.shape == COLOR_HW + (3,) and frames[0].frame.depth_m.shape == COLOR_HW
    np.testing.assert_allclose(frames[0].frame.K, K_COLOR)


def test_prediction_folder(scan_paths, tmp_path):
    _, sens, _, _ = scan_paths
    preds = tmp_path / "preds"
    preds.mkdir()
    for i in range(4):
        lab = np.full(COLOR_HW, 3, np.uint8)
        lab[:, :10] = 255
        cv2.imwrite(str(preds / f"{i:06d}.png"), lab)
    probs = np.random.default_rng(0).random((20,) + DEPTH_HW).astype(np.float32)
    np.save(preds / "000001.npy", probs)
    with ScanNetScan(sens, semantics=preds) as s:  # no tsv needed: truth is optional here
        frames = list(s)
        assert s.info.semantics == f"predictions:{preds}" and not s.info.has_truth_labels
    assert frames[0].truth_labels is None
    p0 = frames[0].frame.probs
    assert p0.shape == DEPTH_HW + (20,) and p0[0, 0].sum() == 0 and p0[0, 10, 3] == 1.0
    np.testing.assert_array_equal(frames[1].frame.probs, np.transpose(probs, (1, 2, 0)))
    with pytest.raises(DataError, match="is not a folder"):
        ScanNetScan(sens, semantics=tmp_path / "absent")


def test_noise_semantics(scan_paths):
    pytest.importorskip("gnesf_ros.data.segmenter_noise", reason="segmenter-noise model not in this checkout")
    _, sens, _, tsv = scan_paths
    with ScanNetScan(sens, tsv_path=tsv, semantics="noise", noise_seed=1) as s:
        frames = list(s)
        assert s.info.semantics == "noise"
    assert frames[0].frame.probs.shape == DEPTH_HW + (20,)
    frames[0].frame.validate(20)


def test_truncated_and_foreign_sens(scan_paths, tmp_path):
    _, sens, _, _ = scan_paths
    data = sens.read_bytes()
    cut = tmp_path / "cut.sens"
    cut.write_bytes(data[: len(data) - 100])
    with pytest.raises(DataError, match=r"cut.sens: truncated inside frame 3 of 4"):
        SensReader(cut)
    bad = tmp_path / "bad.sens"
    bad.write_bytes(struct.pack("<I", 3) + data[4:])
    with pytest.raises(DataError, match="version field 3"):
        SensReader(bad)


def test_labels_ply(tmp_path):
    verts = np.zeros(4, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"),
                               ("blue", "u1"), ("alpha", "u1"), ("label", "<u2")])
    verts["x"] = [0, 1, 2, 3]
    verts["label"] = [1, 39, 40, 0]
    header = ("ply\nformat binary_little_endian 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
              "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
              "property uchar alpha\nproperty ushort label\nelement face 0\n"
              "property list uchar int vertex_indices\nend_header\n")
    p = tmp_path / "scene0000_00_vh_clean_2.labels.ply"
    p.write_bytes(header.encode() + verts.tobytes())
    xyz, lab = read_labels_ply(p)
    np.testing.assert_array_equal(xyz[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(lab, [0, 19, 255, 255])


REAL = Path(os.environ.get("GNESF_SCANNET_DIR", "/work/shared/data/scannet"))


def test_real_scan_if_present():
    scans = sorted(REAL.glob("scene*")) if REAL.is_dir() else []
    tsvs = sorted(REAL.glob("**/scannetv2-labels.combined.tsv")) if REAL.is_dir() else []
    if not scans:
        pytest.skip(f"no real ScanNet scans under {REAL} (set GNESF_SCANNET_DIR); synthetic checks above still ran")
    if not tsvs:
        pytest.skip(f"real scans under {REAL} but no scannetv2-labels.combined.tsv beside them")
    with ScanNetScan(scans[0], tsv_path=tsvs[0], semantics="truth", every=100) as s:
        for n, f in enumerate(s):
            f.frame.validate(20)
            if n >= 2:
                break


def test_labels_from_the_zip_beside_the_sens(scan_paths):
    """The raw download ships labels as <scene>_2d-label-filt.zip; it is read without unpacking."""
    import shutil
    import zipfile
    _, sens, _, tsv = scan_paths
    with ScanNetScan(sens, tsv_path=tsv, semantics="truth") as s:
        want = [f.truth_labels for f in s]
    folder = sens.parent / "label-filt"
    with zipfile.ZipFile(sens.parent / "scene0000_00_2d-label-filt.zip", "w") as z:
        for p in sorted(folder.iterdir()):
            z.write(p, f"label-filt/{p.name}")
    shutil.rmtree(folder)
    with ScanNetScan(sens, tsv_path=tsv, semantics="truth") as s:
        got = [f.truth_labels for f in s]
    assert len(got) == len(want) == 3
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
