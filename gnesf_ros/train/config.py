"""Training configuration (config/train.yaml maps onto these dataclasses)."""
from __future__ import annotations

from dataclasses import dataclass, field

from gnesf_ros.model.config import ModelConfig

SEMANTIC_GEOMETRIES = ("true", "learned", "depth")
INPUT_SEMANTICS = ("noise", "segmenter")
TRAINABLE = ("all", "vote_head")


@dataclass
class SampleConfig:
    """How one training example (a source window plus target rays) is cut from a synthetic scan."""

    height: int = 120
    """Rendered image height in pixels (training uses a reduced resolution for CPU speed)."""
    width: int = 160
    """Rendered image width in pixels."""
    frames_per_scan: int = 240
    """Frames in each synthetic scan trajectory (~8 s at 30 Hz)."""
    num_views: int = 7
    """Source views per window (the mapper uses up to window_size = 9)."""
    view_stride: int = 6
    """Frames between consecutive source views, like keyframes ~0.1 m apart."""
    voxel_size_m: float = 0.04
    """Volume voxel size; the same as the mapper's so M(x) is learned at the scale it is used."""
    max_dims: int = 48
    """Volume cap per axis, voxels (the volume is fitted around the target view's surface)."""
    rays_per_target: int = 768
    """Rays sampled per target view for the semantic loss (Eq. 6)."""
    num_targets: int = 2
    """Held-out target views per example."""
    sdf_points: int = 6144
    """Points with true SDF for the geometry loss (half near the surface, half uniform)."""
    include_cameras: bool = False
    """Fit the volume around the target cameras too (up to `max_dims`), so the rays start in free space as in
    a mapper's render volume. Off: the volume ends 0.12 m in front of the nearest surface the targets see."""

    def __post_init__(self) -> None:
        if self.num_views < 2:
            raise ValueError("num_views must be >= 2 (variance over views needs two)")
        if self.voxel_size_m <= 0 or self.max_dims < 8:
            raise ValueError("voxel_size_m must be > 0 and max_dims >= 8")


@dataclass
class TrainConfig:
    """Everything `gnesf-train` needs; defaults reproduce the shipped checkpoint."""

    model: ModelConfig = field(default_factory=ModelConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    steps: int = 3500
    """Optimiser steps."""
    lr: float = 1e-3
    """Adam learning rate (cosine-decayed to 5% over `steps`)."""
    sdf_loss_weight: float = 1.0
    """Weight of the L1 loss on the truncated SDF (geometry supervised as in NeuralRecon)."""
    semantic_loss_weight: float = 1.0
    """Weight of the rendered-semantics cross-entropy, Eq. 6."""
    ray_sdf_loss_weight: float = 0.0
    """Weight of a truncated-SDF loss at points along the target rays, against the projective distance to
    the true depth (clamped to +-trunc; negative up to `ray_sdf_behind_m` behind it). Unlike the scene SDF,
    this target is monotone along each ray, so a field that is unsure where the surface lies still
    crosses zero near its median depth instead of staying "free" (0 = off)."""
    ray_sdf_behind_m: float = 0.5
    """How far behind the true depth the ray loss keeps asking for a negative SDF (m)."""
    ray_sdf_samples: int = 16
    """Points per target ray for the ray loss (half uniform over the ray's part in the volume, half near
    the depth)."""
    semantic_geometry: str = "true"
    """SDF the semantic rendering runs on during training: "true" (the scene's SDF at the grid
    vertices, so the vote of Eq. 3-4 learns on correct geometry from the first step), "learned" (the SDF
    head's own output, end to end as in the paper) or "depth" (as the mapper votes with depth geometry:
    each target pixel's semantics are voted at the surface point its true depth gives, with visibility
    read from the source views' depth images; Eq. 5 with all of a ray's weight at its depth)."""
    trainable: str = "all"
    """Which weights the optimiser updates: "all", or "vote_head" (Eq. 3's f_v and g only; the features,
    volume and SDF head stay as loaded, so the learned geometry is unchanged)."""
    train_seed_range: tuple[int, int] = (0, 1000)
    """Scene seeds training may draw from, [start, stop)."""
    val_seeds: tuple[int, ...] = (1000, 1001, 1002)
    """Held-out scenes for periodic validation (never trained on)."""
    scene_style: str = ""
    """Style of the training and validation scans ("simple" or "realistic", docs/synthetic_scenes.md);
    "" = `synthetic.style` of config/data.yaml."""
    semantics: str = "noise"
    """The source views' 2D input to the vote: "noise" (the segmenter-noise model on the true labels,
    config/segmenter_noise.yaml) or "segmenter" (the 2D segmenter run on each frame's RGB; it was trained on the
    same training seeds, never on validation or evaluation scenes)."""
    segmenter_checkpoint: str = ""
    """Segmenter of `semantics: segmenter` ("" = the shipped gnesf_ros/checkpoints/segmenter.pt)."""
    scenes_cached: int = 6
    """Synthetic scans kept in memory at once; each is used for `steps_per_scene` steps."""
    steps_per_scene: int = 10
    """Steps drawn from one scan before a new scene replaces the oldest cached one."""
    val_every: int = 250
    """Steps between validations (and checkpoints)."""
    val_max_dims: int = 64
    """Validation volumes hold the target cameras as well as what they see (`include_cameras`), up to this many
    voxels per axis, so validation rays start in free space as in a mapper's render volume."""
    seed: int = 0
    """Seed of torch and of the example sampler."""
    num_threads: int = 1
    """torch intra-op threads. One is fastest on a shared 2-core machine: with the other core busy,
    two threads made element-wise ops ~8x slower (thread hand-offs), measured here."""

    def __post_init__(self) -> None:
        lo, hi = self.train_seed_range
        if not 0 <= lo < hi:
            raise ValueError(f"train_seed_range must be [start, stop) with start < stop, got {self.train_seed_range}")
        if any(lo <= s < hi for s in self.val_seeds):
            raise ValueError("val_seeds must not overlap train_seed_range")
        if self.semantic_geometry not in SEMANTIC_GEOMETRIES:
            raise ValueError(f"semantic_geometry must be one of {SEMANTIC_GEOMETRIES}, got {self.semantic_geometry!r}")
        if self.scene_style not in ("", "simple", "realistic"):
            raise ValueError(f"scene_style must be '', 'simple' or 'realistic', got {self.scene_style!r}")
        if self.semantics not in INPUT_SEMANTICS:
            raise ValueError(f"semantics must be one of {INPUT_SEMANTICS}, got {self.semantics!r}")
        if self.trainable not in TRAINABLE:
            raise ValueError(f"trainable must be one of {TRAINABLE}, got {self.trainable!r}")
        if self.ray_sdf_loss_weight < 0 or self.ray_sdf_behind_m < 0 or self.ray_sdf_samples < 2:
            raise ValueError("ray_sdf_loss_weight and ray_sdf_behind_m must be >= 0 and ray_sdf_samples >= 2")
        if self.val_max_dims < 8:
            raise ValueError(f"val_max_dims must be >= 8, got {self.val_max_dims}")
        if self.steps < 1 or self.val_every < 1:
            raise ValueError("steps and val_every must be >= 1")
