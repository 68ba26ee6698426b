"""Segmenter metrics on hand-computed cases: calibration (ECE) and the reprojected error persistence."""
import numpy as np
import pytest

from gnesf_ros.errors import InputError
from gnesf_ros.eval.metrics import expected_calibration_error
from gnesf_ros.segmentation.evaluate import error_persistence, frame_scores


def test_frame_scores_ece_by_hand():
    # 4 labelled pixels + 1 ignored, 2 classes. Argmax probabilities 0.95, 0.95, 0.65, 0.65; the second is wrong.
    p0 = np.array([[0.95, 0.05, 0.65, 0.35, 0.9]])
    probs = np.concatenate([p0, 1 - p0])[:, None, :]  # (C=2, H=1, W=5)
    labels = np.array([[0, 0, 0, 1, 255]])  # pixel 1's argmax is class 1 (0.95): wrong (truth 0)
    conf, bins, wrong = frame_scores(probs, labels)
    np.testing.assert_array_equal(wrong, [[False, True, False, False, False]])
    # bin 9: 2 samples, 1 right, confidence sum 1.9 -> |1 - 1.9| = 0.9; bin 6: 2, 2 right, 1.3 -> 0.7
    np.testing.assert_allclose(bins[9], [2, 1, 1.9])
    np.testing.assert_allclose(bins[6], [2, 2, 1.3])
    assert bins[:, 0].sum() == 4  # the ignored pixel is not counted
    assert expected_calibration_error(bins) == pytest.approx((0.9 + 0.7) / 4)
    np.testing.assert_array_equal(conf[:, :2], [[2, 1], [0, 1]])  # truth 0: 2 right, 1 taken for 1; truth 1: right


def three_frames():
    """4x4 images of a plane 1 m away, f = 10 px: the camera moves 0.1 m right per frame = 1 px left per frame.
    Frame 1 has an occluder at row 3, col 2 (depth 0.5)."""
    K = np.array([[10.0, 0, 1.5], [0, 10.0, 1.5], [0, 0, 1]])
    T = np.stack([np.eye(4)] * 3)
    T[:, 0, 3] = [0.0, 0.1, 0.2]
    depth = np.ones((3, 4, 4))
    depth[1, 3, 2] = 0.5
    wrong = np.zeros((3, 4, 4), bool)
    wrong[0, 0, 1] = wrong[0, 0, 2] = wrong[0, 3, 3] = True
    wrong[1, 0, 0] = wrong[1, 2, 2] = True
    wrong[2, 0, 0] = True
    return wrong, depth, K, T


def test_error_persistence_three_frame_sequence_by_hand():
    wrong, depth, K, T = three_frames()
    p = error_persistence(wrong, depth, K, T, max_k=3)
    # k = 1. Frame 0 -> 1: columns 1..3 land on columns 0..2; (3,3) lands on the occluder: not visible -> 11 points;
    #   wrong at 0 and seen: (0,1) -> (0,0) wrong again, (0,2) -> (0,1) right; frame-1 errors hit: (0,0), (2,2).
    # Frame 1 -> 2: the occluder's own point (z 0.5) disagrees with frame 2's depth -> 11 points; wrong at 1 and
    #   seen: (2,2) -> (2,1) right ((0,0) leaves the image); frame-2 errors hit: (0,0) from (0,1).
    # k = 2. Frame 0 -> 2: columns 2, 3 -> 8 points; wrong: (0,2) -> (0,0) wrong again, (3,3) -> (3,1) right.
    np.testing.assert_array_equal(p.wrong_pairs, [3, 2, 0])
    np.testing.assert_array_equal(p.wrong_again, [1, 1, 0])
    np.testing.assert_array_equal(p.all_pairs, [22, 8, 0])
    np.testing.assert_array_equal(p.all_wrong, [3, 1, 0])
    np.testing.assert_allclose(p.repeat_rate[:2], [1 / 3, 1 / 2])
    np.testing.assert_allclose(p.base_rate[:2], [3 / 22, 1 / 8])
    assert np.isnan(p.repeat_rate[2]) and np.isnan(p.base_rate[2])
    both = p + p
    np.testing.assert_array_equal(both.wrong_again, [2, 2, 0])


def test_error_persistence_valid_mask_and_bad_shapes():
    wrong, depth, K, T = three_frames()
    valid = np.ones_like(wrong)
    valid[1, 0, 0] = False  # the repeated error's landing pixel is unlabelled in frame 1
    p = error_persistence(wrong, depth, K, T, max_k=1, valid=valid)
    np.testing.assert_array_equal(p.wrong_pairs, [2])  # (0,1) no longer lands on a valid pixel
    np.testing.assert_array_equal(p.wrong_again, [0])
    with pytest.raises(InputError, match=r"\(F, H, W\)"):
        error_persistence(wrong[0], depth[0], K, T)


def _report_tool():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tools" / "segmenter_report.py"
    spec = importlib.util.spec_from_file_location("segmenter_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_tool_on_a_tiny_held_out_scan(tmp_path):
    import json

    import torch

    from gnesf_ros.classes import ClassList
    from gnesf_ros.segmentation.checkpoint import save_segmenter
    from gnesf_ros.segmentation.config import SegNetConfig
    from gnesf_ros.segmentation.network import SegNet

    tool = _report_tool()
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pt"
    save_segmenter(SegNet(SegNetConfig(width_mult=0.25, head_channels=16, skip_channels=8)),
                   ClassList.from_yaml().names, ckpt)
    with pytest.raises(InputError, match="held-out scenes only"):
        tool.report(ckpt, tmp_path / "r", 1, 3, split="train")
    result = tool.report(ckpt, tmp_path / "r", scenes=1, frames=4, max_k=2, stride=2, height=48, width=64)
    for name in ("report.json", "report.md", "reliability.png", "persistence.png"):
        assert (tmp_path / "r" / name).is_file(), name
    saved = json.loads((tmp_path / "r" / "report.json").read_text())
    assert saved["seeds"] == [2000] and set(saved["methods"]) == {"segmenter", "noise_model"}
    noise = result["methods"]["noise_model"]
    assert noise["miou"] > 20.0 and 0.0 <= noise["ece"] <= 1.0  # the noise model is a decent segmenter
    assert len(noise["persistence"]["repeat_rate"]) == 2
    assert sum(noise["persistence"]["wrong_pairs"]) > 0
