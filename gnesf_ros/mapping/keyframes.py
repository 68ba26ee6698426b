"""Keyframe selection and the bounded cache of keyframe data (downscaled images, semantics, poses, depth)."""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from gnesf_ros.errors import InputError
from gnesf_ros.frame import Frame
from gnesf_ros.geometry.camera import scale_intrinsics

ROTATION_WEIGHT_M_PER_RAD = 0.5
"""Pose distance = translation (m) + this x rotation angle (rad): 1 rad of turn counts like 0.5 m of travel."""


def pose_delta(T_map_a: np.ndarray, T_map_b: np.ndarray) -> tuple[float, float]:
    """Translation (m) and rotation angle (degrees) between two camera poses (4, 4)."""
    T_map_a = np.asarray(T_map_a, dtype=np.float64)
    T_map_b = np.asarray(T_map_b, dtype=np.float64)
    translation_m = float(np.linalg.norm(T_map_a[:3, 3] - T_map_b[:3, 3]))
    R_a_b = T_map_a[:3, :3].T @ T_map_b[:3, :3]
    cos_angle = np.clip((np.trace(R_a_b) - 1.0) / 2.0, -1.0, 1.0)
    return translation_m, math.degrees(math.acos(cos_angle))


def is_keyframe(T_map_last: np.ndarray | None, T_map_cam: np.ndarray, min_translation_m: float,
                min_rotation_deg: float) -> bool:
    """True when there is no last keyframe, or the camera moved >= min_translation_m or turned >= min_rotation_deg."""
    if T_map_last is None:
        return True
    translation_m, rotation_deg = pose_delta(T_map_last, T_map_cam)
    return translation_m >= min_translation_m or rotation_deg >= min_rotation_deg


def pose_distance(T_map_a: np.ndarray, T_map_b: np.ndarray) -> float:
    """Scalar pose distance used to rank source views: metres + ROTATION_WEIGHT_M_PER_RAD x radians."""
    translation_m, rotation_deg = pose_delta(T_map_a, T_map_b)
    return translation_m + ROTATION_WEIGHT_M_PER_RAD * math.radians(rotation_deg)


class KeyframeSelector:
    """Stateful keyframe test: remembers the pose of the last accepted keyframe.

    The one keyframe rule of the project: the mapper decides with one, and the ROS node, which decides keyframe-ness
    at receipt to thin its queue (2026-12-04), runs another built by `from_config` from the same `MapperConfig`."""

    def __init__(self, min_translation_m: float, min_rotation_deg: float):
        self.min_translation_m = min_translation_m
        self.min_rotation_deg = min_rotation_deg
        self.T_map_last: np.ndarray | None = None

    @classmethod
    def from_config(cls, cfg: Any) -> "KeyframeSelector":
        """A selector with the thresholds of `cfg` (a `MapperConfig`: `keyframe_min_translation_m`,
        `keyframe_min_rotation_deg`), so it decides exactly as a mapper built from `cfg`."""
        return cls(cfg.keyframe_min_translation_m, cfg.keyframe_min_rotation_deg)

    def check(self, T_map_cam: np.ndarray) -> bool:
        """Return whether this pose makes a keyframe; if so it becomes the new reference pose."""
        if is_keyframe(self.T_map_last, T_map_cam, self.min_translation_m, self.min_rotation_deg):
            self.T_map_last = np.array(T_map_cam, dtype=np.float64, copy=True)
            return True
        return False

    def reset(self) -> None:
        self.T_map_last = None


@dataclass
class Keyframe:
    """Cached data of one keyframe, at the downscaled resolution (h, w), as CPU tensors."""

    index: int  # running keyframe number since the last clear, unique
    stamp_ns: int
    image: torch.Tensor  # (3, h, w) float32 in [0, 1]
    probs: torch.Tensor  # (C, h, w) float32; an all-zero column = unknown pixel
    K: torch.Tensor  # (3, 3) float32 intrinsics of the downscaled image
    T_map_cam: torch.Tensor  # (4, 4) float32
    depth_m: torch.Tensor | None = None  # (h, w) float32, 0 = no measurement
    features: torch.Tensor | None = None  # (D, h', w') per-keyframe features when the model exposes a feature function

    @property
    def height(self) -> int:
        return int(self.image.shape[1])

    @property
    def width(self) -> int:
        return int(self.image.shape[2])


def downscale_frame(frame: Frame, width_px: int
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Frame -> image (3, h, w) in [0, 1], probs (C, h, w), K (3, 3) float64, depth (h, w) | None at width
    `width_px` (K scaled about pixel centres, `geometry.camera.scale_intrinsics`).

    Colours and probabilities are area-averaged (probabilities stay on the simplex; unknown pixels dilute
    the mass), depth is sampled nearest so that no depth is made up across an edge. width_px 0 or >= the
    frame's width keeps the resolution.
    """
    h, w = frame.height, frame.width
    image = torch.from_numpy(np.ascontiguousarray(frame.rgb)).permute(2, 0, 1).float().div_(255.0)
    probs = torch.from_numpy(np.ascontiguousarray(frame.probs, dtype=np.float32)).permute(2, 0, 1)
    depth = None
    if frame.depth_m is not None:
        d = np.nan_to_num(np.asarray(frame.depth_m, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        depth = torch.from_numpy(np.maximum(d, 0.0))
    K = torch.from_numpy(np.asarray(frame.K, dtype=np.float64))
    if width_px <= 0 or width_px >= w:
        return image.contiguous(), probs.contiguous(), K, depth
    new_w = int(width_px)
    new_h = max(1, int(round(h * new_w / w)))
    image = F.interpolate(image[None], size=(new_h, new_w), mode="area")[0]
    probs = F.interpolate(probs[None], size=(new_h, new_w), mode="area")[0]
    if depth is not None:
        depth = F.interpolate(depth[None, None], size=(new_h, new_w), mode="nearest")[0, 0]
    return image, probs, scale_intrinsics(K, new_w / w, new_h / h), depth


class KeyframeStore:
    """Bounded FIFO of `Keyframe`s: at most `max_keyframes`; the oldest is dropped first and counted."""

    def __init__(self, max_keyframes: int, image_width_px: int = 0,
                 feature_fn: Callable[[torch.Tensor], torch.Tensor] | None = None):
        if max_keyframes < 1:
            raise InputError(f"max_keyframes must be >= 1, got {max_keyframes}")
        self.max_keyframes = max_keyframes
        self.image_width_px = image_width_px
        self.feature_fn = feature_fn
        self._keyframes: deque[Keyframe] = deque()
        self._next_index = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._keyframes)

    def __iter__(self):
        return iter(self._keyframes)

    def make(self, frame: Frame, index: int = -1) -> Keyframe:
        """Downscale `frame` and compute its features (if a feature function is set), without caching it."""
        image, probs, K, depth = downscale_frame(frame, self.image_width_px)
        features = None
        if self.feature_fn is not None:
            with torch.no_grad():
                features = self.feature_fn(image[None])[0].detach()
        return Keyframe(index=index, stamp_ns=int(frame.stamp_ns), image=image, probs=probs,
                        K=K.float(),
                        T_map_cam=torch.from_numpy(np.asarray(frame.T_map_cam, dtype=np.float64)).float(),
                        depth_m=depth, features=features)

    def add(self, frame: Frame) -> Keyframe:
        """Downscale and cache `frame` (computing its features once, if a feature function is set)."""
        kf = self.make(frame, index=self._next_index)
        self._next_index += 1
        self._keyframes.append(kf)
        while len(self._keyframes) > self.max_keyframes:
            self._keyframes.popleft()
            self.dropped += 1
        return kf

    def latest(self, n: int) -> list[Keyframe]:
        """The last n keyframes, oldest first."""
        return list(self._keyframes)[-n:] if n > 0 else []

    def nearest(self, T_map_cam: np.ndarray, n: int) -> list[Keyframe]:
        """The n cached keyframes nearest to pose T_map_cam (4, 4) by `pose_distance`; ties -> newest first."""
        T = np.asarray(T_map_cam, dtype=np.float64)
        ranked = sorted(self._keyframes,
                        key=lambda kf: (pose_distance(kf.T_map_cam.double().numpy(), T), -kf.index))
        return ranked[:n]

    def clear(self) -> None:
        """Forget every keyframe (the dropped counter is kept: it is a diagnostic of the session)."""
        self._keyframes.clear()
