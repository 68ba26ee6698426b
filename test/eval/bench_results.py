"""Hand-made benchmark results (schema 2) for the report and compare tests: only the keys the readers use."""
from __future__ import annotations

from typing import Any


def geometry_run(frames_per_s: float, keyframes_per_s: float, render_s: float, latency_s: float, rss_mb: float,
                 miou: float, render_640_s: float | None = None) -> dict[str, Any]:
    """One geometry source's main-run results with the given headline figures."""
    stages = {"queries": 0.5, "fusion": 0.1}
    return {"keyframes": 88, "fragments": 88, "cropped_fragments": 0, "voxels": 1000,
            "mapper_config": {"window_size": 9, "voxel_size_m": 0.04, "max_volume_dims": 96},
            "peak_rss_mb_after_mapping": rss_mb,
            "gnesf": {"frames_per_s": frames_per_s, "keyframes_per_s": keyframes_per_s, "miou_3d": miou,
                      "render_pixel_accuracy_mean": 0.9, "render_seconds": {"mean": render_s},
                      "render_seconds_640x480": None if render_640_s is None else {"mean": render_640_s},
                      "frame_to_map_latency_s_at_30hz": {"median": latency_s, "max": 2 * latency_s},
                      "fragment_fuse_seconds": {"median": 1.0, "max": 2.0},
                      "stage_seconds_per_fragment": stages, "stage_seconds_total": stages}}


def results(device: str = "cpu", device_name: str = "AMD EPYC", **geometry: dict[str, Any]) -> dict[str, Any]:
    """A whole results file holding the given geometry runs (keyword = geometry source)."""
    from gnesf_ros.eval.bench_report import evaluate_targets

    res = {"schema": 2, "date": "2026-12-05 10:00 UTC", "command": "python -m gnesf_ros.eval.benchmark",
           "device": device,
           "machine": {"cpu": "AMD EPYC", "cores": 2, "torch": "2.13.0", "torch_threads": 1,
                       "load_average_at_start": [0.5, 0.5, 0.5], "device": device, "device_name": device_name,
                       "cuda": "12.4" if device != "cpu" else None},
           "model": {"checkpoint": "gnesf.pt", "untrained": False},
           "main": {"seed": 2001, "frames": 600, "image": [320, 240], "novel_views": [{"between_frames": [150, 151]}],
                    "bayes_fusion": {"frames_per_s": 200.0, "miou_3d": 90.0, "voxels": 500,
                                     "render_seconds": {"mean": 0.1}, "render_pixel_accuracy_mean": 0.95},
                    "geometry": geometry},
           "scaling": []}
    res["targets"] = evaluate_targets(res)
    return res
