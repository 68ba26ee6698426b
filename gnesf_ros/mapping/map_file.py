"""The saved-map file: one versioned binary file, byte-identical for the same map (no timestamps).

Layout (little endian):
    magic b"GNESFMAP" (8) | format version u32 | header length u32 | header (UTF-8 JSON, sorted keys)
    | payload (the arrays' raw bytes, in header order) | SHA-256 (32) of everything before it.
The header names the arrays with dtype, shape and byte offset, plus voxel size and class names. Arrays listed in
VoxelArrays.OPTIONAL_FIELDS (the depth hits) may be absent, as in files saved before they existed.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from gnesf_ros.errors import MapFileError
from gnesf_ros.mapping.voxel_map import VoxelArrays

MAGIC = b"GNESFMAP"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sII")
_DIGEST_BYTES = 32


def encode_map(data: VoxelArrays, meta: dict[str, Any]) -> bytes:
    """Serialise the voxel arrays and a JSON-able `meta` dict to the file's bytes."""
    arrays = []
    chunks = []
    offset = 0
    for name in VoxelArrays.FIELDS:
        a = np.ascontiguousarray(getattr(data, name), dtype=np.dtype(VoxelArrays.DTYPES[name]).newbyteorder("<"))
        raw = a.tobytes()
        arrays.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "offset": offset,
                       "nbytes": len(raw)})
        chunks.append(raw)
        offset += len(raw)
    header = {"format": "gnesf_ros voxel map", "format_version": FORMAT_VERSION, "meta": meta, "arrays": arrays,
              "payload_nbytes": offset}
    header_raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header_raw)) + header_raw + b"".join(chunks)
    return body + hashlib.sha256(body).digest()


def decode_map(blob: bytes, path: str | Path = "<bytes>") -> tuple[VoxelArrays, dict[str, Any]]:
    """Parse a file's bytes; raise MapFileError naming `path` and the cause on any problem."""
    def fail(cause: str) -> MapFileError:
        return MapFileError(f"cannot load map {path}: {cause}")

    if blob[:len(MAGIC)] != MAGIC:
        if len(blob) < len(MAGIC) and MAGIC.startswith(blob):
            raise fail(f"truncated ({len(blob)} bytes)")
        raise fail("not a gnesf_ros map file (bad magic bytes)")
    if len(blob) < _PREFIX.size + _DIGEST_BYTES:
        raise fail(f"truncated ({len(blob)} bytes)")
    _, version, header_len = _PREFIX.unpack_from(blob)
    if version != FORMAT_VERSION:
        raise fail(f"format version {version}, this program reads version {FORMAT_VERSION}")
    if len(blob) < _PREFIX.size + header_len + _DIGEST_BYTES:
        raise fail(f"truncated ({len(blob)} bytes, header alone needs {_PREFIX.size + header_len + _DIGEST_BYTES})")
    try:
        header = json.loads(blob[_PREFIX.size:_PREFIX.size + header_len].decode("utf-8"))
        payload_nbytes = int(header["payload_nbytes"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise fail(f"corrupt header ({exc})") from exc
    expected = _PREFIX.size + header_len + payload_nbytes + _DIGEST_BYTES
    if len(blob) < expected:
        raise fail(f"truncated ({len(blob)} bytes, expected {expected})")
    if len(blob) > expected:
        raise fail(f"{len(blob) - expected} unexpected trailing bytes")
    body, digest = blob[:-_DIGEST_BYTES], blob[-_DIGEST_BYTES:]
    if hashlib.sha256(body).digest() != digest:
        raise fail("checksum mismatch (the file is corrupt)")
    payload = memoryview(body)[_PREFIX.size + header_len:]
    try:
        entries = {e["name"]: e for e in header["arrays"]}
        fields = {}
        shapes = VoxelArrays.shapes(int(entries["keys"]["shape"][0]), int(header["meta"]["num_classes"]))
        for name in VoxelArrays.FIELDS:
            if name not in entries and name in VoxelArrays.OPTIONAL_FIELDS:  # a map saved before the field existed
                fields[name] = np.zeros(shapes[name], VoxelArrays.DTYPES[name])
                continue
            e = entries[name]
            dtype = np.dtype(e["dtype"])
            shape = tuple(int(s) for s in e["shape"])
            start, nbytes = int(e["offset"]), int(e["nbytes"])
            if start < 0 or start + nbytes > payload_nbytes or nbytes != int(np.prod(shape)) * dtype.itemsize:
                raise ValueError(f"array {name} does not fit the payload")
            a = np.frombuffer(payload[start:start + nbytes], dtype=dtype).reshape(shape)
            fields[name] = a.astype(VoxelArrays.DTYPES[name], copy=True)
        data = VoxelArrays(**fields)
        meta = header["meta"]
        data.check(int(meta["num_classes"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(f"corrupt contents ({exc})") from exc
    return data, meta


def write_map_file(path: str | Path, blob: bytes) -> None:
    """Write atomically (temporary file + rename), so a failed write never leaves half a map behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MapFileError(f"cannot save map {path}: {exc}") from exc


def read_map_file(path: str | Path) -> tuple[VoxelArrays, dict[str, Any]]:
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise MapFileError(f"cannot load map {path}: {exc.strerror or exc}") from exc
    return decode_map(blob, path)
