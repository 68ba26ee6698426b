"""One-file GNeSF checkpoints: format tag and version, the ModelConfig as a dict, the state_dict, extras."""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from gnesf_ros.config import from_dict, to_dict
from gnesf_ros.errors import GnesfError, MapFileError
from gnesf_ros.model.config import ModelConfig
from gnesf_ros.model.gnesf import GNeSF

FORMAT = "gnesf_ros.model"
VERSION = 1


def save_checkpoint(model: GNeSF, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write `model` to `path` atomically (temp file + rename).

    extra: plain data only (numbers, strings, lists, dicts, tensors), e.g. training step and metrics;
    it is loaded back with torch's safe (weights_only) unpickler.
    """
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": to_dict(model.cfg),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise MapFileError(f"cannot write checkpoint {path}: {exc}") from exc


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[GNeSF, dict[str, Any]]:
    """Read a checkpoint written by `save_checkpoint` -> (model in eval mode on map_location, extra).

    Raises MapFileError naming the path and the cause when the file is missing, truncated, not a torch
    file, not a gnesf_ros model checkpoint, of another format version, or does not match its config.
    """
    path = Path(path)
    if not path.is_file():
        raise MapFileError(f"cannot read checkpoint {path}: no such file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise MapFileError(f"cannot read checkpoint {path}: corrupt or truncated file ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise MapFileError(f"{path} is not a gnesf_ros model checkpoint (missing format tag '{FORMAT}')")
    if payload.get("version") != VERSION:
        raise MapFileError(f"{path}: checkpoint format version {payload.get('version')!r}, expected {VERSION}")
    try:
        cfg = from_dict(ModelConfig, payload["config"], where=f"{path}:config")
        model = GNeSF(cfg)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, GnesfError) as exc:
        raise MapFileError(f"{path}: checkpoint does not match the model: {exc}") from exc
    model.to(map_location).eval()
    return model, dict(payload.get("extra") or {})
