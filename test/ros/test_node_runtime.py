"""The node's run-time bookkeeping, in-process (no graph traffic needed): ~/flush with frames still queued and a
pending window, cloud publishing only on change, latency only for wall-clock stamps, the diagnostics name with the
namespace, and the map services creating missing folders."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2 wheels) not installed")
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from fake_mapper import FakeMapper  # noqa: E402

from gnesf_ros.mapping.mapper import MapUpdate  # noqa: E402

pytestmark = pytest.mark.ros


class WindowMapper(FakeMapper):
    """FakeMapper that, like the real one, keeps keyframes in a pending window until `window_size` or `flush()`,
    and takes `delay_s` per frame (a busy worker)."""

    delay_s = 0.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.window: list = []

    def add_frame(self, frame) -> MapUpdate:
        time.sleep(self.delay_s)
        frame.validate(self.class_list.num_classes)
        self.counts["frames"] += 1
        if not self.selector.check(frame.T_map_cam):
            return MapUpdate(False, False, len(self.voxels), {})
        self.window.append(frame)
        return MapUpdate(True, False, len(self.voxels), {})

    def flush(self) -> MapUpdate:
        frames, self.window = self.window, []
        for f in frames:
            self.selector.reset()
            FakeMapper.add_frame(self, f)
        return MapUpdate(False, bool(frames), len(self.voxels), {})

    def stats(self) -> dict:
        return {**super().stats(), "pending_keyframes": len(self.window), "pending_extra_frames": 0}


def make_node(factory=WindowMapper, **params):
    from gnesf_ros.ros.node import MappingNode

    context = rclpy.Context()
    rclpy.init(context=context)
    overrides = [rclpy.parameter.Parameter(k, value=v) for k, v in {"pose_source": "pose_stamped", **params}.items()]
    node = MappingNode(factory, context=context, parameter_overrides=overrides,
                       namespace=params.pop("_ns", None) or "")
    return node, context


def close(node, context):
    node.stop()
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def frame_msgs(stamp_ns: int, x_m: float, node) -> dict:
    """The messages of one 32x40 frame, and its pose put into the node's pose buffer."""
    from geometry_msgs.msg import TransformStamped

    from gnesf_ros.ros import conversions as conv
    from gnesf_ros.ros.node import POSE_CHILD

    h, w = 32, 40
    header = conv.ns_to_stamp(stamp_ns)
    T = np.eye(4)
    T[0, 3] = x_m
    t = TransformStamped(child_frame_id=POSE_CHILD, transform=conv.matrix_to_transform(T))
    t.header.frame_id, t.header.stamp = "map", header
    node.tf.set_transform(t)
    from std_msgs.msg import Header

    hdr = Header(stamp=header, frame_id="camera")
    K = np.array([[40.0, 0, 20], [0, 40, 16], [0, 0, 1]])
    return {"camera_info": conv.K_to_camera_info(K, h, w, hdr),
            "color": conv.numpy_to_image(np.full((h, w, 3), 100, np.uint8), "rgb8", hdr),
            "semantic": conv.numpy_to_image(np.full((h, w), 3, np.uint8), "mono8", hdr)}


def feed(node, stamp_ns, x_m):
    for stream, msg in frame_msgs(stamp_ns, x_m, node).items():
        node._on_input(stream, msg)


def test_flush_maps_queued_frames_and_fuses_the_pending_window():
    from std_srvs.srv import Trigger

    WindowMapper.delay_s = 0.3
    node, ctx = make_node()
    try:
        for i in range(4):  # 4 keyframes (0.5 m apart), the worker 0.3 s each: most still queued at the call
            feed(node, 10**9 + i * 33_000_000, 0.5 * i)
        with node._queue_cv:
            assert len(node._queue) + node._busy >= 2
        resp = node._srv_flush(Trigger.Request(), Trigger.Response())
        assert resp.success, resp.message
        assert resp.message.startswith("fused the pending window (4 keyframe(s), 0 extra frame(s))"), resp.message
        assert node.mapper.stats()["pending_keyframes"] == 0 and len(node.mapper.voxels) > 0
        resp = node._srv_flush(Trigger.Request(), Trigger.Response())
        assert resp.success and resp.message == "nothing pending"
    finally:
        WindowMapper.delay_s = 0.0
        close(node, ctx)


def spy_cloud_widths(node) -> list[int]:
    """Replace the node's cloud publisher; the returned list gets each published cloud's point count."""
    sent: list[int] = []

    class Spy:
        def publish(self, msg):
            sent.append(msg.width)

    node.cloud_pub = Spy()
    return sent


def test_cloud_is_published_once_empty_then_only_when_the_map_changed():
    from std_srvs.srv import Trigger

    node, ctx = make_node()
    sent = spy_cloud_widths(node)
    try:
        node._publish_cloud()
        assert sent == [0]  # the initial empty (latched) cloud
        feed(node, 10**9, 0.0)
        feed(node, 10**9 + 33_000_000, 0.01)  # a keyframe and a non-keyframe: nothing fused yet
        deadline = time.monotonic() + 10
        while node.mapper.counts["frames"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        for _ in range(3):
            node._publish_cloud()
        assert sent == [0]
        node._srv_clear_map(Trigger.Request(), Trigger.Response())  # a change, but still empty: not sent again
        node._publish_cloud()
        assert sent == [0]
        node._srv_flush(Trigger.Request(), Trigger.Response())
        node._publish_cloud()
        node._publish_cloud()
        assert len(sent) == 2 and sent[1] > 0
    finally:
        close(node, ctx)


def test_latency_only_for_stamps_on_the_nodes_clock():
    node, ctx = make_node()
    try:
        node._record_latency(0)  # a bag stamped from 0 s, replayed without /clock
        node._record_latency(1_000_000_000)
        values = node._latency_values(node.stats.snapshot())
        assert values == {"median": "n/a", "max": "n/a", "applicable": False}
        now = node.get_clock().now().nanoseconds
        node._record_latency(now - 250_000_000)  # a live camera, 250 ms ago
        values = node._latency_values(node.stats.snapshot())
        assert values["applicable"] is True and 250.0 <= values["median"] < 2000.0
    finally:
        close(node, ctx)


def test_diagnostics_name_carries_the_namespace_and_map_services_create_folders(tmp_path):
    from gnesf_ros_msgs.srv import FilePath

    node, ctx = make_node(_ns="/robot1")
    got = []

    class Spy:
        def publish(self, msg):
            got.append(msg)

    node.diag_pub = Spy()
    try:
        node._publish_diagnostics()
        assert got[0].status[0].name == "/robot1/gnesf_mapping: mapping"
        for srv, name in ((node._srv_save_map, "a/b/map.gnesf"), (node._srv_save_ply, "c/d/map.ply")):
            path = tmp_path / name
            resp = srv(FilePath.Request(file_path=str(path)), FilePath.Response())
            assert resp.success, resp.message
            assert path.is_file()
        blocker = tmp_path / "file"
        blocker.write_text("x")
        resp = node._srv_save_ply(FilePath.Request(file_path=str(blocker / "x.ply")), FilePath.Response())
        assert not resp.success and str(blocker) in resp.message
    finally:
        close(node, ctx)


def test_timers_do_not_wait_for_a_long_fusion_and_catch_up_after_it():
    """A fragment's fusion holds the map lock for seconds: the cloud timer and the navigation outputs' map view
    give up after TIMER_LOCK_WAIT_S (an executor thread blocked for the whole fusion makes rclpy's executor spin)
    and do their work on a later tick."""
    from gnesf_ros.ros.node import TIMER_LOCK_WAIT_S

    node, ctx = make_node()
    sent = spy_cloud_widths(node)
    try:
        node._publish_cloud()
        assert sent == [0]
        node.mapper.voxels[(0, 0, 0)] = (1, 0.9)
        node._map_version += 1  # the map changed ...
        with node._map_lock:  # ... and a fusion holds it
            t0 = time.monotonic()
            node._publish_cloud()
            version, points = node._map_snapshot(known_version=-1)
            waited = time.monotonic() - t0
        assert sent == [0] and (version, points) == (-1, None)
        assert 2 * TIMER_LOCK_WAIT_S <= waited < 2 * TIMER_LOCK_WAIT_S + 1.0
        node._publish_cloud()  # the next tick, the lock free: the cloud of the changed map goes out
        version, points = node._map_snapshot(known_version=-1)
        assert len(sent) == 2 and version == node._map_version and points is not None
    finally:
        close(node, ctx)
