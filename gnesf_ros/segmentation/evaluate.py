"""Metrics of a 2D segmenter on posed frames: per-class IoU, calibration, and how its errors repeat across frames.

`error_persistence` measures what a frame-independent noise model lacks: for a surface point that is wrong in
frame t, how often it is wrong again in frame t + k (k = 1..max_k), found by reprojecting frame t's pixels
through their depth and the poses into frame t + k (visible there when the depth at the landing pixel agrees),
against how often any reprojected point is wrong in frame t + k (the base rate). Independent errors give equal
rates; a real segmenter's repeat rate is far above its base rate.
Pure numpy; tools/segmenter_report.py runs them on held-out scenes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError
from gnesf_ros.eval.metrics import confusion_matrix, reliability_bins


def frame_scores(probs_chw: np.ndarray, labels: np.ndarray, num_bins: int = 10, ignore_id: int = IGNORE_ID
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities (C, H, W) and true labels (H, W) -> (confusion (C, C+1), reliability bins (num_bins, 3) of the
    argmax probability over labelled pixels, wrong (H, W) bool: labelled and argmax != label)."""
    probs_chw = np.asarray(probs_chw)
    labels = np.asarray(labels)
    if probs_chw.ndim != 3 or probs_chw.shape[1:] != labels.shape:
        raise InputError(f"frame_scores: probabilities (C, H, W) must match labels (H, W), got "
                         f"{probs_chw.shape} and {labels.shape}")
    C = probs_chw.shape[0]
    pred = probs_chw.argmax(axis=0)
    conf = probs_chw.max(axis=0)
    labelled = labels != ignore_id
    wrong = labelled & (pred != labels)
    bins = reliability_bins(conf[labelled], ~wrong[labelled], num_bins)
    return confusion_matrix(pred, labels, C, ignore_id), bins, wrong


@dataclass
class Persistence:
    """Counts of `error_persistence`, index k - 1 for k = 1..max_k (add the counts of several scans)."""

    wrong_pairs: np.ndarray  # (K,) points wrong at t and visible at t + k
    wrong_again: np.ndarray  # (K,) ... of which wrong at t + k too
    all_pairs: np.ndarray  # (K,) points visible at t + k (valid at t)
    all_wrong: np.ndarray  # (K,) ... wrong at t + k

    def __add__(self, other: "Persistence") -> "Persistence":
        return Persistence(self.wrong_pairs + other.wrong_pairs, self.wrong_again + other.wrong_again,
                           self.all_pairs + other.all_pairs, self.all_wrong + other.all_wrong)

    @property
    def repeat_rate(self) -> np.ndarray:
        """(K,) P(wrong at t + k | wrong at t), NaN without pairs."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.wrong_pairs > 0, self.wrong_again / self.wrong_pairs, np.nan)

    @property
    def base_rate(self) -> np.ndarray:
        """(K,) P(wrong at t + k) over all reprojected points, NaN without pairs."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.all_pairs > 0, self.all_wrong / self.all_pairs, np.nan)


def error_persistence(wrong: np.ndarray, depth_m: np.ndarray, K: np.ndarray, T_map_cam: np.ndarray,
                      max_k: int = 30, valid: np.ndarray | None = None, depth_rel_tol: float = 0.05,
                      stride: int = 1) -> Persistence:
    """Reproject every `stride`-th pixel of frame t into frame t + k and count repeated errors.

    wrong (F, H, W) bool; depth_m (F, H, W) z-depth (0 = none); K (3, 3) intrinsics, pixel centres at integer
    coordinates; T_map_cam (F, 4, 4). valid (F, H, W) bool: pixels that count (labelled); default all with depth.
    A point lands on the nearest pixel (floor(u + 0.5)) and is visible there when that pixel is valid and its
    depth is within `depth_rel_tol` (relative) of the point's z in frame t + k (not occluded).
    """
    wrong = np.asarray(wrong, dtype=bool)
    depth_m = np.asarray(depth_m, dtype=np.float64)
    T = np.asarray(T_map_cam, dtype=np.float64)
    F, H, W = wrong.shape if wrong.ndim == 3 else (0, 0, 0)
    if wrong.ndim != 3 or depth_m.shape != wrong.shape or T.shape != (F, 4, 4) or np.shape(K) != (3, 3):
        raise InputError(f"error_persistence: wrong and depth_m must be (F, H, W), T_map_cam (F, 4, 4), K (3, 3); "
                         f"got {wrong.shape}, {depth_m.shape}, {T.shape}, {np.shape(K)}")
    if max_k < 1 or stride < 1:
        raise InputError(f"error_persistence: max_k and stride must be >= 1, got {max_k}, {stride}")
    valid = (depth_m > 0) if valid is None else (np.asarray(valid, dtype=bool) & (depth_m > 0))
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    v, u = np.mgrid[0:H:stride, 0:W:stride]
    u, v = u.ravel(), v.ravel()
    counts = np.zeros((4, max_k), np.int64)
    for t in range(F - 1):
        keep = valid[t, v, u]
        z = depth_m[t, v[keep], u[keep]]
        pts_cam = np.stack([(u[keep] - cx) / fx * z, (v[keep] - cy) / fy * z, z], axis=1)
        pts_map = pts_cam @ T[t, :3, :3].T + T[t, :3, 3]
        was_wrong = wrong[t, v[keep], u[keep]]
        for k in range(1, min(max_k, F - 1 - t) + 1):
            s = t + k
            p = (pts_map - T[s, :3, 3]) @ T[s, :3, :3]  # R^T (p - t): map -> camera s
            zs = p[:, 2]
            front = zs > 1e-6
            us = np.floor(fx * p[:, 0] / np.where(front, zs, 1.0) + cx + 0.5).astype(np.int64)
            vs = np.floor(fy * p[:, 1] / np.where(front, zs, 1.0) + cy + 0.5).astype(np.int64)
            inside = front & (us >= 0) & (us < W) & (vs >= 0) & (vs < H)
            ui, vi = us[inside], vs[inside]
            seen = valid[s, vi, ui] & (np.abs(depth_m[s, vi, ui] - zs[inside]) <= depth_rel_tol * zs[inside])
            again = wrong[s, vi, ui] & seen
            src_wrong = was_wrong[inside]
            counts[:, k - 1] += (int((src_wrong & seen).sum()), int((src_wrong & again).sum()), int(seen.sum()),
                                 int(again.sum()))
    return Persistence(*counts)
