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
    """Frames per second of SyntheticScan.frame (render, camera and depth models, segmenter noise).

    CPU seconds of this process (run it pinned to one core with taskset) give the rate of one free core
    even on a busy machine; wall-clock frames/s are printed beside them."""
    print("| style | size | frames/s (CPU time) | ms/frame (CPU) | frames/s (wall) |")
    print("|---|---|---|---|---|")
    for h, w in ((240, 320), (480, 640)):
        for style, extra in (("simple", {}), ("realistic", {}), ("realistic+shadows", {"shadows": True})):
            cfg = RealisticConfig()
            if extra:
                cfg.lighting.shadows = True
            total, cpu, n = 0.0, 0.0, 0
            for seed in seeds:
                scan = SyntheticScan(seed, num_frames=frames + 1, height=h, width=w,
                                     style=style.split("+")[0], realistic=cfg)
                scan.frame(0)  # warm-up (ray grids, caches)
                t0, c0 = time.perf_counter(), time.process_time()
                for i in range(1, frames + 1):
                    scan.frame(i)
                total += time.perf_counter() - t0
                cpu += time.process_time() - c0
                n += frames
            print(f"| {style} | {w}x{h} | {n / cpu:.1f} | {1000 * cpu / n:.0f} | {n / total:.1f} |", flush=True)


def _class_colours(style: str, seeds, size=(45, 60), frames=(0, 13, 26, 39)):
    """Per (scene, class) mean RGB over a few frames: the features of the colour-only classifier."""
    X, y = [], []
    for s in seeds:
        scan = SyntheticScan(s, num_frames=max(frames) + 1, height=size[0], width=size[1], style=style,
                             realistic=RealisticConfig())
        acc: dict[int, list] = {}
        for i in frames:
            v = scan.renderer.render(scan.K, scan.poses[i], *size)
            for c in np.unique(v.labels):
                if c != 255:
                    m = v.labels == c
                    a = acc.setdefault(int(c), [np.zeros(3), 0])
                    a[0] += v.rgb[m].astype(float).sum(0)
                    a[1] += m.sum()
        X += [sm / n for sm, n in acc.values()]
        y += list(acc)
    return np.array(X), np.array(y)


def stats(frames: int) -> None:
    """Measured properties: colour-only class accuracy per style, texture detail, depth holes by cause."""
    print("colour-only classifier (nearest per-class mean RGB; fitted on seeds 1000-1023, scored on 2000-2011):")
    for style in ("simple", "realistic"):
        Xa, ya = _class_colours(style, range(1000, 1024))
        Xb, yb = _class_colours(style, range(2000, 2012))
        classes = np.unique(ya)
        means = np.array([Xa[ya == c].mean(0) for c in classes])
        pred = classes[np.argmin(((Xb[:, None] - means[None]) ** 2).sum(-1), 1)]
        majority = max(float(np.mean(yb == c)) for c in classes)
        print(f"  {style}: accuracy {np.mean(pred == yb):.3f} over {len(yb)} (scene, class) pairs; "
              f"majority class {majority:.3f}, 1/classes {1 / len(classes):.3f}")
    print("median |grey difference| of same-surface neighbours (1 px / 4 px apart), 160x120, seeds 2010-2015:")
    quiet = RealisticConfig()
    quiet.camera.shot_noise = quiet.camera.read_noise = 0.0
    quiet.camera.jpeg_quality, quiet.camera.blur_subframes, quiet.camera.vignetting = 0, 1, 0.0
    for style in ("simple", "realistic"):
        e = np.zeros(2)
        for seed in range(2010, 2016):
            scan = SyntheticScan(seed, num_frames=10, height=120, width=160, style=style, realistic=quiet)
            for i in (0, 5):
                v = scan.renderer.render(scan.K, scan.poses[i], 120, 160) if style == "simple" else scan.frame(i)[1]
                for k, step in enumerate((1, 4)):
                    g = v.rgb[::step, ::step].astype(float).mean(2)
                    inst = v.instance[::step, ::step]
                    same = (inst[:, 1:] == inst[:, :-1]) & (inst[:, 1:] >= 0)
                    e[k] += np.median(np.abs(g[:, 1:] - g[:, :-1])[same]) / 12
        print(f"  {style}: {e[0]:.2f} / {e[1]:.2f} grey levels")
    print(f"depth holes of the realistic style (default knobs), 320x240, {frames} frames each of seeds 2000-2009:")
    cfg = RealisticConfig()
    d = cfg.depth
    counts = np.zeros(7)
    for seed in range(2000, 2010):
        scan = SyntheticScan(seed, num_frames=300, style="realistic", realistic=cfg)
        for i in np.linspace(0, 299, frames).astype(int):
            _, v = scan.frame(int(i))
            z, hole = v.depth_m, v.sensor_depth_m == 0
            rng_out = (z < d.min_range_m) | (z > d.max_range_m)
            graze = ~rng_out & (v.normal_cos <= np.cos(np.deg2rad(d.grazing_deg)))
            counts += [z.size, hole.sum(), rng_out.sum(), graze.sum(), (hole & ~rng_out & ~graze).sum(),
                       np.abs(v.sensor_depth_m - z)[~hole].sum(), (~hole).sum()]
    n = counts[0]
    print(f"  holes {counts[1] / n:.1%} of pixels: out of range {counts[2] / n:.1%}, grazing {counts[3] / n:.1%}, "
          f"edges/dark/shiny/speckle {counts[4] / n:.1%}; mean |sensor - truth| where valid "
          f"{1000 * counts[5] / max(counts[6], 1):.1f} mm")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sheet")
    s.add_argument("--out", type=Path, default=Path("docs/img/synthetic_realistic.png"))
    s.add_argument("--first-seed", type=int, default=2000)
    v = sub.add_parser("speed")
    v.add_argument("--frames", type=int, default=10)
    v.add_argument("--seeds", type=int, nargs="+", default=[2000, 2001, 2002])
    t = sub.add_parser("stats")
    t.add_argument("--frames", type=int, default=6)
    a = p.parse_args()
    if a.cmd == "sheet":
        contact_sheet(a.out, a.first_seed)
    elif a.cmd == "stats":
        stats(a.frames)
    else:
        speed(a.frames, a.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
