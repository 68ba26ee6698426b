#!/usr/bin/env python3
"""How close do gnesf_depth's 3D labels come to the best per-point fusion of the same input?

    python tools/fusion_bound.py --seeds 2000:2003 --out runs/bound_a
    python tools/fusion_bound.py --seeds 2003:2005 --out runs/bound_b
    python tools/fusion_bound.py --tables runs/bound_a runs/bound_b
    python tools/fusion_bound.py --seeds 2000:2005 --style realistic --semantics segmenter --out runs/bound_seg

Runs gnesf_depth (shipped checkpoint, default MapperConfig) and bayes_fusion (3 m, as gnesf-eval does) on
held-out synthetic scans, then relabels each method's own 3D points by per-frame naive Bayes over every
input frame (gnesf_ros/eval/frame_bayes.py), once with the 3 m range all methods map and once with no range
limit; bayes_fusion is also run with 5 m of depth. Everything is scored as gnesf-eval scores 3D (Atlas
protocol, true surface observed within 3 m). With the noise model's calibrated, frame-independent errors,
the naive-Bayes label is each point's most probable class given the frames: no per-point fuser (a learned
soft vote included) has more to go on.
The 2D input is gnesf-eval's `--semantics segmenter|noise|truth` (default segmenter, as gnesf-eval's since
2026-12-06; with a real segmenter the errors are neither calibrated nor independent between frames, so the
naive-Bayes label is no longer the most probable one), the scenes `--style simple|realistic` (default config/data.yaml's). For such input two more rows bound
what any learned per-point vote could make of the same views at gnesf_depth's points (true label of a point:
that of the nearest true surface point): `view_oracle_at_gnesf_depth_3m` takes the truth wherever some view's
argmax is right, `soft_vote_bound_at_gnesf_depth_3m` wherever no class beats the truth in every view
(FrameBayes.soft_vote_bound_labels: no weighted vote of the views ranks the truth first elsewhere).
Writes OUT/bound.npz (3D confusions per scene) and OUT/bound.json (the input) and prints the pooled table.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gnesf_ros.classes import IGNORE_ID, ClassList
from gnesf_ros.cli.eval import THREADS_HELP, check_synthetic_input, parse_seeds, reserved_seeds
from gnesf_ros.errors import GnesfError
from gnesf_ros.eval import evaluate as ev
from gnesf_ros.eval.frame_bayes import FrameBayes
from gnesf_ros.eval.metrics import scores_from_confusion

RANGE_M = 3.0  # the range gnesf-eval maps and scores (MethodSettings.max_depth_m)


class _FrameBayesAt(ev._Method):
    """3D only: `base`'s points, labelled by per-frame naive Bayes over the frames it was fed."""

    has_2d = False

    def __init__(self, base: ev._Method, num_classes: int, max_depth_m: float) -> None:
        self.base, self.num_classes, self.max_depth_m = base, num_classes, max_depth_m
        self.frames: list = []

    def add_frame(self, frame) -> None:  # the base is fed as its own method; only keep the frame
        self.frames.append(frame)

    def surface(self) -> tuple[np.ndarray, np.ndarray]:
        xyz, _ = self.base.surface()
        votes = FrameBayes(xyz, self.num_classes, max_depth_m=self.max_depth_m)
        for frame in self.frames:
            votes.add(frame)
        return xyz, votes.labels()


class _OracleAt(_FrameBayesAt):
    """3D only: `base`'s points labelled by an oracle over the frames' votes (`kind`: "view" or "soft").

    A point's truth is the label of the nearest true surface point within `truth_radius_m` (else unknown, and
    the point keeps its naive-Bayes label)."""

    def __init__(self, base: ev._Method, num_classes: int, max_depth_m: float, kind: str, surface_xyz: np.ndarray,
                 surface_label: np.ndarray, truth_radius_m: float = 0.1) -> None:
        super().__init__(base, num_classes, max_depth_m)
        if kind not in ("view", "soft"):
            raise ValueError(f"oracle kind must be view or soft, got {kind!r}")
        self.kind, self.truth_radius_m = kind, truth_radius_m
        self.surface_xyz = np.asarray(surface_xyz, dtype=np.float64).reshape(-1, 3)
        self.surface_label = np.asarray(surface_label).reshape(-1)

    def surface(self) -> tuple[np.ndarray, np.ndarray]:
        from scipy.spatial import cKDTree

        xyz, _ = self.base.surface()
        dist, nearest = cKDTree(self.surface_xyz).query(xyz, k=1, distance_upper_bound=self.truth_radius_m)
        found = np.isfinite(dist)
        truth = np.full(len(xyz), IGNORE_ID, dtype=np.int64)
        truth[found] = self.surface_label[nearest[found]]
        votes = FrameBayes(xyz, self.num_classes, max_depth_m=self.max_depth_m, truth=truth)
        for frame in self.frames:
            votes.add(frame)
        return xyz, votes.view_oracle_labels() if self.kind == "view" else votes.soft_vote_bound_labels()


def methods_for_scene(settings: ev.MethodSettings, model, scene: ev.EvalScene | None = None
                      ) -> dict[str, ev._Method]:
    C = settings.num_classes
    methods = ev.build_methods(["gnesf_depth", "bayes_fusion"], settings, model)
    methods["bayes_fusion_5m"] = ev.build_methods(["bayes_fusion"],
                                                  dataclasses.replace(settings, max_depth_m=5.0))["bayes_fusion"]
    for name in ("gnesf_depth", "bayes_fusion"):
        methods[f"naive_bayes_at_{name}_3m"] = _FrameBayesAt(methods[name], C, RANGE_M)
        methods[f"naive_bayes_at_{name}_all"] = _FrameBayesAt(methods[name], C, np.inf)
    if scene is not None:
        for kind in ("view", "soft"):
            methods[f"{kind}_{'oracle' if kind == 'view' else 'vote_bound'}_at_gnesf_depth_3m"] = _OracleAt(
                methods["gnesf_depth"], C, RANGE_M, kind, scene.surface_xyz, scene.surface_label)
    return methods


def run(seeds: list[int], out: Path, frames: int, every_k: int, semantics: str = "segmenter", style: str | None = None,
        segmenter_checkpoint: Path | None = None) -> None:
    from gnesf_ros.data.synthetic import SyntheticDataConfig
    from gnesf_ros.segmentation.checkpoint import default_checkpoint

    settings = ev.MethodSettings()
    model = ev._load_model(settings)
    style = style if style is not None else SyntheticDataConfig.from_yaml().style
    info = {"seeds": seeds, "frames": frames, "every_k": every_k, "semantics": semantics, "style": style}
    segmenter = None
    if semantics == "segmenter":
        info["segmenter_checkpoint"] = str(segmenter_checkpoint or default_checkpoint())
        segmenter = ev.load_eval_segmenter(segmenter_checkpoint, settings.device)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bound.json").write_text(json.dumps(info, indent=2) + "\n")
    saved: dict[str, np.ndarray] = {}
    for seed in tqdm(seeds, desc="scenes", unit="scene"):
        scene = ev.synthetic_scene(seed, num_frames=frames, every_k_target=every_k, semantics=semantics, style=style,
                                   segmenter=segmenter)
        result = ev.evaluate_scene(scene, methods_for_scene(settings, model, scene), settings.num_classes,
                                   max_depth_m=RANGE_M)
        for name, conf in result.conf_3d.items():
            saved[f"{seed}/{name}"] = conf
    np.savez(out / "bound.npz", **saved)
    tables([out])


def tables(folders: list[Path]) -> None:
    pooled: dict[str, np.ndarray] = {}
    per_scene: dict[str, dict[str, float]] = {}
    for folder in folders:
        if (folder / "bound.json").is_file():
            info = json.loads((folder / "bound.json").read_text())
            print(f"{folder}: 2D input {info.get('semantics')}, style {info.get('style')}")
        data = np.load(folder / "bound.npz")
        for key in data.files:
            seed, name = key.split("/", 1)
            pooled[name] = pooled.get(name, 0) + data[key]
            per_scene.setdefault(name, {})[seed] = scores_from_confusion(data[key]).miou
    seeds = sorted({s for d in per_scene.values() for s in d})
    print("| 3D labels | pooled mIoU | pooled mAcc | " + " | ".join(seeds) + " |")
    print("|---|---|---|" + "---|" * len(seeds))
    for name, conf in pooled.items():
        s = scores_from_confusion(conf)
        cells = " | ".join(f"{per_scene[name].get(seed, float('nan')):.1f}" for seed in seeds)
        print(f"| {name} | {s.miou:.2f} | {s.macc:.2f} | {cells} |")
    names = ClassList.from_yaml().names
    scores = {name: scores_from_confusion(conf) for name, conf in pooled.items()}
    print("\nPer class, pooled (IoU / Acc, %; classes absent from these scenes left out):\n")
    print("| class | " + " | ".join(pooled) + " |")
    print("|---|" + "---|" * len(pooled))
    present = np.isfinite(next(iter(scores.values())).iou)  # (C,) the truth is the same for every row
    for i, cls in enumerate(names[:present.size]):
        if present[i]:
            print(f"| {cls} | " + " | ".join(f"{s.iou[i]:.1f} / {s.acc[i]:.1f}" for s in scores.values()) + " |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", help="held-out seeds, A:B (as gnesf-eval)")
    p.add_argument("--out", type=Path, help="folder for bound.npz")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--every-k", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    p.add_argument("--semantics", default="segmenter",
                   help="2D input as gnesf-eval's: segmenter (default) | noise | truth")
    p.add_argument("--segmenter-checkpoint", type=Path, default=None,
                   help="segmenter of --semantics segmenter (default: the shipped one)")
    p.add_argument("--style", default=None, help="simple | realistic (default: config/data.yaml synthetic.style)")
    p.add_argument("--tables", type=Path, nargs="+", help="print the pooled table of these output folders")
    args = p.parse_args(argv)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    if args.tables:
        tables(args.tables)
    elif args.seeds and args.out:
        seeds = parse_seeds(args.seeds)
        reserved = sorted(set(seeds) & reserved_seeds())
        if reserved:
            p.error(f"seeds {reserved[:10]} are used for training or validation; give held-out seeds (e.g. 2000:2005)")
        try:
            check_synthetic_input(args.semantics, style=args.style, segmenter_checkpoint=args.segmenter_checkpoint)
        except GnesfError as exc:
            p.error(str(exc))
        run(seeds, args.out, args.frames, args.every_k, args.semantics, args.style, args.segmenter_checkpoint)
    else:
        p.error("give --seeds and --out, or --tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
