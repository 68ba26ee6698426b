"""A model of a 2D semantic segmenter's output (Mask2Former-like) made from ground-truth labels.

`SegmenterNoise.apply` turns a rendered view's true labels into a probability image (H, W, C)
with the error structure of a real segmenter:

- whole-object (or part-of-object) class confusions, per object and frame, whose chance grows
  with distance, grazing viewing angle, truncation at the image border and small image size;
- systematic confusions between similar classes (table/desk, cabinet/otherfurniture,
  curtain/shower curtain): decided once per (scene seed, object id) and so shared across frames;
- wrong blobs: smooth random regions of a wrong class;
- boundary errors: labels dilated or eroded near object edges by a smooth displacement field;
- calibrated confidences: the top probability c is right a fraction c of the time (lower where the
  prediction is wrong, near boundaries and on hard objects, but overlapping: not a label in disguise),
  and where wrong the true class is often, not always, the runner-up;
- ignore-label pixels (ceiling, no hit) get the nearest labelled pixel's class, as a segmenter
  predicts something everywhere.

Random errors are independent across frames (seeded by (seed, frame_index)); everything is
deterministic per (seed, frame_index). Vectorised numpy/cv2 only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.config import load_yaml
from gnesf_ros.errors import ConfigError, InputError
from gnesf_ros.paths import config_path

# Pairs of ScanNet-20 classes a segmenter mixes up, with a relative weight; used to pick the wrong
# class of a random confusion (every other class gets weight `_OTHER_WEIGHT`).
_SIMILAR: tuple[tuple[int, int, float], ...] = (
    (6, 12, 1.0), (2, 19, 1.0), (13, 15, 1.0), (2, 9, 0.5), (2, 11, 0.5), (11, 12, 0.4), (6, 11, 0.3),
    (17, 11, 0.4), (17, 18, 0.3), (4, 5, 0.5), (5, 3, 0.4), (3, 19, 0.2), (7, 0, 0.5), (10, 0, 0.4),
    (8, 0, 0.3), (8, 13, 0.4), (8, 10, 0.3), (14, 2, 0.6), (14, 7, 0.3), (16, 17, 0.4), (18, 19, 0.2),
    (4, 19, 0.2), (6, 19, 0.2), (9, 19, 0.2), (7, 2, 0.3), (0, 1, 0.05), (15, 0, 0.2), (13, 0, 0.2),
)
_OTHER_WEIGHT = 0.03
_STUFF = (0, 1)  # wall, floor: large regions a segmenter rarely gets wrong as a whole


@dataclass
class NoiseConfig:
    """Parameters of the segmenter-noise model (config/segmenter_noise.yaml). Rates are at strength 1."""

    strength: float = 1.0
    """Global knob scaling every error rate and magnitude (0 = perfect labels, confident)."""
    object_base: float = 0.026
    """Chance per object and frame of a class confusion for a near, frontal, fully visible object."""
    object_per_m: float = 0.032
    """Added confusion chance per metre of the object's mean depth beyond 1 m."""
    object_grazing: float = 0.16
    """Added confusion chance times the object's mean (1 - |cos|) of the viewing angle."""
    object_truncated: float = 0.16
    """Added confusion chance for an object cut by the image border (times the cut fraction)."""
    object_small: float = 0.2
    """Added confusion chance for an object covering less than `small_area` of the image (linear)."""
    small_area: float = 0.02
    """Image-area fraction below which an object counts as small."""
    object_max: float = 0.85
    """Upper bound of the per-object confusion chance."""
    stuff_scale: float = 0.15
    """Multiplier of the confusion chance of walls and floors (large, easy regions)."""
    partial_fraction: float = 0.4
    """Chance that a confusion covers a smooth part of the object instead of all of it."""
    systematic_pairs: tuple[tuple[int, int], ...] = ((6, 12), (2, 19), (13, 15))
    """Similar-class pairs with systematic (cross-frame) confusions, both directions."""
    systematic_prob: float = 0.2
    """Chance that an object of a paired class is systematically seen as its partner (per object)."""
    systematic_rate: float = 0.8
    """Per-frame chance that a systematically confused object shows its confusion."""
    blob_rate: float = 0.65
    """Expected number of wrong blobs per frame."""
    blob_area: tuple[float, float] = (0.004, 0.03)
    """Range of a wrong blob's area as a fraction of the image."""
    boundary_px: float = 1.6
    """Amplitude (pixels at 320 px image width) of the smooth displacement that moves label edges."""
    logit_noise: float = 0.8
    """Std of the smooth per-class logit noise that spreads the probability left over by the top two classes."""
    confidence_spread: float = 1.5
    """Std s of the confidence logit. Right and wrong pixels' logits are s^2 apart, so the top probability is
    calibrated (P(right | confidence c) = c) and right and wrong overlap as much as s says (d' = s)."""
    error_prior_base: float = 0.02
    """The segmenter's own estimate of its error rate on an easy pixel (sets the centre of its confidences)."""
    error_prior_edge: float = 0.2
    """Added to the error estimate near predicted label boundaries."""
    error_prior_ignore: float = 0.5
    """Error estimate on ignore-label pixels (ceiling, no hit), which get the nearest labelled class."""
    runner_up_true: float = 0.6
    """Where the prediction is wrong, chance (per object) that the true class is the runner-up."""
    runner_up_share: float = 0.6
    """Mean share of the probability not on the top class that the runner-up takes."""

    def __post_init__(self) -> None:
        if self.strength < 0:
            raise ValueError(f"strength must be >= 0, got {self.strength}")
        for name in ("object_base", "object_per_m", "object_grazing", "object_truncated", "object_small",
                     "stuff_scale", "blob_rate", "boundary_px", "logit_noise", "error_prior_base",
                     "error_prior_edge"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("object_max", "partial_fraction", "systematic_prob", "systematic_rate", "small_area",
                     "error_prior_ignore", "runner_up_true", "runner_up_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.blob_area[0] <= self.blob_area[1] < 1.0:
            raise ValueError(f"blob_area must be 0 < lo <= hi < 1, got {self.blob_area}")
        if self.confidence_spread <= 0:
            raise ValueError(f"confidence_spread must be > 0, got {self.confidence_spread}")

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> "NoiseConfig":
        """Load config/segmenter_noise.yaml (or `path`), section `segmenter_noise`."""
        return load_yaml(cls, Path(path) if path is not None else config_path("segmenter_noise.yaml"),
                         section="segmenter_noise")


def _similarity(num_classes: int) -> np.ndarray:
    """(C, C) weights of picking class j when class i is confused; zero diagonal, rows sum to 1."""
    S = np.full((num_classes, num_classes), _OTHER_WEIGHT)
    for a, b, w in _SIMILAR:
        if a < num_classes and b < num_classes:
            S[a, b] = S[b, a] = w
    np.fill_diagonal(S, 0.0)
    return S / S.sum(axis=1, keepdims=True)


def _smooth_field(rng: np.random.Generator, height: int, width: int, cell_px: int, channels: int = 1,
                  cubic: bool = True) -> np.ndarray:
    """Smooth random field (H, W[, channels]) float32 with unit-ish std and correlation length ~cell_px."""
    gh, gw = max(2, -(-height // cell_px) + 1), max(2, -(-width // cell_px) + 1)
    g = rng.standard_normal((gh, gw, channels), dtype=np.float32)
    return cv2.resize(g if channels > 1 else g[..., 0], (width, height),
                      interpolation=cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR)


class SegmenterNoise:
    """Turns true label images into segmenter-like probability images, deterministic per (seed, frame)."""

    def __init__(self, config: NoiseConfig | None = None, num_classes: int = 20, seed: int = 0) -> None:
        if num_classes < 2:
            raise ConfigError(f"SegmenterNoise needs at least 2 classes, got {num_classes}")
        self.config = config if config is not None else NoiseConfig.from_yaml()
        self.num_classes = num_classes
        self.seed = int(seed)
        self._sim = _similarity(num_classes)
        self._sim_cdf = np.cumsum(self._sim, axis=1)
        self._most_similar = self._sim.argmax(axis=1)
        partner: dict[int, list[int]] = {}
        for a, b in self.config.systematic_pairs:
            if not (0 <= a < num_classes and 0 <= b < num_classes) or a == b:
                raise ConfigError(f"systematic pair ({a}, {b}) is not a pair of two classes in 0..{num_classes - 1}")
            partner.setdefault(a, []).append(b)
            partner.setdefault(b, []).append(a)
        self._partner = partner
        self._systematic: dict[tuple[int, int], int] = {}  # (object id, label) -> wrong class or -1

    def systematic_class(self, object_id: int, label: int) -> int:
        """The class object `object_id` (true class `label`) is systematically taken for, or -1 (none)."""
        key = (int(object_id), int(label))
        if key not in self._systematic:
            rng = np.random.default_rng([self.seed, int(object_id) + 1, 2])
            u, pick = rng.random(), rng.random()
            wrong = -1
            partners = self._partner.get(int(label), [])
            if partners and u < min(1.0, self.config.systematic_prob * self.config.strength):
                wrong = partners[int(pick * len(partners))]
            self._systematic[key] = wrong
        return self._systematic[key]

    def apply(self, labels: np.ndarray, instance: np.ndarray, depth_m: np.ndarray, normal_cos: np.ndarray,
              frame_index: int) -> np.ndarray:
        """True labels (H, W) uint8 (255 = ignore), instance ids (H, W) (-1 = none), depth (H, W) m,
        |cos| of the viewing angle (H, W) -> probabilities (H, W, C) float32 on the simplex."""
        labels = np.asarray(labels)
        h, w = labels.shape[:2] if labels.ndim == 2 else (0, 0)
        if labels.ndim != 2 or h == 0 or w == 0:
            raise InputError(f"SegmenterNoise.apply: labels must be a non-empty (H, W) image, got {labels.shape}")
        for name, arr in (("instance", instance), ("depth_m", depth_m), ("normal_cos", normal_cos)):
            if np.shape(arr) != (h, w):
                raise InputError(f"SegmenterNoise.apply: {name} must be {(h, w)} like labels, got {np.shape(arr)}")
        cfg = self.config
        C = self.num_classes
        k = cfg.strength
        rng = np.random.default_rng([self.seed, int(frame_index), 1])
        n_pix = h * w

        # 1. ignore pixels take the nearest labelled pixel's class
        lab = labels.astype(np.int64)
        known = (lab >= 0) & (lab < C)
        truth = lab.copy()
        if not known.all():
            if known.any():
                _, near = cv2.distanceTransformWithLabels((~known).astype(np.uint8), cv2.DIST_L2, 3,
                                                          labelType=cv2.DIST_LABEL_PIXEL)
                src = np.flatnonzero(known)
                truth = lab.ravel()[src[near.ravel() - 1]].reshape(h, w)
            else:
                truth = np.zeros((h, w), np.int64)

        # 2. per-object statistics and confusions (ids shifted by one: 0 = no object)
        inst = np.asarray(instance).astype(np.int64)
        ids = np.where(known & (inst >= 0), inst + 1, 0)
        n_ids = int(ids.max()) + 1
        count = np.bincount(ids.ravel(), minlength=n_ids).astype(np.float64)
        safe = np.maximum(count, 1.0)
        mean_depth = np.bincount(ids.ravel(), weights=np.asarray(depth_m, np.float64).ravel(), minlength=n_ids) / safe
        grazing = np.bincount(ids.ravel(), weights=1.0 - np.asarray(normal_cos, np.float64).ravel(),
                              minlength=n_ids) / safe
        border = np.concatenate([ids[0], ids[-1], ids[1:-1, 0], ids[1:-1, -1]])
        border_count = np.bincount(border, minlength=n_ids).astype(np.float64)
        cut = np.clip(border_count / np.sqrt(safe) / 2.0, 0.0, 1.0)
        area = count / n_pix
        obj_label = np.zeros(n_ids, np.int64)
        obj_label[ids.ravel()] = lab.ravel()  # one label per object
        p = (cfg.object_base + cfg.object_per_m * np.maximum(mean_depth - 1.0, 0.0) + cfg.object_grazing * grazing
             + cfg.object_truncated * cut + cfg.object_small * np.clip(1.0 - area / cfg.small_area, 0.0, 1.0))
        p = p * np.where(np.isin(obj_label, _STUFF), cfg.stuff_scale, 1.0)
        p = np.clip(k * p, 0.0, cfg.object_max)
        p[0] = 0.0
        p[count == 0] = 0.0

        u_conf, u_class, u_part, u_sys = (rng.random(n_ids) for _ in range(4))
        part_offset = rng.normal(0.0, 0.6, n_ids)
        new_class = obj_label.copy()
        confused = u_conf < p
        for i in np.flatnonzero(confused):  # per object, not per pixel
            new_class[i] = min(int(np.searchsorted(self._sim_cdf[obj_label[i]], u_class[i], side="right")), C - 1)
        present = np.flatnonzero(count > 0)
        for i in present[present > 0]:
            wrong = self.systematic_class(i - 1, obj_label[i])
            if wrong >= 0 and u_sys[i] < cfg.systematic_rate:
                new_class[i] = wrong
                confused[i] = True
        partial = confused & (u_part < cfg.partial_fraction)
        part_field = _smooth_field(rng, h, w, max(8, w // 10))
        pred = new_class[ids]
        keep_true = partial[ids] & (part_field + part_offset[ids] < 0.0)
        pred = np.where((ids == 0) | keep_true, truth, pred)
        difficulty = p[ids]  # (H, W) per-object difficulty in [0, 1]

        # 3. boundary errors: a smooth displacement moves label edges (dilation on one side, erosion on the other)
        amp = cfg.boundary_px * k * (w / 320.0)
        if amp > 0:
            disp = _smooth_field(rng, h, w, max(8, w // 12), channels=2) * amp
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            pred = cv2.remap(pred.astype(np.int32).astype(np.float32), gx + disp[..., 0], gy + disp[..., 1],
                             interpolation=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE).astype(np.int64)

        # 4. wrong blobs of a plausible class
        n_blobs = rng.poisson(cfg.blob_rate * k)
        if n_blobs:
            blob_field = _smooth_field(rng, h, w, max(6, w // 16))
            classes_in_view = np.unique(pred)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            for _ in range(n_blobs):  # a few blobs per frame, each vectorised over the image
                cy, cx = rng.uniform(0, h), rng.uniform(0, w)
                r = np.sqrt(rng.uniform(*cfg.blob_area) * n_pix / np.pi)
                ax, ay = r * rng.uniform(0.6, 1.6), r * rng.uniform(0.6, 1.6)
                mask = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 + 0.6 * blob_field < 1.0
                under = int(pred[int(min(cy, h - 1)), int(min(cx, w - 1))])
                others = classes_in_view[classes_in_view != under]
                if len(others) and rng.random() < 0.6:
                    cls = int(others[rng.integers(len(others))])
                else:
                    cls = min(int(np.searchsorted(self._sim_cdf[under], rng.random(), side="right")), C - 1)
                pred[mask] = cls

        # 5. probabilities. The top class is `pred` with probability c; c is calibrated, not a label in disguise.
        # Its logit is l = logit(1 - e) + s^2/2 where right, - s^2/2 where wrong, + s * noise, with e the
        # segmenter's own error estimate for the pixel (harder objects, label edges). Two normals of std s whose
        # means lie s^2 apart around logit(1 - e) give P(right | l) = sigmoid(l) = c where e is the true rate.
        wrong = pred != truth
        edge = np.zeros((h, w), np.uint8)
        edge[:, 1:] |= (pred[:, 1:] != pred[:, :-1]).astype(np.uint8)
        edge[1:, :] |= (pred[1:, :] != pred[:-1, :]).astype(np.uint8)
        edge = cv2.dilate(edge, np.ones((5, 5), np.uint8)).astype(bool)
        err = k * (cfg.error_prior_base + cfg.error_prior_edge * edge) + difficulty
        err = np.where(known, err, np.maximum(err, cfg.error_prior_ignore))
        err = np.clip(err, 0.005, 0.95)
        s = cfg.confidence_spread
        noise = 0.8 * _smooth_field(rng, h, w, max(8, w // 10)) + 0.6 * rng.standard_normal((h, w), dtype=np.float32)
        logit_c = np.log((1.0 - err) / err) + np.where(wrong, -0.5, 0.5) * s * s + s * noise
        top = 1.0 / (1.0 + np.exp(-np.clip(logit_c, -30.0, 30.0)))
        top = np.clip(top, 0.2 if C > 2 else 0.51, 0.999)  # a floor leaves room for the runner-up and the rest
        # runner-up: the true class where wrong (for `runner_up_true` of the objects), else the class most
        # similar to the prediction; it takes about `runner_up_share` of what the top class leaves
        true_second = wrong & (rng.random(n_ids)[ids] < cfg.runner_up_true)
        runner = np.where(true_second, truth, self._most_similar[pred])
        if C == 2:
            second = 1.0 - top
        else:
            share = np.clip(cfg.runner_up_share + 0.15 * _smooth_field(rng, h, w, max(8, w // 8)), 0.2, 0.95)
            second = np.minimum(share * (1.0 - top), 0.95 * top)
        # the rest spreads over the other classes by smooth noise, with a little extra on the true class
        rest_logits = np.clip(_smooth_field(rng, h, w, max(8, w // 8), channels=C, cubic=False)  # (H, W, C), C >= 2
                              * np.float32(cfg.logit_noise), -2.0 * cfg.logit_noise, 2.0 * cfg.logit_noise)
        np.put_along_axis(rest_logits, truth[..., None], np.take_along_axis(rest_logits, truth[..., None], axis=2)
                          + np.float32(1.0) * wrong[..., None], axis=2)
        np.put_along_axis(rest_logits, pred[..., None], np.float32(-np.inf), axis=2)
        np.put_along_axis(rest_logits, runner[..., None], np.float32(-np.inf), axis=2)
        rest = np.exp(rest_logits - rest_logits.max(axis=2, keepdims=True)) if C > 2 else np.zeros_like(rest_logits)
        rest *= ((1.0 - top - second) / np.maximum(rest.sum(axis=2), 1e-12))[..., None]
        probs = np.minimum(rest, 0.95 * second[..., None])  # keeps the runner-up second
        np.put_along_axis(probs, runner[..., None], second[..., None].astype(probs.dtype), axis=2)
        np.put_along_axis(probs, pred[..., None], top[..., None].astype(probs.dtype), axis=2)
        probs /= probs.sum(axis=2, keepdims=True)
        return probs.astype(np.float32, copy=False)
