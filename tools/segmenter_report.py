"""Score a segmenter checkpoint against the segmenter-noise model on held-out synthetic scenes.

Per-class IoU, calibration (ECE and a reliability diagram PNG) and error persistence between neighbouring frames
(for a surface point wrong in frame t, how often it is wrong in frame t + k, k = 1..30, by reprojection through the
true depth and poses; gnesf_ros/segmentation/evaluate.py), for the checkpoint and the noise model on the same
frames. Writes OUT/report.json, OUT/report.md, OUT/reliability.png, OUT/persistence.png.

    PYTHONPATH=$PWD python tools/segmenter_report.py --checkpoint gnesf_ros/checkpoints/segmenter.pt \\
        --scenes 5 --frames 100 --out runs/segmenter_report [--scene-style realistic]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gnesf_ros.classes import ClassList
from gnesf_ros.data.synthetic import SyntheticDataConfig
from gnesf_ros.errors import GnesfError, InputError
from gnesf_ros.eval.metrics import expected_calibration_error, scores_from_confusion
from gnesf_ros.eval.plots import save_reliability
from gnesf_ros.segmentation.checkpoint import default_checkpoint
from gnesf_ros.segmentation.evaluate import Persistence, error_persistence, frame_scores
from gnesf_ros.segmentation.infer import Segmenter
from gnesf_ros.segmentation.train_data import open_styled_scan

METHODS = ("segmenter", "noise_model")


def report(checkpoint: Path, out: Path, scenes: int, frames: int, split: str = "test", style: str = "",
           max_k: int = 30, stride: int = 4, height: int | None = None, width: int | None = None,
           device: str = "cpu") -> dict:
    """Run both methods over `scenes` scans of `split` and write the report files; returns report.json's dict."""
    if split == "train":
        raise InputError("segmenter_report: scores on held-out scenes only; split must be 'val' or 'test'")
    data = SyntheticDataConfig.from_yaml()
    classes = ClassList.from_yaml()
    C = classes.num_classes
    seg = Segmenter.from_checkpoint(checkpoint, classes.names, device)
    conf = {m: np.zeros((C, C + 1), np.int64) for m in METHODS}
    bins = {m: np.zeros((10, 3)) for m in METHODS}
    pers = {m: Persistence(*np.zeros((4, max_k), np.int64)) for m in METHODS}
    h, w = height or data.height, width or data.width
    seeds = list(data.seeds(split))[:scenes]
    for seed in tqdm(seeds, desc="scenes", unit="scene"):
        scan = open_styled_scan(seed, frames, h, w, data.fov_deg, style)
        wrong = {m: np.zeros((frames, h, w), bool) for m in METHODS}
        depth = np.zeros((frames, h, w), np.float32)
        valid = np.zeros((frames, h, w), bool)
        for i in tqdm(range(frames), desc=f"scene {seed}", unit="frame", leave=False):
            frame, view = scan.frame(i)
            probs = {"segmenter": seg.predict(view.rgb), "noise_model": frame.probs.transpose(2, 0, 1)}
            for m in METHODS:
                c, b, wrong[m][i] = frame_scores(probs[m], view.labels, ignore_id=classes.ignore_id)
                conf[m] += c
                bins[m] += b
            depth[i], valid[i] = view.depth_m, view.labels != classes.ignore_id
        for m in METHODS:
            pers[m] = pers[m] + error_persistence(wrong[m], depth, scan.K, scan.poses[:frames], max_k, valid,
                                                  stride=stride)
    result: dict = {"checkpoint": str(checkpoint), "split": split, "seeds": seeds, "frames": frames,
                    "image_hw": [h, w], "scene_style": style, "methods": {}}
    for m in METHODS:
        s = scores_from_confusion(conf[m])
        result["methods"][m] = {
            "miou": s.miou, "pixel_acc": 100.0 * np.trace(conf[m][:, :C]) / max(1, conf[m].sum()),
            "iou": s.per_class(classes.names), "ece": expected_calibration_error(bins[m]),
            "reliability_bins": bins[m].tolist(),
            "persistence": {"k": list(range(1, max_k + 1)), "repeat_rate": _nan_none(pers[m].repeat_rate),
                            "base_rate": _nan_none(pers[m].base_rate), "wrong_pairs": pers[m].wrong_pairs.tolist()}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result, indent=1))
    save_reliability(out / "reliability.png", {f"{m} (ECE {result['methods'][m]['ece']:.3f})": bins[m]
                                               for m in METHODS}, "argmax probability, held-out scenes")
    _plot_persistence(out / "persistence.png", pers)
    (out / "report.md").write_text(_markdown(result, classes.names))
    return result


def _nan_none(x: np.ndarray) -> list:
    return [None if not np.isfinite(v) else float(v) for v in x]


def _plot_persistence(path: Path, pers: dict[str, Persistence]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for m, p in pers.items():
        k = np.arange(1, len(p.wrong_pairs) + 1)
        line, = ax.plot(k, p.repeat_rate, "o-", ms=3, label=f"{m}: P(wrong at t+k | wrong at t)")
        ax.plot(k, p.base_rate, "--", color=line.get_color(), label=f"{m}: P(wrong at t+k)")
    ax.set_xlabel("k (frames)")
    ax.set_ylabel("rate")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title("error persistence of a surface point (reprojected)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _markdown(result: dict, names: tuple[str, ...]) -> str:
    ms = result["methods"]
    lines = [f"Held-out {result['split']} seeds {result['seeds']}, {result['frames']} frames each, "
             f"{result['image_hw'][1]}x{result['image_hw'][0]}, scene style '{result['scene_style'] or 'default'}'.",
             "", "| | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]
    fmt = lambda v: "-" if v is None or not np.isfinite(v) else f"{v:.1f}"  # noqa: E731
    lines.append("| mIoU | " + " | ".join(fmt(ms[m]["miou"]) for m in METHODS) + " |")
    lines.append("| pixel accuracy | " + " | ".join(fmt(ms[m]["pixel_acc"]) for m in METHODS) + " |")
    lines.append("| ECE | " + " | ".join(f"{ms[m]['ece']:.3f}" for m in METHODS) + " |")
    for k in (1, 5, 10, 30):
        if k <= len(ms[METHODS[0]]["persistence"]["k"]):
            pct = lambda v: None if v is None else 100.0 * v  # noqa: E731
            cell = lambda m: (fmt(pct(ms[m]["persistence"]["repeat_rate"][k - 1])) + " / "  # noqa: E731
                              + fmt(pct(ms[m]["persistence"]["base_rate"][k - 1])))
            lines.append(f"| wrong again at t+{k} / base rate (%) | " + " | ".join(cell(m) for m in METHODS) + " |")
    for n in names:
        lines.append(f"| IoU {n} | " + " | ".join(fmt(ms[m]["iou"][n]["iou"]) for m in METHODS) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=default_checkpoint())
    ap.add_argument("--out", type=Path, default=Path("runs/segmenter_report"))
    ap.add_argument("--scenes", type=int, default=5)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--split", choices=["val", "test"], default="test")
    ap.add_argument("--scene-style", default="", help="the generator's scene style ('' = its default)")
    ap.add_argument("--max-k", type=int, default=30)
    ap.add_argument("--stride", type=int, default=4, help="reproject every STRIDE-th pixel in each direction")
    ap.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"))
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        h, w = args.size if args.size else (None, None)
        result = report(args.checkpoint, args.out, args.scenes, args.frames, args.split, args.scene_style,
                        args.max_k, args.stride, h, w, args.device)
    except GnesfError as exc:
        print(f"segmenter_report: {exc}", file=sys.stderr)
        return 2
    print((args.out / "report.md").read_text())
    print(f"files: {args.out}/report.json, reliability.png, persistence.png")
    return 0 if result else 1


if __name__ == "__main__":
    sys.exit(main())
