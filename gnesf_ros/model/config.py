"""Configuration of the GNeSF network (sizes, truncation, sampling, chunking).

Defaults are chosen so the network trains on a 2-core CPU in under an hour and a fragment of
9 views at 320x240 with a 96^3 grid encodes and queries in a few seconds on the CPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

from gnesf_ros.errors import ConfigError

VOTE_POOLINGS = ("linear", "log")
"""How soft voting (Eq. 4) may pool the views' distributions (model/voting.py)."""


@dataclass
class ModelConfig:
    """Sizes and constants of the GNeSF model (paper Sections 3-4). Units are SI."""

    num_classes: int = 20
    """c, number of semantic classes of the 2D probability maps S_i (ScanNet-20 by default)."""
    feature_channels: int = 16
    """d, channels of the 2D U-Net feature maps F_i (Sec. 3.1). 16 keeps Eq. 1 cheap on a CPU."""
    volume_channels: int = 8
    """D_m, channels of the geometry encoding volume M = H_g(B) (Eq. 1b). Small for CPU speed."""
    volume_width: int = 8
    """Channels of the first level of the 3D CNN H_g (the coarser levels use twice as many)."""
    image_scale: float = 0.5
    """Features F_i are computed on images resized by this factor (0 < s <= 1); 0.5 turns 320x240
    into 160x120, ~4x cheaper on a CPU. The semantic maps S_i stay at full resolution."""
    mlp_width: int = 32
    """Hidden width of the SDF MLP f_theta (Eq. 2) and the voting MLP f_v (Eq. 3)."""
    vote_feature_channels: int = 16
    """Channels of F'_i, the output of the tiny MLP over [F_i(x), mean, var] (Eq. 3)."""
    trunc_m: float = 0.12
    """tr of Eq. 8, metres: width of the SDF bell used for rendering weights; also the SDF of space
    outside the volume (free) and the scale of the learned SDF head's output."""
    render_samples: int = 64
    """M, samples per ray for rendering (Eq. 5), spread over the part of the ray inside the volume."""
    render_near_m: float = 0.1
    """Default near bound of rendered rays, in units of the ray parameter (z-depth for image rays)."""
    render_far_m: float = 8.0
    """Default far bound of rendered rays (rays are further clipped to the volume's box)."""
    visibility_samples: int = 16
    """K, SDF samples on the segment from a source camera o_i to x (visibility module), spread over the
    part of the segment inside the volume (outside the volume is free space)."""
    visibility_margin_m: float = 0.12
    """Metres at the end of each visibility segment that are ignored, so the point's own surface (its
    truncation band) is never taken for an occluder. Default = trunc_m."""
    depth_visibility_margin_m: float = 0.06
    """With source depth images (depth geometry), view i sees x unless its depth at x's pixel is more than
    this in front of x (metres): covers the voxel quantisation of surface points and depth noise."""
    depth_vote_band_m: float = 0.04
    """With source depth images, view i votes for x only if its depth at x's pixel is at most this far behind
    x (metres): the pixel saw the surface at x, not a farther one through x's free space. `.inf` = off (only
    occlusion is checked, as in the paper). 0.04 m (one voxel) lifted gnesf_depth on five held-out scenes
    from 85.8 to 87.6 3D mIoU and from 86.3 to 91.2 in 2D (docs/model_card.md). An inference option: the default
    of `InferenceOptions` (a call to `GNeSF.encode` may pass others)."""
    vote_pooling: str = "linear"
    """How Eq. 4 pools the views' distributions with the vote weights: "linear" (the paper's weighted mean) or
    "log" (weighted product, `voting.soft_vote`). An inference-time choice: the weights are the same; the default
    of `InferenceOptions`."""
    vote_confidence_power: float = 0.0
    """Adds this times log(max_c S_i(x)) to each view's vote score (Eq. 3), i.e. multiplies its weight by its
    2D confidence to this power. 0 = the learned score alone (the paper). An inference-time prior: a view that
    is unsure of its label is more often wrong, and a calibrated segmenter says so. The default of
    `InferenceOptions`."""
    vote_eps: float = 1e-3
    """"log" pooling: probabilities are floored at this before the log, so one view cannot veto a class."""
    min_known_mass: float = 0.5
    """A view votes for x only when at least this fraction of the bilinear interpolation weight of
    S_i(x) falls on known pixels (all-zero rows are unknown); the sample is then renormalised."""
    nerf_beta_m: float = 0.03
    """beta of the Laplace-CDF density (VolSDF) that turns the SDF into a NeRF density for Eq. 7,
    metres: density = Psi_beta(-sdf) / beta. Smaller = sharper surfaces."""
    chunk_points: int = 131072
    """Points (x views for per-view work) processed at once; bounds memory of Eq. 1, query and render."""

    def __post_init__(self) -> None:
        positive_ints = ("num_classes", "feature_channels", "volume_channels", "volume_width", "mlp_width",
                         "vote_feature_channels", "render_samples", "visibility_samples", "chunk_points")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        if not 0.0 < self.image_scale <= 1.0:
            raise ConfigError(f"ModelConfig.image_scale must be in (0, 1], got {self.image_scale}")
        for name in ("trunc_m", "nerf_beta_m"):
            if not getattr(self, name) > 0.0:
                raise ConfigError(f"ModelConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.depth_visibility_margin_m < 0.0:
            raise ConfigError(f"ModelConfig.depth_visibility_margin_m must be >= 0, got {self.depth_visibility_margin_m}")
        if not self.depth_vote_band_m >= 0.0:  # also refuses NaN
            raise ConfigError(f"ModelConfig.depth_vote_band_m must be >= 0 (.inf = off), got {self.depth_vote_band_m}")
        if self.visibility_margin_m < 0.0:
            raise ConfigError(f"ModelConfig.visibility_margin_m must be >= 0, got {self.visibility_margin_m}")
        if self.vote_pooling not in VOTE_POOLINGS:
            raise ConfigError(f"ModelConfig.vote_pooling must be one of {VOTE_POOLINGS}, got {self.vote_pooling!r}")
        if not (math.isfinite(self.vote_confidence_power) and self.vote_confidence_power >= 0.0):
            raise ConfigError(f"ModelConfig.vote_confidence_power must be finite and >= 0, got "
                              f"{self.vote_confidence_power}")
        if not 0.0 < self.vote_eps < 1.0:
            raise ConfigError(f"ModelConfig.vote_eps must be in (0, 1), got {self.vote_eps}")
        if not 0.0 < self.min_known_mass <= 1.0:
            raise ConfigError(f"ModelConfig.min_known_mass must be in (0, 1], got {self.min_known_mass}")
        if not 0.0 <= self.render_near_m < self.render_far_m:
            raise ConfigError(f"ModelConfig needs 0 <= render_near_m < render_far_m, got "
                              f"{self.render_near_m}, {self.render_far_m}")


@dataclass(frozen=True)
class InferenceOptions:
    """Rules of the soft vote (Eq. 3-4) chosen at inference, passed to `GNeSF.encode` (the weights are the same).

    Defaults: those a checkpoint was trained with (`InferenceOptions.of(model_config)`); the mapper sets its own
    (MapperConfig's `vote_pooling`, `vote_confidence_power`, `depth_vote_band_m`). The model's config is never
    changed, so one model serves several mappers.
    """

    vote_pooling: str = "linear"
    """"linear" (Eq. 4's weighted mean) or "log" (weighted product); see ModelConfig.vote_pooling."""
    vote_confidence_power: float = 0.0
    """Each vote weight times the view's 2D confidence to this power; see ModelConfig.vote_confidence_power."""
    depth_vote_band_m: float = 0.04
    """With source depth: a view votes only if its depth lies at most this far behind x (m; .inf = off)."""

    def __post_init__(self) -> None:
        if self.vote_pooling not in VOTE_POOLINGS:
            raise ConfigError(f"InferenceOptions.vote_pooling must be one of {VOTE_POOLINGS}, got "
                              f"{self.vote_pooling!r}")
        if not (math.isfinite(self.vote_confidence_power) and self.vote_confidence_power >= 0.0):
            raise ConfigError(f"InferenceOptions.vote_confidence_power must be finite and >= 0, got "
                              f"{self.vote_confidence_power}")
        if not self.depth_vote_band_m >= 0.0:  # also refuses NaN
            raise ConfigError(f"InferenceOptions.depth_vote_band_m must be >= 0 (.inf = off), got "
                              f"{self.depth_vote_band_m}")

    @classmethod
    def of(cls, cfg: ModelConfig) -> "InferenceOptions":
        """The options a model config holds (what its checkpoint was trained and validated with)."""
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})
