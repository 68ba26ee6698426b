"""Geometry metrics: how well a map's surface points match the true surface, and how well rendered depth matches
measured depth; plus an open3d TSDF fusion of the input depth as the reference any depth map can reach.

Point-cloud scores follow the protocol of Atlas / TransformerFusion: both clouds are downsampled to one point per
`voxel_m` voxel (mean of its points), then

    accuracy      mean distance map -> truth (m)         precision  fraction of map points within `threshold_m`
    completeness  mean distance truth -> map (m)         recall     fraction of true points within `threshold_m`
    fscore        2 precision recall / (precision + recall)

Depth scores compare a rendered z-depth image with a measured one where both are known (> 0, finite, measured
depth within `max_depth_m`): AbsRel = mean |d - d*| / d*, RMSE = sqrt(mean (d - d*)^2), delta<1.25 = fraction with
max(d / d*, d* / d) < 1.25; coverage = fraction of the measured pixels that have a rendered depth at all.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from gnesf_ros.errors import InputError

F_THRESHOLD_M = 0.05
"""Distance under which a point counts as matched (precision, recall, F-score): 5 cm, as Atlas and NeuralRecon."""
DOWNSAMPLE_M = 0.02
"""Both clouds are reduced to one point per voxel of this edge before scoring, so dense regions do not dominate."""


def _points(xyz: np.ndarray, name: str) -> np.ndarray:
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise InputError(f"{name} must be (N, 3) points, got shape {xyz.shape}")
    return xyz[np.all(np.isfinite(xyz), axis=1)]


def downsample_points(xyz: np.ndarray, voxel_m: float) -> np.ndarray:
    """Mean point (M, 3) of each occupied voxel of edge `voxel_m` (voxel = floor(x / voxel_m)); 0 = keep all."""
    xyz = _points(xyz, "xyz")
    if voxel_m <= 0 or xyz.shape[0] == 0:
        return xyz
    keys = np.floor(xyz / voxel_m).astype(np.int64)
    _, inv, count = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    out = np.stack([np.bincount(inv, weights=xyz[:, a], minlength=count.size) for a in range(3)], axis=1)
    return out / count[:, None]


@dataclass
class GeometryScores:
    """Point-cloud scores of one map against one true surface (distances in metres, fractions in [0, 1])."""

    accuracy_m: float  # mean distance map -> truth; NaN without map points
    completeness_m: float  # mean distance truth -> map; NaN without map points
    precision: float
    recall: float
    fscore: float
    num_pred: int  # points after downsampling
    num_true: int
    threshold_m: float

    def as_dict(self, prefix: str = "") -> dict[str, float | int | None]:
        """JSON-ready keys, e.g. `fscore_5cm`, `precision_5cm`, `accuracy_m` (NaN -> None)."""
        cm = f"{round(self.threshold_m * 100):d}cm"
        values = {"accuracy_m": self.accuracy_m, "completeness_m": self.completeness_m,
                  f"precision_{cm}": self.precision, f"recall_{cm}": self.recall, f"fscore_{cm}": self.fscore}
        out: dict[str, float | int | None] = {prefix + k: (round(float(v), 4) if math.isfinite(v) else None)
                                              for k, v in values.items()}
        out[prefix + "geometry_points"] = self.num_pred
        out[prefix + "geometry_truth_points"] = self.num_true
        return out


def geometry_scores(pred_xyz: np.ndarray, true_xyz: np.ndarray, threshold_m: float = F_THRESHOLD_M,
                    voxel_m: float = DOWNSAMPLE_M) -> GeometryScores:
    """Scores of map points pred_xyz (N, 3) against true surface points true_xyz (M, 3) (module docstring)."""
    if not threshold_m > 0:
        raise InputError(f"threshold_m must be > 0, got {threshold_m}")
    pred = downsample_points(pred_xyz, voxel_m)
    true = downsample_points(true_xyz, voxel_m)
    if true.shape[0] == 0:
        raise InputError("geometry_scores: the true surface has no points")
    if pred.shape[0] == 0:
        return GeometryScores(math.nan, math.nan, 0.0, 0.0, 0.0, 0, int(true.shape[0]), threshold_m)
    d_pred, _ = cKDTree(true).query(pred, k=1)  # map -> truth
    d_true, _ = cKDTree(pred).query(true, k=1)  # truth -> map
    precision = float(np.mean(d_pred < threshold_m))
    recall = float(np.mean(d_true < threshold_m))
    fscore = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return GeometryScores(float(d_pred.mean()), float(d_true.mean()), precision, recall, fscore,
                          int(pred.shape[0]), int(true.shape[0]), threshold_m)


@dataclass
class DepthErrors:
    """Rendered-depth errors over the pixels where both depths are known."""

    abs_rel: float  # NaN where no pixel is scored
    rmse_m: float
    delta_1_25: float
    coverage: float  # scored pixels / measured pixels in range (a render that leaves pixels blank is not punished
    # by the errors above, so this says how much it covered)
    num_pixels: int

    def as_dict(self, prefix: str = "depth_") -> dict[str, float | int | None]:
        values = {"abs_rel": self.abs_rel, "rmse_m": self.rmse_m, "delta_1_25": self.delta_1_25,
                  "coverage": self.coverage}
        out: dict[str, float | int | None] = {prefix + k: (round(float(v), 4) if math.isfinite(v) else None)
                                              for k, v in values.items()}
        out[prefix + "pixels"] = self.num_pixels
        return out


class DepthAccumulator:
    """Sums of depth errors over many (rendered, measured) image pairs, pooled over pixels."""

    def __init__(self, max_depth_m: float = math.inf) -> None:
        self.max_depth_m = float(max_depth_m)
        self.abs_rel_sum = self.sq_sum = 0.0
        self.delta_count = self.scored = self.measured = 0

    def add(self, pred_m: np.ndarray, true_m: np.ndarray) -> None:
        """One pair of (H, W) z-depth images in metres; 0, NaN and inf mean unknown."""
        pred = np.asarray(pred_m, dtype=np.float64)
        true = np.asarray(true_m, dtype=np.float64)
        if pred.shape != true.shape:
            raise InputError(f"rendered depth {pred.shape} and measured depth {true.shape} differ in size")
        measured = np.isfinite(true) & (true > 0) & (true <= self.max_depth_m)
        both = measured & np.isfinite(pred) & (pred > 0)
        p, t = pred[both], true[both]
        self.abs_rel_sum += float(np.sum(np.abs(p - t) / t))
        self.sq_sum += float(np.sum((p - t) ** 2))
        self.delta_count += int(np.sum(np.maximum(p / t, t / p) < 1.25))
        self.scored += int(both.sum())
        self.measured += int(measured.sum())

    def merge(self, other: "DepthAccumulator") -> None:
        self.abs_rel_sum += other.abs_rel_sum
        self.sq_sum += other.sq_sum
        self.delta_count += other.delta_count
        self.scored += other.scored
        self.measured += other.measured

    def result(self) -> DepthErrors:
        n = self.scored
        if n == 0:
            return DepthErrors(math.nan, math.nan, math.nan, 0.0, 0)
        return DepthErrors(self.abs_rel_sum / n, math.sqrt(self.sq_sum / n), self.delta_count / n,
                           n / max(self.measured, 1), n)


def depth_errors(pred_m: np.ndarray, true_m: np.ndarray, max_depth_m: float = math.inf) -> DepthErrors:
    """Errors of one rendered z-depth image against a measured one (both (H, W) metres, 0 = unknown)."""
    acc = DepthAccumulator(max_depth_m)
    acc.add(pred_m, true_m)
    return acc.result()


class TSDFFusion:
    """open3d's TSDF fusion (`VoxelBlockGrid`, the KinectFusion running average) of depth frames: the reference
    geometry of a depth stream, and with no labels at all the truth `gnesf-eval scannet --geometry-only` scores
    against. `points()` are the zero crossings of voxels whose fused weight (frames that saw them) exceeds
    `min_weight` (0.5: seen once); `render_depth` ray-casts the extracted mesh. Blocks of 8^3 voxels are
    allocated as the surface grows. The grid is shifted by a fraction of a voxel (`GRID_SHIFT`): open3d finds no zero
    crossing where the TSDF is exactly 0 at its vertices (a plane on the lattice, e.g. a wall at z = 2 m)."""

    GRID_SHIFT = (0.3719, 0.4127, 0.2939)  # voxels; off any round number

    def __init__(self, voxel_m: float = DOWNSAMPLE_M, trunc_voxels: float = 4.0, max_depth_m: float = 3.0,
                 min_weight: float = 0.5):
        import open3d as o3d
        import open3d.core as o3c

        if not (voxel_m > 0 and trunc_voxels > 0 and max_depth_m > 0):
            raise InputError(f"TSDFFusion needs positive voxel_m, trunc_voxels, max_depth_m, got {voxel_m}, "
                             f"{trunc_voxels}, {max_depth_m}")
        self._o3d, self._o3c = o3d, o3c
        self.max_depth_m, self.trunc_voxels, self.min_weight = float(max_depth_m), float(trunc_voxels), min_weight
        self.grid = o3d.t.geometry.VoxelBlockGrid(
            attr_names=("tsdf", "weight"), attr_dtypes=(o3c.float32, o3c.float32), attr_channels=((1), (1)),
            voxel_size=float(voxel_m), block_resolution=8, block_count=4096, device=o3c.Device("CPU:0"))
        self.frames = 0
        self._scene = None
        self._shift_m = np.asarray(self.GRID_SHIFT) * float(voxel_m)  # map point x sits at x + shift in the grid

    def _grid_pose(self, T_map_cam: np.ndarray) -> np.ndarray:
        T = np.array(T_map_cam, dtype=np.float64, copy=True)
        T[:3, 3] += self._shift_m
        return T

    def integrate(self, depth_m: np.ndarray, K: np.ndarray, T_map_cam: np.ndarray) -> None:
        """Fuse one z-depth image (H, W) metres (0 / NaN = none) seen by K (3, 3) at T_map_cam (4, 4)."""
        o3d, o3c = self._o3d, self._o3c
        depth = np.nan_to_num(np.asarray(depth_m, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        depth = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(np.maximum(depth, 0.0))))
        K = o3c.Tensor(np.asarray(K, dtype=np.float64))
        T_cam_map = o3c.Tensor(np.linalg.inv(self._grid_pose(T_map_cam)))
        blocks = self.grid.compute_unique_block_coordinates(depth, K, T_cam_map, 1.0, self.max_depth_m,
                                                            self.trunc_voxels)
        self.grid.integrate(blocks, depth, K, T_cam_map, 1.0, self.max_depth_m, self.trunc_voxels)
        self.frames += 1
        self._scene = None

    def points(self) -> np.ndarray:
        """Surface points (N, 3) float64: the fused TSDF's zero crossings (empty before any surface)."""
        try:
            cloud = self.grid.extract_point_cloud(weight_threshold=self.min_weight)
        except RuntimeError:  # open3d raises on an empty extraction (it cannot attach zero colours)
            return np.zeros((0, 3))
        return cloud.point.positions.numpy().astype(np.float64).reshape(-1, 3) - self._shift_m

    def render_depth(self, K: np.ndarray, T_map_cam: np.ndarray, height: int, width: int) -> np.ndarray:
        """z-depth (H, W) float32 of the fused surface (its marching-cubes mesh) at a camera; 0 = nothing hit."""
        o3d, o3c = self._o3d, self._o3c
        if self._scene is None:
            self._scene = o3d.t.geometry.RaycastingScene()
            try:
                mesh = self.grid.extract_triangle_mesh(weight_threshold=self.min_weight)
                if mesh.triangle.indices.shape[0]:
                    self._scene.add_triangles(mesh.vertex.positions.to(o3c.float32),
                                              mesh.triangle.indices.to(o3c.uint32))
            except RuntimeError:  # empty grid: nothing to hit
                pass
        K = np.asarray(K, dtype=np.float64)
        T = self._grid_pose(T_map_cam)
        v, u = np.mgrid[0:height, 0:width]
        dirs_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones((height, width))], -1)
        dirs = dirs_cam.reshape(-1, 3) @ T[:3, :3].T  # camera z = 1: the hit parameter is the z-depth
        rays = np.concatenate([np.broadcast_to(T[:3, 3], dirs.shape), dirs], axis=1).astype(np.float32)
        t = self._scene.cast_rays(o3c.Tensor(rays))["t_hit"].numpy().reshape(height, width)
        return np.where(np.isfinite(t) & (t <= self.max_depth_m), t, 0.0).astype(np.float32)
