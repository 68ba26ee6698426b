"""tools/compare_bench.py prints two results files' headline figures side by side with the ratio B / A."""
import importlib.util
import json
from pathlib import Path

from bench_results import geometry_run, results

TOOL = Path(__file__).resolve().parents[2] / "tools" / "compare_bench.py"


def _tool():
    spec = importlib.util.spec_from_file_location("compare_bench", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ratios_of_two_hand_made_files(tmp_path, capsys):
    a = results(learned=geometry_run(4.0, 0.5, 12.0, 4.0, 2000.0, 60.0),
                depth=geometry_run(10.0, 2.0, 1.0, 2.0, 1800.0, 80.0, render_640_s=4.0))
    b = results(device="cuda:0", device_name="NVIDIA H100",
                learned=geometry_run(100.0, 12.5, 0.06, 0.5, 3000.0, 60.0, render_640_s=0.2),
                depth=geometry_run(150.0, 30.0, 0.025, 0.4, 3600.0, 81.0, render_640_s=0.1))
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    assert _tool().main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "- B: `" in out and "cuda:0 (NVIDIA H100)" in out and "cpu (AMD EPYC), 2 cores" in out
    assert "| geometry | figure | A | B | B / A |" in out
    assert "| learned | frames/s | 4.00 | 100.00 | 25.00x |" in out
    assert "| learned | keyframes/s | 0.500 | 12.500 | 25.00x |" in out
    assert "| learned | render 320x240, s (mean) | 12.000 | 0.060 | 0.01x |" in out
    assert "| learned | render 640x480, s (mean) | - | 0.200 | - |" in out  # A did not measure it
    assert "| learned | frame-to-map latency at 30 Hz, s (median) | 4.00 | 0.50 | 0.12x |" in out  # 0.125
    assert "| learned | peak RSS, MB | 2000 | 3000 | 1.50x |" in out
    assert "| depth | frames/s | 10.00 | 150.00 | 15.00x |" in out
    assert "| depth | render 640x480, s (mean) | 4.000 | 0.100 | 0.03x |" in out  # 0.025
    assert "| depth | 3D mIoU, % | 80.00 | 81.00 | 1.01x |" in out  # 1.0125
    assert "| bayes_fusion | frames/s | 200.00 | 200.00 | 1.00x |" in out


def test_a_geometry_only_one_file_has_and_a_zero_reference(tmp_path, capsys):
    a = results(learned=geometry_run(0.0, 0.5, 12.0, 4.0, 2000.0, 60.0))
    b = results(learned=geometry_run(5.0, 0.5, 12.0, 4.0, 2000.0, 60.0),
                depth=geometry_run(20.0, 3.0, 1.0, 2.0, 1.0, 8.0))
    tool = _tool()
    assert tool.ratio_text(0.0, 5.0) == "-" and tool.ratio_text(None, 1.0) == "-"
    assert tool.ratio_text(2.0, 3.0) == "1.50x"
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    assert tool.main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "| learned | frames/s | 0.00 | 5.00 | - |" in out
    assert "| depth | frames/s | - | 20.00 | - |" in out


def test_unreadable_file_is_exit_2(tmp_path, capsys):
    (tmp_path / "a.json").write_text("{}")
    assert _tool().main([str(tmp_path / "a.json"), str(tmp_path / "missing.json")]) == 2
    assert "compare_bench" in capsys.readouterr().err
