"""Tiny real inputs for the mapper tests: a textured floor plane seen from a downward camera, and a fake
model with the GNeSF API (encode / query / render) whose SDF is the plane and whose semantics are the mean
of the window's 2D probabilities at the point's projections (no vote from views that do not see it)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gnesf_ros.classes import ClassList
from gnesf_ros.frame import Frame, labels_to_probs
from gnesf_ros.geometry.camera import image_rays, project

NUM_CLASSES = 4
HEIGHT, WIDTH = 24, 32
K_SMALL = np.array([[20.0, 0.0, 15.5], [0.0, 20.0, 11.5], [0.0, 0.0, 1.0]])
CAMERA_HEIGHT_M = 1.5


@dataclass
class FakeQuery:
    sdf: torch.Tensor
    semantics: torch.Tensor
    num_valid: torch.Tensor


@dataclass
class FakeRender:
    probs: torch.Tensor
    depth: torch.Tensor
    weight: torch.Tensor


class FakeModel:
    """Plane z = 0 as SDF; semantics = mean of the views' probabilities at the point's projections."""

    def __init__(self):
        self.window = None
        self.encode_calls = 0

    def encode(self, images, probs, K, T_map_cam, origin_m, voxel_size_m, dims, sdf_volume=None, depth_m=None):
        assert images.ndim == 4 and images.shape[1] == 3
        assert probs.shape[0] == images.shape[0] and probs.shape[2:] == images.shape[2:]
        assert origin_m.shape == (3,) and len(dims) == 3
        if sdf_volume is not None:
            assert tuple(sdf_volume.shape) == tuple(dims)
        self.window = (probs, K, T_map_cam)
        self.encode_calls += 1
        return self.window

    def query(self, points):
        probs, K, T = self.window
        v, c, h, w = probs.shape
        uv, _, valid = project(points, K, T, h, w)
        u = uv[..., 0].round().long().clamp(0, w - 1)
        vv = uv[..., 1].round().long().clamp(0, h - 1)
        sampled = torch.stack([probs[i][:, vv[i], u[i]].T for i in range(v)])  # (V, P, C)
        sampled = sampled * valid[..., None]
        n = valid.sum(0)
        sem = sampled.sum(0) / n.clamp(min=1)[:, None]
        return FakeQuery(sdf=points[:, 2].clone(), semantics=sem, num_valid=n)

    def render(self, K, T_map_cam, height, width, mode="sdf"):
        origins, dirs = image_rays(K, T_map_cam, height, width)
        t = -origins[:, 2] / dirs[:, 2]
        hit = (t > 0) & torch.isfinite(t)
        pts = origins + dirs * t.clamp(min=0)[:, None]
        sem = self.query(pts).semantics * hit[:, None]
        return FakeRender(probs=sem.reshape(height, width, -1), depth=torch.where(hit, t, 0).reshape(height, width),
                          weight=hit.float().reshape(height, width))


def label_at(x_m: np.ndarray) -> np.ndarray:
    """Ground truth of the plane: class 1 where x < 0, class 2 elsewhere."""
    return np.where(x_m < 0.0, 1, 2)


def downward_pose(x_m: float, y_m: float = 0.0, height_m: float = CAMERA_HEIGHT_M) -> np.ndarray:
    """Camera at (x, y, height) looking straight down (optical z = -map z)."""
    T = np.eye(4)
    T[:3, :3] = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    T[:3, 3] = [x_m, y_m, height_m]
    return T


def plane_frame(x_m: float, stamp_ns: int = 0, with_depth: bool = True, confidence: float = 0.9) -> Frame:
    T = downward_pose(x_m)
    u = np.arange(WIDTH, dtype=np.float64)
    x_px = x_m + (u - K_SMALL[0, 2]) / K_SMALL[0, 0] * CAMERA_HEIGHT_M
    labels = np.repeat(label_at(x_px)[None, :], HEIGHT, axis=0)
    probs = labels_to_probs(labels, NUM_CLASSES, np.full(labels.shape, confidence, np.float32))
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb[..., 0] = (labels * 60).astype(np.uint8)
    depth = np.full((HEIGHT, WIDTH), CAMERA_HEIGHT_M, np.float32) if with_depth else None
    return Frame(rgb=rgb, K=K_SMALL.copy(), T_map_cam=T, probs=probs, stamp_ns=stamp_ns, depth_m=depth,
                 frame_id="cam")


def plane_sequence(n: int = 8, step_m: float = 0.15, with_depth: bool = True) -> list[Frame]:
    return [plane_frame(-0.5 + i * step_m, stamp_ns=i * 100_000_000, with_depth=with_depth) for i in range(n)]


def small_class_list() -> ClassList:
    colors = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
    return ClassList(names=("a", "b", "c", "d"), colors_rgb=colors)
