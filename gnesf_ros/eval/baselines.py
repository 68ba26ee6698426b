"""Non-learned baselines: fuse the SAME 2D inputs (`Frame.probs`) over a depth-derived surface.

Each frame's valid depth pixels (optionally every `pixel_stride`-th row and column) are back-projected
to map points and quantised to voxels (4 cm default); per voxel the pixels' semantics are accumulated:

- `BayesFusion` (Kimera-Semantics style): sum over observations of log(max(p, eps)) per class, i.e. the
  naive-Bayes posterior up to a constant; label = argmax, confidence = the normalised posterior's max.
- `MajorityVote`: per-voxel counts of each pixel's argmax label; label = the most voted class (ties go
  to the lowest class id), confidence = its vote share.

Pixels whose probability row is all zero are unknown: they add geometry (the voxel exists) but no vote,
so a voxel that only unknown pixels saw keeps the unknown label (`IGNORE_ID`). Everything is vectorised
numpy; voxels live in a sparse map of int64 keys, merged with `np.unique` and sparse segment sums.

Outputs: `points()` -> surface points (mean of the pixels that fell in each voxel) with labels, which the
3D (Atlas) metric takes; `render(K, T_map_cam, h, w)` -> a z-buffered splat of the labelled voxels into
any view, so the baselines can be scored in 2D as well.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import scipy.sparse as sp

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError
from gnesf_ros.frame import Frame
from gnesf_ros.geometry.splat import SplatRender, splat_labels
from gnesf_ros.geometry.voxel_keys import pack_keys, unpack_keys

def _segment_sum(inv: np.ndarray, values: np.ndarray, m: int) -> np.ndarray:
    """Rows of `values` (N, D) summed by segment id `inv` (N,) in 0..m-1 -> (m, D) float64 (one sparse product)."""
    n = inv.shape[0]
    onehot = sp.csr_matrix((np.ones(n), (inv, np.arange(n))), shape=(m, n))
    return np.asarray(onehot @ values.astype(np.float64, copy=False))


# The baselines' names for the shared packing (gnesf_ros/geometry/voxel_keys.py); eval/evaluate.py uses them too.
voxel_keys = pack_keys
"""Integer voxel coordinates (N, 3) -> int64 keys (N,) (21 bits per axis)."""
keys_to_voxels = unpack_keys
"""Inverse of `voxel_keys`: int64 keys (N,) -> integer voxel coordinates (N, 3)."""


def backproject_depth(depth_m: np.ndarray, K: np.ndarray, T_map_cam: np.ndarray, pixel_stride: int = 1,
                      max_depth_m: float = np.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valid depth pixels of one frame -> map points.

    Args:
        depth_m: (H, W) z-depth in metres; 0, negative, NaN and inf are "no measurement".
        K: (3, 3) intrinsics.  T_map_cam: (4, 4) camera-to-map pose.
        pixel_stride: keep every stride-th row and column (1 = all pixels).
        max_depth_m: pixels deeper than this are dropped.
    Returns:
        pts_map (N, 3) float64, rows (N,) and cols (N,) int64 pixel indices of the kept pixels.
    """
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2:
        raise InputError(f"depth must be (H, W), got shape {depth_m.shape}")
    if pixel_stride < 1:
        raise InputError(f"pixel_stride must be >= 1, got {pixel_stride}")
    sub = depth_m[::pixel_stride, ::pixel_stride]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(sub) & (sub > 0.0) & (sub <= max_depth_m)
    r, c = np.nonzero(ok)
    z = sub[r, c].astype(np.float64)
    rows, cols = r * pixel_stride, c * pixel_stride
    K = np.asarray(K, dtype=np.float64)
    T = np.asarray(T_map_cam, dtype=np.float64)
    pts_cam = np.stack([(cols - K[0, 2]) / K[0, 0] * z, (rows - K[1, 2]) / K[1, 1] * z, z], axis=1)
    return pts_cam @ T[:3, :3].T + T[:3, 3], rows.astype(np.int64), cols.astype(np.int64)


@dataclass
class FusedPoints:
    """Surface points of a fused map: one per voxel."""

    xyz: np.ndarray  # (N, 3) float64 mean of the back-projected pixels in the voxel, map frame
    label: np.ndarray  # (N,) int64 class id, IGNORE_ID = no semantic observation
    confidence: np.ndarray  # (N,) float64 in [0, 1], 0 for unknown voxels


class VoxelSemanticFusion:
    """Sparse voxel map accumulating per-class scores of back-projected pixels (base of the baselines).

    Subclasses define `_accumulate(probs (N, C), voxel (N,), M) -> (M, C)` (one frame's known pixels summed per
    voxel) and `_decide(scores (M, C)) -> (label (M,), confidence (M,))`.
    Frames are reduced to unique voxels one at a time and buffered; the buffer is merged into the map
    (one `np.unique` over all keys) when it grows past `merge_rows` or when results are asked for.
    """

    score_dtype = np.float64

    def __init__(self, num_classes: int, voxel_size_m: float = 0.04, pixel_stride: int = 1,
                 max_depth_m: float = np.inf, merge_rows: int = 2_000_000) -> None:
        if num_classes < 1:
            raise InputError(f"num_classes must be >= 1, got {num_classes}")
        if not voxel_size_m > 0.0:
            raise InputError(f"voxel_size_m must be > 0, got {voxel_size_m}")
        if pixel_stride < 1:
            raise InputError(f"pixel_stride must be >= 1, got {pixel_stride}")
        self.num_classes = int(num_classes)
        self.voxel_size_m = float(voxel_size_m)
        self.pixel_stride = int(pixel_stride)
        self.max_depth_m = float(max_depth_m)
        self.merge_rows = int(merge_rows)
        self.clear()

    def clear(self) -> None:
        """Forget every voxel."""
        c = self.num_classes
        self._keys = np.zeros(0, dtype=np.int64)  # (M,) sorted
        self._scores = np.zeros((0, c), dtype=self.score_dtype)  # (M, C)
        self._xyz_sum = np.zeros((0, 3), dtype=np.float64)  # (M, 3)
        self._n_points = np.zeros(0, dtype=np.int64)  # (M,) pixels that fell in the voxel
        self._n_votes = np.zeros(0, dtype=np.int64)  # (M,) pixels with known semantics
        self._buffer: list[tuple[np.ndarray, ...]] = []
        self._buffer_rows = 0
        self._points: FusedPoints | None = None  # cache of points(include_unknown=True)
        self.num_frames = 0

    @property
    def num_voxels(self) -> int:
        self._merge()
        return int(self._keys.size)

    # -- integration ---------------------------------------------------------------------------------
    def integrate(self, frame: Frame) -> int:
        """Fuse one frame (needs `frame.depth_m`); returns the number of pixels integrated."""
        if frame.depth_m is None:
            raise InputError(f"frame {frame.frame_id} @ {frame.stamp_ns} ns: {type(self).__name__} needs depth")
        if frame.probs.shape[2] != self.num_classes:
            raise InputError(f"frame {frame.frame_id} @ {frame.stamp_ns} ns: expected {self.num_classes} semantic "
                             f"channels, got {frame.probs.shape[2]}")
        if frame.depth_m.shape != frame.probs.shape[:2]:
            raise InputError(f"frame {frame.frame_id} @ {frame.stamp_ns} ns: depth {frame.depth_m.shape} and "
                             f"semantics {frame.probs.shape[:2]} differ in size")
        pts, rows, cols = backproject_depth(frame.depth_m, frame.K, frame.T_map_cam, self.pixel_stride, self.max_depth_m)
        self.num_frames += 1
        if pts.shape[0] == 0:
            return 0
        probs = np.asarray(frame.probs[rows, cols], dtype=np.float32)  # (N, C)
        voted = probs.sum(axis=1) > 0.0  # all-zero rows are unknown: geometry, no vote
        keys = voxel_keys(np.floor(pts / self.voxel_size_m).astype(np.int64))
        ukeys, inv = np.unique(keys, return_inverse=True)
        m = ukeys.size
        acc = self._accumulate(probs[voted], inv[voted], m)
        xyz = _segment_sum(inv, pts, m)
        n_pts = np.bincount(inv, minlength=m).astype(np.int64)
        n_votes = np.bincount(inv[voted], minlength=m).astype(np.int64)
        self._buffer.append((ukeys, acc, xyz, n_pts, n_votes))
        self._buffer_rows += m
        self._points = None
        if self._buffer_rows >= self.merge_rows:
            self._merge()
        return int(pts.shape[0])

    def integrate_all(self, frames: Iterable[Frame]) -> "VoxelSemanticFusion":
        for frame in frames:
            self.integrate(frame)
        return self

    def _merge(self) -> None:
        if not self._buffer:
            return
        parts = [(self._keys, self._scores, self._xyz_sum, self._n_points, self._n_votes)] + self._buffer
        keys = np.concatenate([p[0] for p in parts])
        ukeys, inv = np.unique(keys, return_inverse=True)
        m = ukeys.size
        scores = _segment_sum(inv, np.concatenate([p[1] for p in parts]), m).astype(self.score_dtype)
        self._xyz_sum = _segment_sum(inv, np.concatenate([p[2] for p in parts]), m)
        self._n_points = np.bincount(inv, weights=np.concatenate([p[3] for p in parts]), minlength=m).astype(np.int64)
        self._n_votes = np.bincount(inv, weights=np.concatenate([p[4] for p in parts]), minlength=m).astype(np.int64)
        self._keys, self._scores = ukeys, scores
        self._buffer, self._buffer_rows = [], 0

    # -- results -------------------------------------------------------------------------------------
    def voxel_scores(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw accumulators: keys (M,) int64 sorted, scores (M, C), votes (M,) (pixels with known semantics)."""
        self._merge()
        return self._keys, self._scores, self._n_votes

    def points(self, include_unknown: bool = True) -> FusedPoints:
        """One surface point per voxel (mean of its pixels) with label and confidence.

        Voxels no pixel with known semantics reached carry IGNORE_ID; they are geometry the map has but
        cannot label, like the mapper's unknown points, and are kept unless `include_unknown` is False.
        """
        if self._points is None:
            self._merge()
            xyz = self._xyz_sum / np.maximum(self._n_points, 1)[:, None]
            label, conf = self._decide(self._scores)
            known = self._n_votes > 0
            self._points = FusedPoints(xyz=xyz, label=np.where(known, label, IGNORE_ID).astype(np.int64),
                                       confidence=np.where(known, conf, 0.0))
        pts = self._points
        if include_unknown:
            return FusedPoints(pts.xyz.copy(), pts.label.copy(), pts.confidence.copy())
        known = pts.label != IGNORE_ID
        return FusedPoints(pts.xyz[known], pts.label[known], pts.confidence[known])

    def render(self, K: np.ndarray, T_map_cam: np.ndarray, height: int, width: int,
               footprint_scale: float = 1.5) -> SplatRender:
        """Label image of the fused voxels seen from camera (K, T_map_cam): nearest voxel wins.

        Each voxel is splatted as a square of side `footprint_scale` x voxel size around its point: the
        points are pixel means, not grid centres, and a voxel seen obliquely projects wider than its edge,
        so 1.5 closes the gaps between neighbours while growing object borders by at most a quarter voxel.
        """
        self.points()  # fills the cache
        pts = self._points
        return splat_labels(pts.xyz, pts.label, K, T_map_cam, height, width,
                            footprint_m=footprint_scale * self.voxel_size_m)

    # -- per-method rules ----------------------------------------------------------------------------
    def _accumulate(self, probs: np.ndarray, voxel: np.ndarray, m: int) -> np.ndarray:
        raise NotImplementedError

    def _decide(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class BayesFusion(VoxelSemanticFusion):
    """Kimera-Semantics-style Bayesian fusion: per voxel, sum of log(max(p, eps)) over observations."""

    def __init__(self, num_classes: int, voxel_size_m: float = 0.04, pixel_stride: int = 1,
                 max_depth_m: float = np.inf, eps: float = 1e-3, merge_rows: int = 2_000_000) -> None:
        if not 0.0 < eps < 1.0:
            raise InputError(f"eps must be in (0, 1), got {eps}")
        self.eps = float(eps)
        super().__init__(num_classes, voxel_size_m, pixel_stride, max_depth_m, merge_rows)

    def _accumulate(self, probs: np.ndarray, voxel: np.ndarray, m: int) -> np.ndarray:
        return _segment_sum(voxel, np.log(np.maximum(probs.astype(np.float64), self.eps)), m)

    def _decide(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if scores.shape[0] == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        label = np.argmax(scores, axis=1)
        shifted = scores - scores.max(axis=1, keepdims=True)
        posterior_max = 1.0 / np.exp(shifted).sum(axis=1)  # softmax at the argmax
        return label, posterior_max


class MajorityVote(VoxelSemanticFusion):
    """Per voxel, counts of each pixel's argmax label; the most voted class wins (ties: lowest id)."""

    score_dtype = np.int64

    def _accumulate(self, probs: np.ndarray, voxel: np.ndarray, m: int) -> np.ndarray:
        c = self.num_classes
        return np.bincount(voxel * c + np.argmax(probs, axis=1), minlength=m * c).reshape(m, c).astype(np.int64)

    def _decide(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if scores.shape[0] == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        label = np.argmax(scores, axis=1)
        total = np.maximum(scores.sum(axis=1), 1)
        return label, scores[np.arange(scores.shape[0]), label] / total


def bayes_fusion(frames: Iterable[Frame], num_classes: int, **kwargs) -> BayesFusion:
    """Fuse `frames` with `BayesFusion(num_classes, **kwargs)`; read results with `.points()` / `.render()`."""
    fusion = BayesFusion(num_classes, **kwargs)
    fusion.integrate_all(frames)
    return fusion


def majority_vote(frames: Iterable[Frame], num_classes: int, **kwargs) -> MajorityVote:
    """Fuse `frames` with `MajorityVote(num_classes, **kwargs)`; read results with `.points()` / `.render()`."""
    fusion = MajorityVote(num_classes, **kwargs)
    fusion.integrate_all(frames)
    return fusion


def probs_to_labels(probs: np.ndarray) -> np.ndarray:
    """Argmax labels (H, W) int64 of a probability image (H, W, C); all-zero rows -> IGNORE_ID."""
    probs = np.asarray(probs)
    label = np.argmax(probs, axis=-1).astype(np.int64)
    return np.where(probs.sum(axis=-1) > 0.0, label, IGNORE_ID)
