"""Navigation layers from the semantic map (no ROS): obstacle points, floor height, occupancy grid, class masks.

Nav2 reads PointCloud2 observation sources (ObstacleLayer / VoxelLayer) and OccupancyGrid maps and costmap-filter
masks; the whole-map semantic cloud is neither (its floor would be marked as an obstacle). These functions turn the
map's semantic points into those layers. All of them are pure and vectorised over the N points.

Conventions (REP 103): the map frame's z axis points up; "height" is z minus the floor height. Grids are 2D in the
map frame's xy plane: cell (row j, column i) covers [x0 + i r, x0 + (i + 1) r) x [y0 + j r, y0 + (j + 1) r), data
in row-major order from the origin corner (nav_msgs/OccupancyGrid's layout). Values follow nav_msgs/OccupancyGrid
and Nav2's costmap filters: occupancy 0 = free, 100 = occupied, -1 = unknown; class masks 100 = the class was seen
in the cell, 0 = elsewhere (never -1: Nav2's speed filter rejects unknown mask cells).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from gnesf_ros.classes import ClassList
from gnesf_ros.errors import ConfigError, InputError

FREE, OCCUPIED, UNKNOWN = 0, 100, -1  # nav_msgs/OccupancyGrid values
MASK_ON, MASK_OFF = 100, 0  # class mask values (Nav2 keep-out: 100 -> lethal; speed: 0 -> no limit)
FLOOR_PERCENTILE = 50.0  # the floor height is this percentile of the traversable points' z (robust to a few
#                          mislabelled points on furniture or below the floor)
MIN_FLOOR_POINTS = 20  # fewer traversable points than this: no floor estimate yet
MAX_GRID_CELLS = 25_000_000  # a grid larger than this (e.g. 250 m x 250 m at 5 cm) is refused: a stray point


@dataclass
class NavigationConfig:
    """Parameters of the navigation outputs (`~/obstacle_cloud`, `~/occupancy`, `~/class_masks/<class>`)."""

    obstacle_rate_hz: float = 2.0
    """Rate (Hz) of `~/obstacle_cloud` (published while a camera pose is known, also when the map is unchanged:
    the camera moves)."""

    obstacle_radius_m: float = 3.0
    """`~/obstacle_cloud` holds the map's points within this horizontal (xy) distance (m) of the current camera."""

    obstacle_height_range_m: list[float] = field(default_factory=lambda: [0.05, 2.0])
    """[min, max] height (m) above the floor plane of the points that are obstacles (the robot's height band):
    lower points are floor clutter, higher ones pass above the robot."""

    floor_height_m: float = math.nan
    """z (m, map frame, z up) of the floor plane; .nan = estimated as the median z of the points of the
    traversable classes (none before 20 such points are mapped)."""

    traversable_classes: list[str] = field(default_factory=lambda: ["floor"])
    """Class names the robot may drive on: never obstacles; where they were seen `~/occupancy` is free."""

    grid_resolution_m: float = 0.05
    """Cell edge (m) of `~/occupancy` and `~/class_masks/<class>`."""

    grid_rate_hz: float = 0.5
    """Rate (Hz) at which `~/occupancy` and the class masks are recomputed and published when the map changed."""

    mask_classes: list[str] = field(default_factory=list)
    """Class names that get a mask `~/class_masks/<name>` (spaces and other characters not allowed in a topic
    name become "_"); [] = none."""

    def __post_init__(self) -> None:
        for name in ("obstacle_rate_hz", "obstacle_radius_m", "grid_resolution_m", "grid_rate_hz"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        band = list(self.obstacle_height_range_m)
        if len(band) != 2 or not all(math.isfinite(v) for v in band) or not band[0] < band[1]:
            raise ValueError(f"obstacle_height_range_m must be [min, max] with finite min < max (m above the "
                             f"floor), got {band}")
        if math.isinf(self.floor_height_m):
            raise ValueError(f"floor_height_m must be finite or .nan (estimate it), got {self.floor_height_m}")
        for name in ("traversable_classes", "mask_classes"):
            names = getattr(self, name)
            if len(set(names)) != len(names):
                raise ValueError(f"{name} lists a class twice: {names}")


def class_ids(names: list[str], class_list: ClassList, where: str) -> np.ndarray:
    """Class names -> their ids (K,) int64; ConfigError naming the unknown ones and the known ones."""
    unknown = [n for n in names if n not in class_list.names]
    if unknown:
        raise ConfigError(f"{where}: unknown class name(s) {unknown}; the class list has {list(class_list.names)}")
    return np.array([class_list.names.index(n) for n in names], dtype=np.int64)


def topic_token(name: str) -> str:
    """A class name as one ROS topic name token: characters other than [A-Za-z0-9_] become "_" ("shower
    curtain" -> "shower_curtain"); a leading digit gets a "_" in front."""
    token = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return "_" + token if not token or token[0].isdigit() else token


def _check_points(xyz: np.ndarray, label: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    xyz = np.asarray(xyz)
    label = np.asarray(label)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or label.shape != (xyz.shape[0],):
        raise InputError(f"{where}: expected xyz (N, 3) and label (N,), got {xyz.shape} and {label.shape}")
    return xyz, label


def estimate_floor_height(z: np.ndarray, label: np.ndarray, traversable_ids: np.ndarray,
                          min_points: int = MIN_FLOOR_POINTS, percentile: float = FLOOR_PERCENTILE) -> float | None:
    """Floor z (m) = `percentile` of the z (N,) of points whose label (N,) is traversable; None if fewer than
    `min_points` such points."""
    z = np.asarray(z, dtype=np.float64)
    if z.shape != np.shape(label):
        raise InputError(f"estimate_floor_height: z {z.shape} and label {np.shape(label)} differ in shape")
    floor_z = z[np.isin(label, traversable_ids) & np.isfinite(z)]
    if len(floor_z) < max(1, min_points):
        return None
    return float(np.percentile(floor_z, percentile))


def obstacle_mask(xyz: np.ndarray, label: np.ndarray, traversable_ids: np.ndarray, floor_z: float,
                  height_range_m: tuple[float, float] | list[float], center_xy: np.ndarray | None = None,
                  radius_m: float | None = None) -> np.ndarray:
    """(N,) bool: points that are obstacles — not traversable, height above `floor_z` within `height_range_m`
    (inclusive) — and, with `center_xy` (2,) and `radius_m`, within that horizontal distance of the centre."""
    xyz, label = _check_points(xyz, label, "obstacle_mask")
    h = xyz[:, 2] - floor_z
    keep = ~np.isin(label, traversable_ids) & (h >= height_range_m[0]) & (h <= height_range_m[1])
    if center_xy is not None:
        if radius_m is None or not radius_m > 0:
            raise InputError(f"obstacle_mask: radius_m must be > 0 with a centre, got {radius_m}")
        d = xyz[:, :2] - np.asarray(center_xy, dtype=np.float64)[:2]
        keep &= np.einsum("ij,ij->i", d, d) <= radius_m * radius_m
    return keep


@dataclass(frozen=True)
class GridSpec:
    """A 2D grid in the map frame's xy plane: origin (m) of cell (0, 0)'s outer corner, cell edge, size."""

    origin_x_m: float
    origin_y_m: float
    resolution_m: float
    width: int  # cells along x (columns)
    height: int  # cells along y (rows)

    @classmethod
    def covering(cls, xy: np.ndarray, resolution_m: float, pad_cells: int = 1) -> "GridSpec | None":
        """The smallest grid aligned to multiples of `resolution_m` that holds every point xy (N, 2), plus
        `pad_cells` of margin (so that the map's edge reads as unknown); None for no points. Aligned origins keep
        a cell's place fixed as the map grows."""
        xy = np.asarray(xy, dtype=np.float64)
        if not resolution_m > 0:
            raise InputError(f"GridSpec.covering: resolution_m must be > 0, got {resolution_m}")
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise InputError(f"GridSpec.covering: expected xy (N, 2), got {xy.shape}")
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        if len(xy) == 0:
            return None
        lo = np.floor(xy.min(axis=0) / resolution_m).astype(np.int64) - pad_cells
        hi = np.floor(xy.max(axis=0) / resolution_m).astype(np.int64) + 1 + pad_cells
        width, height = int(hi[0] - lo[0]), int(hi[1] - lo[1])
        if width * height > MAX_GRID_CELLS:
            raise InputError(f"GridSpec.covering: the points span {width} x {height} cells of {resolution_m} m, "
                             f"more than {MAX_GRID_CELLS}; is a stray point far away, or the resolution too fine?")
        return cls(float(lo[0] * resolution_m), float(lo[1] * resolution_m), float(resolution_m), width, height)

    def cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """xy (N, 2) -> (flat cell index (M,) int64 row-major, which points (N,) bool fall inside the grid)."""
        xy = np.asarray(xy, dtype=np.float64)
        col = np.floor((xy[:, 0] - self.origin_x_m) / self.resolution_m)
        row = np.floor((xy[:, 1] - self.origin_y_m) / self.resolution_m)
        inside = (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)
        return row[inside].astype(np.int64) * self.width + col[inside].astype(np.int64), inside

    def centers(self) -> np.ndarray:
        """Cell centres (height, width, 2) m, map frame."""
        x = self.origin_x_m + (np.arange(self.width) + 0.5) * self.resolution_m
        y = self.origin_y_m + (np.arange(self.height) + 0.5) * self.resolution_m
        gx, gy = np.meshgrid(x, y, indexing="xy")
        return np.stack([gx, gy], axis=-1)


def occupancy_grid(xyz: np.ndarray, label: np.ndarray, spec: GridSpec, traversable_ids: np.ndarray, floor_z: float,
                   height_range_m: tuple[float, float] | list[float]) -> np.ndarray:
    """(height, width) int8 OccupancyGrid values: OCCUPIED where an obstacle point (`obstacle_mask`) lies, else
    FREE where a traversable point below the band's top lies, else UNKNOWN. Occupied wins: a table over the
    floor is occupied even though the floor under it was seen."""
    xyz, label = _check_points(xyz, label, "occupancy_grid")
    grid = np.full(spec.width * spec.height, UNKNOWN, dtype=np.int8)
    traversable = np.isin(label, traversable_ids) & (xyz[:, 2] - floor_z <= height_range_m[1])
    idx, _ = spec.cells(xyz[traversable, :2])
    grid[idx] = FREE
    idx, _ = spec.cells(xyz[obstacle_mask(xyz, label, traversable_ids, floor_z, height_range_m), :2])
    grid[idx] = OCCUPIED
    return grid.reshape(spec.height, spec.width)


def class_mask(xyz: np.ndarray, label: np.ndarray, spec: GridSpec, class_id: int) -> np.ndarray:
    """(height, width) int8: MASK_ON in the cells where a point of class `class_id` lies (at any height), MASK_OFF
    elsewhere — the class's footprint, in the format of Nav2's costmap filter masks."""
    xyz, label = _check_points(xyz, label, "class_mask")
    grid = np.full(spec.width * spec.height, MASK_OFF, dtype=np.int8)
    idx, _ = spec.cells(xyz[label == class_id, :2])
    grid[idx] = MASK_ON
    return grid.reshape(spec.height, spec.width)


@dataclass
class NavigationLayers:
    """The grids of one map state (all on `spec`); `floor_z_m` None when it could not be estimated yet."""

    spec: GridSpec | None  # None: the map is empty
    floor_z_m: float | None
    occupancy: np.ndarray | None  # (height, width) int8; None without a floor height
    masks: dict[str, np.ndarray]  # class name -> (height, width) int8


class NavigationMaps:
    """`NavigationConfig` resolved against a class list: computes the obstacle selection and the grids."""

    def __init__(self, config: NavigationConfig, class_list: ClassList) -> None:
        self.config = config
        self.traversable_ids = class_ids(config.traversable_classes, class_list, "traversable_classes")
        self.mask_ids = dict(zip(config.mask_classes, class_ids(config.mask_classes, class_list, "mask_classes")))
        tokens = [topic_token(n) for n in config.mask_classes]
        if len(set(tokens)) != len(tokens):
            raise ConfigError(f"mask_classes: two classes map to the same topic name: {tokens}")

    def floor_height(self, xyz: np.ndarray, label: np.ndarray) -> float | None:
        """`floor_height_m` when set, else the estimate from the traversable points (None: too few yet)."""
        if not math.isnan(self.config.floor_height_m):
            return float(self.config.floor_height_m)
        xyz, label = _check_points(xyz, label, "floor_height")
        return estimate_floor_height(xyz[:, 2], label, self.traversable_ids)

    def obstacles(self, xyz: np.ndarray, label: np.ndarray, floor_z: float, center_xy: np.ndarray) -> np.ndarray:
        """(N,) bool: the points of `~/obstacle_cloud` around the camera at `center_xy` (2,)."""
        c = self.config
        return obstacle_mask(xyz, label, self.traversable_ids, floor_z, c.obstacle_height_range_m, center_xy,
                             c.obstacle_radius_m)

    def layers(self, xyz: np.ndarray, label: np.ndarray) -> NavigationLayers:
        """Occupancy grid and class masks of the map points xyz (N, 3), label (N,), on one grid covering them."""
        xyz, label = _check_points(xyz, label, "layers")
        c = self.config
        spec = GridSpec.covering(xyz[:, :2], c.grid_resolution_m)
        floor_z = self.floor_height(xyz, label)
        if spec is None:
            return NavigationLayers(None, floor_z, None, {})
        occupancy = None
        if floor_z is not None:
            occupancy = occupancy_grid(xyz, label, spec, self.traversable_ids, floor_z, c.obstacle_height_range_m)
        masks = {name: class_mask(xyz, label, spec, int(cid)) for name, cid in self.mask_ids.items()}
        return NavigationLayers(spec, floor_z, occupancy, masks)
