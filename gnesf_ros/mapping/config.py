"""Configuration of the online mapper (a section of config/mapping.yaml; defaults live here)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from gnesf_ros.config import parse_mode
from gnesf_ros.errors import ConfigError
from gnesf_ros.model.config import VOTE_POOLINGS
from gnesf_ros.model.renderer import RenderMode


class GeometrySource(StrEnum):
    """`geometry_source`: the model's learned SDF, or the frames' depth TSDF."""

    LEARNED = "learned"
    DEPTH = "depth"


class SemanticFusion(StrEnum):
    """`semantic_fusion`: how successive fragments' votes combine per voxel."""

    BAYES = "bayes"
    MEAN = "mean"


class LargeWindows(StrEnum):
    """`large_windows`: a window larger than `max_volume_dims` is tiled or cropped."""

    TILE = "tile"
    CROP = "crop"


class WindowOverflow(StrEnum):
    """`window_overflow`: a window at `max_window_frames` extra frames is fused, or its extra frames thinned."""

    FUSE = "fuse"
    THIN = "thin"


class TsdfDistance(StrEnum):
    """`tsdf_distance`: the depth TSDF's distance along the ray, or to the depth image's tangent plane."""

    PROJECTIVE = "projective"
    PLANE = "plane"


class NewVoxelRule(StrEnum):
    """`new_voxel_rule`: where a learned-geometry fragment may create voxels."""

    BAND = "band"
    CROSSING = "crossing"


@dataclass
class MapperConfig:
    """Every knob of `Mapper`. Checked in `__post_init__`, which also parses the mode strings once into their enums
    (`GeometrySource`, `SemanticFusion`, `LargeWindows`, `WindowOverflow`, `TsdfDistance`, `NewVoxelRule`,
    `RenderMode`: StrEnums, equal to their strings); build from YAML with `gnesf_ros.config.from_dict`."""

    keyframe_min_translation_m: float = 0.1
    """A frame becomes a keyframe once it moved at least this far (m) from the last keyframe (docs/architecture.md)."""

    keyframe_min_rotation_deg: float = 15.0
    """... or once it rotated at least this much (degrees) from the last keyframe."""

    window_size: int = 9
    """Keyframes per fragment: every `window_size` keyframes one local volume is encoded and fused (paper: 9)."""

    fuse_all_frames: bool = True
    """Frames between keyframes join their window as extra views: their depth enters the fragment's TSDF and
    their semantics the soft vote (Eq. 3-4), but not the volume M (Eq. 1) nor the render cache. Costs the 2D
    features of every frame; without it 85-90% of the input (at 0.1 m / 15 deg keyframes) is thrown away."""

    max_window_frames: int = 16
    """Cap on the extra frames one window holds (a camera that stands still makes no keyframes); what happens at
    the cap is `window_overflow`. Each costs ~8 MB at 320x240 and a share of every query: 64 took the benchmark
    past 3 GB and 0.4 keyframes/s."""

    window_overflow: str = "fuse"
    """What a window does when its extra frames reach `max_window_frames`: "fuse" closes it there (it is fused as
    a fragment and the next window starts), so every frame votes; "thin" drops every other extra frame and from
    then on takes only every 2nd (4th, ...) one, which fuses fewer fragments but leaves a quarter of a handheld
    scan's frames out of the map, and with them surfaces only those frames saw. "fuse" costs time: 15-20% more
    with depth geometry, 1.75x with learned geometry (the benchmark: 2.84 instead of 4.98 frames/s, for 59.5
    instead of 56.6 3D mIoU and half the frame-to-map latency; on the demo scan the learned map lost 7.8 3D
    points instead)."""

    voxel_size_m: float = 0.04
    """Edge of one voxel of the global grid (m); fragments are snapped to this grid."""

    max_volume_dims: int = 96
    """Cap on a fragment's voxels per axis; larger windows are tiled or cropped (`large_windows`)."""

    large_windows: str = "tile"
    """A window whose frusta exceed `max_volume_dims` on some axis: "tile" encodes it as several volumes of at
    most max_volume_dims^3 that together cover it (same memory per encode, more time); "crop" keeps one
    volume centred on the frusta and drops the rest (counted in stats as cropped_fragments)."""

    max_depth_m: float = 3.0
    """Frusta are clipped at this z-depth (m): voxels farther from every camera are not mapped."""

    geometry_source: str = "learned"
    """"learned": the model's SDF from RGB (paper); "depth": a TSDF of the frames' depth images replaces it."""

    semantic_fusion: str = "bayes"
    """How the soft-voted semantics of successive fragments are combined per voxel. "bayes": each fragment's
    vote (Eq. 4) is one observation, fused as log-likelihoods (a product of the windows' distributions);
    "mean": their weighted average. Within a fragment the learned soft vote decides either way."""

    semantic_eps: float = 1e-3
    """"bayes" fusion: a fragment's class probabilities are floored at this before the log, so one
    confident window cannot veto a class for good."""

    vote_pooling: str = "linear"
    """How the soft vote pools the views (the mapper's InferenceOptions.vote_pooling): "linear" = Eq. 4's
    weighted mean; "log" = the same weights on log-probabilities (model/voting.py), which keeps what a wrong
    but unsure view still says about the true class. "" keeps the checkpoint's setting."""

    vote_confidence_power: float = 0.0
    """Each view's vote weight is multiplied by its 2D confidence (max class probability) to this power (the
    mapper's InferenceOptions.vote_confidence_power). 0 = the learned weights alone (Eq. 3)."""

    depth_vote_band_m: float = 0.04
    """geometry_source "depth": a view votes for a voxel only if its depth at the voxel's pixel lies at most this
    far behind it (m; the mapper's InferenceOptions.depth_vote_band_m). At an object's silhouette a voxel of the
    object projects onto the background, whose label it must not take. .inf = off (occlusion check only)."""

    depth_hit_points: bool = True
    """geometry_source "depth": each voxel the window's depth pixels hit is voted at the mean of those hits instead
    of its centre, and the published cloud is these hit means (voxels without hits are left out). A centre lies up
    to 3.5 cm off the surface, where at an object's edge the views see the object behind; the hits lie on the
    surface the views measured. False = centres, and the cloud from the TSDF surface (`cloud_on_surface`)."""

    cloud_on_surface: bool = True
    """`semantic_points` (the published cloud) gives each surface voxel's point on the fused SDF's zero level (one
    Newton step, geometry/surface.py) instead of its centre, which lies up to 3.5 cm off the surface: on the
    held-out scenes the median distance to the true surface falls from 15 to 10 mm."""

    render_mode: str = "sdf"
    """Volume rendering weights for `Mapper.render`: "sdf" (paper Eq. 8-9) or "nerf" (Eq. 5, 7)."""

    render_fill_from_map: bool = True
    """`Mapper.render`: pixels the volume rendering leaves unknown (outside what the nearest keyframes' volume
    covers or sees) take the label of the nearest fused map surface voxel there (z-buffered splat)."""

    render_num_views: int = 6
    """Cached keyframes nearest (pose distance) to a requested view used as its source views."""

    max_keyframes: int = 200
    """Cap on cached keyframes; the oldest is dropped first (counted in stats as dropped_keyframes)."""

    max_voxels: int = 2_000_000
    """Cap on global map voxels; those farthest from the current camera are dropped first (0 = no cap)."""

    new_voxel_rule: str = "band"
    """geometry_source "learned": where a fragment adds voxels new to the map. "band": wherever its SDF is within
    the truncation band (|sdf| < tsdf_trunc_m), which an unsure SDF meets over whole regions of free space (on a
    real scan the RGB-only map filled the 2 M voxel cap); "crossing": only within `crossing_dilation_voxels` of a
    sign change between neighbouring vertices that is at least `crossing_min_slope` voxel sizes steep
    (mapping/surface_gate.py). Measured 2026-12-04 with the shipped checkpoint: "crossing" made 27% fewer voxels
    on a 300-frame scan (760k instead of 1.04M) but cost a little geometry (F-score 0.090 instead of 0.097, 3D mIoU
    59.9 instead of 60.0 on two held-out scenes), so "band" stays the default. Existing voxels are updated either
    way; depth geometry (a measured TSDF) always uses the band."""

    crossing_min_slope: float = 0.25
    """new_voxel_rule "crossing": the SDF must change by at least this many voxel sizes across a sign change for
    it to count as a surface (a true SDF changes by voxel x |cos| >= 0.58 voxel along the axis nearest the
    normal; a field flickering around zero changes little)."""

    crossing_dilation_voxels: int = 2
    """new_voxel_rule "crossing": voxels within this many steps (26-neighbourhood) of a crossing may be created, so
    both sides of the surface exist for the zero-crossing test and its Newton step (0 = the crossing pairs only)."""

    max_new_voxels_per_fragment: int = 250_000
    """Bound on voxels one fragment adds to the map (0 = none); past it the candidates nearest the surface
    (smallest |sdf|) are kept and the rest counted in stats as voxels_not_created (fragments hit:
    capped_fragments). A 96^3 volume has 885k voxels; a surface sheet across it with its +-12 cm band ~55k."""

    map_clearing_radius_m: float = 0.0
    """Voxels farther than this from the current camera are cleared after each fusion (m; 0 = off)."""

    device: str = "cpu"
    """Torch device the model runs on ("cpu", "cuda", "cuda:1"); chosen here, never inside the code."""

    checkpoint: str = ""
    """Model checkpoint path when no model is passed to `Mapper`; "" = the checkpoint shipped in the package."""

    tsdf_trunc_m: float = 0.12
    """Truncation distance (m): depth-TSDF truncation, and the band around the surface in which new voxels are
    created and semantics are accumulated (free-space observations only update existing voxels' SDF). Checked
    against the model's trunc_m when the mapper is built (`check_truncation`): at most it with learned geometry,
    at least it with depth geometry; equal (0.12, the shipped checkpoint's) suits both."""

    tsdf_distance: str = "projective"
    """Depth TSDF: "projective" (the depth difference along each ray) or "plane" (times the |cos| of the angle
    between the ray and the depth image's surface normal: the distance to the tangent plane, which keeps the
    zero level of surfaces seen only at grazing angles)."""

    image_width_px: int = 320
    """Keyframe images (and probabilities, depth) are downscaled to this width before caching (0 = keep)."""

    query_chunk_size: int = 65536
    """Voxel centres per `window.query` call (bounds peak memory)."""

    def __post_init__(self) -> None:
        if self.keyframe_min_translation_m < 0.0 or self.keyframe_min_rotation_deg < 0.0:
            raise ValueError("keyframe_min_translation_m and keyframe_min_rotation_deg must be >= 0, got "
                             f"{self.keyframe_min_translation_m}, {self.keyframe_min_rotation_deg}")
        if self.window_size < 1:
            raise ValueError(f"window_size must be >= 1, got {self.window_size}")
        if self.max_window_frames < 1:
            raise ValueError(f"max_window_frames must be >= 1, got {self.max_window_frames}")
        if self.vote_pooling not in ("",) + VOTE_POOLINGS:
            raise ValueError(f"vote_pooling must be '' or one of {VOTE_POOLINGS}, got {self.vote_pooling!r}")
        if not (math.isfinite(self.vote_confidence_power) and self.vote_confidence_power >= 0.0):
            raise ValueError(f"vote_confidence_power must be finite and >= 0, got {self.vote_confidence_power}")
        if not self.depth_vote_band_m >= 0.0:  # also refuses NaN
            raise ValueError(f"depth_vote_band_m must be >= 0 (.inf = off), got {self.depth_vote_band_m}")
        if not self.voxel_size_m > 0.0:
            raise ValueError(f"voxel_size_m must be > 0, got {self.voxel_size_m}")
        if self.max_volume_dims < 2:
            raise ValueError(f"max_volume_dims must be >= 2, got {self.max_volume_dims}")
        if not self.max_depth_m > self.voxel_size_m:
            raise ValueError(f"max_depth_m ({self.max_depth_m}) must exceed voxel_size_m ({self.voxel_size_m})")
        self.geometry_source = parse_mode(GeometrySource, self.geometry_source, "geometry_source")
        self.window_overflow = parse_mode(WindowOverflow, self.window_overflow, "window_overflow")
        self.large_windows = parse_mode(LargeWindows, self.large_windows, "large_windows")
        self.semantic_fusion = parse_mode(SemanticFusion, self.semantic_fusion, "semantic_fusion")
        if not 0.0 < self.semantic_eps < 1.0:
            raise ValueError(f"semantic_eps must be in (0, 1), got {self.semantic_eps}")
        self.render_mode = parse_mode(RenderMode, self.render_mode, "render_mode")
        if self.render_num_views < 1:
            raise ValueError(f"render_num_views must be >= 1, got {self.render_num_views}")
        if self.max_keyframes < max(self.window_size, self.render_num_views):
            raise ValueError(f"max_keyframes ({self.max_keyframes}) must hold at least one window "
                             f"(window_size {self.window_size}) and render_num_views ({self.render_num_views})")
        if self.max_voxels < 0:
            raise ValueError(f"max_voxels must be >= 0 (0 = no cap), got {self.max_voxels}")
        if self.map_clearing_radius_m < 0.0:
            raise ValueError(f"map_clearing_radius_m must be >= 0 (0 = off), got {self.map_clearing_radius_m}")
        if 0.0 < self.map_clearing_radius_m < self.max_depth_m:
            raise ValueError(f"map_clearing_radius_m ({self.map_clearing_radius_m}) must be 0 (off) or at least "
                             f"max_depth_m ({self.max_depth_m}), else fresh fragments are cleared at once")
        self.new_voxel_rule = parse_mode(NewVoxelRule, self.new_voxel_rule, "new_voxel_rule")
        if not (math.isfinite(self.crossing_min_slope) and self.crossing_min_slope >= 0.0):
            raise ValueError(f"crossing_min_slope must be finite and >= 0, got {self.crossing_min_slope}")
        if self.crossing_dilation_voxels < 0:
            raise ValueError(f"crossing_dilation_voxels must be >= 0, got {self.crossing_dilation_voxels}")
        if self.max_new_voxels_per_fragment < 0:
            raise ValueError(f"max_new_voxels_per_fragment must be >= 0 (0 = no bound), got "
                             f"{self.max_new_voxels_per_fragment}")
        self.tsdf_distance = parse_mode(TsdfDistance, self.tsdf_distance, "tsdf_distance")
        if not self.tsdf_trunc_m >= self.voxel_size_m:
            raise ValueError(f"tsdf_trunc_m ({self.tsdf_trunc_m}) must be >= voxel_size_m ({self.voxel_size_m})")
        if self.image_width_px < 0:
            raise ValueError(f"image_width_px must be >= 0 (0 = keep), got {self.image_width_px}")
        if self.query_chunk_size < 1:
            raise ValueError(f"query_chunk_size must be >= 1, got {self.query_chunk_size}")
        if not self.device:
            raise ValueError("device must be a torch device string such as 'cpu' or 'cuda'")


def check_truncation(config: MapperConfig, model_trunc_m: float, model_name: str) -> None:
    """Refuse a `tsdf_trunc_m` the model's truncation tr (`model_trunc_m`) cannot serve; ConfigError names both and
    `model_name` (e.g. the checkpoint's path).

    learned geometry needs tsdf_trunc_m <= tr: the learned SDF saturates near +tr in free space (its training loss
    clamps at +-tr, and +tr is the SDF outside the grid), so a wider band would count free space as surface.
    depth geometry needs tsdf_trunc_m >= tr: a depth TSDF saturated below tr lies inside the band of the rendering
    weights (Eq. 8-9, |s| < tr), so every free-space sample would weigh in a render.
    """
    trunc, tr = config.tsdf_trunc_m, float(model_trunc_m)
    tolerance = 1e-6 * tr
    if config.geometry_source is GeometrySource.LEARNED and trunc > tr + tolerance:
        raise ConfigError(f"tsdf_trunc_m {trunc} m exceeds the model's trunc_m {tr} m ({model_name}): with "
                          f"geometry_source 'learned' the learned SDF saturates near +{tr} m in free space, which a "
                          f"wider band takes for surface; set tsdf_trunc_m <= {tr}")
    if config.geometry_source is GeometrySource.DEPTH and trunc < tr - tolerance:
        raise ConfigError(f"tsdf_trunc_m {trunc} m is below the model's trunc_m {tr} m ({model_name}): with "
                          f"geometry_source 'depth' the TSDF's free space (+{trunc} m) would lie inside the rendering "
                          f"band (Eq. 8-9, |sdf| < {tr} m); set tsdf_trunc_m >= {tr}")
