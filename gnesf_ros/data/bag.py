"""rosbag2 I/O for posed semantic frames: write a stream of `Frame`s as the mapper's input topics, read them back.

Written per frame, every message with the same header stamp (= the bag's log time) and frame id
`camera_color_optical_frame`:

    /color/image            sensor_msgs/msg/Image        rgb8
    /color/camera_info      sensor_msgs/msg/CameraInfo   plumb_bob, zero distortion, K and P from Frame.K
    /depth/image            sensor_msgs/msg/Image        16UC1 millimetres (0 = no measurement), when the frame has depth
    /semantic/image         sensor_msgs/msg/Image        mono8 argmax labels (255 unknown), or 32FC<C> probabilities
    /semantic/confidence    sensor_msgs/msg/Image        32FC1 max probability (label mode only)
    /semantic/ground_truth  sensor_msgs/msg/Image        mono8 true labels (255 ignore), when known
    /pose                   geometry_msgs/msg/PoseStamped  T_map_cam, header.frame_id = map
    /tf                     tf2_msgs/msg/TFMessage       map -> camera_color_optical_frame
    /tf_static              tf2_msgs/msg/TFMessage       camera_color_optical_frame -> camera_depth_optical_frame
                                                         (identity: depth is registered to colour); transient local

Types and hashes come from rosbags' ROS 2 Kilted type store, which matches the Kilted wheels (rclpy).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from scipy.spatial.transform import Rotation

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import DataError
from gnesf_ros.frame import Frame, labels_to_probs

log = logging.getLogger(__name__)

FRAME_ID = "camera_color_optical_frame"
DEPTH_FRAME_ID = "camera_depth_optical_frame"
MAP_FRAME = "map"


@dataclass(frozen=True)
class BagTopics:
    """Topic names of one bag (absolute; the mapper's relative names resolve to these in the root namespace)."""

    color: str = "/color/image"
    camera_info: str = "/color/camera_info"
    depth: str = "/depth/image"
    semantic: str = "/semantic/image"
    confidence: str = "/semantic/confidence"
    truth: str = "/semantic/ground_truth"
    pose: str = "/pose"
    tf: str = "/tf"
    tf_static: str = "/tf_static"


@dataclass
class BagFrame:
    """One frame read back from a bag."""

    index: int  # 0-based order in the bag
    frame: Frame
    truth_labels: np.ndarray | None  # (H, W) uint8, 255 = ignore


@dataclass
class BagSummary:
    """What a conversion wrote."""

    path: Path
    frames: int
    skipped_invalid_pose: int = 0
    metadata: dict[str, str] = field(default_factory=dict)


def typestore():
    """rosbags type store matching the ROS 2 wheels in use (Kilted, else the newest ROS 2 store)."""
    from rosbags.typesys import Stores, get_typestore
    store = getattr(Stores, "ROS2_KILTED", None)
    if store is None:  # pragma: no cover - older rosbags
        store = [s for s in Stores if s.name.startswith("ROS2_")][-1]
    return get_typestore(store)


# ------------------------------------------------------------------------------------------ writing
class _MsgFactory:
    """Builds rosbags message objects for one frame."""

    def __init__(self, store):
        t = store.types
        self.store = store
        self.Time = t["builtin_interfaces/msg/Time"]
        self.Header = t["std_msgs/msg/Header"]
        self.Image = t["sensor_msgs/msg/Image"]
        self.CameraInfo = t["sensor_msgs/msg/CameraInfo"]
        self.Roi = t["sensor_msgs/msg/RegionOfInterest"]
        self.PoseStamped = t["geometry_msgs/msg/PoseStamped"]
        self.Pose = t["geometry_msgs/msg/Pose"]
        self.Point = t["geometry_msgs/msg/Point"]
        self.Quaternion = t["geometry_msgs/msg/Quaternion"]
        self.Vector3 = t["geometry_msgs/msg/Vector3"]
        self.Transform = t["geometry_msgs/msg/Transform"]
        self.TransformStamped = t["geometry_msgs/msg/TransformStamped"]
        self.TFMessage = t["tf2_msgs/msg/TFMessage"]

    def header(self, stamp_ns: int, frame_id: str):
        return self.Header(stamp=self.Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)),
                           frame_id=frame_id)

    def image(self, header, array: np.ndarray, encoding: str):
        a = np.ascontiguousarray(array)
        h, w = a.shape[:2]
        return self.Image(header=header, height=h, width=w, encoding=encoding, is_bigendian=0,
                          step=a.strides[0], data=a.view(np.uint8).reshape(-1))

    def camera_info(self, header, K: np.ndarray, h: int, w: int):
        K = np.asarray(K, dtype=np.float64)
        P = np.zeros((3, 4))
        P[:, :3] = K
        return self.CameraInfo(header=header, height=h, width=w, distortion_model="plumb_bob", d=np.zeros(5),
                               k=K.reshape(-1).copy(), r=np.eye(3).reshape(-1), p=P.reshape(-1), binning_x=0,
                               binning_y=0, roi=self.Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))

    def _rt(self, T: np.ndarray):
        q = Rotation.from_matrix(np.asarray(T, np.float64)[:3, :3]).as_quat()
        q = -q if q[3] < 0 else q
        return T[:3, 3].astype(np.float64), q

    def pose(self, header, T: np.ndarray):
        t, q = self._rt(T)
        return self.PoseStamped(header=header, pose=self.Pose(
            position=self.Point(x=float(t[0]), y=float(t[1]), z=float(t[2])),
            orientation=self.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))))

    def transform(self, header, child: str, T: np.ndarray):
        t, q = self._rt(T)
        return self.TransformStamped(header=header, child_frame_id=child, transform=self.Transform(
            translation=self.Vector3(x=float(t[0]), y=float(t[1]), z=float(t[2])),
            rotation=self.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))))


def _qos(transient_local: bool):
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
    zero = QosTime(0, 0)
    return [Qos(QosHistory.KEEP_LAST, 1 if transient_local else 10, QosReliability.RELIABLE,
                QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE, zero, zero,
                QosLiveliness.AUTOMATIC, zero, False)]


def split_semantics(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (H, W, C) -> (labels (H, W) uint8 argmax, 255 where the row is all zero;
    confidence (H, W) float32 = max probability)."""
    labels = np.argmax(probs, axis=2).astype(np.uint8)
    conf = probs.max(axis=2).astype(np.float32)
    labels[conf <= 0] = IGNORE_ID
    return labels, conf


def depth_to_mm(depth_m: np.ndarray) -> np.ndarray:
    """(H, W) metres -> (H, W) uint16 millimetres; NaN, inf, <= 0 and > 65.535 m -> 0 (no measurement)."""
    d = np.where(np.isfinite(depth_m), depth_m, 0.0)
    mm = np.rint(d * 1000.0)
    mm[(mm <= 0) | (mm > 65535)] = 0
    return mm.astype(np.uint16)


def write_frames_to_bag(path: str | Path, frames: Iterable[tuple[Frame, np.ndarray | None]], *,
                        storage: str = "mcap", probs: bool = False, topics: BagTopics = BagTopics(),
                        frame_id: str = FRAME_ID, map_frame: str = MAP_FRAME, metadata: dict[str, str] | None = None,
                        total: int | None = None, progress: bool = True, semantics: bool = True) -> int:
    """Write (Frame, truth labels (H, W) uint8 or None) pairs as a rosbag2 at `path` (must not exist).

    probs: write semantics as 32FC<C> probabilities instead of mono8 labels + 32FC1 confidence.
    semantics: False writes colour, depth, camera_info and poses only (no semantic, confidence or truth topic).
    Returns the number of frames written.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    from tqdm import tqdm

    path = Path(path)
    if path.exists():
        raise DataError(f"output bag {path} already exists")
    plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
    if storage not in plugins:
        raise DataError(f"unknown bag storage '{storage}', expected one of {sorted(plugins)}")
    store = typestore()
    m = _MsgFactory(store)
    ser = store.serialize_cdr
    n = 0
    with Writer(path, version=9, storage_plugin=plugins[storage]) as writer:
        for key, value in (metadata or {}).items():
            writer.set_custom_data(f"gnesf_ros.{key}", str(value))
        conns: dict[str, Any] = {}

        def conn(topic: str, msgtype: str, latched: bool = False):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=store, offered_qos_profiles=_qos(latched))
            return conns[topic]

        img_t, tf_t = "sensor_msgs/msg/Image", "tf2_msgs/msg/TFMessage"
        for frame, truth in tqdm(frames, total=total, desc=f"writing {path.name}", unit="frame", disable=not progress):
            where = f"frame {n} (stamp {frame.stamp_ns} ns)"
            try:
                frame.validate()
            except Exception as exc:
                raise DataError(f"{where}: {exc}") from exc
            ts = int(frame.stamp_ns)
            h, w = frame.height, frame.width
            hdr = m.header(ts, frame_id)
            if n == 0:
                static = m.TFMessage(transforms=[m.transform(hdr, DEPTH_FRAME_ID, np.eye(4))])
                writer.write(conn(topics.tf_static, tf_t, latched=True), ts, ser(static, tf_t))
            writer.write(conn(topics.color, img_t), ts, ser(m.image(hdr, frame.rgb, "rgb8"), img_t))
            ci_t = "sensor_msgs/msg/CameraInfo"
            writer.write(conn(topics.camera_info, ci_t), ts, ser(m.camera_info(hdr, frame.K, h, w), ci_t))
            if frame.depth_m is not None:
                writer.write(conn(topics.depth, img_t), ts, ser(m.image(hdr, depth_to_mm(frame.depth_m), "16UC1"), img_t))
            if not semantics:
                pass
            elif probs:
                p = np.ascontiguousarray(frame.probs, dtype=np.float32)
                writer.write(conn(topics.semantic, img_t), ts, ser(m.image(hdr, p, f"32FC{p.shape[2]}"), img_t))
            else:
                labels, conf = split_semantics(frame.probs)
                writer.write(conn(topics.semantic, img_t), ts, ser(m.image(hdr, labels, "mono8"), img_t))
                writer.write(conn(topics.confidence, img_t), ts, ser(m.image(hdr, conf, "32FC1"), img_t))
            if truth is not None and semantics:
                truth = np.asarray(truth)
                if truth.shape != (h, w):
                    raise DataError(f"{where}: truth labels must be {(h, w)}, got {truth.shape}")
                writer.write(conn(topics.truth, img_t), ts, ser(m.image(hdr, truth.astype(np.uint8), "mono8"), img_t))
            ps_t = "geometry_msgs/msg/PoseStamped"
            T = np.asarray(frame.T_map_cam, dtype=np.float64)
            writer.write(conn(topics.pose, ps_t), ts, ser(m.pose(m.header(ts, map_frame), T), ps_t))
            tf = m.TFMessage(transforms=[m.transform(m.header(ts, map_frame), frame_id, T)])
            writer.write(conn(topics.tf, tf_t), ts, ser(tf, tf_t))
            n += 1
    return n


# ------------------------------------------------------------------------------------------ reading
_ENCODINGS = {"rgb8": ("u1", 3), "bgr8": ("u1", 3), "rgba8": ("u1", 4), "bgra8": ("u1", 4), "mono8": ("u1", 1),
              "8UC1": ("u1", 1), "mono16": ("u2", 1), "16UC1": ("u2", 1), "32FC1": ("f4", 1)}


def decode_image(msg: Any, where: str) -> np.ndarray:
    """sensor_msgs/Image (rosbags object) -> (H, W) or (H, W, c) numpy array (honours step and endianness)."""
    enc = msg.encoding
    if enc in _ENCODINGS:
        kind, ch = _ENCODINGS[enc]
    elif enc.startswith("32FC") and enc[4:].isdigit():
        kind, ch = "f4", int(enc[4:])
    else:
        raise DataError(f"{where}: unsupported image encoding '{enc}' (supported: {sorted(_ENCODINGS)} and 32FC<n>)")
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row = w * ch * dtype.itemsize
    data = np.asarray(msg.data, dtype=np.uint8)
    if step < row or data.size < step * h:
        raise DataError(f"{where}: image {w}x{h} {enc} needs step >= {row} and {row * h} bytes, "
                        f"got step {step} and {data.size} bytes")
    rows = data[: step * h].reshape(h, step)[:, :row]
    arr = np.ascontiguousarray(rows).view(dtype).reshape((h, w, ch) if ch > 1 else (h, w)).astype(dtype.newbyteorder("="))
    if enc.startswith("bgr"):
        arr = arr[..., [2, 1, 0] + ([3] if ch == 4 else [])]
    if enc in ("rgba8", "bgra8"):
        arr = arr[..., :3]
    return np.ascontiguousarray(arr)


def _stamp(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _pose_matrix(p, q, where: str) -> np.ndarray:
    quat = np.array([q.x, q.y, q.z, q.w], dtype=np.float64)
    t = np.array([p.x, p.y, p.z], dtype=np.float64)
    if not (np.all(np.isfinite(quat)) and np.all(np.isfinite(t))) or abs(np.linalg.norm(quat) - 1) > 1e-3:
        raise DataError(f"{where}: invalid pose (translation {t.tolist()}, quaternion {quat.tolist()})")
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(quat).as_matrix()
    T[:3, 3] = t
    return T


def read_frames_from_bag(path: str | Path, topics: BagTopics = BagTopics(), num_classes: int = 20,
                         map_frame: str = MAP_FRAME, max_pending: int = 300) -> Iterator[BagFrame]:
    """Reassemble frames from a bag (rosbag2 folder, .mcap/.db3 file's folder, or ROS 1 .bag).

    Messages are matched by header stamp. Needed per frame: colour image, camera_info, semantics
    (+ confidence when the bag has that topic) and the pose (the pose topic, else the /tf transform
    map -> image frame); depth and truth when their topics are in the bag. Errors name the frame and topic.
    """
    from rosbags.highlevel import AnyReader

    path = Path(path)
    if path.is_file() and path.suffix in (".mcap", ".db3"):
        path = path.parent
    if not path.exists():
        raise DataError(f"bag not found: {path}")
    try:
        reader = AnyReader([path], default_typestore=typestore())
        reader.open()
    except Exception as exc:
        raise DataError(f"cannot open bag {path}: {exc} (truncated or corrupt bag?)") from exc
    try:
        present = {c.topic for c in reader.connections}
        for needed in (topics.color, topics.camera_info, topics.semantic):
            if needed not in present:
                raise DataError(f"{path}: bag has no topic {needed} (topics: {sorted(present)})")
        use_pose = topics.pose in present
        if not use_pose and topics.tf not in present:
            raise DataError(f"{path}: bag has neither {topics.pose} nor {topics.tf} for camera poses")
        parts = {"color": topics.color, "info": topics.camera_info, "sem": topics.semantic}
        for key, topic in (("conf", topics.confidence), ("depth", topics.depth), ("truth", topics.truth)):
            if topic in present:
                parts[key] = topic
        parts["pose"] = topics.pose if use_pose else topics.tf
        by_topic = {v: k for k, v in parts.items()}
        conns = [c for c in reader.connections if c.topic in by_topic]
        pending: dict[int, dict[str, Any]] = {}
        index = 0
        last = "start of bag"
        try:
            for conn, _, raw in reader.messages(connections=conns):
                key = by_topic[conn.topic]
                last = f"topic {conn.topic} after frame {index}"
                msg = reader.deserialize(raw, conn.msgtype)
                if key == "pose" and not use_pose:
                    for tr in msg.transforms:
                        if tr.header.frame_id.lstrip("/") == map_frame:
                            pending.setdefault(_stamp(tr.header), {})["pose"] = (tr, tr.child_frame_id)
                    stamps = [_stamp(tr.header) for tr in msg.transforms]
                else:
                    stamp = _stamp(msg.header)
                    pending.setdefault(stamp, {})[key] = msg
                    stamps = [stamp]
                for stamp in stamps:
                    got = pending.get(stamp)
                    if got is not None and all(k in got for k in parts):
                        del pending[stamp]
                        yield _assemble(got, index, stamp, num_classes, path, parts)
                        index += 1
                if len(pending) > max_pending:
                    stamp = min(pending)
                    missing = sorted(parts[k] for k in parts if k not in pending[stamp])
                    raise DataError(f"{path}: frame {index} (stamp {stamp} ns) never got {missing}")
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"{path}: cannot read {last}: {type(exc).__name__}: {exc} (truncated or corrupt bag?)") from exc
        if pending:
            stamp = min(pending)
            missing = sorted(parts[k] for k in parts if k not in pending[stamp])
            raise DataError(f"{path}: bag ended with {len(pending)} incomplete frame(s); frame {index} "
                            f"(stamp {stamp} ns) lacks {missing}")
    finally:
        reader.close()


def _assemble(got: dict[str, Any], index: int, stamp: int, num_classes: int, path: Path,
              parts: dict[str, str]) -> BagFrame:
    where = f"{path}: frame {index} (stamp {stamp} ns)"
    rgb = decode_image(got["color"], f"{where} {parts['color']}")
    if rgb.ndim != 3 or rgb.dtype != np.uint8:
        raise DataError(f"{where} {parts['color']}: colour image must be rgb8/bgr8/rgba8/bgra8, got {got['color'].encoding}")
    h, w = rgb.shape[:2]
    info = got["info"]
    K = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
    if (info.height, info.width) != (h, w) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise DataError(f"{where} {parts['info']}: camera_info {info.width}x{info.height} with fx, fy = "
                        f"{K[0, 0]}, {K[1, 1]} does not describe the {w}x{h} image")
    sem = decode_image(got["sem"], f"{where} {parts['sem']}")
    if sem.shape[:2] != (h, w):
        raise DataError(f"{where} {parts['sem']}: semantics {sem.shape[:2]} differ from the image {(h, w)}")
    if sem.ndim == 3:
        if sem.shape[2] != num_classes:
            raise DataError(f"{where} {parts['sem']}: {sem.shape[2]} probability channels, expected {num_classes}")
        probs = sem.astype(np.float32)
    else:
        conf = decode_image(got["conf"], f"{where} {parts['conf']}") if "conf" in got else None
        probs = labels_to_probs(sem, num_classes, conf)
    depth = None
    if "depth" in got:
        d = decode_image(got["depth"], f"{where} {parts['depth']}")
        if d.ndim != 2 or d.shape != (h, w):
            raise DataError(f"{where} {parts['depth']}: depth must be single-channel {(h, w)}, got {d.shape}")
        depth = d.astype(np.float32) / np.float32(1000.0) if d.dtype == np.uint16 else d.astype(np.float32)
    truth = decode_image(got["truth"], f"{where} {parts['truth']}") if "truth" in got else None
    pose = got["pose"]
    if isinstance(pose, tuple):
        tr = pose[0].transform
        T = _pose_matrix(tr.translation, tr.rotation, f"{where} {parts['pose']}")
    else:
        T = _pose_matrix(pose.pose.position, pose.pose.orientation, f"{where} {parts['pose']}")
    frame = Frame(rgb=rgb, K=K, T_map_cam=T, probs=probs, stamp_ns=stamp, depth_m=depth,
                  frame_id=got["color"].header.frame_id)
    return BagFrame(index=index, frame=frame, truth_labels=truth)


# ------------------------------------------------------------------------------------------ conversions
def convert_scannet(src: str | Path, out: str | Path, *, storage: str = "mcap", every: int = 1,
                    semantics: str = "noise", tsv_path: str | Path | None = None, probs: bool = False,
                    seed: int = 0, image_size: tuple[int, int] | None = None, progress: bool = True,
                    period_s: float | None = None) -> BagSummary:
    """A ScanNet scan (.sens, scan folder or exported folder) -> rosbag2 at `out`.

    period_s: time between consecutive frames of the scan (before `every`) where it has no time stamps (an exported
    folder: frame i at 1 s + i * period_s); default 1/30 s.
    semantics 'none' writes colour, depth, camera_info and poses only.
    """
    from gnesf_ros.data.scannet import ScanNetScan

    extra = {}
    if period_s is not None:
        if not period_s > 0:
            raise DataError(f"period_s must be > 0, got {period_s}")
        extra["period_ns"] = int(round(period_s * 1e9))
    with ScanNetScan(src, tsv_path=tsv_path, semantics=semantics, every=every, noise_seed=seed,
                     image_size=image_size, **extra) as scan:
        meta = {"source": f"scannet:{scan.info.source}", "scene": scan.scene, "semantics": scan.semantics,
                "every": str(every), "seed": str(seed)}
        total = (len(scan) + every - 1) // every
        n = write_frames_to_bag(out, ((f.frame, f.truth_labels) for f in scan), storage=storage, probs=probs,
                                metadata=meta, total=total, progress=progress, semantics=semantics != "none")
        if scan.skipped_invalid_pose:
            log.warning("%s: %d frame(s) with invalid poses were skipped", src, scan.skipped_invalid_pose)
        return BagSummary(Path(out), n, scan.skipped_invalid_pose, meta)


def convert_synthetic(seed: int, out: str | Path, *, frames: int = 60, height: int = 240, width: int = 320,
                      storage: str = "mcap", probs: bool = False, progress: bool = True,
                      style: str | None = None, semantics: str = "noise") -> BagSummary:
    """A synthetic scan (`gnesf_ros.data.synthetic.SyntheticScan`) -> rosbag2 at `out`, truth labels included;
    semantics 'none': colour, depth, camera_info and poses only.

    `style` "simple" or "realistic"; None takes `synthetic.style` of config/data.yaml. The bag carries what
    the sensors give (in the realistic style: camera RGB, structured-light depth with holes)."""
    if semantics not in ("noise", "none"):
        raise DataError(f"synthetic semantics must be 'noise' or 'none', got {semantics!r}")
    from gnesf_ros.data.synthetic import SyntheticScan

    scan = SyntheticScan(seed, frames, height, width, style=style)

    def gen():
        for i in range(frames):
            frame, view = scan.frame(i)
            if frame.depth_m is None and getattr(view, "depth_m", None) is not None:
                frame.depth_m = np.asarray(view.depth_m, dtype=np.float32)
            yield frame, np.asarray(view.labels, dtype=np.uint8)

    meta = {"source": "synthetic", "seed": str(seed), "semantics": semantics, "frames": str(frames),
            "style": scan.style}
    n = write_frames_to_bag(out, gen(), storage=storage, probs=probs, metadata=meta, total=frames, progress=progress,
                            semantics=semantics != "none")
    return BagSummary(Path(out), n, 0, meta)
