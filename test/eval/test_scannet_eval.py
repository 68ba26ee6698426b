"""ScanNet evaluation (`gnesf-eval scannet`) on a tiny ScanNet-layout scan written by the test.

The scan: a camera sliding along x, looking along +z at a wall z = 2 m striped by class (raw ScanNet ids 1, 3, 5
-> NYU40 1 wall, 7 table, 2 floor -> ScanNet-20 0, 6, 1), consistent depth, one frame with a -inf pose, and a
`<scene>_vh_clean_2.labels.ply` sampling the wall with the NYU40 ids.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scannet_fixtures import (COLOR_HW, DEPTH_HW, K_COLOR, TinyScan, write_exported_scan,  # noqa: E402
                              write_sens_scan, write_tsv)

from gnesf_ros.cli.eval import main  # noqa: E402
from gnesf_ros.errors import DataError  # noqa: E402
from gnesf_ros.eval.evaluate import BASELINE_METHODS, MethodSettings  # noqa: E402
from gnesf_ros.eval.scannet_eval import evaluate_scannet, scannet_scene  # noqa: E402

SCENE = "scene0707_00"
WALL_Z_M = 2.0
NUM_FRAMES = 12
BAD_POSE = 2
STRIPES = [(-np.inf, 0.2, 1, 1), (0.2, 0.5, 3, 7), (0.5, np.inf, 5, 2)]  # x range (m), raw id, NYU40 id
TRUE_IDS = {0, 6, 1}  # ScanNet-20 ids of the stripes


def _stripe(x: np.ndarray, column: int) -> np.ndarray:
    out = np.zeros(x.shape, dtype=np.uint16)
    for lo, hi, raw, nyu in STRIPES:
        out[(x >= lo) & (x < hi)] = (raw, nyu)[column]
    return out


def wall_scan() -> TinyScan:
    jpegs, depths, poses, labels = [], [], [], []
    v, u = np.mgrid[0 : COLOR_HW[0], 0 : COLOR_HW[1]]
    for i in range(NUM_FRAMES):
        x_cam = 0.05 * i
        x_world = (u - K_COLOR[0, 2]) / K_COLOR[0, 0] * WALL_Z_M + x_cam
        raw = _stripe(x_world, 0)
        rgb = np.stack([raw * 40 % 256, (v * 3) % 256, np.full_like(raw, 90)], -1).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        jpegs.append(buf.tobytes())
        depths.append(np.full(DEPTH_HW, int(WALL_Z_M * 1000), np.uint16))
        T = np.eye(4, dtype=np.float32)
        T[0, 3] = x_cam
        if i == BAD_POSE:
            T[:] = -np.inf
        poses.append(T)
        labels.append(raw)
    return TinyScan(jpegs, depths, poses, labels)


def write_labels_ply(path: Path, spacing_m: float = 0.02) -> Path:
    """The wall as ScanNet's labelled mesh vertices (binary little endian, NYU40 `label`, no faces)."""
    gx, gy = np.meshgrid(np.arange(-0.8, 1.4, spacing_m), np.arange(-0.4, 0.4, spacing_m))
    verts = np.zeros(gx.size, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"),
                                     ("blue", "u1"), ("alpha", "u1"), ("label", "<u2")])
    verts["x"], verts["y"], verts["z"] = gx.ravel(), gy.ravel(), WALL_Z_M
    verts["label"] = _stripe(gx.ravel(), 1)
    header = (f"ply\nformat binary_little_endian 1.0\nelement vertex {gx.size}\nproperty float x\n"
              "property float y\nproperty float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
              "property uchar alpha\nproperty ushort label\nelement face 0\n"
              "property list uchar int vertex_indices\nend_header\n")
    path.write_bytes(header.encode() + verts.tobytes())
    return path


@pytest.fixture
def scan_dir(tmp_path) -> Path:
    folder = write_exported_scan(tmp_path / SCENE, wall_scan())
    write_labels_ply(folder / f"{SCENE}_vh_clean_2.labels.ply")
    return folder


@pytest.fixture
def tsv(tmp_path) -> Path:
    return write_tsv(tmp_path / "scannetv2-labels.combined.tsv")


def test_scene_holds_out_every_kth_frame_and_scores_the_whole_mesh(scan_dir, tsv):
    reports = []
    scene = scannet_scene(scan_dir, tsv, semantics="truth", every_k_target=4, report=reports)
    assert scene.targets == []  # filled while the inputs are read
    frames = list(scene.input_frames)
    # 12 frames, one -inf pose skipped -> 11 positions; positions 3 and 7 are targets
    assert len(frames) == 9 and len(scene.targets) == 2
    r = reports[0]
    assert (r.name, r.input_frames, r.targets, r.skipped_invalid_pose, r.semantics) == (SCENE, 9, 2, 1, "truth")
    target_x = sorted(t.T_map_cam[0, 3] for t in scene.targets)
    assert np.allclose(target_x, [0.05 * 4, 0.05 * 8])  # positions 3 and 7 are frames 4 and 8 (frame 2 skipped)
    assert not {round(f.T_map_cam[0, 3], 3) for f in frames} & {round(x, 3) for x in target_x}  # never mapped
    t = scene.targets[0]
    assert t.truth.dtype == np.uint8 and t.truth.shape == (DEPTH_HW[0], DEPTH_HW[1])
    assert set(np.unique(t.truth)) <= TRUE_IDS
    np.testing.assert_array_equal(t.input_label, t.truth)  # 'truth' semantics
    assert scene.restrict_surface_to_observed_m is None
    assert len(scene.surface_xyz) == r.mesh_vertices and set(np.unique(scene.surface_label)) == TRUE_IDS


def test_missing_labels_ply_is_a_clear_error(tmp_path, tsv):
    folder = write_exported_scan(tmp_path / SCENE, wall_scan())
    with pytest.raises(DataError, match=rf"no {SCENE}_vh_clean_2.labels.ply beside the scan"):
        scannet_scene(folder, tsv)


def test_evaluate_scannet_baselines_and_json_keys_match_synthetic(scan_dir, tsv, tmp_path):
    from eval_scenes import plane_scene

    from gnesf_ros.eval.evaluate import evaluate_synthetic

    out = tmp_path / "out"
    metrics = evaluate_scannet([scan_dir], out, tsv, semantics="truth", every_k_target=4, methods=BASELINE_METHODS,
                               progress=False, figures=False)
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["input_2d"]["miou_2d"] == 100.0  # true labels in, true labels out
    for m in ("bayes_fusion", "majority_vote"):
        assert metrics[m]["miou_3d"] > 80.0, metrics[m]
        assert metrics[m]["miou_2d"] is not None  # (40x30 views of 4 cm voxels at 2 m: splats leave gaps)
    assert metrics["scannet"][0]["skipped_invalid_pose"] == 1 and metrics["dataset"] == "scannet"
    assert (metrics["frames"], metrics["targets"]) == (9, 2)

    synthetic = evaluate_synthetic([5], tmp_path / "syn", num_frames=8, every_k_target=4, methods=BASELINE_METHODS,
                                   progress=False, figures=False, scene_factory=plane_scene)
    common = {"scenes", "frames", "targets", "per_scene", "methods", "command", "settings", "every_k_target",
              "image_size"}
    assert common <= set(metrics) and common <= set(synthetic)
    for m in BASELINE_METHODS:
        assert set(metrics[m]) == set(synthetic[m])
        assert set(metrics[m]["per_class"]["wall"]) == set(synthetic[m]["per_class"]["wall"])
    assert set(metrics["per_scene"][0]) == set(synthetic["per_scene"][0])


def test_evaluate_scannet_learned_methods_with_a_tiny_model(scan_dir, tsv, tmp_path):
    import torch

    from gnesf_ros.model import GNeSF, ModelConfig
    from gnesf_ros.model.checkpoint import save_checkpoint

    torch.set_num_threads(1)
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(GNeSF(ModelConfig(num_classes=20, feature_channels=4, volume_channels=4, volume_width=4,
                                      mlp_width=8, vote_feature_channels=4, render_samples=8, visibility_samples=4,
                                      trunc_m=0.2, visibility_margin_m=0.2)), ckpt)
    settings = MethodSettings(mapper_overrides={"window_size": 2, "voxel_size_m": 0.08, "max_volume_dims": 32,
                                                "tsdf_trunc_m": 0.2, "render_num_views": 2, "image_width_px": 40,
                                                "keyframe_min_translation_m": 0.04})
    metrics = evaluate_scannet([scan_dir], tmp_path / "out", tsv, semantics="noise", every_k_target=4,
                               methods=["gnesf", "gnesf_depth", "input_2d"], settings=settings, model_path=str(ckpt),
                               progress=False, figures=True)
    assert metrics["methods"] == ["gnesf", "gnesf_depth", "input_2d"]
    for m in ("gnesf", "gnesf_depth"):
        assert {"miou_2d", "macc_2d", "miou_3d", "macc_3d", "seconds_per_scene"} <= set(metrics[m])
    assert metrics["gnesf_depth"]["miou_3d"] is not None and metrics["gnesf_depth"]["miou_3d"] > 0.0
    assert metrics["semantics"] == "noise" and "noise model" in metrics["semantics_note"]
    assert (tmp_path / "out" / f"scene_{SCENE}.png").is_file()


def test_sens_and_exported_scans_score_the_same(tmp_path, tsv):
    scan = wall_scan()
    folder = write_exported_scan(tmp_path / "exported" / SCENE, scan)
    sens_dir = tmp_path / "sens" / SCENE
    write_sens_scan(sens_dir, scan, scene=SCENE)
    for d in (folder, sens_dir):
        write_labels_ply(d / f"{SCENE}_vh_clean_2.labels.ply")
    a = evaluate_scannet([folder], tmp_path / "a", tsv, semantics="noise", every_k_target=4,
                         methods=BASELINE_METHODS, progress=False, figures=False)
    b = evaluate_scannet([sens_dir / f"{SCENE}.sens"], tmp_path / "b", tsv, semantics="noise", every_k_target=4,
                         methods=BASELINE_METHODS, progress=False, figures=False)
    for m in BASELINE_METHODS:
        assert {k: v for k, v in a[m].items() if k != "seconds_per_scene"} == \
            {k: v for k, v in b[m].items() if k != "seconds_per_scene"}


def test_cli_scannet(scan_dir, tsv, tmp_path, capsys):
    """The 2D input defaults to the shipped segmenter (issue 21); --semantics noise is the ablation."""
    out = tmp_path / "cli"
    assert main(["scannet", str(scan_dir), "--tsv", str(tsv), "--out", str(out), "--every-k", "4", "--methods",
                 *BASELINE_METHODS, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "bayes_fusion" in printed and "the 2D segmenter on each frame's RGB" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["command"].startswith("gnesf-eval scannet ") and metrics["semantics"] == "segmenter"
    assert (out / "confusion_bayes_fusion_3d.png").is_file()
    out = tmp_path / "cli_noise"
    assert main(["scannet", str(scan_dir), "--tsv", str(tsv), "--out", str(out), "--every-k", "4", "--methods",
                 *BASELINE_METHODS, "--semantics", "noise", "--no-progress"]) == 0
    assert "noise model applied to the true labels" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["semantics"] == "noise"


def test_cli_scannet_errors(scan_dir, tsv, tmp_path, capsys):
    out = str(tmp_path / "x")
    assert main(["scannet", str(scan_dir), "--tsv", str(tmp_path / "no.tsv"), "--out", out]) == 2
    assert "--tsv" in capsys.readouterr().err
    assert main(["scannet", str(tmp_path / "nope"), "--tsv", str(tsv), "--out", out]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["scannet", str(scan_dir), "--tsv", str(tsv), "--out", out, "--every-k", "1"]) == 2
    assert "--every-k must be >= 2" in capsys.readouterr().err
    assert main(["scannet", str(scan_dir), "--tsv", str(tsv), "--out", out, "--semantics", "nodir"]) == 2
    assert "--semantics must be" in capsys.readouterr().err


REAL = Path(os.environ.get("GNESF_SCANNET_DIR", "/work/shared/data/scannet"))


@pytest.mark.slow
def test_real_scan_if_present(tmp_path):
    scans = sorted(p for p in REAL.glob("scene*") if list(p.glob("*_vh_clean_2.labels.ply"))) if REAL.is_dir() else []
    tsvs = sorted(REAL.glob("**/scannetv2-labels.combined.tsv")) if REAL.is_dir() else []
    if not scans or not tsvs:
        pytest.skip(f"no real ScanNet scan with a labels ply and tsv under {REAL} (set GNESF_SCANNET_DIR)")
    metrics = evaluate_scannet([scans[0]], tmp_path, tsvs[0], every_k_target=10, frame_every=20,
                               image_size=(240, 320), methods=BASELINE_METHODS, progress=False, figures=False)
    assert metrics["bayes_fusion"]["miou_3d"] is not None
    print(json.dumps({m: {k: metrics[m].get(k) for k in ("miou_2d", "miou_3d")} for m in BASELINE_METHODS}))


def test_cli_scannet_geometry_only_needs_no_labels(tmp_path, capsys):
    """Colour + depth + poses only (no label images, no tsv, no mesh): the mappers' geometry is scored against the TSDF
    fusion of the input depth, and their rendered depth against the withheld frames' depth."""
    import torch

    from gnesf_ros.model.checkpoint import save_checkpoint
    from gnesf_ros.model.config import ModelConfig
    from gnesf_ros.model.gnesf import GNeSF

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(GNeSF(ModelConfig(feature_channels=4, volume_channels=4, volume_width=4, mlp_width=8,
                                      vote_feature_channels=4, visibility_samples=4)), ckpt)
    folder = write_exported_scan(tmp_path / SCENE, wall_scan())  # no label-filt/, no labels ply
    out = tmp_path / "geom"
    assert main(["scannet", "--geometry-only", str(folder), "--out", str(out), "--every-k", "4", "--checkpoint",
                 str(ckpt), "--mapper-param", "window_size=3", "--mapper-param", "max_volume_dims=64",
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "F@5cm" in printed and "TSDF fusion" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["geometry_only"] and metrics["methods"] == ["gnesf", "gnesf_depth", "tsdf_fusion"]
    assert "miou_2d" not in metrics["gnesf"] and "miou_3d" not in metrics["gnesf_depth"]  # no labels: no semantics
    assert 0.0 <= metrics["gnesf"]["fscore_5cm"] <= 1.0  # random weights: any value, but scored
    # depth geometry finds the wall the sensor saw, and renders its depth at the withheld frames
    assert metrics["gnesf_depth"]["fscore_5cm"] > 0.9 and metrics["gnesf_depth"]["accuracy_m"] < 0.05
    assert metrics["gnesf_depth"]["depth_delta_1_25"] > 0.95
    assert abs(metrics["gnesf_depth"]["depth_abs_rel"]) < 0.03
    assert "fscore_5cm" not in metrics["tsdf_fusion"]  # the truth is not scored against itself
    assert metrics["tsdf_fusion"]["depth_delta_1_25"] > 0.99 and metrics["tsdf_fusion"]["depth_coverage"] > 0.6
    assert metrics["scannet"][0]["targets"] == 2 and metrics["scannet"][0]["semantics"] == "none"


def test_cli_scannet_without_tsv_needs_geometry_only(scan_dir, tmp_path, capsys):
    assert main(["scannet", str(scan_dir), "--out", str(tmp_path / "x")]) == 2
    assert "--geometry-only" in capsys.readouterr().err


def test_cli_scannet_segmenter_semantics(scan_dir, tsv, tmp_path, capsys):
    """--semantics segmenter: the given segmenter labels every frame (inputs and the targets' input_2d); the run
    records it; a checkpoint without --semantics segmenter is refused."""
    import torch

    from gnesf_ros.classes import ClassList
    from gnesf_ros.segmentation.checkpoint import save_segmenter
    from gnesf_ros.segmentation.config import SegNetConfig
    from gnesf_ros.segmentation.infer import Segmenter
    from gnesf_ros.segmentation.network import SegNet

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny_segmenter.pt"
    save_segmenter(SegNet(SegNetConfig(width_mult=0.25, head_channels=16, skip_channels=8)),
                   ClassList.from_yaml().names, ckpt)
    out = tmp_path / "seg"
    assert main(["scannet", str(scan_dir), "--tsv", str(tsv), "--out", str(out), "--every-k", "4", "--methods",
                 *BASELINE_METHODS, "--semantics", "segmenter", "--segmenter-checkpoint", str(ckpt),
                 "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["semantics"] == "segmenter" and metrics["segmenter_checkpoint"] == str(ckpt)
    assert metrics["scannet"][0]["semantics"] == "segmenter" and "semantics_note" not in metrics
    seg = Segmenter.from_checkpoint(ckpt)
    scene = scannet_scene(scan_dir, tsv, semantics="segmenter", every_k_target=4, segmenter=seg)
    frame = next(iter(scene.input_frames))
    np.testing.assert_allclose(frame.probs, seg.predict(frame.rgb).transpose(1, 2, 0), atol=1e-6)
    assert main(["scannet", str(scan_dir), "--tsv", str(tsv), "--out", str(tmp_path / "x"), "--semantics", "noise",
                 "--segmenter-checkpoint", str(ckpt)]) == 2
    assert "only used with --semantics segmenter" in capsys.readouterr().err
