"""Training: examples are cut correctly, a few steps lower the loss, state resumes, checkpoints load."""
import numpy as np
import pytest
import torch

from gnesf_ros.config import from_dict
from gnesf_ros.data.synthetic import SyntheticScan
from gnesf_ros.model import GNeSF
from gnesf_ros.model.checkpoint import load_checkpoint
from gnesf_ros.paths import checkpoint_path
from gnesf_ros.train.config import TrainConfig
from gnesf_ros.train.samples import fit_volume, make_sample, window_indices
from gnesf_ros.train.trainer import Trainer, losses

TINY = {
    "model": {"feature_channels": 8, "volume_channels": 4, "volume_width": 4, "mlp_width": 16,
              "vote_feature_channels": 8, "render_samples": 24, "visibility_samples": 6},
    "sample": {"height": 48, "width": 64, "frames_per_scan": 60, "num_views": 3, "view_stride": 4,
               "max_dims": 20, "rays_per_target": 96, "num_targets": 1, "sdf_points": 512},
    "steps": 4, "val_every": 4, "val_seeds": [1000], "scenes_cached": 1, "steps_per_scene": 100,
    "lr": 0.003,
}


@pytest.fixture(scope="module")
def cfg():
    return from_dict(TrainConfig, TINY)


@pytest.fixture(scope="module")
def sample(cfg):
    scan = SyntheticScan(7, num_frames=cfg.sample.frames_per_scan, height=cfg.sample.height,
                         width=cfg.sample.width)
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = make_sample(scan, cfg.sample, rng, cfg.model.trunc_m)
        if s is not None:
            return s
    pytest.fail("no usable training example in 20 draws")


def test_window_never_contains_target_and_is_strided():
    rng = np.random.default_rng(0)
    for target in (0, 30, 59):
        idx = window_indices(60, target, num_views=5, stride=6, rng=rng)
        assert target not in idx
        assert all(0 <= i < 60 for i in idx) and idx == sorted(idx)


def test_fit_volume_contains_points_and_caps_dims():
    pts = np.random.default_rng(1).uniform([0, 0, 0], [1.0, 3.0, 0.5], (1000, 3))
    origin, dims = fit_volume(pts, 0.04, max_dims=32)
    assert dims[1] == 32 and dims[0] <= 32 and dims[2] <= 32
    hi = origin + (np.array(dims) - 1) * 0.04
    inside_x = (pts[:, 0] >= origin[0]) & (pts[:, 0] <= hi[0])
    assert inside_x.all()  # x spans 1 m + margins < 32 voxels: fully contained
    assert np.allclose(origin / 0.04, np.round(origin / 0.04), atol=1e-4)  # snapped to the grid


def test_sample_targets_are_true_labels_and_inputs_are_noisy(sample, cfg):
    assert sample.images.shape[0] == sample.probs.shape[0] >= 2
    assert sample.probs.shape[1] == cfg.model.num_classes
    assert torch.all((sample.ray_labels >= 0) & (sample.ray_labels < cfg.model.num_classes))
    # the voting inputs are the noise model's output, not one-hot truth
    maxp = sample.probs.max(dim=1).values
    assert (maxp < 0.999).float().mean() > 0.5
    # rays point away from the camera with z-depth 1 in the camera frame
    assert torch.all(sample.ray_depth_m > 0)
    assert sample.sdf_points.shape[0] == cfg.sample.sdf_points


def test_training_steps_lower_the_loss(sample, cfg, tmp_path):
    trainer = Trainer(cfg, tmp_path)
    with torch.no_grad():
        before, _ = losses(trainer.model, sample, cfg)
    for _ in range(6):
        trainer.train_step(sample)
    with torch.no_grad():
        after, _ = losses(trainer.model, sample, cfg)
    assert float(after) < float(before)


def test_state_resumes_and_checkpoint_loads(sample, cfg, tmp_path):
    trainer = Trainer(cfg, tmp_path)
    trainer.train_step(sample)
    trainer.save_state()
    assert (tmp_path / "loss_curves.png").stat().st_size > 0
    resumed = Trainer(cfg, tmp_path)
    assert resumed.resume() and resumed.step == 1
    for a, b in zip(trainer.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    model, extra = load_checkpoint(tmp_path / "gnesf.pt")
    assert isinstance(model, GNeSF) and extra["step"] == 1


def test_shipped_checkpoint_loads():
    path = checkpoint_path()
    assert path.is_file(), f"the shipped checkpoint {path} is missing: run `make train`"
    assert path.stat().st_size <= 30 * 1024 * 1024
    model, extra = load_checkpoint(path)
    assert model.cfg.num_classes == 20 and extra["step"] > 0
