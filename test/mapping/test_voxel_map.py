import numpy as np
import pytest

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import InputError
from gnesf_ros.mapping.voxel_map import VoxelMap, pack_keys, unpack_keys

C = 3


def test_pack_roundtrip_and_order():
    ijk = np.array([[0, 0, 0], [-1, 5, -7], [1048575, -1048576, 3], [2, -3, 4]], dtype=np.int64)
    np.testing.assert_array_equal(unpack_keys(pack_keys(ijk)), ijk)
    order_packed = np.argsort(pack_keys(ijk))
    order_lex = np.lexsort((ijk[:, 2], ijk[:, 1], ijk[:, 0]))
    np.testing.assert_array_equal(order_packed, order_lex)
    with pytest.raises(InputError, match="voxel keys must lie in"):
        pack_keys(np.array([[1 << 21, 0, 0]]))


def test_two_observation_fusion_arithmetic():
    m = VoxelMap(C, 0.1)
    key = np.array([[1, 2, 3]])
    m.integrate(key, sdf_m=[0.2], weight=[1.0], probs=[[0.6, 0.4, 0.0]], rgb=[[1.0, 0.0, 0.0]])
    m.integrate(key, sdf_m=[-0.1], weight=[2.0], probs=[[0.0, 0.5, 0.5]], rgb=[[0.0, 1.0, 0.0]])
    d = m.data
    assert len(m) == 1
    assert d.sdf_m[0] == pytest.approx((0.2 * 1 + -0.1 * 2) / 3)
    assert d.weight[0] == pytest.approx(3.0) and d.weight.dtype == np.float32
    np.testing.assert_allclose(d.prob_sum[0], [0.6, 0.4 + 1.0, 1.0])
    np.testing.assert_allclose(d.rgb[0], [1 / 3, 2 / 3, 0.0], rtol=1e-6)
    assert d.count[0] == 2
    label, conf = m.labels()
    assert label[0] == 1 and conf[0] == pytest.approx(1.4 / 3.0)


def test_depth_hits_merge_as_a_count_weighted_mean():
    m = VoxelMap(C, 0.1)
    keys = np.array([[1, 2, 3], [0, 0, 0]])
    probs = [[1.0, 0.0, 0.0]] * 2
    m.integrate(keys, sdf_m=[0.0, 0.0], weight=[1.0, 1.0], probs=probs,
                hit_offset_m=[[0.01, 0.0, 0.0], [0.0, 0.0, 0.0]], hit_count=[3, 0])
    m.integrate(keys[:1], sdf_m=[0.0], weight=[1.0], probs=probs[:1], hit_offset_m=[[-0.02, 0.01, 0.0]], hit_count=[1])
    m.integrate(keys[:1], sdf_m=[0.0], weight=[1.0], probs=probs[:1])  # no depth: hits unchanged
    idx, pts = m.hit_points()
    assert len(m) == 2 and idx.tolist() == [m.lookup(pack_keys(keys[:1]))[0][0]]
    assert m.data.hit_count.tolist() == [0, 4]  # sorted keys: (0, 0, 0) first
    # (3 * 0.01 + 1 * -0.02) / 4 = 0.0025 and 0.01 / 4 = 0.0025, from the centre (0.1, 0.2, 0.3)
    np.testing.assert_allclose(pts, [[0.1025, 0.2025, 0.3]], atol=1e-7)
    with pytest.raises(InputError, match="hit_offset_m and hit_count"):
        m.integrate(keys[:1], sdf_m=[0.0], weight=[1.0], probs=probs[:1], hit_count=[1])
    with pytest.raises(InputError, match="hit_count"):
        m.integrate(keys[:1], sdf_m=[0.0], weight=[1.0], probs=probs[:1], hit_offset_m=[[0.0, 0.0, 0.0]],
                    hit_count=[-1])
    assert m.data.hit_count.tolist() == [0, 4]  # refused input leaves the map alone


def test_log_evidence_is_bayesian_fusion_of_fragments():
    """Three fragments vote for one voxel. The average picks class 0; the product of the three distributions
    (Bayes, floored at eps) picks class 1, and the confidence is that posterior's maximum."""
    from gnesf_ros.mapping import Mapper, MapperConfig
    from mapping_fixtures import FakeModel, small_class_list

    votes = np.array([[0.9, 0.1, 0.0, 0.0], [0.0, 0.6, 0.4, 0.0], [0.5, 0.5, 0.0, 0.0]], np.float32)
    n = votes.shape[1]
    eps = 1e-3
    mapper = Mapper(MapperConfig(semantic_eps=eps), model=FakeModel(), class_list=small_class_list())
    evidence = mapper._log_evidence(votes)
    np.testing.assert_allclose(evidence, np.log((votes + eps) / eps), rtol=1e-6)
    bayes, mean = VoxelMap(n, 0.1, evidence="log"), VoxelMap(n, 0.1)
    for k in range(3):
        bayes.integrate(np.array([[0, 0, 0]]), [0.0], [1.0], evidence[k:k + 1])
        mean.integrate(np.array([[0, 0, 0]]), [0.0], [1.0], votes[k:k + 1])
    posterior = np.prod(votes + eps, axis=0)
    posterior /= posterior.sum()
    label, conf = bayes.labels()
    assert label[0] == 1 == np.argmax(posterior)
    assert conf[0] == pytest.approx(posterior.max(), rel=1e-5)
    assert mean.labels()[0][0] == 0
    # a row without a vote brings no evidence
    assert mapper._log_evidence(np.zeros((1, n), np.float32)).tolist() == [[0.0] * n]
    with pytest.raises(InputError, match="evidence must be"):
        VoxelMap(n, 0.1, evidence="max")


def test_weights_do_not_saturate():
    m = VoxelMap(C, 0.1)
    for _ in range(300):
        m.integrate(np.array([[0, 0, 0]]), [0.0], [1.0], [[1.0, 0.0, 0.0]])
    assert m.data.count[0] == 300 and m.data.weight[0] == 300.0


def test_unknown_stays_unknown():
    m = VoxelMap(C, 0.1)
    keys = np.array([[0, 0, 0], [0, 0, 1]])
    m.integrate(keys, [0.0, 0.0], [1.0, 1.0], [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    m.integrate(keys, [0.0, 0.0], [1.0, 1.0], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # only unknown votes
    label, conf = m.labels()
    assert label.tolist() == [IGNORE_ID, 2] and conf.tolist() == [0.0, 1.0]
    # a zero semantic weight is geometry only
    m.integrate(np.array([[5, 5, 5]]), [0.0], [1.0], [[1.0, 0.0, 0.0]], sem_weight=[0.0])
    label, _ = m.labels()
    assert label[m.lookup(pack_keys(np.array([[5, 5, 5]])))[0][0]] == IGNORE_ID
    # a voxel never observed is simply absent
    assert not m.lookup(pack_keys(np.array([[9, 9, 9]])))[1][0]


def test_create_mask_only_updates_existing():
    m = VoxelMap(C, 0.1)
    m.integrate(np.array([[0, 0, 0]]), [0.05], [1.0], [[1, 0, 0]])
    created = m.integrate(np.array([[0, 0, 0], [0, 0, 1]]), [0.1, 0.1], [1.0, 1.0], [[1, 0, 0], [1, 0, 0]],
                          create=[False, False])
    assert created == 0 and len(m) == 1 and m.data.sdf_m[0] == pytest.approx(0.075)


def test_many_keys_stay_sorted_and_unique():
    rng = np.random.default_rng(0)
    m = VoxelMap(C, 0.1)
    for _ in range(5):
        ijk = np.unique(rng.integers(-20, 20, size=(500, 3)), axis=0)
        m.integrate(ijk, np.zeros(len(ijk)), np.ones(len(ijk)), np.tile([[1.0, 0, 0]], (len(ijk), 1)))
    m.data.check(C)
    assert m.data.weight.sum() == pytest.approx(m.data.count.sum())
    with pytest.raises(InputError, match="unique"):
        m.integrate(np.array([[0, 0, 0], [0, 0, 0]]), [0, 0], [1, 1], np.zeros((2, C)))


def test_max_voxels_drops_farthest_and_counts():
    m = VoxelMap(C, 1.0)
    ijk = np.array([[i, 0, 0] for i in range(10)])
    m.integrate(ijk, np.zeros(10), np.ones(10), np.zeros((10, C)))
    assert m.enforce_max_voxels(4, camera_m=np.array([7.2, 0.0, 0.0])) == 6
    assert sorted(m.ijk()[:, 0].tolist()) == [6, 7, 8, 9] and m.dropped == 6
    assert m.clear_outside_radius(np.array([9.0, 0, 0]), 1.5) == 2
    assert sorted(m.ijk()[:, 0].tolist()) == [8, 9] and m.dropped == 8


def test_surface_mask_zero_crossing():
    m = VoxelMap(C, 0.1)
    ijk = np.array([[0, 0, k] for k in range(-3, 4)])
    sdf = np.array([-0.3, -0.2, -0.14, 0.12, 0.25, 0.35, 0.45])  # crossing between k=-1 and k=0, both >= voxel
    m.integrate(ijk, sdf, np.ones(7), np.zeros((7, C)))
    surface = m.surface_mask()
    assert m.ijk()[surface][:, 2].tolist() == [0]  # the crossing voxel with the smaller |sdf|
    m.integrate(np.array([[0, 0, 3]]), [-0.9], [100.0], np.zeros((1, C)))  # now ~ -0.89 next to +0.35
    assert m.ijk()[m.surface_mask()][:, 2].tolist() == [0, 2]


def test_touched_blocks_record_integration_removal_and_replacement():
    m = VoxelMap(C, 0.1, block_voxels=4)
    probs = np.zeros((3, C), np.float32)
    keys = np.array([[0, 0, 0], [3, 3, 3], [-1, 4, 9]])  # blocks (0,0,0) twice and (-1,1,2)
    m.integrate(keys, sdf_m=[0.0] * 3, weight=[1.0] * 3, probs=probs, create=[True, True, False])
    # the third key was not created (create=False): nothing of it changed, its block is not touched
    np.testing.assert_array_equal(unpack_keys(m.pop_touched_blocks()), [[0, 0, 0]])
    assert m.pop_touched_blocks().size == 0  # popping starts a new record
    m.integrate(np.array([[3, 3, 3], [4, -1, 0]]), sdf_m=[0.1, 0.2], weight=[1.0, 1.0], probs=probs[:2])
    np.testing.assert_array_equal(unpack_keys(m.pop_touched_blocks()), [[0, 0, 0], [1, -1, 0]])
    # removal by the radius bound touches the removed voxels' blocks only
    m.clear_outside_radius(np.zeros(3), 0.6)  # both remaining voxels lie within 0.6 m: nothing dropped
    assert m.touched_blocks().size == 0
    m.clear_outside_radius(np.zeros(3), 0.4)  # (3,3,3) at 0.52 m and (4,-1,0) at 0.41 m go
    np.testing.assert_array_equal(unpack_keys(m.pop_touched_blocks()), [[0, 0, 0], [1, -1, 0]])
    # replacing the data (a loaded map) touches the blocks of the old and the new voxels
    other = VoxelMap(C, 0.1, block_voxels=4)
    other.integrate(np.array([[8, 8, 8]]), sdf_m=[0.0], weight=[1.0], probs=probs[:1])
    m.data = other.data
    np.testing.assert_array_equal(unpack_keys(m.pop_touched_blocks()), [[0, 0, 0], [2, 2, 2]])
    m.clear()
    np.testing.assert_array_equal(unpack_keys(m.pop_touched_blocks()), [[2, 2, 2]])


def test_block_keys_are_floor_division_for_any_block_size():
    rng = np.random.default_rng(0)
    ijk = rng.integers(-70000, 70000, (500, 3))
    for b in (1, 4, 6, 16):
        m = VoxelMap(C, 0.1, block_voxels=b)
        np.testing.assert_array_equal(unpack_keys(m.block_keys(pack_keys(ijk))), np.floor_divide(ijk, b))


def test_labels_of_a_subset_equal_the_full_read_out():
    for evidence in ("linear", "log"):
        m = VoxelMap(C, 0.1, evidence=evidence)
        rng = np.random.default_rng(1)
        probs = rng.random((40, C)).astype(np.float32)
        probs[::7] = 0.0  # some voxels without semantic mass
        m.integrate(np.arange(40)[:, None] * np.array([[1, 0, 0]]), sdf_m=np.zeros(40), weight=np.ones(40),
                    probs=probs)
        label, conf = m.labels()
        idx = np.array([0, 7, 3, 39, 3])
        sub_label, sub_conf = m.labels(idx)
        np.testing.assert_array_equal(sub_label, label[idx])
        np.testing.assert_array_equal(sub_conf, conf[idx])
        assert sub_label[1] == IGNORE_ID
