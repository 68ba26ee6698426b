"""Tiny real inputs for the mapper tests: a textured floor plane seen from a downward camera, and a fake
model implementing the mapper's `SceneModel` protocol (encode -> a window answering query / render) whose SDF is
the plane and whose semantics are the mean of the window's 2D probabilities at the point's projections (no vote
from views that do not see it)."""
from __future__ import annotations

import numpy as np
import torch

from gnesf_ros.classes import ClassList
from gnesf_ros.frame import Frame, labels_to_probs
from gnesf_ros.geometry.camera import Camera
from gnesf_ros.model import InferenceOptions, QueryResult, RenderResult

NUM_CLASSES = 4
HEIGHT, WIDTH = 24, 32
K_SMALL = np.array([[20.0, 0.0, 15.5], [0.0, 20.0, 11.5], [0.0, 0.0, 1.0]])
CAMERA_HEIGHT_M = 1.5


class FakeWindow:
    """The fake's encoded window (a `ModelWindow`): the views' probabilities and cameras; no SDF grid."""

    sdf_grid = None

    def __init__(self, probs: torch.Tensor, K: torch.Tensor, T_map_cam: torch.Tensor):
        self.probs, self.camera = probs, Camera(K, T_map_cam, *probs.shape[-2:])

    def query(self, points, max_abs_sdf_m=None) -> QueryResult:
        """SDF = z (the plane); semantics everywhere (the band is a permission to skip, not a duty)."""
        probs = self.probs
        v, c, h, w = probs.shape
        uv, _, valid = self.camera.project(points)
        u = uv[..., 0].round().long().clamp(0, w - 1)
        vv = uv[..., 1].round().long().clamp(0, h - 1)
        sampled = torch.stack([probs[i][:, vv[i], u[i]].T for i in range(v)])  # (V, P, C)
        sampled = sampled * valid[..., None]
        n = valid.sum(0)
        sem = sampled.sum(0) / n.clamp(min=1)[:, None]
        return QueryResult(sdf=points[:, 2].clone(), semantics=sem, num_valid=n)

    def render(self, K, T_map_cam, height, width, mode="sdf") -> RenderResult:
        origins, dirs = Camera.single(K, T_map_cam, height, width).rays()
        t = -origins[:, 2] / dirs[:, 2]
        hit = (t > 0) & torch.isfinite(t)
        pts = origins + dirs * t.clamp(min=0)[:, None]
        sem = self.query(pts).semantics * hit[:, None]
        return RenderResult(probs=sem.reshape(height, width, -1), depth=torch.where(hit, t, 0).reshape(height, width),
                            weight=hit.float().reshape(height, width))


class FakeModel:
    """A `SceneModel`: plane z = 0 as SDF; semantics = mean of the views' probabilities at the point's projections.

    Records each encode's (number of views, geometry_views) in `calls`."""

    default_options = InferenceOptions()

    def __init__(self, trunc_m: float = 0.2, num_classes: int = NUM_CLASSES):
        self.trunc_m, self.num_classes = trunc_m, num_classes
        self.calls: list[tuple[int, int | None]] = []

    @property
    def encode_calls(self) -> int:
        return len(self.calls)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return images[:, :1]  # (V, 1, H, W): cached per keyframe, never used

    def encode(self, images, probs, K, T_map_cam, origin_m, voxel_size_m, dims, sdf_volume=None, feats=None,
               depth_m=None, geometry_views=None, options=None) -> FakeWindow:
        assert images.ndim == 4 and images.shape[1] == 3
        assert probs.shape[0] == images.shape[0] and probs.shape[2:] == images.shape[2:]
        assert origin_m.shape == (3,) and len(dims) == 3
        if sdf_volume is not None:
            assert tuple(sdf_volume.shape) == tuple(dims)
        assert isinstance(options, InferenceOptions)
        self.calls.append((int(images.shape[0]), geometry_views))
        return FakeWindow(probs, K, T_map_cam)


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
