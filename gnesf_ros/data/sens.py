"""ScanNet `.sens` files (SensorData binary, version 4): a streaming reader and a small writer.

Layout (ScanNet `SensReader/python/SensorData.py`, little endian):

    header: version uint32 (= 4), sensor name (uint64 length + bytes),
            intrinsic_color, extrinsic_color, intrinsic_depth, extrinsic_depth (4x4 float32 each),
            color_compression_type int32 (2 = jpeg), depth_compression_type int32 (1 = zlib_ushort),
            color_width, color_height, depth_width, depth_height uint32, depth_shift float32,
            num_frames uint64
    frame:  camera_to_world 4x4 float32, timestamp_color uint64, timestamp_depth uint64,
            color_size_bytes uint64, depth_size_bytes uint64, color bytes, depth bytes

The reader indexes frame offsets once (seeking past the image bytes) and then decodes one frame at a
time, so memory stays bounded by one frame whatever the length of the scan.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import cv2
import numpy as np

from gnesf_ros.errors import DataError

SENS_VERSION = 4
COLOR_COMPRESSION = {-1: "unknown", 0: "raw", 1: "png", 2: "jpeg"}
DEPTH_COMPRESSION = {-1: "unknown", 0: "raw_ushort", 1: "zlib_ushort", 2: "occi_ushort"}
_FRAME_HEAD = struct.Struct("<16fQQQQ")  # camera_to_world, ts color, ts depth, color bytes, depth bytes


@dataclass(frozen=True)
class SensHeader:
    """Everything before the frames of a .sens file."""

    sensor_name: str
    intrinsic_color: np.ndarray  # (4, 4) float32
    extrinsic_color: np.ndarray  # (4, 4) float32
    intrinsic_depth: np.ndarray  # (4, 4) float32
    extrinsic_depth: np.ndarray  # (4, 4) float32
    color_compression: str  # 'jpeg' | 'png' | 'raw' ...
    depth_compression: str  # 'zlib_ushort' | 'raw_ushort' ...
    color_width: int
    color_height: int
    depth_width: int
    depth_height: int
    depth_shift: float  # raw depth value per metre (1000 for ScanNet: millimetres)
    num_frames: int


@dataclass(frozen=True)
class SensFrame:
    """One decoded frame of a .sens file."""

    index: int
    T_world_cam: np.ndarray  # (4, 4) float32 camera_to_world as stored (may hold -inf/NaN)
    timestamp_color: int  # microseconds as recorded (0 in most ScanNet scans)
    timestamp_depth: int
    color_bytes: bytes  # the compressed colour image as stored
    rgb: np.ndarray  # (Hc, Wc, 3) uint8
    depth_raw: np.ndarray  # (Hd, Wd) uint16, metres * depth_shift


class SensReader:
    """Stream frames of a .sens file; use as a context manager or call `close()`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._file: BinaryIO = open(self.path, "rb")
        except OSError as exc:
            raise DataError(f"cannot open .sens file {self.path}: {exc}") from exc
        try:
            self.header = self._read_header()
            self._offsets = self._index_frames()
        except Exception:
            self._file.close()
            raise

    def __enter__(self) -> "SensReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self._offsets)

    def _read(self, n: int, what: str) -> bytes:
        data = self._file.read(n)
        if len(data) != n:
            raise DataError(f"{self.path}: truncated while reading {what} at byte {self._file.tell() - len(data)}"
                            f" (wanted {n} bytes, got {len(data)})")
        return data

    def _read_header(self) -> SensHeader:
        (version,) = struct.unpack("<I", self._read(4, "version"))
        if version != SENS_VERSION:
            raise DataError(f"{self.path}: not a ScanNet .sens file of version {SENS_VERSION} (version field {version})")
        (name_len,) = struct.unpack("<Q", self._read(8, "sensor name length"))
        if name_len > 4096:
            raise DataError(f"{self.path}: implausible sensor name length {name_len}")
        name = self._read(name_len, "sensor name").decode("utf-8", errors="replace")
        mats = [np.frombuffer(self._read(64, "calibration"), dtype="<f4").reshape(4, 4).copy() for _ in range(4)]
        c_type, d_type, cw, ch, dw, dh, shift, n = struct.unpack("<iiIIIIfQ", self._read(36, "image description"))
        return SensHeader(name, mats[0], mats[1], mats[2], mats[3], COLOR_COMPRESSION.get(c_type, f"code {c_type}"),
                          DEPTH_COMPRESSION.get(d_type, f"code {d_type}"), cw, ch, dw, dh, float(shift), int(n))

    def _index_frames(self) -> list[int]:
        """Offsets of every frame header, found by seeking over the image bytes (nothing decoded)."""
        size = self.path.stat().st_size
        offsets = []
        pos = self._file.tell()
        for i in range(self.header.num_frames):
            if pos + _FRAME_HEAD.size > size:
                raise DataError(f"{self.path}: truncated at frame {i} of {self.header.num_frames} (byte {pos})")
            self._file.seek(pos)
            head = _FRAME_HEAD.unpack(self._file.read(_FRAME_HEAD.size))
            offsets.append(pos)
            pos += _FRAME_HEAD.size + head[18] + head[19]
            if pos > size:
                raise DataError(f"{self.path}: truncated inside frame {i} of {self.header.num_frames}"
                                f" (needs byte {pos}, file has {size})")
        return offsets

    def pose(self, index: int) -> np.ndarray:
        """camera_to_world (4, 4) float32 of frame `index`, without decoding its images."""
        self._file.seek(self._offsets[index])
        head = _FRAME_HEAD.unpack(self._file.read(_FRAME_HEAD.size))
        return np.asarray(head[:16], dtype=np.float32).reshape(4, 4)

    def frame(self, index: int) -> SensFrame:
        """Decode frame `index` (0-based)."""
        if not 0 <= index < len(self._offsets):
            raise IndexError(f"{self.path}: frame {index} out of range 0..{len(self._offsets) - 1}")
        self._file.seek(self._offsets[index])
        head = _FRAME_HEAD.unpack(self._file.read(_FRAME_HEAD.size))
        pose = np.asarray(head[:16], dtype=np.float32).reshape(4, 4)
        color = self._file.read(head[18])
        depth = self._file.read(head[19])
        h = self.header
        return SensFrame(index, pose, int(head[16]), int(head[17]), color,
                         decode_color(color, h.color_compression, (h.color_height, h.color_width), f"{self.path} frame {index}"),
                         decode_depth(depth, h.depth_compression, (h.depth_height, h.depth_width), f"{self.path} frame {index}"))

    def __iter__(self) -> Iterator[SensFrame]:
        for i in range(len(self)):
            yield self.frame(i)


def decode_color(data: bytes, compression: str, hw: tuple[int, int], where: str) -> np.ndarray:
    """Compressed colour bytes -> (H, W, 3) uint8 RGB."""
    if compression in ("jpeg", "png"):
        bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DataError(f"{where}: cannot decode {compression} colour image ({len(data)} bytes)")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    elif compression == "raw":
        if len(data) != hw[0] * hw[1] * 3:
            raise DataError(f"{where}: raw colour image has {len(data)} bytes, expected {hw[0] * hw[1] * 3}")
        rgb = np.frombuffer(data, dtype=np.uint8).reshape(hw[0], hw[1], 3).copy()
    else:
        raise DataError(f"{where}: unsupported colour compression '{compression}' (expected jpeg, png or raw)")
    if rgb.shape[:2] != hw:
        raise DataError(f"{where}: colour image is {rgb.shape[1]}x{rgb.shape[0]}, header says {hw[1]}x{hw[0]}")
    return rgb


def decode_depth(data: bytes, compression: str, hw: tuple[int, int], where: str) -> np.ndarray:
    """Compressed depth bytes -> (H, W) uint16."""
    if compression == "zlib_ushort":
        try:
            data = zlib.decompress(data)
        except zlib.error as exc:
            raise DataError(f"{where}: corrupt zlib depth image: {exc}") from exc
    elif compression != "raw_ushort":
        raise DataError(f"{where}: unsupported depth compression '{compression}' (expected zlib_ushort or raw_ushort)")
    if len(data) != hw[0] * hw[1] * 2:
        raise DataError(f"{where}: depth image has {len(data)} bytes, expected {hw[0] * hw[1] * 2} for {hw[1]}x{hw[0]}")
    return np.frombuffer(data, dtype="<u2").reshape(hw).astype(np.uint16)


def write_sens(path: str | Path, intrinsic_color: np.ndarray, intrinsic_depth: np.ndarray,
               color_jpegs: list[bytes], depths: list[np.ndarray], poses: list[np.ndarray],
               color_hw: tuple[int, int], depth_shift: float = 1000.0, sensor_name: str = "gnesf_ros",
               timestamps: list[int] | None = None) -> None:
    """Write a small .sens file (JPEG colour, zlib depth), e.g. for tests.

    color_jpegs: JPEG bytes per frame (stored as is); depths: (Hd, Wd) uint16 per frame;
    poses: (4, 4) camera_to_world per frame; intrinsics (3, 3) or (4, 4).
    """
    if not (len(color_jpegs) == len(depths) == len(poses)):
        raise ValueError(f"need as many colour images, depths and poses, got {len(color_jpegs)}, {len(depths)}, {len(poses)}")
    dh, dw = (depths[0].shape if depths else (0, 0))
    eye = np.eye(4, dtype="<f4")

    def mat4(m: np.ndarray) -> bytes:
        out = np.eye(4, dtype="<f4")
        m = np.asarray(m, dtype=np.float64)
        out[: m.shape[0], : m.shape[1]] = m
        return out.tobytes()

    name = sensor_name.encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<IQ", SENS_VERSION, len(name)) + name)
        f.write(mat4(intrinsic_color) + eye.tobytes() + mat4(intrinsic_depth) + eye.tobytes())
        f.write(struct.pack("<iiIIIIfQ", 2, 1, color_hw[1], color_hw[0], dw, dh, depth_shift, len(poses)))
        for i, (jpg, depth, pose) in enumerate(zip(color_jpegs, depths, poses)):
            if depth.shape != (dh, dw) or depth.dtype != np.uint16:
                raise ValueError(f"frame {i}: depth must be ({dh}, {dw}) uint16, got {depth.shape} {depth.dtype}")
            zdepth = zlib.compress(depth.astype("<u2").tobytes())
            ts = timestamps[i] if timestamps is not None else 0
            f.write(np.asarray(pose, dtype="<f4").reshape(4, 4).tobytes())
            f.write(struct.pack("<QQQQ", ts, ts, len(jpg), len(zdepth)))
            f.write(jpg)
            f.write(zdepth)
