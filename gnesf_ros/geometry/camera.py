"""Pinhole cameras in the OpenCV optical frame (x right, y down, z forward).

Poses are `T_map_cam` (4x4, camera-to-map). Pixel centres sit at integer coordinates: pixel
(u, v) covers [u - 0.5, u + 0.5), matching cv2 and ScanNet intrinsics. `Camera` (V cameras of one image size)
is the one place map points are projected into images, rays leave them and intrinsics follow a resize. All
functions are pure: outputs follow the inputs' device and dtype, inputs are never modified.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gnesf_ros.errors import InputError
from gnesf_ros.geometry.culling import projection_halfspaces


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


def scale_intrinsics(K: torch.Tensor | np.ndarray, sx: float, sy: float) -> torch.Tensor | np.ndarray:
    """Intrinsics (..., 3, 3) of an image resized by (sx, sy), with pixel centres at integers; a tensor for a
    tensor, a float64 array for anything else.

    A pixel coordinate u maps to (u + 0.5) * sx - 0.5, hence fx' = sx fx and cx' = (cx + 0.5) sx - 0.5.
    """
    out = K.clone() if isinstance(K, torch.Tensor) else np.array(K, dtype=np.float64, copy=True)
    out[..., 0, 0] = K[..., 0, 0] * sx
    out[..., 0, 1] = K[..., 0, 1] * sx
    out[..., 0, 2] = (K[..., 0, 2] + 0.5) * sx - 0.5
    out[..., 1, 1] = K[..., 1, 1] * sy
    out[..., 1, 2] = (K[..., 1, 2] + 0.5) * sy - 0.5
    return out


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


def pixel_directions(uv: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Directions (R, 3) in the camera frame through pixels uv (R, 2) of intrinsics K (3, 3), scaled to z = 1."""
    return torch.stack([(uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1], torch.ones_like(uv[:, 0])],
                       dim=-1)


def project_with_matrix(pts_map: torch.Tensor, P: torch.Tensor, height: int, width: int, min_depth_m: float = 1e-3
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """`Camera.project` for one view given as its matrix P (3, 4) (`Camera.projection_matrices`), in fewer passes:
    pts_map (N, 3) -> uv (N, 2) (out-of-view points moved far outside the image, so bilinear sampling gives zeros),
    seen (N,) bool (in front and inside the height x width image).

    Elementwise products and sums, not a matrix product: a point's uv is then bitwise the same whatever other points
    it is projected with (torch's CPU matmul rounds rows of fewer than 16 points differently), which the frustum
    culling of Eq. 1 relies on."""
    uvw = pts_map[:, 0:1] * P[:, 0] + pts_map[:, 1:2] * P[:, 1] + pts_map[:, 2:3] * P[:, 2] + P[:, 3]  # (N, 3)
    z = uvw[:, 2:]
    uv = uvw[:, :2] / z.clamp(min=min_depth_m)
    seen = (z[:, 0] > min_depth_m) & (uv[:, 0] >= -0.5) & (uv[:, 0] < width - 0.5) \
        & (uv[:, 1] >= -0.5) & (uv[:, 1] < height - 0.5)
    uv = uv.masked_fill(~seen[:, None], -1e4)
    return uv, seen


@dataclass(frozen=True, eq=False)
class Camera:
    """V pinhole cameras sharing one image size (kornia's PinholeCamera, batched): intrinsics, poses, size.

    >>> K = torch.tensor([[50.0, 0, 15.5], [0, 50.0, 11.5], [0, 0, 1]])
    >>> cam = Camera.single(K, torch.eye(4), height=24, width=32)
    >>> uv, z, valid = cam.project(torch.tensor([[0.0, 0.0, 2.0]]))
    >>> uv.tolist(), z.tolist(), valid.tolist()
    ([[[15.5, 11.5]]], [[2.0]], [[True]])
    >>> cam.resized(12, 16).K[0, 0].tolist()
    [25.0, 0.0, 7.5]
    """

    K: torch.Tensor  # (V, 3, 3) intrinsics, pixel centres at integer coordinates
    T_map_cam: torch.Tensor  # (V, 4, 4) camera-to-map poses
    height: int  # H, pixels
    width: int  # W, pixels

    def __post_init__(self) -> None:
        V = self.K.shape[0] if self.K.ndim == 3 else -1
        if self.K.ndim != 3 or self.K.shape[1:] != (3, 3) or tuple(self.T_map_cam.shape) != (V, 4, 4):
            raise InputError(f"Camera needs K (V, 3, 3) and T_map_cam (V, 4, 4), got {tuple(self.K.shape)}, "
                             f"{tuple(self.T_map_cam.shape)}")
        if self.height < 1 or self.width < 1:
            raise InputError(f"Camera needs a positive image size, got {self.height}x{self.width}")

    @classmethod
    def single(cls, K, T_map_cam, height: int, width: int) -> "Camera":
        """One camera (V = 1) from K (3, 3) and T_map_cam (4, 4) (tensors or arrays; their dtype is kept)."""
        return cls(torch.as_tensor(K)[None], torch.as_tensor(T_map_cam)[None], int(height), int(width))

    @property
    def num_views(self) -> int:
        return int(self.K.shape[0])

    @property
    def centers(self) -> torch.Tensor:
        """Camera centres o_i (V, 3) in the map frame."""
        return camera_centers(self.T_map_cam)

    def __getitem__(self, views: int | slice) -> "Camera":
        """The cameras of `views` (an index keeps the view axis: V = 1)."""
        views = slice(views, views + 1) if isinstance(views, int) else views
        return Camera(self.K[views], self.T_map_cam[views], self.height, self.width)

    def to(self, device=None, dtype: torch.dtype | None = None) -> "Camera":
        """The same cameras with K and T_map_cam on `device` / as `dtype`."""
        return Camera(self.K.to(device=device, dtype=dtype), self.T_map_cam.to(device=device, dtype=dtype),
                      self.height, self.width)

    def resized(self, height: int, width: int) -> "Camera":
        """The cameras of the images resized to (height, width): K scaled by (width / W, height / H) about pixel
        centres (`scale_intrinsics`), e.g. the intrinsics of a feature map or a downscaled keyframe."""
        return Camera(scale_intrinsics(self.K, width / self.width, height / self.height), self.T_map_cam,
                      int(height), int(width))

    def resized_pixels(self, uv: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Pixel coordinates uv (..., 2) of these images -> the same points' coordinates in the images resized to
        (height, width): (uv + 0.5) * scale - 0.5, the convention of `resized`."""
        scale = uv.new_tensor([width / self.width, height / self.height])
        return (uv + 0.5) * scale - 0.5

    def projection_matrices(self) -> torch.Tensor:
        """P = K [R^T | -R^T t] (V, 3, 4): homogeneous map points -> (u w, v w, w), w = z-depth."""
        return self.K @ invert_pose(self.T_map_cam)[:, :3, :]

    def project(self, pts_map: torch.Tensor, min_depth_m: float = 1e-3, radius_m: float = 0.0
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Project map points pts_map (N, 3) into the V cameras.

        radius_m widens the image by each point's projected radius (max focal * radius_m / z pixels), so a ball of
        that radius around the point (e.g. a voxel's half-diagonal) may reach into the image.
        Returns uv (V, N, 2) pixel coordinates, z (V, N) depth in the camera frame (metres), valid (V, N) bool:
        in front of the camera (z > min_depth_m) and inside the (widened) image.
        """
        if pts_map.ndim != 2 or pts_map.shape[-1] != 3:
            raise InputError(f"pts_map must be (N, 3), got {tuple(pts_map.shape)}")
        K, V, N = self.K, self.num_views, pts_map.shape[0]
        T_cam_map = invert_pose(self.T_map_cam)
        # every view's rotation in one (3V, 3) @ (3, N) product: rows x, y, z of each view, contiguous per view
        x, y, z = (T_cam_map[:, :3, :3].reshape(3 * V, 3) @ pts_map.T + T_cam_map[:, :3, 3].reshape(3 * V, 1)
                   ).reshape(V, 3, N).unbind(1)
        z_safe = torch.where(z.abs() < min_depth_m, torch.full_like(z, min_depth_m), z)
        u = K[:, None, 0, 0] * x / z_safe + K[:, None, 0, 2]
        v = K[:, None, 1, 1] * y / z_safe + K[:, None, 1, 2]
        uv = torch.stack([u, v], dim=-1)
        r_px = torch.maximum(K[:, None, 0, 0], K[:, None, 1, 1]) * radius_m / z_safe.abs() if radius_m else 0.0
        valid = ((z > min_depth_m) & (u >= -0.5 - r_px) & (u < self.width - 0.5 + r_px) & (v >= -0.5 - r_px)
                 & (v < self.height - 0.5 + r_px))
        return uv, z, valid

    def project_halfspaces(self, min_depth_m: float = 1e-3, radius_m: float = 0.0, max_depth_m: float | None = None
                           ) -> torch.Tensor:
        """Half-spaces (V, C, 4) float64 in the map frame that hold every point `project(pts, min_depth_m, radius_m)`
        counts valid (and, with max_depth_m, at z <= max_depth_m): A [p; 1] >= 0 (`culling.projection_halfspaces`;
        `project` reads fx, fy, cx, cy only, so the skew is left out here too)."""
        K = self.K.double().clone()
        K[:, 0, 1] = 0.0
        K[:, 2] = K.new_tensor([0.0, 0.0, 1.0])
        P = K @ invert_pose(self.T_map_cam.double())[:, :3, :]
        pad_px_m = torch.maximum(K[:, 0, 0], K[:, 1, 1]) * radius_m
        return projection_halfspaces(P, self.height, self.width, min_depth_m, pad_px_m, max_depth_m)

    def rays(self, view: int = 0, uv: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Rays of view `view` through pixels uv (R, 2) (default: every pixel, row-major): origins (R, 3) and
        directions (R, 3) in the map frame, scaled so that the camera-frame z is 1: the point at ray parameter t
        has z-depth t, so depths rendered along these rays compare directly with depth images."""
        K, T = self.K[view], self.T_map_cam[view]
        if uv is None:
            uv = pixel_grid(self.height, self.width, device=K.device, dtype=K.dtype)
        dirs_map = pixel_directions(uv, K) @ T[:3, :3].T
        return T[:3, 3].expand_as(dirs_map), dirs_map

    def frusta(self, max_depth_m: float) -> list[np.ndarray]:
        """Each view's frustum clipped at z = max_depth_m: V arrays (5, 3) float64 in the map frame, the centre then
        the 4 far image corners (numpy, as the fragment bounds that snap them to the voxel grid)."""
        u = np.array([-0.5, self.width - 0.5, self.width - 0.5, -0.5])
        v = np.array([-0.5, -0.5, self.height - 0.5, self.height - 0.5])
        frusta = []
        for K, T in zip(self.K.double().cpu().numpy(), self.T_map_cam.double().cpu().numpy()):
            pts_cam = np.stack([(u - K[0, 2]) / K[0, 0] * max_depth_m, (v - K[1, 2]) / K[1, 1] * max_depth_m,
                                np.full(4, max_depth_m)], axis=1)
            pts_cam = np.concatenate([np.zeros((1, 3)), pts_cam], axis=0)
            frusta.append(pts_cam @ T[:3, :3].T + T[:3, 3])
        return frusta


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
