"""What the demo's report says (gnesf_ros/eval/demo_report.py): the per-view scores of the 2D input and the node's
render, hand-computed, and the report's words for each 2D input. The demo itself runs in test/test_demo.py."""
import numpy as np
import pytest

from gnesf_ros.classes import IGNORE_ID, ClassList
from gnesf_ros.eval import demo_report


def test_view_scores_are_each_views_miou_against_its_truth():
    truth = np.array([[0, 0, 1, 1]], dtype=np.uint8)
    node = np.array([[0, 0, 1, 1]], dtype=np.uint8)  # all right: 100
    seg = np.array([[0, 1, 1, IGNORE_ID]], dtype=np.uint8)  # class 0: 1/2, class 1: 1/(2+1) -> unknown is a miss
    empty = np.full((1, 4), IGNORE_ID, dtype=np.uint8)
    rows = demo_report.view_scores([{"truth": truth, "gnesf": node, "input_2d": seg},
                                    {"truth": empty, "gnesf": node, "input_2d": seg}], num_classes=3)
    assert rows[0]["gnesf"] == 100.0 and rows[0]["truth_classes"] == 2 and rows[1]["truth_classes"] == 0
    assert rows[0]["input_2d"] == pytest.approx(100 * (1 / 2 + 1 / 3) / 2, abs=0.01)
    assert rows[1]["input_2d"] is None and rows[1]["gnesf"] is None  # nothing of the truth scored in that view


def _metrics(semantics: str) -> dict:
    scores = {"miou_3d": 30.0, "macc_3d": 35.0, "miou_2d": 27.5, "macc_2d": 31.0, "per_class": {}}
    return {"scene": "synthetic_2024", "seed": 2024, "style": "realistic", "frames_per_scan": 20,
            "image_size": [24, 32], "every_k_target": 10, "replayed_frames": 18, "semantics": semantics,
            "surface_points": 1000, "targets_2d": 2,
            "gnesf": scores, "bayes_fusion": {**scores, "miou_3d": 28.0, "miou_2d": 26.0},
            "input_2d": {"miou_2d": 25.25, "macc_2d": 30.0, "per_class": {}},
            "views_2d": [{"input_2d": 20.0, "gnesf": 24.5}, {"input_2d": None, "gnesf": None}],
            "node": {"frames_received": 18, "frames_mapped": 18, "keyframes": 3, "fragments": 1, "voxels": 10,
                     "cloud_points": 5, "memory_rss_mb": 100.0, "dropped": {}, "bad_input": {}},
            "timings": {}, "cross_check": "gnesf-eval ..."}


@pytest.mark.parametrize("semantics, says", [("segmenter", "run live by the `gnesf_segmenter` node"),
                                             ("noise", "the segmenter-noise model's labels, from the bag")])
def test_report_names_the_input_and_says_what_each_scored(tmp_path, semantics, says):
    demo_report.write_report(tmp_path, _metrics(semantics), ClassList.from_yaml())
    text = (tmp_path / "report.md").read_text()
    source = "segmenter" if semantics == "segmenter" else "noise-model input"
    assert says in text and "realistic style" in text
    assert f"| 2D input ({source}) | - | - | 25.2 | 30.0 |" in text
    assert (f"the node's renders scored 27.5 mIoU, the {source} itself 25.2 and Bayesian fusion's map 26.0; in 3D "
            "the node's map scored 30.0 against Bayesian fusion's 28.0") in text
    assert f"| view | {source} | GNeSF node |" in text and "| 0 | 20.0 | 24.5 |" in text and "| 1 | - | - |" in text


def test_readme_render_is_the_view_showing_the_most_classes(tmp_path):
    import json

    from gnesf_ros.cli.demo import DemoError, copy_docs_images

    out, dest = tmp_path / "demo", tmp_path / "img"
    with pytest.raises(DemoError, match="no map_preview.png"):
        copy_docs_images(out, dest)
    (out / "renders").mkdir(parents=True)
    (out / "map_preview.png").write_bytes(b"mesh")
    for i in range(4):
        (out / "renders" / f"view_{i:02d}.png").write_bytes(f"view {i}".encode())
    for counts, picked in (([1, 3, 1, 1], 1), ([1, 3, 3, 1], 2), ([2, 2, 2, 2], 2)):  # ties: nearest the middle
        (out / "metrics.json").write_text(json.dumps({"views_2d": [{"truth_classes": c} for c in counts]}))
        copy_docs_images(out, dest)
        assert (dest / "demo_render.png").read_bytes() == f"view {picked}".encode()
        assert (dest / "demo_mesh.png").read_bytes() == b"mesh"
