"""The `gnesf_mapping` ROS 2 node: posed RGB + 2D semantics in, a semantic map and its views out.

Threads: subscription callbacks (one mutually exclusive group; TF and poses in another) only read headers, synchronise by stamp and push onto a
bounded queue, never blocking; one worker thread decodes, looks up the pose (waiting up to
`tf_lookup_timeout_s`) and runs the mapper; the cloud timer and the services share a mutually exclusive group
and take the map lock. Bad input is counted, logged once per period per kind, and the frame is skipped.

Run: `ros2 run gnesf_ros mapping_node --ros-args --params-file config/mapping.yaml`, or
`python -m gnesf_ros.ros.node --ros-args ...`.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data)
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_srvs.srv import SetBool, Trigger

from gnesf_ros.classes import IGNORE_ID, ClassList
from gnesf_ros.errors import ConfigError, GnesfError, InputError, MapFileError
from gnesf_ros.frame import Frame
from gnesf_ros.mapping.config import GeometrySource
from gnesf_ros.ros import conversions as conv
from gnesf_ros.ros.diagnostics import NodeStats, memory_rss_mb, to_diagnostic_array
from gnesf_ros.ros.navigation_outputs import NavigationOutputs
from gnesf_ros.ros.mesh_outputs import MeshOutputs
from gnesf_ros.ros.params import (InputQos, NodeParams, PoseSource, configs_from_params, declare_parameters,
                                  runtime_update)
from gnesf_ros.ros.sync import StampSynchronizer, SyncedSet
from gnesf_ros.ros.timers import set_timer_rate
from gnesf_ros.ros.tf_buffer import (Tf2Adapter, TfBuffer, TransformLookupError, UnknownFrameError)

NODE_NAME = "gnesf_mapping"
POSE_CHILD = "__gnesf_pose__"  # child frame under which pose-topic messages are cached in a TfBuffer
TIMER_LOCK_WAIT_S = 0.2
"""Longest a timer callback waits for the map lock (a fragment's fusion holds it for seconds on a CPU): a timer
that blocked would hold one of the executor's threads, and with them all busy rclpy's MultiThreadedExecutor re-submits
queued callbacks in a busy loop that takes the interpreter from the inputs and the worker."""
STREAMS_REQUIRED = ["semantic", "color", "camera_info"]  # the semantic image is the anchor (slowest stream)
STREAMS_OPTIONAL = ["confidence", "depth"]
TOPICS = {"semantic": "semantic/image", "color": "color/image", "camera_info": "color/camera_info",
          "confidence": "semantic/confidence", "depth": "depth/image"}
LABEL_UNKNOWN_WIRE = conv.LABEL_UNKNOWN_MONO16  # mono16 label images say "unknown" with 65535
WALL_CLOCK_STAMP_WINDOW_NS = 86_400 * 10**9  # a stamp within a day of the node's clock is on that clock
FLUSH_QUEUE_TIMEOUT_S = 30.0  # ~/flush waits this long for queued frames to reach the mapper


def _try_import(module: str, name: str) -> Any:
    try:
        return getattr(__import__(module, fromlist=[name]), name)
    except ImportError:
        return None


def latched_qos(depth: int = 1) -> QoSProfile:
    """Reliable + transient local: late subscribers get the last `depth` messages (maps, class lists)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def input_qos(name: InputQos | str, reliable_depth: int = 150) -> QoSProfile:
    """QoS of the image and camera_info inputs.

    "reliable" (the default) keeps `reliable_depth` messages per topic (the node passes input_history_depth): the
    node's Python executor takes messages in bursts while the worker holds the interpreter, and a reader whose
    history is full loses the oldest sample whatever the transport; reliable delivery also repairs the UDP
    fragments of large images that best effort loses (measured at 1x replay of a 30 Hz 640x480 scan, 2026-12-04:
    sensor_data received 79 of 150 camera_info, 85 colour, 52 depth; reliable(30) 149-150 of 150 each). A
    best-effort publisher does not match a reliable subscription: the node then says so (`incompatible_qos`)
    and "sensor_data" is the setting for such a driver."""
    if InputQos(name) is InputQos.SENSOR_DATA:
        return qos_profile_sensor_data
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=reliable_depth, reliability=ReliabilityPolicy.RELIABLE)


@dataclass
class _Pending:
    """A synchronised frame waiting for the worker."""

    synced: SyncedSet
    T_map_cam: np.ndarray | None  # pose found at enqueue time (None: the worker waits for it)
    keyframe_hint: bool | None  # pre-checked keyframe-ness (None: unknown pose)
    received_s: float
    mapped: bool = False  # the mapper took it


class MappingNode(Node):
    """Online GNeSF semantic mapping node (see the module docstring and docs/ros_interface.md)."""

    def __init__(self, mapper_factory: Callable[..., Any] | None = None, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        self.params, self.mapper_config = configs_from_params(declare_parameters(self))
        p: NodeParams = self.params
        self.class_list = ClassList.from_yaml(p.class_file or None)
        if mapper_factory is None:
            from gnesf_ros.mapping import Mapper as mapper_factory  # noqa: N813 - the default factory is the class
        if p.torch_threads > 0 and "torch" in sys.modules:  # the real mapper imported torch (a numpy stand-in did not)
            sys.modules["torch"].set_num_threads(p.torch_threads)
        self.mapper = mapper_factory(self.mapper_config, class_list=self.class_list)
        self.stats = NodeStats(p.bad_input_log_period_s)
        self.integrating = True
        self._map_lock = threading.Lock()
        self._last_mapper_stats: dict[str, Any] = {}  # latest mapper counters, for diagnostics
        self._map_version = 0
        self._published_version = -1
        self._published_empty = False  # the last published cloud had no point
        self._stop = threading.Event()
        self._queue: deque[_Pending] = deque()
        self._queue_cv = threading.Condition()
        self._busy = False  # the worker holds a frame taken from the queue
        self._in_flight: _Pending | None = None  # that frame (the oldest in the keyframe chain of _resolve_hints)
        self._last_stamp: dict[str, int] = {}
        # keyframe-ness at receipt, for thinning: the mapper's rule and thresholds (mapping/keyframes.py; imported
        # here, after the mapper, as it brings torch)
        from gnesf_ros.mapping.keyframes import KeyframeSelector

        self._kf_selector = KeyframeSelector.from_config(self.mapper_config)
        self._first_pose_ns: int | None = None  # stamp of the first frame whose pose was found
        self._last_processed_ns = -1

        # inputs in one mutually exclusive group: their callbacks are short, and each stream stays in stamp order
        # (a reentrant group could run two messages of one topic at once); poses / TF get their own group
        inputs = MutuallyExclusiveCallbackGroup()
        poses = ReentrantCallbackGroup()
        self._serial = MutuallyExclusiveCallbackGroup()
        diag_group = MutuallyExclusiveCallbackGroup()

        # ---- pose source
        self.tf: Any
        if p.pose_source is PoseSource.TF:
            self.tf = self._make_tf_source(poses)
        else:
            self.tf = TfBuffer(p.tf_cache_time_s)
            if p.pose_source is PoseSource.POSE_STAMPED:
                from geometry_msgs.msg import PoseStamped as pose_type
            else:
                from nav_msgs.msg import Odometry as pose_type
            self.create_subscription(pose_type, "pose", self._on_pose, 100, callback_group=poses)

        # ---- inputs
        required, optional = list(STREAMS_REQUIRED), list(STREAMS_OPTIONAL)
        self.geometry_source = self.mapper_config.geometry_source  # a GeometrySource: MapperConfig parsed it
        if self.geometry_source is GeometrySource.DEPTH:  # depth geometry needs depth in every frame
            required.append("depth")
            optional.remove("depth")
        if p.require_confidence:
            required.append("confidence")
            optional.remove("confidence")
        self.sync = StampSynchronizer(required, optional, int(p.sync_tolerance_s * 1e9), p.sync_queue_size,
                                      on_drop=self._on_sync_drop)
        qos = input_qos(p.input_qos, p.input_history_depth)
        for stream, topic in TOPICS.items():
            msg_type = CameraInfo if stream == "camera_info" else Image
            self.create_subscription(msg_type, topic, lambda m, s=stream: self._on_input(s, m), qos,
                                     callback_group=inputs, event_callbacks=self._qos_events(stream))

        # ---- outputs
        self.cloud_pub = self.create_publisher(PointCloud2, "~/semantic_cloud", latched_qos())
        self.semantic_image_pub = self.create_publisher(Image, "~/semantic_image", 2)
        self.label_image_pub = self.create_publisher(Image, "~/label_image", 2)
        from diagnostic_msgs.msg import DiagnosticArray

        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.class_info_pub = None
        class_list_msg = _try_import("gnesf_ros_msgs.msg", "ClassList")
        if class_list_msg is not None:
            self.class_info_pub = self.create_publisher(class_list_msg, "~/class_info", latched_qos())
            self._publish_class_info(class_list_msg)
        else:
            self.get_logger().warning("gnesf_ros_msgs is not importable: ~/class_info and ~/render_view are off "
                                      "(build it: tools/build_interfaces.sh, or colcon build)")
        # obstacle cloud, occupancy grid, class masks for Nav2 (gnesf_ros/ros/navigation_outputs.py)
        self.navigation = NavigationOutputs(self, self.class_list, p.map_frame, self._map_snapshot, self._publish)

        # ---- services
        file_path_srv = _try_import("gnesf_ros_msgs.srv", "FilePath")
        render_srv = _try_import("gnesf_ros_msgs.srv", "RenderView")
        if file_path_srv is not None:
            self.create_service(file_path_srv, "~/save_map", self._srv_save_map, callback_group=self._serial)
            self.create_service(file_path_srv, "~/load_map", self._srv_load_map, callback_group=self._serial)
            self.create_service(file_path_srv, "~/save_ply", self._srv_save_ply, callback_group=self._serial)
        if render_srv is not None:
            self.create_service(render_srv, "~/render_view", self._srv_render_view, callback_group=self._serial)
        self.create_service(Trigger, "~/clear_map", self._srv_clear_map, callback_group=self._serial)
        self.create_service(Trigger, "~/flush", self._srv_flush, callback_group=self._serial)
        self.create_service(SetBool, "~/toggle_integration", self._srv_toggle_integration,
                            callback_group=self._serial)
        self.mesh_outputs = MeshOutputs(self, self._map_lock, self._serial, file_path_srv,  # ~/mesh, ~/save_mesh
                                        TIMER_LOCK_WAIT_S)

        # ---- timers and the worker
        self._cloud_timer = self.create_timer(1.0 / p.publish_rate_hz, self._publish_cloud, callback_group=self._serial)
        self._diag_timer = self.create_timer(1.0 / p.diagnostics_rate_hz, self._publish_diagnostics,
                                             callback_group=diag_group)
        # `ros2 param set`: the run-time parameters (params.RUNTIME_PARAMETERS) are applied, the others are read-only
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._worker = threading.Thread(target=self._work, name="gnesf_mapping_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"gnesf_mapping ready: pose from {p.pose_source}, map frame '{p.map_frame}', "
            f"{self.class_list.num_classes} classes, geometry '{self.mapper_config.geometry_source}', "
            f"device '{self.mapper_config.device}'")

    # ================================================================================== pose sources
    def _make_tf_source(self, group: Any) -> Any:
        p = self.params
        tf2_ros = None
        try:
            import tf2_ros  # noqa: F811
        except ImportError:
            pass
        if tf2_ros is not None:
            from rclpy.duration import Duration

            buffer = tf2_ros.Buffer(cache_time=Duration(seconds=p.tf_cache_time_s))
            self._tf_listener = tf2_ros.TransformListener(buffer, self, spin_thread=False)
            return Tf2Adapter(buffer)
        tf_message = _try_import("tf2_msgs.msg", "TFMessage")
        buffer = TfBuffer(p.tf_cache_time_s)
        if tf_message is None:
            self.get_logger().error("pose_source 'tf' needs tf2_ros or tf2_msgs (the fallback build: "
                                    "tools/build_interfaces.sh); no pose will be found. Use pose_source "
                                    "'pose_stamped' or 'odometry' otherwise")
            return buffer
        dynamic = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(tf_message, "/tf", lambda m: self._on_tf(m, False), dynamic, callback_group=group)
        self.create_subscription(tf_message, "/tf_static", lambda m: self._on_tf(m, True), latched_qos(100),
                                 callback_group=group)
        return buffer

    def _on_tf(self, msg: Any, static: bool) -> None:
        for err in self.tf.set_transforms(msg.transforms, static):
            self._bad_input("tf", 0, err)

    def _on_pose(self, msg: Any) -> None:
        self.stats.tick("pose")
        stamp = conv.stamp_to_ns(msg.header.stamp)
        frame = msg.header.frame_id.lstrip("/")
        if frame != self.params.map_frame:
            self._bad_input("pose_frame", stamp, f"pose is in frame '{frame}', expected map_frame "
                                                 f"'{self.params.map_frame}'")
            return
        pose = msg.pose.pose if hasattr(msg.pose, "pose") else msg.pose  # Odometry has a PoseWithCovariance
        from geometry_msgs.msg import TransformStamped

        t = TransformStamped()
        t.header = msg.header
        t.header.frame_id = self.params.map_frame
        t.child_frame_id = POSE_CHILD
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = \
            pose.position.x, pose.position.y, pose.position.z
        t.transform.rotation = pose.orientation
        try:
            conv.pose_to_matrix(pose, "pose")
            self.tf.set_transform(t)
        except InputError as exc:
            self._bad_input("pose", stamp, str(exc))

    def _camera_frame(self, synced: SyncedSet) -> str:
        if self.params.pose_source is not PoseSource.TF:
            return POSE_CHILD
        return self.params.camera_frame or synced.msgs["color"].header.frame_id

    # ====================================================================================== inputs
    def _on_input(self, stream: str, msg: Any) -> None:
        self.stats.tick(stream)
        stamp = conv.stamp_to_ns(msg.header.stamp)
        last = self._last_stamp.get(stream)
        if last is not None and (stamp < last or (stamp == last and stream == "semantic")):
            self._bad_input("stamps_out_of_order", stamp, f"{TOPICS[stream]} stamp {stamp * 1e-9:.3f} s is not "
                                                          f"after the previous {last * 1e-9:.3f} s")
            return
        self._last_stamp[stream] = stamp
        for synced in self.sync.add(stream, stamp, msg):
            self._enqueue(synced)

    def _qos_events(self, stream: str) -> Any:
        """Event callbacks of an input subscription: a publisher whose QoS cannot match ours is reported."""
        try:
            from rclpy.event_handler import SubscriptionEventCallbacks
        except ImportError:  # pragma: no cover - older rclpy
            return None

        def incompatible(info: Any) -> None:
            policy = getattr(getattr(info, "last_policy_kind", None), "name", "?")
            self._bad_input("incompatible_qos", 0, f"a publisher of {TOPICS[stream]} offers a QoS that does not "
                            f"match input_qos '{self.params.input_qos}' (policy {policy}); a best-effort camera "
                            "driver needs input_qos 'sensor_data'")

        return SubscriptionEventCallbacks(incompatible_qos=incompatible)

    def _on_sync_drop(self, stream: str, stamp_ns: int, missing: list[str], reason: str) -> None:
        if stream != "semantic":
            self.stats.count("sync_dropped_" + stream)
            return
        if "camera_info" in missing:
            # (a frame without camera_info is reported as such even when other streams are missing too)
            self._bad_input("missing_camera_info", stamp_ns, f"no {TOPICS['camera_info']} for the semantic image "
                                                             f"at {stamp_ns * 1e-9:.3f} s ({reason})")
        else:
            topics = [TOPICS[m] for m in missing]
            self._bad_input("unsynchronised", stamp_ns, f"no {topics} within {self.params.sync_tolerance_s} s of "
                                                        f"the semantic image at {stamp_ns * 1e-9:.3f} s ({reason})")

    def _enqueue(self, synced: SyncedSet) -> None:
        """Queue a frame for the worker, deciding cheaply (a pose lookup, never blocking) what the worker can skip.

        The mapper takes ~0.3 s a frame on a CPU, a camera sends one every 33 ms: a non-keyframe (the pose moved
        less than the keyframe thresholds) that is still waiting when the next frame arrives is thinned (counted
        `thinned_non_keyframes`; with fuse_all_frames it would only have been an extra view of its window), so the
        queue holds keyframes and at most the newest non-keyframe. Keyframes (and frames whose pose is not known
        yet) beyond `queue_size` are dropped oldest first as `dropped.queue_full`.
        """
        with self._queue_cv:
            self._queue.append(_Pending(synced, None, None, time.monotonic()))
            self._resolve_hints()
            newest = self._queue[-1]
            if self.params.thin_non_keyframes:
                for item in [it for it in self._queue if it.keyframe_hint is False and it is not newest]:
                    self._queue.remove(item)
                    self.stats.count("thinned_non_keyframes")
            while len(self._queue) > self.params.queue_size:
                victim = next((it for it in self._queue if it.keyframe_hint is False), self._queue[0])
                self._queue.remove(victim)
                self.stats.count("thinned_non_keyframes" if victim.keyframe_hint is False else "dropped_queue_full")
            self._queue_cv.notify_all()

    def _resolve_hints(self) -> None:
        """Look up the poses of the frame in the worker's hands and the queued ones, oldest first, and mark
        keyframes (call with the queue lock held).

        Stops at the first frame whose pose is not there yet (TF usually follows the image by a few ms; the next
        frame's arrival, or the worker once it found the pose, retries), so keyframe-ness is decided in stamp
        order against the last keyframe, as the mapper decides it.
        """
        chain = ([self._in_flight] if self._in_flight is not None else []) + list(self._queue)
        for item in chain:
            if item.keyframe_hint is not None:
                continue
            T = item.T_map_cam  # set by the worker once it waited for the pose
            if T is None:
                try:
                    T = self.tf.lookup(self.params.map_frame, self._camera_frame(item.synced), item.synced.stamp_ns)
                except (GnesfError, ValueError):
                    return
            self._pose_found(item.synced.stamp_ns)
            item.T_map_cam = T
            item.keyframe_hint = self._kf_selector.check(T)

    def _on_set_parameters(self, parameters: list[Any]) -> Any:
        """Validate a `set_parameters` request as a whole and apply it, or refuse it with the reason (read-only
        parameters never get here: rclpy refuses them by their descriptor)."""
        from rcl_interfaces.msg import SetParametersResult

        changes = {param.name: param.value for param in parameters}
        try:
            node_params, nav_config = runtime_update(self.params, self.navigation.config, changes)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        old, self.params = self.params, node_params
        if node_params.publish_rate_hz != old.publish_rate_hz:
            set_timer_rate(self._cloud_timer, node_params.publish_rate_hz)
        if node_params.diagnostics_rate_hz != old.diagnostics_rate_hz:
            set_timer_rate(self._diag_timer, node_params.diagnostics_rate_hz)
        self.stats.log_period_s = node_params.bad_input_log_period_s
        self.mesh_outputs.apply(node_params.mesh_rate_hz, node_params.mesh_color)
        self.navigation.apply(nav_config)
        self.get_logger().info("parameters set: " + ", ".join(f"{k}={v}" for k, v in changes.items()))
        return SetParametersResult(successful=True)

    def _bad_input(self, kind: str, stamp_ns: int, text: str) -> None:
        self.stats.skip_bad_input(self.get_logger(), kind, stamp_ns, text)

    # ====================================================================================== worker
    def _work(self) -> None:
        while not self._stop.is_set():
            with self._queue_cv:
                if not self._queue:
                    self._queue_cv.wait(0.1)
                    continue
                item = self._queue.popleft()
                self._busy, self._in_flight = True, item
            try:
                self._process(item)
            except Exception as exc:  # noqa: BLE001 - the worker must survive anything a frame can cause
                if self._stop.is_set():
                    return
                self._bad_input("internal_error", item.synced.stamp_ns, f"{type(exc).__name__}: {exc}")
            finally:
                with self._queue_cv:
                    if item.mapped:
                        self._resolve_hints()  # with the pose the worker found, if the chain still waits for it
                    self._busy, self._in_flight = False, None
                    self._resolve_hints()  # a frame whose pose never came leaves the chain
                    self._queue_cv.notify_all()

    def _process(self, item: _Pending) -> None:
        if not self.integrating:
            self.stats.count("skipped_paused")
            return
        synced, stamp = item.synced, item.synced.stamp_ns
        msgs = synced.msgs
        if stamp <= self._last_processed_ns:
            self._bad_input("stamps_out_of_order", stamp, f"frame at {stamp * 1e-9:.3f} s is not after the last "
                                                          f"mapped frame at {self._last_processed_ns * 1e-9:.3f} s")
            return
        frame = self._decode(msgs, stamp)
        if frame is None:
            return
        T = item.T_map_cam
        if T is None:
            T = self._wait_for_pose(synced)
            if T is None:
                return
            item.T_map_cam = T  # for the keyframe chain (_resolve_hints)
        frame.T_map_cam = T
        try:
            frame.validate(self.class_list.num_classes)
            with self._map_lock:
                update = self.mapper.add_frame(frame)
                if update.fragment_fused:  # only a fused fragment changes the map (and the cloud)
                    self._map_version += 1
                # every frame now holds the lock for its 2D features (fuse_all_frames), so the diagnostics
                # timer often cannot take it: leave it this frame's counters
                self._last_mapper_stats = self._mapper_stats()
        except InputError as exc:
            self._bad_input("frame", stamp, str(exc))
            return
        self._last_processed_ns = stamp
        self.navigation.set_camera_pose(T)
        item.mapped = True
        self.stats.count("frames_mapped")
        self._record_latency(stamp)
        if update.is_keyframe:
            self.stats.count("keyframes")
            if self.params.print_timings:
                self.get_logger().info("keyframe timings (ms): " + ", ".join(
                    f"{k} {v * 1e3:.1f}" for k, v in update.timings.items()))
            if self.params.publish_keyframe_images:
                self._publish_keyframe_images(frame, msgs["color"].header)

    def _record_latency(self, stamp_ns: int) -> None:
        """Stamp-to-map latency on the node's clock, only where the stamps are on that clock: a bag replayed
        without /clock keeps its recording's stamps (or synthetic ones from 0 s), which would read as years."""
        delay_ns = self.get_clock().now().nanoseconds - stamp_ns
        if abs(delay_ns) <= WALL_CLOCK_STAMP_WINDOW_NS:
            self.stats.latency(max(0.0, delay_ns * 1e-9))
        else:
            self.stats.count("latency_not_applicable")

    def _decode(self, msgs: dict[str, Any], stamp: int) -> Frame | None:
        """Messages of one instant -> Frame without pose, or None (bad input reported)."""
        C = self.class_list.num_classes
        step = "camera_info"
        try:
            K, h, w = conv.camera_info_to_K(msgs["camera_info"])
            step = "color_image"
            rgb = conv.image_to_rgb(msgs["color"])
            if rgb.shape[:2] != (h, w):
                step = "size_mismatch"
                raise InputError(f"colour image {rgb.shape[1]}x{rgb.shape[0]} does not match camera_info {w}x{h}")
            conf = None
            if "confidence" in msgs:
                step = "confidence_image"
                conf = conv.image_to_confidence(msgs["confidence"])
                if conf.shape != (h, w):
                    step = "size_mismatch"
                    raise InputError(f"confidence image {conf.shape[1]}x{conf.shape[0]} does not match colour {w}x{h}")
            step = "semantic_image"
            sem = msgs["semantic"]
            if (int(sem.height), int(sem.width)) != (h, w):
                step = "size_mismatch"
                raise InputError(f"semantic image {sem.width}x{sem.height} does not match colour {w}x{h}")
            probs = conv.semantic_image_to_probs(sem, C, conf, IGNORE_ID)
            depth = None
            if "depth" in msgs:
                step = "depth_image"
                depth = conv.image_to_depth_m(msgs["depth"])
                if depth.shape != (h, w):
                    step = "size_mismatch"
                    raise InputError(f"depth image {depth.shape[1]}x{depth.shape[0]} does not match colour {w}x{h}")
        except conv.UnknownClassIdError as exc:
            self._bad_input("unknown_class_ids", stamp, str(exc))
            return None
        except conv.EmptyImageError as exc:
            self._bad_input("empty_image", stamp, str(exc))
            return None
        except InputError as exc:
            self._bad_input(step, stamp, str(exc))
            return None
        return Frame(rgb=rgb, K=K, T_map_cam=np.eye(4), probs=probs, stamp_ns=stamp, depth_m=depth,
                     frame_id=msgs["color"].header.frame_id)

    def _wait_for_pose(self, synced: SyncedSet) -> np.ndarray | None:
        p = self.params
        source = self._camera_frame(synced)
        try:
            T = self.tf.wait_for(p.map_frame, source, synced.stamp_ns, p.tf_lookup_timeout_s, self._stop)
        except TransformLookupError as exc:
            if self._first_pose_ns is None or synced.stamp_ns < self._first_pose_ns:
                # start-up: the pose source is not there yet (or began after this frame); wait quietly
                self.stats.count("waiting_for_pose")
                if self.stats.counters["waiting_for_pose"] == 1:
                    self.get_logger().info(f"waiting for the pose of '{source}' in '{p.map_frame}' ({exc})")
            else:
                kind = "unknown_frame" if isinstance(exc, UnknownFrameError) else "tf_missing"
                self._bad_input(kind, synced.stamp_ns, str(exc))
            return None
        except InputError as exc:
            self._bad_input("pose", synced.stamp_ns, str(exc))
            return None
        self._pose_found(synced.stamp_ns)
        return T

    def _pose_found(self, stamp_ns: int) -> None:
        if self._first_pose_ns is None or stamp_ns < self._first_pose_ns:
            self._first_pose_ns = stamp_ns

    # ===================================================================================== outputs
    def _publish(self, pub: Any, msg: Any) -> None:
        try:
            pub.publish(msg)
        except Exception as exc:  # noqa: BLE001 - RCLError under back-pressure or at shutdown: count, go on
            if not self._stop.is_set():
                self.stats.count("publish_errors")
                self.stats.bad_input("publish_error", str(exc))

    def _publish_class_info(self, msg_type: Any) -> None:
        from std_msgs.msg import ColorRGBA

        sem_type = _try_import("gnesf_ros_msgs.msg", "SemanticClass")
        msg = msg_type()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.params.map_frame
        msg.unknown_id = LABEL_UNKNOWN_WIRE
        classes = []
        for i, (name, rgb) in enumerate(zip(self.class_list.names, self.class_list.colors_rgb)):
            r, g, b = (float(c) / 255.0 for c in rgb)
            classes.append(sem_type(id=i, name=name, color=ColorRGBA(r=r, g=g, b=b, a=1.0)))
        msg.classes = classes
        self._publish(self.class_info_pub, msg)

    def _header(self, stamp: Any = None) -> Any:
        from std_msgs.msg import Header

        return Header(stamp=stamp if stamp is not None else self.get_clock().now().to_msg(),
                      frame_id=self.params.map_frame)

    def _publish_cloud(self) -> None:
        """Publish the cloud when the map changed since the last one: once at start (an empty latched cloud, so a
        subscriber knows the node is there), then after each fused fragment, clear or load; never an empty cloud
        twice in a row."""
        if self._published_version == self._map_version:
            return
        if not self._map_lock.acquire(timeout=TIMER_LOCK_WAIT_S):  # a fusion holds the map: the next tick retries
            return
        try:
            version = self._map_version
            pts = self.mapper.semantic_points()
        finally:
            self._map_lock.release()
        if len(pts) == 0 and self._published_empty:
            self._published_version = version
            return
        msg = conv.array_to_cloud(conv.semantic_points_to_array(pts.xyz, pts.label, pts.confidence, pts.rgb),
                                  self._header())
        self._publish(self.cloud_pub, msg)
        self._published_version = version
        self._published_empty = len(pts) == 0

    def _map_snapshot(self, known_version: int) -> tuple[int, Any]:
        """(map version, its semantic points; None while the map is still at `known_version` or a fusion holds it):
        the navigation outputs' view of the map."""
        if self._map_version == known_version or not self._map_lock.acquire(timeout=TIMER_LOCK_WAIT_S):
            return known_version, None
        try:
            return self._map_version, self.mapper.semantic_points()
        finally:
            self._map_lock.release()

    def _publish_keyframe_images(self, frame: Frame, header: Any) -> None:
        if self.semantic_image_pub.get_subscription_count() + self.label_image_pub.get_subscription_count() == 0:
            return
        with self._map_lock:
            r = self.mapper.render(frame.K, frame.T_map_cam, frame.height, frame.width)
        self._publish(self.semantic_image_pub, conv.numpy_to_image(r.rgb, "rgb8", header))
        self._publish(self.label_image_pub, conv.numpy_to_image(self._label_wire(r.label), "mono16", header))

    @staticmethod
    def _label_wire(label: np.ndarray) -> np.ndarray:
        """Mapper labels (IGNORE_ID = unknown) -> mono16 with 65535 = unknown."""
        out = np.asarray(label).astype(np.uint16)
        out[out == IGNORE_ID] = LABEL_UNKNOWN_WIRE
        return out

    def _mapper_stats(self) -> dict[str, Any]:
        """The mapper's counters without per-stage seconds (call with the map lock held)."""
        return {k: v for k, v in self.mapper.stats().items() if k != "seconds"}

    def _publish_diagnostics(self) -> None:
        snap = self.stats.snapshot()
        with self._queue_cv:
            queued = len(self._queue)
        if self._map_lock.acquire(timeout=0.05):  # never wait on a long fusion for a diagnostics message
            try:
                self._last_mapper_stats = self._mapper_stats()
            finally:
                self._map_lock.release()
        mapper_stats = self._last_mapper_stats
        sync = self.sync.stats
        values = {
            "integrating": self.integrating,
            "input_rate_hz": snap["rates_hz"],
            "received": snap["received"],
            "queue": {"length": queued, "capacity": self.params.queue_size},
            "dropped": {"queue_full": 0, **{k[len("dropped_"):]: v for k, v in snap["counters"].items()
                                            if k.startswith("dropped_")}},
            "sync": {"emitted": sync.emitted, "dropped_overflow": sync.dropped_overflow,
                     "dropped_unmatched": sync.dropped_unmatched},
            "frames_mapped": snap["counters"].get("frames_mapped", 0),
            "keyframes": snap["counters"].get("keyframes", 0),
            "waiting_for_pose": snap["counters"].get("waiting_for_pose", 0),
            "skipped_paused": snap["counters"].get("skipped_paused", 0),
            "latency_ms": self._latency_values(snap),
            "thinned_non_keyframes": snap["counters"].get("thinned_non_keyframes", 0),
            "bad_input": snap["bad_inputs"],
            "publish_errors": snap["counters"].get("publish_errors", 0),
            "mapper": mapper_stats,
            "memory_rss_mb": memory_rss_mb(),
        }
        bad = sum(snap["bad_inputs"].values())
        level, message = 0, "mapping"
        if not self.integrating:
            level, message = 0, "integration paused"
        if bad:
            level = 1
            message = "bad input: " + ", ".join(f"{k} x{v}" for k, v in sorted(snap["bad_inputs"].items()))
        elif snap["counters"].get("waiting_for_pose", 0) and self._first_pose_ns is None:
            level, message = 1, "waiting for the camera pose"
        msg = to_diagnostic_array(f"{self.get_fully_qualified_name()}: mapping", self.get_fully_qualified_name(),
                                  self.get_clock().now().to_msg(), values, level, message)
        self._publish(self.diag_pub, msg)

    @staticmethod
    def _latency_values(snap: dict[str, Any]) -> dict[str, Any]:
        """`latency_ms.*`: median and max over the last frames whose stamps are on the node's clock; "n/a" with
        `applicable: False` while no frame's stamp was (see _record_latency)."""
        if snap["latency_ms_count"] == 0 and snap["counters"].get("latency_not_applicable", 0):
            return {"median": "n/a", "max": "n/a", "applicable": False}
        return {"median": snap["latency_ms_median"], "max": snap["latency_ms_max"], "applicable": True}

    # ==================================================================================== services
    def _map_changed(self) -> None:
        self._map_version += 1

    def _srv_save_map(self, request: Any, response: Any) -> Any:
        try:
            _make_parent(request.file_path)
            with self._map_lock:
                self.mapper.save(request.file_path)
            response.success, response.message = True, f"saved map to {request.file_path}"
        except (GnesfError, OSError) as exc:
            response.success, response.message = False, f"cannot save map to {request.file_path}: {exc}"
        return response

    def _srv_load_map(self, request: Any, response: Any) -> Any:
        try:
            with self._map_lock:
                self.mapper.load(request.file_path)
                self._map_changed()
            response.success, response.message = True, f"loaded map from {request.file_path}"
        except (GnesfError, OSError) as exc:
            response.success, response.message = False, str(exc)
        return response

    def _srv_save_ply(self, request: Any, response: Any) -> Any:
        try:
            _make_parent(request.file_path)
            with self._map_lock:
                n = self.mapper.export_ply(request.file_path)
            response.success, response.message = True, f"wrote {n} points to {request.file_path}"
        except (GnesfError, OSError) as exc:
            response.success, response.message = False, f"cannot write PLY {request.file_path}: {exc}"
        return response

    def _srv_clear_map(self, request: Any, response: Any) -> Any:
        with self._map_lock:
            self.mapper.clear()
            self._map_changed()
        self._kf_selector.reset()
        response.success, response.message = True, "map cleared"
        return response

    def _srv_flush(self, request: Any, response: Any) -> Any:
        """Fuse the keyframes of the pending partial window now (end of a bag or of a sequence). Frames still in
        the node's queue are mapped first (they belong to that window), waiting at most FLUSH_QUEUE_TIMEOUT_S."""
        if not self._wait_queue_empty(FLUSH_QUEUE_TIMEOUT_S):
            with self._queue_cv:
                left = len(self._queue)
            response.success = False
            response.message = (f"{left} frame(s) still queued for the mapper after {FLUSH_QUEUE_TIMEOUT_S:g} s; "
                                "call ~/flush again")
            return response
        try:
            with self._map_lock:
                before = self.mapper.stats()
                pending = (int(before.get("pending_keyframes", 0)), int(before.get("pending_extra_frames", 0)))
                update = self.mapper.flush()
                if update.fragment_fused or any(pending):
                    self._map_changed()
                self._last_mapper_stats = self._mapper_stats()
        except GnesfError as exc:
            response.success, response.message = False, f"cannot flush: {exc}"
            return response
        response.success = True
        if any(pending):
            response.message = (f"fused the pending window ({pending[0]} keyframe(s), {pending[1]} extra "
                                f"frame(s)); {update.num_voxels} voxels")
        else:
            response.message = "nothing pending"
        return response

    def _wait_queue_empty(self, timeout_s: float) -> bool:
        """Wait until the worker has taken every queued frame and finished the one in hand (False on timeout)."""
        deadline = time.monotonic() + timeout_s
        with self._queue_cv:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._queue_cv.wait(min(left, 0.1))
        return True

    def _srv_toggle_integration(self, request: Any, response: Any) -> Any:
        self.integrating = bool(request.data)
        response.success = True
        response.message = "integration " + ("on" if self.integrating else "paused")
        return response

    def _srv_render_view(self, request: Any, response: Any) -> Any:
        try:
            K, h, w = conv.camera_info_to_K(request.camera_info)
            T_frame_cam = conv.pose_to_matrix(request.pose.pose, "render_view pose")
            frame = request.pose.header.frame_id.lstrip("/") or self.params.map_frame
            if frame != self.params.map_frame:
                T_frame_cam = self.tf.lookup(self.params.map_frame, frame,
                                             conv.stamp_to_ns(request.pose.header.stamp)) @ T_frame_cam
            with self._map_lock:
                r = self.mapper.render(K, T_frame_cam, h, w)
        except GnesfError as exc:
            response.success, response.message = False, str(exc)
            return response
        header = self._header(request.pose.header.stamp)
        header.frame_id = request.camera_info.header.frame_id or header.frame_id
        response.label = conv.numpy_to_image(self._label_wire(r.label), "mono16", header)
        response.color = conv.numpy_to_image(np.ascontiguousarray(r.rgb, dtype=np.uint8), "rgb8", header)
        response.confidence = conv.numpy_to_image(r.confidence.astype(np.float32), "32FC1", header)
        response.depth = conv.numpy_to_image(r.depth_m.astype(np.float32), "32FC1", header)
        response.success, response.message = True, f"rendered {w}x{h}"
        return response

    # ==================================================================================== shutdown
    def stop(self) -> None:
        """Stop the worker (idempotent; safe from context.on_shutdown). A frame being fused is left to finish in
        its daemon thread; this waits at most 1 s for it."""
        self._stop.set()
        with self._queue_cv:
            self._queue_cv.notify_all()
        if self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(timeout=1.0)

    def save_on_shutdown(self) -> None:
        path = self.params.save_on_shutdown
        if not path:
            return
        if not self._map_lock.acquire(timeout=30.0):
            self.get_logger().error(f"save_on_shutdown: the mapper stayed busy; map not saved to {path}")
            return
        try:
            _make_parent(path)
            self.mapper.save(path)
            self.get_logger().info(f"saved map to {path}")
        except (GnesfError, OSError) as exc:
            self.get_logger().error(f"save_on_shutdown: cannot save map to {path}: {exc}")
        finally:
            self._map_lock.release()


def _make_parent(path: str) -> None:
    """Create the missing parent folders of a file the map services write (OSError names the folder)."""
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)


def main(args: list[str] | None = None, mapper_factory: Callable[..., Any] | None = None,
         fast_exit: bool = True) -> int:
    """Run the node until SIGINT/SIGTERM; 0 on a clean exit, 2 on a configuration error.

    With `fast_exit` the process ends right after the node is cleanly shut down (and the map saved), skipping
    the interpreter's teardown: torch's static destructors alone take 1.5-2.5 s on a loaded machine, which would
    break the "exit within 2 s of SIGINT" promise. Pass False to get a return value instead (embedding, tests).
    """
    try:
        code = _run(args, mapper_factory)
    except KeyboardInterrupt:  # a second Ctrl-C in the instant before the clean-up ignores it
        code = 0
    if fast_exit:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    import logging
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _run(args: list[str] | None, mapper_factory: Callable[..., Any] | None) -> int:
    from gnesf_ros.ros.middleware import apply_fastdds_profile

    apply_fastdds_profile()  # before the first participant exists (see middleware.py)
    _dump_stacks_on_sigusr1()
    rclpy.init(args=args)
    try:
        node = MappingNode(mapper_factory)
    except (ConfigError, MapFileError, InputError) as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):  # Ctrl-C while the model loads
        _ignore_interrupts()
        rclpy.try_shutdown()
        return 0
    rclpy.get_default_context().on_shutdown(node.stop)
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # a terminal's Ctrl-C reaches a launched node twice (from the terminal's process group, then from launch):
        # the second must not interrupt the clean-up below with a KeyboardInterrupt
        _ignore_interrupts()
        node.stop()
        executor.shutdown(timeout_sec=0.5)
        # destroyed before the map is saved: SIGINT has already shut the context down, and a log line through
        # the node's rosout publisher would fail with "publisher's context is invalid"
        node.destroy_node()
        node.save_on_shutdown()
        rclpy.try_shutdown()
    return 0


def _dump_stacks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` prints every thread's Python stack to stderr (what a stalled node is doing)."""
    import faulthandler
    import signal

    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        faulthandler.register(signal.SIGUSR1, all_threads=True)


def _ignore_interrupts() -> None:
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
