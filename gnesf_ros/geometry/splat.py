"""Z-buffered splatting of labelled 3D points into a camera view (numpy).

Used by the fusion baselines to draw their voxel maps at a view, and by the mapper to fill the pixels its
volume rendering leaves unknown from the fused global map.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError


@dataclass
class SplatRender:
    """Labelled points splatted into one view."""

    label: np.ndarray  # (H, W) int64, IGNORE_ID where nothing projects (or the nearest voxel is unknown)
    depth_m: np.ndarray  # (H, W) float64 z-depth of the winning voxel, 0 where nothing projects


def splat_labels(xyz: np.ndarray, label: np.ndarray, K: np.ndarray, T_map_cam: np.ndarray, height: int, width: int,
                 footprint_m: float = 0.0, max_footprint_px: int = 8, min_depth_m: float = 1e-3) -> SplatRender:
    """Z-buffered splat of labelled points (N, 3) into a (height, width) view; the nearest point wins.

    Each point covers the pixels whose centres fall inside a square of side `footprint_m` (a voxel's edge)
    centred on its projection, at least its own pixel and at most `max_footprint_px` pixels each way.
    Ties in depth go to the point listed first. Vectorised: one sort over all (pixel, depth) splats.
    """
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    label = np.asarray(label).reshape(-1).astype(np.int64)
    if label.shape[0] != xyz.shape[0]:
        raise InputError(f"xyz and label must have the same length, got {xyz.shape[0]} and {label.shape[0]}")
    out_label = np.full((height, width), IGNORE_ID, dtype=np.int64)
    out_depth = np.zeros((height, width), dtype=np.float64)
    if xyz.shape[0] == 0:
        return SplatRender(out_label, out_depth)
    K = np.asarray(K, dtype=np.float64)
    T = np.asarray(T_map_cam, dtype=np.float64)
    R, t = T[:3, :3], T[:3, 3]
    pts_cam = (xyz - t) @ R  # = R^T (x - t), row form
    z = pts_cam[:, 2]
    front = z > min_depth_m
    idx = np.nonzero(front)[0]
    z = z[front]
    u = K[0, 0] * pts_cam[front, 0] / z + K[0, 2]
    v = K[1, 1] * pts_cam[front, 1] / z + K[1, 2]
    half_u = 0.5 * footprint_m * K[0, 0] / z  # footprint half-size in pixels
    half_v = 0.5 * footprint_m * K[1, 1] / z
    reach = np.minimum(np.ceil(np.maximum(half_u, half_v)), max_footprint_px).astype(np.int64)
    # drop points whose footprint cannot touch the image
    inside = (u + reach >= -0.5) & (u - reach < width - 0.5) & (v + reach >= -0.5) & (v - reach < height - 0.5)
    idx, z, u, v, half_u, half_v, reach = (a[inside] for a in (idx, z, u, v, half_u, half_v, reach))
    pix_all, z_all, src_all = [], [], []
    for r in np.unique(reach):  # a few distinct footprints; each group is one broadcast
        g = reach == r
        off = np.arange(-r, r + 1)
        du, dv = np.meshgrid(off, off, indexing="xy")
        du, dv = du.reshape(1, -1), dv.reshape(1, -1)
        cu = np.rint(u[g]).astype(np.int64)[:, None] + du  # candidate pixel centres
        cv = np.rint(v[g]).astype(np.int64)[:, None] + dv
        centre = (du == 0) & (dv == 0)
        cover = ((np.abs(cu - u[g][:, None]) <= half_u[g][:, None]) & (np.abs(cv - v[g][:, None]) <= half_v[g][:, None])) | centre
        cover &= (cu >= 0) & (cu < width) & (cv >= 0) & (cv < height)
        rows_g, cols_g = np.nonzero(cover)
        pix_all.append(cv[rows_g, cols_g] * width + cu[rows_g, cols_g])
        z_all.append(z[g][rows_g])
        src_all.append(idx[g][rows_g])
    pix = np.concatenate(pix_all)
    if pix.size == 0:
        return SplatRender(out_label, out_depth)
    zz = np.concatenate(z_all)
    src = np.concatenate(src_all)
    order = np.lexsort((src, zz, pix))  # by pixel, then nearest, then first listed
    pix, zz, src = pix[order], zz[order], src[order]
    first = np.ones(pix.size, dtype=bool)
    first[1:] = pix[1:] != pix[:-1]
    out_label.reshape(-1)[pix[first]] = label[src[first]]
    out_depth.reshape(-1)[pix[first]] = zz[first]
    return SplatRender(out_label, out_depth)
