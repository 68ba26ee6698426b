"""Mapper benchmark (`make bench`): speed, latency, memory and 3D accuracy of the online mapper on a held-out
synthetic scan with both geometry sources (learned and depth), each side by side with the bayes_fusion baseline
on the same frames (run once), novel-view renders at the scan's size and at twice it, plus scaling with the window
size and the volume size. Writes bench/results.json (bench/results_cuda.json on a GPU) and the generated table of
docs/benchmarks.md, with issue 22's targets and by how much each is missed (gnesf_ros/eval/bench_report.py).

    python -m gnesf_ros.eval.benchmark [--device cpu|cuda|cuda:N] [--out PATH] [--doc docs/benchmarks.md]
        [--geometry learned depth] [--checkpoint PATH] [--seed 2001] [--frames 600] [--scaling-frames 150]
        [--renders 3] [--large-renders 1] [--threads 1]

One torch thread by default: on this shared 2-core machine two threads are several times slower when the other
core is busy. On CUDA every timer waits for the GPU first (torch.cuda.synchronize), each geometry source maps a
few untimed frames first (kernel and allocator warm-up), and the GPU's name goes into `machine`; a CUDA device
that is absent is refused (exit code 2). A missing checkpoint (argument or the shipped one) is refused (exit
code 2, naming the path); only `--random-weights` benchmarks a random-weight model, and then the results JSON
says so (`model.weights`) and every number is marked "untrained": its speed is a worst case for the queries (a
random SDF puts every voxel in the truncation band, so every voxel gets soft-voted semantics) and its accuracy
means nothing. (Until 2026-12-04 a missing checkpoint fell back to random weights on its own.)
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import logging
import os
import platform
import re
import resource
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

# BEGIN, END, CUDA_BEGIN, CUDA_END, markdown_table and write_doc are re-exported: tests and tools import them here
from gnesf_ros.eval.bench_report import (BEGIN, CUDA_BEGIN, CUDA_END, END, GEOMETRIES, SCHEMA,  # noqa: F401
                                         doc_markers, evaluate_targets, is_cuda, markdown_table, write_doc)

log = logging.getLogger(__name__)

DEFAULT_OUT = {"cpu": Path("bench/results.json"), "cuda": Path("bench/results_cuda.json")}
WARM_UP_MAX_FRAMES = 120
"""CUDA: frames an untimed throwaway mapper is fed, per geometry source, until it fused one fragment."""


# ----------------------------------------------------------------------------------------------
# memory and time

def peak_rss_mb() -> float:
    """The process's peak RSS (VmHWM, MB) since it started or since `reset_peak_rss`."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_rss() -> bool:
    """Set the peak RSS back to the current RSS (Linux: "5" into /proc/self/clear_refs), so that each geometry
    source's peak is its own, not the earlier one's. False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:
        return float("nan")


class PeakRss:
    """Peak RSS per phase (reset at each phase's start where the kernel allows) and over the whole process."""

    def __init__(self) -> None:
        self.process_mb = peak_rss_mb()
        self.per_phase = True

    def start_phase(self) -> None:
        gc.collect()
        self.process_mb = max(self.process_mb, peak_rss_mb())
        self.per_phase = reset_peak_rss() and self.per_phase

    def read_mb(self) -> float:
        value = peak_rss_mb()
        self.process_mb = max(self.process_mb, value)
        return value


def resolve_device(name: str) -> str:
    """`name` ("cpu", "cuda", "cuda:N") checked against this machine: a ConfigError when it is malformed or names
    a CUDA device that is absent (no CUDA build, no GPU, or N out of range)."""
    import torch

    from gnesf_ros.errors import ConfigError

    if not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise ConfigError(f"--device must be cpu, cuda or cuda:N, got {name!r}")
    if not is_cuda(name):
        return name
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available here (torch {torch.__version__}, "
                          f"built with CUDA {torch.version.cuda or 'none'}); run on a GPU machine or use --device cpu")
    index = int(name.split(":")[1]) if ":" in name else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    return f"cuda:{index}"


class DeviceClock:
    """perf_counter seconds that first wait for the device's queued work (torch.cuda.synchronize on CUDA), so
    asynchronous GPU kernels are counted where they were launched, not where a later call waits for them."""

    def __init__(self, device: str):
        import torch

        self._sync: Callable[[], None] = ((lambda: torch.cuda.synchronize(device)) if is_cuda(device)
                                          else (lambda: None))

    def now(self) -> float:
        self._sync()
        return time.perf_counter()


RANDOM_WEIGHTS = "RANDOM (--random-weights): untrained model, accuracy numbers mean nothing"


def load_model(checkpoint: Path | None, random_weights: bool = False) -> tuple[Any, dict[str, Any]]:
    """(model, info): the checkpoint's model (default: the shipped one), or, only when `random_weights` is asked
    for, a seeded random-weight GNeSF. A missing checkpoint is a `MapFileError` naming it, never a silent
    fallback; `info["weights"]` says "trained" or `RANDOM_WEIGHTS`."""
    import torch

    from gnesf_ros.errors import MapFileError
    from gnesf_ros.model import GNeSF, ModelConfig
    from gnesf_ros.model.checkpoint import load_checkpoint
    from gnesf_ros.paths import checkpoint_path

    if random_weights:
        if checkpoint is not None:
            raise MapFileError(f"random weights and a checkpoint ({checkpoint}) exclude each other: pass one")
        torch.manual_seed(0)
        return GNeSF(ModelConfig()).eval(), {"checkpoint": None, "untrained": True, "weights": RANDOM_WEIGHTS,
                                             "note": "random weights (UNTRAINED), asked for with --random-weights"}
    path = checkpoint if checkpoint is not None else checkpoint_path()
    if not path.is_file():
        raise MapFileError(f"no GNeSF checkpoint at {path}: pass --checkpoint PATH or train one ('make train'); "
                           "--random-weights benchmarks an untrained model on purpose (speed only)")
    model, extra = load_checkpoint(path)
    return model.eval(), {"checkpoint": str(path), "untrained": False, "weights": "trained",
                          "checkpoint_extra": {k: v for k, v in (extra or {}).items()
                                               if isinstance(v, (int, float, str, bool))}}


class StageClock:
    """Times the 3D CNN H_g (and the 2D feature net) inside `encode` with forward hooks (no model changes);
    on CUDA each hook waits for the GPU (`clock`)."""

    def __init__(self, model: Any, clock: DeviceClock):
        self.seconds: dict[str, float] = {"cnn3d": 0.0, "features2d": 0.0}
        self._clock = clock
        self._start: dict[str, float] = {}
        self._handles = []
        for name, module in (("cnn3d", getattr(model, "volume_net", None)), ("features2d", getattr(model, "features", None))):
            if module is None:
                continue
            self._handles.append(module.register_forward_pre_hook(self._pre(name)))
            self._handles.append(module.register_forward_hook(self._post(name)))

    def _pre(self, name):
        def hook(module, inputs):
            self._start[name] = self._clock.now()
        return hook

    def _post(self, name):
        def hook(module, inputs, output):
            now = self._clock.now()
            self.seconds[name] += now - self._start.pop(name, now)
        return hook

    def close(self) -> None:
        for h in self._handles:
            h.remove()


def _surface_truth(scan: Any, coverage: Any) -> tuple[np.ndarray, np.ndarray]:
    """True surface points (2 cm) restricted to within 5 cm of some input depth point (like gnesf-eval)."""
    xyz, label = scan.renderer.surface_points(0.02)
    keep = coverage.observed(xyz, 0.05)
    return xyz[keep], label[keep]


def _miou_3d(pred_xyz, pred_label, true_xyz, true_label, num_classes: int) -> float | None:
    from gnesf_ros.eval.atlas import atlas_confusion
    from gnesf_ros.eval.metrics import scores_from_confusion

    conf = atlas_confusion(pred_xyz, pred_label, true_xyz, true_label, num_classes)
    scores = scores_from_confusion(conf)
    miou = getattr(scores, "miou", None)
    return None if miou is None or not np.isfinite(miou) else round(float(miou), 2)


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    v = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(v.mean()), 3), "median": round(float(np.median(v)), 3),
            "p95": round(float(np.percentile(v, 95)), 3), "max": round(float(v.max()), 3), "n": int(v.size)}


# ----------------------------------------------------------------------------------------------
# the main run

@dataclass
class NovelView:
    """A view halfway between trajectory frames i and i + 1 (never fed to a mapper) and its true labels."""

    i: int
    T_map_cam: np.ndarray
    true_labels: np.ndarray


@dataclass
class Truth:
    """What every map is scored against: the novel views and the true surface the input depth covered."""

    views: list[NovelView]
    surface_xyz: np.ndarray
    surface_label: np.ndarray


def novel_views(scan: Any, seed: int, num_renders: int) -> list[NovelView]:
    """`num_renders` views spread over the scan, each halfway between two frames, with their true labels."""
    from gnesf_ros.cli.map import interpolate_pose

    picks = np.linspace(0, len(scan) - 2, num_renders + 2)[1:-1].round().astype(int)
    views = []
    for i in picks:
        T = interpolate_pose(scan.poses[i], scan.poses[i + 1], 0.5)
        view = scan.renderer.render(scan.K, T, scan.height, scan.width, rng=np.random.default_rng([seed, int(i), 4]))
        views.append(NovelView(int(i), T, view.labels))
    return views


def _pixel_accuracy(label: np.ndarray, true_labels: np.ndarray) -> float:
    from gnesf_ros.classes import IGNORE_ID

    scored = true_labels != IGNORE_ID
    return round(float((label[scored] == true_labels[scored]).mean()), 4)


def run_baseline(scan: Any, views: list[NovelView], progress: bool) -> tuple[dict[str, Any], Truth, float]:
    """bayes_fusion over the whole scan (once; every geometry source is compared with it), its renders and 3D
    mIoU, and the truth the maps are scored against. Returns (bayes_fusion results, truth, frame generation s)."""
    from tqdm import tqdm

    from gnesf_ros.eval.baselines import BayesFusion
    from gnesf_ros.eval.evaluate import MethodSettings, _Coverage

    ms = MethodSettings()
    bayes = BayesFusion(ms.num_classes, ms.voxel_size_m, ms.pixel_stride, ms.max_depth_m, eps=ms.bayes_eps)
    coverage = _Coverage(max_depth_m=ms.max_depth_m)  # score only what every method maps, like gnesf-eval
    bayes_s = gen_s = 0.0
    for i in tqdm(range(len(scan)), desc="bench bayes_fusion", unit="frame", disable=not progress, file=sys.stderr):
        t = time.perf_counter()
        frame, _view = scan.frame(i)
        gen_s += time.perf_counter() - t
        coverage.add(frame)
        t = time.perf_counter()
        bayes.integrate(frame)
        bayes_s += time.perf_counter() - t
    renders = []
    for v in views:
        t = time.perf_counter()
        r = bayes.render(scan.K, v.T_map_cam, scan.height, scan.width)
        renders.append({"between_frames": [v.i, v.i + 1], "seconds": round(time.perf_counter() - t, 3),
                        "pixel_accuracy": _pixel_accuracy(r.label, v.true_labels)})
    true_xyz, true_label = _surface_truth(scan, coverage)
    bp = bayes.points(include_unknown=False)
    result = {"seconds": round(bayes_s, 2), "frames_per_s": round(len(scan) / bayes_s, 2),
              "voxels": int(bayes.num_voxels),
              "miou_3d": _miou_3d(bp.xyz, bp.label, true_xyz, true_label, ms.num_classes),
              "render_seconds": _summary([r["seconds"] for r in renders]), "renders": renders,
              "render_pixel_accuracy_mean": round(float(np.mean([r["pixel_accuracy"] for r in renders])), 4)
              if renders else None}
    return result, Truth(views, true_xyz, true_label), gen_s


@dataclass
class MappingPass:
    """What feeding a scan frame by frame to one mapper measured (mapper time only; frames and meshes apart)."""

    mapper_s: float = 0.0
    gen_s: float = 0.0
    latency_stream_s: list[float] = dataclasses.field(default_factory=list)
    fuse_call_s: list[float] = dataclasses.field(default_factory=list)
    mesh_s: list[float] = dataclasses.field(default_factory=list)


def map_scan(mapper: Any, scan: Any, clock: DeviceClock, progress: bool, label: str) -> tuple[MappingPass, Any]:
    """Every frame of `scan` through `mapper` (then flush), re-meshing after every fragment as the node does at
    mesh_rate_hz (not in mapper time). Returns the measurements and the mesh."""
    from tqdm import tqdm

    from gnesf_ros.mapping.mesh import SemanticMesh

    mesh = SemanticMesh()
    run = MappingPass()
    pending: list[int] = []  # stamps (ns) of the keyframes waiting for their fragment
    for i in tqdm(range(len(scan)), desc=label, unit="frame", disable=not progress, file=sys.stderr):
        t = time.perf_counter()
        frame, _view = scan.frame(i)
        run.gen_s += time.perf_counter() - t
        t = clock.now()
        update = mapper.add_frame(frame)
        dt = clock.now() - t
        run.mapper_s += dt
        if update.is_keyframe:
            pending.append(frame.stamp_ns)
        if update.fragment_fused:
            run.fuse_call_s.append(dt)
            # stream time: frames arrive at 30 Hz; the fragment is ready dt after the last frame arrived
            run.latency_stream_s += [(frame.stamp_ns - stamp) / 1e9 + dt for stamp in pending]
            pending = []
            run.mesh_s.append(mesh.update(mapper.map).seconds)
    t = clock.now()
    mapper.flush()
    run.mapper_s += clock.now() - t
    run.mesh_s.append(mesh.update(mapper.map).seconds)
    return run, mesh


def render_views(mapper: Any, scan: Any, views: list[NovelView], clock: DeviceClock, scale: int = 1
                 ) -> list[dict[str, Any]]:
    """Render each view with `mapper` at `scale` times the scan's size: seconds, and at scale 1 the pixel accuracy
    against the true labels (at other scales the time only)."""
    from gnesf_ros.classes import IGNORE_ID
    from gnesf_ros.geometry.camera import scale_intrinsics

    K = scale_intrinsics(scan.K, scale, scale)
    height, width = scan.height * scale, scan.width * scale
    rows = []
    for v in views:
        t = clock.now()
        r = mapper.render(K, v.T_map_cam, height, width)
        row = {"between_frames": [v.i, v.i + 1], "size": [width, height], "seconds": round(clock.now() - t, 3),
               "known_fraction": round(float((r.label != IGNORE_ID).mean()), 4)}
        if scale == 1:
            row["pixel_accuracy"] = _pixel_accuracy(r.label, v.true_labels)
        rows.append(row)
    return rows


def warm_up(model: Any, scan: Any, cfg: Any, view: NovelView | None) -> None:
    """CUDA only: an untimed throwaway mapper with `cfg` fed frames until it fused one fragment, then one render,
    so that the timed run does not pay CUDA's lazy initialisation and the allocator's first growth."""
    from gnesf_ros.mapping.mapper import Mapper

    mapper = Mapper(cfg, model=model)
    for i in range(min(len(scan), WARM_UP_MAX_FRAMES)):
        if mapper.add_frame(scan.frame(i)[0]).fragment_fused:
            break
    else:
        mapper.flush()
    if view is not None:
        mapper.render(scan.K, view.T_map_cam, scan.height, scan.width)
    del mapper


def _stages(st_seconds: dict[str, float], clock_s: dict[str, float]) -> dict[str, float]:
    """The mapper's stage seconds with the 2D and 3D networks split out. The mapper computes the 2D features once
    per keyframe when it caches it ("features"), so `encode` holds Eq. 1's projections and mean/variance plus the
    3D CNN."""
    return {"keyframe_select": st_seconds.get("keyframe", 0.0),
            "keyframe_cache_incl_2d_features": st_seconds.get("features", 0.0),
            "of_which_2d_features": clock_s["features2d"],
            "fragment_bounds_and_mask": st_seconds.get("volume", 0.0),
            "eq1_volume_without_3d_cnn": st_seconds.get("encode", 0.0) - clock_s["cnn3d"],
            "cnn3d": clock_s["cnn3d"], "queries": st_seconds.get("query", 0.0), "fusion": st_seconds.get("fusion", 0.0)}


def run_geometry(model: Any, scan: Any, geometry: str, device: str, truth: Truth, num_large: int, rss: PeakRss,
                 progress: bool) -> dict[str, Any]:
    """The whole scan through one mapper (default MapperConfig but `geometry` and `device`), its renders (also at
    2x the scan's size for the first `num_large` views), 3D mIoU, peak RSS (and GPU memory)."""
    import torch

    from gnesf_ros.mapping.config import MapperConfig
    from gnesf_ros.mapping.mapper import Mapper

    cfg = MapperConfig(geometry_source=geometry, device=device)
    clock = DeviceClock(device)
    if is_cuda(device):
        warm_up(model, scan, cfg, truth.views[0] if truth.views else None)
        torch.cuda.reset_peak_memory_stats(device)
    rss.start_phase()
    mapper = Mapper(cfg, model=model)
    stage_clock = StageClock(model, clock)
    try:
        run, mesh = map_scan(mapper, scan, clock, progress, f"bench {geometry}")
    finally:
        stage_clock.close()
    rss_after_map, peak_after_map = current_rss_mb(), rss.read_mb()
    renders = render_views(mapper, scan, truth.views, clock)
    large = render_views(mapper, scan, truth.views[:num_large], clock, scale=2)
    pts = mapper.semantic_points()
    st = mapper.stats()
    stages = _stages(dict(st["seconds"]), stage_clock.seconds)
    mesh_size = mesh.stats()
    gnesf = {
        "mapper_seconds": round(run.mapper_s, 2), "frames_per_s": round(st["frames"] / run.mapper_s, 2),
        "keyframes_per_s": round(st["keyframes"] / run.mapper_s, 3),
        "stage_seconds_total": {k: round(v, 2) for k, v in stages.items()},
        "stage_seconds_per_fragment": {k: round(v / max(1, st["fragments"]), 3) for k, v in stages.items()},
        "fragment_fuse_seconds": _summary(run.fuse_call_s),
        "frame_to_map_latency_s_at_30hz": _summary(run.latency_stream_s),
        "render_seconds": _summary([r["seconds"] for r in renders]), "renders": renders,
        "render_seconds_640x480": _summary([r["seconds"] for r in large]), "renders_640x480": large,
        "miou_3d": _miou_3d(pts.xyz, pts.label, truth.surface_xyz, truth.surface_label, mapper.num_classes),
        "render_pixel_accuracy_mean": round(float(np.mean([r["pixel_accuracy"] for r in renders])), 4)
        if renders else None,
        "mesh": {"update_seconds": _summary(run.mesh_s), "blocks": mesh_size["blocks"],
                 "vertices": mesh_size["vertices"], "faces": mesh_size["faces"],
                 "mb": round(mesh_size["bytes"] / 2**20, 2)},
    }
    if is_cuda(device):
        gnesf["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return {"geometry_source": geometry, "frames": st["frames"], "keyframes": st["keyframes"],
            "fragments": st["fragments"], "cropped_fragments": st["cropped_fragments"], "voxels": st["voxels"],
            "surface_points": len(pts), "mapper_config": dataclasses.asdict(cfg), "gnesf": gnesf,
            "frame_generation_seconds": round(run.gen_s, 2), "rss_mb_after_mapping": round(rss_after_map, 1),
            "peak_rss_mb_after_mapping": round(peak_after_map, 1), "peak_rss_mb_with_renders": round(rss.read_mb(), 1),
            "peak_rss_note": "whole process during this geometry's run (mapper, model, synthetic renderer)"
            + ("" if rss.per_phase else "; the kernel did not allow resetting the peak: since process start")}


def run_main(model: Any, seed: int, num_frames: int, num_renders: int, num_large: int, geometries: list[str],
             device: str, rss: PeakRss, progress: bool) -> dict[str, Any]:
    """The scan through bayes_fusion once, then through a mapper per geometry source, all scored alike."""
    from gnesf_ros.data.synthetic import SyntheticScan

    scan = SyntheticScan(seed, num_frames=num_frames)
    views = novel_views(scan, seed, num_renders)
    rss.start_phase()
    bayes, truth, gen_s = run_baseline(scan, views, progress)
    per_geometry = {}
    for geometry in geometries:
        per_geometry[geometry] = run_geometry(model, scan, geometry, device, truth, num_large, rss, progress)
        gc.collect()
    return {"seed": seed, "frames": len(scan), "image": [scan.width, scan.height],
            "novel_views": [{"between_frames": [v.i, v.i + 1]} for v in views],
            "true_surface_points": int(truth.surface_xyz.shape[0]), "frame_generation_seconds": round(gen_s, 2),
            "bayes_fusion": bayes, "geometry": per_geometry}


def run_scaling(model: Any, seed: int, num_frames: int, geometry: str, device: str, progress: bool
                ) -> list[dict[str, Any]]:
    """Keyframes/s and per-fragment time for window 3, 5, 9 (96^3) and volume 48^3, 64^3 (window 9) on a shorter
    scan with one geometry source. Only keyframes are fed (non-keyframes cost a pose check), generated once per
    row."""
    from gnesf_ros.data.synthetic import SyntheticScan
    from gnesf_ros.mapping.config import MapperConfig
    from gnesf_ros.mapping.keyframes import KeyframeSelector
    from gnesf_ros.mapping.mapper import Mapper

    scan = SyntheticScan(seed, num_frames=num_frames)
    clock = DeviceClock(device)
    sel = KeyframeSelector.from_config(MapperConfig())
    kf_idx = [i for i in range(len(scan)) if sel.check(scan.poses[i])]
    rows = []
    for window, dims in ((3, 96), (5, 96), (9, 96), (9, 64), (9, 48)):
        mapper = Mapper(MapperConfig(window_size=window, max_volume_dims=dims, geometry_source=geometry,
                                     device=device), model=model)
        seconds = 0.0
        for i in kf_idx:
            frame = scan.frame(i)[0]
            t = clock.now()
            mapper.add_frame(frame)
            seconds += clock.now() - t
        t = clock.now()
        mapper.flush()
        seconds += clock.now() - t
        st = mapper.stats()
        row = {"geometry_source": geometry, "window_size": window, "max_volume_dims": dims,
               "frames_of_scan": len(scan), "keyframes": st["keyframes"], "fragments": st["fragments"],
               "cropped_fragments": st["cropped_fragments"], "voxels": st["voxels"],
               "seconds": round(seconds, 2), "keyframes_per_s": round(st["keyframes"] / seconds, 3),
               "seconds_per_fragment": round(seconds / max(1, st["fragments"]), 3),
               "stage_seconds_per_fragment": {k: round(v / max(1, st["fragments"]), 3)
                                              for k, v in st["seconds"].items()}}
        rows.append(row)
        if progress:
            print(f"scaling ({geometry}): window {window}, {dims}^3: {row['keyframes_per_s']} keyframes/s, "
                  f"{row['seconds_per_fragment']} s/fragment", file=sys.stderr)
    return rows


def machine_info(threads: int, device: str = "cpu") -> dict[str, Any]:
    """Host CPU, torch and, on CUDA, the GPU's name (results from different machines are compared by it)."""
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "torch_threads": threads,
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "device": device, "device_name": cpu}
    if is_cuda(device):
        info.update(device_name=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                    gpu_memory_gb=round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1))
    return info


def benchmark(out: Path, doc: Path | None, checkpoint: Path | None, seed: int, num_frames: int, scaling_frames: int,
              num_renders: int, threads: int, progress: bool, command: str, random_weights: bool = False,
              geometries: list[str] | tuple[str, ...] = GEOMETRIES, device: str = "cpu", num_large: int = 1) -> int:
    """Run the benchmark on `device` (already checked by `resolve_device`); write `out` (JSON) and the device's
    block of `doc`. Returns an exit code."""
    import torch

    torch.set_num_threads(max(1, threads))
    geometries = [g for g in GEOMETRIES if g in geometries]
    machine = machine_info(threads, device)
    model, model_info = load_model(checkpoint, random_weights)
    if model_info["untrained"]:
        log.warning("%s", model_info["note"])
    rss = PeakRss()
    t0 = time.perf_counter()
    main = run_main(model, seed, num_frames, num_renders, num_large, geometries, device, rss, progress)
    rss.start_phase()
    scaling = run_scaling(model, seed, scaling_frames, geometries[0], device, progress) if scaling_frames > 0 else []
    rss.read_mb()
    res = {"schema": SCHEMA, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": command, "device": device, "machine": machine, "model": model_info, "main": main,
           "scaling": scaling, "benchmark_seconds": round(time.perf_counter() - t0, 1),
           "peak_rss_mb_process_end": round(rss.process_mb, 1)}
    res["targets"] = evaluate_targets(res)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    table = markdown_table(res)
    if doc is not None:
        write_doc(doc, table, *doc_markers(device))
    print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gnesf_ros.eval.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N; an absent GPU is refused")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default bench/results.json, bench/results_cuda.json on CUDA)")
    parser.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"),
                        help="markdown file whose generated block (the CPU or the GPU one) is replaced ('' = none)")
    parser.add_argument("--geometry", nargs="+", choices=GEOMETRIES, default=list(GEOMETRIES),
                        help="geometry sources mapped (default both: learned depth); scaling uses the first")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--checkpoint", type=Path, default=None,
                         help="GNeSF checkpoint (default: the shipped one; a missing one is refused)")
    weights.add_argument("--random-weights", action="store_true",
                         help="benchmark a seeded random-weight model (speed only; the results say RANDOM)")
    parser.add_argument("--seed", type=int, default=2001, help="held-out synthetic scene (default 2001)")
    parser.add_argument("--frames", type=int, default=600, help="frames of the main scan (default 600)")
    parser.add_argument("--scaling-frames", type=int, default=150, help="frames of the scaling scans (0 = skip)")
    parser.add_argument("--renders", type=int, default=3, help="novel views rendered (default 3)")
    parser.add_argument("--large-renders", type=int, default=1,
                        help="of those, how many are also rendered at 2x the scan's size, 640x480 (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = "python -m gnesf_ros.eval.benchmark " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    from gnesf_ros.cli.eval import reserved_seeds
    from gnesf_ros.errors import GnesfError

    try:
        device = resolve_device(args.device)
        if args.seed in reserved_seeds():
            print(f"benchmark: seed {args.seed} is used for training or validation; use a held-out one (e.g. 2001)",
                  file=sys.stderr)
            return 2
        if args.frames < 2 or args.renders < 0 or args.large_renders < 0:
            print("benchmark: --frames must be >= 2, --renders and --large-renders >= 0", file=sys.stderr)
            return 2
        out = args.out if args.out is not None else DEFAULT_OUT["cuda" if is_cuda(device) else "cpu"]
        return benchmark(out, args.doc if str(args.doc) else None, args.checkpoint, args.seed, args.frames,
                         args.scaling_frames, args.renders, args.threads, not args.no_progress, command,
                         random_weights=args.random_weights, geometries=args.geometry, device=device,
                         num_large=args.large_renders)
    except GnesfError as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
