"""Publish a recorded bag (rosbag2, or ROS 1 `.bag` converted on the fly) into a live ROS 2 graph.

A small stand-in for `ros2 bag play` (rosbag2_py is not on PyPI): messages are published as their
recorded CDR bytes at the recorded timing (scaled by `rate`) with real rclpy publishers. Message classes
are resolved from the type names (`rosidl_runtime_py` where installed, else importlib); topics whose type
is not importable here are skipped with one warning naming them. `/tf_static` (and any topic recorded
with transient-local QoS) is published reliable + transient local so late subscribers still get it.

ROS 1 bags: each message is converted with rosbags' converter from the bag's own definitions to the
ROS 2 Kilted type store (e.g. std_msgs/Header loses `seq`).
"""
from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from gnesf_ros.errors import DataError

STATIC_TOPICS = ("/tf_static",)
WAIT_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo")  # waited for by default
NOT_WAITED = ("/semantic/ground_truth",)  # evaluation-only topics of the project's bags: nobody subscribes
# Publisher history per topic: 5 s of a 30 Hz camera. A reliable writer repairs a lost sample only once the reader
# asks for it, after the writer's next heartbeat (Fast DDS: every 3 s), and a KEEP_LAST writer has dropped what fell
# out of its history by then: with 30 (1 s) a 1x replay lost 1-3 of 150 camera_info messages into a busy node
# (2026-12-04). Acknowledged samples leave the history, so the depth costs memory only while a reader lags.
PUBLISH_DEPTH = 150


@dataclass
class PlayerOptions:
    """How to play a bag."""

    rate: float = 1.0
    """Playback speed factor (2.0 = twice as fast); must be > 0."""
    loop: bool = False
    """Start again from the beginning at the end of the bag (until shut down)."""
    topics: tuple[str, ...] = ()
    """Bag topics to play (names as recorded); empty = all."""
    remap: dict[str, str] = field(default_factory=dict)
    """Recorded topic name -> published topic name."""
    start_paused: bool = False
    """Wait for a call of `~/resume` (std_srvs/Trigger) before publishing; `~/pause` pauses again."""
    wait_for_subscribers: bool = False
    """Before publishing, wait until every topic in `wait_topics` has its matched subscriptions."""
    wait_topics: tuple[str, ...] = ()
    """Published topic names waited for, each "NAME" (one subscription) or "NAME=N" (N subscriptions, e.g. a mapper
    and a segmenter on the colour topic); empty = every Image and CameraInfo topic played, except the
    evaluation-only ground truth (`/semantic/ground_truth`, which no node subscribes to)."""
    wait_timeout_s: float = 60.0
    """How long (s) to wait for subscribers before giving up with an error."""
    timeout_s: float = 30.0
    """How long (s) to wait at the end of the bag for reliable subscribers to acknowledge the last messages (a
    mapping node can be busy for seconds)."""
    clock: bool = False
    """Publish /clock (rosgraph_msgs/Clock) from the bag's log times, for nodes with use_sim_time."""

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0, got {self.rate}")
        if self.wait_timeout_s <= 0 or self.timeout_s <= 0:
            raise ValueError(f"wait_timeout_s and timeout_s must be > 0, got {self.wait_timeout_s}, {self.timeout_s}")


@dataclass
class PlayStats:
    """What one play-through did."""

    published: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)
    skipped_topics: dict[str, str] = field(default_factory=dict)  # recorded topic -> message type
    loops: int = 0


def parse_remaps(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """['old:=new', ...] -> {'old': 'new'} (names made absolute)."""
    out = {}
    for pair in pairs:
        if ":=" not in pair:
            raise ValueError(f"remap must look like old:=new, got '{pair}'")
        old, new = pair.split(":=", 1)
        if not old or not new:
            raise ValueError(f"remap must look like old:=new, got '{pair}'")
        out[_absolute(old)] = _absolute(new)
    return out


def _absolute(name: str) -> str:
    return name if name.startswith("/") else "/" + name


def parse_wait_topics(items: tuple[str, ...] | list[str]) -> dict[str, int]:
    """["/a", "b=2"] -> {"/a": 1, "/b": 2}: published topic -> subscriptions to wait for (ValueError when bad)."""
    out: dict[str, int] = {}
    for item in items:
        name, _, count = item.partition("=")
        try:
            n = int(count) if count else 1
        except ValueError:
            n = 0
        if not name or n < 1:
            raise ValueError(f"a wait topic is NAME or NAME=N with N >= 1, got {item!r}")
        out[_absolute(name)] = n
    return out


def message_class(msgtype: str) -> Any | None:
    """'sensor_msgs/msg/Image' -> the rclpy message class, or None when not importable here."""
    try:
        from rosidl_runtime_py.utilities import get_message
        return get_message(msgtype)
    except (ImportError, ModuleNotFoundError, AttributeError, ValueError):
        pass
    parts = msgtype.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3:
        return None
    try:
        return getattr(importlib.import_module(f"{parts[0]}.{parts[1]}"), parts[2])
    except (ImportError, AttributeError):
        return None


def _qos_for(topic: str, conn: Any) -> QoSProfile:
    latched = topic in STATIC_TOPICS
    for q in getattr(getattr(conn, "ext", None), "offered_qos_profiles", None) or []:
        if getattr(q.durability, "name", "") == "TRANSIENT_LOCAL":
            latched = True
    if latched:
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=PUBLISH_DEPTH, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


class BagPlayer:
    """Plays one bag through `node`'s publishers. `play()` blocks; call it from the main thread while an
    executor spins the node elsewhere (for the pause/resume services)."""

    def __init__(self, node: Node, bag: str | Path, options: PlayerOptions | None = None):
        from rosbags.highlevel import AnyReader

        self.node, self.options = node, options or PlayerOptions()
        self.path = Path(bag)
        if self.path.is_file() and self.path.suffix in (".mcap", ".db3"):
            self.path = self.path.parent
        if not self.path.exists():
            raise DataError(f"bag not found: {self.path}")
        from gnesf_ros.data.bag import typestore
        self._dst_store = typestore()
        try:
            self.reader = AnyReader([self.path], default_typestore=self._dst_store)
            self.reader.open()
        except Exception as exc:
            raise DataError(f"cannot open bag {self.path}: {exc} (truncated or corrupt bag?)") from exc
        self._paused = threading.Event()
        if self.options.start_paused:
            self._paused.set()
        self._stop = threading.Event()
        self._clock_ns: int | None = None
        self.stats = PlayStats()
        self._setup()

    # -- set-up ------------------------------------------------------------------------------------
    def _setup(self) -> None:
        log = self.node.get_logger()
        wanted = set(self.options.topics)
        present = {c.topic for c in self.reader.connections}
        if wanted - present:
            raise DataError(f"{self.path}: topic(s) {sorted(wanted - present)} not in the bag (has {sorted(present)})")
        self.conns = [c for c in self.reader.connections if not wanted or c.topic in wanted]
        self.publishers: dict[int, Any] = {}
        self.converters: dict[int, Callable[[Any], bytes]] = {}
        by_topic: dict[str, Any] = {}
        cache: dict[str, object] = {}
        for c in self.conns:
            cls = message_class(c.msgtype)
            convert = self._converter(c, cache)
            if cls is None or convert is None:
                self.stats.skipped_topics[c.topic] = c.msgtype
                continue
            out = self.options.remap.get(c.topic, c.topic)
            if out not in by_topic:
                by_topic[out] = self.node.create_publisher(cls, out, _qos_for(c.topic, c))
            self.publishers[c.id] = by_topic[out]
            self.converters[c.id] = convert
        if self.stats.skipped_topics:
            log.warning("skipping topic(s) whose message type is not available here: "
                        + ", ".join(f"{t} ({m})" for t, m in sorted(self.stats.skipped_topics.items())))
        if not self.publishers:
            raise DataError(f"{self.path}: nothing to play (no topic with an importable message type)")
        types = {c.topic: c.msgtype for c in self.conns}
        if "sensor_msgs/msg/Image" in types.values() and "sensor_msgs/msg/CameraInfo" not in types.values():
            log.warning(f"{self.path}: images but no sensor_msgs/CameraInfo topic; consumers needing intrinsics will wait")
        self.topic_names = sorted(by_topic)
        self.conns = [c for c in self.conns if c.id in self.publishers]
        self.image_topics = sorted({self.options.remap.get(c.topic, c.topic) for c in self.conns
                                    if c.msgtype in WAIT_TYPES and c.topic not in NOT_WAITED})
        self.clock_pub = None
        if self.options.clock:
            from rosgraph_msgs.msg import Clock

            self._clock_msg = Clock
            self.clock_pub = self.node.create_publisher(Clock, "/clock", QoSProfile(
                history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE))

    def _converter(self, conn: Any, cache: dict[str, object]) -> Callable[[Any], bytes] | None:
        if self.reader.is2:
            fmt = getattr(getattr(conn, "ext", None), "serialization_format", "cdr")
            return bytes if fmt == "cdr" else None
        from rosbags.convert.converter import generate_message_converter
        if conn.msgtype not in self._dst_store.fielddefs:
            return None
        try:
            conv = generate_message_converter(self.reader.typestore, self._dst_store, conn.msgtype, conn.msgtype, cache,
                                              src_is2=False, dst_is2=True)
        except Exception as exc:  # incompatible definitions
            self.node.get_logger().warning(f"{conn.topic}: cannot convert ROS 1 {conn.msgtype}: {exc}")
            return None
        return lambda raw: bytes(conv(raw))

    # -- control -----------------------------------------------------------------------------------
    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        try:
            self.reader.close()
        except Exception:
            pass

    def wait_for_subscribers(self) -> None:
        """Block until every wait topic has a matched subscription (DataError on timeout, naming the topics)."""
        if not self.options.wait_for_subscribers:
            return
        wanted = parse_wait_topics(self.options.wait_topics) or \
            {t: 1 for t in (self.image_topics or self.topic_names)}
        pubs = {p.topic_name: p for p in set(self.publishers.values())}
        if self.clock_pub is not None:
            pubs["/clock"] = self.clock_pub
        unknown = set(wanted) - set(pubs)
        if unknown:
            raise DataError(f"wait topic(s) {sorted(unknown)} are not published (publishing {sorted(pubs)})")
        timeout_s = self.options.wait_timeout_s
        deadline = time.monotonic() + timeout_s
        while not self._stop.is_set():
            short = sorted(f"{t} ({pubs[t].get_subscription_count()} of {n})" for t, n in wanted.items()
                           if pubs[t].get_subscription_count() < n)
            if not short:
                return
            if time.monotonic() > deadline:
                raise DataError(f"too few subscribers on {', '.join(short)} after {timeout_s:g} s "
                                "(--wait-timeout-s); is the node running, in this ROS_DOMAIN_ID, with these topic "
                                "names?")
            time.sleep(0.02)

    # -- playing -----------------------------------------------------------------------------------
    def drain(self, timeout_s: float) -> bool:
        """Wait until every reliable subscriber has acknowledged everything published (at most timeout_s in all).

        A process that exits right after its last publish loses what a busy subscriber has not taken yet.
        Returns False if some publisher was still waiting when the time ran out.
        """
        from rclpy.duration import Duration

        deadline = time.monotonic() + timeout_s
        done = True
        for pub in {id(p): p for p in self.publishers.values()}.values():
            left = max(0.0, deadline - time.monotonic())
            try:
                done &= bool(pub.wait_for_all_acked(Duration(seconds=left)))
            except Exception:  # best effort publishers or a context shutting down: nothing to wait for
                continue
        return done

    def play(self) -> PlayStats:
        """Publish the bag (looping if asked) until the end, `stop()` or shutdown. Errors name the message."""
        self.wait_for_subscribers()
        while True:
            self._play_once()
            if not self.options.loop or self._stop.is_set() or not rclpy.ok(context=self.node.context):
                return self.stats
            self.stats.loops += 1

    def _publish_clock(self, t_ns: int) -> None:
        """/clock = the log time of the message about to be published (the bag's stamps: sim time follows them)."""
        from builtin_interfaces.msg import Time

        self._clock_ns = t_ns
        self.clock_pub.publish(self._clock_msg(clock=Time(sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000)))

    def _sleep_until(self, wall_deadline: float) -> float:
        """Sleep until the deadline, honouring pause (returns the time spent paused)."""
        paused_for = 0.0
        while not self._stop.is_set():
            if self._paused.is_set():
                t0 = time.monotonic()
                while self._paused.is_set() and not self._stop.is_set():
                    time.sleep(0.02)
                paused_for += time.monotonic() - t0
                wall_deadline += time.monotonic() - t0
                continue
            left = wall_deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 0.05))
        return paused_for

    def _play_once(self) -> None:
        rate = self.options.rate
        t0_bag = None
        t0_wall = time.monotonic()
        index = -1
        topic = "start of bag"
        try:
            for index, (conn, t_ns, raw) in enumerate(self.reader.messages(connections=self.conns)):
                topic = conn.topic
                if t0_bag is None:
                    t0_bag = t_ns
                    self._sleep_until(t0_wall)  # honour start-paused before the first message
                    t0_wall = time.monotonic()
                t0_wall += self._sleep_until(t0_wall + (t_ns - t0_bag) / 1e9 / rate)
                if self._stop.is_set() or not rclpy.ok(context=self.node.context):
                    return
                data = self.converters[conn.id](raw)
                if self.clock_pub is not None and t_ns != self._clock_ns:
                    self._publish_clock(t_ns)
                self.publishers[conn.id].publish(data)
                self.stats.published += 1
                self.stats.per_topic[topic] = self.stats.per_topic.get(topic, 0) + 1
        except DataError:
            raise
        except Exception as exc:
            if not rclpy.ok(context=self.node.context):
                return  # shutting down
            raise DataError(f"{self.path}: playback failed at message {index + 1} (topic {topic}, after "
                            f"{self.stats.published} published): {type(exc).__name__}: {exc}") from exc


def run_player(bag: str | Path, options: PlayerOptions, ros_args: list[str] | None = None) -> int:
    """Create a node, play `bag` into the graph, shut down. Returns an exit code (0 ok, 1 error)."""
    import sys

    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from gnesf_ros.ros.middleware import apply_fastdds_profile

    apply_fastdds_profile()  # before the first participant exists (see middleware.py)
    rclpy.init(args=["gnesf-play", "--ros-args", *ros_args] if ros_args else ["gnesf-play"])
    node = Node("gnesf_bag_player")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    player = None
    spin = None
    code = 0
    try:
        player = BagPlayer(node, bag, options)
        node.context.on_shutdown(player.stop)
        _add_services(node, player)
        spin = threading.Thread(target=_spin, args=(executor,), daemon=True)
        spin.start()
        if options.start_paused:
            node.get_logger().info("paused: call ~/resume (std_srvs/srv/Trigger) to start")
        stats = player.play()
        node.get_logger().info(f"published {stats.published} message(s) on {len(stats.per_topic)} topic(s)"
                               + (f", {stats.loops} loop(s)" if stats.loops else ""))
        # the tail of the bag: reliable subscribers must have it before this process (the writers) goes away
        if not player.drain(options.timeout_s):
            node.get_logger().warning(f"some subscribers had not acknowledged the last messages after "
                                      f"{options.timeout_s} s")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (DataError, ValueError) as exc:
        print(f"gnesf-play: error: {exc}", file=sys.stderr)
        code = 1
    finally:
        if player is not None:
            player.stop()
            player.close()
        if rclpy.ok():
            rclpy.shutdown()  # ends the spinning thread (ExternalShutdownException)
        if spin is not None:
            spin.join(timeout=2.0)
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
    return code


def _spin(executor) -> None:
    from rclpy.executors import ExternalShutdownException
    try:
        executor.spin()
    except (ExternalShutdownException, KeyboardInterrupt):
        pass
    except Exception:  # context invalid during shutdown
        pass


def _add_services(node: Node, player: BagPlayer) -> None:
    try:
        from std_srvs.srv import Trigger
    except ImportError:
        if player.options.start_paused:
            raise DataError("--start-paused needs std_srvs (for the ~/resume service), which is not installed")
        return

    def resume(_req, resp):
        player.resume()
        resp.success, resp.message = True, "playing"
        return resp

    def pause(_req, resp):
        player.pause()
        resp.success, resp.message = True, "paused"
        return resp

    node._gnesf_services = [node.create_service(Trigger, "~/resume", resume),
                            node.create_service(Trigger, "~/pause", pause)]
