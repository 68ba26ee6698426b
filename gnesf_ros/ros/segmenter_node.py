"""The `gnesf_segmenter` ROS 2 node: `color/image` in, `semantic/image` (+ `semantic/confidence`) out.

Output `labels`: `semantic/image` mono8 class ids (255 = unknown) and `semantic/confidence` 32FC1 (the top
probability); output `probabilities`: `semantic/image` 32FC<C> softmax probabilities. Both carry the input
image's header (stamp and frame), which is what the mapper synchronises on.

Threads: the image callback only stores the newest message (a message it replaces before the worker took it is
counted as dropped), so the node never lags behind the camera; one worker thread decodes, runs the network and
publishes. With `keep_every_image` (recorded data, where every frame matters more than latency) the callback
queues up to `input_queue_size` images instead and the worker takes them in order. Bad encodings are skipped,
counted and logged once per `bad_input_log_period_s`.

Run: `ros2 run gnesf_ros segmenter_node --ros-args --params-file config/segmenter.yaml`, or
`python -m gnesf_ros.ros.segmenter_node --ros-args ...`.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from gnesf_ros.classes import IGNORE_ID, ClassList
from gnesf_ros.config import from_dict
from gnesf_ros.errors import ConfigError, InputError, MapFileError
from gnesf_ros.ros import conversions as conv
from gnesf_ros.ros.diagnostics import NodeStats, memory_rss_mb, to_diagnostic_array
from gnesf_ros.ros.node import input_qos
from gnesf_ros.ros.params import INPUT_QOS, field_docs
from gnesf_ros.segmentation.checkpoint import default_checkpoint
from gnesf_ros.segmentation.infer import Segmenter

NODE_NAME = "gnesf_segmenter"
OUTPUTS = ("labels", "probabilities")


@dataclass
class SegmenterNodeParams:
    """Parameters of the `gnesf_segmenter` node (config/segmenter.yaml documents each)."""

    checkpoint: str = ""
    """Segmenter checkpoint file; "" = the shipped gnesf_ros/checkpoints/segmenter.pt (made by `make
    train-segmenter`)."""

    device: str = "cpu"
    """Torch device the network runs on: "cpu", "cuda" or "cuda:N"."""

    output: str = "labels"
    """"labels": semantic/image as mono8 ids (255 = unknown) + semantic/confidence 32FC1; "probabilities":
    semantic/image as 32FC<C> softmax probabilities (C = number of classes), no confidence image."""

    min_confidence: float = 0.0
    """In "labels" output, pixels whose top probability is below this are published as 255 (unknown); 0 = never."""

    class_file: str = ""
    """Class list YAML the checkpoint must match (names in order); "" = ScanNet-20 (config/scannet20.yaml)."""

    input_qos: str = "sensor_data"
    """QoS of `color/image`, as the mapper's inputs: "sensor_data" (best effort) or "reliable" (depth
    input_queue_size). The outputs are always reliable, which both kinds of subscriber accept."""

    input_queue_size: int = 150
    """History depth of the reliable input and of the outputs (5 s of a 30 Hz camera, as the mapper's
    input_history_depth: a Python executor on a busy machine takes messages in bursts, and a reader whose history
    is full loses the oldest; an image lost so is not counted in `received`), and the queue of
    `keep_every_image`. Acknowledged samples leave a writer's history, so the depth costs memory only while a
    reader lags."""

    keep_every_image: bool = False
    """Segment every image in arrival order (a queue of `input_queue_size`; the oldest is dropped when it is full,
    counted as `dropped_queue_full`) instead of only the newest. For replaying recorded data with a reliable
    input, where a frame left unlabelled is a frame the mapper never maps; live, the newest image matters more."""

    torch_threads: int = 1
    """Threads torch may use in this process; 0 = torch's default (all cores)."""

    diagnostics_rate_hz: float = 1.0
    """Rate (Hz) of /diagnostics."""

    bad_input_log_period_s: float = 10.0
    """At most one log line per kind of bad input in this period (s); every occurrence is counted in diagnostics."""

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.input_qos not in INPUT_QOS:
            raise ValueError(f"input_qos must be one of {INPUT_QOS}, got {self.input_qos!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.input_queue_size < 1 or self.torch_threads < 0:
            raise ValueError("input_queue_size must be >= 1 and torch_threads >= 0")
        if self.diagnostics_rate_hz <= 0 or self.bad_input_log_period_s < 0:
            raise ValueError("diagnostics_rate_hz must be > 0 and bad_input_log_period_s >= 0")
        if not (self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")


def declare_segmenter_parameters(node: Any) -> SegmenterNodeParams:
    """Declare every `SegmenterNodeParams` field on `node` (default + docstring) and map the values back."""
    from rcl_interfaces.msg import ParameterDescriptor

    docs = field_docs(SegmenterNodeParams)
    defaults = SegmenterNodeParams()
    values = {}
    for f in dataclasses.fields(SegmenterNodeParams):
        default = getattr(defaults, f.name)
        descriptor = ParameterDescriptor(description=docs.get(f.name, ""), read_only=True,
                                         dynamic_typing=isinstance(default, float))
        values[f.name] = node.declare_parameter(f.name, default, descriptor).value
    return from_dict(SegmenterNodeParams, values, NODE_NAME)


class SegmenterNode(Node):
    """Runs the 2D segmenter on every newest colour image (see the module docstring)."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        p = self.params = declare_segmenter_parameters(self)
        import torch

        if p.torch_threads > 0:
            torch.set_num_threads(p.torch_threads)
        if p.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"{NODE_NAME}: device {p.device!r} requested but torch sees no CUDA device")
        self.class_list = ClassList.from_yaml(p.class_file or None)
        self.checkpoint = p.checkpoint or str(default_checkpoint())
        self.segmenter = Segmenter.from_checkpoint(self.checkpoint, self.class_list.names, p.device)
        self.stats = NodeStats(p.bad_input_log_period_s)
        self._pending: deque[Any] = deque()  # images waiting for the worker (at most one unless keep_every_image)
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._infer_s: deque[float] = deque(maxlen=50)  # seconds of the latest inferences

        out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=p.input_queue_size,
                             reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.create_publisher(Image, "semantic/image", out_qos)
        self.confidence_pub = (self.create_publisher(Image, "semantic/confidence", out_qos)
                               if p.output == "labels" else None)
        from diagnostic_msgs.msg import DiagnosticArray

        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(Image, "color/image", self._on_image, input_qos(p.input_qos, p.input_queue_size),
                                 callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(1.0 / p.diagnostics_rate_hz, self._publish_diagnostics,
                          callback_group=MutuallyExclusiveCallbackGroup())
        self._worker = threading.Thread(target=self._work, name="gnesf_segmenter_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"{NODE_NAME} ready: {self.checkpoint} on '{p.device}', output '{p.output}', "
                               f"{self.segmenter.num_classes} classes")

    # ---------------------------------------------------------------------------------- input
    def _on_image(self, msg: Image) -> None:
        self.stats.tick("color")
        with self._cv:
            if self._pending and not self.params.keep_every_image:
                self._pending.clear()
                self.stats.count("dropped_stale")  # the worker was busy: only the newest image matters
            elif len(self._pending) >= self.params.input_queue_size:
                self._pending.popleft()
                self.stats.count("dropped_queue_full")
            self._pending.append(msg)
            self._cv.notify()

    def _bad_input(self, kind: str, stamp_ns: int, text: str) -> None:
        self.stats.skip_bad_input(self.get_logger(), kind, stamp_ns, text)

    # --------------------------------------------------------------------------------- worker
    def _work(self) -> None:
        while not self._stop.is_set():
            with self._cv:
                if not self._pending:
                    self._cv.wait(0.1)
                    continue
                msg = self._pending.popleft()
            try:
                self._process(msg)
            except Exception as exc:  # noqa: BLE001 - the worker must survive anything an image can cause
                if self._stop.is_set():
                    return
                self._bad_input("internal_error", conv.stamp_to_ns(msg.header.stamp), f"{type(exc).__name__}: {exc}")

    def _process(self, msg: Image) -> None:
        stamp = conv.stamp_to_ns(msg.header.stamp)
        try:
            rgb = conv.image_to_rgb(msg)
        except conv.EmptyImageError as exc:
            self._bad_input("empty_image", stamp, str(exc))
            return
        except InputError as exc:
            self._bad_input("color_image", stamp, str(exc))
            return
        t0 = time.perf_counter()
        if self.params.output == "labels":
            labels, conf = self.segmenter.labels_and_confidence(rgb, self.params.min_confidence, IGNORE_ID)
            self._infer_s.append(time.perf_counter() - t0)
            self._publish(self.image_pub, conv.numpy_to_image(labels, "mono8", msg.header))
            self._publish(self.confidence_pub, conv.numpy_to_image(conf, "32FC1", msg.header))
        else:
            probs = self.segmenter.predict(rgb)  # (C, H, W)
            self._infer_s.append(time.perf_counter() - t0)
            C = probs.shape[0]
            self._publish(self.image_pub, conv.numpy_to_image(probs.transpose(1, 2, 0), f"32FC{C}", msg.header))
        self.stats.count("frames_segmented")
        self.stats.latency(max(0.0, self.get_clock().now().nanoseconds * 1e-9 - stamp * 1e-9))

    def _publish(self, pub: Any, msg: Any) -> None:
        try:
            pub.publish(msg)
        except Exception as exc:  # noqa: BLE001 - RCLError under back-pressure or at shutdown: count, go on
            if not self._stop.is_set():
                self.stats.count("publish_errors")
                self.stats.bad_input("publish_error", str(exc))

    # ---------------------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        snap = self.stats.snapshot()
        times = sorted(list(self._infer_s))
        values = {
            "input_rate_hz": snap["rates_hz"].get("color", 0.0),
            "received": snap["received"].get("color", 0),
            "frames_segmented": snap["counters"].get("frames_segmented", 0),
            "dropped_stale": snap["counters"].get("dropped_stale", 0),
            "dropped_queue_full": snap["counters"].get("dropped_queue_full", 0),
            "bad_input": snap["bad_inputs"],
            "publish_errors": snap["counters"].get("publish_errors", 0),
            "inference_ms_median": 1e3 * times[len(times) // 2] if times else 0.0,
            "latency_ms": {"median": snap["latency_ms_median"], "max": snap["latency_ms_max"]},
            "device": self.params.device,
            "output": self.params.output,
            "memory_rss_mb": memory_rss_mb(),
        }
        bad = snap["bad_inputs"]
        level, message = (1, "bad input: " + ", ".join(f"{k} x{v}" for k, v in sorted(bad.items()))) if bad \
            else (0, "segmenting")
        self._publish(self.diag_pub, to_diagnostic_array(f"{self.get_name()}: segmenter",
                                                         self.get_fully_qualified_name(),
                                                         self.get_clock().now().to_msg(), values, level, message))

    def stop(self) -> None:
        """Stop the worker (idempotent; safe from context.on_shutdown)."""
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(timeout=1.0)


def main(args: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM; 0 on a clean exit, 2 when it cannot start (e.g. no checkpoint)."""
    from gnesf_ros.ros.middleware import apply_fastdds_profile

    apply_fastdds_profile()  # its label images are reliable samples the mapper waits for (see middleware.py)
    rclpy.init(args=args)
    try:
        node = SegmenterNode()
    except MapFileError as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(
            f"cannot start: {exc}; train one with `make train-segmenter` or set the `checkpoint` parameter")
        rclpy.try_shutdown()
        return 2
    except (ConfigError, InputError) as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        rclpy.try_shutdown()
        return 0
    rclpy.get_default_context().on_shutdown(node.stop)
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.stop()
        executor.shutdown(timeout_sec=0.5)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
