"""SegNet and the inference wrapper: shapes, probabilities, determinism, parameter budget, bad input."""
import numpy as np
import pytest
import torch

from gnesf_ros.errors import InputError
from gnesf_ros.segmentation.config import SegNetConfig
from gnesf_ros.segmentation.infer import Segmenter
from gnesf_ros.segmentation.network import SegNet, count_parameters

CLASSES = [f"c{i}" for i in range(20)]


def test_network_and_inference_do_not_import_the_data_layer():
    import subprocess
    import sys

    code = ("import sys, gnesf_ros.segmentation.network, gnesf_ros.segmentation.infer, "
            "gnesf_ros.segmentation.checkpoint, gnesf_ros.segmentation.evaluate; "
            "print(sorted(m for m in sys.modules if m.startswith('gnesf_ros.data')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_parameter_count_within_budget():
    n = count_parameters(SegNet())
    assert 5e5 < n <= 5_000_000, n


def test_forward_shapes_multiple_of_stride():
    model = SegNet(SegNetConfig(num_classes=7)).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 96))
    assert out.shape == (2, 7, 64, 96)
    assert torch.isfinite(out).all()


def test_segmenter_probabilities_any_size():
    torch.manual_seed(1)
    seg = Segmenter(SegNet(), CLASSES)
    rgb = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)  # not a multiple of 16
    probs = seg.predict(rgb)
    assert probs.shape == (20, 37, 53) and probs.dtype == np.float32
    assert probs.min() >= 0.0
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    labels, conf = seg.labels_and_confidence(rgb)
    assert labels.shape == (37, 53) and labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, probs.argmax(0))
    np.testing.assert_allclose(conf, probs.max(0), atol=1e-6)
    unknown, _ = seg.labels_and_confidence(rgb, min_confidence=1.1)  # no pixel is that confident
    assert (unknown == 255).all()


def test_deterministic_forward_and_seeded_init():
    rgb = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    torch.manual_seed(5)
    a = Segmenter(SegNet(), CLASSES)
    torch.manual_seed(5)
    b = Segmenter(SegNet(), CLASSES)
    pa, pa2, pb = a.predict(rgb), a.predict(rgb), b.predict(rgb)
    np.testing.assert_array_equal(pa, pa2)
    np.testing.assert_array_equal(pa, pb)
    torch.manual_seed(6)
    assert not np.allclose(Segmenter(SegNet(), CLASSES).predict(rgb), pa)


def test_bad_inputs_are_clear_errors():
    model = SegNet()
    with pytest.raises(InputError, match="multiples of 16"):
        model(torch.rand(1, 3, 30, 32))
    with pytest.raises(InputError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 4, 32, 32))
    with pytest.raises(InputError, match="uint8"):
        Segmenter(model, CLASSES).predict(np.zeros((8, 8, 3), np.float32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (torch.cuda.is_available() is False)")
def test_cuda_matches_cpu_and_trains(tmp_path):
    from gnesf_ros.segmentation.train import segmentation_loss

    torch.manual_seed(0)
    model = SegNet()
    rgb = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    cpu = Segmenter(model, CLASSES).predict(rgb)
    gpu = Segmenter(model, CLASSES, "cuda").predict(rgb)
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)
    model.train()
    x = torch.rand(2, 3, 64, 64, device="cuda")
    y = torch.randint(0, 20, (2, 64, 64), device="cuda")
    segmentation_loss(model(x), y).backward()
    assert all(p.grad is not None and p.grad.is_cuda for p in model.parameters())
