"""Can a cue tell which view's 2D label to trust? Issue 21's "the vote's cues" and "view selection", measured.

    python tools/segmenter_cues.py --seeds 2000:2005 --frames 100 --out runs/segmenter_cues

On held-out realistic scans with the shipped segmenter as input, at the scene's true surface points (2 cm apart)
that some frame sees within 3 m (visibility by the true depth, as `FrameBayes` checks it; every frame votes):
1. per vote (one view of one point): the segmenter's accuracy in quartiles of each cue a vote could weigh:
   `confidence` (max_c p), `near` (minus the point's depth in the view, m), `central` (1 minus the pixel's distance
   from the image centre over the half-diagonal), `head_on` (|cos| between the viewing ray and the true normal);
2. per point: the label of the view that is best by each cue (most confident, nearest, most central, most head-on)
   and naive Bayes with every vote weighted by a cue, against naive Bayes over all views and the view oracle (the
   truth wherever some view is right: the best any choice of view could do). Scored as mIoU over those points.
Eq. 3's vote weighs views by a learned function of such cues; if no cue orders the right view first more often
than naive Bayes already gets the point right, the vote has little to learn from them. Writes cues.json and a
table on the console.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from gnesf_ros.classes import ClassList
from gnesf_ros.eval.frame_bayes import FrameBayes
from gnesf_ros.eval.metrics import confusion_matrix, scores_from_confusion

CUES = ("confidence", "near", "central", "head_on")
NUM_BINS = 4


class CueChoice(FrameBayes):
    """FrameBayes that also keeps, per point and cue, the argmax of the view best by that cue, naive Bayes with
    votes weighted by each cue, and every vote's (cue values, right or wrong) for the accuracy-by-quartile table."""

    def __init__(self, points_map: np.ndarray, num_classes: int, truth: np.ndarray, max_depth_m: float) -> None:
        super().__init__(points_map, num_classes, max_depth_m=max_depth_m, truth=truth)
        n = self.points_map.shape[0]
        self.best_cue = {k: np.full(n, -np.inf) for k in CUES}  # (N,) best cue value of a vote so far
        self.best_label = {k: np.full(n, -1, dtype=np.int64) for k in CUES}  # (N,) that vote's argmax
        self.weighted = {k: np.zeros((n, num_classes)) for k in CUES}  # (N, C) sum of w * log(p + eps)
        self.vote_cues: dict[str, list[np.ndarray]] = {k: [] for k in CUES}
        self.vote_right: list[np.ndarray] = []

    def add_with_cues(self, frame, normal_cos: np.ndarray) -> None:
        """One frame's votes; `normal_cos` (H, W) |cos| between ray and true normal."""
        idx, rows, cols, probs = self.add(frame)  # naive Bayes and the oracle as FrameBayes keeps them
        log_p = np.log(probs + self.eps)
        label = probs.argmax(axis=1)
        cam = (self.points_map[idx] - frame.T_map_cam[:3, 3]) @ frame.T_map_cam[:3, :3]  # (M, 3) camera frame
        half_diag = 0.5 * np.hypot(frame.height, frame.width)
        cues = {"confidence": probs.max(axis=1), "near": -cam[:, 2],
                "central": 1.0 - np.hypot(rows - (frame.height - 1) / 2, cols - (frame.width - 1) / 2) / half_diag,
                "head_on": np.asarray(normal_cos, dtype=np.float64)[rows, cols]}
        weights = {**cues, "near": 1.0 + cues["near"] / self.max_depth_m}  # each in [0, 1], larger = trusted more
        scored = self.truth[idx] < self.num_classes
        for k, value in cues.items():
            better = value > self.best_cue[k][idx]  # a point votes at most once per frame: no duplicate idx
            self.best_cue[k][idx[better]] = value[better]
            self.best_label[k][idx[better]] = label[better]
            self.weighted[k][idx] += np.clip(weights[k], 0.0, 1.0)[:, None] * log_p
            self.vote_cues[k].append(value[scored])
        self.vote_right.append(label[scored] == self.truth[idx][scored])

    def choice_labels(self, cue: str) -> np.ndarray:
        return np.where(self.num_votes > 0, self.best_label[cue], -1)

    def weighted_labels(self, cue: str) -> np.ndarray:
        return np.where(self.num_votes > 0, self.weighted[cue].argmax(axis=1), -1)


def quartile_accuracy(values: np.ndarray, right: np.ndarray) -> list[dict[str, float]]:
    """Accuracy (%) of the votes in each quartile of a cue's values, lowest quartile first."""
    edges = np.quantile(values, np.linspace(0.0, 1.0, NUM_BINS + 1))
    which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, NUM_BINS - 1)
    return [{"from": round(float(edges[b]), 3), "to": round(float(edges[b + 1]), 3),
             "votes": int((which == b).sum()), "accuracy": round(100.0 * float(right[which == b].mean()), 2)}
            for b in range(NUM_BINS)]


def run(seeds: list[int], frames: int, height: int, width: int, max_depth_m: float, out: Path,
        progress: bool = True) -> dict:
    from tqdm import tqdm

    from gnesf_ros.eval.evaluate import load_eval_segmenter, make_synthetic_scan
    from gnesf_ros.segmentation.scan import segmented_frame

    classes = ClassList.from_yaml()
    segmenter = load_eval_segmenter(None, classes=classes)
    conf: dict[str, np.ndarray] = {}
    votes_cues: dict[str, list[np.ndarray]] = {k: [] for k in CUES}
    votes_right: list[np.ndarray] = []
    for seed in seeds:
        scan = make_synthetic_scan(seed, frames, height, width, "realistic")
        xyz, label = scan.renderer.surface_points(0.02)
        fb = CueChoice(xyz, classes.num_classes, truth=label.astype(np.int64), max_depth_m=max_depth_m)
        for i in tqdm(range(len(scan)), desc=f"scene {seed}", disable=not progress, leave=False):
            frame, view = scan.frame(i)
            frame = segmented_frame(frame, segmenter)
            frame = dataclasses.replace(frame, depth_m=view.depth_m)  # visibility from the true depth
            fb.add_with_cues(frame, view.normal_cos)
        seen = (fb.num_votes > 0) & (label < classes.num_classes)
        truth = label[seen]
        rows = {"naive Bayes, all views": fb.labels(), "view oracle": fb.view_oracle_labels(),
                **{f"the view best by {k}": fb.choice_labels(k) for k in CUES},
                **{f"naive Bayes weighted by {k}": fb.weighted_labels(k) for k in CUES}}
        for name, pred in rows.items():
            pred = np.where(pred[seen] < 0, 255, pred[seen])
            conf[name] = conf.get(name, 0) + confusion_matrix(pred, truth, classes.num_classes)
        for k in CUES:
            votes_cues[k].append(np.concatenate(fb.vote_cues[k]))
        votes_right.append(np.concatenate(fb.vote_right))
    right = np.concatenate(votes_right)
    result = {"seeds": seeds, "frames": frames, "image_size": [height, width], "max_depth_m": max_depth_m,
              "votes": int(right.size), "vote_accuracy": round(100.0 * float(right.mean()), 2),
              "points": {name: {"miou": round(scores_from_confusion(c).miou, 2),
                                "accuracy": round(100.0 * float(np.trace(c[:, :classes.num_classes]) / c.sum()), 2)}
                         for name, c in conf.items()},
              "accuracy_by_quartile": {k: quartile_accuracy(np.concatenate(votes_cues[k]), right) for k in CUES}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "cues.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_tables(result: dict) -> None:
    print(f"{result['votes']:,} votes, {result['vote_accuracy']}% right")
    print("| cue | accuracy of the votes in quartile 1 / 2 / 3 / 4 (lowest cue first) |\n|---|---|")
    for k, bins in result["accuracy_by_quartile"].items():
        print(f"| {k} | " + " / ".join(f"{b['accuracy']:.1f}" for b in bins) + " |")
    print("\n| labels at the points | mIoU | accuracy |\n|---|---|---|")
    for name, s in result["points"].items():
        print(f"| {name} | {s['miou']:.2f} | {s['accuracy']:.2f} |")


def main(argv: list[str] | None = None) -> int:
    from gnesf_ros.cli.eval import parse_seeds, reserved_seeds

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="2000:2005", help="held-out realistic scenes (default 2000:2005)")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    p.add_argument("--max-depth-m", type=float, default=3.0, help="views farther than this do not vote (the mapper's)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    if set(seeds) & reserved_seeds():
        print("segmenter_cues: refusing training or validation seeds", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    print_tables(run(seeds, args.frames, args.size[0], args.size[1], args.max_depth_m, args.out,
                     progress=not args.no_progress))
    return 0


if __name__ == "__main__":
    sys.exit(main())
