"""Segmenter training: augmentations, the seed guard, the scene style pass-through, a loss-lowering smoke run,
and a resumed run."""
import json

import numpy as np
import pytest
import torch

from gnesf_ros.config import from_dict
from gnesf_ros.errors import ConfigError
from gnesf_ros.segmentation import train_data
from gnesf_ros.segmentation.augment import augment, hue_rotation
from gnesf_ros.segmentation.config import AugmentConfig, SegmenterTrainConfig
from gnesf_ros.segmentation.train import SegmenterTrainer

TINY = {"frames_per_scan": 6, "scenes_cached": 1, "steps_per_scene": 100, "batch_size": 2, "val_frames": 1,
        "val_scenes": 1, "warmup_steps": 0, "lr": 0.01, "train_seed_range": [0, 3],
        "augment": {"crop_hw": [64, 96], "scale_range": [0.4, 0.4]}}


def tiny_config(**over) -> SegmenterTrainConfig:
    return from_dict(SegmenterTrainConfig, {**TINY, **over})


def test_augment_keeps_pixels_and_labels_together():
    cfg = AugmentConfig(crop_hw=(40, 50), scale_range=(1.0, 1.0), flip_prob=1.0, brightness=0.0, contrast=0.0,
                        saturation=0.0, hue_deg=0.0, blur_prob=0.0, noise_std=0.0)
    labels = np.repeat(np.arange(20, dtype=np.uint8)[None], 30, 0).repeat(4, 1)  # (30, 80), column bands
    rgb = np.stack([labels * 10, labels, 255 - labels], axis=2).astype(np.uint8)
    out_rgb, out_lab = augment(rgb, labels, cfg, np.random.default_rng(0))
    assert out_rgb.shape == (40, 50, 3) and out_lab.shape == (40, 50)
    inside = out_lab != 255
    assert inside.sum() == 30 * 50  # the image is 30 rows tall: the other 10 crop rows are padding, ignored
    np.testing.assert_array_equal(out_rgb[..., 0][inside], out_lab[inside] * 10)  # colour still matches label
    assert (out_rgb[~inside] == 0).all()
    rows = np.flatnonzero(inside.any(1))
    assert np.all(np.diff(out_lab[rows[0]].astype(int)) <= 0)  # flipped: labels decrease left to right


def test_colour_jitter_changes_colour_not_labels():
    cfg = AugmentConfig(crop_hw=(32, 32), scale_range=(1.0, 1.0), blur_prob=1.0)
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 20, (32, 32)).astype(np.uint8)
    out_rgb, out_lab = augment(rgb, labels, cfg, np.random.default_rng(2))
    assert sorted(np.unique(out_lab)) == sorted(np.unique(labels))
    assert np.abs(out_rgb.astype(int) - rgb[:, ::-1].astype(int)).mean() > 2 or \
        np.abs(out_rgb.astype(int) - rgb.astype(int)).mean() > 2
    # a hue rotation keeps grey grey and is a rotation
    M = hue_rotation(37.0)
    np.testing.assert_allclose(M @ np.ones(3), np.ones(3), atol=1e-6)
    np.testing.assert_allclose(M @ M.T, np.eye(3), atol=1e-6)


def test_held_out_seeds_refused():
    data = train_data.data_config(tiny_config())
    with pytest.raises(ConfigError, match="reaches the held-out val seeds"):
        train_data.training_seeds(tiny_config(train_seed_range=[990, 1005]), data)
    with pytest.raises(ConfigError, match="reaches the held-out test seeds"):
        train_data.training_seeds(tiny_config(train_seed_range=[2000, 2001]), data)
    assert train_data.training_seeds(tiny_config(train_seed_range=None), data) == range(0, 1000)


def test_scene_style_is_passed_to_the_generator(monkeypatch):
    calls = []

    class FakeScan:
        def __init__(self, seed, **kwargs):
            calls.append((seed, kwargs))

    monkeypatch.setattr(train_data, "SyntheticScan", FakeScan)
    cfg = tiny_config(scene_style="realistic")
    data = train_data.data_config(cfg)
    train_data.open_scan(4, cfg, data)
    train_data.open_scan(5, tiny_config(), data)
    assert calls[0][1]["style"] == "realistic"
    assert "style" not in calls[1][1]  # "" = the generator's own default


def test_scene_pool_is_a_function_of_the_step():
    cfg = tiny_config(scenes_cached=2, steps_per_scene=3, train_seed_range=[0, 1000])
    data = train_data.data_config(cfg)
    a = train_data.ScenePool(cfg, data)
    a.advance(3)
    a.advance(7)
    b = train_data.ScenePool(cfg, data, step=7)  # a resumed run
    assert [s.seed for s in a.slots] == [s.seed for s in b.slots]
    assert all(s.seed < 1000 for s in a.slots)


def test_two_steps_lower_the_loss_on_a_fixed_batch(tmp_path):
    trainer = SegmenterTrainer(tiny_config(), tmp_path)
    pool = train_data.ScenePool(trainer.cfg, trainer.data)
    x, y = trainer.make_batch(pool)
    assert x.shape == (2, 3, 64, 96) and y.shape == (2, 64, 96)
    assert (y != 255).any()
    first = trainer.train_step(x, y)
    trainer.train_step(x, y)
    trainer.model.train()
    with torch.no_grad():
        from gnesf_ros.segmentation.train import segmentation_loss

        after = float(segmentation_loss(trainer.model(x), y))
    assert after < first - 0.05, (first, after)


def test_run_checkpoints_and_resumes(tmp_path):
    cfg = tiny_config(steps=2, val_every=2)
    SegmenterTrainer(cfg, tmp_path).run()
    for name in ("segmenter.pt", "train_state.pt", "loss_curves.png", "history.json"):
        assert (tmp_path / name).is_file(), name
    cfg.steps = 3
    trainer = SegmenterTrainer(cfg, tmp_path)
    assert trainer.resume() and trainer.step == 2
    trainer.run()
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["steps"] == [1, 2, 3] and history["val_steps"] == [2, 3]
