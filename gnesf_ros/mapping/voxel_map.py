"""The global sparse semantic voxel map: sorted packed int64 voxel keys + per-voxel arrays, all vectorised.

Per voxel: fused SDF (weighted running average, metres), SDF weight (float32: no saturating counter),
class-probability sums (C float32, weighted accumulation), observation count (int64), colour (RGB float32
weighted mean), and, when depth images are fused, the mean offset of the depth hits that fell in the voxel
from its centre with their count (the measured surface inside the voxel). label = argmax of the sums,
confidence = max of the normalised sums; a voxel whose sums are all zero has unknown semantics (IGNORE_ID),
never a made-up class.

The map also records which blocks (cubes of `block_voxels`^3 voxels) changed since the record was last taken
(`pop_touched_blocks`): the incremental mesher (mapping/mesh.py) re-meshes only those.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError
from gnesf_ros.geometry.surface import central_gradient, newton_step
from gnesf_ros.geometry.voxel_keys import (KEY_BITS, KEY_LIMIT, KEY_MASK, KEY_OFFSET,  # noqa: F401 - re-exported
                                           pack_keys, sorted_lookup, unpack_keys)

NEIGHBOUR_OFFSETS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.int64)


@dataclass
class VoxelArrays:
    """The map's state: sorted unique packed keys (N,) and per-voxel arrays in the same order."""

    keys: np.ndarray  # (N,) int64 packed, strictly increasing
    sdf_m: np.ndarray  # (N,) float32
    weight: np.ndarray  # (N,) float32
    prob_sum: np.ndarray  # (N, C) float32
    count: np.ndarray  # (N,) int64
    rgb: np.ndarray  # (N, 3) float32 in [0, 1]
    hit_offset_m: np.ndarray  # (N, 3) float32 mean depth hit in the voxel minus its centre (0 without hits)
    hit_count: np.ndarray  # (N,) int64 depth hits that fell in the voxel

    FIELDS = ("keys", "sdf_m", "weight", "prob_sum", "count", "rgb", "hit_offset_m", "hit_count")
    OPTIONAL_FIELDS = ("hit_offset_m", "hit_count")
    """Fields a map file may lack (saved before they existed): they load as zeros (no depth hits)."""
    DTYPES = {"keys": np.int64, "sdf_m": np.float32, "weight": np.float32, "prob_sum": np.float32,
              "count": np.int64, "rgb": np.float32, "hit_offset_m": np.float32, "hit_count": np.int64}

    @classmethod
    def empty(cls, num_classes: int) -> "VoxelArrays":
        shapes = cls.shapes(0, num_classes)
        return cls(**{f: np.zeros(shapes[f], cls.DTYPES[f]) for f in cls.FIELDS})

    @staticmethod
    def shapes(n: int, num_classes: int) -> dict[str, tuple[int, ...]]:
        """The shape of each field for a map of n voxels."""
        return {"keys": (n,), "sdf_m": (n,), "weight": (n,), "prob_sum": (n, num_classes), "count": (n,),
                "rgb": (n, 3), "hit_offset_m": (n, 3), "hit_count": (n,)}

    def take(self, idx: np.ndarray) -> "VoxelArrays":
        return VoxelArrays(*(getattr(self, f)[idx] for f in self.FIELDS))

    def check(self, num_classes: int) -> None:
        """Raise ValueError when the arrays are not a consistent map (shapes, dtypes, sorted unique keys)."""
        shapes = self.shapes(self.keys.shape[0], num_classes)
        for f in self.FIELDS:
            a = getattr(self, f)
            if a.shape != shapes[f] or a.dtype != self.DTYPES[f]:
                raise ValueError(f"array {f}: expected {shapes[f]} {np.dtype(self.DTYPES[f])}, got {a.shape} {a.dtype}")
        if self.keys.shape[0] > 1 and not np.all(np.diff(self.keys) > 0):
            raise ValueError("voxel keys are not strictly increasing")


EVIDENCE_KINDS = ("linear", "log")


class VoxelMap:
    """Sparse voxel map on the grid voxel key * voxel_size_m. Lookups by np.searchsorted on sorted keys."""

    def __init__(self, num_classes: int, voxel_size_m: float, evidence: str = "linear", block_voxels: int = 16):
        """evidence: what `prob_sum` sums. "linear": weighted class probabilities (confidence = max / sum).
        "log": log-likelihood evidence log((p + eps) / eps) >= 0 (Bayesian fusion; confidence = the max of
        softmax(prob_sum), the normalised posterior under a uniform prior).
        block_voxels: edge (voxels) of the blocks whose changes are recorded (`pop_touched_blocks`); the mesher
        meshes per block of this size."""
        if num_classes < 1:
            raise InputError(f"num_classes must be >= 1, got {num_classes}")
        if evidence not in EVIDENCE_KINDS:
            raise InputError(f"evidence must be one of {EVIDENCE_KINDS}, got {evidence!r}")
        if block_voxels < 1:
            raise InputError(f"block_voxels must be >= 1, got {block_voxels}")
        self.evidence = evidence
        self.num_classes = num_classes
        self.voxel_size_m = float(voxel_size_m)
        self.block_voxels = int(block_voxels)
        self._touched: list[np.ndarray] = []  # packed block keys changed since the last pop (unconsolidated)
        self._data = VoxelArrays.empty(num_classes)
        self.dropped = 0  # voxels removed by caps / clearing since construction

    @property
    def data(self) -> VoxelArrays:
        return self._data

    @data.setter
    def data(self, data: VoxelArrays) -> None:
        """Replace the whole map (e.g. a loaded file): the blocks of the old and the new voxels count as touched."""
        self._touch(self._data.keys)
        self._data = data
        self._touch(data.keys)

    def __len__(self) -> int:
        return int(self._data.keys.shape[0])

    def clear(self) -> None:
        self.data = VoxelArrays.empty(self.num_classes)

    # ---- the touched-blocks record ----------------------------------------------------------------------
    def block_keys(self, packed: np.ndarray) -> np.ndarray:
        """Packed voxel keys (P,) -> the packed keys (P,) of the blocks holding them (floor(ijk / block_voxels))."""
        packed = np.asarray(packed, dtype=np.int64)
        b = self.block_voxels
        if b & (b - 1):  # not a power of two: unpack, divide, pack
            return pack_keys(np.floor_divide(unpack_keys(packed), b))
        shift = b.bit_length() - 1  # KEY_OFFSET is a multiple of b: floor((k + OFF) / b) = floor(k / b) + OFF / b
        base = KEY_OFFSET - (KEY_OFFSET >> shift)
        out = np.zeros_like(packed)
        for axis_shift in (2 * KEY_BITS, KEY_BITS, 0):
            out |= ((((packed >> axis_shift) & KEY_MASK) >> shift) + base) << axis_shift
        return out

    def _touch(self, packed: np.ndarray) -> None:
        """Record the blocks of voxels (packed keys) whose data changed or that were removed."""
        if packed.size == 0:
            return
        self._touched.append(np.unique(self.block_keys(packed)))
        if len(self._touched) >= 32:  # consolidate now and then: the record stays as small as the set of blocks
            self._touched = [self.touched_blocks()]

    def touched_blocks(self) -> np.ndarray:
        """Packed keys (K,) int64, sorted unique, of the blocks touched since the last `pop_touched_blocks`."""
        if not self._touched:
            return np.zeros(0, np.int64)
        return np.unique(np.concatenate(self._touched))

    def pop_touched_blocks(self) -> np.ndarray:
        """`touched_blocks()`, and start a new record (one consumer: the incremental mesher)."""
        out = self.touched_blocks()
        self._touched = []
        return out

    def lookup(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Packed keys (P,) -> (index (P,) into the map arrays, found (P,) bool)."""
        return sorted_lookup(self.data.keys, packed)

    def integrate(self, ijk: np.ndarray, sdf_m: np.ndarray, weight: np.ndarray, probs: np.ndarray,
                  rgb: np.ndarray | None = None, sem_weight: np.ndarray | None = None,
                  create: np.ndarray | None = None, hit_offset_m: np.ndarray | None = None,
                  hit_count: np.ndarray | None = None) -> int:
        """Fuse one observation per voxel.

        Args:
            ijk: (P,) packed or (P, 3) integer keys, unique.
            sdf_m: (P,) observed SDF (m); weight (P,) > 0 its weight: sdf <- (w sdf + w' sdf') / (w + w').
            probs: (P, C) class probabilities (an all-zero row = no vote); prob_sum += sem_weight * probs.
            rgb: (P, 3) colour in [0, 1] (weighted mean like the SDF); None keeps the colour.
            sem_weight: (P,) weight of the semantic vote (default: `weight`).
            create: (P,) bool, voxels new to the map are added only where True (default: all).
            hit_offset_m, hit_count: (P, 3) mean offset of this observation's depth hits from each voxel's centre
                and (P,) their number (0 = none); merged as a count-weighted mean. None = no depth hits.
        Returns the number of voxels created.
        """
        packed = np.asarray(ijk, dtype=np.int64)
        if packed.ndim == 2:
            packed = pack_keys(packed)
        p = packed.shape[0]
        sdf_m = np.asarray(sdf_m, dtype=np.float32).reshape(-1)
        weight = np.asarray(weight, dtype=np.float32).reshape(-1)
        probs = np.asarray(probs, dtype=np.float32)
        sem_weight = weight if sem_weight is None else np.asarray(sem_weight, dtype=np.float32).reshape(-1)
        if sdf_m.shape != (p,) or weight.shape != (p,) or sem_weight.shape != (p,) or probs.shape != (p, self.num_classes):
            raise InputError(f"integrate: expected sdf/weight (P,) and probs (P, {self.num_classes}) with P = {p}, "
                             f"got {sdf_m.shape}, {weight.shape}, {probs.shape}")
        if rgb is not None and np.shape(rgb) != (p, 3):
            raise InputError(f"integrate: rgb must be (P, 3) = ({p}, 3), got {np.shape(rgb)}")
        if (hit_offset_m is None) != (hit_count is None):
            raise InputError("integrate: hit_offset_m and hit_count come together")
        if hit_offset_m is None:
            hit_offset_m, hit_count = np.zeros((p, 3), np.float32), np.zeros(p, np.int64)
        hit_offset_m = np.asarray(hit_offset_m, dtype=np.float32)
        hit_count = np.asarray(hit_count, dtype=np.int64).reshape(-1)
        if hit_offset_m.shape != (p, 3) or hit_count.shape != (p,) or np.any(hit_count < 0) \
                or not np.all(np.isfinite(hit_offset_m)):
            raise InputError(f"integrate: hit_offset_m must be finite (P, 3) and hit_count (P,) >= 0 with P = {p}, "
                             f"got {hit_offset_m.shape}, {hit_count.shape}")
        if np.any(weight <= 0) or np.any(sem_weight < 0) or not np.all(np.isfinite(sdf_m)) or not np.all(np.isfinite(probs)):
            raise InputError("integrate: weights must be > 0 (semantic weights >= 0), SDF and probabilities finite")
        order = np.argsort(packed, kind="stable")
        packed = packed[order]
        if p > 1 and np.any(packed[1:] == packed[:-1]):
            raise InputError("integrate: voxel keys must be unique within one observation")
        sdf_m, weight, sem_weight, probs = sdf_m[order], weight[order], sem_weight[order], probs[order]
        hit_offset_m, hit_count = hit_offset_m[order], hit_count[order]
        rgb = None if rgb is None else np.asarray(rgb, dtype=np.float32)[order]
        create = np.ones(p, dtype=bool) if create is None else np.asarray(create, dtype=bool).reshape(-1)[order]

        d = self.data
        idx, found = self.lookup(packed)
        # update existing voxels in place (unique keys -> unique indices, so fancy-index updates are exact)
        i = idx[found]
        w_old, w_new = d.weight[i], weight[found]
        w_sum = w_old + w_new
        d.sdf_m[i] = (d.sdf_m[i] * w_old + sdf_m[found] * w_new) / w_sum
        if rgb is not None:
            d.rgb[i] = (d.rgb[i] * w_old[:, None] + rgb[found] * w_new[:, None]) / w_sum[:, None]
        d.weight[i] = w_sum
        d.prob_sum[i] += sem_weight[found, None] * probs[found]
        d.count[i] += 1
        hit = hit_count[found] > 0  # voxels this observation's depth hit: count-weighted mean of the offsets
        j, n_old, n_new = i[hit], d.hit_count[i[hit]], hit_count[found][hit]
        d.hit_offset_m[j] = ((d.hit_offset_m[j] * n_old[:, None] + hit_offset_m[found][hit] * n_new[:, None])
                             / (n_old + n_new)[:, None]).astype(np.float32)
        d.hit_count[j] = n_old + n_new
        # insert new voxels (sorted, so np.insert keeps the keys sorted)
        new = ~found & create
        if np.any(new):
            at = np.searchsorted(d.keys, packed[new])
            new_rgb = rgb[new] if rgb is not None else np.zeros((int(new.sum()), 3), np.float32)
            self._data = VoxelArrays(
                keys=np.insert(d.keys, at, packed[new]),
                sdf_m=np.insert(d.sdf_m, at, sdf_m[new]),
                weight=np.insert(d.weight, at, weight[new]),
                prob_sum=np.insert(d.prob_sum, at, sem_weight[new, None] * probs[new], axis=0),
                count=np.insert(d.count, at, np.ones(int(new.sum()), np.int64)),
                rgb=np.insert(d.rgb, at, new_rgb, axis=0),
                hit_offset_m=np.insert(d.hit_offset_m, at, hit_offset_m[new], axis=0),
                hit_count=np.insert(d.hit_count, at, hit_count[new]))
        self._touch(packed[found | new])
        return int(new.sum())

    # ---- read-out -------------------------------------------------------------------------------------
    def ijk(self) -> np.ndarray:
        """Integer keys (N, 3) int64."""
        return unpack_keys(self.data.keys)

    def centers_m(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Centres (N, 3) float64 of voxels idx (all when None); only those keys are unpacked."""
        keys = self.data.keys if idx is None else self.data.keys[idx]
        return unpack_keys(keys).astype(np.float64) * self.voxel_size_m

    def labels(self, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """label (N,) uint16 (IGNORE_ID where no semantic mass) and confidence (N,) float32 (0 there), of voxels idx
        (all when None; the mesher asks for the few it needs)."""
        ps = self.data.prob_sum if idx is None else self.data.prob_sum[idx]
        total = ps.sum(axis=1, dtype=np.float64)
        known = total > 0
        label = np.full(ps.shape[0], IGNORE_ID, dtype=np.uint16)
        conf = np.zeros(ps.shape[0], dtype=np.float32)
        if ps.shape[0]:
            label[known] = np.argmax(ps[known], axis=1).astype(np.uint16)
            if self.evidence == "log":  # posterior max = 1 / sum_c exp(e_c - e_max)
                e = ps[known].astype(np.float64)
                conf[known] = (1.0 / np.exp(e - e.max(axis=1, keepdims=True)).sum(axis=1)).astype(np.float32)
            else:
                conf[known] = (ps[known].max(axis=1) / total[known]).astype(np.float32)
        return label, conf

    def hit_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean depth hit of every voxel that has one: indices (M,) into the map arrays and points (M, 3) float64."""
        idx = np.nonzero(self.data.hit_count > 0)[0]
        return idx, self.centers_m(idx) + self.data.hit_offset_m[idx].astype(np.float64)

    def neighbour(self, ijk: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Voxels at ijk (P, 3) + offset (3,) -> (index (P,) into the map arrays, found (P,) bool); keys past the
        grid's limits are not found."""
        nb = ijk + offset
        inside = np.all((nb >= -KEY_OFFSET) & (nb <= KEY_LIMIT), axis=1)
        packed = np.zeros(nb.shape[0], dtype=np.int64)
        packed[inside] = pack_keys(nb[inside])
        idx, found = self.lookup(packed)
        return idx, found & inside

    def surface_mask(self) -> np.ndarray:
        """(N,) bool: |sdf| < voxel size, or a sign change to a 6-neighbour with |sdf| <= the neighbour's."""
        d = self.data
        n = d.keys.shape[0]
        if n == 0:
            return np.zeros(0, dtype=bool)
        surface = np.abs(d.sdf_m) < self.voxel_size_m
        ijk = self.ijk()
        for off in NEIGHBOUR_OFFSETS:  # 6 vectorised lookups
            idx, found = self.neighbour(ijk, off)
            sn = d.sdf_m[idx]
            crossing = found & (np.sign(sn) != np.sign(d.sdf_m)) & (np.abs(d.sdf_m) <= np.abs(sn))
            surface |= crossing
        return surface

    def surface_points(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Points (N, 3) float64 on the SDF's zero level near voxels idx (all when None): each centre moved by one
        Newton step along the SDF gradient from its 6 neighbours (geometry/surface.py); a voxel without usable
        neighbours keeps its centre."""
        d = self.data
        idx = np.arange(len(self)) if idx is None else np.asarray(idx, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return np.zeros((0, 3))
        ijk = unpack_keys(d.keys[idx])
        sdf = d.sdf_m[idx].astype(np.float64)
        observed = d.weight > 0
        grad = np.zeros((idx.size, 3))
        for axis, (minus, plus) in enumerate(zip(NEIGHBOUR_OFFSETS[1::2], NEIGHBOUR_OFFSETS[0::2])):
            (j_minus, has_minus), (j_plus, has_plus) = self.neighbour(ijk, minus), self.neighbour(ijk, plus)
            grad[:, axis] = central_gradient(d.sdf_m[j_minus].astype(np.float64), sdf,
                                             d.sdf_m[j_plus].astype(np.float64), has_minus & observed[j_minus],
                                             has_plus & observed[j_plus], self.voxel_size_m)
        return ijk.astype(np.float64) * self.voxel_size_m + newton_step(sdf, grad, max_step_m=self.voxel_size_m)

    # ---- memory bounds --------------------------------------------------------------------------------
    def _keep(self, keep: np.ndarray) -> int:
        dropped = int((~keep).sum())
        if dropped:
            self._touch(self._data.keys[~keep])
            self._data = self._data.take(np.nonzero(keep)[0])
            self.dropped += dropped
        return dropped

    def enforce_max_voxels(self, max_voxels: int, camera_m: np.ndarray) -> int:
        """Keep the max_voxels voxels nearest to camera_m (3,) (ties: smaller key kept). Returns how many dropped."""
        n = len(self)
        if max_voxels <= 0 or n <= max_voxels:
            return 0
        dist = np.linalg.norm(self.centers_m() - np.asarray(camera_m, dtype=np.float64)[None], axis=1)
        order = np.argsort(dist, kind="stable")  # stable: deterministic among equal distances
        keep = np.zeros(n, dtype=bool)
        keep[order[:max_voxels]] = True
        return self._keep(keep)

    def clear_outside_radius(self, camera_m: np.ndarray, radius_m: float) -> int:
        """Drop voxels whose centre is farther than radius_m from camera_m (3,). Returns how many dropped."""
        if radius_m <= 0 or len(self) == 0:
            return 0
        dist = np.linalg.norm(self.centers_m() - np.asarray(camera_m, dtype=np.float64)[None], axis=1)
        return self._keep(dist <= radius_m)
