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
    res["main"]["gnesf"].pop("mesh", None)
    assert "semantic mesh" not in markdown_table(res)  # results from before the mesh existed still render
    res["main"]["gnesf"]["mesh"] = {"update_seconds": {"median": 0.25, "max": 1.5}, "blocks": 7, "vertices": 1200,
                                    "faces": 2300, "mb": 0.05}
    table = markdown_table(res)
    assert "| semantic mesh: re-mesh after a fragment, s (median / max) | 0.25 / 1.50 |" in table
    assert "| semantic mesh: blocks / vertices / faces / MB | 7 / 1200 / 2300 / 0.1 |" in table
