"""Synthetic scans: a generated scene, a handheld trajectory, rendered frames with segmenter-noise semantics.

`SyntheticScan(seed)` yields `(Frame, RenderedView)` pairs: the `Frame` is what the mapper gets
(RGB, K, pose, noisy 2D probabilities, depth), the `RenderedView` the ground truth of that view.
Seed splits live in config/data.yaml (`SyntheticDataConfig`).

Command line (measures the noise model and draws its figure, see docs/segmenter_noise.md):
    python -m gnesf_ros.data.synthetic noise-miou --strengths 0.5 1.0 1.5
    python -m gnesf_ros.data.synthetic noise-figure --out docs/img/segmenter_noise.png
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from gnesf_ros.classes import ClassList
from gnesf_ros.config import load_yaml
from gnesf_ros.data.realism import STYLES, RealisticConfig
from gnesf_ros.data.render import RenderedView, SceneRenderer
from gnesf_ros.data.scene import Scene, generate_scene
from gnesf_ros.data.segmenter_noise import NoiseConfig, SegmenterNoise
from gnesf_ros.data.trajectory import blend_pose, handheld_trajectory, robot_trajectory
from gnesf_ros.errors import InputError
from gnesf_ros.eval.metrics import (SegmentationScores, confusion_matrix, expected_calibration_error,
                                    reliability_bins, scores_from_confusion)
from gnesf_ros.frame import Frame
from gnesf_ros.paths import config_path

log = logging.getLogger(__name__)

FRAME_ID = "camera_color_optical_frame"
FRAME_PERIOD_NS = 33_333_333


@dataclass
class SyntheticDataConfig:
    """Seed splits and default scan settings of the synthetic data (config/data.yaml, section `synthetic`)."""

    train_seeds: tuple[int, int] = (0, 1000)
    """Half-open seed range [start, stop) of training scenes."""
    val_seeds: tuple[int, int] = (1000, 1010)
    """Half-open seed range of validation scenes."""
    test_seeds: tuple[int, int] = (2000, 2100)
    """Half-open seed range of held-out test scenes (never used for training)."""
    demo_seed: int = 2024
    """Scene of the one-command demo (inside the test range, so never trained on)."""
    num_frames: int = 300
    """Frames per scan (~10 s at 30 Hz)."""
    height: int = 240
    """Image height, pixels."""
    width: int = 320
    """Image width, pixels."""
    fov_deg: float = 62.0
    """Horizontal field of view, degrees."""
    style: str = "simple"
    """Scene style of every synthetic scan (training, gnesf-eval, gnesf-bag, demo): "simple" (flat textures,
    one light, exact depth; what the shipped model was trained on) or "realistic" (see `realistic`)."""
    realistic: RealisticConfig = field(default_factory=RealisticConfig)
    """Knobs of the realistic style (textures, lighting, camera, depth sensor, layout, trajectory)."""

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {self.style!r}")
        ranges = {"train_seeds": self.train_seeds, "val_seeds": self.val_seeds, "test_seeds": self.test_seeds}
        for name, (a, b) in ranges.items():
            if a >= b:
                raise ValueError(f"{name} must be [start, stop) with start < stop, got {[a, b]}")
        spans = sorted(ranges.values())
        for (_, b0), (a1, _) in zip(spans, spans[1:]):
            if a1 < b0:
                raise ValueError(f"seed ranges overlap: {ranges}")
        if self.train_seeds[0] <= self.demo_seed < self.train_seeds[1]:
            raise ValueError(f"demo_seed {self.demo_seed} is a training seed")
        if self.num_frames < 1 or self.height < 1 or self.width < 1 or not 10.0 < self.fov_deg < 170.0:
            raise ValueError("num_frames, height, width must be positive and fov_deg in (10, 170)")

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> "SyntheticDataConfig":
        return load_yaml(cls, Path(path) if path is not None else config_path("data.yaml"), section="synthetic")

    def seeds(self, split: str) -> range:
        """Seeds of split 'train', 'val' or 'test'."""
        if split not in ("train", "val", "test"):
            raise InputError(f"unknown split {split!r}; expected train, val or test")
        a, b = getattr(self, f"{split}_seeds")
        return range(a, b)


def intrinsics(height: int, width: int, fov_deg: float) -> np.ndarray:
    """Pinhole K (3, 3) with square pixels, horizontal field of view `fov_deg`, centred principal point."""
    f = (width / 2.0) / np.tan(np.deg2rad(fov_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


class SyntheticScan:
    """A scan of generated scene `seed`: indexable, iterable frames with ground truth.

    `style` None takes `synthetic.style` of config/data.yaml (and its `realistic` knobs unless `realistic`
    is given). In the realistic style the frame's RGB and depth are the sensors' (camera effects,
    structured-light holes and noise); the `RenderedView` keeps the exact truth (labels, instance,
    depth_m) and carries the sensor depth as `sensor_depth_m`.
    """

    def __init__(self, seed: int, num_frames: int = 300, height: int = 240, width: int = 320,
                 fov_deg: float = 62.0, noise: NoiseConfig | None = None, num_classes: int = 20,
                 style: str | None = None, realistic: RealisticConfig | None = None) -> None:
        if num_frames < 1 or height < 1 or width < 1:
            raise InputError(f"SyntheticScan: num_frames, height, width must be positive, got "
                             f"{num_frames}, {height}, {width}")
        if style is None:
            data = SyntheticDataConfig.from_yaml()
            style = data.style
            realistic = realistic if realistic is not None else data.realistic
        if style not in STYLES:
            raise InputError(f"SyntheticScan: style must be one of {STYLES}, got {style!r}")
        self.style = style
        self.realistic = (realistic if realistic is not None else RealisticConfig()) if style == "realistic" else None
        self.seed = int(seed)
        self.height, self.width = int(height), int(width)
        self.K = intrinsics(height, width, fov_deg)
        self.scene: Scene = generate_scene(self.seed, self.realistic)
        self.renderer = SceneRenderer(self.scene, self.realistic)
        self.trajectory_kind = "handheld"
        if self.realistic is not None and np.random.default_rng([self.seed, 77]).random() < \
                self.realistic.trajectory.robot_fraction:
            self.trajectory_kind = "robot"
            self.poses = robot_trajectory(self.scene, num_frames, self.seed)
        else:
            self.poses = handheld_trajectory(self.scene, num_frames, self.seed)  # (F, 4, 4) T_map_cam
        if self.realistic is not None:
            self.renderer.exposure = self._meter_exposure()
        self.noise = SegmenterNoise(noise if noise is not None else NoiseConfig.from_yaml(), num_classes, self.seed)

    def _meter_exposure(self) -> float:
        """Per-scan exposure: target mean brightness over three small views, times the scene's bias."""
        K = intrinsics(30, 40, 2 * np.degrees(np.arctan(self.width / 2 / self.K[0, 0])))
        n = len(self.poses)
        means = [float(self.renderer.render_linear(K, self.poses[i], 30, 40).reflected.mean())
                 for i in sorted({0, n // 2, n - 1})]
        metered = max(float(np.mean(means)), 1e-3)
        return self.realistic.lighting.exposure_target / metered * self.scene.lights.exposure_bias

    def __len__(self) -> int:
        return len(self.poses)

    def render(self, i: int) -> RenderedView:
        """Ground truth of frame i (with RGB sensor noise, deterministic per (seed, i))."""
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} out of range 0..{len(self) - 1}")
        if self.realistic is None:
            return self.renderer.render(self.K, self.poses[i], self.height, self.width,
                                        rng=np.random.default_rng([self.seed, i, 3]))
        return self._render_realistic(i)

    def _render_realistic(self, i: int) -> RenderedView:
        """Truth at pose i; RGB through the camera model (motion blur over sub-poses towards pose i-1); sensor depth."""
        from gnesf_ros.data.sensor import camera_image, sensor_depth

        cam = self.realistic.camera
        lv = self.renderer.render_linear(self.K, self.poses[i], self.height, self.width)
        linear = lv.linear
        if cam.blur_subframes > 1 and i > 0:
            acc = linear.copy()
            for k in range(1, cam.blur_subframes):
                s = cam.blur_fraction * k / (cam.blur_subframes - 1)
                T = blend_pose(self.poses[i], self.poses[i - 1], s)
                acc += self.renderer.render_linear(self.K, T, self.height, self.width).linear
            linear = acc / np.float32(cam.blur_subframes)
        rng = np.random.default_rng([self.seed, i, 5])
        rgb = camera_image(linear, cam, rng, self.K)
        v = lv.view
        depth = sensor_depth(v.depth_m, v.normal_cos, lv.albedo_lum, lv.shininess, self.realistic.depth, rng)
        return dataclasses.replace(v, rgb=rgb, sensor_depth_m=depth)

    def frame(self, i: int) -> tuple[Frame, RenderedView]:
        """Frame i as the mapper sees it (noisy 2D probabilities) and its ground truth."""
        view = self.render(i)
        probs = self.noise.apply(view.labels, view.instance, view.depth_m, view.normal_cos, i)
        depth = view.depth_m if view.sensor_depth_m is None else view.sensor_depth_m
        frame = Frame(rgb=view.rgb, K=self.K.copy(), T_map_cam=self.poses[i].copy(), probs=probs,
                      stamp_ns=i * FRAME_PERIOD_NS, depth_m=depth, frame_id=FRAME_ID)
        return frame, view

    def __iter__(self) -> Iterator[tuple[Frame, RenderedView]]:
        for i in range(len(self)):
            yield self.frame(i)


# ----------------------------------------------------------------------------------------------
# measuring the noise model

@dataclass
class NoiseReport:
    """2D scores of the noise model's argmax against the truth at one strength."""

    strength: float
    scores: SegmentationScores
    pixel_acc: float  # percent of labelled pixels right
    conf_right: float  # mean argmax probability where right
    conf_wrong: float  # mean argmax probability where wrong
    ece: float  # expected calibration error of the argmax probability (0 = calibrated), 10 bins
    reliability: np.ndarray  # (10, 3) metrics.reliability_bins of the argmax probability
    ms_per_frame: float  # time of SegmenterNoise.apply


def measure_noise(strengths: Sequence[float], seeds: Sequence[int], num_frames: int = 100, height: int = 240,
                  width: int = 320, base: NoiseConfig | None = None, num_classes: int = 20
                  ) -> tuple[list[NoiseReport], float]:
    """Pooled 2D mIoU of the noise model over scans of `seeds` at each strength; also render ms/frame."""
    base = base if base is not None else NoiseConfig.from_yaml()
    C = num_classes
    conf = {s: np.zeros((C, C + 1), np.int64) for s in strengths}
    stats = {s: np.zeros(5) for s in strengths}  # right count, right conf sum, wrong count, wrong conf sum, seconds
    calib = {s: np.zeros((10, 3)) for s in strengths}  # reliability bins of the argmax probability
    render_s = 0.0
    n_frames = 0
    for seed in seeds:
        scan = SyntheticScan(seed, num_frames=num_frames, height=height, width=width, noise=base, num_classes=C)
        models = {s: SegmenterNoise(_with_strength(base, s), C, seed) for s in strengths}
        for i in range(len(scan)):
            t0 = time.perf_counter()
            view = scan.render(i)
            render_s += time.perf_counter() - t0
            n_frames += 1
            labelled = view.labels != 255
            for s, model in models.items():
                t0 = time.perf_counter()
                probs = model.apply(view.labels, view.instance, view.depth_m, view.normal_cos, i)
                stats[s][4] += time.perf_counter() - t0
                pred = probs.argmax(axis=2)
                conf[s] += confusion_matrix(pred, view.labels, C)
                top = probs.max(axis=2)
                right = (pred == view.labels) & labelled
                wrong = (pred != view.labels) & labelled
                stats[s][:4] += (right.sum(), top[right].sum(), wrong.sum(), top[wrong].sum())
                calib[s] += reliability_bins(top[labelled], right[labelled])
        log.info("seed %d done", seed)
    reports = []
    for s in strengths:
        r_n, r_c, w_n, w_c, sec = stats[s]
        reports.append(NoiseReport(strength=float(s), scores=scores_from_confusion(conf[s]),
                                   pixel_acc=100.0 * r_n / max(r_n + w_n, 1), conf_right=r_c / max(r_n, 1),
                                   conf_wrong=w_c / max(w_n, 1), ece=expected_calibration_error(calib[s]),
                                   reliability=calib[s],
                                   ms_per_frame=1000.0 * sec / max(n_frames, 1)))
    return reports, 1000.0 * render_s / max(n_frames, 1)


def _with_strength(cfg: NoiseConfig, strength: float) -> NoiseConfig:
    return dataclasses.replace(cfg, strength=float(strength))


def noise_figure(out: Path, seed: int = 2000, frames: Sequence[int] = (10, 60, 110, 160), strength: float | None = None
                 ) -> Path:
    """Save a picture: rows rgb, true labels, noisy argmax, confidence; one column per frame."""
    import cv2

    classes = ClassList.from_yaml()
    base = NoiseConfig.from_yaml()
    scan = SyntheticScan(seed, num_frames=max(frames) + 1,
                         noise=_with_strength(base, strength) if strength is not None else base)
    cols = []
    for i in frames:
        frame, view = scan.frame(i)
        pred = frame.probs.argmax(axis=2)
        confidence = frame.probs.max(axis=2)
        conf_rgb = cv2.applyColorMap((confidence * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)[..., ::-1]
        cols.append(np.concatenate([view.rgb, classes.colorize(view.labels), classes.colorize(pred), conf_rgb], 0))
    image = np.concatenate([np.pad(c, ((0, 0), (0, 4), (0, 0)), constant_values=255) for c in cols], 1)[:, :-4]
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), image[..., ::-1])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gnesf_ros.data.synthetic", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("noise-miou", help="2D mIoU of the segmenter-noise model on held-out scenes")
    m.add_argument("--strengths", type=float, nargs="+", default=[1.0])
    m.add_argument("--seeds", type=int, nargs=2, default=[2000, 2005], metavar=("START", "STOP"))
    m.add_argument("--frames", type=int, default=100)
    m.add_argument("--height", type=int, default=240)
    m.add_argument("--width", type=int, default=320)
    m.add_argument("--reliability-png", type=Path, default=None,
                   help="also draw the reliability diagram of each strength into this PNG")
    f = sub.add_parser("noise-figure", help="picture of rgb / truth / noisy argmax / confidence")
    f.add_argument("--out", type=Path, default=Path("docs/img/segmenter_noise.png"))
    f.add_argument("--seed", type=int, default=2000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.cmd == "noise-miou":
        reports, render_ms = measure_noise(args.strengths, range(*args.seeds), args.frames, args.height, args.width)
        print("| strength | mIoU | mAcc | pixel acc | conf right | conf wrong | ECE | noise ms/frame |")
        print("|---|---|---|---|---|---|---|---|")
        for r in reports:
            print(f"| {r.strength:.2f} | {r.scores.miou:.1f} | {r.scores.macc:.1f} | {r.pixel_acc:.1f} | "
                  f"{r.conf_right:.2f} | {r.conf_wrong:.2f} | {r.ece:.3f} | {r.ms_per_frame:.1f} |")
        print(f"render ms/frame: {render_ms:.1f}")
        if args.reliability_png is not None:
            from gnesf_ros.eval.plots import save_reliability

            args.reliability_png.parent.mkdir(parents=True, exist_ok=True)
            save_reliability(args.reliability_png, {f"strength {r.strength:g} (ECE {r.ece:.3f})": r.reliability
                                                    for r in reports}, "segmenter-noise model, argmax probability")
            print(f"reliability diagram: {args.reliability_png}")
        names = ClassList.from_yaml().names
        for r in reports:
            per = " ".join(f"{n}={v:.0f}" for n, v in zip(names, r.scores.iou) if np.isfinite(v))
            print(f"strength {r.strength:.2f} IoU per class: {per}")
        return 0
    print(noise_figure(args.out, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
