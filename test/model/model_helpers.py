"""Helpers of the model tests (a module, so test files can import them)."""
import torch

H, W = 12, 16
C = 3


def look_at(cam, target) -> torch.Tensor:
    """T_map_cam of a camera at `cam` looking at `target` (OpenCV optical: z forward, y down)."""
    cam, target = torch.as_tensor(cam, dtype=torch.float32), torch.as_tensor(target, dtype=torch.float32)
    z = target - cam
    z = z / z.norm()
    x = torch.linalg.cross(z, torch.tensor([0.0, 0.0, 1.0]))
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    T = torch.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, cam
    return T
