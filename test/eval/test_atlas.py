import numpy as np
import pytest

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError
from gnesf_ros.eval.atlas import atlas_confusion, labelling_ceiling, transfer_labels
from gnesf_ros.eval.metrics import scores_from_confusion

PRED_XYZ = np.array([[0.0, 0, 0], [1.0, 0, 0], [5.0, 0, 0]])
PRED_LABEL = np.array([1, 2, IGNORE_ID])
TRUE_XYZ = np.array([[0.1, 0, 0], [0.9, 0, 0], [4.9, 0, 0], [0.0, 0.2, 0], [9.0, 0, 0]])
TRUE_LABEL = np.array([1, 1, 2, 0, IGNORE_ID])


def test_transfer_takes_nearest_prediction_at_any_distance():
    np.testing.assert_array_equal(transfer_labels(PRED_XYZ, PRED_LABEL, TRUE_XYZ), [1, 2, IGNORE_ID, 1, IGNORE_ID])


def test_transfer_with_max_distance_and_empty_prediction():
    out = transfer_labels(PRED_XYZ, PRED_LABEL, TRUE_XYZ, max_distance_m=0.15)
    np.testing.assert_array_equal(out, [1, 2, IGNORE_ID, IGNORE_ID, IGNORE_ID])
    empty = transfer_labels(np.zeros((0, 3)), np.zeros(0), TRUE_XYZ)
    assert (empty == IGNORE_ID).all()


def test_atlas_confusion_hand_computed():
    conf = atlas_confusion(PRED_XYZ, PRED_LABEL, TRUE_XYZ, TRUE_LABEL, num_classes=3)
    expected = np.array([[0, 1, 0, 0],   # true 0 -> nearest is class 1
                         [0, 1, 1, 0],   # true 1 -> 1 and 2
                         [0, 0, 0, 1]])  # true 2 -> nearest prediction unknown: a miss
    np.testing.assert_array_equal(conf, expected)
    s = scores_from_confusion(conf)
    np.testing.assert_allclose(s.iou, [0.0, 100 / 3, 0.0])  # class 1: TP 1, FN 1, FP 1
    np.testing.assert_allclose(s.acc, [0.0, 50.0, 0.0])


def test_labelling_ceiling_scores_the_points_with_perfect_labels():
    """Each predicted point takes its nearest labelled true point's label (the ignored one at x = 9 is skipped):
    the 3 true points of classes 1-2 are then right, but class 0's point, 0.2 m beside class 1's predicted
    point, stays wrong: no labeller can fix what the points miss."""
    best = labelling_ceiling(PRED_XYZ, TRUE_XYZ, TRUE_LABEL)
    np.testing.assert_array_equal(best, [1, 1, 2])
    far = labelling_ceiling(np.array([[8.9, 0, 0]]), TRUE_XYZ, TRUE_LABEL)
    np.testing.assert_array_equal(far, [2])  # not the ignored point at 9.0, the labelled one at 4.9
    conf = atlas_confusion(PRED_XYZ, best, TRUE_XYZ, TRUE_LABEL, num_classes=3)
    np.testing.assert_array_equal(conf, [[0, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0]])
    np.testing.assert_allclose(scores_from_confusion(conf).iou, [0.0, 200 / 3, 100.0])
    with pytest.raises(InputError, match="differ in length"):
        labelling_ceiling(PRED_XYZ, TRUE_XYZ, TRUE_LABEL[:2])


def test_atlas_confusion_rejects_mismatched_inputs():
    with pytest.raises(InputError, match="differ in length"):
        atlas_confusion(PRED_XYZ, PRED_LABEL, TRUE_XYZ, TRUE_LABEL[:2], num_classes=3)
    with pytest.raises(InputError, match="differ in length"):
        transfer_labels(PRED_XYZ, PRED_LABEL[:1], TRUE_XYZ)
