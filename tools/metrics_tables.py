#!/usr/bin/env python3
"""Print the markdown tables of docs/model_card.md from one or more gnesf-eval output folders.

    python tools/metrics_tables.py runs/eval_a runs/eval_b

Confusion matrices of several folders (disjoint scenes) are summed before scoring, so the result is the
same as one evaluation over all their scenes.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from gnesf_ros.eval.evaluate import summarize

ORDER = ("gnesf", "gnesf_depth", "input_2d", "bayes_fusion", "majority_vote")


def merged(folders: list[Path]) -> tuple[dict, list[str], list[int]]:
    conf_2d: dict[str, np.ndarray] = {}
    conf_3d: dict[str, np.ndarray] = {}
    ceiling: dict[str, np.ndarray] = {}  # 3D with perfect labels on each method's points (older runs: none)
    names: list[str] = []
    seeds: list[int] = []
    for folder in folders:
        data = np.load(folder / "confusion.npz")
        names = [str(n) for n in data["class_names"]]
        for key in data.files:
            for suffix, target in (("_3d_ceiling", ceiling), ("_2d", conf_2d), ("_3d", conf_3d)):
                if key.endswith(suffix):
                    method = key[:-len(suffix)]
                    target[method] = target.get(method, 0) + data[key]
                    break
        seeds += json.loads((folder / "metrics.json").read_text()).get("seeds", [])
    return summarize(conf_2d, conf_3d, names, ceiling), names, seeds


def fmt(x) -> str:
    return "-" if x is None else f"{x:.1f}"


def main(argv: list[str]) -> int:
    summary, names, seeds = merged([Path(a) for a in argv])
    methods = [m for m in ORDER if m in summary]
    print(f"Scenes (seeds): {sorted(seeds)}\n")
    print("| method | mIoU 2D | mAcc 2D | mIoU 3D | mAcc 3D | mIoU 3D, perfect labels |\n|---|---|---|---|---|---|")
    for m in methods:
        s = summary[m]
        print(f"| {m} | {fmt(s.get('miou_2d'))} | {fmt(s.get('macc_2d'))} | {fmt(s.get('miou_3d'))} | "
              f"{fmt(s.get('macc_3d'))} | {fmt(s.get('miou_3d_ceiling'))} |")
    for dim in ("2d", "3d"):
        cols = [m for m in methods if summary[m].get(f"miou_{dim}") is not None]
        print(f"\nPer class, {dim.upper()} (IoU / Acc, %; '-' = class absent from these scenes):\n")
        print("| class | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
        for n in names:
            cells = [f"{fmt(summary[m]['per_class'][n].get('iou_' + dim))} / "
                     f"{fmt(summary[m]['per_class'][n].get('acc_' + dim))}" for m in cols]
            if all(c == "- / -" for c in cells):
                continue
            print(f"| {n} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
