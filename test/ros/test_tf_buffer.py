"""The node's own TF buffer, without a graph: chains, interpolation, statics, errors."""
import threading
import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

pytest.importorskip("geometry_msgs.msg")
from geometry_msgs.msg import TransformStamped  # noqa: E402

from gnesf_ros.errors import InputError  # noqa: E402
from gnesf_ros.ros.conversions import matrix_to_transform, ns_to_stamp  # noqa: E402
from gnesf_ros.ros.tf_buffer import (DisconnectedFramesError, ExtrapolationError, TfBuffer,  # noqa: E402
                                     UnknownFrameError)

S = 1_000_000_000


def rigid(rotvec, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t
    return T


def tf(parent: str, child: str, T: np.ndarray, stamp_ns: int = 0) -> TransformStamped:
    msg = TransformStamped()
    msg.header.frame_id, msg.child_frame_id = parent, child
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.transform = matrix_to_transform(T)
    return msg


def test_chain_composition_and_inverse():
    buf = TfBuffer()
    T_map_odom = rigid([0, 0, 0.3], [1, 2, 0])
    T_odom_base = rigid([0, 0.1, 0], [0.5, 0, 0])
    T_base_cam = rigid([-np.pi / 2, 0, -np.pi / 2], [0.1, 0, 0.8])
    T_base_laser = rigid([0, 0, 1.0], [0, 0.2, 0.3])
    buf.set_transform(tf("map", "odom", T_map_odom, 5 * S))
    buf.set_transform(tf("odom", "base", T_odom_base, 5 * S))
    buf.set_transform(tf("base", "cam", T_base_cam), static=True)
    buf.set_transform(tf("/base", "laser", T_base_laser), static=True)
    np.testing.assert_allclose(buf.lookup("map", "cam", 5 * S), T_map_odom @ T_odom_base @ T_base_cam, atol=1e-12)
    np.testing.assert_allclose(buf.lookup("cam", "map", 5 * S),
                               np.linalg.inv(T_map_odom @ T_odom_base @ T_base_cam), atol=1e-12)
    np.testing.assert_allclose(buf.lookup("laser", "cam", 0), np.linalg.inv(T_base_laser) @ T_base_cam, atol=1e-12)
    np.testing.assert_array_equal(buf.lookup("cam", "/cam", 7), np.eye(4))
    assert buf.frames() == {"map", "odom", "base", "cam", "laser"}


def test_interpolation_slerp_and_lerp():
    buf = TfBuffer()
    buf.set_transform(tf("map", "cam", rigid([0, 0, 0], [0, 0, 0]), 10 * S))
    buf.set_transform(tf("map", "cam", rigid([0, 0, np.pi / 2], [2, 0, 0]), 12 * S))
    T = buf.lookup("map", "cam", 11 * S)
    np.testing.assert_allclose(T, rigid([0, 0, np.pi / 4], [1, 0, 0]), atol=1e-12)
    T = buf.lookup("map", "cam", 11 * S + S // 2)
    np.testing.assert_allclose(T, rigid([0, 0, 3 * np.pi / 8], [1.5, 0, 0]), atol=1e-12)
    np.testing.assert_allclose(buf.lookup("map", "cam", 0), rigid([0, 0, np.pi / 2], [2, 0, 0]), atol=1e-12)


def test_latest_common_time_over_a_chain():
    buf = TfBuffer()
    buf.set_transform(tf("map", "odom", rigid([0, 0, 0], [0, 0, 0]), 1 * S))
    buf.set_transform(tf("map", "odom", rigid([0, 0, 0], [4, 0, 0]), 3 * S))
    buf.set_transform(tf("odom", "base", rigid([0, 0, 0], [0, 1, 0]), 1 * S))
    buf.set_transform(tf("odom", "base", rigid([0, 0, 0], [0, 3, 0]), 2 * S))
    # latest common time is 2 s: map<-odom interpolated at 2 s (x = 2), odom<-base newest (y = 3)
    np.testing.assert_allclose(buf.lookup("map", "base", 0)[:3, 3], [2, 3, 0], atol=1e-12)


def test_static_is_timeless_and_cache_window():
    buf = TfBuffer(cache_time_s=10.0)
    buf.set_transform(tf("base", "cam", rigid([0, 0, 0], [0, 0, 1]), 123), static=True)
    for t in range(0, 30):
        buf.set_transform(tf("map", "base", rigid([0, 0, 0], [t, 0, 0]), t * S))
    np.testing.assert_allclose(buf.lookup("map", "cam", 25 * S)[:3, 3], [25, 0, 1])
    np.testing.assert_allclose(buf.lookup("map", "cam", 19 * S)[:3, 3], [19, 0, 1])
    with pytest.raises(ExtrapolationError, match=r"before the oldest transform in the cache \[19.000, 29.000\] s"):
        buf.lookup("map", "cam", 18 * S)
    with pytest.raises(ExtrapolationError, match="after the newest"):
        buf.lookup("map", "cam", 30 * S)


def test_out_of_order_insertion_and_same_stamp_replace():
    buf = TfBuffer()
    buf.set_transform(tf("map", "cam", rigid([0, 0, 0], [2, 0, 0]), 2 * S))
    buf.set_transform(tf("map", "cam", rigid([0, 0, 0], [0, 0, 0]), 0 * S + 1))
    buf.set_transform(tf("map", "cam", rigid([0, 0, 0], [9, 0, 0]), 2 * S))
    np.testing.assert_allclose(buf.lookup("map", "cam", 2 * S)[:3, 3], [9, 0, 0])
    assert 0 < buf.lookup("map", "cam", 1 * S)[0, 3] < 9


def test_errors():
    buf = TfBuffer()
    buf.set_transform(tf("map", "cam", np.eye(4), S))
    buf.set_transform(tf("world", "robot", np.eye(4), S))
    with pytest.raises(UnknownFrameError, match="frame 'nowhere' does not exist"):
        buf.lookup("map", "nowhere", S)
    with pytest.raises(DisconnectedFramesError, match="not connected: their roots are 'map' and 'world'"):
        buf.lookup("map", "robot", S)
    bad = tf("map", "cam", np.eye(4), 2 * S)
    bad.transform.translation.x = float("nan")
    with pytest.raises(InputError, match="'map' <- 'cam': contains NaN"):
        buf.set_transform(bad)
    bad = tf("map", "cam", np.eye(4), 2 * S)
    bad.transform.rotation.w = 0.5
    errors = buf.set_transforms([bad, tf("map", "cam", np.eye(4), 3 * S)])
    assert len(errors) == 1 and "quaternion norm 0.500000" in errors[0]
    assert buf.can_transform("map", "cam", 3 * S) and not buf.can_transform("map", "cam", S // 2)
    with pytest.raises(InputError, match="non-empty and different"):
        buf.set_transform(tf("cam", "cam", np.eye(4)))


def test_wait_for_returns_when_the_transform_arrives():
    buf = TfBuffer()
    buf.set_transform(tf("map", "cam", np.eye(4), 1 * S))
    feeder = threading.Timer(0.2, lambda: buf.set_transform(tf("map", "cam", rigid([0, 0, 0], [1, 0, 0]), 3 * S)))
    feeder.start()
    t0 = time.monotonic()
    T = buf.wait_for("map", "cam", 2 * S, timeout_s=5.0)
    assert time.monotonic() - t0 < 2.0
    np.testing.assert_allclose(T[:3, 3], [0.5, 0, 0])
    with pytest.raises(ExtrapolationError):
        buf.wait_for("map", "cam", 9 * S, timeout_s=0.1)
    stop = threading.Event()
    stop.set()
    t0 = time.monotonic()
    with pytest.raises(ExtrapolationError):
        buf.wait_for("map", "cam", 9 * S, timeout_s=30.0, stop=stop)
    assert time.monotonic() - t0 < 1.0
