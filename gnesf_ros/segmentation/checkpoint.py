"""Segmenter checkpoints: one torch file holding a format tag, the network config, the class names, the weights.

Loading checks the class list: a checkpoint trained for other classes (or in another order) is refused, since
its output channel i would be read as the wrong class.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Sequence

import torch

from gnesf_ros.config import from_dict, to_dict
from gnesf_ros.errors import GnesfError, MapFileError
from gnesf_ros.paths import checkpoint_path
from gnesf_ros.segmentation.config import SegNetConfig
from gnesf_ros.segmentation.network import SegNet

FORMAT = "gnesf_ros.segmenter"
VERSION = 1
DEFAULT_NAME = "segmenter.pt"


def default_checkpoint() -> Path:
    """Where the shipped segmenter checkpoint lives (gnesf_ros/checkpoints/segmenter.pt)."""
    return checkpoint_path(DEFAULT_NAME)


def save_segmenter(model: SegNet, class_names: Sequence[str], path: str | Path,
                   extra: dict[str, Any] | None = None) -> None:
    """Write `model` and its class names to `path` atomically; `extra` is plain data (step, metrics, config)."""
    path = Path(path)
    if len(class_names) != model.cfg.num_classes:
        raise MapFileError(f"cannot write segmenter {path}: {len(class_names)} class names for a network with "
                           f"{model.cfg.num_classes} outputs")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": to_dict(model.cfg),
        "class_names": [str(n) for n in class_names],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise MapFileError(f"cannot write segmenter checkpoint {path}: {exc}") from exc


def load_segmenter(path: str | Path, class_names: Sequence[str] | None = None,
                   map_location: str | torch.device = "cpu") -> tuple[SegNet, list[str], dict[str, Any]]:
    """Read a checkpoint -> (network in eval mode on map_location, its class names, extra).

    class_names: the class list the caller will interpret the outputs with; when given, the checkpoint's must be
    the same names in the same order, else MapFileError naming both. Missing, corrupt or foreign files raise
    MapFileError naming the path.
    """
    path = Path(path)
    if not path.is_file():
        raise MapFileError(f"no segmenter checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise MapFileError(f"cannot read segmenter checkpoint {path}: corrupt or truncated file ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise MapFileError(f"{path} is not a gnesf_ros segmenter checkpoint (missing format tag '{FORMAT}')")
    if payload.get("version") != VERSION:
        raise MapFileError(f"{path}: segmenter format version {payload.get('version')!r}, expected {VERSION}")
    names = [str(n) for n in payload.get("class_names") or []]
    if class_names is not None and list(class_names) != names:
        raise MapFileError(f"{path}: the checkpoint's classes {names} are not the class list in use "
                           f"{list(class_names)} (same names in the same order expected)")
    try:
        cfg = from_dict(SegNetConfig, payload["config"], where=f"{path}:config")
        if cfg.num_classes != len(names):
            raise MapFileError(f"{path}: {len(names)} class names for {cfg.num_classes} network outputs")
        model = SegNet(cfg)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, GnesfError) as exc:
        raise MapFileError(f"{path}: segmenter checkpoint does not match the network: {exc}") from exc
    return model.to(map_location).eval(), names, dict(payload.get("extra") or {})
