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
