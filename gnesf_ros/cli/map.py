"""`gnesf-map`: run a whole sequence through the online mapper and write the map, novel-view renders and stats.

    gnesf-map synthetic --seed 2001 --out runs/map [--frames 300] [--checkpoint PATH] [--geometry learned|depth]
                        [--every K] [--renders 4] [--semantics noise|truth|none] [--render-size H W]
                        [--style simple|realistic]
    gnesf-map scannet SCAN --tsv scannetv2-labels.combined.tsv --out runs/map [--every K] ...
    gnesf-map scannet SCAN --semantics none --geometry learned --out runs/map     (no labels, no tsv needed)

Frames go to `Mapper.add_frame` one at a time (every K-th frame with --every K), then `flush()`. Outputs in
--out: `map.ply` (surface voxels coloured by class), `mesh.ply` (the semantic mesh: marching cubes on the fused
SDF, class colours, `label` and `confidence` per vertex), `map.gnesfmap` (`Mapper.save`), `render_<i>.png` at
novel poses never fed to the mapper (rgb | input 2D argmax | render | truth, class colours) with its rendered
z-depth beside it as `render_<i>_depth.png` (16-bit, millimetres, 0 = unknown), and `stats.json` (frames,
keyframes, fragments, voxels, per-stage seconds, peak RSS, render times, pixel accuracy and rendered-depth errors
against the measured depth there). Synthetic novel poses lie halfway between two trajectory frames (`render_<i>`);
ScanNet ones are withheld frames, named by the frame's index (`render_frame120.png`, `render_frame120_depth.png`).
--semantics: the 2D input (ScanNet: like gnesf-bag, 'noise' | 'truth' | 'none' (all unknown: geometry only, needs no
label images) | a folder of predictions; synthetic: 'noise' | 'truth' | 'none'). --render-size renders the novel
views at H x W (intrinsics scaled) instead of the frames' size. --style: the synthetic scene style (default
config/data.yaml's `synthetic.style`), recorded in stats.json's `run`.
Seeds used for training or validation are refused (like gnesf-eval). Exit code 0 on success, 2 on errors.
"""
from __future__ import annotations

import argparse
import json
import logging
import resource
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from gnesf_ros.errors import ConfigError, GnesfError

log = logging.getLogger(__name__)


@dataclass
class NovelView:
    """A pose to render that the mapper never saw, with what is known there (for the figure and accuracy)."""

    name: str
    K: np.ndarray  # (3, 3)
    T_map_cam: np.ndarray  # (4, 4)
    height: int
    width: int
    rgb: np.ndarray | None = None  # (H, W, 3) uint8
    input_label: np.ndarray | None = None  # (H, W) argmax of the 2D segmenter there, 255 = unknown
    truth: np.ndarray | None = None  # (H, W) true labels, 255 = ignore
    depth_m: np.ndarray | None = None  # (H, W) measured z-depth there (0 = none)
    tag: str = ""  # file names render_<tag>.png / render_<tag>_depth.png ("" = the view's position)


@dataclass
class MapRun:
    """What `run_mapper` needs: the frames to feed (each once), their count, the novel views."""

    name: str
    frames: Iterable[Any]  # Frame objects
    num_frames: int
    views: list[NovelView]
    info: dict[str, Any]


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MB), from getrusage (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def interpolate_pose(T_a: np.ndarray, T_b: np.ndarray, s: float) -> np.ndarray:
    """Pose (4, 4) a fraction s of the way from T_a to T_b: lerp of the position, slerp of the rotation."""
    from scipy.spatial.transform import Rotation, Slerp

    rots = Rotation.from_matrix(np.stack([T_a[:3, :3], T_b[:3, :3]]))
    T = np.eye(4)
    T[:3, :3] = Slerp([0.0, 1.0], rots)([s]).as_matrix()[0]
    T[:3, 3] = (1.0 - s) * T_a[:3, 3] + s * T_b[:3, 3]
    return T


def _labels_of(probs: np.ndarray) -> np.ndarray:
    from gnesf_ros.eval.baselines import probs_to_labels

    return probs_to_labels(probs)


SEMANTICS_SYNTHETIC = ("noise", "truth", "none")


def _semantics(frame: Any, labels: np.ndarray, semantics: str) -> Any:
    """`frame` with its 2D input replaced: 'noise' keeps the noise model's, 'truth' one-hot true labels, 'none' all
    unknown."""
    import dataclasses

    from gnesf_ros.frame import labels_to_probs

    if semantics == "noise":
        return frame
    C = frame.probs.shape[2]
    probs = labels_to_probs(labels, C) if semantics == "truth" else np.zeros_like(frame.probs)
    return dataclasses.replace(frame, probs=probs)


def synthetic_run(seed: int, num_frames: int, every: int, num_renders: int, height: int = 240,
                  width: int = 320, semantics: str = "noise", style: str | None = None) -> MapRun:
    """Synthetic scan `seed` of `style` (None: config/data.yaml's); novel views halfway between trajectory frames
    (truth and 2D noise rendered there)."""
    from gnesf_ros.data.realism import STYLES
    from gnesf_ros.eval.evaluate import make_synthetic_scan

    if semantics not in SEMANTICS_SYNTHETIC:
        raise ConfigError(f"--semantics for a synthetic scan must be one of {SEMANTICS_SYNTHETIC}, got {semantics!r}")
    if style is not None and style not in STYLES:
        raise ConfigError(f"--style must be one of {', '.join(STYLES)}, got {style!r}")
    scan = make_synthetic_scan(seed, num_frames, height, width, style)
    n = len(scan)
    views = []
    picks = np.linspace(0, n - 2, num_renders + 2)[1:-1].round().astype(int) if n >= 2 and num_renders > 0 else []
    for j, i in enumerate(picks):
        T = interpolate_pose(scan.poses[i], scan.poses[i + 1], 0.5)
        view = scan.renderer.render(scan.K, T, height, width, rng=np.random.default_rng([seed, int(i), 4]))
        probs = scan.noise.apply(view.labels, view.instance, view.depth_m, view.normal_cos, 1_000_000 + int(i))
        input_label = {"noise": _labels_of(probs), "truth": np.asarray(view.labels),
                       "none": None}[semantics]
        views.append(NovelView(f"{i}.5", scan.K.copy(), T, height, width, rgb=view.rgb, input_label=input_label,
                               truth=np.asarray(view.labels), depth_m=np.asarray(view.depth_m, np.float32)))
    fed = range(0, n, every)
    frames = (_semantics(*_frame_and_labels(scan, i), semantics) for i in fed)
    return MapRun(f"synthetic_{seed}", frames, len(fed), views, {"dataset": "synthetic", "seed": seed,
                                                                  "height": height, "width": width,
                                                                  "semantics": semantics, "style": scan.style})


def _frame_and_labels(scan: Any, i: int) -> tuple[Any, np.ndarray]:
    frame, view = scan.frame(i)
    return frame, np.asarray(view.labels)


def scannet_run(path: Path, tsv: Path | None, every: int, num_renders: int, semantics: str = "noise") -> MapRun:
    """ScanNet scan (every K-th frame); `num_renders` evenly spaced frames are withheld and rendered. `semantics` as
    `ScanNetScan`'s ('noise', 'truth', 'none' or a folder of predictions)."""
    from gnesf_ros.data.scannet import ScanNetScan

    scan = ScanNetScan(path, tsv_path=tsv, every=every, semantics=semantics)
    n = len(scan)
    held = set(np.linspace(0, n - 1, num_renders + 2)[1:-1].round().astype(int).tolist()) if num_renders > 0 else set()
    views: list[NovelView] = []

    def frames() -> Iterator[Any]:
        for pos, sf in enumerate(scan):
            if pos in held:
                f = sf.frame
                unknown = not np.any(f.probs)  # semantics 'none'
                views.append(NovelView(str(sf.index), np.asarray(f.K), np.asarray(f.T_map_cam), f.height, f.width,
                                       rgb=f.rgb, input_label=None if unknown else _labels_of(f.probs),
                                       truth=sf.truth_labels, depth_m=f.depth_m, tag=f"frame{sf.index}"))
            else:
                yield sf.frame

    return MapRun(scan.scene, frames(), n - len(held), views,
                  {"dataset": "scannet", "scene": scan.scene, "path": str(path), "semantics": scan.semantics})


def depth_png(depth_m: np.ndarray) -> np.ndarray:
    """z-depth (H, W) metres -> uint16 millimetres, 0 where unknown (<= 0 or not finite); clipped at 65.535 m."""
    d = np.asarray(depth_m, dtype=np.float64)
    mm = np.where(np.isfinite(d) & (d > 0), np.round(d * 1000.0), 0.0)
    return np.clip(mm, 0, 65535).astype(np.uint16)


def _resized(img: np.ndarray | None, height: int, width: int) -> np.ndarray | None:
    """An image (H, W, ...) at the render size, nearest pixel centre (labels and depth stay exact values; any dtype)."""
    if img is None or img.shape[:2] == (height, width):
        return img
    rows = np.minimum(((np.arange(height) + 0.5) * img.shape[0] / height).astype(np.int64), img.shape[0] - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * img.shape[1] / width).astype(np.int64), img.shape[1] - 1)
    return img[rows[:, None], cols[None, :]]


def _panel(views: list[np.ndarray | None], height: int, width: int) -> np.ndarray:
    cells = [v if v is not None else np.zeros((height, width, 3), np.uint8) for v in views]
    gap = np.full((height, 4, 3), 255, np.uint8)
    out = [cells[0]]
    for c in cells[1:]:
        out += [gap, c]
    return np.concatenate(out, axis=1)


def run_mapper(run: MapRun, out_dir: Path, mapper: Any, progress: bool = True, command: str = "",
               render_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Feed every frame of `run` to `mapper`, flush, write map.ply, map.gnesfmap, render and depth PNGs and
    stats.json. `render_size` (H, W): render the novel views at this size (intrinsics scaled) instead of theirs."""
    import torch
    from PIL import Image
    from tqdm import tqdm

    from gnesf_ros.classes import IGNORE_ID
    from gnesf_ros.eval.geometry import depth_errors
    from gnesf_ros.geometry.camera import scale_intrinsics

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    bar = tqdm(total=run.num_frames, desc=run.name, unit="frame", disable=not progress, file=sys.stderr)
    latencies = []
    for frame in run.frames:
        t = time.perf_counter()
        update = mapper.add_frame(frame)
        if update.fragment_fused:
            latencies.append(time.perf_counter() - t)
        st = mapper.stats()
        bar.set_postfix(keyframes=st["keyframes"], voxels=st["voxels"], refresh=False)
        bar.update(1)
    mapper.flush()
    bar.close()
    map_seconds = time.perf_counter() - t0
    mapper.save(out_dir / "map.gnesfmap")
    num_points = mapper.export_ply(out_dir / "map.ply")
    from gnesf_ros.mapping.mesh import save_map_mesh

    t = time.perf_counter()
    mesh = save_map_mesh(out_dir / "mesh.ply", mapper.map, mapper.class_list)
    mesh_stats = {"vertices": mesh.num_vertices, "faces": mesh.num_faces,
                  "seconds": round(time.perf_counter() - t, 3)}
    renders = []
    colorize = mapper.class_list.colorize
    for j, v in enumerate(run.views):
        h, w = render_size if render_size is not None else (v.height, v.width)
        K = v.K if (h, w) == (v.height, v.width) else \
            scale_intrinsics(torch.from_numpy(np.asarray(v.K, np.float64)), w / v.width, h / v.height).numpy()
        t = time.perf_counter()
        r = mapper.render(K, v.T_map_cam, h, w)
        seconds = time.perf_counter() - t
        entry: dict[str, Any] = {"view": v.name, "seconds": round(seconds, 3), "size": [h, w],
                                 "known_fraction": round(float((r.label != IGNORE_ID).mean()), 4)}
        truth, input_label = _resized(v.truth, h, w), _resized(v.input_label, h, w)
        if truth is not None:
            scored = truth != IGNORE_ID
            if scored.any():
                entry["pixel_accuracy"] = round(float((r.label[scored] == truth[scored]).mean()), 4)
                if input_label is not None:
                    entry["input_pixel_accuracy"] = round(float((input_label[scored] == truth[scored]).mean()), 4)
        if v.depth_m is not None:  # rendered depth against the measured one there, within the mapped range
            entry.update(depth_errors(r.depth_m, _resized(np.asarray(v.depth_m, np.float32), h, w),
                                      mapper.config.max_depth_m).as_dict())
        stem = f"render_{v.tag or j}"
        png = out_dir / f"{stem}.png"
        Image.fromarray(_panel([_resized(v.rgb, h, w), None if input_label is None else colorize(input_label), r.rgb,
                                None if truth is None else colorize(truth)], h, w)).save(png)
        Image.fromarray(depth_png(r.depth_m)).save(out_dir / f"{stem}_depth.png")
        entry["png"], entry["depth_png"] = png.name, f"{stem}_depth.png"
        renders.append(entry)
    st = mapper.stats()
    stats = {**st, "run": run.info, "fed_frames": st["frames"], "surface_points": num_points,
             "mesh": mesh_stats,
             "map_seconds": round(map_seconds, 3),
             "frames_per_s": round(st["frames"] / map_seconds, 3) if map_seconds > 0 else None,
             "keyframes_per_s": round(st["keyframes"] / map_seconds, 3) if map_seconds > 0 else None,
             "fragment_latency_s_mean": round(float(np.mean(latencies)), 3) if latencies else None,
             "renders": renders, "peak_rss_mb": round(peak_rss_mb(), 1),
             "config": {k: getattr(mapper.config, k) for k in ("window_size", "voxel_size_m", "max_volume_dims",
                                                               "geometry_source", "render_mode", "checkpoint")},
             "command": command}
    stats["seconds"] = {k: round(v, 3) for k, v in st["seconds"].items()}
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    return stats


def map_sequence(run: MapRun, out_dir: Path, checkpoint: Path | None, geometry: str, device: str = "cpu",
                 progress: bool = True, command: str = "", mapper_overrides: dict[str, Any] | None = None,
                 render_size: tuple[int, int] | None = None) -> int:
    """Build a Mapper (checkpoint, geometry source, other MapperConfig fields) and run `run` through it.
    Returns the exit code."""
    from gnesf_ros.mapping.config import MapperConfig
    from gnesf_ros.mapping.mapper import Mapper

    cfg = MapperConfig(**{**(mapper_overrides or {}), "geometry_source": geometry, "device": device,
                          "checkpoint": str(checkpoint) if checkpoint else ""})
    mapper = Mapper(cfg)
    stats = run_mapper(run, out_dir, mapper, progress=progress, command=command, render_size=render_size)
    print(f"{stats['frames']} frames, {stats['keyframes']} keyframes, {stats['fragments']} fragments, "
          f"{stats['voxels']} voxels ({stats['surface_points']} surface points) in {stats['map_seconds']:.1f} s "
          f"({stats['keyframes_per_s']} keyframes/s); peak RSS {stats['peak_rss_mb']:.0f} MB; outputs in {out_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gnesf-map", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="dataset", required=True)
    syn = sub.add_parser("synthetic", help="a held-out procedural scene (gnesf_ros.data.synthetic)")
    syn.add_argument("--seed", type=int, required=True, help="scene seed (test split: 2000..2099)")
    syn.add_argument("--frames", type=int, default=300, help="frames of the scan (default 300)")
    syn.add_argument("--height", type=int, default=240, help=argparse.SUPPRESS)
    syn.add_argument("--width", type=int, default=320, help=argparse.SUPPRESS)
    syn.add_argument("--allow-training-seeds", action="store_true", help=argparse.SUPPRESS)  # debugging only
    sn = sub.add_parser("scannet", help="a ScanNet scan (.sens or exported folder)")
    sn.add_argument("scan", type=Path, help="scan folder or .sens file")
    sn.add_argument("--tsv", type=Path, default=None, help="scannetv2-labels.combined.tsv")
    for p in (syn, sn):
        p.add_argument("--out", type=Path, required=True, help="output folder")
        p.add_argument("--checkpoint", type=Path, default=None, help="GNeSF checkpoint (default: the shipped one)")
        p.add_argument("--geometry", choices=("learned", "depth"), default="learned",
                       help="geometry from the learned SDF (RGB only) or a depth TSDF")
        p.add_argument("--every", type=int, default=1, help="feed every K-th frame (default 1)")
        p.add_argument("--renders", type=int, default=4, help="novel views to render (default 4)")
        p.add_argument("--device", default="cpu", help="torch device (default cpu)")
        p.add_argument("--threads", type=int, default=1,
                       help="torch CPU threads (default 1: faster than 2 on a busy 2-core machine)")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.add_argument("--render-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                       help="render the novel views at H x W (intrinsics scaled; default: the frames' size)")
    syn.add_argument("--style", default=None,
                     help="scene style: simple | realistic (default: config/data.yaml synthetic.style)")
    syn.add_argument("--semantics", choices=SEMANTICS_SYNTHETIC, default="noise",
                     help="2D input: the segmenter-noise model (default), the true labels, or none (all unknown)")
    sn.add_argument("--semantics", default="noise",
                    help="2D input like gnesf-bag: 'noise' (noise model on the true labels; default), 'truth', 'none' "
                         "(all unknown: geometry only, no label images needed) or a folder of predictions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = "gnesf-map " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    import torch

    torch.set_num_threads(max(1, args.threads))
    try:
        if args.every < 1 or args.renders < 0:
            raise ConfigError(f"--every must be >= 1 and --renders >= 0, got {args.every}, {args.renders}")
        if args.render_size is not None and min(args.render_size) < 1:
            raise ConfigError(f"--render-size must be two positive integers H W, got {args.render_size}")
        if args.checkpoint is not None and not args.checkpoint.is_file():
            raise ConfigError(f"--checkpoint {args.checkpoint}: no such file")
        if args.dataset == "synthetic":
            from gnesf_ros.cli.eval import reserved_seeds

            if args.seed in reserved_seeds() and not args.allow_training_seeds:
                print(f"gnesf-map: refusing seed {args.seed}, used for training or validation; map a held-out "
                      "scene, e.g. --seed 2001 (test split in config/data.yaml)", file=sys.stderr)
                return 2
            if args.frames < 2:
                raise ConfigError(f"--frames must be >= 2, got {args.frames}")
            run = synthetic_run(args.seed, args.frames, args.every, args.renders, args.height, args.width,
                                semantics=args.semantics, style=args.style)
        else:
            run = scannet_run(args.scan, args.tsv, args.every, args.renders, semantics=args.semantics)
        return map_sequence(run, args.out, args.checkpoint, args.geometry, args.device,
                            progress=not args.no_progress, command=command,
                            render_size=tuple(args.render_size) if args.render_size else None)
    except GnesfError as exc:
        print(f"gnesf-map: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
