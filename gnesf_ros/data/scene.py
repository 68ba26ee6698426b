"""Procedural indoor scenes: a closed room with ScanNet-20 furniture built from boxes and cylinders.

`generate_scene(seed)` is deterministic per seed (`generate_scene(seed, RealisticConfig())` draws the
realistic style: several room sizes, two rooms with a doorway, clutter, textured looks and lights). The map frame has z up and the floor at z = 0;
the room spans [0, Lx] x [0, Ly] x [0, Lz]. Walls are class 0, floor 1, ceiling the ignore id
(255); doors, windows, pictures and curtains are thin boxes on the walls; furniture stands on
the floor with non-overlapping 2D footprints and keeps clear of a walkable loop (`walk_loop`)
along which `trajectory.handheld_trajectory` moves the camera.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gnesf_ros.classes import IGNORE_ID

if TYPE_CHECKING:  # imported lazily at run time: the simple style needs neither
    from gnesf_ros.data.realism import RealisticConfig
    from gnesf_ros.data.textures import Look

WALL, FLOOR, CABINET, BED, CHAIR, SOFA, TABLE, DOOR, WINDOW, BOOKSHELF = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
PICTURE, COUNTER, DESK, CURTAIN, REFRIGERATOR, SHOWER_CURTAIN, TOILET, SINK, BATHTUB, OTHERFURNITURE = (
    10, 11, 12, 13, 14, 15, 16, 17, 18, 19)
CEILING = IGNORE_ID

TEXTURES = ("plain", "stripes", "checker", "noise")
LOOP_CLEARANCE_M = 0.5  # furniture footprints keep at least this far from the walk loop
_CYL_SEGMENTS = 16


@dataclass
class Primitive:
    """One closed solid of the scene: an oriented box or an upright cylinder."""

    kind: str  # "box" | "cylinder"
    center: np.ndarray  # (3,) map frame, metres
    half_extents: np.ndarray  # (3,) box half sizes along its local axes; cylinder (r, r, h/2)
    yaw: float  # rotation about z, radians
    object_id: int


@dataclass
class SceneObject:
    """One labelled object (instance). `footprint` = (cx, cy, hx, hy, yaw) for floor furniture, else None."""

    object_id: int
    label: int
    kind: str
    footprint: tuple[float, float, float, float, float] | None = None
    height_m: float = 0.0


@dataclass
class Lights:
    """Lighting of a realistic scene: ceiling point lights, ambient, and the scan's exposure and white balance."""

    pos: np.ndarray  # (Lt, 3) float32 light positions, map frame, metres
    rgb: np.ndarray  # (Lt, 3) float32 intensity per channel (irradiance at 1 m, normal incidence)
    ambient: float  # ambient irradiance (same units)
    exposure_bias: float  # multiplies the metered exposure (< 1 darker, > 1 brighter scan)
    white_balance: np.ndarray  # (3,) float32 channel gains of the camera's white-balance error


@dataclass
class Scene:
    """A room as one triangle mesh with per-triangle labels and instances, plus per-object appearance."""

    seed: int
    room_type: str
    room_size_m: np.ndarray  # (3,) Lx, Ly, Lz
    vertices: np.ndarray  # (V, 3) float32
    triangles: np.ndarray  # (T, 3) int32
    tri_labels: np.ndarray  # (T,) uint8, 255 = ceiling (ignore)
    tri_object: np.ndarray  # (T,) int32 object id
    objects: list[SceneObject]
    primitives: list[Primitive]
    # simple-style appearance (empty arrays in the realistic style, whose appearance is `look`)
    base_rgb: np.ndarray  # (O, 3) float32 in [0, 1], albedo colour 1
    second_rgb: np.ndarray  # (O, 3) float32, albedo colour 2 of the texture
    texture: np.ndarray  # (O,) int8 index into TEXTURES
    texture_freq: np.ndarray  # (O,) float32 cycles per metre
    texture_dirs: np.ndarray  # (O, 3, 3) float32 three unit directions (stripes use the first)
    texture_phase: np.ndarray  # (O, 3) float32 radians
    walk_loop: np.ndarray  # (L, 2) float32 closed polyline (x, y) the camera may walk along
    light_pos: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))  # (3,) room light
    look: "Look | None" = None  # realistic style: textures per surface part (None = simple style)
    lights: "Lights | None" = None  # realistic style: lights, exposure bias and white balance
    two_rooms: bool = False  # realistic style: a partition wall with a doorway splits the room in two


    @property
    def num_objects(self) -> int:
        return len(self.objects)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min (3,), max (3,)) corners of the room in the map frame."""
        return np.zeros(3, np.float32), self.room_size_m.astype(np.float32)

    @property
    def labels_present(self) -> set[int]:
        return {o.label for o in self.objects if o.label != IGNORE_ID}

    def inside_solid(self, pts: np.ndarray) -> np.ndarray:
        """(N, 3) map points -> (N,) bool: inside any primitive or outside the room."""
        pts = np.asarray(pts, dtype=np.float64)
        L = self.room_size_m
        solid = np.any(pts < 0.0, axis=1) | np.any(pts > L, axis=1)
        for p in self.primitives:
            d = pts - p.center
            if p.kind == "box":
                c, s = np.cos(p.yaw), np.sin(p.yaw)
                lx = c * d[:, 0] + s * d[:, 1]
                ly = -s * d[:, 0] + c * d[:, 1]
                h = p.half_extents
                solid |= (np.abs(lx) < h[0]) & (np.abs(ly) < h[1]) & (np.abs(d[:, 2]) < h[2])
            else:
                r, hz = p.half_extents[0], p.half_extents[2]
                solid |= (d[:, 0] ** 2 + d[:, 1] ** 2 < r * r) & (np.abs(d[:, 2]) < hz)
        return solid


# ----------------------------------------------------------------------------------------------
# mesh primitives

_BOX_SIGNS = np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
                       [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=np.float64)
_BOX_TRIS = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                      [3, 7, 6], [3, 6, 2], [0, 4, 7], [0, 7, 3], [1, 2, 6], [1, 6, 5]], dtype=np.int64)


def _rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _box_mesh(center: np.ndarray, half: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    verts = (_BOX_SIGNS * half) @ _rot_z(yaw).T + center
    return verts, _BOX_TRIS.copy()


def _cylinder_mesh(center: np.ndarray, radius: float, half_h: float) -> tuple[np.ndarray, np.ndarray]:
    n = _CYL_SEGMENTS
    a = np.arange(n) * 2.0 * np.pi / n
    ring = np.stack([radius * np.cos(a), radius * np.sin(a)], axis=1)
    bottom = np.concatenate([ring, np.full((n, 1), -half_h)], axis=1)
    top = np.concatenate([ring, np.full((n, 1), half_h)], axis=1)
    verts = np.concatenate([bottom, top, [[0, 0, -half_h], [0, 0, half_h]]]) + center
    i = np.arange(n)
    j = (i + 1) % n
    side = np.concatenate([np.stack([i, j, n + j], 1), np.stack([i, n + j, n + i], 1)])
    cap_b = np.stack([np.full(n, 2 * n), j, i], 1)
    cap_t = np.stack([np.full(n, 2 * n + 1), n + i, n + j], 1)
    return verts, np.concatenate([side, cap_b, cap_t])


class _Builder:
    """Collects primitives and quads; turns them into one mesh."""

    def __init__(self) -> None:
        self.verts: list[np.ndarray] = []
        self.tris: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.objs: list[np.ndarray] = []
        self.prims: list[Primitive] = []
        self.objects: list[SceneObject] = []
        self.tri_part: list[np.ndarray] = []  # per added part: its index, once per triangle
        self.part_prim: list[int] = []  # per part: index into prims, -1 for quads
        self._nv = 0

    def new_object(self, label: int, kind: str) -> SceneObject:
        obj = SceneObject(object_id=len(self.objects), label=label, kind=kind)
        self.objects.append(obj)
        return obj

    def _add(self, verts: np.ndarray, tris: np.ndarray, obj: SceneObject) -> None:
        self.verts.append(verts)
        self.tris.append(tris + self._nv)
        self._nv += len(verts)
        self.labels.append(np.full(len(tris), obj.label, np.uint8))
        self.objs.append(np.full(len(tris), obj.object_id, np.int32))
        self.tri_part.append(np.full(len(tris), len(self.part_prim), np.int32))
        self.part_prim.append(-1)

    def box(self, obj: SceneObject, center, size, yaw: float = 0.0) -> None:
        center = np.asarray(center, np.float64)
        half = np.asarray(size, np.float64) / 2.0
        self._add(*_box_mesh(center, half, yaw), obj)
        self.part_prim[-1] = len(self.prims)
        self.prims.append(Primitive("box", center, half, float(yaw), obj.object_id))

    def cylinder(self, obj: SceneObject, center, radius: float, height: float) -> None:
        center = np.asarray(center, np.float64)
        self._add(*_cylinder_mesh(center, radius, height / 2.0), obj)
        self.part_prim[-1] = len(self.prims)
        self.prims.append(Primitive("cylinder", center, np.array([radius, radius, height / 2.0]), 0.0,
                                    obj.object_id))

    def quad(self, obj: SceneObject, corners: np.ndarray) -> None:
        """A one-sided rectangle (4, 3) (room shell); not a solid primitive."""
        self._add(np.asarray(corners, np.float64), np.array([[0, 1, 2], [0, 2, 3]]), obj)

    def mesh(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.concatenate(self.verts).astype(np.float32), np.concatenate(self.tris).astype(np.int32),
                np.concatenate(self.labels), np.concatenate(self.objs))


class _Local:
    """Places parts in an object's local frame (x along its width, y from back (-) to front (+), z up)."""

    def __init__(self, b: _Builder, obj: SceneObject, cx: float, cy: float, yaw: float) -> None:
        self.b, self.obj, self.yaw = b, obj, yaw
        self.origin = np.array([cx, cy, 0.0])
        self.R = _rot_z(yaw)

    def box(self, center, size) -> None:
        self.b.box(self.obj, self.origin + self.R @ np.asarray(center, np.float64), size, self.yaw)

    def cylinder(self, center, radius: float, height: float) -> None:
        self.b.cylinder(self.obj, self.origin + self.R @ np.asarray(center, np.float64), radius, height)


# ----------------------------------------------------------------------------------------------
# furniture catalogue: size sampler + part builder per class

def _legs(loc: _Local, w: float, d: float, h: float, r: float, inset: float, round_legs: bool) -> None:
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - inset - r), sy * (d / 2 - inset - r)
            if round_legs:
                loc.cylinder((x, y, h / 2), r, h)
            else:
                loc.box((x, y, h / 2), (2 * r, 2 * r, h))


def _size(rng: np.random.Generator, label: int) -> tuple[float, float, float]:
    """(width, depth, height) metres of a piece of furniture of class `label`."""
    u = rng.uniform
    table = {
        CABINET: (u(0.5, 1.2), u(0.4, 0.6), u(0.7, 2.0)),
        BED: (u(1.0, 1.8), u(1.9, 2.1), u(0.45, 0.6)),
        CHAIR: (u(0.42, 0.52), u(0.42, 0.52), u(0.85, 1.0)),
        SOFA: (u(1.5, 2.3), u(0.8, 0.95), u(0.75, 0.9)),
        TABLE: (u(0.8, 1.8), u(0.6, 1.0), u(0.7, 0.78)),
        BOOKSHELF: (u(0.6, 1.2), u(0.28, 0.4), u(1.2, 2.0)),
        COUNTER: (u(1.2, 2.4), u(0.58, 0.65), u(0.88, 0.94)),
        DESK: (u(1.0, 1.6), u(0.55, 0.8), u(0.72, 0.77)),
        REFRIGERATOR: (u(0.6, 0.8), u(0.6, 0.72), u(1.6, 1.9)),
        SHOWER_CURTAIN: (u(0.8, 1.4), u(0.75, 0.95), u(1.9, 2.05)),
        TOILET: (u(0.38, 0.44), u(0.62, 0.72), u(0.75, 0.82)),
        SINK: (u(0.5, 0.7), u(0.42, 0.52), u(0.82, 0.9)),
        BATHTUB: (u(1.5, 1.8), u(0.7, 0.8), u(0.5, 0.6)),
        OTHERFURNITURE: (u(0.35, 0.8), u(0.35, 0.6), u(0.35, 1.0)),
    }
    return table[label]


def _build(loc: _Local, rng: np.random.Generator, label: int, w: float, d: float, h: float) -> None:
    """Parts of one object, local frame: footprint [-w/2, w/2] x [-d/2, d/2], back at y = -d/2."""
    u = rng.uniform
    if label == CABINET:
        plinth = 0.06
        loc.box((0, 0.01, plinth / 2), (w - 0.04, d - 0.02, plinth))
        loc.box((0, 0, plinth + (h - plinth) / 2), (w, d, h - plinth))
        n_doors = 2 if w > 0.7 else 1
        for k in range(n_doors):
            x = (k + 0.5) * w / n_doors - w / 2 + (0.04 if k == 0 and n_doors == 2 else -0.04) * (n_doors - 1)
            loc.box((x, d / 2 + 0.01, plinth + (h - plinth) * 0.6), (0.02, 0.02, 0.12))
    elif label == BED:
        frame_h = u(0.2, 0.3)
        loc.box((0, 0.02, frame_h / 2), (w, d - 0.04, frame_h))
        loc.box((0, 0.04, frame_h + (h - frame_h) / 2), (w - 0.04, d - 0.1, h - frame_h))
        head_h = u(0.9, 1.2)
        loc.box((0, -d / 2 + 0.02, head_h / 2), (w, 0.04, head_h))
        pw = min(0.6, (w - 0.1) / 2)
        for sx in ((-1, 1) if w > 1.3 else (0,)):
            loc.box((sx * (pw / 2 + 0.03), -d / 2 + 0.3, h + 0.06), (pw, 0.35, 0.12))
    elif label == CHAIR:
        seat_h = u(0.42, 0.48)
        t = 0.05
        round_legs = bool(rng.random() < 0.5)
        _legs(loc, w, d, seat_h - t, u(0.015, 0.025), 0.01, round_legs)
        loc.box((0, 0, seat_h - t / 2), (w, d, t))
        loc.box((0, -d / 2 + 0.02, seat_h + (h - seat_h) / 2), (w, 0.04, h - seat_h))
    elif label == SOFA:
        seat_h = u(0.38, 0.45)
        arm_w = u(0.12, 0.2)
        arm_h = u(0.55, 0.65)
        back_d = u(0.15, 0.22)
        loc.box((0, back_d / 2, seat_h / 2), (w - 2 * arm_w, d - back_d, seat_h))
        loc.box((0, -d / 2 + back_d / 2, h / 2), (w - 2 * arm_w, back_d, h))
        for sx in (-1, 1):
            loc.box((sx * (w / 2 - arm_w / 2), 0, arm_h / 2), (arm_w, d, arm_h))
    elif label == TABLE:
        t = u(0.03, 0.05)
        if rng.random() < 0.25:  # round pedestal table
            r = min(w, d) / 2
            loc.cylinder((0, 0, h - t / 2), r, t)
            loc.cylinder((0, 0, (h - t) / 2 + 0.015), 0.05, h - t - 0.03)
            loc.cylinder((0, 0, 0.015), r * 0.5, 0.03)
        else:
            loc.box((0, 0, h - t / 2), (w, d, t))
            _legs(loc, w, d, h - t, u(0.02, 0.035), u(0.02, 0.08), bool(rng.random() < 0.4))
    elif label == BOOKSHELF:
        t = 0.02
        loc.box((0, -d / 2 + t / 2, h / 2), (w, t, h))  # back
        for sx in (-1, 1):
            loc.box((sx * (w / 2 - t / 2), t / 2, h / 2), (t, d - t, h))
        n_shelves = int(rng.integers(3, 6))
        inner_w = w - 2 * t
        for k in range(n_shelves + 1):
            z = 0.05 + k * (h - 0.05 - t) / n_shelves
            loc.box((0, t / 2, z + t / 2), (inner_w, d - t, t))
            if k < n_shelves:  # a row of books on the shelf
                gap = (h - 0.05 - t) / n_shelves - t
                x = -inner_w / 2 + 0.01
                while x < inner_w / 2 - 0.06 and rng.random() < 0.93:
                    bw = u(0.02, 0.06)
                    bh = min(u(0.6, 0.9) * gap, gap - 0.01)
                    bd = u(0.6, 0.9) * (d - t)
                    loc.box((x + bw / 2, -d / 2 + t + bd / 2 + 0.001, z + t + bh / 2 + 0.001), (bw, bd, bh))
                    x += bw + (u(0.05, 0.25) if rng.random() < 0.15 else 0.002)
    elif label == COUNTER:
        top_t = 0.04
        loc.box((0, -0.02, (h - top_t) / 2), (w, d - 0.04, h - top_t))
        loc.box((0, 0.0, h - top_t / 2), (w, d, top_t))
    elif label == DESK:
        t = 0.03
        loc.box((0, 0, h - t / 2), (w, d, t))
        ped_w = u(0.35, 0.45)
        loc.box((w / 2 - ped_w / 2, 0, (h - t) / 2), (ped_w, d - 0.04, h - t))  # drawer block
        loc.box((-w / 2 + 0.015, 0, (h - t) / 2), (0.03, d - 0.04, h - t))  # side panel
        loc.box((0, -d / 2 + 0.01, h * 0.55), (w - ped_w - 0.04, 0.02, h * 0.35))  # modesty panel
    elif label == REFRIGERATOR:
        loc.box((0, 0, h / 2), (w, d, h))
        loc.box((-w / 2 + 0.06, d / 2 + 0.02, h * 0.6), (0.025, 0.03, 0.35))
    elif label == SHOWER_CURTAIN:
        # the footprint is the shower area; the curtain hangs at its front edge from a rod
        z0 = u(0.15, 0.3)
        loc.box((0, d / 2 - 0.02, z0 + (h - 0.05 - z0) / 2), (w, 0.02, h - 0.05 - z0))
        loc.box((0, d / 2 - 0.02, h - 0.015), (w, 0.03, 0.03))
        loc.box((0, 0, 0.02), (w - 0.02, d - 0.06, 0.04))  # shower tray
    elif label == TOILET:
        bowl_h = u(0.38, 0.42)
        r = w / 2
        loc.cylinder((0, d / 2 - r - 0.02, bowl_h / 2), r, bowl_h)
        loc.cylinder((0, d / 2 - r - 0.02, bowl_h + 0.015), r * 1.02, 0.03)
        tank_d = u(0.16, 0.2)
        loc.box((0, -d / 2 + tank_d / 2, (h + 0.1) / 2), (w * 1.05, tank_d, h - 0.1))
        loc.box((0, -d / 2 + tank_d + 0.06, bowl_h / 2), (w * 0.5, 0.12, bowl_h))
    elif label == SINK:
        basin_h = 0.15
        loc.box((0, 0, h - basin_h / 2), (w, d, basin_h))
        loc.cylinder((0, -0.05, (h - basin_h) / 2), 0.08, h - basin_h)
        loc.cylinder((0, -d / 2 + 0.06, h + 0.08), 0.015, 0.16)
    elif label == BATHTUB:
        t = 0.06
        loc.box((0, 0, 0.05), (w, d, 0.1))
        for sy in (-1, 1):
            loc.box((0, sy * (d / 2 - t / 2), 0.1 + (h - 0.1) / 2), (w, t, h - 0.1))
        for sx in (-1, 1):
            loc.box((sx * (w / 2 - t / 2), 0, 0.1 + (h - 0.1) / 2), (t, d - 2 * t, h - 0.1))
    elif label == OTHERFURNITURE:
        kind = rng.integers(0, 3)
        if kind == 0:  # nightstand / dresser / box
            loc.box((0, 0, h / 2), (w, d, h))
        elif kind == 1:  # ottoman / bin
            loc.cylinder((0, 0, h / 2), min(w, d) / 2, h)
        else:  # stool / side table
            t = 0.03
            loc.box((0, 0, h - t / 2), (w, d, t))
            _legs(loc, w, d, h - t, 0.02, 0.02, True)
    else:  # pragma: no cover - the catalogue covers every furniture class
        raise AssertionError(f"no builder for class {label}")


_WALL_PLACED = {CABINET, BED, SOFA, BOOKSHELF, COUNTER, DESK, REFRIGERATOR, SHOWER_CURTAIN, TOILET, SINK,
                BATHTUB}

# room type -> (core classes tried first, weights of extra classes)
_ROOM_TYPES: dict[str, tuple[list[int], dict[int, float]]] = {
    "bedroom": ([BED, CABINET, DESK, CHAIR], {CABINET: 2, CHAIR: 1, BOOKSHELF: 2, OTHERFURNITURE: 3, SOFA: 1,
                                             TABLE: 1}),
    "living": ([SOFA, TABLE, CHAIR, BOOKSHELF], {CHAIR: 3, CABINET: 2, OTHERFURNITURE: 3, TABLE: 1, SOFA: 1,
                                                BOOKSHELF: 1, DESK: 1}),
    "kitchen": ([COUNTER, REFRIGERATOR, SINK, TABLE, CHAIR], {CHAIR: 3, CABINET: 3, COUNTER: 1,
                                                              OTHERFURNITURE: 2}),
    "bathroom": ([TOILET, SINK, BATHTUB, SHOWER_CURTAIN], {CABINET: 2, OTHERFURNITURE: 2, SINK: 1, TOILET: 1,
                                                           COUNTER: 1}),
    "office": ([DESK, CHAIR, BOOKSHELF, TABLE], {CHAIR: 4, CABINET: 2, BOOKSHELF: 1, OTHERFURNITURE: 2,
                                                DESK: 1, SOFA: 1, REFRIGERATOR: 0.5}),
}
_ROOM_TYPE_P = (0.25, 0.2, 0.2, 0.17, 0.18)
_ANCHORS = {"bedroom": BED, "living": SOFA, "bathroom": BATHTUB, "kitchen": COUNTER}
_ALL_FURNITURE = [CABINET, BED, CHAIR, SOFA, TABLE, BOOKSHELF, COUNTER, DESK, REFRIGERATOR, SHOWER_CURTAIN,
                  TOILET, SINK, BATHTUB, OTHERFURNITURE]


# ----------------------------------------------------------------------------------------------
# 2D footprint tests

def _obb_corners(fp) -> np.ndarray:
    cx, cy, hx, hy, yaw = fp
    c, s = np.cos(yaw), np.sin(yaw)
    local = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]])
    return local @ np.array([[c, s], [-s, c]]) + (cx, cy)


def _obb_overlap(a, b, margin: float) -> bool:
    """Separating-axis test of two 2D oriented boxes, each inflated by `margin`."""
    a = (a[0], a[1], a[2] + margin / 2, a[3] + margin / 2, a[4])
    b = (b[0], b[1], b[2] + margin / 2, b[3] + margin / 2, b[4])
    ca, cb = _obb_corners(a), _obb_corners(b)
    for yaw in (a[4], b[4]):
        for axis in (np.array([np.cos(yaw), np.sin(yaw)]), np.array([-np.sin(yaw), np.cos(yaw)])):
            pa, pb = ca @ axis, cb @ axis
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def _dist_points_obb(pts: np.ndarray, fp) -> np.ndarray:
    cx, cy, hx, hy, yaw = fp
    c, s = np.cos(yaw), np.sin(yaw)
    d = pts - (cx, cy)
    lx = np.abs(c * d[:, 0] + s * d[:, 1]) - hx
    ly = np.abs(-s * d[:, 0] + c * d[:, 1]) - hy
    return np.hypot(np.maximum(lx, 0), np.maximum(ly, 0))


# ----------------------------------------------------------------------------------------------
# appearance

def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _appearance(rng: np.random.Generator, label: int) -> tuple[np.ndarray, np.ndarray, int, float]:
    u = rng.uniform
    if label == WALL:
        c1 = _hsv_to_rgb(u(0, 1), u(0.02, 0.2), u(0.72, 0.92))
        tex, freq = int(rng.choice([0, 3, 1], p=[0.5, 0.3, 0.2])), u(1.0, 4.0)
    elif label == FLOOR:
        if rng.random() < 0.5:  # wood
            c1 = _hsv_to_rgb(u(0.05, 0.11), u(0.35, 0.65), u(0.35, 0.7))
            tex = 1
        else:  # tiles / carpet
            c1 = _hsv_to_rgb(u(0, 1), u(0.0, 0.25), u(0.35, 0.8))
            tex = int(rng.choice([2, 3]))
        freq = u(2.0, 6.0)
    elif label == CEILING:
        c1, tex, freq = _hsv_to_rgb(0.1, u(0, 0.05), u(0.85, 0.95)), 0, 1.0
    else:
        c1 = _hsv_to_rgb(u(0, 1), u(0.1, 0.75), u(0.25, 0.9))
        tex, freq = int(rng.integers(0, 4)), u(3.0, 14.0)
    c2 = np.clip(c1 * u(0.55, 0.85) + u(-0.05, 0.05, size=3), 0.0, 1.0)
    return c1, c2, tex, freq


# ----------------------------------------------------------------------------------------------
# the generator

class _Walls:
    """Occupied 1D intervals (with z ranges) along each of the four walls."""

    def __init__(self, L: np.ndarray) -> None:
        self.L = L
        self.used: list[list[tuple[float, float, float, float]]] = [[], [], [], []]

    def length(self, k: int) -> float:
        return float(self.L[0] if k in (0, 2) else self.L[1])

    def free(self, k: int, s0: float, s1: float, z0: float, z1: float, margin: float = 0.1) -> bool:
        if s0 < 0.05 or s1 > self.length(k) - 0.05:
            return False
        return all(s1 + margin <= a or s0 - margin >= b or z1 <= c or z0 >= d for a, b, c, d in self.used[k])

    def take(self, k: int, s0: float, s1: float, z0: float, z1: float) -> None:
        self.used[k].append((s0, s1, z0, z1))


def _wall_frame(L: np.ndarray, k: int, s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wall k (0: y=0, 1: x=Lx, 2: y=Ly, 3: x=0): point at arc length s, tangent, inward normal (2D)."""
    if k == 0:
        return np.array([s, 0.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0])
    if k == 1:
        return np.array([L[0], s]), np.array([0.0, 1.0]), np.array([-1.0, 0.0])
    if k == 2:
        return np.array([L[0] - s, L[1]]), np.array([-1.0, 0.0]), np.array([0.0, -1.0])
    return np.array([0.0, L[1] - s]), np.array([0.0, -1.0]), np.array([1.0, 0.0])


def generate_scene(seed: int, realistic: "RealisticConfig | None" = None) -> Scene:
    """A random furnished room, identical for identical seeds.

    `realistic` None draws the simple style (unchanged since the shipped model was trained on it);
    a `RealisticConfig` draws the realistic style from its own random stream: rooms of several sizes,
    some split in two by a wall with a doorway, clutter on tops and floors, textured looks and lights.
    """
    lay = realistic.layout if realistic is not None else None
    two_rooms = False
    if lay is None:
        rng = np.random.default_rng(seed)
        L = np.array([rng.uniform(3.0, 7.0), rng.uniform(3.0, 7.0), rng.uniform(2.5, 3.0)])
    else:
        rng = np.random.default_rng([int(seed), 0x5EA1])
        two_rooms = bool(rng.random() < lay.two_room_fraction)
        if two_rooms:
            L = np.array([rng.uniform(6.0, 9.5), rng.uniform(max(3.4, lay.room_size_m[0]), max(3.4, min(6.0, lay.room_size_m[1]))),
                          rng.uniform(*lay.height_m)])
        else:
            L = np.array([rng.uniform(*lay.room_size_m), rng.uniform(*lay.room_size_m), rng.uniform(*lay.height_m)])
    room_type = str(rng.choice(list(_ROOM_TYPES), p=list(_ROOM_TYPE_P)))
    b = _Builder()

    # room shell: floor, ceiling, four walls (one-sided quads facing into the room)
    Lx, Ly, Lz = L
    floor = b.new_object(FLOOR, "floor")
    b.quad(floor, np.array([[0, 0, 0], [Lx, 0, 0], [Lx, Ly, 0], [0, Ly, 0]]))
    ceiling = b.new_object(CEILING, "ceiling")
    b.quad(ceiling, np.array([[0, 0, Lz], [0, Ly, Lz], [Lx, Ly, Lz], [Lx, 0, Lz]]))
    corners = np.array([[0, 0], [Lx, 0], [Lx, Ly], [0, Ly]])
    for k in range(4):
        p, q = corners[k], corners[(k + 1) % 4]
        wall = b.new_object(WALL, "wall")
        b.quad(wall, np.array([[p[0], p[1], 0], [q[0], q[1], 0], [q[0], q[1], Lz], [p[0], p[1], Lz]]))

    walls = _Walls(L)
    footprints: list[tuple] = []
    objects_to_build: list[tuple[int, tuple, float, float, float]] = []  # label, footprint, w, d, h
    split = _partition(b, rng, L, walls, footprints) if two_rooms else None  # (x, door y, door w)

    # an anchor piece (bed, sofa, bathtub, counter) goes against a wall first; the walk loop is then
    # laid out in the rest of the room
    core, extra = _ROOM_TYPES[room_type]
    free_lo, free_hi = np.zeros(2), L[:2].copy()
    anchor = _ANCHORS.get(room_type) if split is None else None
    if anchor is not None and rng.random() < 0.9:
        for _try in range(10):
            w, d, h = _size(rng, anchor)
            k = int(rng.integers(0, 4))
            if walls.length(k) < w + 0.2:
                continue
            rest = (L[1] if k in (0, 2) else L[0]) - d
            if rest < 2.1:
                continue
            s = rng.uniform(w / 2 + 0.05, walls.length(k) - w / 2 - 0.05)
            p, t, n = _wall_frame(L, k, s)
            c2 = p + n * (d / 2 + 0.01)
            fp = (c2[0], c2[1], w / 2, d / 2, float(np.arctan2(t[1], t[0])))
            walls.take(k, s - w / 2, s + w / 2, 0.0, h)
            footprints.append(fp)
            objects_to_build.append((anchor, fp, w, d, h))
            axis = 1 if k in (0, 2) else 0
            if k in (0, 3):
                free_lo[axis] = d + 0.01
            else:
                free_hi[axis] = L[axis] - d - 0.01
            core = [c for c in core if c != anchor]
            break

    # walk loop: an ellipse in the free part of the room that furniture keeps clear of
    size = free_hi - free_lo
    centre = (free_lo + free_hi) / 2 + rng.uniform(-0.1, 0.1, size=2) * np.maximum(size - 3.0, 0.0)
    semi = np.clip(rng.uniform(0.18, 0.32, size=2) * size, 0.35, np.maximum(size / 2 - 0.95, 0.35))
    ang = np.linspace(0.0, 2.0 * np.pi, 96, endpoint=False)
    walk_loop = np.stack([centre[0] + semi[0] * np.cos(ang), centre[1] + semi[1] * np.sin(ang)], 1)
    if split is not None:  # a figure eight through the doorway: one lobe in each room
        xs, yd, _ = split
        a = min(xs, L[0] - xs) - 1.0
        bb = 2.0 * (min(yd, L[1] - yd) - 0.9)
        walk_loop = np.stack([xs + a * np.sin(ang), yd + bb * np.sin(ang) * np.cos(ang)], 1)
        centre = np.array([xs, yd])

    def footprint_ok(fp, margin: float = 0.06) -> bool:
        cs = _obb_corners(fp)
        if cs.min() < 0.005 or np.any(cs.max(axis=0) > L[:2] - 0.005):
            return False
        if _dist_points_obb(walk_loop, fp).min() < LOOP_CLEARANCE_M:
            return False
        return not any(_obb_overlap(fp, other, margin) for other in footprints)

    # doors first: they reserve the floor in front of them
    n_doors = 1 + int(rng.random() < 0.25)
    for _ in range(n_doors):
        for _try in range(30):
            k = int(rng.integers(0, 4))
            w, h = rng.uniform(0.8, 0.95), rng.uniform(2.0, min(2.15, Lz - 0.15))
            s0 = rng.uniform(0.1, walls.length(k) - w - 0.1)
            if not walls.free(k, s0, s0 + w, 0.0, Lz):
                continue
            p, t, n = _wall_frame(L, k, s0 + w / 2)
            keep_out = (*(p + n * 0.45), w / 2 + 0.05, 0.45, float(np.arctan2(t[1], t[0])))
            if any(_obb_overlap(keep_out, other, 0.0) for other in footprints):
                continue
            walls.take(k, s0, s0 + w, 0.0, Lz)
            footprints.append(keep_out)
            door = b.new_object(DOOR, "door")
            thick = rng.uniform(0.03, 0.05)
            c3 = np.array([*(p + n * thick / 2), h / 2])
            yaw = float(np.arctan2(t[1], t[0]))
            b.box(door, c3, (w, thick, h), yaw)
            knob = c3 + np.array([*(t * (w / 2 - 0.08) + n * (thick / 2 + 0.03)), -h / 2 + 1.0])
            b.box(door, knob, (0.1, 0.06, 0.03), yaw)
            break

    # furniture
    area = Lx * Ly
    n_target = int(min(rng.integers(6, 15), 5 + area / 2.2))
    n_target = max(n_target, 6)
    extra_classes = list(extra) + [c for c in _ALL_FURNITURE if c not in extra]
    extra_w = np.array([extra.get(c, 0.25) for c in extra_classes], dtype=np.float64)
    wanted = [c for c in core if rng.random() < 0.85]
    while len(wanted) < n_target + 4:  # a few spares for pieces that do not fit
        wanted.append(int(rng.choice(extra_classes, p=extra_w / extra_w.sum())))
    tables = []  # footprints of tables/desks that chairs may gather around
    placed = len(objects_to_build)
    for label in wanted:
        if placed >= n_target:
            break
        ok_fp = None
        for _try in range(60):
            w, d, h = _size(rng, label)
            if label == CHAIR and tables and rng.random() < 0.75:
                tx, ty, thx, thy, tyaw = tables[int(rng.integers(len(tables)))]
                side = int(rng.integers(0, 4))
                R2 = _rot_z(tyaw)[:2, :2]
                off_local = [(0, -(thy + d / 2 + 0.05)), (0, thy + d / 2 + 0.05),
                             (-(thx + d / 2 + 0.05), 0), (thx + d / 2 + 0.05, 0)][side]
                along = rng.uniform(-0.6, 0.6) * (thx if side < 2 else thy)
                off_local = np.array(off_local) + (np.array([along, 0]) if side < 2 else np.array([0, along]))
                c2 = np.array([tx, ty]) + R2 @ off_local
                face = np.arctan2(ty - c2[1], tx - c2[0])  # chair front (+y local) towards the table
                yaw = float(face - np.pi / 2 + rng.uniform(-0.3, 0.3))
                fp = (c2[0], c2[1], w / 2, d / 2, yaw)
                if footprint_ok(fp, margin=0.02):
                    ok_fp = fp
                    break
                continue
            wall_placed = label in _WALL_PLACED or (label == OTHERFURNITURE and rng.random() < 0.6)
            if wall_placed:
                k = int(rng.integers(0, 4))
                s = rng.uniform(w / 2, walls.length(k) - w / 2) if walls.length(k) > w else -1.0
                if s < 0:
                    continue
                p, t, n = _wall_frame(L, k, s)
                c2 = p + n * (d / 2 + 0.01)
                yaw = float(np.arctan2(t[1], t[0]))  # local +y (front) = inward normal
                fp = (c2[0], c2[1], w / 2, d / 2, yaw)
                if footprint_ok(fp) and walls.free(k, s - w / 2, s + w / 2, 0.0, h, margin=0.0):
                    walls.take(k, s - w / 2, s + w / 2, 0.0, h)
                    ok_fp = fp
                    break
            else:
                c2 = rng.uniform([0.3, 0.3], L[:2] - 0.3)
                yaw = float(rng.choice([0.0, np.pi / 2]) + rng.uniform(-0.2, 0.2) * (rng.random() < 0.5))
                fp = (c2[0], c2[1], w / 2, d / 2, yaw)
                if footprint_ok(fp):
                    ok_fp = fp
                    break
        if ok_fp is None:
            continue
        objects_to_build.append((label, ok_fp, w, d, h))
        footprints.append(ok_fp)
        if label in (TABLE, DESK):
            tables.append(ok_fp)
        placed += 1
    tops = []  # (footprint, top height) of pieces small objects may stand on
    for label, fp, w, d, h in objects_to_build:
        obj = b.new_object(label, _kind_name(label))
        obj.footprint = tuple(float(v) for v in fp)
        obj.height_m = float(h)
        _build(_Local(b, obj, fp[0], fp[1], fp[4]), rng, label, w, d, h)
        if label in (TABLE, DESK, COUNTER, OTHERFURNITURE) or (label == CABINET and h < 1.3):
            tops.append((fp, h))

    # windows, curtains, pictures on the free parts of the walls (above any furniture there)
    def wall_item(label: int, w: float, z0: float, z1: float, thick: float, gap: float = 0.0,
                  near: tuple[int, float] | None = None) -> tuple[int, float] | None:
        for _try in range(25):
            if near is None:
                k = int(rng.integers(0, 4))
                if walls.length(k) < w + 0.3:
                    continue
                s0 = rng.uniform(0.1, walls.length(k) - w - 0.1)
            else:
                k, s0 = near
            if walls.free(k, s0, s0 + w, z0, z1, margin=0.05):
                walls.take(k, s0, s0 + w, z0, z1)
                p, t, n = _wall_frame(L, k, s0 + w / 2)
                obj = b.new_object(label, _kind_name(label))
                b.box(obj, np.array([*(p + n * (gap + thick / 2)), (z0 + z1) / 2]), (w, thick, z1 - z0),
                      float(np.arctan2(t[1], t[0])))
                return k, s0
            if near is not None:
                return None
        return None

    for _ in range(int(rng.integers(0, 4))):
        w = rng.uniform(0.7, 1.6)
        sill = rng.uniform(0.8, 1.0)
        top = min(sill + rng.uniform(1.0, 1.4), Lz - 0.2)
        got = wall_item(WINDOW, w, sill, top, rng.uniform(0.02, 0.04))
        if got is not None and rng.random() < 0.6:  # curtains beside the window
            k, s0 = got
            cw = rng.uniform(0.25, 0.45)
            z0 = rng.uniform(0.02, sill - 0.2) if rng.random() < 0.6 else sill - 0.1
            z1 = min(top + 0.2, Lz - 0.05)
            for s in (s0 - cw - 0.02, s0 + w + 0.02):
                wall_item(CURTAIN, cw, z0, z1, rng.uniform(0.05, 0.1), gap=0.03, near=(k, s))
    if rng.random() < 0.25:  # a curtain on its own (room divider against the wall)
        z1 = Lz - 0.1
        wall_item(CURTAIN, rng.uniform(0.8, 2.0), rng.uniform(0.02, 0.3), z1, rng.uniform(0.05, 0.1), gap=0.03)
    for _ in range(int(rng.integers(0, 5))):
        w, hh = rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.8)
        zc = rng.uniform(1.2, 1.8)
        wall_item(PICTURE, w, zc - hh / 2, min(zc + hh / 2, Lz - 0.1), rng.uniform(0.02, 0.035))

    if lay is not None:
        _clutter(b, rng, lay, tops, footprints, footprint_ok, L)
        vertices, triangles, tri_labels, tri_object = b.mesh()
        look, lights = _realistic_look(b, rng, realistic, L, split)
        return Scene(seed=int(seed), room_type=room_type, room_size_m=L.astype(np.float32), vertices=vertices,
                     triangles=triangles, tri_labels=tri_labels, tri_object=tri_object, objects=b.objects,
                     primitives=b.prims, base_rgb=look.c1[:0], second_rgb=look.c2[:0],
                     texture=np.zeros(0, np.int8), texture_freq=np.zeros(0, np.float32),
                     texture_dirs=np.zeros((0, 3, 3), np.float32), texture_phase=np.zeros((0, 3), np.float32),
                     walk_loop=walk_loop.astype(np.float32), light_pos=lights.pos[0].copy(), look=look,
                     lights=lights, two_rooms=split is not None)
    vertices, triangles, tri_labels, tri_object = b.mesh()
    n_obj = len(b.objects)
    base = np.zeros((n_obj, 3), np.float32)
    second = np.zeros((n_obj, 3), np.float32)
    tex = np.zeros(n_obj, np.int8)
    freq = np.zeros(n_obj, np.float32)
    for o in b.objects:
        c1, c2, t, f = _appearance(rng, o.label)
        base[o.object_id], second[o.object_id], tex[o.object_id], freq[o.object_id] = c1, c2, t, f
    dirs = rng.normal(size=(n_obj, 3, 3))
    dirs /= np.linalg.norm(dirs, axis=2, keepdims=True)
    phase = rng.uniform(0, 2 * np.pi, size=(n_obj, 3))
    light = np.array([centre[0], centre[1], Lz - 0.3])
    return Scene(seed=int(seed), room_type=room_type, room_size_m=L.astype(np.float32), vertices=vertices,
                 triangles=triangles, tri_labels=tri_labels, tri_object=tri_object, objects=b.objects,
                 primitives=b.prims, base_rgb=base, second_rgb=second, texture=tex, texture_freq=freq,
                 texture_dirs=dirs.astype(np.float32), texture_phase=phase.astype(np.float32),
                 walk_loop=walk_loop.astype(np.float32), light_pos=light.astype(np.float32))


_NAMES = {WALL: "wall", FLOOR: "floor", CABINET: "cabinet", BED: "bed", CHAIR: "chair", SOFA: "sofa",
          TABLE: "table", DOOR: "door", WINDOW: "window", BOOKSHELF: "bookshelf", PICTURE: "picture",
          COUNTER: "counter", DESK: "desk", CURTAIN: "curtain", REFRIGERATOR: "refrigerator",
          SHOWER_CURTAIN: "shower curtain", TOILET: "toilet", SINK: "sink", BATHTUB: "bathtub",
          OTHERFURNITURE: "otherfurniture", CEILING: "ceiling"}


def _kind_name(label: int) -> str:
    return _NAMES[label]


def table_room(room_size_m: tuple[float, float, float] = (4.0, 4.0, 2.5),
               table: tuple[float, float, float, float, float, float] = (2.0, 2.0, 1.2, 0.8, 0.75, 0.3),
               seed: int = 0) -> Scene:
    """An empty room with one rectangular table: the smallest scene whose truth a navigation layer can be
    checked against (floor at z = 0, the table's footprint in `objects[-1].footprint`).

    `table` = (cx, cy, width, depth, height, yaw) in metres / radians: a top 4 cm thick covering the whole
    width x depth footprint on four legs. The walk loop is a circle around the table, 0.6 m clear of it."""
    rng = np.random.default_rng(seed)
    L = np.asarray(room_size_m, dtype=np.float64)
    cx, cy, w, d, h, yaw = (float(v) for v in table)
    b = _Builder()
    Lx, Ly, Lz = L
    b.quad(b.new_object(FLOOR, "floor"), np.array([[0, 0, 0], [Lx, 0, 0], [Lx, Ly, 0], [0, Ly, 0]]))
    b.quad(b.new_object(CEILING, "ceiling"), np.array([[0, 0, Lz], [0, Ly, Lz], [Lx, Ly, Lz], [Lx, 0, Lz]]))
    corners = np.array([[0, 0], [Lx, 0], [Lx, Ly], [0, Ly]])
    for k in range(4):
        p, q = corners[k], corners[(k + 1) % 4]
        b.quad(b.new_object(WALL, "wall"),
               np.array([[p[0], p[1], 0], [q[0], q[1], 0], [q[0], q[1], Lz], [p[0], p[1], Lz]]))
    obj = b.new_object(TABLE, "table")
    obj.footprint, obj.height_m = (cx, cy, w / 2, d / 2, yaw), h
    loc = _Local(b, obj, cx, cy, yaw)
    t = 0.04
    loc.box((0, 0, h - t / 2), (w, d, t))
    _legs(loc, w, d, h - t, 0.03, 0.05, False)
    vertices, triangles, tri_labels, tri_object = b.mesh()
    n_obj = len(b.objects)
    look = [_appearance(rng, o.label) for o in b.objects]
    radius = np.hypot(w, d) / 2 + 0.6
    ang = np.linspace(0.0, 2.0 * np.pi, 96, endpoint=False)
    loop = np.stack([cx + radius * np.cos(ang), cy + radius * np.sin(ang)], 1)
    dirs = rng.normal(size=(n_obj, 3, 3))
    dirs /= np.linalg.norm(dirs, axis=2, keepdims=True)
    return Scene(seed=int(seed), room_type="table_room", room_size_m=L.astype(np.float32), vertices=vertices,
                 triangles=triangles, tri_labels=tri_labels, tri_object=tri_object, objects=b.objects,
                 primitives=b.prims, base_rgb=np.array([lk[0] for lk in look], np.float32),
                 second_rgb=np.array([lk[1] for lk in look], np.float32),
                 texture=np.array([lk[2] for lk in look], np.int8),
                 texture_freq=np.array([lk[3] for lk in look], np.float32), texture_dirs=dirs.astype(np.float32),
                 texture_phase=rng.uniform(0, 2 * np.pi, size=(n_obj, 3)).astype(np.float32),
                 walk_loop=loop.astype(np.float32), light_pos=np.array([cx, cy, Lz - 0.3], np.float32))


# ----------------------------------------------------------------------------------------------
# realistic style: partition, clutter, looks and lights

def _partition(b: _Builder, rng: np.random.Generator, L: np.ndarray, walls: _Walls, footprints: list
               ) -> tuple[float, float, float]:
    """A wall across x = xs with a doorway (and its door leaf folded open against the wall); (xs, yd, w)."""
    Lx, Ly, Lz = L
    xs = float(rng.uniform(0.42, 0.58) * Lx)
    w = float(rng.uniform(0.85, 1.0))
    yd = float(rng.uniform(1.5, Ly - 1.5)) if Ly > 3.0 else Ly / 2
    door_h = float(rng.uniform(2.0, min(2.15, Lz - 0.2)))
    t = 0.1
    wall = b.new_object(WALL, "wall")
    y0, y1 = yd - w / 2, yd + w / 2
    b.box(wall, (xs, y0 / 2, Lz / 2), (t, y0, Lz))
    b.box(wall, (xs, (y1 + Ly) / 2, Lz / 2), (t, Ly - y1, Lz))
    b.box(wall, (xs, yd, (door_h + Lz) / 2), (t, w, Lz - door_h))
    door = b.new_object(DOOR, "door")
    b.box(door, (xs + t / 2 + 0.02, y1 + w / 2 + 0.01, door_h / 2), (0.04, w, door_h))
    for k, s0 in ((0, xs), (2, Lx - xs)):  # nothing hangs on or stands across the partition's ends
        walls.take(k, s0 - t, s0 + t, 0.0, Lz)
    footprints.append((xs, y0 / 2, t / 2 + 0.05, y0 / 2, 0.0))
    footprints.append((xs, (y1 + Ly) / 2, t / 2 + 0.05, (Ly - y1) / 2, 0.0))
    footprints.append((xs + 0.07, y1 + w / 2, 0.1, w / 2 + 0.05, 0.0))  # the open door leaf
    footprints.append((xs, yd, 0.75, w / 2, 0.0))  # keep the doorway walkable
    return xs, yd, w


def _clutter(b: _Builder, rng: np.random.Generator, lay, tops: list, footprints: list, footprint_ok, L) -> None:
    """Small objects (label ignore, like ScanNet's otherprop) on tops of furniture and on the floor."""
    u = rng.uniform
    for fp, h in tops:
        cx, cy, hx, hy, yaw = fp
        R = _rot_z(yaw)[:2, :2]
        placed: list[tuple[float, float, float]] = []
        for _ in range(int(rng.integers(lay.clutter_per_surface[0], lay.clutter_per_surface[1] + 1))):
            for _try in range(10):
                kind = int(rng.integers(0, 4))
                size = [(u(0.14, 0.24), u(0.18, 0.28), u(0.02, 0.05)), (u(0.05, 0.14),) * 2 + (u(0.08, 0.35),),
                        (u(0.08, 0.3), u(0.08, 0.3), u(0.06, 0.25)), (u(0.28, 0.34), u(0.2, 0.24), u(0.015, 0.03))][kind]
                r = 0.5 * float(np.hypot(size[0], size[1]))
                x, y = u(-1, 1) * hx, u(-1, 1) * hy
                if (x / max(hx - r, 1e-3)) ** 2 + (y / max(hy - r, 1e-3)) ** 2 > 0.5 or hx < r + 0.03 or hy < r + 0.03:
                    continue
                if any(np.hypot(x - a, y - c) < r + q + 0.02 for a, c, q in placed):
                    continue
                placed.append((x, y, r))
                c2 = np.array([cx, cy]) + R @ np.array([x, y])
                _clutter_item(b, rng, kind, size, c2, h, yaw + u(-0.5, 0.5))
                break
    n_floor = int(rng.integers(lay.floor_clutter[0], lay.floor_clutter[1] + 1))
    for _ in range(n_floor):
        for _try in range(20):
            size = (u(0.25, 0.5), u(0.2, 0.45), u(0.2, 0.55))
            c2 = rng.uniform([0.3, 0.3], L[:2] - 0.3)
            yaw = u(-np.pi, np.pi)
            fp = (c2[0], c2[1], size[0] / 2, size[1] / 2, yaw)
            if footprint_ok(fp, margin=0.04):
                footprints.append(fp)
                _clutter_item(b, rng, int(rng.choice([1, 2])), size, c2, 0.0, yaw)
                break


def _clutter_item(b: _Builder, rng: np.random.Generator, kind: int, size, c2, z0: float, yaw: float) -> None:
    """kind 0: a stack of books, 1: a cylinder (cup, bottle, bin), 2: a box, 3: a flat box (laptop, tray)."""
    obj = b.new_object(IGNORE_ID, "clutter")
    w, d, h = size
    if kind == 0:
        z = z0 + 0.0005
        for _ in range(int(rng.integers(1, 5))):
            bh = rng.uniform(0.02, 0.05)
            b.box(obj, (c2[0] + rng.uniform(-0.02, 0.02), c2[1] + rng.uniform(-0.02, 0.02), z + bh / 2),
                  (w * rng.uniform(0.8, 1.0), d * rng.uniform(0.8, 1.0), bh), yaw + rng.uniform(-0.2, 0.2))
            z += bh + 0.0005
    elif kind == 1:
        b.cylinder(obj, (c2[0], c2[1], z0 + 0.0005 + h / 2), min(w, d) / 2, h)
    else:
        b.box(obj, (c2[0], c2[1], z0 + 0.0005 + h / 2), (w, d, h), yaw)


def _realistic_look(b: _Builder, rng: np.random.Generator, cfg: "RealisticConfig", L: np.ndarray,
                    split: tuple[float, float, float] | None) -> tuple["Look", Lights]:
    """Textured look per surface part (shared per object, own for books and clutter) and the lights."""
    from gnesf_ros.data.textures import Look, draw_look

    roles = {WALL: "wall", FLOOR: "floor", PICTURE: "picture"}
    obj_look = {}
    rows = []  # (family, c1, c2, scale, shininess, yaw)
    part_look = np.empty(len(b.part_prim), np.int32)
    lo, hi = cfg.textures.scale_range
    for part, prim_i in enumerate(b.part_prim):
        obj_id = int(b.objs[part][0])
        o = b.objects[obj_id]
        prim = b.prims[prim_i] if prim_i >= 0 else None
        book = o.label == BOOKSHELF and prim is not None and prim.kind == "box" and prim.half_extents[0] < 0.031
        own = book or o.kind == "clutter"
        if not own and obj_id in obj_look:
            part_look[part] = obj_look[obj_id]
            continue
        role = "book" if book else ("clutter" if o.kind == "clutter" else ("wall" if o.kind == "ceiling"
                                                                           else roles.get(o.label, "furniture")))
        fam, c1, c2, _, shiny = draw_look(rng, role)
        yaw = prim.yaw if prim is not None else 0.0
        rows.append((fam, c1, c2, rng.uniform(lo, hi), shiny, yaw))
        part_look[part] = len(rows) - 1
        if not own:
            obj_look[obj_id] = len(rows) - 1
    tri_look = part_look[np.concatenate(b.tri_part)]
    angle = np.array([rng.choice([0.0, np.pi / 2]) + rng.uniform(-0.05, 0.05) for _ in rows], np.float32)
    look = Look(family=np.array([r[0] for r in rows], np.int8), c1=np.array([r[1] for r in rows], np.float32),
                c2=np.array([r[2] for r in rows], np.float32), scale=np.array([r[3] for r in rows], np.float32),
                angle=angle, yaw=np.array([r[5] for r in rows], np.float32),
                seed=rng.integers(0, 2 ** 31, size=len(rows)).astype(np.int64),
                shininess=np.array([r[4] for r in rows], np.float32), tri_look=tri_look.astype(np.int32))
    li = cfg.lighting
    rooms = [(0.0, L[0])] if split is None else [(0.0, split[0]), (split[0], L[0])]
    pos, rgb = [], []
    for x0, x1 in rooms:
        for _ in range(int(rng.integers(li.lights_per_room[0], li.lights_per_room[1] + 1))):
            pos.append([rng.uniform(x0 + 0.4, x1 - 0.4), rng.uniform(0.4, L[1] - 0.4), L[2] - 0.05])
            t = rng.uniform(-1, 1) * li.light_tint
            rgb.append(rng.uniform(*li.intensity_range) * np.array([1 + t, 1 + 0.2 * t, 1 - t]))
    bias = float(2.0 ** rng.normal(0.0, li.exposure_log_std))
    if rng.random() < li.extreme_fraction:
        bias = float(rng.uniform(0.3, 0.55) if rng.random() < 0.5 else rng.uniform(1.8, 2.8))
    t = rng.uniform(-1, 1) * li.white_balance
    lights = Lights(pos=np.array(pos, np.float32), rgb=np.array(rgb, np.float32), ambient=float(li.ambient),
                    exposure_bias=bias, white_balance=np.array([1 + t, 1.0, 1 - t], np.float32))
    return look, lights
