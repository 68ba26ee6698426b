"""Pinhole cameras in the OpenCV optical frame (x right, y down, z forward).

Poses are `T_map_cam` (4x4, camera-to-map). Pixel centres sit at integer coordinates: pixel
(u, v) covers [u - 0.5, u + 0.5), matching cv2 and ScanNet intrinsics. All functions are pure:
outputs follow the inputs' device and dtype, inputs are never modified.
"""
from __future__ import annotations

import torch

from gnesf_ros.errors import InputError


def _check_KT(K: torch.Tensor, T_map_cam: torch.Tensor) -> None:
    if K.shape[-2:] != (3, 3):
        raise InputError(f"K must be (..., 3, 3), got {tuple(K.shape)}")
    if T_map_cam.shape[-2:] != (4, 4):
        raise InputError(f"T_map_cam must be (..., 4, 4), got {tuple(T_map_cam.shape)}")


def invert_pose(T_a_b: torch.Tensor) -> torch.Tensor:
    """Rigid inverse: T_a_b (..., 4, 4) -> T_b_a (..., 4, 4), using R^T rather than a general inverse."""
    R = T_a_b[..., :3, :3]
    t = T_a_b[..., :3, 3:]
    out = torch.zeros_like(T_a_b)
    out[..., :3, :3] = R.transpose(-1, -2)
    out[..., :3, 3:] = -R.transpose(-1, -2) @ t
    out[..., 3, 3] = 1.0
    return out


def transform_points(T_b_a: torch.Tensor, pts_a: torch.Tensor) -> torch.Tensor:
    """Apply T_b_a (..., 4, 4) to points pts_a (..., N, 3) -> pts_b (..., N, 3)."""
    return pts_a @ T_b_a[..., :3, :3].transpose(-1, -2) + T_b_a[..., None, :3, 3]


def camera_centers(T_map_cam: torch.Tensor) -> torch.Tensor:
    """Camera centres o_i in the map frame: (..., 4, 4) -> (..., 3)."""
    return T_map_cam[..., :3, 3]


def project(pts_map: torch.Tensor, K: torch.Tensor, T_map_cam: torch.Tensor, height: int, width: int,
            min_depth_m: float = 1e-3, radius_m: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Project map points into V cameras.

    Args:
        pts_map: (N, 3) points in the map frame.
        K: (V, 3, 3) intrinsics.  T_map_cam: (V, 4, 4) camera-to-map poses.
        height, width: image size in pixels.
        radius_m: widen the image by each point's projected radius (max focal * radius_m / z pixels), so a
            ball of that radius around the point (e.g. a voxel's half-diagonal) may reach into the image.
    Returns:
        uv (V, N, 2) pixel coordinates, depth (V, N) z in the camera frame (metres),
        valid (V, N) bool: in front of the camera (z > min_depth_m) and inside the (widened) image.
    """
    _check_KT(K, T_map_cam)
    if pts_map.ndim != 2 or pts_map.shape[-1] != 3:
        raise InputError(f"pts_map must be (N, 3), got {tuple(pts_map.shape)}")
    V, N = K.shape[0], pts_map.shape[0]
    T_cam_map = invert_pose(T_map_cam)
    # every view's rotation in one (3V, 3) @ (3, N) product: rows x, y, z of each view, contiguous per view
    x, y, z = (T_cam_map[:, :3, :3].reshape(3 * V, 3) @ pts_map.T + T_cam_map[:, :3, 3].reshape(3 * V, 1)
               ).reshape(V, 3, N).unbind(1)
    z_safe = torch.where(z.abs() < min_depth_m, torch.full_like(z, min_depth_m), z)
    u = K[:, None, 0, 0] * x / z_safe + K[:, None, 0, 2]
    v = K[:, None, 1, 1] * y / z_safe + K[:, None, 1, 2]
    uv = torch.stack([u, v], dim=-1)
    r_px = torch.maximum(K[:, None, 0, 0], K[:, None, 1, 1]) * radius_m / z_safe.abs() if radius_m else 0.0
    valid = ((z > min_depth_m) & (u >= -0.5 - r_px) & (u < width - 0.5 + r_px) & (v >= -0.5 - r_px)
             & (v < height - 0.5 + r_px))
    return uv, z, valid


def unproject(uv: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, T_map_cam: torch.Tensor) -> torch.Tensor:
    """Pixels uv (N, 2) with z-depth (N,) of one camera K (3, 3), T_map_cam (4, 4) -> pts_map (N, 3)."""
    _check_KT(K, T_map_cam)
    x = (uv[:, 0] - K[0, 2]) / K[0, 0] * depth
    y = (uv[:, 1] - K[1, 2]) / K[1, 1] * depth
    pts_cam = torch.stack([x, y, depth], dim=-1)
    return transform_points(T_map_cam, pts_cam)


def pixel_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel centres (H*W, 2) as (u, v), row-major (v slow, u fast)."""
    v, u = torch.meshgrid(torch.arange(height, device=device, dtype=dtype),
                          torch.arange(width, device=device, dtype=dtype), indexing="ij")
    return torch.stack([u.reshape(-1), v.reshape(-1)], dim=-1)


def pixel_rays(uv: torch.Tensor, K: torch.Tensor, T_map_cam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through pixels uv (R, 2) of one camera: origins (R, 3) and directions (R, 3) in the map frame.

    Directions are scaled so that the camera-frame z component is 1: the point at ray parameter t
    has z-depth t, so depths rendered along these rays compare directly with depth images.
    """
    _check_KT(K, T_map_cam)
    dirs_cam = torch.stack([(uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1],
                            torch.ones_like(uv[:, 0])], dim=-1)
    dirs_map = dirs_cam @ T_map_cam[:3, :3].T
    origins = T_map_cam[:3, 3].expand_as(dirs_map)
    return origins, dirs_map


def image_rays(K: torch.Tensor, T_map_cam: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays of every pixel of an image, row-major: origins (H*W, 3), directions (H*W, 3) (z-depth 1)."""
    uv = pixel_grid(height, width, device=K.device, dtype=K.dtype)
    return pixel_rays(uv, K, T_map_cam)


def stratified_samples(near: torch.Tensor, far: torch.Tensor, num_samples: int, perturb: bool = False,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Ray parameters t (R, S) in [near, far]: S bins, one sample per bin (bin centre, or uniform in it).

    near, far: (R,) or scalars broadcastable to (R,). Sorted ascending along S.
    """
    near = torch.as_tensor(near)
    far = torch.as_tensor(far, dtype=near.dtype, device=near.device)
    if num_samples < 1:
        raise InputError(f"num_samples must be >= 1, got {num_samples}")
    near, far = torch.broadcast_tensors(near.reshape(-1), far.reshape(-1))
    edges = torch.linspace(0.0, 1.0, num_samples + 1, device=near.device, dtype=near.dtype)
    lo, hi = edges[:-1], edges[1:]
    if perturb:
        u = torch.rand((near.shape[0], num_samples), generator=generator, device=near.device, dtype=near.dtype)
    else:
        u = torch.full((near.shape[0], num_samples), 0.5, device=near.device, dtype=near.dtype)
    frac = lo + (hi - lo) * u
    return near[:, None] + (far - near)[:, None] * frac
