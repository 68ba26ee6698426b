"""Training frames for the segmenter from the synthetic generator (training seeds only).

The only segmentation module besides `train` that reads gnesf_ros/data/. The scene style is passed through to
the generator (`SegmenterTrainConfig.scene_style`), so training on the realistic scenes only switches that key.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gnesf_ros.data.synthetic import SyntheticDataConfig, SyntheticScan
from gnesf_ros.errors import ConfigError
from gnesf_ros.segmentation.config import SegmenterTrainConfig

log = logging.getLogger(__name__)


def data_config(cfg: SegmenterTrainConfig) -> SyntheticDataConfig:
    """The seed splits and image settings training uses (cfg.data_file, default config/data.yaml)."""
    return SyntheticDataConfig.from_yaml(Path(cfg.data_file) if cfg.data_file else None)


def training_seeds(cfg: SegmenterTrainConfig, data: SyntheticDataConfig) -> range:
    """Seeds training may draw from: the data file's train split, or the config's sub-range of it.

    Raises ConfigError when the requested range leaves the train split (held-out scenes are never trained on).
    """
    train = data.seeds("train")
    if cfg.train_seed_range is None:
        return train
    lo, hi = cfg.train_seed_range
    if lo < train.start or hi > train.stop:
        held = [name for name in ("val", "test") if set(range(lo, hi)) & set(data.seeds(name))]
        raise ConfigError(f"train_seed_range {[lo, hi]} is not inside the train split [{train.start}, {train.stop})"
                          + (f"; it reaches the held-out {' and '.join(held)} seeds" if held else ""))
    return range(lo, hi)


def open_scan(seed: int, cfg: SegmenterTrainConfig, data: SyntheticDataConfig) -> SyntheticScan:
    """Scan `seed` at the data file's image size, in `cfg.scene_style` ("" = the generator's default)."""
    return open_styled_scan(seed, cfg.frames_per_scan, data.height, data.width, data.fov_deg, cfg.scene_style)


def open_styled_scan(seed: int, num_frames: int, height: int, width: int, fov_deg: float, style: str
                     ) -> SyntheticScan:
    """`SyntheticScan` with the generator's style selector set to `style` ("" = leave the generator's default).
    The one place the style is handed to the generator (training and tools/segmenter_report.py)."""
    kwargs = {"style": style} if style else {}
    try:
        return SyntheticScan(seed, num_frames=num_frames, height=height, width=width, fov_deg=fov_deg, **kwargs)
    except TypeError as exc:
        if kwargs and "style" in str(exc):
            raise ConfigError(f"scene style {style!r}: this synthetic generator has no style selector "
                              f"(SyntheticScan(style=...)); leave the style empty ({exc})") from exc
        raise


class ScenePool:
    """`scenes_cached` training scans; every `steps_per_scene` steps the oldest is replaced by a new seed.

    The scene of refill j is drawn from rng([seed, j]), so the pool at any step is a function of the step and a
    resumed run sees the same scenes.
    """

    def __init__(self, cfg: SegmenterTrainConfig, data: SyntheticDataConfig, step: int = 0) -> None:
        self.cfg, self.data = cfg, data
        self.seeds = training_seeds(cfg, data)
        self.slots: list[SyntheticScan | None] = [None] * cfg.scenes_cached
        self._refill: list[int] = [-1] * cfg.scenes_cached
        self.advance(step)

    def _seed_of(self, refill: int) -> int:
        rng = np.random.default_rng([self.cfg.seed, refill, 17])
        return int(self.seeds[int(rng.integers(len(self.seeds)))])

    def advance(self, step: int) -> None:
        """Bring the pool to `step`: slot i holds the latest refill j = i (mod slots) made by then."""
        P = self.cfg.scenes_cached
        last = P - 1 + step // self.cfg.steps_per_scene
        for i in range(P):
            j = last - ((last - i) % P)
            if self._refill[i] != j:
                self.slots[i] = open_scan(self._seed_of(j), self.cfg, self.data)
                self._refill[i] = j
                log.debug("scene slot %d <- seed %d", i, self.slots[i].seed)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random frame of a random cached scan -> RGB (H, W, 3) uint8 and labels (H, W) uint8."""
        scan = self.slots[int(rng.integers(len(self.slots)))]
        assert scan is not None  # filled by advance()
        view = scan.render(int(rng.integers(len(scan))))
        return view.rgb, view.labels.astype(np.uint8)


def validation_frames(cfg: SegmenterTrainConfig, data: SyntheticDataConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """`val_frames` frames spread over the first `val_scenes` scenes of the val split (never trained on)."""
    seeds = list(data.seeds("val"))[:cfg.val_scenes]
    per = max(1, -(-cfg.val_frames // len(seeds)))
    out = []
    for seed in seeds:
        scan = open_scan(seed, cfg, data)
        for i in np.linspace(0, len(scan) - 1, per).astype(int):
            view = scan.render(int(i))
            out.append((view.rgb, view.labels.astype(np.uint8)))
    return out[:cfg.val_frames]
