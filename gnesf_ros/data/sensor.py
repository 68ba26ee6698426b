"""Sensor models of the realistic style: an RGB camera and a structured-light depth camera.

Both take the exact render (`render.LinearView`) and a per-frame random generator and return the
corrupted sensor output; the truth (labels, depth, surface) is never modified.
"""
from __future__ import annotations

import cv2
import numpy as np

from gnesf_ros.data.realism import CameraConfig, DepthSensorConfig

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def camera_image(linear: np.ndarray, cfg: CameraConfig, rng: np.random.Generator, K: np.ndarray) -> np.ndarray:
    """(H, W, 3) exposed linear image -> (H, W, 3) uint8 camera RGB.

    Order as in a camera: vignetting (1 - v r^2), shot noise (std shot * sqrt(signal)) and read noise,
    clipping, gamma 1/2.2, optional lens distortion undistorted back to K, JPEG at `jpeg_quality`.
    """
    H, W = linear.shape[:2]
    img = linear.astype(np.float32, copy=True)
    if cfg.vignetting > 0:
        v, u = np.mgrid[0:H, 0:W].astype(np.float32)
        r2 = ((u - K[0, 2]) ** 2 + (v - K[1, 2]) ** 2) / np.float32((W / 2) ** 2 + (H / 2) ** 2)
        img *= (1.0 - np.float32(cfg.vignetting) * r2)[..., None]
    if cfg.shot_noise > 0 or cfg.read_noise > 0:
        std = np.sqrt(np.float32(cfg.shot_noise) ** 2 * np.maximum(img, 0.0) + np.float32(cfg.read_noise) ** 2)
        img += rng.standard_normal(size=img.shape, dtype=np.float32) * std
    out = (np.clip(img, 0.0, 1.0) ** np.float32(1 / 2.2) * 255.0 + 0.5).astype(np.uint8)
    if cfg.lens_k1 != 0.0:
        out = _distort_undistort(out, K, cfg.lens_k1)
    if cfg.jpeg_quality > 0:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(cfg.jpeg_quality)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    return out


def _distort_undistort(img: np.ndarray, K: np.ndarray, k1: float) -> np.ndarray:
    """What a real lens plus the data path's undistortion leaves: resampled twice, an empty (black) border."""
    H, W = img.shape[:2]
    dist = np.array([k1, 0.0, 0.0, 0.0], np.float64)
    Kf = np.asarray(K, np.float64)
    # the lens image: pixel (u, v) of the distorted image sees the pinhole image at the undistorted point
    v, u = np.mgrid[0:H, 0:W].astype(np.float32)
    pts = np.stack([u.ravel(), v.ravel()], 1)[:, None, :]
    und = cv2.undistortPoints(pts, Kf, dist, P=Kf).reshape(H, W, 2)
    lens = cv2.remap(img, und[..., 0], und[..., 1], cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    map1, map2 = cv2.initUndistortRectifyMap(Kf, dist, None, Kf, (W, H), cv2.CV_32FC1)
    return cv2.remap(lens, map1, map2, cv2.INTER_LINEAR, borderValue=(0, 0, 0))


def sensor_depth(depth_m: np.ndarray, normal_cos: np.ndarray, albedo_lum: np.ndarray, shininess: np.ndarray,
                 cfg: DepthSensorConfig, rng: np.random.Generator) -> np.ndarray:
    """True z-depth (H, W) -> what a structured-light sensor returns (H, W) float32, 0 = hole.

    Holes: beyond [min_range_m, max_range_m], at grazing incidence (> grazing_deg), at depth edges (a
    relative jump > edge_jump in the 3x3 window, grown by edge_dilate_px), on dark surfaces (linear
    albedo luminance < dark_threshold, with a soft ramp), on shiny surfaces seen head-on, and a random
    speckle. Noise: Gaussian with std noise_at_1m * z^2.
    """
    z = depth_m.astype(np.float32)
    valid = (z >= cfg.min_range_m) & (z <= cfg.max_range_m)
    if cfg.grazing_deg < 90.0:
        valid &= normal_cos > np.float32(np.cos(np.deg2rad(cfg.grazing_deg)))
    if cfg.edge_jump > 0:
        big = np.where(z > 0, z, np.float32(1e3))
        kernel = np.ones((3, 3), np.uint8)
        zmax = cv2.dilate(np.where(z > 0, z, 0).astype(np.float32), kernel)
        zmin = cv2.erode(big.astype(np.float32), kernel)
        edge = ((zmax - zmin) > np.float32(cfg.edge_jump) * np.maximum(z, 1e-3)) & (z > 0)
        if cfg.edge_dilate_px > 0:
            edge = cv2.dilate(edge.astype(np.uint8), np.ones((2 * cfg.edge_dilate_px + 1,) * 2, np.uint8)) > 0
        valid &= ~edge
    if cfg.dark_threshold > 0:
        keep_p = np.clip(2.0 * albedo_lum / np.float32(cfg.dark_threshold) - 1.0, 0.0, 1.0)  # 0 below half, 1 above
        valid &= rng.random(z.shape, dtype=np.float32) < keep_p
    if cfg.specular_holes:
        valid &= ~((shininess > 0.6) & (normal_cos > 0.995))
    if cfg.dropout > 0:
        valid &= rng.random(z.shape, dtype=np.float32) >= np.float32(cfg.dropout)
    noisy = z + rng.standard_normal(size=z.shape, dtype=np.float32) * (np.float32(cfg.noise_at_1m) * z * z)
    return np.where(valid, noisy, np.float32(0.0)).astype(np.float32)
