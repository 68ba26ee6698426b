"""Surface points of a voxel SDF: one Newton step from a voxel centre to the SDF's zero level.

A voxel near a surface stands for the piece of surface inside it, but its centre lies up to half a
diagonal (3.5 cm at 4 cm voxels) off that surface, and a point cloud of centres is a staircase. Moving the
centre along the SDF gradient onto the zero level fixes that: p = x - sdf(x) * g / |g|^2. It is exact for
a planar SDF; a projective depth TSDF measures distance along the viewing ray, 1 / cos(angle) times the
true one, with a gradient longer by the same factor, and dividing by |g|^2 rather than |g| undoes that.
"""
from __future__ import annotations

import numpy as np

MIN_GRADIENT_NORM = 0.5
"""A gradient shorter than this (SDF metres per metre) is too flat to trust, and no step is taken: a true
SDF has |g| = 1 and a projective TSDF more; much less means truncated or disagreeing neighbours."""


def central_gradient(sdf_minus: np.ndarray, sdf_center: np.ndarray, sdf_plus: np.ndarray, has_minus: np.ndarray,
                     has_plus: np.ndarray, voxel_size_m: float) -> np.ndarray:
    """Finite-difference derivative along one axis from the neighbours that exist (central where both do,
    one-sided where one does, 0 where none). All arrays share one shape; returns that shape, float64."""
    fwd = np.where(has_plus, sdf_plus - sdf_center, 0.0)
    bwd = np.where(has_minus, sdf_center - sdf_minus, 0.0)
    n = has_plus.astype(np.float64) + has_minus.astype(np.float64)
    return (fwd + bwd) / np.maximum(n, 1.0) / voxel_size_m


def newton_step(sdf_m: np.ndarray, grad: np.ndarray, max_step_m: float) -> np.ndarray:
    """Offsets (N, 3) that move points with SDF sdf_m (N,) and gradient grad (N, 3) onto the zero level.

    Points whose gradient is shorter than MIN_GRADIENT_NORM (flat, unobserved neighbours) stay put; steps
    are clipped to max_step_m so that one bad gradient cannot throw a point far away.
    """
    sdf_m = np.asarray(sdf_m, dtype=np.float64).reshape(-1)
    grad = np.asarray(grad, dtype=np.float64).reshape(-1, 3)
    norm2 = np.einsum("ij,ij->i", grad, grad)
    ok = np.isfinite(norm2) & (norm2 >= MIN_GRADIENT_NORM ** 2) & np.isfinite(sdf_m)
    step = np.zeros_like(grad)
    step[ok] = -(sdf_m[ok] / norm2[ok])[:, None] * grad[ok]
    length = np.linalg.norm(step, axis=1)
    too_long = length > max_step_m
    step[too_long] *= (max_step_m / length[too_long])[:, None]
    return step
