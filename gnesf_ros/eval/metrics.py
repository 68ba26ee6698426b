"""Confusion matrices and the ScanNet-style metrics derived from them (IoU, accuracy per class).

Metrics are in percent. A class absent from the truth (no true samples) is left out of the means,
as the ScanNet benchmark and Atlas do; predictions of "unknown" count as wrong for the true class.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnesf_ros.classes import IGNORE_ID


def confusion_matrix(pred: np.ndarray, truth: np.ndarray, num_classes: int, ignore_id: int = IGNORE_ID) -> np.ndarray:
    """Counts (C, C+1) int64: row = true class, column = predicted class, last column = unknown prediction.

    Truth pixels equal to `ignore_id` (or outside 0..C-1) are not counted; predictions outside
    0..C-1 land in the "unknown" column.
    """
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    truth = np.asarray(truth).reshape(-1).astype(np.int64)
    if pred.shape != truth.shape:
        raise ValueError(f"pred and truth must have the same number of elements, got {pred.size} and {truth.size}")
    keep = (truth >= 0) & (truth < num_classes) & (truth != ignore_id)
    pred, truth = pred[keep], truth[keep]
    pred = np.where((pred >= 0) & (pred < num_classes), pred, num_classes)
    return np.bincount(truth * (num_classes + 1) + pred, minlength=num_classes * (num_classes + 1)).reshape(
        num_classes, num_classes + 1)


@dataclass
class SegmentationScores:
    """Per-class and mean IoU / accuracy (percent); NaN marks classes absent from the truth."""

    iou: np.ndarray  # (C,)
    acc: np.ndarray  # (C,)

    @property
    def miou(self) -> float:
        return float(np.nanmean(self.iou)) if np.any(np.isfinite(self.iou)) else float("nan")

    @property
    def macc(self) -> float:
        return float(np.nanmean(self.acc)) if np.any(np.isfinite(self.acc)) else float("nan")

    def per_class(self, names: tuple[str, ...] | list[str]) -> dict[str, dict[str, float | None]]:
        """{name: {"iou": .., "acc": ..}} with None for classes absent from the truth (JSON-friendly)."""
        def val(x: float) -> float | None:
            return None if not np.isfinite(x) else round(float(x), 2)
        return {n: {"iou": val(self.iou[i]), "acc": val(self.acc[i])} for i, n in enumerate(names)}


def scores_from_confusion(conf: np.ndarray) -> SegmentationScores:
    """IoU_c = TP / (TP + FP + FN), Acc_c = TP / (TP + FN) for each class c with true samples."""
    num_classes = conf.shape[0]
    tp = np.diag(conf[:, :num_classes]).astype(np.float64)
    true_count = conf.sum(axis=1).astype(np.float64)  # TP + FN (unknown predictions are FN)
    pred_count = conf[:, :num_classes].sum(axis=0).astype(np.float64)  # TP + FP
    present = true_count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(present, 100.0 * tp / (true_count + pred_count - tp), np.nan)
        acc = np.where(present, 100.0 * tp / true_count, np.nan)
    return SegmentationScores(iou=iou, acc=acc)


def reliability_bins(confidence: np.ndarray, right: np.ndarray, num_bins: int = 10) -> np.ndarray:
    """Counts (num_bins, 3) float64 of a reliability diagram: per equal-width confidence bin on [0, 1], the
    number of samples, how many were right, and the sum of their confidences. Sum the rows of many images
    and pass them to `expected_calibration_error`."""
    confidence = np.asarray(confidence, dtype=np.float64).reshape(-1)
    right = np.asarray(right, dtype=bool).reshape(-1)
    if confidence.shape != right.shape:
        raise ValueError(f"confidence and right must have the same number of elements, got {confidence.size} "
                         f"and {right.size}")
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    b = np.clip((confidence * num_bins).astype(np.int64), 0, num_bins - 1)
    return np.stack([np.bincount(b, minlength=num_bins).astype(np.float64),
                     np.bincount(b, weights=right.astype(np.float64), minlength=num_bins),
                     np.bincount(b, weights=confidence, minlength=num_bins)], axis=1)


def expected_calibration_error(bins: np.ndarray) -> float:
    """ECE = sum over bins of |#right - sum of confidences| / #samples: 0 when every bin's accuracy equals its
    mean confidence (a calibrated classifier), NaN without samples."""
    bins = np.asarray(bins, dtype=np.float64)
    n = bins[:, 0].sum()
    return float(np.abs(bins[:, 1] - bins[:, 2]).sum() / n) if n > 0 else float("nan")
