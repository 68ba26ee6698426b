import json

import numpy as np
import pytest

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError
from gnesf_ros.eval.evaluate import (BASELINE_METHODS, EvalScene, TargetView, evaluate_synthetic, summarize,
                                     target_indices)
from gnesf_ros.frame import Frame

K = np.array([[200.0, 0, 11.5], [0, 200.0, 7.5], [0, 0, 1]])
H, W, C = 16, 24, 20


def _wall_truth(x):
    return np.where(x < 0.0, 0, 7)  # wall left of x = 0, door right of it


def _plane_frame(x_cam, rng, flip=0.2):
    """Camera at (x_cam, 0, 0) looking along +z at a wall z = 2; noisy 2D labels, a few unknown pixels."""
    T = np.eye(4)
    T[0, 3] = x_cam
    u = np.arange(W)[None, :].repeat(H, 0)
    x_map = (u - K[0, 2]) / K[0, 0] * 2.0 + x_cam
    truth = _wall_truth(x_map)
    noisy = np.where(rng.random((H, W)) < flip, rng.integers(0, C, (H, W)), truth)
    probs = np.eye(C, dtype=np.float32)[noisy] * 0.6 + 0.4 / C
    probs[rng.random((H, W)) < 0.05] = 0.0
    frame = Frame(rgb=np.full((H, W, 3), 128, np.uint8), K=K, T_map_cam=T, probs=probs,
                  depth_m=np.full((H, W), 2.0, np.float32))
    return frame, truth


def plane_scene(seed, num_frames, every_k_target, height, width):
    rng = np.random.default_rng(seed)
    xs = np.linspace(-0.3, 0.3, num_frames)
    held = set(target_indices(num_frames, every_k_target))
    targets, inputs = [], []
    for i, x in enumerate(xs):
        frame, truth = _plane_frame(x, rng)
        if i in held:
            targets.append(TargetView.from_frame(frame, truth))
        else:
            inputs.append(frame)
    gx, gy = np.meshgrid(np.arange(-0.5, 0.5, 0.01), np.arange(-0.1, 0.1, 0.01))
    xyz = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, 2.0)], 1)
    label = _wall_truth(xyz[:, 0])
    label[np.abs(xyz[:, 1]) > 0.07] = IGNORE_ID
    return EvalScene(name=f"plane_{seed}", input_frames=iter(inputs), targets=targets, surface_xyz=xyz,
                     surface_label=label, num_input_frames=len(inputs), restrict_surface_to_observed_m=0.05)


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
        assert (tmp_path / f"confusion_{m}_3d.png").stat().st_size > 0
    assert (tmp_path / "confusion_input_2d_2d.png").is_file()
    assert not (tmp_path / "confusion_input_2d_3d.png").exists()
    assert (tmp_path / "scene_plane_3.png").is_file() and (tmp_path / "confusion.npz").is_file()
    conf = np.load(tmp_path / "confusion.npz")
    assert conf["bayes_fusion_2d"].shape == (C, C + 1)


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
