"""The learned methods through the harness, with a random-weight tiny checkpoint (no training needed)."""
import json

import torch

from gnesf_ros.eval.evaluate import MethodSettings, evaluate_synthetic
from gnesf_ros.model.checkpoint import save_checkpoint
from gnesf_ros.model.config import ModelConfig
from gnesf_ros.model.gnesf import GNeSF

from eval_scenes import plane_scene


def test_gnesf_methods_end_to_end_with_random_tiny_checkpoint(tmp_path):
    model = GNeSF(ModelConfig(feature_channels=4, volume_channels=4, volume_width=4, mlp_width=8,
                              vote_feature_channels=4, render_samples=16, visibility_samples=4))
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(model, ckpt)
    settings = MethodSettings(mapper_overrides={"window_size": 3, "max_volume_dims": 16,
                                                "keyframe_min_translation_m": 0.05})
    metrics = evaluate_synthetic([3], tmp_path / "out", model_path=str(ckpt), num_frames=8, every_k_target=4,
                                 methods=["gnesf", "gnesf_depth", "input_2d", "tsdf_fusion"], settings=settings, progress=False,
                                 scene_factory=plane_scene, figures=False)
    on_disk = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for m in ("gnesf", "gnesf_depth"):
        for k in ("miou_2d", "macc_2d", "miou_3d", "macc_3d"):
            assert 0.0 <= on_disk[m][k] <= 100.0
    # depth geometry + soft voting of the (mostly right) 2D inputs labels the wall even with random weights
    assert metrics["gnesf_depth"]["miou_3d"] > 50.0
    assert metrics["settings"]["model_path"] == str(ckpt)
    # geometry of every geometry method against the observed true surface, and its rendered depth at the targets
    for m in ("gnesf", "gnesf_depth", "tsdf_fusion"):
        assert 0.0 <= on_disk[m]["fscore_5cm"] <= 1.0 and on_disk[m]["geometry_truth_points"] > 0
        assert "depth_abs_rel" in on_disk[m] and "fscore_5cm" in on_disk["per_scene"][0][m]
    assert "fscore_5cm" not in on_disk["input_2d"]
    assert metrics["tsdf_fusion"]["fscore_5cm"] > 0.9 and metrics["tsdf_fusion"]["depth_delta_1_25"] > 0.95
    assert metrics["gnesf_depth"]["fscore_5cm"] > 0.8 and metrics["gnesf_depth"]["depth_delta_1_25"] > 0.9
