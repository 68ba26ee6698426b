"""Frames per second of the segmenter at 320x240 and 640x480 (untrained network of the shipped architecture:
speed does not depend on the weights), as the node runs it (labels + confidence, and probabilities).

    PYTHONPATH=$PWD python tools/segmenter_speed.py [--threads 1] [--device cpu] [--frames 30]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from gnesf_ros.segmentation.config import SegNetConfig
from gnesf_ros.segmentation.infer import Segmenter
from gnesf_ros.segmentation.network import SegNet, count_parameters


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=30)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    seg = Segmenter(SegNet(SegNetConfig()), [f"c{i}" for i in range(20)], args.device)
    print(f"parameters: {count_parameters(seg.model):,}; device {args.device}; torch threads {args.threads}")
    print("| size | labels + confidence (frames/s) | probabilities (frames/s) |")
    print("|---|---|---|")
    for h, w in ((240, 320), (480, 640)):
        rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        rates = []
        for run in (lambda: seg.labels_and_confidence(rgb), lambda: seg.predict(rgb)):
            for _ in range(3):
                run()
            t0 = time.perf_counter()
            for _ in range(args.frames):
                run()
            rates.append(args.frames / (time.perf_counter() - t0))
        print(f"| {w}x{h} | {rates[0]:.1f} | {rates[1]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
