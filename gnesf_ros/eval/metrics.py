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
