"""Eq. 1: the geometry encoding volume M = H_g([mean, var]) built from the view features F_i.

Grid convention (used by every model module): vertex (i, j, k) of a grid with `dims` (X, Y, Z) sits at
`origin_m + (i, j, k) * voxel_size_m` in the map frame; volumes are stored as (channels, X, Y, Z) and
sampled trilinearly between vertices. The grid box is [origin_m, origin_m + (dims - 1) * voxel_size_m].
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gnesf_ros.errors import InputError
from gnesf_ros.geometry.camera import Camera, project_with_matrix
from gnesf_ros.geometry.culling import frustum_candidates, projection_halfspaces
from gnesf_ros.model.features import sample_image_cf


def _check_grid(origin_m: torch.Tensor, voxel_size_m: float, dims: Sequence[int]) -> tuple[int, int, int]:
    dims = tuple(int(d) for d in dims)
    if len(dims) != 3 or min(dims) < 2:
        raise InputError(f"grid dims must be 3 integers >= 2, got {dims}")
    if not voxel_size_m > 0:
        raise InputError(f"voxel_size_m must be > 0, got {voxel_size_m}")
    if tuple(origin_m.shape) != (3,):
        raise InputError(f"origin_m must be (3,), got {tuple(origin_m.shape)}")
    return dims


def grid_box(origin_m: torch.Tensor, voxel_size_m: float, dims: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Corners (box_min (3,), box_max (3,)) of the box spanned by the grid vertices."""
    extent = torch.tensor([d - 1 for d in dims], dtype=origin_m.dtype, device=origin_m.device) * voxel_size_m
    return origin_m, origin_m + extent


def vertex_points(origin_m: torch.Tensor, voxel_size_m: float, dims: Sequence[int],
                  start: int = 0, stop: int | None = None) -> torch.Tensor:
    """Map-frame positions (P, 3) of the grid vertices with flat indices [start, stop) (X slowest, Z fastest)."""
    stop = dims[0] * dims[1] * dims[2] if stop is None else stop
    return vertex_points_at(origin_m, voxel_size_m, dims, torch.arange(start, stop, device=origin_m.device))


def vertex_points_at(origin_m: torch.Tensor, voxel_size_m: float, dims: Sequence[int], flat: torch.Tensor
                     ) -> torch.Tensor:
    """Map-frame positions (P, 3) of the grid vertices with flat indices flat (P,) int64 (X slowest, Z fastest)."""
    Y, Z = dims[1], dims[2]
    ijk = torch.stack([flat // (Y * Z), (flat // Z) % Y, flat % Z], dim=-1).to(origin_m.dtype)
    return origin_m + ijk * voxel_size_m


def _normalised(points: torch.Tensor, origin_m: torch.Tensor, voxel_size_m: float, dims: Sequence[int]):
    idx = (points - origin_m) / voxel_size_m  # (P, 3) continuous vertex index
    size = torch.tensor([d - 1 for d in dims], dtype=points.dtype, device=points.device)
    eps = 1e-4
    inside = ((idx >= -eps) & (idx <= size + eps)).all(dim=-1)
    return idx, size, inside


def sample_volume(volume: torch.Tensor, origin_m: torch.Tensor, voxel_size_m: float,
                  points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Trilinear samples of a volume (C, X, Y, Z) at map points (P, 3) -> values (P, C), inside (P,) bool.

    Points outside the grid box get zeros (and inside=False). Differentiable w.r.t. volume and points.
    """
    dims = volume.shape[1:]
    idx, size, inside = _normalised(points, origin_m, voxel_size_m, dims)
    g = idx / size * 2.0 - 1.0
    grid = g.flip(-1).reshape(1, 1, 1, -1, 3).to(volume.dtype)  # grid_sample wants (z->W, y->H, x->D) order
    out = F.grid_sample(volume.unsqueeze(0), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.reshape(volume.shape[0], -1).transpose(0, 1), inside


def lookup_nearest(grid: torch.Tensor, origin_m: torch.Tensor, voxel_size_m: float, points: torch.Tensor,
                   outside_value: float) -> torch.Tensor:
    """Nearest-vertex value of a scalar grid (X, Y, Z) at points (..., 3) -> (...); outside -> outside_value.

    Cheap (one gather): used for the many SDF samples of the visibility module.
    """
    dims = grid.shape
    idx, size, inside = _normalised(points, origin_m, voxel_size_m, dims)
    ijk = torch.round(idx).clamp(min=0)
    ijk = torch.minimum(ijk, size).long()
    flat = (ijk[..., 0] * dims[1] + ijk[..., 1]) * dims[2] + ijk[..., 2]
    vals = grid.reshape(-1)[flat.reshape(-1)].reshape(flat.shape)
    return torch.where(inside, vals, torch.full_like(vals, outside_value))


def mean_var_volume(feats: torch.Tensor, camera: Camera, origin_m: torch.Tensor, voxel_size_m: float,
                    dims: Sequence[int], chunk_points: int = 131072, cull: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 1a: mean and variance over the views of the features seen at every grid vertex.

    Args:
        feats: (V, D, h, w) feature maps; camera: their V cameras *at the feature maps' size* (h, w)
        (`Camera.resized`); origin_m (3,), voxel_size_m, dims (X, Y, Z): the grid (module docstring).
        cull: project, per view, only the vertices its frustum can reach (`culling.frustum_candidates`): the same
        result, bitwise, with ~4x less projection work; False projects every vertex (the tests' reference).
    Returns:
        mean (D, X, Y, Z), var (D, X, Y, Z) (population variance, over the views that see the vertex),
        count (X, Y, Z) float: number of views that see the vertex (in front, inside the feature map).
        Vertices seen by no view get mean = var = 0.
    Memory: running sums over views, per chunk of vertices: never V x vertices x D at once.
    Differentiable w.r.t. feats.
    """
    dims = _check_grid(origin_m, voxel_size_m, dims)
    V, D, h, w = feats.shape
    if (camera.num_views, camera.height, camera.width) != (V, h, w):
        raise InputError(f"expected {V} cameras of {h}x{w} feature maps, got {camera.num_views} of "
                         f"{camera.height}x{camera.width}")
    P_all = camera.projection_matrices()
    total = dims[0] * dims[1] * dims[2]
    candidates = _view_candidates(P_all, h, w, origin_m, voxel_size_m, dims, camera.centers, cull)
    mean = feats.new_zeros(D, total)
    var = feats.new_zeros(D, total)
    count = feats.new_zeros(total)
    for start in range(0, total, chunk_points):
        stop = min(total, start + chunk_points)
        s1 = feats.new_zeros(D, stop - start)  # channel-first sums
        s2 = torch.zeros_like(s1)
        n = feats.new_zeros(stop - start)
        for v in range(V):
            first, last = torch.searchsorted(candidates[v], candidates[v].new_tensor([start, stop])).tolist()
            cand = candidates[v][first:last]  # (Q,) the view's candidates in this chunk
            if cand.numel() == 0:
                continue
            uv, seen = project_with_matrix(vertex_points_at(origin_m, voxel_size_m, dims, cand), P_all[v], h, w)
            keep = seen.nonzero().squeeze(1)  # a view sees ~20% of a window's vertices: sample only those
            idx = cand.index_select(0, keep) - start  # (M,) increasing, into this chunk
            f = sample_image_cf(feats[v:v + 1], uv.index_select(0, keep)[None])[0]  # (D, M)
            s1.index_add_(1, idx, f)
            s2.index_add_(1, idx, f * f)
            n.index_add_(0, idx, torch.ones_like(idx, dtype=n.dtype))
        safe = n.clamp(min=1.0)
        m = s1 / safe
        mean[:, start:stop] = m
        var[:, start:stop] = (s2 / safe - m * m).clamp(min=0.0)
        count[start:stop] = n
    mean = mean.reshape(D, *dims)
    var = var.reshape(D, *dims)
    count = count.reshape(dims)
    return mean, var, count


def _view_candidates(P_all: torch.Tensor, h: int, w: int, origin_m: torch.Tensor, voxel_size_m: float,
                     dims: tuple[int, int, int], centers_m: torch.Tensor, cull: bool) -> list[torch.Tensor]:
    """Per view of projection matrices P_all (V, 3, 4), the flat indices (Q_v,) int64, increasing, on origin_m's
    device, of the grid vertices that may pass `project_with_matrix` (a superset), or every vertex without `cull`."""
    total = dims[0] * dims[1] * dims[2]
    if not cull:
        return [torch.arange(total, device=origin_m.device)] * P_all.shape[0]
    halfspaces = projection_halfspaces(P_all.detach(), h, w, min_depth_m=1e-3)  # (V, C, 4): its default depth
    return frustum_candidates(halfspaces, origin_m, voxel_size_m, dims, centers_m)


def _c3(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=stride, padding=1), nn.ReLU(inplace=True))


class VolumeNet(nn.Module):
    """H_g of Eq. 1b: a 3-level 3D U-Net, B (2D + 1, X, Y, Z) -> M (D_m, X, Y, Z). Any dims >= 2.

    Only one 3x3x3 convolution runs at full resolution (the rest at 1/2 and 1/4), for CPU speed.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 8):
        super().__init__()
        w0, w1 = width, 2 * width
        self.inp = nn.Sequential(nn.Conv3d(in_channels, w0, 1), nn.ReLU(inplace=True))
        self.enc0 = _c3(w0, w0)
        self.enc1 = nn.Sequential(_c3(w0, w1, 2), _c3(w1, w1))
        self.enc2 = nn.Sequential(_c3(w1, w1, 2), _c3(w1, w1))
        self.dec1 = _c3(w1, w1)
        self.dec0 = _c3(w1, w0)  # at 1/2 resolution, upsampled after
        self.out = nn.Conv3d(w0, out_channels, 1)

    def forward(self, B: torch.Tensor) -> torch.Tensor:
        x = B.unsqueeze(0)
        e0 = self.enc0(self.inp(x))
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        d1 = self.dec1(F.interpolate(e2, size=e1.shape[2:], mode="trilinear", align_corners=False) + e1)
        d0 = F.interpolate(self.dec0(d1), size=e0.shape[2:], mode="trilinear", align_corners=False)
        return self.out(d0 + e0)[0]


def build_feature_volume(mean: torch.Tensor, var: torch.Tensor, count: torch.Tensor, num_views: int) -> torch.Tensor:
    """Eq. 1b input B = [mean, var, seen fraction] (2D + 1, X, Y, Z)."""
    return torch.cat([mean, var, (count / max(num_views, 1)).unsqueeze(0)], dim=0)
