"""The benchmark's targets ("met" / "missed by N.Nx", hand-computed), its two-geometry table, the CPU and GPU doc
blocks, and the upgrade of schema-1 results files."""
import json
import math
from pathlib import Path

import pytest
from bench_results import geometry_run, results

from gnesf_ros.eval.bench_report import (BEGIN, CUDA_BEGIN, CUDA_END, END, doc_markers, headline, markdown_table,
                                         miss_factor, upgrade, verdict_text, write_doc)


@pytest.mark.parametrize("measured, sense, bound, text", [
    (0.705, ">=", 1.0, "missed by 1.4x"),     # 1 / 0.705 = 1.418
    (13.31, "<=", 3.0, "missed by 4.4x"),     # 13.31 / 3 = 4.437
    (14.0, ">=", 15.0, "missed by 1.1x"),     # 15 / 14 = 1.071
    (29.9, ">=", 90.0, "missed by 3.0x"),     # 90 / 29.9 = 3.010
    (0.045, "<=", 0.030, "missed by 1.5x"),   # 45 ms against 30 ms
    (2.08, "<=", 2.0, "missed by 1.04x"),     # 1.04 would read "1.0x": two decimals then
    (3.0, ">=", 3.0, "met"),
    (1.0, "<=", 1.0, "met"),
    (2470.0, "<=", 3072.0, "met"),
    (16.2, ">=", 15.0, "met"),
    (0.0, ">=", 15.0, "missed (measured 0)"),
    (None, "<=", 1.0, "not measured"),
])
def test_verdicts_by_hand(measured, sense, bound, text):
    assert verdict_text(measured, sense, bound) == text


def test_miss_factor_is_how_far_off_in_either_sense():
    assert miss_factor(0.5, ">=", 3.0) == pytest.approx(6.0)
    assert miss_factor(1.5, "<=", 1.0) == pytest.approx(1.5)
    assert miss_factor(6.0, ">=", 3.0) == pytest.approx(0.5)  # met: <= 1
    assert math.isinf(miss_factor(0.0, ">=", 1.0)) and miss_factor(float("nan"), "<=", 1.0) is None
    with pytest.raises(ValueError):
        miss_factor(1.0, ">", 1.0)


def _both():
    return results(learned=geometry_run(4.8, 0.705, 13.31, 4.07, 2470.0, 59.5),
                   depth=geometry_run(12.0, 3.5, 0.8, 1.5, 3500.0, 80.0, render_640_s=3.2))


def test_cpu_targets_per_geometry_in_json_and_table():
    res = _both()
    by_figure = {g: {t["figure"]: t for t in res["targets"][g]} for g in ("learned", "depth")}
    assert res["targets"]["kind"] == "cpu"
    assert "frames_per_s" not in by_figure["learned"]  # no frames/s target for learned geometry on the CPU
    assert by_figure["depth"]["frames_per_s"] == {"figure": "frames_per_s", "label": "frames/s", "sense": ">=",
                                                  "bound": 15.0, "measured": 12.0, "met": False, "miss_factor": 1.25}
    assert by_figure["depth"]["keyframes_per_s"]["met"] and by_figure["depth"]["keyframes_per_s"]["miss_factor"] is None
    assert by_figure["learned"]["render_s_320x240"]["bound"] == 3.0
    assert by_figure["depth"]["render_s_320x240"]["bound"] == 1.0
    table = markdown_table(res)
    assert ("| figure | learned: target | learned: measured | learned | depth: target | depth: measured | depth |"
            in table)
    assert "| frames/s | - | 4.80 | - | >= 15 | 12.00 | missed by 1.2x |" in table  # 15 / 12 = 1.25 -> "1.2"
    assert "| keyframes/s | >= 1 | 0.705 | missed by 1.4x | >= 3 | 3.500 | met |" in table
    assert "| render 320x240, s (mean) | <= 3 | 13.310 | missed by 4.4x | <= 1 | 0.800 | met |" in table
    assert "| frame-to-map latency at 30 Hz, s (median) | <= 2 | 4.07 | missed by 2.0x | <= 2 | 1.50 | met |" in table
    assert "| peak RSS, MB | <= 3072 | 2470 | met | <= 3072 | 3500 | missed by 1.1x |" in table
    # the main table: both mappers against the one baseline
    assert "| | gnesf learned | gnesf depth | bayes_fusion | learned / bayes | depth / bayes |" in table
    assert "| frames/s (sustained, mapper time) | 4.80 | 12.00 | 200.00 | 0.02x | 0.06x |" in table
    assert "| novel-view render 640x480, s (mean) | - | 3.200 | - | - | - |" in table
    assert "3D mIoU" in table


def test_gpu_targets_and_device_name():
    res = results(device="cuda:0", device_name="NVIDIA H100 80GB HBM3",
                  learned=geometry_run(95.0, 12.0, 0.07, 0.5, 4000.0, 59.5, render_640_s=0.14),
                  depth=geometry_run(60.0, 9.0, 0.02, 0.4, 4000.0, 80.0, render_640_s=0.2))
    assert res["targets"]["kind"] == "cuda"
    table = markdown_table(res)
    assert "NVIDIA H100 80GB HBM3" in table and "Targets (GPU" in table
    assert "| frames/s | >= 90 | 95.00 | met | >= 90 | 60.00 | missed by 1.5x |" in table
    assert "| render 320x240, s (mean) | <= 0.06 | 0.070 | missed by 1.2x | <= 0.03 | 0.020 | met |" in table
    assert "| render 640x480, s (mean) | <= 0.15 | 0.140 | met | <= 0.15 | 0.200 | missed by 1.3x |" in table
    assert "peak RSS, MB |" not in table.split("\n\n")[3]  # no RSS target on the GPU (the targets table)


def test_one_geometry_renders_alone():
    table = markdown_table(results(depth=geometry_run(20.0, 3.5, 0.8, 1.5, 2000.0, 80.0)))
    assert "learned" not in table.split("Per-stage")[0].replace("geometry_source", "")
    assert "| keyframes/s | >= 3 | 3.500 | met |" in table


def test_cpu_and_gpu_runs_own_separate_doc_blocks(tmp_path):
    assert doc_markers("cpu") == (BEGIN, END) and doc_markers("cuda:1") == (CUDA_BEGIN, CUDA_END)
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# B\n{BEGIN}\ncpu old\n{END}\n{CUDA_BEGIN}\ngpu old\n{CUDA_END}\n## Notes\n")
    write_doc(doc, "gpu new", *doc_markers("cuda"))
    write_doc(doc, "cpu new", *doc_markers("cpu"))
    assert doc.read_text() == f"# B\n{BEGIN}\ncpu new\n{END}\n{CUDA_BEGIN}\ngpu new\n{CUDA_END}\n## Notes\n"
    fresh = tmp_path / "fresh.md"
    write_doc(fresh, "g", CUDA_BEGIN, CUDA_END)
    assert f"{CUDA_BEGIN}\ng\n{CUDA_END}" in fresh.read_text() and BEGIN not in fresh.read_text()


def test_schema_1_results_upgrade_to_the_learned_geometry():
    old = {"date": "d", "command": "c", "model": {"untrained": False, "checkpoint": "x"},
           "machine": {"cpu": "AMD EPYC", "cores": 2, "torch": "2", "torch_threads": 1, "load_average_at_start": []},
           "main": {"seed": 2001, "frames": 600, "image": [320, 240], "keyframes": 88, "fragments": 88,
                    "cropped_fragments": 0, "voxels": 10, "peak_rss_mb_after_mapping": 2470.1,
                    "mapper_config": {"geometry_source": "learned", "window_size": 9, "voxel_size_m": 0.04,
                                      "max_volume_dims": 96},
                    "gnesf": {"frames_per_s": 4.81, "keyframes_per_s": 0.705, "miou_3d": 59.48,
                              "render_seconds": {"mean": 13.31},
                              "frame_to_map_latency_s_at_30hz": {"median": 4.067},
                              "renders": [{"between_frames": [150, 151], "seconds": 13.31, "bayes_seconds": 0.2,
                                           "pixel_accuracy": 0.9, "bayes_pixel_accuracy": 0.95}]},
                    "bayes_fusion": {"frames_per_s": 205.99, "miou_3d": 90.47, "voxels": 5}},
           "scaling": []}
    new = upgrade(old)
    assert "gnesf" in old["main"]  # the input is left alone
    assert new["schema"] == 2 and new["device"] == "cpu" and list(new["main"]["geometry"]) == ["learned"]
    assert new["main"]["bayes_fusion"]["render_seconds"]["mean"] == 0.2
    assert new["main"]["bayes_fusion"]["renders"][0]["pixel_accuracy"] == 0.95
    assert headline(old)["learned"] == {"frames_per_s": 4.81, "keyframes_per_s": 0.705, "render_s_320x240": 13.31,
                                        "render_s_640x480": None, "latency_s_median": 4.067, "peak_rss_mb": 2470.1,
                                        "gpu_peak_mb": None, "miou_3d": 59.48}
    assert [t["figure"] for t in new["targets"]["learned"] if t["met"] is False] == [
        "keyframes_per_s", "render_s_320x240", "latency_s_median"]


def test_the_committed_results_upgrade():
    path = Path(__file__).resolve().parents[2] / "bench" / "results.json"
    if not path.is_file():
        pytest.skip("no bench/results.json yet (run make bench)")
    res = upgrade(json.loads(path.read_text()))
    assert res["schema"] == 2 and res["main"]["geometry"]
    assert "missed by" in markdown_table(res) or "met" in markdown_table(res)
