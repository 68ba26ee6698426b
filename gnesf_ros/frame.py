"""The unit of input: one posed RGB frame with its 2D semantics (and optional depth)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError


def labels_to_probs(labels: np.ndarray, num_classes: int, confidence: np.ndarray | None = None,
                    ignore_id: int = IGNORE_ID) -> np.ndarray:
    """Label ids (H, W) (+ confidence (H, W) in [0, 1]) -> probabilities (H, W, C) float32.

    The labelled class gets `confidence` (1 when absent) and the rest is spread evenly over the
    other classes, so every known pixel lies on the simplex. Unknown pixels (`ignore_id` or any id
    outside 0..C-1) get an all-zero row: they cast no vote.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InputError(f"label image must be (H, W), got shape {labels.shape}")
    h, w = labels.shape
    known = (labels >= 0) & (labels < num_classes) & (labels != ignore_id)
    if confidence is None:
        conf = np.ones((h, w), dtype=np.float32)
    else:
        conf = np.asarray(confidence, dtype=np.float32)
        if conf.shape != (h, w):
            raise InputError(f"confidence image must match labels {(h, w)}, got {conf.shape}")
        if not np.all(np.isfinite(conf)):
            raise InputError("confidence image contains NaN or inf")
        conf = np.clip(conf, 0.0, 1.0)
    rest = (1.0 - conf) / max(num_classes - 1, 1)
    probs = np.repeat(rest[..., None], num_classes, axis=2).astype(np.float32)
    rows, cols = np.nonzero(known)
    probs[rows, cols, labels[rows, cols].astype(np.int64)] = conf[rows, cols]
    probs[~known] = 0.0
    return probs


@dataclass
class Frame:
    """One posed camera frame. Arrays are numpy; poses map camera (OpenCV optical) to map frame."""

    rgb: np.ndarray  # (H, W, 3) uint8
    K: np.ndarray  # (3, 3) pinhole intrinsics, pixels
    T_map_cam: np.ndarray  # (4, 4) camera-to-map rigid transform
    probs: np.ndarray  # (H, W, C) float32 2D semantic probabilities; an all-zero row = unknown pixel
    stamp_ns: int = 0
    depth_m: np.ndarray | None = None  # (H, W) float32 metres; 0 or NaN = no measurement
    frame_id: str = "camera"

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.probs.shape[2])

    def validate(self, num_classes: int | None = None) -> "Frame":
        """Check shapes, dtypes and values; raise InputError saying what is wrong. Returns self."""
        where = f"frame {self.frame_id} @ {self.stamp_ns} ns"
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise InputError(f"{where}: rgb must be (H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
        h, w = self.rgb.shape[:2]
        if h == 0 or w == 0:
            raise InputError(f"{where}: empty image {h}x{w}")
        if self.probs.ndim != 3 or self.probs.shape[:2] != (h, w):
            raise InputError(f"{where}: semantics must be (H, W, C) with H, W = {(h, w)}, got {self.probs.shape}")
        if num_classes is not None and self.probs.shape[2] != num_classes:
            raise InputError(f"{where}: expected {num_classes} semantic channels, got {self.probs.shape[2]}")
        if not np.all(np.isfinite(self.probs)) or self.probs.min(initial=0.0) < 0.0:
            raise InputError(f"{where}: semantic probabilities must be finite and non-negative")
        if np.asarray(self.K).shape != (3, 3) or not np.all(np.isfinite(self.K)) or self.K[0, 0] <= 0 or self.K[1, 1] <= 0:
            raise InputError(f"{where}: K must be a finite 3x3 pinhole matrix with positive focal lengths")
        T = np.asarray(self.T_map_cam)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise InputError(f"{where}: T_map_cam must be a finite 4x4 matrix, got shape {T.shape}")
        R = T[:3, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-3) or np.linalg.det(R) < 0.0 or not np.allclose(T[3], [0, 0, 0, 1]):
            raise InputError(f"{where}: T_map_cam is not a rigid transform")
        if self.depth_m is not None and self.depth_m.shape != (h, w):
            raise InputError(f"{where}: depth must be (H, W) = {(h, w)}, got {self.depth_m.shape}")
        return self
