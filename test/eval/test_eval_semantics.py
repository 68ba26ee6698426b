"""gnesf-eval synthetic's 2D input (--semantics segmenter|noise|truth, --input-format) and scene style (--style):
what each feeds every method, and what metrics.json records."""
import json

import numpy as np
import pytest

from gnesf_ros.cli.eval import main
from gnesf_ros.errors import InputError

TINY = ["--seeds", "2000", "--frames", "6", "--every-k", "3", "--height", "48", "--width", "64", "--no-progress"]


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """main() sets torch's thread count (--threads, default 1): give the rest of the session its own back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _metrics(out) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_truth_semantics_make_input_2d_perfect_on_a_realistic_scene(tmp_path, capsys):
    out = tmp_path / "truth"
    assert main(["synthetic", *TINY, "--style", "realistic", "--semantics", "truth", "--methods", "input_2d",
                 "bayes_fusion", "--out", str(out)]) == 0
    m = _metrics(out)
    assert m["semantics"] == "truth" and m["style"] == "realistic" and m["input_format"] == "probs"
    assert m["input_2d"]["miou_2d"] == 100.0 and m["input_2d"]["macc_2d"] == 100.0
    assert "segmenter_checkpoint" not in m
    # at the scene level: truth gives the true labels exactly, the noise model (the default) does not
    from gnesf_ros.classes import IGNORE_ID
    from gnesf_ros.eval.evaluate import synthetic_scene

    wrong = {}
    for semantics in ("truth", "noise"):
        scene = synthetic_scene(2000, num_frames=6, every_k_target=3, height=48, width=64, style="realistic",
                                semantics=semantics)
        wrong[semantics] = sum(int((t.input_label != t.truth)[t.truth != IGNORE_ID].sum()) for t in scene.targets)
    assert wrong["truth"] == 0 and wrong["noise"] > 0


def test_style_changes_the_scene_and_is_recorded(tmp_path):
    """The same seed in both styles: different images (the realistic camera and textures), each recorded."""
    from gnesf_ros.eval.evaluate import synthetic_scene

    rgb = {}
    for style in ("simple", "realistic"):
        scene = synthetic_scene(2000, num_frames=4, every_k_target=2, height=24, width=32, style=style)
        rgb[style] = scene.targets[0].rgb.astype(np.float64)
        assert main(["synthetic", *TINY, "--style", style, "--methods", "input_2d", "--out",
                     str(tmp_path / style)]) == 0
        metrics = _metrics(tmp_path / style)
        assert metrics["style"] == style and metrics["semantics"] == "segmenter"  # the default input (issue 21)
    assert np.abs(rgb["simple"] - rgb["realistic"]).mean() > 5.0


def test_segmenter_semantics_with_a_tiny_random_checkpoint(tmp_path):
    """--semantics segmenter runs the given checkpoint on each frame's RGB; every method gets its output and
    input_2d at the targets is its argmax; metrics.json names the checkpoint."""
    import torch

    from gnesf_ros.classes import ClassList
    from gnesf_ros.segmentation.checkpoint import save_segmenter
    from gnesf_ros.segmentation.config import SegNetConfig
    from gnesf_ros.segmentation.infer import Segmenter
    from gnesf_ros.segmentation.network import SegNet
    from gnesf_ros.eval.evaluate import synthetic_scene

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny_segmenter.pt"
    save_segmenter(SegNet(SegNetConfig(width_mult=0.25, head_channels=16, skip_channels=8)),
                   ClassList.from_yaml().names, ckpt)
    out = tmp_path / "out"
    assert main(["synthetic", *TINY, "--style", "simple", "--semantics", "segmenter", "--segmenter-checkpoint",
                 str(ckpt), "--methods", "input_2d", "bayes_fusion", "majority_vote", "--out", str(out)]) == 0
    m = _metrics(out)
    assert m["semantics"] == "segmenter" and m["segmenter_checkpoint"] == str(ckpt)
    assert 0.0 <= m["input_2d"]["miou_2d"] <= 100.0 and "miou_3d" in m["bayes_fusion"]
    # what the scene feeds is exactly the segmenter's output on the frame's RGB
    seg = Segmenter.from_checkpoint(ckpt)
    scene = synthetic_scene(2000, num_frames=4, every_k_target=2, height=24, width=32, style="simple",
                            semantics="segmenter", segmenter=seg)
    frame = next(iter(scene.input_frames))
    np.testing.assert_allclose(frame.probs, seg.predict(frame.rgb).transpose(1, 2, 0), atol=1e-6)
    target = scene.targets[0]
    assert np.array_equal(target.input_label, seg.predict(target.rgb).argmax(0))


def test_bad_semantics_style_and_format_are_refused(tmp_path, capsys):
    for args, why in ((["--semantics", "labels"], "--semantics must be one of segmenter, noise, truth, got 'labels'; "
                                                  "the delivery format is --input-format labels"),
                      (["--semantics", "magic"], "--semantics must be one of segmenter, noise, truth, got 'magic'"),
                      (["--style", "cartoon"], "--style must be one of simple, realistic, got 'cartoon'"),
                      (["--semantics", "noise", "--segmenter-checkpoint", str(tmp_path / "x.pt")],
                       "only used with --semantics segmenter"),
                      (["--segmenter-checkpoint", str(tmp_path / "x.pt")], "no such file")):  # default: segmenter
        assert main(["synthetic", *TINY, "--methods", "input_2d", "--out", str(tmp_path / "o"), *args]) == 2
        assert why in capsys.readouterr().err
    assert not (tmp_path / "o" / "metrics.json").exists()
    with pytest.raises(SystemExit):
        main(["synthetic", *TINY, "--input-format", "logits", "--out", str(tmp_path / "o")])
    from gnesf_ros.eval.evaluate import synthetic_scene

    with pytest.raises(InputError, match="semantics 'segmenter' needs a loaded Segmenter"):
        next(iter(synthetic_scene(2000, num_frames=4, every_k_target=2, height=24, width=32,
                                  semantics="segmenter").targets))


def test_input_format_labels_reduces_any_source_to_label_and_confidence(tmp_path):
    """--input-format labels (the old --semantics labels): the argmax keeps its probability, the rest is spread
    evenly; recorded in metrics.json."""
    from gnesf_ros.eval.evaluate import synthetic_scene

    probs = {}
    for fmt in ("probs", "labels"):
        scene = synthetic_scene(2000, num_frames=4, every_k_target=2, height=24, width=32, style="simple",
                                input_format=fmt)
        probs[fmt] = next(iter(scene.input_frames)).probs
    full, reduced = probs["probs"], probs["labels"]
    np.testing.assert_array_equal(full.argmax(2), reduced.argmax(2))
    np.testing.assert_allclose(full.max(2), reduced.max(2), atol=1e-6)
    rest = np.sort(reduced, axis=2)[..., :-1]  # the 19 other classes: one value each pixel
    np.testing.assert_allclose(rest.max(2), rest.min(2), atol=1e-6)
    assert not np.allclose(np.sort(full, axis=2)[..., 0], np.sort(full, axis=2)[..., -2])
    assert main(["synthetic", *TINY, "--input-format", "labels", "--methods", "input_2d", "--out",
                 str(tmp_path / "o")]) == 0
    assert _metrics(tmp_path / "o")["input_format"] == "labels"
