"""Record live ROS 2 topics into a rosbag2 folder with one zstd-compressed MCAP file (opens in Foxglove).

A small stand-in for `ros2 bag record` (rosbag2_py is not on PyPI): every message is received as raw CDR
bytes by an rclpy subscription and written with rosbags' writer, stamped with its receive time. Message
definitions come from rosbags' ROS 2 Kilted type store plus the project's own interfaces (gnesf_ros_msgs,
read from their .msg files), so the MCAP carries the schemas Foxglove needs.

`skip_repeats` drops a message whose bytes equal the previous one on its topic (the node republishes an
unchanged cloud after every frame; a recording needs it once).

    python -m gnesf_ros.ros.recorder OUT_BAG [--node /gnesf_mapping] [--topics NAME:TYPE[:latched] ...]
                                     [--keep-repeats] [--ros-args ...]

The process prints "recording N topic(s)" once its subscriptions exist, and closes the file cleanly on
SIGINT/SIGTERM (exit code 0).
"""
from __future__ import annotations

import argparse
import hashlib
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gnesf_ros.errors import DataError
from gnesf_ros.ros.environment import split_ros_args

READY_LINE = "recording"


@dataclass(frozen=True)
class RecordTopic:
    """One topic to record."""

    name: str
    """Absolute topic name."""
    msgtype: str
    """ROS 2 type name, e.g. "sensor_msgs/msg/PointCloud2"."""
    latched: bool = False
    """Subscribe reliable + transient local (depth 1): a late recorder still gets the last message."""


def mapping_output_topics(node: str = "/gnesf_mapping") -> list[RecordTopic]:
    """The outputs of the gnesf_mapping node called `node` (fully qualified), as docs/ros_interface.md lists them."""
    node = "/" + node.strip("/")
    return [
        RecordTopic(f"{node}/semantic_cloud", "sensor_msgs/msg/PointCloud2", latched=True),
        RecordTopic(f"{node}/semantic_image", "sensor_msgs/msg/Image"),
        RecordTopic(f"{node}/label_image", "sensor_msgs/msg/Image"),
        RecordTopic(f"{node}/class_info", "gnesf_ros_msgs/msg/ClassList", latched=True),
        RecordTopic("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray"),
    ]


def parse_topic(text: str) -> RecordTopic:
    """"NAME:TYPE" or "NAME:TYPE:latched" -> RecordTopic (ValueError otherwise)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or parts[1].count("/") != 2 or \
            (len(parts) == 3 and parts[2] != "latched"):
        raise ValueError(f"topic must look like /name:pkg/msg/Type[:latched], got {text!r}")
    name = parts[0] if parts[0].startswith("/") else "/" + parts[0]
    return RecordTopic(name, parts[1], latched=len(parts) == 3)


def interface_dirs() -> list[Path]:
    """Folders that may hold gnesf_ros_msgs' msg/ (colcon share/, the pip build, the source tree)."""
    from gnesf_ros.paths import PACKAGE_DIR

    dirs = []
    try:
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory("gnesf_ros_msgs")))
    except Exception:  # noqa: BLE001 - ament_index is optional, the package may not be installed there
        pass
    dirs += [PACKAGE_DIR.parent / "build" / "ros_ws" / "install" / "share" / "gnesf_ros_msgs",
             PACKAGE_DIR.parent / "gnesf_ros_msgs"]
    return [d for d in dirs if (d / "msg").is_dir()]


def recording_typestore() -> Any:
    """rosbags' Kilted type store plus the gnesf_ros_msgs message types (from their .msg files)."""
    from rosbags.typesys import get_types_from_msg

    from gnesf_ros.data.bag import typestore

    store = typestore()
    for d in interface_dirs()[:1]:
        types: dict = {}
        for msg in sorted((d / "msg").glob("*.msg")):
            types.update(get_types_from_msg(msg.read_text(), f"gnesf_ros_msgs/msg/{msg.stem}"))
        store.register(types)
    return store


@dataclass
class TopicStats:
    """What was recorded on one topic."""

    written: int = 0
    skipped_repeats: int = 0
    bytes: int = 0
    last_digest: bytes = field(default=b"", repr=False)


class Recorder:
    """Subscribes `node` to `topics` (raw CDR) and writes every message to the rosbag2 folder `out`."""

    def __init__(self, node: Any, out: str | Path, topics: list[RecordTopic], skip_repeats: bool = True) -> None:
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

        from gnesf_ros.ros.player import message_class

        self.out = Path(out)
        if self.out.exists():
            raise DataError(f"recording {self.out} already exists (remove it or pick another name)")
        if not topics:
            raise DataError("no topics to record")
        self.skip_repeats = skip_repeats
        self.store = recording_typestore()
        missing = [t.msgtype for t in topics if t.msgtype not in self.store.fielddefs]
        if missing:
            raise DataError(f"unknown message type(s) {missing}: not in the Kilted type store nor gnesf_ros_msgs")
        classes = {t.name: message_class(t.msgtype) for t in topics}
        absent = [f"{n} ({t.msgtype})" for n, t in zip(classes, topics) if classes[n] is None]
        if absent:
            raise DataError(f"cannot subscribe to {absent}: message type not importable here (run 'make setup')")
        self._lock = threading.Lock()
        self.writer = Writer(self.out, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        self.writer.open()
        self.stats: dict[str, TopicStats] = {}
        self._conns: dict[str, Any] = {}
        self._closed = False
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        volatile = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
        from gnesf_ros.data.bag import _qos

        for t in topics:
            self._conns[t.name] = self.writer.add_connection(t.name, t.msgtype, typestore=self.store,
                                                             offered_qos_profiles=_qos(t.latched))
            self.stats[t.name] = TopicStats()
            node.create_subscription(classes[t.name], t.name, lambda raw, n=t.name: self._on_message(n, raw),
                                     latched if t.latched else volatile, raw=True)

    def _on_message(self, topic: str, raw: bytes) -> None:
        stamp = time.time_ns()
        with self._lock:
            if self._closed:
                return
            st = self.stats[topic]
            if self.skip_repeats:
                digest = hashlib.blake2b(raw, digest_size=16).digest()
                if digest == st.last_digest:
                    st.skipped_repeats += 1
                    return
                st.last_digest = digest
            self.writer.write(self._conns[topic], stamp, raw)
            st.written += 1
            st.bytes += len(raw)

    def close(self) -> None:
        """Finish the file (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.writer.close()

    @property
    def mcap_path(self) -> Path:
        return self.out / f"{self.out.name}.mcap"


def run_recorder(out: str | Path, topics: list[RecordTopic], skip_repeats: bool = True,
                 ros_args: list[str] | None = None, max_seconds: float = 0.0) -> int:
    """Record until SIGINT/SIGTERM (or `max_seconds` > 0 elapsed). Returns an exit code (0 ok, 1 error)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    rclpy.init(args=["gnesf_recorder", "--ros-args", *ros_args] if ros_args else ["gnesf_recorder"])
    node = rclpy.create_node("gnesf_recorder")
    recorder = None
    code = 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        recorder = Recorder(node, out, topics, skip_repeats)
        print(f"{READY_LINE} {len(topics)} topic(s) to {recorder.mcap_path}", flush=True)
        deadline = time.monotonic() + max_seconds if max_seconds > 0 else None
        while not stop.is_set() and rclpy.ok() and (deadline is None or time.monotonic() < deadline):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except DataError as exc:
        print(f"gnesf-record: error: {exc}", file=sys.stderr)
        code = 1
    finally:
        if recorder is not None:
            recorder.close()
            summary = ", ".join(f"{t} {s.written}" + (f" (+{s.skipped_repeats} repeats)" if s.skipped_repeats else "")
                                for t, s in recorder.stats.items())
            print(f"wrote {recorder.mcap_path}: {summary}", flush=True)
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return code


def main(argv: list[str] | None = None) -> int:
    argv, ros_args = split_ros_args(list(sys.argv[1:] if argv is None else argv))
    p = argparse.ArgumentParser(prog="gnesf-record", description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="output rosbag2 folder (must not exist); the MCAP file is OUT/OUT.mcap")
    p.add_argument("--node", default="/gnesf_mapping", help="fully qualified name of the mapping node whose outputs "
                                                            "are recorded (default /gnesf_mapping)")
    p.add_argument("--topics", nargs="+", default=[], metavar="NAME:TYPE[:latched]",
                   help="record these topics instead of the mapping node's outputs")
    p.add_argument("--keep-repeats", action="store_true", help="also write messages identical to the previous one")
    p.add_argument("--max-seconds", type=float, default=0.0, help="stop after this long (default: until SIGINT)")
    args = p.parse_args(argv)
    try:
        topics = [parse_topic(t) for t in args.topics] or mapping_output_topics(args.node)
    except ValueError as exc:
        print(f"gnesf-record: error: {exc}", file=sys.stderr)
        return 2
    return run_recorder(args.out, topics, not args.keep_repeats, ros_args, args.max_seconds)


if __name__ == "__main__":
    sys.exit(main())
