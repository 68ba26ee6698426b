"""Integer voxel keys (i, j, k) packed into one int64 (21 bits per axis), the one packing of the project: the
mapper's `VoxelMap` and fragments, the mesher's blocks and the baselines' sparse maps all use it (2026-12-04;
before, mapping/voxel_map.py and eval/baselines.py each had a copy)."""
from __future__ import annotations

import numpy as np

from gnesf_ros.errors import InputError

KEY_BITS = 21
KEY_OFFSET = 1 << (KEY_BITS - 1)
KEY_MASK = (1 << KEY_BITS) - 1
KEY_LIMIT = KEY_OFFSET - 1
"""Keys must lie in [-KEY_OFFSET, KEY_LIMIT] per axis: about +-42 km at 4 cm voxels."""


def pack_keys(ijk: np.ndarray) -> np.ndarray:
    """Integer voxel keys (N, 3) -> packed (N,) int64 (21 bits per axis; order of packed = lexicographic order)."""
    ijk = np.asarray(ijk, dtype=np.int64)
    if ijk.ndim != 2 or ijk.shape[1] != 3:
        raise InputError(f"voxel keys must be (N, 3), got {ijk.shape}")
    if ijk.size and (ijk.min() < -KEY_OFFSET or ijk.max() > KEY_LIMIT):
        raise InputError(f"voxel keys must lie in [{-KEY_OFFSET}, {KEY_LIMIT}] (the key range of {KEY_BITS} bits "
                         f"per axis), got [{ijk.min()}, {ijk.max()}]")
    b = ijk + KEY_OFFSET
    return (b[:, 0] << (2 * KEY_BITS)) | (b[:, 1] << KEY_BITS) | b[:, 2]


def unpack_keys(packed: np.ndarray) -> np.ndarray:
    """Packed (N,) int64 -> integer voxel keys (N, 3) int64."""
    packed = np.asarray(packed, dtype=np.int64)
    return np.stack([(packed >> (2 * KEY_BITS)) & KEY_MASK, (packed >> KEY_BITS) & KEY_MASK, packed & KEY_MASK],
                    axis=1) - KEY_OFFSET


def sorted_lookup(keys: np.ndarray, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where packed keys (P,) sit in strictly increasing keys (N,): (index (P,) clipped to 0..N-1, found (P,) bool)."""
    packed = np.asarray(packed, dtype=np.int64)
    idx = np.searchsorted(keys, packed)
    found = idx < keys.shape[0]
    found[found] = keys[idx[found]] == packed[found]
    return np.minimum(idx, max(keys.shape[0] - 1, 0)), found
