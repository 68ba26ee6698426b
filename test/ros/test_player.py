"""gnesf-play in a subprocess publishes a bag; this process subscribes with real rclpy and compares exactly."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2 wheels) not installed")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from gnesf_ros.data.bag import typestore, write_frames_to_bag  # noqa: E402
from gnesf_ros.frame import Frame, labels_to_probs  # noqa: E402
from gnesf_ros.ros.player import message_class, parse_remaps  # noqa: E402

pytestmark = pytest.mark.ros
REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    try:
        from gnesf_ros.ros.environment import ros_subprocess_env
        env = ros_subprocess_env(os.environ)
    except ImportError:
        env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def _frames(n: int = 3) -> list[tuple[Frame, np.ndarray]]:
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        labels = rng.integers(0, 20, (8, 10)).astype(np.uint8)
        T = np.eye(4)
        a = 0.2 * i
        T[:3, :3] = [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]
        T[:3, 3] = [i, 0.5, -0.25]
        f = Frame(rgb=rng.integers(0, 256, (8, 10, 3), dtype=np.uint8), K=np.array([[9.0, 0, 4.5], [0, 9.5, 3.5], [0, 0, 1]]),
                  T_map_cam=T, probs=labels_to_probs(labels, 20), stamp_ns=2_000_000_000 + i * 40_000_000,
                  depth_m=np.full((8, 10), 1.25, np.float32))
        out.append((f, labels))
    return out


class _Sink:
    """Subscriptions in their own context; collects messages per topic."""

    def __init__(self, topics: dict[str, type]):
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("player_test_sink", context=self.ctx)
        self.got: dict[str, list] = {t: [] for t in topics}
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        for topic, cls in topics.items():
            self.node.create_subscription(cls, topic, lambda m, t=topic: self.got[t].append(m),
                                          latched if topic == "/tf_static" else qos)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)

    def spin_until(self, counts: dict[str, int], proc: subprocess.Popen, timeout_s: float = 40.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
            if all(len(self.got[t]) >= n for t, n in counts.items()):
                return
        out = proc.stdout.read() if proc.poll() is not None else "(still running)"
        pytest.fail(f"timed out: got {{t: len(v) for t, v in self.got.items()}} = "
                    f"{ {t: len(v) for t, v in self.got.items()} }, wanted {counts}; player output: {out}")

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


def _play(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gnesf_ros.cli.play", *args], env=_env(), cwd=str(REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen) -> str:
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def _image_array(msg: Image, dtype, channels: int) -> np.ndarray:
    a = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)
    a = a[:, : msg.width * channels * np.dtype(dtype).itemsize].copy().view(dtype)
    return a.reshape(msg.height, msg.width, channels) if channels > 1 else a.reshape(msg.height, msg.width)


def _T(p) -> np.ndarray:
    from scipy.spatial.transform import Rotation
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat([p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w]).as_matrix()
    T[:3, 3] = [p.position.x, p.position.y, p.position.z]
    return T


def test_remaps_and_message_classes():
    assert parse_remaps(["a:=/b", "/c/d:=e"]) == {"/a": "/b", "/c/d": "/e"}
    with pytest.raises(ValueError, match="old:=new"):
        parse_remaps(["nope"])
    assert message_class("sensor_msgs/msg/Image") is Image
    assert message_class("no_such_pkg/msg/Thing") is None


def test_player_publishes_bag_exactly(tmp_path):
    frames = _frames()
    write_frames_to_bag(tmp_path / "bag", frames, progress=False)
    remap = {"/color/image": "/t1/rgb", "/color/camera_info": "/t1/info", "/depth/image": "/t1/depth", "/pose": "/t1/pose"}
    topics = {"/t1/rgb": Image, "/t1/info": CameraInfo, "/t1/depth": Image, "/t1/pose": PoseStamped}
    tf_cls = message_class("tf2_msgs/msg/TFMessage")
    if tf_cls is not None:
        topics["/tf_static"] = tf_cls
    sink = _Sink(topics)
    proc = _play([str(tmp_path / "bag"), "--rate", "4", "--remap", *[f"{a}:={b}" for a, b in remap.items()],
                  "--wait-for-subscribers", *[t for t in topics if t != "/tf_static"], "--wait-timeout-s", "30"])
    try:
        sink.spin_until({**{t: 3 for t in topics if t != "/tf_static"}, **({"/tf_static": 1} if tf_cls else {})}, proc)
    finally:
        out = _finish(proc)
        sink.close()
    assert proc.returncode == 0, out
    for (f, _), img, info, depth, pose in zip(frames, sink.got["/t1/rgb"], sink.got["/t1/info"], sink.got["/t1/depth"],
                                              sink.got["/t1/pose"]):
        assert img.encoding == "rgb8" and img.header.frame_id == "camera_color_optical_frame"
        assert img.header.stamp.sec * 10**9 + img.header.stamp.nanosec == f.stamp_ns
        np.testing.assert_array_equal(_image_array(img, np.uint8, 3), f.rgb)
        np.testing.assert_array_equal(np.array(info.k).reshape(3, 3), f.K)
        assert (info.height, info.width) == (8, 10)
        np.testing.assert_array_equal(_image_array(depth, np.uint16, 1), np.full((8, 10), 1250))
        np.testing.assert_allclose(_T(pose.pose), f.T_map_cam, atol=1e-12)
        assert pose.header.frame_id == "map"
    if tf_cls is not None:
        assert sink.got["/tf_static"][0].transforms[0].child_frame_id == "camera_depth_optical_frame"


def test_player_plays_a_foreign_bag_and_skips_unknown_types(tmp_path):
    """A bag written by rosbags with other names, plus a topic whose type is not importable here."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import get_types_from_msg
    store = typestore()
    store.register(get_types_from_msg("int32 x", "weird_pkg/msg/Thing"))
    T = store.types
    hdr = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="cam")
    data = np.arange(2 * 3, dtype=np.uint8)
    with Writer(tmp_path / "o", version=9) as w:
        im = w.add_connection("/camera/mono", "sensor_msgs/msg/Image", typestore=store)
        wd = w.add_connection("/weird", "weird_pkg/msg/Thing", typestore=store)
        for i in range(3):
            msg = T["sensor_msgs/msg/Image"](header=hdr, height=2, width=3, encoding="mono8", is_bigendian=0, step=3,
                                            data=data + i)
            w.write(im, 1000 + i * 10_000_000, store.serialize_cdr(msg, "sensor_msgs/msg/Image"))
            w.write(wd, 1001 + i * 10_000_000, store.serialize_cdr(T["weird_pkg/msg/Thing"](x=i), "weird_pkg/msg/Thing"))
    sink = _Sink({"/x/mono": Image})
    proc = _play([str(tmp_path / "o"), "--remap", "/camera/mono:=/x/mono", "--wait-for-subscribers",
                  "--wait-timeout-s", "30"])
    try:
        sink.spin_until({"/x/mono": 3}, proc)
    finally:
        out = _finish(proc)
        sink.close()
    assert proc.returncode == 0, out
    assert "skipping topic(s) whose message type is not available here: /weird (weird_pkg/msg/Thing)" in out
    for i, m in enumerate(sink.got["/x/mono"]):
        np.testing.assert_array_equal(np.frombuffer(bytes(m.data), np.uint8), data + i)


def test_player_errors_are_clear(tmp_path):
    proc = _play([str(tmp_path / "absent")])
    out = _finish(proc)
    assert proc.returncode == 1 and "bag not found" in out
    write_frames_to_bag(tmp_path / "bag", _frames(1), progress=False)
    proc = _play([str(tmp_path / "bag"), "--topics", "/color/image", "--wait-for-subscribers", "--wait-timeout-s",
                  "0.5"])
    out = _finish(proc)
    assert proc.returncode == 1, out
    errors = [line for line in out.splitlines() if line.startswith(("gnesf-play", "Traceback", "[ERROR]"))]
    assert errors == ["gnesf-play: error: too few subscribers on /color/image (0 of 1) after 0.5 s (--wait-timeout-s); "
                      "is the node running, in this ROS_DOMAIN_ID, with these topic names?"], out
    for bad in ("/color/image=0", "/color/image=two", "=2"):
        proc = _play([str(tmp_path / "bag"), "--wait-for-subscribers", bad])
        out = _finish(proc)
        assert proc.returncode == 2 and f"a wait topic is NAME or NAME=N with N >= 1, got {bad!r}" in out, out


def _assert_still_waiting(sink, proc, topic: str = "/color/image") -> None:
    """Spin `sink` for 4 s (long enough for discovery, far below the wait timeout): the player must still be
    waiting, having published nothing on `topic`."""
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        sink.executor.spin_once(timeout_sec=0.05)
    assert proc.poll() is None and sink.got[topic] == []  # still waiting: nothing published


def _spin_while(sinks, pending, timeout_s: float = 40.0) -> None:
    """Spin every sink in turn while `pending()` holds, at most timeout_s."""
    deadline = time.monotonic() + timeout_s
    while pending() and time.monotonic() < deadline:
        for sink in sinks:
            sink.executor.spin_once(timeout_sec=0.05)


def test_wait_for_two_subscribers_of_one_topic(tmp_path):
    """TOPIC=2 (a mapper and a segmenter on the colour topic): one subscriber is not enough; with the second both
    get every frame."""
    write_frames_to_bag(tmp_path / "bag", _frames(2), progress=False)
    first = _Sink({"/color/image": Image})
    proc = _play([str(tmp_path / "bag"), "--topics", "/color/image", "--wait-for-subscribers", "/color/image=2",
                  "--wait-timeout-s", "60"])
    try:
        _assert_still_waiting(first, proc)
        second = _Sink({"/color/image": Image})
        try:
            _spin_while([first, second], lambda: min(len(first.got["/color/image"]),
                                                     len(second.got["/color/image"])) < 2)
        finally:
            second.close()
    finally:
        out = _finish(proc)
        first.close()
    assert proc.returncode == 0, out
    assert len(first.got["/color/image"]) == 2 and len(second.got["/color/image"]) == 2, out


def test_wait_for_subscribers_defaults_to_every_image_and_camera_info_topic(tmp_path):
    """No names: the player waits for the bag's Image and CameraInfo topics (not the ground truth, not poses), and
    plays once each has a subscriber; nothing is published before."""
    write_frames_to_bag(tmp_path / "bag", [(f, labels) for f, labels in _frames(2)], progress=False)
    sink = _Sink({"/color/image": Image})  # only one of the waited-for topics
    proc = _play([str(tmp_path / "bag"), "--wait-for-subscribers", "--wait-timeout-s", "60"])
    try:
        _assert_still_waiting(sink, proc)
        rest = _Sink({"/color/camera_info": CameraInfo, "/depth/image": Image, "/semantic/image": Image,
                      "/semantic/confidence": Image})
        try:
            _spin_while([sink, rest], lambda: len(sink.got["/color/image"]) < 2)
        finally:
            rest.close()
    finally:
        out = _finish(proc)
        sink.close()
    assert proc.returncode == 0, out
    assert len(sink.got["/color/image"]) == 2, out


def test_clock_follows_the_bag_stamps(tmp_path):
    from rosgraph_msgs.msg import Clock

    frames = _frames(3)
    write_frames_to_bag(tmp_path / "bag", frames, progress=False)
    sink = _Sink({"/clock": Clock, "/color/image": Image})
    proc = _play([str(tmp_path / "bag"), "--clock", "--wait-for-subscribers", "/color/image", "/clock",
                  "--wait-timeout-s", "30"])
    try:
        sink.spin_until({"/color/image": 3, "/clock": 3}, proc)
    finally:
        out = _finish(proc)
        sink.close()
    assert proc.returncode == 0, out
    clock_ns = [c.clock.sec * 10**9 + c.clock.nanosec for c in sink.got["/clock"]]
    assert clock_ns == sorted(clock_ns)
    assert set(clock_ns) == {f.stamp_ns for f, _ in frames}  # one tick per new log time, exactly the stamps


def test_ros1_bag_is_converted_to_ros2_cdr(tmp_path):
    """A ROS 1 bag (Header with seq) is converted per message to the Kilted wire format."""
    from rclpy.serialization import deserialize_message
    from rosbags.rosbag1 import Writer as Writer1
    from rosbags.typesys import Stores, get_typestore

    from gnesf_ros.ros.player import BagPlayer, PlayerOptions

    store = get_typestore(Stores.ROS1_NOETIC)
    T = store.types
    path = tmp_path / "old.bag"
    with Writer1(path) as w:
        conn = w.add_connection("/cam/image", "sensor_msgs/msg/Image", typestore=store)
        msg = T["sensor_msgs/msg/Image"](header=T["std_msgs/msg/Header"](seq=7, stamp=T["builtin_interfaces/msg/Time"](
            sec=3, nanosec=4), frame_id="cam"), height=1, width=2, encoding="mono8", is_bigendian=0, step=2,
            data=np.array([5, 6], np.uint8))
        w.write(conn, 3_000_000_004, store.serialize_ros1(msg, "sensor_msgs/msg/Image"))
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("ros1_player_test", context=ctx)
    try:
        player = BagPlayer(node, path, PlayerOptions())
        (c,) = player.conns
        (_, _, raw), = list(player.reader.messages(connections=[c]))
        out = deserialize_message(player.converters[c.id](raw), Image)
        player.close()
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    assert (out.header.stamp.sec, out.header.stamp.nanosec, out.header.frame_id) == (3, 4, "cam")
    assert out.encoding == "mono8" and list(out.data) == [5, 6]


def test_truncated_bag_names_where_playback_stopped(tmp_path):
    from gnesf_ros.errors import DataError
    from gnesf_ros.ros.player import BagPlayer, PlayerOptions

    write_frames_to_bag(tmp_path / "bag", _frames(3), progress=False)
    (mcap,) = (tmp_path / "bag").glob("*.mcap")
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) * 2 // 3])
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("truncated_player_test", context=ctx)
    try:
        with pytest.raises(DataError, match=r"(cannot open bag \S+/bag: .*truncated or corrupt|playback failed at message \d+ \(topic /\S+, after \d+ published\))"):
            player = BagPlayer(node, tmp_path / "bag", PlayerOptions(rate=100.0))
            try:
                player.play()
            finally:
                player.close()
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def test_player_plays_a_bag_without_semantics(tmp_path):
    """`gnesf-bag --semantics none` bags (colour, depth, camera_info, poses): the default wait is for those image
    topics only, and they play completely."""
    write_frames_to_bag(tmp_path / "bag", _frames(3), progress=False, semantics=False)
    sink = _Sink({"/color/image": Image, "/color/camera_info": CameraInfo, "/depth/image": Image})
    proc = _play([str(tmp_path / "bag"), "--wait-for-subscribers", "--wait-timeout-s", "30"])
    try:
        sink.spin_until({"/color/image": 3, "/color/camera_info": 3, "/depth/image": 3}, proc)
    finally:
        out = _finish(proc)
        sink.close()
    assert proc.returncode == 0, out
