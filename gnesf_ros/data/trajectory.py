"""Camera scans of a synthetic scene: smooth handheld ones and (realistic style) robot-base ones."""
from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

from gnesf_ros.data.scene import Scene
from gnesf_ros.errors import InputError


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, periods: tuple[float, float], n: int = 3) -> np.ndarray:
    """A smooth signal in [-1, 1]: sum of n sinusoids with random periods (frames) and phases."""
    p = rng.uniform(*periods, size=n)
    ph = rng.uniform(0, 2 * np.pi, size=n)
    a = rng.uniform(0.5, 1.0, size=n)
    return (a[:, None] * np.sin(2 * np.pi * t[None] / p[:, None] + ph[:, None])).sum(0) / a.sum()


def look_rotation(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """R_map_cam (F, 3, 3) of an OpenCV camera looking along (yaw, pitch) in a z-up map, rolled about z_cam.

    yaw about map z from +x; pitch > 0 looks up; roll rotates the image clockwise. Radians.
    """
    cp = np.cos(pitch)
    fwd = np.stack([cp * np.cos(yaw), cp * np.sin(yaw), np.sin(pitch)], -1)
    right = np.stack([np.sin(yaw), -np.cos(yaw), np.zeros_like(yaw)], -1)  # fwd x z_up, normalised
    down = np.cross(fwd, right)
    cr, sr = np.cos(roll)[:, None], np.sin(roll)[:, None]
    right_r = cr * right + sr * down
    down_r = -sr * right + cr * down
    return np.stack([right_r, down_r, fwd], -1)


def handheld_trajectory(scene: Scene, num_frames: int, seed: int) -> np.ndarray:
    """A smooth handheld scan: T_map_cam (F, 4, 4) at ~30 Hz.

    The camera walks the scene's walk loop (which furniture keeps clear of) at 1-1.8 cm per frame
    with a small sideways sway, at 1.0-1.8 m height, pitched 10-35 degrees down, and pans around
    the room at roughly 0.5-1.5 degrees per frame. Deterministic per (scene, seed).
    """
    if num_frames < 1:
        raise InputError(f"handheld_trajectory: num_frames must be >= 1, got {num_frames}")
    rng = np.random.default_rng([int(seed), 31337])
    t = np.arange(num_frames, dtype=np.float64)

    loop = scene.walk_loop.astype(np.float64)
    closed = np.concatenate([loop, loop[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    s_knots = np.concatenate([[0.0], np.cumsum(seg)])
    perimeter = s_knots[-1]
    spline = CubicSpline(s_knots, closed, bc_type="periodic")

    v0 = rng.uniform(0.01, 0.016)
    speed = v0 * (1.0 + 0.3 * _smooth_noise(rng, t, (90.0, 300.0)))
    direction = rng.choice([-1.0, 1.0])
    s = (rng.uniform(0, perimeter) + direction * np.concatenate([[0.0], np.cumsum(speed[:-1])])) % perimeter
    xy = spline(s)
    tangent = spline(s, 1)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
    xy = xy + normal * (0.08 * _smooth_noise(rng, t, (60.0, 200.0)))[:, None]

    z = np.clip(rng.uniform(1.2, 1.6) + 0.12 * _smooth_noise(rng, t, (80.0, 250.0)), 1.0, 1.8)

    omega = np.deg2rad(rng.uniform(0.7, 1.0)) * rng.choice([-1.0, 1.0])
    sway_period = rng.uniform(120.0, 300.0, size=2)
    sway_amp = np.deg2rad(0.45) * sway_period / (2 * np.pi)  # peak sway rate 0.45 deg/frame each
    sway_phase = rng.uniform(0, 2 * np.pi, size=2)
    sway = (sway_amp[:, None] * np.sin(2 * np.pi * t[None] / sway_period[:, None] + sway_phase[:, None])).sum(0)
    yaw = rng.uniform(-np.pi, np.pi) + omega * t + sway
    pitch = np.deg2rad(-rng.uniform(15.0, 25.0) + 8.0 * _smooth_noise(rng, t, (100.0, 300.0)))
    roll = np.deg2rad(2.5 * _smooth_noise(rng, t, (60.0, 200.0)))

    T = np.tile(np.eye(4), (num_frames, 1, 1))
    T[:, :3, :3] = look_rotation(yaw, pitch, roll)
    T[:, :3, 3] = np.concatenate([xy, z[:, None]], 1)
    return T


def robot_trajectory(scene: Scene, num_frames: int, seed: int) -> np.ndarray:
    """A robot-base scan: T_map_cam (F, 4, 4) at ~30 Hz, lower, steadier and slower than a handheld one.

    The base drives the walk loop at 0.5-0.8 cm per frame, turns round at mid-scan and drives back
    (so places are revisited from the other side), camera at 0.35-0.7 m on a mast, pitched 0-10
    degrees down, no roll, looking within +-20 degrees (slowly varying) of the driving direction.
    Deterministic per (scene, seed).
    """
    if num_frames < 1:
        raise InputError(f"robot_trajectory: num_frames must be >= 1, got {num_frames}")
    rng = np.random.default_rng([int(seed), 4242])
    t = np.arange(num_frames, dtype=np.float64)
    loop = scene.walk_loop.astype(np.float64)
    closed = np.concatenate([loop, loop[:1]])
    s_knots = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    perimeter = s_knots[-1]
    spline = CubicSpline(s_knots, closed, bc_type="periodic")
    step = rng.uniform(0.005, 0.008) * (1.0 + 0.1 * _smooth_noise(rng, t, (150.0, 400.0)))
    travelled = np.concatenate([[0.0], np.cumsum(step[:-1])])
    half = travelled[num_frames // 2] if num_frames > 1 else 0.0
    there_and_back = np.where(travelled <= half, travelled, 2 * half - travelled)  # out, then back
    direction = rng.choice([-1.0, 1.0])
    s = (rng.uniform(0, perimeter) + direction * there_and_back) % perimeter
    xy = spline(s)
    tangent = spline(s, 1) * direction  # the outbound driving direction at each place
    heading = np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0]))
    k_half = num_frames // 2
    turn = np.clip((t - (k_half - 45)) / 90.0, 0.0, 1.0)  # turning round over 90 frames (3 s)
    heading = heading + np.pi * turn * turn * (3 - 2 * turn)
    yaw = heading + np.deg2rad(20.0) * _smooth_noise(rng, t, (400.0, 800.0)) + rng.uniform(-0.5, 0.5)
    z = np.full(num_frames, rng.uniform(0.35, 0.7))
    pitch = np.deg2rad(-rng.uniform(0.0, 10.0) + 1.0 * _smooth_noise(rng, t, (100.0, 300.0)))
    roll = np.deg2rad(0.3 * _smooth_noise(rng, t, (30.0, 90.0)))
    T = np.tile(np.eye(4), (num_frames, 1, 1))
    T[:, :3, :3] = look_rotation(yaw, pitch, roll)
    T[:, :3, 3] = np.concatenate([xy, z[:, None]], 1)
    return T


def blend_pose(T_a: np.ndarray, T_b: np.ndarray, s: float) -> np.ndarray:
    """The pose a fraction s of the way from T_a (s = 0) to T_b (s = 1): linear position, slerp rotation."""
    from scipy.spatial.transform import Rotation, Slerp

    rots = Rotation.from_matrix(np.stack([T_a[:3, :3], T_b[:3, :3]]))
    T = np.eye(4)
    T[:3, :3] = Slerp([0.0, 1.0], rots)([s]).as_matrix()[0]
    T[:3, 3] = (1.0 - s) * T_a[:3, 3] + s * T_b[:3, 3]
    return T
