"""Configuration of the segmentation network and of its training (config/segmenter_train.yaml maps onto these)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SegNetConfig:
    """Architecture of `SegNet` (stored in every checkpoint, so a checkpoint rebuilds its own network)."""

    num_classes: int = 20
    """Output classes C (ScanNet-20: 20). Must match the class list the checkpoint is saved with."""
    width_mult: float = 1.0
    """Multiplier of every backbone stage's channel count (1.0: ~1.6 M parameters; 5 M is the project's cap)."""
    head_channels: int = 128
    """Channels of the LR-ASPP head's main branch."""
    skip_channels: int = 32
    """Channels of the 1/4-resolution skip refinement (sharper borders than the 1/8 LR-ASPP output alone)."""

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if not 0.25 <= self.width_mult <= 2.0:
            raise ValueError(f"width_mult must be in [0.25, 2], got {self.width_mult}")
        if self.head_channels < 8 or self.skip_channels < 4:
            raise ValueError("head_channels must be >= 8 and skip_channels >= 4")


@dataclass
class AugmentConfig:
    """Training augmentations, applied per sample on the CPU (gnesf_ros/segmentation/augment.py)."""

    crop_hw: tuple[int, int] = (192, 256)
    """Training crop (height, width) in pixels, cut after rescaling; pixels outside the image are ignored."""
    scale_range: tuple[float, float] = (0.7, 1.5)
    """Random rescale factor of the rendered frame, uniform in [lo, hi] (objects at other distances)."""
    flip_prob: float = 0.5
    """Chance of a horizontal flip."""
    brightness: float = 0.3
    """Colour jitter: brightness factor drawn from [1 - b, 1 + b]."""
    contrast: float = 0.3
    """Colour jitter: contrast factor drawn from [1 - c, 1 + c] (around the image mean)."""
    saturation: float = 0.3
    """Colour jitter: saturation factor drawn from [1 - s, 1 + s] (around the grey value)."""
    hue_deg: float = 10.0
    """Colour jitter: hue rotation drawn from [-h, h] degrees."""
    blur_prob: float = 0.3
    """Chance of a Gaussian blur (defocus / motion)."""
    blur_sigma_px: tuple[float, float] = (0.3, 1.5)
    """Range of the blur's standard deviation, pixels."""
    noise_std: float = 3.0
    """Std of added Gaussian pixel noise, in RGB levels 0..255 (0 = off)."""

    def __post_init__(self) -> None:
        if min(self.crop_hw) < 32:
            raise ValueError(f"crop_hw must be at least 32x32, got {self.crop_hw}")
        if not 0.1 <= self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"scale_range must be 0.1 <= lo <= hi, got {self.scale_range}")
        for name in ("flip_prob", "blur_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("brightness", "contrast", "saturation"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.hue_deg < 0 or self.noise_std < 0 or not 0 < self.blur_sigma_px[0] <= self.blur_sigma_px[1]:
            raise ValueError("hue_deg and noise_std must be >= 0 and blur_sigma_px 0 < lo <= hi")


@dataclass
class SegmenterTrainConfig:
    """Everything `gnesf-train-segmenter` needs (config/segmenter_train.yaml)."""

    net: SegNetConfig = field(default_factory=SegNetConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    scene_style: str = ""
    """Style of the generated scenes, passed through to the synthetic generator's style selector
    (config/data.yaml); "" = the generator's default. The real training run switches only this."""
    data_file: str = ""
    """Data splits YAML (section `synthetic`); "" = config/data.yaml. Training draws only from its train seeds."""
    train_seed_range: tuple[int, int] | None = None
    """Optional sub-range [start, stop) of the training seeds to draw from; None = the whole train split.
    A range reaching into the val or test seeds is refused."""
    frames_per_scan: int = 200
    """Frames of each generated scan trajectory; training samples frames uniformly from it."""
    scenes_cached: int = 8
    """Generated scans kept at once; each step draws its batch from them."""
    steps_per_scene: int = 25
    """Steps between replacing the oldest cached scan with a new training scene."""
    batch_size: int = 8
    """Frames per optimiser step."""
    steps: int = 2000
    """Optimiser steps of the full run (the run also stops, resumably, at --max-minutes)."""
    lr: float = 2e-3
    """AdamW learning rate (linear warm-up over `warmup_steps`, then cosine decay to 5%)."""
    warmup_steps: int = 100
    """Steps of linear learning-rate warm-up."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    val_frames: int = 16
    """Frames (spread over the val scenes) scored at each validation."""
    val_scenes: int = 4
    """Scenes of the data file's val split used for validation (never trained on)."""
    val_every: int = 250
    """Steps between validations and checkpoints."""
    seed: int = 0
    """Seed of torch, of the scene draw and of the augmentations (a resumed run continues the same sequence)."""
    num_threads: int = 1
    """torch intra-op threads (1 on the shared 2-core machine; a GPU run ignores it for the model)."""

    def __post_init__(self) -> None:
        if self.train_seed_range is not None and not 0 <= self.train_seed_range[0] < self.train_seed_range[1]:
            raise ValueError(f"train_seed_range must be [start, stop) with start < stop, got {self.train_seed_range}")
        for name in ("frames_per_scan", "scenes_cached", "steps_per_scene", "batch_size", "steps", "val_every",
                     "val_frames", "val_scenes", "num_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup_steps < 0:
            raise ValueError("lr must be > 0, weight_decay and warmup_steps >= 0")
