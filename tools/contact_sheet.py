"""Contact sheet of realistic synthetic scans, and their generation speed (docs/synthetic_scenes.md).

    python tools/contact_sheet.py sheet --out docs/img/synthetic_realistic.png
    taskset -c 0 python tools/contact_sheet.py speed --frames 10     # frames/s on one core

The sheet shows one row per scan, chosen from the held-out seeds to cover a handheld and a robot
trajectory, a dark and a bright scan, two rooms with a doorway and clutter; each row holds two frames
as camera RGB | sensor depth (holes black) | truth labels, with the simple style's first frame of the
same seed at the left for comparison.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from gnesf_ros.classes import ClassList
from gnesf_ros.data.realism import RealisticConfig
from gnesf_ros.data.synthetic import SyntheticScan

TILE_H, TILE_W = 120, 160


def _pick_seeds(first: int, count: int = 200) -> dict[str, int]:
    """Held-out seeds showing each situation (cheap: scenes and trajectories only, no frames)."""
    want = ("handheld", "robot", "dark", "bright", "two rooms", "clutter")
    found: dict[str, int] = {}
    cfg = RealisticConfig()
    for seed in range(first, first + count):
        scan = SyntheticScan(seed, num_frames=2, height=8, width=8, style="realistic", realistic=cfg)
        sc = scan.scene
        n_clutter = sum(o.kind == "clutter" for o in sc.objects)
        tags = {scan.trajectory_kind}
        if sc.lights.exposure_bias < 0.6:
            tags.add("dark")
        if sc.lights.exposure_bias > 1.7:
            tags.add("bright")
        if sc.two_rooms:
            tags.add("two rooms")
        if n_clutter >= 10:
            tags.add("clutter")
        for t in want:
            if t in tags and t not in found and seed not in found.values():
                found[t] = seed
                break
        if len(found) == len(want):
            break
    return found


def _depth_rgb(depth_m: np.ndarray, max_m: float = 5.0) -> np.ndarray:
    d = (np.clip(depth_m / max_m, 0, 1) * 255).astype(np.uint8)
    rgb = cv2.applyColorMap(d, cv2.COLORMAP_TURBO)[..., ::-1].copy()
    rgb[depth_m <= 0] = 0
    return rgb


def _small(img: np.ndarray) -> np.ndarray:
    interp = cv2.INTER_AREA if img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 else cv2.INTER_NEAREST
    return cv2.resize(img, (TILE_W, TILE_H), interpolation=interp)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    cv2.putText(img, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(img, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def contact_sheet(out: Path, first_seed: int = 2000, num_frames: int = 300) -> Path:
    classes = ClassList.from_yaml()
    rows = []
    for tag, seed in _pick_seeds(first_seed).items():
        simple = SyntheticScan(seed, num_frames=num_frames, style="simple")
        scan = SyntheticScan(seed, num_frames=num_frames, style="realistic", realistic=RealisticConfig())
        tiles = [_label(_small(simple.frame(40)[0].rgb), f"simple {seed}")]
        for i in (40, num_frames * 2 // 3):
            frame, view = scan.frame(i)
            tiles += [_label(_small(frame.rgb), f"{tag} f{i}" if i == 40 else f"{scan.trajectory_kind} f{i}"),
                      _small(_depth_rgb(frame.depth_m)), _small(classes.colorize(view.labels))]
        rows.append(np.concatenate([np.pad(t, ((0, 2), (0, 2), (0, 0)), constant_values=255) for t in tiles], 1))
        print(f"{tag}: seed {seed} ({scan.trajectory_kind}, exposure bias {scan.scene.lights.exposure_bias:.2f})")
    sheet = np.concatenate(rows, 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:  # a 256-colour palette keeps the noisy photos small
        from PIL import Image

        Image.fromarray(sheet).quantize(256, dither=Image.Dither.NONE).save(out, optimize=True)
    except ImportError:
        cv2.imwrite(str(out), sheet[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{out}: {out.stat().st_size / 1024:.0f} KB")
    return out


def speed(frames: int, seeds: list[int]) -> None:
    """Frames per second of SyntheticScan.frame (render, camera and depth models, segmenter noise)."""
    print("| style | size | frames/s | ms/frame |")
    print("|---|---|---|---|")
    for h, w in ((240, 320), (480, 640)):
        for style, extra in (("simple", {}), ("realistic", {}), ("realistic+shadows", {"shadows": True})):
            cfg = RealisticConfig()
            if extra:
                cfg.lighting.shadows = True
            total, n = 0.0, 0
            for seed in seeds:
                scan = SyntheticScan(seed, num_frames=frames + 1, height=h, width=w,
                                     style=style.split("+")[0], realistic=cfg)
                scan.frame(0)  # warm-up (ray grids, caches)
                t0 = time.perf_counter()
                for i in range(1, frames + 1):
                    scan.frame(i)
                total += time.perf_counter() - t0
                n += frames
            print(f"| {style} | {w}x{h} | {n / total:.1f} | {1000 * total / n:.0f} |", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sheet")
    s.add_argument("--out", type=Path, default=Path("docs/img/synthetic_realistic.png"))
    s.add_argument("--first-seed", type=int, default=2000)
    v = sub.add_parser("speed")
    v.add_argument("--frames", type=int, default=10)
    v.add_argument("--seeds", type=int, nargs="+", default=[2000, 2001, 2002])
    a = p.parse_args()
    if a.cmd == "sheet":
        contact_sheet(a.out, a.first_seed)
    else:
        speed(a.frames, a.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
