"""The one voxel-key packing (geometry/voxel_keys.py) that the map, fragments, mesher and baselines share."""
import numpy as np
import pytest

from gnesf_ros.errors import InputError
from gnesf_ros.geometry.voxel_keys import KEY_LIMIT, KEY_OFFSET, pack_keys, sorted_lookup, unpack_keys


def test_pack_by_hand_and_round_trip():
    # (0, 0, 0) sits at the offset on every axis: 2^20 * (2^42 + 2^21 + 1)
    assert pack_keys(np.zeros((1, 3), np.int64))[0] == (1 << 20) * ((1 << 42) + (1 << 21) + 1)
    ijk = np.array([[0, 0, 0], [-5, 7, 123456], [-KEY_OFFSET, KEY_LIMIT, -1]])
    np.testing.assert_array_equal(unpack_keys(pack_keys(ijk)), ijk)


def test_packed_order_is_lexicographic():
    rng = np.random.default_rng(0)
    ijk = rng.integers(-50, 50, size=(200, 3))
    np.testing.assert_array_equal(np.argsort(pack_keys(ijk), kind="stable"), np.lexsort(ijk.T[::-1]))


@pytest.mark.parametrize("bad", [[[KEY_OFFSET, 0, 0]], [[0, -KEY_OFFSET - 1, 0]]])
def test_out_of_range_and_bad_shape_are_refused(bad):
    with pytest.raises(InputError, match=r"voxel keys must lie in .*key range"):
        pack_keys(np.array(bad))
    with pytest.raises(InputError, match=r"must be \(N, 3\)"):
        pack_keys(np.zeros((2, 2), np.int64))


def test_sorted_lookup_finds_and_misses():
    keys = pack_keys(np.array([[0, 0, 0], [0, 0, 2], [1, 0, 0]]))
    idx, found = sorted_lookup(keys, pack_keys(np.array([[0, 0, 2], [0, 0, 1], [5, 5, 5]])))
    np.testing.assert_array_equal(found, [True, False, False])
    assert idx[0] == 1 and np.all((idx >= 0) & (idx < 3))


def test_map_and_baselines_share_the_packing():
    from gnesf_ros.eval import baselines
    from gnesf_ros.mapping import voxel_map

    assert baselines.voxel_keys is voxel_map.pack_keys is pack_keys
    assert baselines.keys_to_voxels is voxel_map.unpack_keys is unpack_keys
