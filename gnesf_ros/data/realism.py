"""Knobs of the realistic synthetic style (config/data.yaml, `synthetic.realistic`).

`style: simple` keeps the original flat-textured rooms (the shipped model was trained on them);
`style: realistic` draws textured, lit, cluttered rooms, camera images with sensor effects and
structured-light depth. Every effect has one knob here; setting a knob to 0 (or false) turns that
effect off, which is how the tests measure each one in isolation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

STYLES = ("simple", "realistic")


@dataclass
class TextureConfig:
    """Procedural surface detail (gnesf_ros/data/textures.py)."""

    detail: float = 1.0
    """Contrast multiplier of all texture patterns (0 = flat per-instance albedo). Default 1."""
    fine_grain: float = 0.12
    """Relative amplitude of the ~5 mm speckle every surface carries (paint, dust, weave). Default 0.12."""
    scale_range: tuple[float, float] = (0.6, 1.7)
    """Per-instance multiplier of the pattern frequencies (tile size, plank width, fabric weave)."""


@dataclass
class LightingConfig:
    """Ambient plus ceiling point lights, Lambertian with inverse-square falloff (render.py)."""

    ambient: float = 0.25
    """Ambient irradiance relative to a light 1 m away at normal incidence. Default 0.25."""
    lights_per_room: tuple[int, int] = (1, 3)
    """Inclusive range of ceiling lights drawn per room."""
    intensity_range: tuple[float, float] = (1.5, 4.0)
    """Range of each light's intensity (irradiance at 1 m, normal incidence)."""
    light_tint: float = 0.12
    """Spread of the lights' colour (warm/cool) around white, 0 = white lights."""
    specular: float = 0.35
    """Blinn-Phong highlight strength of shiny instances (0 = matte everywhere)."""
    shadows: bool = False
    """Cast one shadow ray per light through the open3d scene (adds one ray cast per light; see docs)."""
    exposure_target: float = 0.18
    """Linear mean brightness the per-scan exposure aims at before its random bias."""
    exposure_log_std: float = 0.2
    """Std of the per-scan log2 exposure bias (normal scans)."""
    extreme_fraction: float = 0.2
    """Fraction of scans that are much darker or brighter (exposure x 0.3-0.55 or x 1.8-2.8)."""
    white_balance: float = 0.08
    """Per-scan white-balance error: red/blue gains 1 +- this at most. 0 = neutral."""


@dataclass
class CameraConfig:
    """RGB camera effects applied to the linear image (sensor.py)."""

    shot_noise: float = 0.02
    """Shot-noise std at full-scale signal (std = shot_noise * sqrt(signal)); 0 = none."""
    read_noise: float = 0.004
    """Signal-independent read-noise std, fraction of full scale; 0 = none."""
    vignetting: float = 0.25
    """Brightness loss at the image corner (factor 1 - v * r^2, r = 1 at the corner)."""
    blur_subframes: int = 2
    """Sub-poses averaged for motion blur (1 = none); each is one more ray cast."""
    blur_fraction: float = 0.5
    """Exposure time as a fraction of the frame interval: sub-poses span this much of the way to the previous pose."""
    jpeg_quality: int = 85
    """JPEG quality of the delivered RGB (0 = no compression)."""
    lens_k1: float = 0.0
    """Radial distortion k1 of the lens; != 0 renders through it and undistorts (cv2) back to the pinhole K
    the frames declare, leaving the resampling blur and the undistortion's empty border. 0 = off."""


@dataclass
class DepthSensorConfig:
    """Structured-light depth sensor (sensor.py); the truth depth stays in RenderedView.depth_m."""

    noise_at_1m: float = 0.0015
    """Depth noise std at 1 m, metres; grows with distance squared. Default 1.5 mm (Kinect-like)."""
    min_range_m: float = 0.4
    """Closer returns are holes."""
    max_range_m: float = 4.5
    """Farther returns are holes (beyond range)."""
    grazing_deg: float = 75.0
    """Incidence angles (ray to normal) beyond this are holes; 90 = off."""
    edge_jump: float = 0.05
    """Relative depth jump (fraction of depth) in a 3x3 window that makes a depth-edge hole; 0 = off."""
    edge_dilate_px: int = 1
    """Edge holes grow by this many pixels."""
    dark_threshold: float = 0.02
    """Surfaces whose linear albedo luminance is below this give no return (ramp from half of it); 0 = off."""
    specular_holes: bool = True
    """Shiny surfaces (shininess > 0.6) seen head-on (within 6 deg) saturate the projector pattern: holes."""
    dropout: float = 0.005
    """Random speckle of missing pixels, fraction."""


@dataclass
class LayoutConfig:
    """Room geometry of realistic scenes (scene.py)."""

    room_size_m: tuple[float, float] = (2.6, 8.0)
    """Range of each horizontal room side, metres (single rooms)."""
    height_m: tuple[float, float] = (2.4, 3.2)
    """Range of the ceiling height, metres."""
    two_room_fraction: float = 0.3
    """Fraction of scenes that are two rooms with a doorway between."""
    clutter_per_surface: tuple[int, int] = (1, 5)
    """Inclusive range of small objects on each table, desk, counter or low cabinet."""
    floor_clutter: tuple[int, int] = (0, 4)
    """Inclusive range of small objects (bins, boxes, bags) on the floor."""


@dataclass
class TrajectoryConfig:
    """Which camera carries the scan (trajectory.py)."""

    robot_fraction: float = 0.35
    """Fraction of scans from a robot base (low, steady, slower, out-and-back revisits); the rest handheld."""


@dataclass
class RealisticConfig:
    """All knobs of the realistic style; each sub-section documents its effects."""

    textures: TextureConfig = field(default_factory=TextureConfig)
    lighting: LightingConfig = field(default_factory=LightingConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    depth: DepthSensorConfig = field(default_factory=DepthSensorConfig)
    layout: LayoutConfig = field(default_factory=LayoutConfig)
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)

    def __post_init__(self) -> None:
        c, d, lo, li = self.camera, self.depth, self.layout, self.lighting
        if c.blur_subframes < 1 or not 0 <= c.jpeg_quality <= 100 or c.shot_noise < 0 or c.read_noise < 0:
            raise ValueError("camera: blur_subframes >= 1, jpeg_quality in [0, 100], noise >= 0 expected")
        if not 0.0 < d.min_range_m < d.max_range_m or d.noise_at_1m < 0 or not 0 < d.grazing_deg <= 90:
            raise ValueError("depth: 0 < min_range_m < max_range_m, noise_at_1m >= 0, grazing_deg in (0, 90]")
        if not 2.0 <= lo.room_size_m[0] <= lo.room_size_m[1] or not 2.2 <= lo.height_m[0] <= lo.height_m[1]:
            raise ValueError("layout: room_size_m from >= 2 m, height_m from >= 2.2 m, ranges ascending")
        if not 1 <= li.lights_per_room[0] <= li.lights_per_room[1] or li.ambient < 0:
            raise ValueError("lighting: lights_per_room from >= 1 ascending, ambient >= 0")
        for name, v in (("two_room_fraction", lo.two_room_fraction), ("robot_fraction", self.trajectory.robot_fraction),
                        ("extreme_fraction", li.extreme_fraction), ("dropout", d.dropout)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
