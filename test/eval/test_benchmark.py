"""The benchmark's doc writer replaces only its generated block; the table renders from a results file."""
import json
from pathlib import Path

import pytest

from gnesf_ros.eval.benchmark import BEGIN, END, markdown_table, write_doc


def test_write_doc_replaces_only_the_generated_block(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\nintro\n{BEGIN}\nold table\n{END}\n## Notes\nhand-written\n")
    write_doc(doc, "new table")
    text = doc.read_text()
    assert "old table" not in text and "new table" in text
    assert text.startswith("# Benchmarks\nintro\n") and text.endswith("## Notes\nhand-written\n")
    write_doc(tmp_path / "fresh.md", "t")
    assert f"{BEGIN}\nt\n{END}" in (tmp_path / "fresh.md").read_text()


def test_table_renders_the_committed_results():
    results = Path(__file__).resolve().parents[2] / "bench" / "results.json"
    if not results.is_file():
        pytest.skip("no bench/results.json yet (run make bench)")
    table = markdown_table(json.loads(results.read_text()))
    assert "keyframes/s" in table and "3D mIoU" in table


def test_table_has_the_mesh_rows_when_the_results_have_them():
    results = Path(__file__).resolve().parents[2] / "bench" / "results.json"
    if not results.is_file():
        pytest.skip("no bench/results.json yet (run make bench)")
    res = json.loads(results.read_text())
    # schema 2 (2026-12-05): one result per geometry source; older files keep main.gnesf
    runs = [g["gnesf"] for g in res["main"]["geometry"].values()] if "schema" in res else [res["main"]["gnesf"]]
    for run in runs:
        run.pop("mesh", None)
    assert "semantic mesh" not in markdown_table(res)  # results from before the mesh existed still render
    for run in runs:
        run["mesh"] = {"update_seconds": {"median": 0.25, "max": 1.5}, "blocks": 7, "vertices": 1200, "faces": 2300,
                       "mb": 0.05}
    table = markdown_table(res)
    assert "| semantic mesh: re-mesh after a fragment, s (median / max) | 0.25 / 1.50 |" in table
    assert "| semantic mesh: blocks / vertices / faces / MB | 7 / 1200 / 2300 / 0.1 |" in table


def test_missing_checkpoint_is_refused_not_replaced_by_random_weights(tmp_path, capsys):
    from gnesf_ros.errors import MapFileError
    from gnesf_ros.eval.benchmark import load_model, main

    missing = tmp_path / "missing.pt"
    with pytest.raises(MapFileError, match=r"no GNeSF checkpoint at .*missing\.pt.*--random-weights"):
        load_model(missing)
    out = tmp_path / "results.json"
    assert main(["--checkpoint", str(missing), "--out", str(out), "--doc", "", "--no-progress"]) == 2
    assert "missing.pt" in capsys.readouterr().err
    assert not out.exists()  # nothing measured, nothing written


def test_random_weights_only_on_request_and_said_in_the_results(tmp_path):
    import torch

    from gnesf_ros.eval.benchmark import RANDOM_WEIGHTS, load_model
    from gnesf_ros.model import GNeSF, ModelConfig
    from gnesf_ros.model.checkpoint import save_checkpoint

    model, info = load_model(None, random_weights=True)
    assert info["untrained"] and info["weights"] == RANDOM_WEIGHTS and "RANDOM" in info["weights"]
    with pytest.raises(Exception, match="exclude each other"):
        load_model(tmp_path / "x.pt", random_weights=True)
    torch.manual_seed(1)
    trained = GNeSF(ModelConfig())
    save_checkpoint(trained, tmp_path / "t.pt")
    loaded, info = load_model(tmp_path / "t.pt")
    assert info == {**info, "untrained": False, "weights": "trained", "checkpoint": str(tmp_path / "t.pt")}
    a, b = next(iter(trained.state_dict().values())), next(iter(loaded.state_dict().values()))
    assert torch.equal(a, b) and not torch.equal(a, next(iter(model.state_dict().values())))


def test_cuda_is_refused_where_absent(tmp_path, capsys):
    import torch

    from gnesf_ros.eval.benchmark import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "results_cuda.json"
    for device in ("cuda", "cuda:1"):
        assert main(["--device", device, "--out", str(out), "--doc", "", "--no-progress"]) == 2
        assert f"--device {device}: CUDA is not available here" in capsys.readouterr().err
    assert main(["--device", "gpu", "--out", str(out), "--doc", "", "--no-progress"]) == 2
    assert "--device must be cpu, cuda or cuda:N, got 'gpu'" in capsys.readouterr().err
    assert not out.exists()  # refused before anything ran


def test_scale_intrinsics_of_a_numpy_K_double_the_image():
    """The benchmark's renders at twice the size take geometry.camera.scale_intrinsics on the scan's numpy K:
    pixel centres stay at integers, so the principal point moves to (c + 0.5) * 2 - 0.5."""
    import numpy as np

    from gnesf_ros.geometry.camera import scale_intrinsics

    K = np.array([[266.0, 0.0, 159.5], [0.0, 266.0, 119.5], [0.0, 0.0, 1.0]])
    K2 = scale_intrinsics(K, 2, 2)
    assert isinstance(K2, np.ndarray) and K2.dtype == np.float64
    assert np.array_equal(K2, [[532.0, 0.0, 319.5], [0.0, 532.0, 239.5], [0.0, 0.0, 1.0]])
    assert K[0, 0] == 266.0  # a copy
