"""Offscreen mesh pictures (eval/mesh_render.py): camera placement, colours, back-face culling, orientation."""
import numpy as np
import pytest

from gnesf_ros.errors import InputError
from gnesf_ros.eval.mesh_render import (intrinsics, look_at, orbit_views, orient_to_free_space, render_mesh)

pytest.importorskip("open3d")

# a 2 m x 2 m square in the plane z = 0, counter-clockwise seen from +z (its normal points up)
SQUARE_V = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=np.float32)
SQUARE_F = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32)


def test_look_at_is_an_opencv_camera_looking_at_the_target():
    T = look_at(np.array([0.0, 0.0, 5.0]), np.zeros(3), up=np.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(T[:3, 2], [0, 0, -1], atol=1e-12)  # z forward: towards the target
    np.testing.assert_allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-12)
    assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)
    with pytest.raises(InputError, match="parallel"):
        look_at(np.array([0.0, 0.0, 5.0]), np.zeros(3))  # looking straight down with z up


def test_render_fills_the_square_with_its_colour_and_culls_its_back():
    h, w = 60, 80
    K = intrinsics(h, w, fov_x_deg=60.0)
    above = look_at(np.array([0.0, 0.01, 3.0]), np.zeros(3))
    red = np.tile(np.array([[200, 0, 0]], np.uint8), (4, 1))
    img = render_mesh(SQUARE_V, SQUARE_F, K, above, h, w, vertex_rgb=red, background=(255, 255, 255))
    hit = np.any(img != 255, axis=2)
    # the square spans +-1 m at 3 m: +-f/3 pixels around the centre (f = 40 / tan 30 deg = 69.3 px)
    half = K[0, 0] / 3.0
    assert hit[h // 2, w // 2] and not hit[0, 0]
    assert abs(hit[h // 2].sum() - 2 * half) <= 2
    px = img[h // 2, w // 2]
    assert px[0] > 150 and px[1] == 0 and px[2] == 0  # red, shaded by the head light (facing the camera: ~full)
    below = look_at(np.array([0.0, 0.01, -3.0]), np.zeros(3))
    assert np.all(render_mesh(SQUARE_V, SQUARE_F, K, below, h, w, vertex_rgb=red) == 255)  # back face culled
    assert np.any(render_mesh(SQUARE_V, SQUARE_F, K, below, h, w, vertex_rgb=red, cull_back_faces=False) != 255)
    face = render_mesh(SQUARE_V, SQUARE_F, K, above, h, w, face_rgb=np.array([[0, 0, 90], [0, 90, 0]], np.uint8))
    # looking down with the map's -x to the image's right: the image's left half of the middle row is map x > 0,
    # i.e. the first face (x > y: blue), the right half the second face (green)
    left, right = face[h // 2, w // 2 - 12].astype(int), face[h // 2, w // 2 + 12].astype(int)
    assert left[2] > 80 and left[0] == left[1] == 0
    assert right[1] > 80 and right[0] == right[2] == 0
    with pytest.raises(InputError, match="exactly one"):
        render_mesh(SQUARE_V, SQUARE_F, K, above, h, w)


def test_orient_to_free_space_turns_faces_towards_larger_sdf():
    flipped = SQUARE_F[:, ::-1].copy()
    up_is_free = lambda p: p[:, 2]  # noqa: E731 - free space above the plane
    np.testing.assert_array_equal(orient_to_free_space(SQUARE_V, flipped, up_is_free), SQUARE_F)
    np.testing.assert_array_equal(orient_to_free_space(SQUARE_V, SQUARE_F, up_is_free), SQUARE_F)


def test_orbit_views_see_the_box_centre_from_above():
    lo, hi = np.array([0.0, 0.0, 0.0]), np.array([4.0, 3.0, 2.5])
    for T in orbit_views(lo, hi):
        centre_cam = T[:3, :3].T @ ((lo + hi) / 2 - T[:3, 3])
        np.testing.assert_allclose(centre_cam[:2], 0.0, atol=1e-9)  # on the optical axis
        assert T[2, 3] > hi[2] and centre_cam[2] > np.linalg.norm(hi - lo) / 2  # above, and the box in front
