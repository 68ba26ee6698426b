"""Where a fragment may add new voxels to the map with learned geometry: only near a confident zero crossing.

An unsure learned SDF hovers near zero over whole regions of free space (on real images the RGB-only map filled
the 2 M voxel cap). A true surface shows as a sign change between neighbouring vertices whose SDF difference is
about the voxel size times the cosine to the normal (|grad sdf| = 1). `crossing_mask` keeps the vertices of such
sign changes (the difference at least `min_slope` x voxel size: a field that merely flickers around zero is not a
surface) and the vertices within `dilation_voxels` of them, so that both sides of the surface are in the map for
its zero-crossing test and Newton step (voxel_map.surface_mask / surface_points).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from gnesf_ros.errors import InputError


def crossing_mask(sdf_m: np.ndarray, voxel_size_m: float, trunc_m: float, min_slope: float,
                  dilation_voxels: int) -> np.ndarray:
    """(X, Y, Z) bool: vertices within `dilation_voxels` (26-neighbourhood steps) of a confident zero crossing.

    sdf_m: (X, Y, Z) SDF at the grid vertices (m; NaN = unknown, never a crossing). A crossing joins two 6-neighbours
    a, b with sdf_a > 0 >= sdf_b (or the reverse), both inside the truncation band (|sdf| < trunc_m), and
    |sdf_a - sdf_b| >= min_slope * voxel_size_m.
    """
    sdf = np.asarray(sdf_m, dtype=np.float32)
    if sdf.ndim != 3:
        raise InputError(f"crossing_mask: sdf must be (X, Y, Z), got shape {sdf.shape}")
    if dilation_voxels < 0 or min_slope < 0:
        raise InputError(f"crossing_mask: dilation_voxels and min_slope must be >= 0, got {dilation_voxels}, "
                         f"{min_slope}")
    in_band = np.isfinite(sdf) & (np.abs(sdf) < trunc_m)
    pos = in_band & (sdf > 0)
    neg = in_band & (sdf <= 0)
    step = np.float32(min_slope * voxel_size_m)
    out = np.zeros(sdf.shape, dtype=bool)
    for axis in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        a, b = tuple(a), tuple(b)
        steep = np.abs(sdf[a] - sdf[b]) >= step
        pair = ((pos[a] & neg[b]) | (neg[a] & pos[b])) & steep
        out[a] |= pair
        out[b] |= pair
    if dilation_voxels and out.any():
        out = ndimage.binary_dilation(out, structure=np.ones((3, 3, 3), bool), iterations=int(dilation_voxels))
    return out


def closest_to_surface(candidates: np.ndarray, sdf_m: np.ndarray, limit: int) -> np.ndarray:
    """Indices (<= limit,) of `candidates` (N,) int with the smallest |sdf_m| (N,) (stable: ties keep order)."""
    if limit <= 0 or candidates.size <= limit:
        return candidates
    order = np.argsort(np.abs(np.asarray(sdf_m)), kind="stable")[:limit]
    return candidates[np.sort(order)]
