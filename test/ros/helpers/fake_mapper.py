"""A numpy stand-in for `gnesf_ros.mapping.Mapper` with the same interface: the node tests exercise ROS
behaviour (topics, QoS, services, bad input, shutdown) in seconds, without a model checkpoint.

Every keyframe back-projects a coarse pixel grid at its depth (1 m where no depth) and writes the grid's
labels into voxels; the map is deterministic, so save -> clear -> load can be compared exactly.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from gnesf_ros.classes import IGNORE_ID, ClassList
from gnesf_ros.errors import MapFileError
from gnesf_ros.mapping.config import MapperConfig
from gnesf_ros.mapping.keyframes import KeyframeSelector
from gnesf_ros.mapping.mapper import MapRender, MapUpdate, SemanticPoints

MAGIC = "fake-gnesf-map-v1"


class FakeMapper:
    def __init__(self, config: MapperConfig | None = None, model=None, class_list: ClassList | None = None):
        self.config = config or MapperConfig()
        self.class_list = class_list or ClassList.from_yaml()
        self.selector = KeyframeSelector.from_config(self.config)
        self.voxels: dict[tuple[int, int, int], tuple[int, float]] = {}
        self.counts = {"frames": 0, "keyframes": 0}

    def add_frame(self, frame) -> MapUpdate:
        frame.validate(self.class_list.num_classes)
        self.counts["frames"] += 1
        if not self.selector.check(frame.T_map_cam):
            return MapUpdate(False, False, len(self.voxels), {})
        self.counts["keyframes"] += 1
        v, u = np.mgrid[4:frame.height:8, 4:frame.width:8]
        z = frame.depth_m[v, u] if frame.depth_m is not None else np.ones(v.shape)
        z = np.where(z > 0, z, 1.0)
        K = frame.K
        pts_cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], -1).reshape(-1, 3)
        pts_map = pts_cam @ frame.T_map_cam[:3, :3].T + frame.T_map_cam[:3, 3]
        probs = frame.probs[v, u].reshape(-1, frame.num_classes)
        for p, pr in zip(pts_map, probs):
            if pr.sum() <= 0:
                continue
            key = tuple(np.floor(p / self.config.voxel_size_m).astype(int).tolist())
            self.voxels[key] = (int(np.argmax(pr)), float(pr.max() / pr.sum()))
        return MapUpdate(True, True, len(self.voxels), {"fake": 0.001})

    def flush(self) -> MapUpdate:
        return MapUpdate(False, False, len(self.voxels), {})

    def semantic_points(self) -> SemanticPoints:
        keys = sorted(self.voxels)
        xyz = (np.array(keys, dtype=np.float64).reshape(-1, 3) + 0.5) * self.config.voxel_size_m
        label = np.array([self.voxels[k][0] for k in keys], dtype=np.uint16)
        conf = np.array([self.voxels[k][1] for k in keys], dtype=np.float32)
        return SemanticPoints(xyz.astype(np.float32), label, conf, self.class_list.colorize(label))

    def render(self, K, T_map_cam, height, width) -> MapRender:
        label = np.full((height, width), IGNORE_ID, np.uint16)
        label[: height // 2] = 1
        return MapRender(label, self.class_list.colorize(label), (label != IGNORE_ID).astype(np.float32),
                         np.where(label != IGNORE_ID, 1.0, 0.0).astype(np.float32))

    def save(self, path) -> None:
        keys = np.array(sorted(self.voxels), dtype=np.int64).reshape(-1, 3)
        vals = np.array([self.voxels[tuple(k)] for k in keys.tolist()], dtype=np.float64).reshape(-1, 2)
        buf = io.BytesIO()
        np.savez(buf, magic=np.array(MAGIC), keys=keys, vals=vals)
        Path(path).write_bytes(buf.getvalue())

    def load(self, path) -> None:
        try:
            with np.load(path) as z:
                if str(z["magic"]) != MAGIC:
                    raise MapFileError(f"{path}: not a fake map")
                keys, vals = z["keys"], z["vals"]
        except MapFileError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise MapFileError(f"cannot load map {path}: {exc}") from exc
        self.voxels = {tuple(k): (int(v[0]), float(v[1])) for k, v in zip(keys.tolist(), vals)}

    def export_ply(self, path) -> int:
        pts = self.semantic_points()
        Path(path).write_text("ply\nformat ascii 1.0\nelement vertex %d\nend_header\n" % len(pts)
                              + "".join(f"{x} {y} {z}\n" for x, y, z in pts.xyz))
        return len(pts)

    def clear(self) -> None:
        self.voxels.clear()
        self.selector.reset()

    def stats(self) -> dict:
        return {**self.counts, "voxels": len(self.voxels)}
