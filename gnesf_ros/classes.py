"""The semantic class list (ids, names, colours) and colour coding of label images."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from gnesf_ros.errors import ConfigError
from gnesf_ros.paths import config_path

IGNORE_ID = 255


@dataclass(frozen=True)
class ClassList:
    """Class ids 0..C-1 with names and RGB colours; `ignore_id` marks unknown/unlabelled pixels."""

    names: tuple[str, ...]
    colors_rgb: np.ndarray  # (C, 3) uint8
    ignore_id: int = IGNORE_ID

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def colorize(self, labels: np.ndarray, unknown_rgb: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
        """Label ids (...,) -> RGB (..., 3) uint8; ids outside 0..C-1 get `unknown_rgb`."""
        labels = np.asarray(labels)
        out = np.empty(labels.shape + (3,), dtype=np.uint8)
        out[...] = np.asarray(unknown_rgb, dtype=np.uint8)
        known = (labels >= 0) & (labels < self.num_classes)
        out[known] = self.colors_rgb[labels[known].astype(np.int64)]
        return out

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> "ClassList":
        """Load a class list file (default: config/scannet20.yaml). Ids must be 0..C-1 in order."""
        path = Path(path) if path is not None else config_path("scannet20.yaml")
        try:
            doc = yaml.safe_load(path.read_text())
            entries = doc["classes"]
            ids = [int(e["id"]) for e in entries]
            names = tuple(str(e["name"]) for e in entries)
            colors = np.array([e["color"] for e in entries], dtype=np.int64)
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read class list {path}: {exc}") from exc
        if ids != list(range(len(ids))):
            raise ConfigError(f"class list {path}: ids must be 0..{len(ids) - 1} in order, got {ids}")
        if colors.shape != (len(ids), 3) or colors.min() < 0 or colors.max() > 255:
            raise ConfigError(f"class list {path}: every colour must be [r, g, b] in 0..255")
        return cls(names=names, colors_rgb=colors.astype(np.uint8), ignore_id=int(doc.get("ignore_id", IGNORE_ID)))
