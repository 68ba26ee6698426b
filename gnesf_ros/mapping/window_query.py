"""The mapper's second stage: encode a window's views on a fragment's grid and ask the window about the fragment's
voxels -> one SDF and one soft-voted distribution per voxel (`VoxelObservations`).

The model is any `SceneModel` (mapping/model_api.py). With depth geometry the SDF is the depth TSDF and only its
band is asked (semantics); with learned geometry every voxel's SDF comes from the window: read from its SDF grid
where it has one (voxel centres are grid vertices) and only voxels near the band are queried.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gnesf_ros.mapping.fragment import Fragment, FragmentVoxels
from gnesf_ros.mapping.model_api import ModelWindow, SceneModel
from gnesf_ros.mapping.views import WindowViews
from gnesf_ros.model.config import InferenceOptions


@dataclass
class VoxelObservations:
    """What one window says about a fragment's P voxels."""

    sdf_m: np.ndarray  # (P,) float32 SDF (m) clipped to +-trunc: the depth TSDF or the window's SDF
    semantics: np.ndarray  # (P, C) float32 soft-voted class probabilities (Eq. 4); all-zero row = no vote


def encode_window(model: SceneModel, views: WindowViews, frag: Fragment, depth_geometry: bool,
                  options: InferenceOptions, device: torch.device) -> ModelWindow:
    """Encode the views on the fragment's grid (Eq. 1). With depth geometry the fragment's TSDF is the window's SDF
    (NaN where unobserved: the model takes it as free space) and the depth images decide visibility."""
    sdf_volume = depth_m = None
    if depth_geometry:
        tsdf = np.where(frag.tsdf_weight > 0, frag.tsdf_m, np.float32(np.nan))
        sdf_volume = torch.from_numpy(tsdf).to(device)
        depth_m = views.depth_m.to(device)  # visibility from the depth images themselves
    feats = views.feats.to(device) if views.feats is not None else None
    camera = views.camera.to(device)
    return model.encode(views.images.to(device), views.probs.to(device), camera.K, camera.T_map_cam,
                        torch.from_numpy(frag.origin_m).float().to(device),
                        float(frag.voxel_size_m), frag.dims, sdf_volume=sdf_volume, feats=feats, depth_m=depth_m,
                        geometry_views=views.geometry_views, options=options)


def needs_window(voxels: FragmentVoxels, trunc_m: float) -> bool:
    """Whether the fragment must be encoded at all: with depth geometry only when some voxel lies in the TSDF's band
    (a tile of free space near the cameras has nothing to vote on); with learned geometry always (its SDF)."""
    return voxels.depth_sdf_m is None or bool(np.any(np.abs(voxels.depth_sdf_m) < trunc_m))


def voxels_to_ask(window: ModelWindow | None, voxels: FragmentVoxels, trunc_m: float
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Indices (A,) of the voxels the window must be asked about, and the SDF (P,) of all voxels where the window
    already knows it (its SDF grid), else None.

    Only voxels near the truncation band matter: the others' semantics are unknown anyway (`max_abs_sdf_m`) and
    their SDF clips to +-trunc. The depth TSDF says which those are; a learned SDF grid says so too, with a margin
    for the float rounding of trilinear sampling at a vertex; without a grid every voxel is asked.
    """
    if voxels.depth_sdf_m is not None:
        return np.nonzero(np.abs(voxels.depth_sdf_m) < trunc_m)[0], None
    sdf_grid = window.sdf_grid
    if sdf_grid is None or tuple(sdf_grid.shape) != voxels.fragment.dims:
        return np.arange(voxels.size), None
    grid = sdf_grid.detach().float().cpu().numpy().reshape(-1)[voxels.select]
    grid = np.nan_to_num(grid, nan=trunc_m, posinf=trunc_m, neginf=-trunc_m)
    return np.nonzero(np.abs(grid) < trunc_m * (1.0 + 1e-3) + 1e-6)[0], grid


def ask_window(window: ModelWindow, points_m: np.ndarray, trunc_m: float, chunk: int, num_classes: int,
               device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """SDF (A,) and semantics (A, C) of map points (A, 3), `chunk` at a time; semantics only within +-trunc_m."""
    points = torch.from_numpy(points_m).float()
    sdf_parts, sem_parts = [np.zeros(0, np.float32)], [np.zeros((0, num_classes), np.float32)]
    for start in range(0, points.shape[0], chunk):
        result = window.query(points[start:start + chunk].to(device), max_abs_sdf_m=trunc_m)
        sdf_parts.append(result.sdf.detach().float().cpu().numpy())
        sem_parts.append(result.semantics.detach().float().cpu().numpy())
    return np.concatenate(sdf_parts), np.concatenate(sem_parts)


def observe(window: ModelWindow | None, voxels: FragmentVoxels, trunc_m: float, chunk: int, num_classes: int,
            device: torch.device) -> VoxelObservations:
    """The window's SDF and semantics of every voxel (unknown semantics where it was not asked). `window` may be
    None where `needs_window` says so: the depth TSDF alone, no voxel asked."""
    ask, sdf_known = voxels_to_ask(window, voxels, trunc_m)
    sdf_asked, sem_asked = ask_window(window, voxels.query_m[ask], trunc_m, chunk, num_classes, device)
    semantics = np.zeros((voxels.size, num_classes), np.float32)
    semantics[ask] = sem_asked
    if voxels.depth_sdf_m is not None:
        return VoxelObservations(sdf_m=voxels.depth_sdf_m, semantics=semantics)
    sdf = np.nan_to_num(sdf_asked, nan=trunc_m, posinf=trunc_m, neginf=-trunc_m)
    if sdf_known is not None:  # grid values away from the band, queried values in it
        sdf_known[ask] = sdf
        sdf = sdf_known
    return VoxelObservations(sdf_m=np.clip(sdf, -trunc_m, trunc_m), semantics=semantics)
