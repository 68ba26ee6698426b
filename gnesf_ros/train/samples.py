"""Cut training examples from synthetic scans: a window of source views, target rays and SDF points.

Semantics are supervised only by the target views' 2D labels through rendering (Eq. 6); the 2D
inputs to voting are the scan's probabilities (the segmenter-noise model's, or a 2D segmenter's through
`segmentation.scan.SegmentedScan`), never the true labels.
Geometry is supervised by the scene's true SDF, as NeuralRecon supervises its TSDF.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.train.config import SampleConfig


@dataclass
class TrainSample:
    """One example. Tensors are float32 on the CPU."""

    images: torch.Tensor  # (V, 3, H, W) in [0, 1]
    probs: torch.Tensor  # (V, C, H, W) the 2D input (noise model or segmenter)
    K: torch.Tensor  # (V, 3, 3)
    T_map_cam: torch.Tensor  # (V, 4, 4)
    depth_m: torch.Tensor  # (V, H, W) the source views' true z-depth (0 = no return), for depth-mode voting
    origin_m: torch.Tensor  # (3,) volume corner (centre of voxel 0)
    voxel_size_m: float
    dims: tuple[int, int, int]
    ray_origins: torch.Tensor  # (R, 3)
    ray_dirs: torch.Tensor  # (R, 3) z-depth-1 directions of the target cameras
    ray_labels: torch.Tensor  # (R,) long, true class of the target pixel
    ray_depth_m: torch.Tensor  # (R,) true z-depth
    input_labels: torch.Tensor  # (R,) long, the 2D input's argmax at the target pixel (input_2d)
    sdf_points: torch.Tensor  # (P, 3)
    sdf_true_m: torch.Tensor  # (P,)
    sdf_grid_true_m: torch.Tensor  # (X, Y, Z) true SDF at the grid vertices, clamped to +-trunc


def _surface_points(depth_m: np.ndarray, K: np.ndarray, T_map_cam: np.ndarray) -> np.ndarray:
    """Back-project valid depth pixels to map points (N, 3)."""
    v, u = np.nonzero(depth_m > 0)
    z = depth_m[v, u]
    pts_cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], axis=1)
    return pts_cam @ T_map_cam[:3, :3].T + T_map_cam[:3, 3]


def fit_volume(points_m: np.ndarray, voxel_size_m: float, max_dims: int, margin_m: float = 0.12,
               rng: np.random.Generator | None = None) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Axis-aligned grid (origin (3,), dims) around `points_m`, snapped to the voxel size, capped per axis.

    Where the points span more than `max_dims` voxels, a window of `max_dims` is placed around their
    median (shifted at random when `rng` is given, so training sees every part of a view).
    """
    lo = points_m.min(axis=0) - margin_m
    hi = points_m.max(axis=0) + margin_m
    dims = np.ceil((hi - lo) / voxel_size_m).astype(np.int64) + 1
    centre = np.median(points_m, axis=0)
    for a in range(3):
        if dims[a] > max_dims:
            span = (max_dims - 1) * voxel_size_m
            c = centre[a] + (rng.uniform(-0.25, 0.25) * span if rng is not None else 0.0)
            lo[a] = np.clip(c - span / 2, points_m[:, a].min() - margin_m, points_m[:, a].max() + margin_m - span)
            dims[a] = max_dims
    origin = np.floor(lo / voxel_size_m) * voxel_size_m
    return origin.astype(np.float32), (int(dims[0]), int(dims[1]), int(dims[2]))


def window_indices(num_frames: int, target: int, num_views: int, stride: int,
                   rng: np.random.Generator) -> list[int]:
    """Source frame indices around `target` (never the target itself), `stride` frames apart."""
    offsets = [(k - num_views // 2) * stride for k in range(num_views + 1)]
    offsets = [o for o in offsets if o != 0][:num_views]
    jitter = int(rng.integers(-stride // 2, stride // 2 + 1))
    idx = [int(np.clip(target + o + jitter, 0, num_frames - 1)) for o in offsets]
    # a clipped index can land on the target: step to its neighbour inside the scan instead
    idx = [i if i != target else (i + 1 if i + 1 < num_frames else i - 1) for i in idx]
    return sorted(set(idx))


def make_sample(scan, cfg: SampleConfig, rng: np.random.Generator, trunc_m: float) -> TrainSample | None:
    """Draw one example from `scan` (a SyntheticScan); None when the drawn view sees too little.

    The volume is fitted around what the target views see and, with `cfg.include_cameras`, the target cameras.
    """
    n = len(scan)
    span = cfg.num_views // 2 * cfg.view_stride + cfg.view_stride
    t0 = int(rng.integers(span, max(span + 1, n - span)))
    targets = [int(np.clip(t0 + int(rng.integers(-cfg.view_stride, cfg.view_stride + 1)), 0, n - 1))
               for _ in range(cfg.num_targets)]
    sources = [i for i in window_indices(n, t0, cfg.num_views, cfg.view_stride, rng) if i not in targets]
    if len(sources) < 2:
        return None

    src = [scan.frame(i)[0] for i in sources]
    tgt = [scan.frame(i) for i in targets]

    # Volume around what the target views see (the rays we render must cross it).
    pts = np.concatenate([_surface_points(view.depth_m, fr.K, fr.T_map_cam) for fr, view in tgt])
    if len(pts) < 500:
        return None
    fit_pts = pts if not cfg.include_cameras else np.concatenate([pts, [fr.T_map_cam[:3, 3] for fr, _ in tgt]])
    origin, dims = fit_volume(fit_pts, cfg.voxel_size_m, cfg.max_dims, rng=rng)
    lo = origin - cfg.voxel_size_m / 2
    hi = origin + (np.array(dims) - 0.5) * cfg.voxel_size_m

    ray_o, ray_d, ray_lab, ray_dep, ray_in = [], [], [], [], []
    for fr, view in tgt:
        v, u = np.nonzero((view.depth_m > 0) & (view.labels != IGNORE_ID))
        z = view.depth_m[v, u]
        K, T = fr.K, fr.T_map_cam
        dirs_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(z)], axis=1)
        hit = (dirs_cam * z[:, None]) @ T[:3, :3].T + T[:3, 3]
        inside = np.all((hit > lo + trunc_m) & (hit < hi - trunc_m), axis=1)
        sel = np.nonzero(inside)[0]
        if len(sel) == 0:
            continue
        sel = rng.choice(sel, size=min(cfg.rays_per_target, len(sel)), replace=False)
        ray_o.append(np.repeat(T[None, :3, 3], len(sel), axis=0))
        ray_d.append(dirs_cam[sel] @ T[:3, :3].T)
        ray_lab.append(view.labels[v[sel], u[sel]].astype(np.int64))
        ray_dep.append(z[sel])
        ray_in.append(fr.probs[v[sel], u[sel]].argmax(axis=1))
    if not ray_o or sum(len(r) for r in ray_o) < 64:
        return None

    # SDF supervision: half near the observed surface (within ~2 truncations), half uniform in the box.
    half = cfg.sdf_points // 2
    near = pts[rng.integers(0, len(pts), half)] + rng.normal(0, trunc_m, (half, 3))
    uniform = lo + rng.random((cfg.sdf_points - half, 3)) * (hi - lo)
    sdf_pts = np.clip(np.concatenate([near, uniform]), lo, hi).astype(np.float32)
    sdf_true = scan.renderer.true_sdf(sdf_pts).astype(np.float32)
    ii, jj, kk = np.meshgrid(*(np.arange(d) for d in dims), indexing="ij")
    vertices = origin + np.stack([ii, jj, kk], axis=-1).reshape(-1, 3) * cfg.voxel_size_m
    sdf_grid = np.clip(scan.renderer.true_sdf(vertices.astype(np.float32)), -trunc_m, trunc_m).reshape(dims)

    f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    return TrainSample(
        images=f32(np.stack([f.rgb for f in src])).permute(0, 3, 1, 2) / 255.0,
        probs=f32(np.stack([f.probs for f in src])).permute(0, 3, 1, 2),
        K=f32(np.stack([f.K for f in src])),
        T_map_cam=f32(np.stack([f.T_map_cam for f in src])),
        depth_m=f32(np.stack([f.depth_m for f in src])),
        origin_m=f32(origin), voxel_size_m=cfg.voxel_size_m, dims=dims,
        ray_origins=f32(np.concatenate(ray_o)), ray_dirs=f32(np.concatenate(ray_d)),
        ray_labels=torch.from_numpy(np.concatenate(ray_lab)),
        ray_depth_m=f32(np.concatenate(ray_dep)),
        input_labels=torch.from_numpy(np.concatenate(ray_in).astype(np.int64)),
        sdf_points=f32(sdf_pts), sdf_true_m=f32(sdf_true), sdf_grid_true_m=f32(sdf_grid),
    )
