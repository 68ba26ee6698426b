"""Frustum culling on a voxel grid: which grid points can pass a view's projection test, before projecting them.

A point passes `Camera.project` / `project_with_matrix` only inside a convex region: the intersection of a few
half-spaces A [p; 1] >= 0 (in front of the camera, inside the (widened) image, optionally not beyond a depth). On a
regular grid that region meets each (x, y) column in one contiguous z-range, so the candidates of a view are found
per column (X * Y work, not X * Y * Z) and only they are projected. The half-spaces are relaxed by a margin far above
float error, so the candidates are a superset of the points the exact test accepts: running that exact test on them
gives bitwise the result of running it on every point, at the cost of the ~15-25% of a box a view sees.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

CULL_REL_MARGIN = 1e-4
"""Relative part of `culling_margin_m`: the float32 projection's error is ~1e-6 of the coordinates' magnitude (map
points and camera centres); the margin is 100x that, plus one voxel."""


def projection_halfspaces(P: torch.Tensor, height: int, width: int, min_depth_m: float,
                          pad_px_m: torch.Tensor | float = 0.0, max_depth_m: float | None = None) -> torch.Tensor:
    """Half-spaces (V, C, 4) float64 (C = 5, or 6 with max_depth_m) holding every point a projection test accepts.

    P (V, 3, 4): homogeneous map points -> (u w, v w, w), w = z-depth. The test: w > min_depth_m, and
    u, v inside [-0.5 - r, size - 0.5 + r) with r = pad_px_m / w pixels (pad_px_m (V,) or scalar: focal * radius,
    `Camera.project`'s widening), and w <= max_depth_m when given. Multiplied by w > 0 each bound is linear in the
    point, so an accepted point p satisfies A [p; 1] >= 0 for every row A (exact arithmetic).
    """
    P = P.double()
    pad = torch.as_tensor(pad_px_m, dtype=P.dtype, device=P.device).expand(P.shape[0])[:, None]  # (V, 1)
    p0, p1, p2 = P.unbind(1)  # (V, 4) rows u w, v w, w
    e4 = torch.zeros_like(p2)
    e4[:, 3] = 1.0
    rows = [p2 - min_depth_m * e4,  # in front
            p0 + 0.5 * p2 + pad * e4, (width - 0.5) * p2 - p0 + pad * e4,  # u inside the widened image
            p1 + 0.5 * p2 + pad * e4, (height - 0.5) * p2 - p1 + pad * e4]  # v inside it
    if max_depth_m is not None:
        rows.append(max_depth_m * e4 - p2)
    return torch.stack(rows, dim=1)


def culling_margin_m(voxel_size_m: float, origin_m: torch.Tensor, dims: Sequence[int],
                     centers_m: torch.Tensor) -> float:
    """The distance (m) by which `grid_candidates` widens the half-spaces: one voxel plus CULL_REL_MARGIN of the
    largest coordinate magnitude involved (grid corners, camera centres (V, 3)), far above the float32 error of the
    exact projection test there."""
    origin = origin_m.double().cpu()
    far = origin + torch.tensor([d - 1 for d in dims], dtype=torch.float64) * voxel_size_m
    scale = max(float(origin.abs().max()), float(far.abs().max())) * math.sqrt(3.0)
    scale += float(centers_m.double().norm(dim=-1).max()) if centers_m.numel() else 0.0
    return voxel_size_m + CULL_REL_MARGIN * scale


def grid_candidates(halfspaces: torch.Tensor, origin_m: torch.Tensor, voxel_size_m: float, dims: Sequence[int],
                    margin_m: float) -> list[torch.Tensor]:
    """Per view of halfspaces (V, C, 4), the flat indices (M_v,) int64, strictly increasing (C order: x slowest,
    z fastest), of the grid points origin_m + (i, j, k) * voxel_size_m, dims (X, Y, Z), within margin_m of every
    half-space A [p; 1] >= 0 of the view.

    Per (x, y) column each half-space bounds k on one side; the bounds are rounded outwards and padded by one index.
    A view with non-finite half-spaces keeps every point. Computed on the CPU in float64; the indices are on the CPU.
    """
    X, Y, Z = (int(d) for d in dims)
    A = halfspaces.double().cpu()
    finite = torch.isfinite(A).flatten(1).all(dim=1)  # (V,)
    A = torch.where(finite[:, None, None], A, torch.zeros_like(A))  # a zero half-space keeps everything
    lo, hi = _column_bounds(A, origin_m.double().cpu(), voxel_size_m, (X, Y, Z), margin_m)  # (V, X*Y) each
    return list(_column_ranges(lo, hi, Z).split((hi - lo + 1).clamp(min=0).sum(dim=1).tolist()))


def frustum_candidates(halfspaces: torch.Tensor, origin_m: torch.Tensor, voxel_size_m: float, dims: Sequence[int],
                       centers_m: torch.Tensor) -> list[torch.Tensor]:
    """`grid_candidates` with `culling_margin_m`'s margin for cameras at centers_m (V, 3): per view the flat indices
    (M_v,) int64, increasing, on origin_m's device, of the grid points that may pass the view's projection test."""
    origin = origin_m.detach()
    margin_m = culling_margin_m(voxel_size_m, origin, dims, centers_m.detach())
    return [c.to(origin_m.device) for c in grid_candidates(halfspaces.detach(), origin, voxel_size_m, dims, margin_m)]


def _column_bounds(A: torch.Tensor, origin_m: torch.Tensor, voxel_size_m: float, dims: tuple[int, int, int],
                   margin_m: float) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last k (V, X*Y) int64 of each (x, y) column inside the half-spaces A (V, C, 4) moved out by margin_m
    (rounded outwards, padded by one, clipped to 0..Z-1; last < first where none)."""
    X, Y, Z = dims
    n, d = A[..., :3], A[..., 3] + margin_m * A[..., :3].norm(dim=-1)  # (V, C, 3), (V, C): planes moved out
    gx = n[..., 0:1] * (origin_m[0] + voxel_size_m * torch.arange(X, dtype=torch.float64))  # (V, C, X)
    gy = n[..., 1:2] * (origin_m[1] + voxel_size_m * torch.arange(Y, dtype=torch.float64))  # (V, C, Y)
    g = gx[..., :, None] + gy[..., None, :] + (n[..., 2] * origin_m[2] + d)[..., None, None]  # (V, C, X, Y): k = 0
    step = n[..., 2] * voxel_size_m  # (V, C): change per k
    k_edge = g * torch.where(step == 0, 0.0, -1.0 / step)[..., None, None]  # where g + step k = 0
    lo = torch.where((step > 0)[..., None, None], k_edge, -math.inf).amax(dim=1).clamp(-2.0, Z + 1.0).floor() - 1
    hi = torch.where((step < 0)[..., None, None], k_edge, math.inf).amin(dim=1).clamp(-2.0, Z + 1.0).ceil() + 1
    if bool((step == 0).any()):  # a half-space parallel to the columns keeps a column whole or not at all
        lo = torch.where(((g < 0) & (step == 0)[..., None, None]).any(dim=1), float(Z), lo)
    return lo.clamp(min=0).long().flatten(1), hi.clamp(max=Z - 1).long().flatten(1)


def _column_ranges(lo: torch.Tensor, hi: torch.Tensor, Z: int) -> torch.Tensor:
    """Flat indices column * Z + k for k in lo..hi of each column (lo, hi (V, X*Y) int64; none where hi < lo), view
    after view: (sum of the counts,) int64. A cumulative sum of +1 steps, jumping at each range's first index."""
    count = (hi - lo + 1).clamp(min=0).reshape(-1)  # (V * X*Y,)
    start = (torch.arange(lo.shape[1]) * Z + lo).reshape(-1)
    nonempty = count > 0
    start, count = start[nonempty], count[nonempty]  # (R,) the non-empty ranges
    total = int(count.sum())
    if total == 0:
        return torch.zeros(0, dtype=torch.int64)
    first = torch.cumsum(count, 0) - count  # (R,) output position of each range's first index
    prev_last = torch.cat([start.new_zeros(1), (start + count - 1)[:-1]])  # the index just before it (0 at first)
    delta = torch.ones(total, dtype=torch.int64)
    delta[first] = start - prev_last
    return torch.cumsum(delta, 0)
