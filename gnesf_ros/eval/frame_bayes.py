"""Per-frame naive Bayes at given map points: a reference for what per-point fusion can make of the input.

Each point is projected into every input frame; a frame votes for it when the point lies in its image, in
front of it and within `max_depth_m`, and the frame's depth at the point's (nearest) pixel agrees with the
point's depth to `depth_tol_m` (so occluded and silhouette views stay out). A vote adds log(p + eps) of that
pixel's class probabilities; the label is the argmax of the sum. When the 2D errors are calibrated and
independent across frames, as the synthetic noise model makes them (docs/segmenter_noise.md), this is the
most probable class of each point given the frames, whatever weights a learned vote would give them.
`tools/fusion_bound.py` uses it to bound the 3D labels of gnesf_depth and bayes_fusion at their own points.

With a real segmenter the errors are neither calibrated nor independent, and a learned vote may beat naive
Bayes by trusting the right views. Given each point's true label, `FrameBayes` then also bounds every such
vote: `view_oracle_labels` picks a view that is right wherever one is (the best hard view choice), and
`soft_vote_bound_labels` is right wherever no class beats the truth in every view. A weighted vote of per-view
scores that rise with each class's probability (Eq. 3's soft vote, on probabilities, their powers or their
logarithms) cannot rank the truth first where some class beats it in every view, so no such vote scores higher.
"""
from __future__ import annotations

import numpy as np
import torch

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError
from gnesf_ros.frame import Frame
from gnesf_ros.geometry.camera import Camera


class FrameBayes:
    """Accumulates per-frame log-probability votes at fixed map points (N, 3); vectorised per frame."""

    def __init__(self, points_map: np.ndarray, num_classes: int, max_depth_m: float = np.inf,
                 depth_tol_m: float = 0.04, eps: float = 1e-3, truth: np.ndarray | None = None) -> None:
        pts = np.asarray(points_map, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3 or not np.all(np.isfinite(pts)):
            raise InputError(f"FrameBayes: points must be finite (N, 3), got shape {pts.shape}")
        if num_classes < 1 or not depth_tol_m > 0.0 or not max_depth_m > 0.0 or not eps > 0.0:
            raise InputError("FrameBayes: num_classes >= 1 and positive depth_tol_m, max_depth_m, eps required, got "
                             f"{num_classes}, {depth_tol_m}, {max_depth_m}, {eps}")
        self.points_map = pts
        self.num_classes = num_classes
        self.max_depth_m, self.depth_tol_m, self.eps = float(max_depth_m), float(depth_tol_m), float(eps)
        self.log_evidence = np.zeros((pts.shape[0], num_classes))  # (N, C) sum of log(p + eps) over votes
        self.num_votes = np.zeros(pts.shape[0], dtype=np.int64)  # (N,)
        self.truth = None if truth is None else np.asarray(truth, dtype=np.int64).reshape(-1)  # (N,) or None
        if self.truth is not None and self.truth.shape[0] != pts.shape[0]:
            raise InputError(f"FrameBayes: {self.truth.shape[0]} truth labels for {pts.shape[0]} points")
        self.some_view_right = np.zeros(pts.shape[0], dtype=bool)  # (N,) a vote's argmax was the truth
        self.truth_not_beaten = np.zeros((pts.shape[0], num_classes), dtype=bool)  # (N, C) a vote had p_t >= p_c

    def add(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Add the votes of one frame (with depth); a frame without depth cannot check visibility: refused.
        Returns the votes added, as `visible_votes` gives them."""
        votes = self.visible_votes(frame)
        idx, _rows, _cols, probs = votes
        self.log_evidence[idx] += np.log(probs + self.eps)
        self.num_votes[idx] += 1
        if self.truth is not None:
            self._add_oracle(idx, probs)
        return votes

    def visible_votes(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The votes `frame` casts: (idx (M,) voting points, rows (M,), cols (M,) their nearest pixels, probs (M, C)
        there). Accumulates nothing."""
        if frame.depth_m is None:
            raise InputError("FrameBayes: a frame without depth cannot tell which points it sees")
        if frame.probs.shape[2] != self.num_classes:
            raise InputError(f"FrameBayes: frame has {frame.probs.shape[2]} classes, expected {self.num_classes}")
        if np.shape(frame.depth_m) != frame.probs.shape[:2]:
            raise InputError(f"FrameBayes: depth {np.shape(frame.depth_m)} does not match the semantics "
                             f"{frame.probs.shape[:2]}")
        camera = Camera.single(np.asarray(frame.K, dtype=np.float64), np.asarray(frame.T_map_cam, dtype=np.float64),
                               frame.height, frame.width)
        uv, z, valid = camera.project(torch.from_numpy(self.points_map))
        uv, z = uv[0].numpy(), z[0].numpy()  # (N, 2), (N,)
        idx = np.flatnonzero(valid[0].numpy() & (z <= self.max_depth_m))
        c, r = np.floor(uv[idx] + 0.5).astype(np.int64).T  # the nearest pixel, inside the image where valid
        depth = np.asarray(frame.depth_m, dtype=np.float64)[r, c]
        with np.errstate(invalid="ignore"):  # NaN depth = no measurement: no vote
            agree = np.abs(depth - z[idx]) <= self.depth_tol_m
        probs = np.asarray(frame.probs[r[agree], c[agree]], dtype=np.float64)  # (M, C)
        known = probs.sum(axis=1) > 0.0  # an all-zero row is an unknown pixel: no vote
        return idx[agree][known], r[agree][known], c[agree][known], probs[known]

    def _add_oracle(self, idx: np.ndarray, probs: np.ndarray) -> None:
        """Record, for the voting points `idx` (M,) with probabilities (M, C), where the truth wins or ties."""
        t = self.truth[idx]
        scored = (t >= 0) & (t < self.num_classes)
        idx, t, probs = idx[scored], t[scored], probs[scored]
        p_true = probs[np.arange(idx.size), t][:, None]  # (M, 1)
        self.truth_not_beaten[idx] |= p_true >= probs
        self.some_view_right[idx] |= probs.argmax(axis=1) == t

    def labels(self) -> np.ndarray:
        """(N,) int64 argmax class per point; IGNORE_ID where no frame voted."""
        return np.where(self.num_votes > 0, self.log_evidence.argmax(axis=1), IGNORE_ID).astype(np.int64)

    def view_oracle_labels(self) -> np.ndarray:
        """(N,) the truth where some voting view's argmax is the truth, else `labels()` (needs `truth`)."""
        return np.where(self.some_view_right, self._truth_or_refuse(), self.labels())

    def soft_vote_bound_labels(self) -> np.ndarray:
        """(N,) the truth where no class beats it in every voting view, else `labels()` (needs `truth`)."""
        attainable = self.truth_not_beaten.all(axis=1) & (self.num_votes > 0)
        return np.where(attainable, self._truth_or_refuse(), self.labels())

    def _truth_or_refuse(self) -> np.ndarray:
        if self.truth is None:
            raise InputError("FrameBayes: the oracle labels need the points' true labels (truth=...)")
        return self.truth
