"""The Atlas 3D semantic protocol: move predicted labels onto the true surface, then score per class.

Atlas (Murez et al., ECCV 2020, `atlas/evaluation.py: project_to_mesh`) gives every vertex of the
ground-truth mesh the label of the NEAREST vertex of the predicted mesh, with no distance limit (`dist_thresh=None`), and
computes IoU / accuracy over the ground-truth vertices; GNeSF reports 3D mIoU/mAcc the same way.
We follow it: `max_distance_m=None` (the default) is Atlas exactly. Passing a distance makes true points
with no prediction within it count as "unknown" (a miss), which punishes incomplete maps; it is offered
for diagnostics, not for comparison with published numbers.

Predicted points labelled unknown (any id outside 0..C-1, e.g. 255) stay in the search: a true point
whose nearest prediction is unknown counts as a miss for its class (the "unknown" column of the
confusion matrix), never as a made-up class. An empty prediction makes every true point a miss.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError
from gnesf_ros.eval.metrics import confusion_matrix


def transfer_labels(pred_xyz: np.ndarray, pred_label: np.ndarray, true_xyz: np.ndarray,
                    max_distance_m: float | None = None) -> np.ndarray:
    """Label of the nearest predicted point for each true point.

    Args:
        pred_xyz: (N, 3) predicted surface points.  pred_label: (N,) their labels.
        true_xyz: (P, 3) true surface points.
        max_distance_m: None = Atlas (nearest at any distance); else true points farther than this from
            every prediction get IGNORE_ID.
    Returns:
        (P,) int64 labels (IGNORE_ID where no prediction applies).
    """
    pred_xyz = np.asarray(pred_xyz, dtype=np.float64).reshape(-1, 3)
    pred_label = np.asarray(pred_label).reshape(-1).astype(np.int64)
    true_xyz = np.asarray(true_xyz, dtype=np.float64).reshape(-1, 3)
    if pred_label.shape[0] != pred_xyz.shape[0]:
        raise InputError(f"pred_xyz and pred_label differ in length: {pred_xyz.shape[0]} vs {pred_label.shape[0]}")
    out = np.full(true_xyz.shape[0], IGNORE_ID, dtype=np.int64)
    if pred_xyz.shape[0] == 0 or true_xyz.shape[0] == 0:
        return out
    bound = np.inf if max_distance_m is None else float(max_distance_m)
    dist, nearest = cKDTree(pred_xyz).query(true_xyz, k=1, distance_upper_bound=bound)
    hit = np.isfinite(dist)
    out[hit] = pred_label[nearest[hit]]
    return out


def labelling_ceiling(pred_xyz: np.ndarray, true_xyz: np.ndarray, true_label: np.ndarray) -> np.ndarray:
    """The best labels a method could give its own points (N, 3): each takes the label of the nearest true point.

    `atlas_confusion` of these labels is the score that method's geometry allows with a perfect labeller,
    which separates what its points cost (coverage, density, boundaries, hidden surfaces) from what its
    labels cost. True points labelled IGNORE_ID are left out. Returns (N,) int64 (all IGNORE_ID when no true
    point is labelled)."""
    pred_xyz = np.asarray(pred_xyz, dtype=np.float64).reshape(-1, 3)
    true_xyz = np.asarray(true_xyz, dtype=np.float64).reshape(-1, 3)
    true_label = np.asarray(true_label).reshape(-1).astype(np.int64)
    if true_label.shape[0] != true_xyz.shape[0]:
        raise InputError(f"true_xyz and true_label differ in length: {true_xyz.shape[0]} vs {true_label.shape[0]}")
    labelled = true_label != IGNORE_ID
    return transfer_labels(true_xyz[labelled], true_label[labelled], pred_xyz)


def atlas_confusion(pred_xyz: np.ndarray, pred_label: np.ndarray, true_xyz: np.ndarray, true_label: np.ndarray,
                    num_classes: int, max_distance_m: float | None = None) -> np.ndarray:
    """Confusion matrix (C, C+1) over the true surface points (rows = true class, last column = unknown).

    True points labelled IGNORE_ID (or outside 0..C-1) are not counted. Feed the result (summed over
    scenes) to `scores_from_confusion` for per-class IoU/acc and the means over classes present.
    """
    true_label = np.asarray(true_label).reshape(-1)
    if true_label.shape[0] != np.asarray(true_xyz).reshape(-1, 3).shape[0]:
        raise InputError(f"true_xyz and true_label differ in length: {np.asarray(true_xyz).reshape(-1, 3).shape[0]} "
                         f"vs {true_label.shape[0]}")
    pred_on_truth = transfer_labels(pred_xyz, pred_label, true_xyz, max_distance_m)
    return confusion_matrix(pred_on_truth, true_label, num_classes)
