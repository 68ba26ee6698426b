"""Digest of what the mapper and the trainer compute, to prove that a refactor changed no number (issue 22).

Maps a short held-out synthetic scan (seed 2000, 40 frames at 160x120, simple style) with the shipped checkpoint
and one torch thread, once per geometry source ("depth", "learned"); renders one novel view (halfway between
frames 20 and 21) from each, with and without `render_fill_from_map`; computes the training losses (`train/trainer.py::losses` for every
`semantic_geometry`, ray SDF loss on) and their parameter gradients on one fixed example (training seed 7, fixed
numpy and torch seeds). Writes OUT.json with the sha256 of every map array, of the map file's bytes, of every
render array and gradient, and the loss values as exact floats (hex); OUT.npz beside it keeps the arrays.

    PYTHONPATH=$PWD .venv/bin/python tools/seams_check.py OUT.json [--compare BEFORE.json] [--only maps|losses]

--compare lists every entry that differs from BEFORE.json, with the largest absolute difference of the arrays
where BEFORE.npz exists; exit code 1 when anything differs. Takes a few minutes on one CPU core.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

SCAN = dict(seed=2000, num_frames=40, height=120, width=160, style="simple")
NOVEL_BETWEEN = (20, 21)
TRAIN_SEED = 7
SAMPLE = {"height": 60, "width": 80, "frames_per_scan": 60, "num_views": 4, "view_stride": 4, "max_dims": 32,
          "rays_per_target": 128, "num_targets": 1, "sdf_points": 512, "include_cameras": True}


def sha(a: Any) -> str:
    """sha256 of bytes, or of an array's dtype, shape and bytes."""
    if isinstance(a, (bytes, bytearray)):
        return hashlib.sha256(a).hexdigest()
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def to_numpy(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def map_arrays() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays of both geometry sources' maps, clouds and novel-view renders; plus counters and map file digests."""
    from gnesf_ros.cli.map import interpolate_pose
    from gnesf_ros.data.synthetic import SyntheticScan
    from gnesf_ros.mapping.config import MapperConfig
    from gnesf_ros.mapping.mapper import Mapper

    scan = SyntheticScan(SCAN["seed"], num_frames=SCAN["num_frames"], height=SCAN["height"], width=SCAN["width"],
                         style=SCAN["style"])
    frames = [scan.frame(i)[0] for i in range(len(scan))]
    T_novel = interpolate_pose(scan.poses[NOVEL_BETWEEN[0]], scan.poses[NOVEL_BETWEEN[1]], 0.5)
    arrays: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {}
    for geometry in ("depth", "learned"):
        mapper = Mapper(MapperConfig(geometry_source=geometry))
        for frame in frames:
            mapper.add_frame(frame)
        mapper.flush()
        for name, value in sorted(vars(mapper.map.data).items()):
            if isinstance(value, np.ndarray):
                arrays[f"maps/{geometry}/map/{name}"] = value
        pts = mapper.semantic_points()
        for name in ("xyz", "label", "confidence"):
            arrays[f"maps/{geometry}/semantic_points/{name}"] = getattr(pts, name)
        render = mapper.render(scan.K, T_novel, SCAN["height"], SCAN["width"])
        for name in ("label", "rgb", "confidence", "depth_m"):
            arrays[f"maps/{geometry}/render/{name}"] = getattr(render, name)
        mapper.config = dataclasses.replace(mapper.config, render_fill_from_map=False)  # the model's pixels alone
        model_only = mapper.render(scan.K, T_novel, SCAN["height"], SCAN["width"])
        for name in ("label", "confidence", "depth_m"):
            arrays[f"maps/{geometry}/render_model/{name}"] = getattr(model_only, name)
        info[f"maps/{geometry}/map_file"] = sha(mapper.to_bytes())
        info[f"maps/{geometry}/counts"] = {k: v for k, v in mapper.stats().items() if k != "seconds"}
        info[f"maps/{geometry}/render_known_pixels"] = int((model_only.label != 255).sum())
    return arrays, info


def loss_arrays() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Gradients of the training loss for each semantic_geometry on one fixed example; plus the loss values."""
    from gnesf_ros.config import from_dict
    from gnesf_ros.data.synthetic import SyntheticScan
    from gnesf_ros.model.checkpoint import load_checkpoint
    from gnesf_ros.paths import checkpoint_path
    from gnesf_ros.train.config import TrainConfig
    from gnesf_ros.train.samples import make_sample
    from gnesf_ros.train.trainer import losses

    base = {"sample": SAMPLE, "ray_sdf_loss_weight": 1.0}
    cfg = from_dict(TrainConfig, base)
    scan = SyntheticScan(TRAIN_SEED, num_frames=SAMPLE["frames_per_scan"], height=SAMPLE["height"],
                         width=SAMPLE["width"], style=SCAN["style"])
    rng = np.random.default_rng(0)
    sample = None
    while sample is None:
        sample = make_sample(scan, cfg.sample, rng, cfg.model.trunc_m)
    arrays: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {}
    for geometry in ("true", "learned", "depth"):
        model, _ = load_checkpoint(checkpoint_path())
        model.train()
        torch.manual_seed(11)  # the ray SDF loss draws its points from torch's global generator
        total, parts = losses(model, sample, from_dict(TrainConfig, {**base, "semantic_geometry": geometry}))
        total.backward()
        for name, p in model.named_parameters():
            if p.grad is not None:
                arrays[f"losses/{geometry}/grad/{name}"] = to_numpy(p.grad)
        info[f"losses/{geometry}/values"] = {k: float(v).hex() for k, v in vars(parts).items()}
        info[f"losses/{geometry}/values_decimal"] = {k: float(v) for k, v in vars(parts).items()}
    return arrays, info


def compare(now: dict[str, Any], before: dict[str, Any], now_npz: Path, before_npz: Path) -> list[str]:
    """One line per entry that differs (the largest absolute difference where both arrays are at hand)."""
    old = np.load(before_npz) if before_npz.is_file() else None
    new = np.load(now_npz)
    lines = []
    for key in sorted(set(now) | set(before)):
        if key.endswith("values_decimal") or now.get(key) == before.get(key):
            continue
        line = f"{key}: {before.get(key)!r} -> {now.get(key)!r}"
        if old is not None and key in old.files and key in new.files:
            a, b = old[key], new[key]
            if a.shape == b.shape and a.dtype.kind in "fiu":
                diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
                line = f"{key}: max |diff| {diff.max():.3g} at {int((diff > 0).sum())} of {a.size} entries"
            else:
                line = f"{key}: shape {a.shape} -> {b.shape}"
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSON file to write (the arrays go to the same name, .npz)")
    parser.add_argument("--compare", type=Path, default=None, help="an earlier OUT.json to compare with")
    parser.add_argument("--only", choices=("maps", "losses"), default=None, help="run one half only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    arrays: dict[str, np.ndarray] = {}
    result: dict[str, Any] = {"scan": SCAN, "novel_between": list(NOVEL_BETWEEN)}
    for part, fn in (("losses", loss_arrays), ("maps", map_arrays)):
        if args.only in (None, part):
            got, info = fn()
            arrays.update(got)
            result.update(info)
    result.update({key: sha(a) for key, a in arrays.items()})
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True))
    npz = args.out.with_suffix(".npz")
    np.savez_compressed(npz, **arrays)
    if args.compare is None:
        return 0
    before = json.loads(args.compare.read_text())
    if args.only is not None:
        before = {k: v for k, v in before.items() if "/" not in k or k.startswith(args.only + "/")}
    diffs = compare(result, before, npz, args.compare.with_suffix(".npz"))
    print("\n".join(diffs + ["identical" if not diffs else f"{len(diffs)} entries differ"]))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
