"""Segmenter checkpoints: round trip, size, and refusal of wrong class lists and foreign files."""
import numpy as np
import pytest
import torch

from gnesf_ros.classes import ClassList
from gnesf_ros.errors import MapFileError
from gnesf_ros.segmentation.checkpoint import load_segmenter, save_segmenter
from gnesf_ros.segmentation.config import SegNetConfig
from gnesf_ros.segmentation.infer import Segmenter
from gnesf_ros.segmentation.network import SegNet


def test_round_trip_same_outputs_and_size(tmp_path):
    names = ClassList.from_yaml().names
    torch.manual_seed(2)
    model = SegNet().eval()
    path = tmp_path / "seg.pt"
    save_segmenter(model, names, path, extra={"step": 7})
    assert path.stat().st_size <= 20 * 2**20
    loaded, loaded_names, extra = load_segmenter(path, names)
    assert loaded_names == list(names) and extra["step"] == 7
    assert loaded.cfg == model.cfg and not loaded.training
    rgb = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    np.testing.assert_array_equal(Segmenter(model, names).predict(rgb), Segmenter(loaded, names).predict(rgb))


def test_wrong_class_list_refused(tmp_path):
    names = list(ClassList.from_yaml().names)
    path = tmp_path / "seg.pt"
    save_segmenter(SegNet(), names, path)
    swapped = [names[1], names[0], *names[2:]]
    with pytest.raises(MapFileError, match="not the class list in use"):
        load_segmenter(path, swapped)
    with pytest.raises(MapFileError, match="not the class list in use"):
        load_segmenter(path, names[:19])
    with pytest.raises(MapFileError, match="3 class names for a network with 20 outputs"):
        save_segmenter(SegNet(), names[:3], tmp_path / "bad.pt")


def test_missing_corrupt_foreign_files(tmp_path):
    with pytest.raises(MapFileError, match="no segmenter checkpoint at"):
        load_segmenter(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(MapFileError, match="corrupt or truncated"):
        load_segmenter(bad)
    other = tmp_path / "other.pt"
    torch.save({"format": "gnesf_ros.model", "state_dict": {}}, other)
    with pytest.raises(MapFileError, match="not a gnesf_ros segmenter checkpoint"):
        load_segmenter(other)
    small = tmp_path / "small.pt"
    save_segmenter(SegNet(SegNetConfig(num_classes=3)), ["a", "b", "c"], small)
    payload = torch.load(small, weights_only=True)
    payload["config"]["num_classes"] = 4
    payload["class_names"].append("d")
    torch.save(payload, small)
    with pytest.raises(MapFileError, match="does not match the network"):
        load_segmenter(small)
