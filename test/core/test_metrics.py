import numpy as np
import pytest

from gnesf_ros.eval.metrics import confusion_matrix, scores_from_confusion


def test_confusion_and_scores_hand_computed():
    truth = np.array([0, 0, 0, 1, 1, 2, 255])
    pred = np.array([0, 0, 1, 1, 255, 0, 2])
    conf = confusion_matrix(pred, truth, num_classes=3)
    # rows: true 0 -> [2, 1, 0 | 0], true 1 -> [0, 1, 0 | 1 unknown], true 2 -> [1, 0, 0 | 0]
    np.testing.assert_array_equal(conf, [[2, 1, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0]])
    s = scores_from_confusion(conf)
    # class 0: TP 2, FN 1, FP 1 -> 2/4; class 1: TP 1, FN 1, FP 1 -> 1/3; class 2: TP 0 -> 0
    np.testing.assert_allclose(s.iou, [50.0, 100 / 3, 0.0])
    np.testing.assert_allclose(s.acc, [200 / 3, 50.0, 0.0])
    assert s.miou == pytest.approx((50 + 100 / 3 + 0) / 3)


def test_absent_class_left_out_of_mean():
    conf = confusion_matrix(np.array([0, 0]), np.array([0, 0]), num_classes=3)
    s = scores_from_confusion(conf)
    assert s.miou == 100.0 and np.isnan(s.iou[1]) and np.isnan(s.iou[2])
    assert s.per_class(["a", "b", "c"])["b"] == {"iou": None, "acc": None}
