"""The mapper's speed paths compute what the plain paths compute: cached keyframe features, queries only near
the truncation band (SDF read from the encoded window's grid elsewhere)."""
import numpy as np
import pytest
import torch

from gnesf_ros.data.synthetic import SyntheticScan
from gnesf_ros.mapping.config import MapperConfig
from gnesf_ros.mapping.mapper import Mapper
from gnesf_ros.model import GNeSF, ModelConfig

TINY = dict(num_classes=20, feature_channels=4, volume_channels=4, volume_width=4, mlp_width=8,
            vote_feature_channels=4, render_samples=8, visibility_samples=4, trunc_m=0.2, visibility_margin_m=0.2)
CFG = dict(window_size=3, voxel_size_m=0.1, max_depth_m=2.0, tsdf_trunc_m=0.2, max_volume_dims=24,
           render_num_views=2, max_keyframes=10)


class Recording:
    """A `SceneModel` that delegates to a GNeSF and keeps the windows it encoded."""

    def __init__(self, model: GNeSF):
        self.model, self.windows = model, []
        self.num_classes, self.trunc_m, self.default_options = model.num_classes, model.trunc_m, model.default_options

    def features(self, images):
        return self.model.features(images)

    def encode(self, *args, **kwargs):
        self.windows.append(self.model.encode(*args, **kwargs))
        return self.windows[-1]


class PlainWindow:
    """A window without the SDF grid the mapper's band shortcut reads: every voxel is queried."""

    sdf_grid = None

    def __init__(self, window):
        self.window = window

    def query(self, points, max_abs_sdf_m=None):
        return self.window.query(points, max_abs_sdf_m=max_abs_sdf_m)

    def render(self, *args, **kwargs):
        return self.window.render(*args, **kwargs)


class PlainModel(Recording):
    """The mapper's fast paths off: `encode` drops the cached features (computes them again) and its windows have
    no SDF grid."""

    def encode(self, *args, feats=None, **kwargs):
        assert feats is not None  # the mapper cached them ...
        return PlainWindow(super().encode(*args, **kwargs))  # ... and the model recomputes them


@pytest.fixture(scope="module")
def frames():
    scan = SyntheticScan(2001, num_frames=30, height=36, width=48)
    return [scan.frame(i)[0] for i in range(0, 30, 2)]


def _run(model, frames):
    mapper = Mapper(MapperConfig(**CFG), model=model)
    for f in frames:
        mapper.add_frame(f)
    mapper.flush()
    return mapper


def _varied_sdf_model(frames) -> GNeSF:
    """A random tiny model whose SDF crosses the truncation band inside the scene (a random head is ~constant)."""
    torch.manual_seed(3)
    model = GNeSF(ModelConfig(**TINY)).eval()
    last = model.sdf_head.net[-1]
    recording = Recording(model)
    with torch.no_grad():
        last.weight.mul_(3000.0)
        _run(recording, frames[:6])
        last.bias.sub_(float(recording.windows[-1].sdf_grid.median()) / model.cfg.trunc_m)
    return model


def test_fast_paths_match_plain_paths(frames):
    model = Recording(_varied_sdf_model(frames))
    fast = _run(model, frames)
    g = model.windows[-1].sdf_grid.abs()
    assert 0.05 < float((g < model.trunc_m).float().mean()) < 0.95  # the band test is exercised
    assert all(kf.features is not None for kf in fast.keyframes)  # features cached once per keyframe
    plain = _run(PlainModel(model.model), frames)
    a, b = fast.map.data, plain.map.data
    assert fast.stats()["fragments"] >= 2 and len(fast.map) > 0
    np.testing.assert_array_equal(a.keys, b.keys)
    np.testing.assert_allclose(a.sdf_m, b.sdf_m, atol=1e-4)  # x3000 head: float noise of batched convs
    np.testing.assert_allclose(a.prob_sum, b.prob_sum, atol=1e-3)
    la, _ = fast.map.labels()
    lb, _ = plain.map.labels()
    assert (la == lb).mean() > 0.999


def test_cached_features_equal_encode_features(frames):
    torch.manual_seed(4)
    model = GNeSF(ModelConfig(**TINY)).eval()
    mapper = _run(model, frames[:4])
    kfs = list(mapper.keyframes)
    images = torch.stack([kf.image for kf in kfs])
    with torch.inference_mode():
        direct = model.features(images)
    torch.testing.assert_close(torch.stack([kf.features for kf in kfs]), direct, atol=1e-5, rtol=1e-4)
