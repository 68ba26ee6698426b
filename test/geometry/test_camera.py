"""Camera geometry: projection/unprojection round trip, validity mask, ray sampling."""
import math

import pytest
import torch

from gnesf_ros.errors import InputError
from gnesf_ros.geometry.camera import (camera_centers, image_rays, invert_pose, pixel_rays, project,
                                       stratified_samples, unproject)


def _pose(yaw: float, t) -> torch.Tensor:
    c, s = math.cos(yaw), math.sin(yaw)
    T = torch.eye(4, dtype=torch.float64)
    T[:3, :3] = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)
    T[:3, 3] = torch.tensor(t, dtype=torch.float64)
    return T


K = torch.tensor([[50.0, 0, 15.5], [0, 52.0, 11.5], [0, 0, 1]], dtype=torch.float64)


def test_project_unproject_round_trip():
    T = _pose(0.3, [0.2, -0.1, 0.5])
    g = torch.Generator().manual_seed(1)
    uv = torch.rand(50, 2, generator=g, dtype=torch.float64) * torch.tensor([31.0, 23.0]) - 0.4
    depth = 0.5 + 3 * torch.rand(50, generator=g, dtype=torch.float64)
    pts = unproject(uv, depth, K, T)
    uv2, z, valid = project(pts, K[None], T[None], 24, 32)
    assert torch.allclose(uv2[0], uv, atol=1e-9)
    assert torch.allclose(z[0], depth, atol=1e-9)
    assert valid.all()


def test_validity_mask_behind_and_outside():
    T = torch.eye(4, dtype=torch.float64)
    pts = torch.tensor([[0.0, 0.0, 1.0],      # centre of view
                        [0.0, 0.0, -1.0],     # behind the camera
                        [10.0, 0.0, 1.0],     # far right, outside the image
                        [-15.5 / 50 - 0.6 / 50, 0.0, 1.0],  # u = -0.6: just outside the left edge
                        [-15.5 / 50 - 0.4 / 50, 0.0, 1.0]],  # u = -0.4: inside (pixel 0 covers [-0.5, 0.5))
                       dtype=torch.float64)
    _, z, valid = project(pts, K[None], T[None], 24, 32)
    assert valid[0].tolist() == [True, False, False, False, True]
    assert z[0, 1] < 0
    # radius_m widens the image by max(fx, fy) * r / z = 52 * 0.02 / 1 = 1.04 px: u = -0.6 is in (a 2 cm ball
    # around it reaches into the image), u = -1.6 is not; behind the camera stays out
    edge = torch.tensor([[-15.5 / 50 - 0.6 / 50, 0.0, 1.0], [-15.5 / 50 - 1.6 / 50, 0.0, 1.0], [0.0, 0.0, -1.0]],
                        dtype=torch.float64)
    _, _, wide = project(edge, K[None], T[None], 24, 32, radius_m=0.02)
    assert wide[0].tolist() == [True, False, False]


def test_invert_pose_and_centers():
    T = _pose(-0.7, [1.0, 2.0, 3.0])
    assert torch.allclose(invert_pose(T) @ T, torch.eye(4, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(camera_centers(T), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))


def test_rays_have_unit_z_depth():
    T = _pose(0.4, [0.1, 0.2, 0.3])
    o, d = image_rays(K, T, 24, 32)
    assert o.shape == d.shape == (24 * 32, 3)
    pts = o + 2.0 * d  # t = 2 -> z-depth 2
    _, z, _ = project(pts, K[None], T[None], 24, 32)
    assert torch.allclose(z[0], torch.full_like(z[0], 2.0), atol=1e-9)
    o1, d1 = pixel_rays(torch.tensor([[3.0, 4.0]], dtype=torch.float64), K, T)
    uv, _, _ = project(o1 + 1.5 * d1, K[None], T[None], 24, 32)
    assert torch.allclose(uv[0, 0], torch.tensor([3.0, 4.0], dtype=torch.float64), atol=1e-9)


@pytest.mark.parametrize("perturb", [False, True])
def test_stratified_samples_sorted_and_in_bounds(perturb):
    near = torch.tensor([0.5, 1.0, 2.0])
    far = torch.tensor([1.5, 4.0, 2.5])
    t = stratified_samples(near, far, 16, perturb=perturb, generator=torch.Generator().manual_seed(0))
    assert t.shape == (3, 16)
    assert (t[:, 1:] >= t[:, :-1]).all()
    assert (t >= near[:, None]).all() and (t <= far[:, None]).all()


def test_bad_shapes_raise_input_error():
    with pytest.raises(InputError, match="K must be"):
        project(torch.zeros(3, 3), torch.eye(4)[None], torch.eye(4)[None], 4, 4)
    with pytest.raises(InputError, match="num_samples"):
        stratified_samples(torch.zeros(1), torch.ones(1), 0)
