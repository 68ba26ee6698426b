"""Camera geometry: projection/unprojection round trip, validity mask, resizing, frusta, ray sampling."""
import doctest
import math

import numpy as np
import pytest
import torch

from gnesf_ros.errors import InputError
from gnesf_ros.geometry import camera as camera_module
from gnesf_ros.geometry.camera import (Camera, camera_centers, invert_pose, project_with_matrix, stratified_samples,
                                       unproject)


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
    uv2, z, valid = Camera.single(K, T, 24, 32).project(pts)
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
    cam = Camera.single(K, T, 24, 32)
    _, z, valid = cam.project(pts)
    assert valid[0].tolist() == [True, False, False, False, True]
    assert z[0, 1] < 0
    # radius_m widens the image by max(fx, fy) * r / z = 52 * 0.02 / 1 = 1.04 px: u = -0.6 is in (a 2 cm ball
    # around it reaches into the image), u = -1.6 is not; behind the camera stays out
    edge = torch.tensor([[-15.5 / 50 - 0.6 / 50, 0.0, 1.0], [-15.5 / 50 - 1.6 / 50, 0.0, 1.0], [0.0, 0.0, -1.0]],
                        dtype=torch.float64)
    _, _, wide = cam.project(edge, radius_m=0.02)
    assert wide[0].tolist() == [True, False, False]


def test_invert_pose_and_centers():
    T = _pose(-0.7, [1.0, 2.0, 3.0])
    assert torch.allclose(invert_pose(T) @ T, torch.eye(4, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(camera_centers(T), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))


def test_rays_have_unit_z_depth():
    T = _pose(0.4, [0.1, 0.2, 0.3])
    cam = Camera.single(K, T, 24, 32)
    o, d = cam.rays()
    assert o.shape == d.shape == (24 * 32, 3)
    pts = o + 2.0 * d  # t = 2 -> z-depth 2
    _, z, _ = cam.project(pts)
    assert torch.allclose(z[0], torch.full_like(z[0], 2.0), atol=1e-9)
    o1, d1 = cam.rays(0, torch.tensor([[3.0, 4.0]], dtype=torch.float64))
    uv, _, _ = cam.project(o1 + 1.5 * d1)
    assert torch.allclose(uv[0, 0], torch.tensor([3.0, 4.0], dtype=torch.float64), atol=1e-9)


@pytest.mark.parametrize("perturb", [False, True])
def test_stratified_samples_sorted_and_in_bounds(perturb):
    near = torch.tensor([0.5, 1.0, 2.0])
    far = torch.tensor([1.5, 4.0, 2.5])
    t = stratified_samples(near, far, 16, perturb=perturb, generator=torch.Generator().manual_seed(0))
    assert t.shape == (3, 16)
    assert (t[:, 1:] >= t[:, :-1]).all()
    assert (t >= near[:, None]).all() and (t <= far[:, None]).all()


def test_two_views_project_like_each_view_alone():
    K2 = K * 0.5 + torch.eye(3, dtype=torch.float64) * 0.5
    cam = Camera(torch.stack([K, K2]), torch.stack([_pose(0.2, [0, 0, -1]), _pose(-0.3, [0.1, 0, -2])]), 24, 32)
    pts = torch.tensor([[0.1, 0.2, 1.0], [-0.3, 0.0, 2.0], [5.0, 0.0, 0.5]], dtype=torch.float64)
    uv, z, valid = cam.project(pts)
    assert cam.num_views == 2 and cam[1].num_views == 1 and cam[:2].num_views == 2
    for i in range(2):
        uv_i, z_i, valid_i = cam[i].project(pts)
        assert torch.equal(uv_i[0], uv[i]) and torch.equal(z_i[0], z[i]) and torch.equal(valid_i[0], valid[i])
        uv_p, seen = project_with_matrix(pts, cam.projection_matrices()[i], 24, 32)
        assert torch.equal(seen, valid[i])
        assert torch.allclose(uv_p[seen], uv[i][seen], atol=1e-9) and (uv_p[~seen] == -1e4).all()
    assert torch.allclose(cam.centers, cam.T_map_cam[:, :3, 3])


def test_resized_camera_sees_points_at_the_resized_pixels():
    """A 2x smaller image: the pixel centre convention u' = (u + 0.5) s - 0.5, for K and for pixel coordinates."""
    cam = Camera.single(K, _pose(0.3, [0.2, -0.1, 0.5]), 24, 32)
    small = cam.resized(12, 16)
    assert (small.height, small.width) == (12, 16) and torch.equal(small.T_map_cam, cam.T_map_cam)
    assert small.K[0, 0, 2] == pytest.approx((15.5 + 0.5) * 0.5 - 0.5) and small.K[0, 1, 1] == pytest.approx(26.0)
    pts = unproject(torch.tensor([[3.0, 4.0], [20.5, 17.0]], dtype=torch.float64),
                    torch.tensor([1.0, 2.5], dtype=torch.float64), K, cam.T_map_cam[0])
    uv, _, _ = cam.project(pts)
    uv_small, _, _ = small.project(pts)
    assert torch.allclose(cam.resized_pixels(uv, 12, 16), uv_small, atol=1e-9)


def test_frusta_hold_the_centre_and_the_far_image_corners():
    T = _pose(0.4, [1.0, 0.5, -0.2])
    cam = Camera.single(K, T, 24, 32)
    (frustum,) = cam.frusta(2.0)
    assert frustum.shape == (5, 3) and frustum.dtype == np.float64
    np.testing.assert_allclose(frustum[0], T[:3, 3].numpy())
    uv, z, _ = cam.project(torch.from_numpy(frustum[1:]))
    np.testing.assert_allclose(uv[0].numpy(), [[-0.5, -0.5], [31.5, -0.5], [31.5, 23.5], [-0.5, 23.5]], atol=1e-9)
    np.testing.assert_allclose(z[0].numpy(), 2.0)


def test_camera_docstring_example():
    assert doctest.testmod(camera_module, verbose=False).failed == 0


def test_bad_shapes_raise_input_error():
    with pytest.raises(InputError, match=r"Camera needs K \(V, 3, 3\) and T_map_cam \(V, 4, 4\), got \(3, 3\)"):
        Camera(torch.zeros(3, 3), torch.eye(4)[None], 4, 4)
    with pytest.raises(InputError, match="positive image size"):
        Camera(torch.eye(3)[None], torch.eye(4)[None], 0, 4)
    with pytest.raises(InputError, match=r"pts_map must be \(N, 3\)"):
        Camera(torch.eye(3)[None], torch.eye(4)[None], 4, 4).project(torch.zeros(3, 2))
    with pytest.raises(InputError, match="num_samples"):
        stratified_samples(torch.zeros(1), torch.ones(1), 0)
