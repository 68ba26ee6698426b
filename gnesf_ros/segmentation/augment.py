"""Training augmentations of one (RGB, labels) pair: rescale, crop, flip, colour jitter, blur, pixel noise.

Pure numpy/OpenCV functions of an explicit `np.random.Generator`, so a seed fixes the result.
"""
from __future__ import annotations

import cv2
import numpy as np

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.segmentation.config import AugmentConfig

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def hue_rotation(deg: float) -> np.ndarray:
    """(3, 3) RGB matrix rotating hue by `deg` about the grey axis (luma kept), for x @ M.T on (..., 3)."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    # rotation about (1, 1, 1)/sqrt(3) (Rodrigues)
    k = 1.0 / 3.0
    return np.array([[c + (1 - c) * k, k * (1 - c) - np.sqrt(k) * s, k * (1 - c) + np.sqrt(k) * s],
                     [k * (1 - c) + np.sqrt(k) * s, c + (1 - c) * k, k * (1 - c) - np.sqrt(k) * s],
                     [k * (1 - c) - np.sqrt(k) * s, k * (1 - c) + np.sqrt(k) * s, c + (1 - c) * k]], np.float32)


def color_jitter(rgb: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """RGB (H, W, 3) float32 in 0..255 -> jittered copy (brightness, contrast, saturation, hue), unclipped."""
    x = rgb * rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    mean = float((x @ _LUMA).mean())
    x = (x - mean) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + mean
    grey = (x @ _LUMA)[..., None]
    x = (x - grey) * rng.uniform(1 - cfg.saturation, 1 + cfg.saturation) + grey
    if cfg.hue_deg > 0:
        x = x @ hue_rotation(rng.uniform(-cfg.hue_deg, cfg.hue_deg)).T
    return x


def augment(rgb: np.ndarray, labels: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """RGB (H, W, 3) uint8 and labels (H, W) uint8 (255 ignore) -> crop (h, w, 3) uint8 and (h, w) uint8 with
    (h, w) = cfg.crop_hw; crop pixels outside the rescaled image are black and ignored."""
    h0, w0 = labels.shape
    s = rng.uniform(*cfg.scale_range)
    h1, w1 = max(1, int(round(h0 * s))), max(1, int(round(w0 * s)))
    img = cv2.resize(rgb, (w1, h1), interpolation=cv2.INTER_LINEAR if s >= 1 else cv2.INTER_AREA)
    lab = cv2.resize(labels, (w1, h1), interpolation=cv2.INTER_NEAREST)
    ch, cw = cfg.crop_hw
    out_img = np.zeros((ch, cw, 3), np.uint8)
    out_lab = np.full((ch, cw), IGNORE_ID, np.uint8)
    # crop origin in the rescaled image; negative = the crop is larger than the image there (padded)
    y0 = int(rng.integers(min(0, h1 - ch), max(0, h1 - ch) + 1))
    x0 = int(rng.integers(min(0, w1 - cw), max(0, w1 - cw) + 1))
    sy, sx = slice(max(y0, 0), min(y0 + ch, h1)), slice(max(x0, 0), min(x0 + cw, w1))
    dy, dx = slice(sy.start - y0, sy.stop - y0), slice(sx.start - x0, sx.stop - x0)
    out_img[dy, dx] = img[sy, sx]
    out_lab[dy, dx] = lab[sy, sx]
    if rng.random() < cfg.flip_prob:
        out_img, out_lab = out_img[:, ::-1], out_lab[:, ::-1]
    x = color_jitter(out_img.astype(np.float32), cfg, rng)
    if rng.random() < cfg.blur_prob:
        x = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(*cfg.blur_sigma_px)))
    if cfg.noise_std > 0:
        x = x + rng.normal(0.0, cfg.noise_std, x.shape).astype(np.float32)
    return np.clip(x, 0, 255).astype(np.uint8), np.ascontiguousarray(out_lab)
