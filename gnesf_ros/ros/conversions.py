"""ROS message <-> numpy conversions (numpy only: no cv_bridge, no sensor_msgs_py).

Images honour `encoding`, `step` (row padding) and `is_bigendian`; point clouds are built from a
numpy structured array in one copy and read back zero-copy with `np.frombuffer`; poses and
transforms become 4x4 rigid matrices `T_<parent>_<child>`. Every bad input raises
`gnesf_ros.errors.InputError` naming the encoding, the sizes and what was expected.

The message classes are imported lazily inside the functions that build messages, so decoding can be
tested with any object carrying the same fields.
"""
from __future__ import annotations

import array
import re
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from gnesf_ros.errors import InputError

# encoding -> (numpy dtype char, channels); generic "<bits><U|S|F>C<n>" encodings are parsed on the fly.
_FIXED_ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3), "bgr8": ("u1", 3), "rgba8": ("u1", 4), "bgra8": ("u1", 4),
    "mono8": ("u1", 1), "mono16": ("u2", 1),
    "rgb16": ("u2", 3), "bgr16": ("u2", 3), "rgba16": ("u2", 4), "bgra16": ("u2", 4),
}
_GENERIC = re.compile(r"^(8|16|32|64)(U|S|F)C(\d+)$")
_KIND = {"U": "u", "S": "i", "F": "f"}

LABEL_UNKNOWN_MONO8 = 255
"""A mono8 / 8UC1 label image marks unknown pixels with 255."""
LABEL_UNKNOWN_MONO16 = 65535
"""A mono16 / 16UC1 label image marks unknown pixels with 65535 (255 is accepted too, the class list's ignore id)."""

class EmptyImageError(InputError):
    """An image with zero width or height."""


class UnknownClassIdError(InputError):
    """A label image holds class ids that are neither in the class list nor the unknown marker."""


QUATERNION_UNIT_TOLERANCE = 1e-3
"""A quaternion whose norm differs from 1 by more than this is rejected, not silently normalised."""


# ----------------------------------------------------------------------------------------------- images
def encoding_layout(encoding: str) -> tuple[np.dtype, int]:
    """Pixel dtype (native byte order) and channel count of a sensor_msgs/Image encoding.

    Raises InputError for an encoding this module does not know (e.g. "bayer_rggb8", "yuv422").
    """
    if encoding in _FIXED_ENCODINGS:
        char, channels = _FIXED_ENCODINGS[encoding]
        return np.dtype(char), channels
    m = _GENERIC.match(encoding)
    if m:
        bits, kind, channels = int(m.group(1)), m.group(2), int(m.group(3))
        if kind == "F" and bits < 32 or channels < 1:
            raise InputError(f"unsupported image encoding '{encoding}'")
        return np.dtype(f"{_KIND[kind]}{bits // 8}"), channels
    raise InputError(f"unknown image encoding '{encoding}'; supported: {sorted(_FIXED_ENCODINGS)} and "
                     "<8|16|32|64><U|S|F>C<n> (e.g. 16UC1, 32FC1, 32FC20)")


def image_to_numpy(msg: Any) -> np.ndarray:
    """sensor_msgs/Image -> array (H, W) for one channel or (H, W, c), native byte order.

    Row padding (`step` > width * pixel bytes) is dropped and big-endian data is byte-swapped.
    The result never aliases the message buffer (it owns its memory).
    """
    encoding = str(msg.encoding)
    dtype, channels = encoding_layout(encoding)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    where = f"image '{encoding}' {w}x{h}"
    if h <= 0 or w <= 0:
        raise EmptyImageError(f"{where}: empty image (width and height must be > 0)")
    row_bytes = w * channels * dtype.itemsize
    if step < row_bytes:
        raise InputError(f"{where}: step {step} is smaller than one row ({w} px x {channels} ch x "
                         f"{dtype.itemsize} B = {row_bytes} B)")
    data = msg.data
    nbytes = len(data) * (data.itemsize if isinstance(data, (array.array, memoryview)) else 1)
    if nbytes != step * h:
        raise InputError(f"{where}: data has {nbytes} bytes, expected step {step} x height {h} = {step * h}")
    raw = np.frombuffer(data, dtype=np.uint8).reshape(h, step)[:, :row_bytes]
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    pixels = np.array(raw, copy=True).view(wire).reshape(h, w, channels)
    pixels = pixels.astype(dtype, copy=not wire.isnative)
    return pixels[:, :, 0] if channels == 1 else pixels


def image_to_rgb(msg: Any) -> np.ndarray:
    """Colour image (rgb8, bgr8, rgba8, bgra8, mono8) -> (H, W, 3) uint8 RGB."""
    enc = str(msg.encoding)
    if enc not in ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC3"):
        raise InputError(f"colour image encoding '{enc}' not supported; expected rgb8, bgr8, rgba8, bgra8 or mono8")
    px = image_to_numpy(msg)
    if enc == "mono8":
        return np.repeat(px[:, :, None], 3, axis=2)
    if enc in ("bgr8", "bgra8"):
        return np.ascontiguousarray(px[:, :, 2::-1])
    return np.ascontiguousarray(px[:, :, :3])


def image_to_depth_m(msg: Any) -> np.ndarray:
    """Depth image -> (H, W) float32 metres; 16UC1 / mono16 are millimetres, 32FC1 metres.

    0 and NaN mean "no measurement" and are returned as 0.
    """
    enc = str(msg.encoding)
    px = image_to_numpy(msg)
    if enc in ("16UC1", "mono16"):
        return px.astype(np.float32) * np.float32(0.001)
    if enc == "32FC1":
        depth = px.astype(np.float32, copy=True)
        depth[~np.isfinite(depth) | (depth < 0.0)] = 0.0
        return depth
    raise InputError(f"depth image encoding '{enc}' not supported; expected 16UC1 (mm), mono16 (mm) or 32FC1 (m)")


def image_to_labels(msg: Any, num_classes: int, ignore_id: int = LABEL_UNKNOWN_MONO8) -> np.ndarray:
    """Label image (mono8 / 8UC1 / mono16 / 16UC1) -> (H, W) int32 class ids, unknown pixels = `ignore_id`.

    mono8 marks unknown with 255, mono16 with 65535 (or 255). Any other id outside 0..num_classes-1 is an
    InputError that names the offending ids: a segmenter with another class list must not be mixed in.
    """
    enc = str(msg.encoding)
    if enc not in ("mono8", "8UC1", "mono16", "16UC1"):
        raise InputError(f"label image encoding '{enc}' not supported; expected mono8, 8UC1, mono16 or 16UC1 "
                         "(or 32FC<c> probabilities)")
    px = image_to_numpy(msg)
    unknown = px == LABEL_UNKNOWN_MONO8
    if px.dtype == np.uint16:
        unknown |= px == LABEL_UNKNOWN_MONO16
    bad = ~unknown & (px >= num_classes)
    if bad.any():
        ids = np.unique(px[bad])
        shown = ", ".join(str(int(i)) for i in ids[:8]) + (" ..." if ids.size > 8 else "")
        raise UnknownClassIdError(f"label image '{enc}' {px.shape[1]}x{px.shape[0]}: {int(bad.sum())} pixel(s) with class "
                         f"id(s) [{shown}] outside 0..{num_classes - 1} (unknown must be "
                         f"{LABEL_UNKNOWN_MONO8 if px.dtype == np.uint8 else LABEL_UNKNOWN_MONO16})")
    labels = px.astype(np.int32)
    labels[unknown] = ignore_id
    return labels


def image_to_probs(msg: Any, num_classes: int) -> np.ndarray:
    """Probability image 32FC<c> -> (H, W, C) float32; c must equal `num_classes` (32FC1 only when C = 1)."""
    enc = str(msg.encoding)
    m = _GENERIC.match(enc)
    if not m or m.group(1) != "32" or m.group(2) != "F":
        raise InputError(f"probability image encoding '{enc}' not supported; expected 32FC{num_classes}")
    if int(m.group(3)) != num_classes:
        raise InputError(f"probability image '{enc}' has {m.group(3)} channels, the class list has {num_classes}")
    px = image_to_numpy(msg)
    probs = px.reshape(px.shape[0], px.shape[1], num_classes).astype(np.float32, copy=False)
    if not np.all(np.isfinite(probs)) or probs.min(initial=0.0) < 0.0:
        raise InputError(f"probability image '{enc}' {px.shape[1]}x{px.shape[0]}: values must be finite and >= 0")
    return probs


def image_to_confidence(msg: Any) -> np.ndarray:
    """Confidence image 32FC1 -> (H, W) float32 in [0, 1] (NaN is an error)."""
    if str(msg.encoding) != "32FC1":
        raise InputError(f"confidence image encoding '{msg.encoding}' not supported; expected 32FC1")
    conf = image_to_numpy(msg).astype(np.float32, copy=False)
    if not np.all(np.isfinite(conf)):
        raise InputError(f"confidence image 32FC1 {conf.shape[1]}x{conf.shape[0]} contains NaN or inf")
    return np.clip(conf, 0.0, 1.0)


def semantic_image_to_probs(msg: Any, num_classes: int, confidence: np.ndarray | None = None,
                            ignore_id: int = LABEL_UNKNOWN_MONO8) -> np.ndarray:
    """Any semantic input (label ids or 32FC<c> probabilities) -> (H, W, C) float32 probabilities."""
    from gnesf_ros.frame import labels_to_probs

    if str(msg.encoding).startswith("32FC"):
        return image_to_probs(msg, num_classes)
    labels = image_to_labels(msg, num_classes, ignore_id)
    return labels_to_probs(labels, num_classes, confidence, ignore_id=ignore_id)


def numpy_to_image(array_hwc: np.ndarray, encoding: str, header: Any = None) -> Any:
    """Array (H, W) or (H, W, c) -> sensor_msgs/Image with `encoding` (little-endian, unpadded rows).

    The array's dtype and channels must match the encoding (uint8 rgb8, uint16 mono16, float32 32FC1...).
    """
    from sensor_msgs.msg import Image

    dtype, channels = encoding_layout(encoding)
    arr = np.asarray(array_hwc)
    shape_c = 1 if arr.ndim == 2 else (arr.shape[2] if arr.ndim == 3 else -1)
    if arr.ndim not in (2, 3) or shape_c != channels or arr.dtype != dtype:
        raise InputError(f"cannot encode array {arr.shape} {arr.dtype} as '{encoding}': expected (H, W"
                         f"{'' if channels == 1 else f', {channels}'}) {dtype}")
    arr = np.ascontiguousarray(arr, dtype=dtype.newbyteorder("<"))
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(arr.shape[1] * channels * dtype.itemsize)
    msg.data = _bytes_array(arr)
    return msg


def _bytes_array(arr: np.ndarray) -> array.array:
    buf = array.array("B")
    buf.frombytes(memoryview(np.ascontiguousarray(arr)).cast("B"))
    return buf


# ------------------------------------------------------------------------------------------ camera info
def camera_info_to_K(msg: Any) -> tuple[np.ndarray, int, int]:
    """sensor_msgs/CameraInfo -> (K (3, 3) float64, height, width).

    Raises InputError for a zero image size or a zero / NaN / negative focal length (an uncalibrated camera).
    """
    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3) if len(msg.k) == 9 else None
    h, w = int(msg.height), int(msg.width)
    where = f"camera_info '{msg.header.frame_id}' {w}x{h}"
    if K is None:
        raise InputError(f"{where}: K must have 9 entries, got {len(msg.k)}")
    if h <= 0 or w <= 0:
        raise InputError(f"{where}: image size must be > 0")
    if not np.all(np.isfinite(K)) or not (K[0, 0] > 0.0 and K[1, 1] > 0.0):
        raise InputError(f"{where}: focal lengths must be finite and > 0, got fx={K[0, 0]} fy={K[1, 1]} "
                         "(uncalibrated camera?)")
    return K, h, w


def K_to_camera_info(K: np.ndarray, height: int, width: int, header: Any = None) -> Any:
    """(3, 3) intrinsics and size -> sensor_msgs/CameraInfo (plumb_bob, no distortion)."""
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(height), int(width)
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    msg.k = K.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    msg.p = np.hstack([K, np.zeros((3, 1))]).reshape(-1).tolist()
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    return msg


# ---------------------------------------------------------------------------------------- point clouds
CLOUD_DTYPE = np.dtype({
    "names": ["x", "y", "z", "rgb", "label", "confidence"],
    "formats": ["<f4", "<f4", "<f4", "<f4", "<u2", "<f4"],
    "offsets": [0, 4, 8, 12, 16, 20],
    "itemsize": 24,
})
"""Point layout of `semantic_cloud`: x y z float32 (m), rgb packed float32 (0x00RRGGBB), label uint16, confidence float32."""

# sensor_msgs/PointField datatype codes
_FIELD_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
_FIELD_CODES = {np.dtype(v).str[1:]: k for k, v in _FIELD_TYPES.items()}


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 -> (N,) float32 whose bits are 0x00RRGGBB (PCL/RViz "rgb" field)."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    return ((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).astype("<u4").view("<f4")


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """(N,) packed float32 -> (N, 3) uint8."""
    bits = np.ascontiguousarray(packed, dtype="<f4").view("<u4")
    return np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=1).astype(np.uint8)


def semantic_points_to_array(xyz: np.ndarray, label: np.ndarray, confidence: np.ndarray,
                             rgb: np.ndarray) -> np.ndarray:
    """xyz (N, 3) float, label (N,), confidence (N,), rgb (N, 3) uint8 -> structured (N,) CLOUD_DTYPE."""
    xyz = np.asarray(xyz)
    n = xyz.shape[0] if xyz.ndim == 2 else -1
    if xyz.ndim != 2 or xyz.shape[1] != 3 or np.shape(label) != (n,) or np.shape(confidence) != (n,) \
            or np.shape(rgb) != (n, 3):
        raise InputError(f"semantic points must be xyz (N, 3), label (N,), confidence (N,), rgb (N, 3); got "
                         f"{xyz.shape}, {np.shape(label)}, {np.shape(confidence)}, {np.shape(rgb)}")
    pts = np.empty(n, dtype=CLOUD_DTYPE)
    pts["x"], pts["y"], pts["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    pts["rgb"] = pack_rgb(rgb)
    pts["label"] = label
    pts["confidence"] = confidence
    return pts


def array_to_cloud(points: np.ndarray, header: Any = None) -> Any:
    """Structured array (N,) -> sensor_msgs/PointCloud2 (unordered: height 1, little-endian, dense)."""
    from sensor_msgs.msg import PointCloud2, PointField

    points = np.ascontiguousarray(points)
    if points.dtype.fields is None:
        raise InputError(f"point cloud needs a structured array, got dtype {points.dtype}")
    msg = PointCloud2()
    if header is not None:
        msg.header = header
    fields = []
    for name, (fdtype, offset) in sorted(points.dtype.fields.items(), key=lambda kv: kv[1][1]):
        code = _FIELD_CODES.get(fdtype.str[1:])
        if code is None or fdtype.shape:
            raise InputError(f"point field '{name}' has unsupported dtype {fdtype}")
        fields.append(PointField(name=name, offset=int(offset), datatype=code, count=1))
    msg.fields = fields
    msg.height, msg.width = 1, int(points.shape[0])
    msg.is_bigendian = False
    msg.point_step = int(points.dtype.itemsize)
    msg.row_step = msg.point_step * msg.width
    msg.is_dense = True
    msg.data = _bytes_array(points.view(np.uint8) if points.size else np.zeros(0, np.uint8))
    return msg


def cloud_to_array(msg: Any) -> np.ndarray:
    """sensor_msgs/PointCloud2 -> structured array (height * width,), zero-copy over the message buffer."""
    names, formats, offsets = [], [], []
    order = ">" if msg.is_bigendian else "<"
    for f in msg.fields:
        if f.datatype not in _FIELD_TYPES:
            raise InputError(f"point field '{f.name}' has unknown datatype {f.datatype}")
        names.append(f.name)
        formats.append(order + _FIELD_TYPES[f.datatype] if f.count == 1 else (order + _FIELD_TYPES[f.datatype], f.count))
        offsets.append(f.offset)
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": int(msg.point_step)})
    n = int(msg.height) * int(msg.width)
    if int(msg.row_step) != int(msg.point_step) * int(msg.width) or len(msg.data) != n * int(msg.point_step):
        raise InputError(f"point cloud {msg.width}x{msg.height} point_step {msg.point_step} row_step {msg.row_step}: "
                         f"data has {len(msg.data)} bytes, expected {n * int(msg.point_step)} (row padding unsupported)")
    return np.frombuffer(msg.data, dtype=dtype, count=n)


# ------------------------------------------------------------------------------------ poses, transforms
def quaternion_to_matrix(x: float, y: float, z: float, w: float, where: str = "quaternion") -> np.ndarray:
    """Unit quaternion (x, y, z, w) -> rotation (3, 3). NaN or non-unit quaternions raise InputError."""
    q = np.array([x, y, z, w], dtype=np.float64)
    if not np.all(np.isfinite(q)):
        raise InputError(f"{where}: quaternion contains NaN or inf: {q.tolist()}")
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > QUATERNION_UNIT_TOLERANCE:
        raise InputError(f"{where}: quaternion (x, y, z, w) = {q.tolist()} has norm {norm:.6f}, expected 1 "
                         f"(tolerance {QUATERNION_UNIT_TOLERANCE})")
    return Rotation.from_quat(q / norm).as_matrix()


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) -> unit quaternion (4,) as (x, y, z, w) with w >= 0."""
    q = Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat()
    return -q if q[3] < 0 else q


def _rigid(R: np.ndarray, t: np.ndarray, where: str) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(t)):
        raise InputError(f"{where}: translation contains NaN or inf: {t.tolist()}")
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


def pose_to_matrix(pose: Any, where: str = "pose") -> np.ndarray:
    """geometry_msgs/Pose -> (4, 4) rigid transform T_frame_body (the pose of body in the header's frame)."""
    o, p = pose.orientation, pose.position
    return _rigid(quaternion_to_matrix(o.x, o.y, o.z, o.w, where), [p.x, p.y, p.z], where)


def transform_to_matrix(transform: Any, where: str = "transform") -> np.ndarray:
    """geometry_msgs/Transform -> (4, 4) T_parent_child."""
    r, t = transform.rotation, transform.translation
    return _rigid(quaternion_to_matrix(r.x, r.y, r.z, r.w, where), [t.x, t.y, t.z], where)


def _check_matrix(T: np.ndarray) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise InputError(f"expected a finite (4, 4) rigid transform, got shape {T.shape}")
    return T


def matrix_to_pose(T: np.ndarray) -> Any:
    """(4, 4) rigid transform -> geometry_msgs/Pose."""
    from geometry_msgs.msg import Pose

    T = _check_matrix(T)
    q = matrix_to_quaternion(T[:3, :3])
    msg = Pose()
    msg.position.x, msg.position.y, msg.position.z = (float(v) for v in T[:3, 3])
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = (float(v) for v in q)
    return msg


def matrix_to_transform(T: np.ndarray) -> Any:
    """(4, 4) rigid transform T_parent_child -> geometry_msgs/Transform."""
    from geometry_msgs.msg import Transform

    T = _check_matrix(T)
    q = matrix_to_quaternion(T[:3, :3])
    msg = Transform()
    msg.translation.x, msg.translation.y, msg.translation.z = (float(v) for v in T[:3, 3])
    msg.rotation.x, msg.rotation.y, msg.rotation.z, msg.rotation.w = (float(v) for v in q)
    return msg


# ------------------------------------------------------------------------------------------------ time
def stamp_to_ns(stamp: Any) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(stamp_ns: int) -> Any:
    """Integer nanoseconds -> builtin_interfaces/Time."""
    from builtin_interfaces.msg import Time

    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)
