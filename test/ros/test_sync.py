"""The stamp synchroniser, without ROS: exact and approximate matching, optional streams, bounded queues."""
import pytest

from gnesf_ros.ros.sync import StampSynchronizer

MS = 1_000_000


def make(tol_ms=0, queue=10, optional=None):
    drops = []
    sync = StampSynchronizer(["sem", "color", "info"], optional=optional, tolerance_ns=tol_ms * MS,
                             queue_size=queue, on_drop=lambda *a: drops.append(a))
    return sync, drops


def feed(sync, stream, t_ms):
    return sync.add(stream, t_ms * MS, f"{stream}@{t_ms}")


def test_exact_match_any_arrival_order():
    sync, drops = make()
    assert feed(sync, "color", 100) == [] and feed(sync, "sem", 100) == []
    out = feed(sync, "info", 100)
    assert len(out) == 1 and out[0].stamp_ns == 100 * MS
    assert out[0].msgs == {"sem": "sem@100", "color": "color@100", "info": "info@100"}
    assert sync.stats.emitted == 1 and drops == []


def test_exact_mode_ignores_near_stamps_and_reports_what_is_missing():
    sync, drops = make(tol_ms=0)
    feed(sync, "sem", 100)
    feed(sync, "info", 100)
    feed(sync, "color", 101)  # colour went past the anchor without an exact match
    assert sync.stats.emitted == 0 and sync.stats.dropped_unmatched == 1
    assert drops == [("sem", 100 * MS, ["color"], "no match")]


def test_fast_colour_against_slow_semantics_approximate():
    sync, drops = make(tol_ms=20)
    out = []
    for t in range(0, 400, 33):  # colour + info at 30 Hz
        out += feed(sync, "color", t) + feed(sync, "info", t)
        if t % 99 == 0 and t > 0:  # segmenter output at ~10 Hz, 2 ms off the colour stamp
            out += feed(sync, "sem", t + 2)
    assert [s.stamp_ns // MS for s in out] == [101, 200, 299]
    assert [s.msgs["color"] for s in out] == ["color@99", "color@198", "color@297"]
    assert drops == [] and sync.stats.dropped_overflow == 0
    assert all(len(q) <= 3 for q in sync._queues.values())  # unused colour frames are forgotten


def test_approximate_waits_for_a_nearer_match():
    sync, _ = make(tol_ms=20)
    feed(sync, "sem", 100)
    feed(sync, "info", 100)
    assert feed(sync, "color", 90) == []  # a nearer colour frame may still come
    out = feed(sync, "color", 101)
    assert len(out) == 1 and out[0].msgs["color"] == "color@101"


def test_optional_stream_joins_when_present_and_never_blocks_when_unseen():
    sync, _ = make(optional=["depth"])
    out = feed(sync, "sem", 1) + feed(sync, "color", 1) + feed(sync, "info", 1)
    assert len(out) == 1 and "depth" not in out[0].msgs  # depth never seen: not waited for
    feed(sync, "depth", 2)
    out = feed(sync, "sem", 2) + feed(sync, "color", 2) + feed(sync, "info", 2)
    assert out[0].msgs["depth"] == "depth@2"
    out = feed(sync, "sem", 3) + feed(sync, "color", 3) + feed(sync, "info", 3)
    assert out == []  # depth was seen and may still deliver stamp 3
    out = feed(sync, "depth", 4)
    assert len(out) == 1 and "depth" not in out[0].msgs and out[0].stamp_ns == 3 * MS


def test_bounded_queues_count_drops():
    sync, drops = make(queue=3)
    for t in range(1, 8):
        feed(sync, "sem", t)
        feed(sync, "color", t)
    # no camera_info ever: the anchor queue overflows and each dropped anchor names the missing stream
    assert sync.stats.emitted == 0
    assert sync.stats.dropped_overflow >= 4 and sync.stats.missing.get("info", 0) >= 4
    assert all(len(q) <= 3 for q in sync._queues.values())
    assert ("sem", 1 * MS, ["info"], "queue full") in drops
    out = feed(sync, "info", 7)
    assert [s.stamp_ns for s in out] == [7 * MS]


def test_bad_construction():
    with pytest.raises(ValueError, match="anchor"):
        StampSynchronizer([])
    with pytest.raises(ValueError, match="unique"):
        StampSynchronizer(["a", "b"], optional=["a"])
    with pytest.raises(KeyError, match="unknown stream 'x'"):
        StampSynchronizer(["a"]).add("x", 0, None)
