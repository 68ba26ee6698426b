"""Cameras and voxel grids that stress frustum culling (`gnesf_ros.geometry.culling`): random poses, cameras looking
exactly along the axes, inside the grid, with 1x1 and 2x3 images, skewed intrinsics, looking away from the grid, and
a grid hundreds of metres from the origin. Shared by the geometry, fragment and Eq. 1 culling tests."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gnesf_ros.geometry.camera import Camera


@dataclass
class CullingCase:
    name: str
    camera: Camera  # float32, V views of one size
    key_min: np.ndarray  # (3,) int64 voxel key of grid index (0, 0, 0)
    dims: tuple[int, int, int]
    voxel_size_m: float

    @property
    def origin_m(self) -> torch.Tensor:
        """(3,) float32 centre of grid index (0, 0, 0), as `mean_var_volume` takes it."""
        return torch.from_numpy(self.key_min * self.voxel_size_m).float()


def pose_looking(centre_m, forward, up=(0.0, 0.0, 1.0)) -> torch.Tensor:
    """T_map_cam (4, 4) of a camera at centre_m looking along `forward` (x right, y down, z forward); axis-aligned
    forward and up give rotations of exact 0 / +-1 entries."""
    z = torch.as_tensor(forward, dtype=torch.float64)
    z = z / z.norm()
    x = torch.linalg.cross(z, -torch.as_tensor(up, dtype=torch.float64))
    if x.norm() < 1e-9:  # looking along `up`
        x = torch.linalg.cross(z, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    x = x / x.norm()
    T = torch.eye(4, dtype=torch.float64)
    T[:3, :3] = torch.stack([x, torch.linalg.cross(z, x), z], dim=1)
    T[:3, 3] = torch.as_tensor(centre_m, dtype=torch.float64)
    return T


def _camera(K, poses, height, width) -> Camera:
    K = torch.as_tensor(K, dtype=torch.float64)
    return Camera(K.expand(len(poses), 3, 3).clone(), torch.stack(poses), height, width).to(dtype=torch.float32)


def _random_poses(g: torch.Generator, n: int, lo_m: np.ndarray, hi_m: np.ndarray, target_m: np.ndarray):
    """n poses at random points of the box [lo_m, hi_m] looking roughly at target_m."""
    poses = []
    for _ in range(n):
        c = torch.from_numpy(lo_m) + torch.rand(3, generator=g, dtype=torch.float64) * torch.from_numpy(hi_m - lo_m)
        f = torch.from_numpy(target_m) - c + torch.randn(3, generator=g, dtype=torch.float64)
        poses.append(pose_looking(c, f))
    return poses


def culling_cases(seed: int = 0) -> list[CullingCase]:
    """The cases, each a grid of ~5-15 k voxels (cheap to project unculled) and its cameras."""
    g = torch.Generator().manual_seed(seed)
    vs = 0.1
    key_min = np.array([-10, -8, -12], dtype=np.int64)
    dims = (20, 17, 23)
    lo = key_min * vs
    hi = (key_min + np.array(dims) - 1) * vs
    mid = (lo + hi) / 2
    K = [[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]]
    wide = [[6.0, 0, 15.5], [0, 6.0, 11.5], [0, 0, 1]]
    skew = [[25.0, 4.0, 13.0], [0, 41.0, 9.0], [0, 0, 1]]
    axes = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]
    cases = [
        CullingCase("random", _camera(K, _random_poses(g, 6, lo - 1.0, hi + 1.0, mid), 24, 32), key_min, dims, vs),
        CullingCase("axes_outside", _camera(K, [pose_looking(mid - 2.0 * np.array(a), a) for a in axes], 24, 32),
                    key_min, dims, vs),
        CullingCase("axes_on_voxel_centres", _camera(K, [pose_looking(mid.round(1), a) for a in axes], 24, 32),
                    key_min, dims, vs),
        CullingCase("inside_wide", _camera(wide, _random_poses(g, 4, lo, hi, mid), 24, 32), key_min, dims, vs),
        CullingCase("one_pixel", _camera([[2.0, 0, 0.0], [0, 2.0, 0.0], [0, 0, 1]],
                                         _random_poses(g, 3, lo - 1.0, hi + 1.0, mid)
                                         + [pose_looking(mid - 1.5 * np.array(a), a) for a in axes[:2]], 1, 1),
                    key_min, dims, vs),
        CullingCase("two_by_three", _camera([[3.0, 0, 1.0], [0, 3.0, 0.5], [0, 0, 1]],
                                            _random_poses(g, 4, lo - 1.0, hi + 1.0, mid), 2, 3), key_min, dims, vs),
        CullingCase("skewed", _camera(skew, _random_poses(g, 4, lo - 0.5, hi + 0.5, mid), 20, 28), key_min, dims, vs),
        CullingCase("sees_nothing", _camera(K, [pose_looking(hi + 1.0, hi + 1.0 - mid),
                                                pose_looking(lo - 0.5, lo - 0.5 - mid),
                                                pose_looking(mid, (0.3, -0.2, 1.0))], 24, 32), key_min, dims, vs),
    ]
    far_key = np.array([3000, -2000, 500], dtype=np.int64) + key_min
    far_mid = mid + np.array([300.0, -200.0, 50.0])
    cases.append(CullingCase("far_from_origin", _camera(K, _random_poses(g, 4, far_mid - 1.0, far_mid + 1.0,
                                                                           far_mid), 24, 32), far_key, dims, vs))
    return cases
