import numpy as np
import pytest

from gnesf_ros.eval.metrics import (confusion_matrix, expected_calibration_error, reliability_bins,
                                    scores_from_confusion)


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


def test_reliability_bins_and_ece_by_hand():
    # bin [0.6, 0.7): 0.65 right, 0.65 wrong -> 2 samples, 1 right, confidence sum 1.3
    # bin [0.9, 1.0]: 0.95 right, 1.0 right -> 2 samples, 2 right, confidence sum 1.95
    conf = np.array([0.65, 0.65, 0.95, 1.0])
    right = np.array([True, False, True, True])
    bins = reliability_bins(conf, right, num_bins=10)
    assert bins.shape == (10, 3)
    np.testing.assert_allclose(bins[6], [2, 1, 1.3])
    np.testing.assert_allclose(bins[9], [2, 2, 1.95])
    assert bins[[0, 1, 2, 3, 4, 5, 7, 8]].sum() == 0
    # ECE = (|1 - 1.3| + |2 - 1.95|) / 4
    assert expected_calibration_error(bins) == pytest.approx((0.3 + 0.05) / 4)


def test_ece_is_zero_for_a_calibrated_classifier_and_large_for_an_overconfident_one():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.2, 1.0, 200_000)
    calibrated = rng.random(conf.size) < conf
    assert expected_calibration_error(reliability_bins(conf, calibrated)) < 0.01
    coin = rng.random(conf.size) < 0.5  # right half the time whatever it claims
    assert expected_calibration_error(reliability_bins(conf, coin)) > 0.15
    assert np.isnan(expected_calibration_error(np.zeros((10, 3))))
    with pytest.raises(ValueError, match="same number"):
        reliability_bins(conf[:3], calibrated[:2])
