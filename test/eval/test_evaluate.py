import json

import numpy as np
import pytest

from gnesf_ros.errors import InputError
from gnesf_ros.eval.evaluate import BASELINE_METHODS, evaluate_synthetic, summarize, target_indices

from eval_scenes import C, plane_scene


def test_target_indices():
    assert target_indices(10, 3) == [2, 5, 8]
    with pytest.raises(InputError, match="every_k_target must be >= 2"):
        target_indices(10, 1)


def test_evaluate_baselines_end_to_end(tmp_path):
    metrics = evaluate_synthetic([3, 4], tmp_path, num_frames=12, every_k_target=4, methods=BASELINE_METHODS,
                                 command="test", progress=False, scene_factory=plane_scene)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    assert on_disk["scenes"] == ["plane_3", "plane_4"]
    assert on_disk["frames"] == 2 * 9 and on_disk["targets"] == 2 * 3 and on_disk["command"] == "test"
    for m in BASELINE_METHODS:
        e = on_disk[m]
        assert 0.0 <= e["miou_2d"] <= 100.0 and 0.0 <= e["macc_2d"] <= 100.0
        assert set(e["per_class"]) >= {"wall", "door"} and e["per_class"]["bed"]["iou_2d"] is None
        assert e["per_class"]["wall"]["iou_2d"] is not None
    assert "miou_3d" not in on_disk["input_2d"]
    for m in ("bayes_fusion", "majority_vote"):
        assert 0.0 <= on_disk[m]["miou_3d"] <= 100.0
        # fusing 9 noisy views beats a single noisy view
        assert on_disk[m]["miou_2d"] > on_disk["input_2d"]["miou_2d"]
        assert on_disk[m]["miou_3d"] > 80.0
        # the same points with perfect labels score at least as well, and the npz keeps that matrix too
        assert on_disk[m]["miou_3d"] <= on_disk[m]["miou_3d_ceiling"] <= 100.0
        assert on_disk[m]["per_class"]["wall"]["iou_3d_ceiling"] is not None
        assert (tmp_path / f"confusion_{m}_3d.png").stat().st_size > 0
    assert (tmp_path / "confusion_input_2d_2d.png").is_file()
    assert not (tmp_path / "confusion_input_2d_3d.png").exists()
    assert (tmp_path / "scene_plane_3.png").is_file() and (tmp_path / "confusion.npz").is_file()
    conf = np.load(tmp_path / "confusion.npz")
    assert conf["bayes_fusion_2d"].shape == (C, C + 1) and conf["bayes_fusion_3d_ceiling"].shape == (C, C + 1)
    assert "input_2d_3d_ceiling" not in conf.files


def test_evaluate_rejects_unknown_methods(tmp_path):
    with pytest.raises(InputError, match="unknown method"):
        evaluate_synthetic([3], tmp_path, num_frames=6, every_k_target=3, methods=["nope"], progress=False,
                           scene_factory=plane_scene)


def test_summarize_marks_missing_outputs():
    conf = np.zeros((2, 3), np.int64)
    conf[0, 0] = 3
    conf[0, 2] = 1
    out = summarize({"a": conf}, {}, ["x", "y"])
    assert out["a"]["miou_2d"] == 75.0 and "miou_3d" not in out["a"]
    assert out["a"]["per_class"]["y"] == {"iou_2d": None, "acc_2d": None}


def test_gnesf_methods_need_a_checkpoint(tmp_path):
    from gnesf_ros.errors import MapFileError

    with pytest.raises(MapFileError, match="no GNeSF checkpoint at .*none.pt"):
        evaluate_synthetic([3], tmp_path, model_path=str(tmp_path / "none.pt"), num_frames=6, every_k_target=3,
                           methods=["gnesf", "input_2d"], progress=False, scene_factory=plane_scene)


def test_evaluate_synthetic_on_a_tiny_real_scan(tmp_path):
    """The default scene factory: a generated room, held-out frames, truth surface restricted to what was seen."""
    methods = ("input_2d", "bayes_fusion")
    metrics = evaluate_synthetic([2000], tmp_path, num_frames=8, every_k_target=4, height=36, width=48,
                                 methods=methods, progress=False, figures=False, surface_spacing_m=0.06)
    assert metrics["scenes"] == ["synthetic_2000"] and metrics["frames"] == 6 and metrics["targets"] == 2
    scene = metrics["per_scene"][0]
    assert 0 < scene["surface_points"]
    for k in ("miou_2d", "macc_2d", "miou_3d", "macc_3d"):
        assert 0.0 < metrics["bayes_fusion"][k] <= 100.0
    assert 0.0 < metrics["input_2d"]["miou_2d"] <= 100.0
    assert json.loads((tmp_path / "metrics.json").read_text())["image_size"] == [36, 48]


def test_3d_scores_only_surface_observed_within_max_depth():
    """The wall of the plane scene is 2 m from every camera: with a 3 m range it is scored, with 1.5 m
    (farther than any method maps) none of it is, instead of being scored by label extrapolation."""
    from gnesf_ros.eval.evaluate import MethodSettings, build_methods, evaluate_scene

    counts = {}
    for max_depth_m in (3.0, 1.5):
        scene = plane_scene(3, 12, 4, 16, 24)
        methods = build_methods(["bayes_fusion"], MethodSettings(num_classes=C, max_depth_m=max_depth_m))
        result = evaluate_scene(scene, methods, C, progress=False, max_depth_m=max_depth_m)
        counts[max_depth_m] = (result.num_surface_points, int(result.conf_3d["bayes_fusion"].sum()))
    assert counts[3.0][0] > 100 and counts[3.0][1] > 0
    assert counts[1.5] == (0, 0)


def test_2d_scores_only_pixels_within_max_depth():
    """Target pixels beyond the mapped range (or without depth) are not scored for any method."""
    from gnesf_ros.classes import IGNORE_ID
    from gnesf_ros.eval.evaluate import TargetView

    truth = np.array([[1, 2, 3, IGNORE_ID]])
    depth = np.array([[1.0, 2.9, 3.5, 1.0]], np.float32)
    tv = TargetView(K=np.eye(3), T_map_cam=np.eye(4), truth=truth, input_label=truth, depth_m=depth)
    assert tv.scored_truth(3.0).tolist() == [[1, 2, IGNORE_ID, IGNORE_ID]]
    tv.depth_m[0, 0] = 0.0  # no measurement: not scored either
    assert tv.scored_truth(3.0).tolist() == [[IGNORE_ID, 2, IGNORE_ID, IGNORE_ID]]
    no_depth = TargetView(K=np.eye(3), T_map_cam=np.eye(4), truth=truth, input_label=truth)
    assert no_depth.scored_truth(3.0).tolist() == truth.tolist()
