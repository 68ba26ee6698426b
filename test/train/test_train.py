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
from gnesf_ros.train.trainer import Trainer, losses, ray_sdf_targets, truncated_l1

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


def test_truncated_l1_hand_cases_and_gradient_past_trunc():
    tr = 0.12
    pred = torch.tensor([0.30, 0.05, -0.20, 0.30, 0.02], requires_grad=True)
    target = torch.tensor([0.12, 0.12, -0.12, 0.00, -0.01])
    # free target: only pred < tr costs; behind target: only pred > -tr costs; inside the band: |pred - target|
    expected = (0.0 + 0.07 + 0.0 + 0.30 + 0.03) / 5 / tr
    loss = truncated_l1(pred, target, tr)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    loss.backward()
    # pred 0.30 against a surface target keeps its gradient (a clamp to +-tr would have zeroed it)
    assert pred.grad[3] > 0 and pred.grad[0] == 0 and pred.grad[2] == 0 and pred.grad[1] < 0


def test_ray_sdf_targets_fall_monotonically_through_the_depth():
    g = torch.Generator().manual_seed(0)
    o = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 0.5]])
    d = torch.tensor([[0.0, 0.0, 1.0], [0.3, -0.4, 1.0]])  # z-depth-1 directions
    depth = torch.tensor([2.0, 3.0])
    pts, target = ray_sdf_targets(o, d, depth, torch.tensor([0.5, 1.0]), behind_m=0.5, trunc=0.12,
                                  samples=64, generator=g)
    assert pts.shape == (2, 64, 3) and target.shape == (2, 64)
    t = ((pts - o[:, None]) / d[:, None])[..., 2]  # z-depth of each point
    assert torch.allclose(pts, o[:, None] + t[..., None] * d[:, None], atol=1e-5)  # on the ray
    m_per_z = d.norm(dim=-1)
    assert torch.all(t >= torch.tensor([0.5, 1.0])[:, None] - 1e-6)
    assert torch.all(t <= depth[:, None] + 0.5 / m_per_z[:, None] + 1e-5)  # at most 0.5 m behind
    for r in range(2):
        order = torch.argsort(t[r])
        assert torch.all(torch.diff(target[r, order]) <= 1e-6)  # non-increasing along the ray
        expected = ((depth[r] - t[r]) * m_per_z[r]).clamp(-0.12, 0.12)
        assert torch.allclose(target[r], expected, atol=1e-6)
        assert (target[r] == 0.12).any() and (target[r] == -0.12).any()


def test_ray_sdf_loss_is_on_only_when_weighted_and_refuses_a_negative_weight(sample, cfg, tmp_path):
    ray_cfg = from_dict(TrainConfig, {**TINY, "ray_sdf_loss_weight": 1.0})
    trainer = Trainer(ray_cfg, tmp_path)
    _, parts = losses(trainer.model, sample, ray_cfg)
    assert parts.ray_sdf > 0
    _, plain = losses(trainer.model, sample, cfg)
    assert plain.ray_sdf == 0.0  # off by default
    with pytest.raises(ValueError):
        from_dict(TrainConfig, {**TINY, "ray_sdf_loss_weight": -1.0})


def test_depth_stage_votes_at_the_true_surface_and_trains_only_the_vote_head(sample, cfg, tmp_path):
    from gnesf_ros.train.trainer import depth_vote_probs

    depth_cfg = from_dict(TrainConfig, {**TINY, "semantic_geometry": "depth", "trainable": "vote_head",
                                        "sdf_loss_weight": 0.0})
    trainer = Trainer(depth_cfg, tmp_path)
    frozen = {k: v.clone() for k, v in trainer.model.state_dict().items() if not k.startswith("vote_head.")}
    head = {k: v.clone() for k, v in trainer.model.state_dict().items() if k.startswith("vote_head.")}
    assert sample.depth_m.shape == (sample.images.shape[0],) + tuple(sample.images.shape[-2:])
    # the points voted at are the target pixels' true surface points, seen by the source depths
    window = trainer.model.encode(sample.images, sample.probs, sample.K, sample.T_map_cam, sample.origin_m,
                                  sample.voxel_size_m, sample.dims, sdf_volume=sample.sdf_grid_true_m,
                                  depth_m=sample.depth_m)
    with torch.no_grad():
        probs = depth_vote_probs(window, sample)
    voted = probs.sum(-1) > 0.5
    assert probs.shape == (sample.ray_labels.shape[0], cfg.model.num_classes)
    assert voted.float().mean() > 0.5  # most target surface points are seen by some source view
    assert torch.allclose(probs[voted].sum(-1), torch.ones(int(voted.sum())), atol=1e-4)
    with torch.no_grad():
        before, parts = losses(trainer.model, sample, depth_cfg)
    assert parts.sdf == 0.0 and parts.ray_sdf == 0.0
    for _ in range(8):
        trainer.train_step(sample)
    with torch.no_grad():
        after, _ = losses(trainer.model, sample, depth_cfg)
    assert float(after) < float(before)
    state = trainer.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in frozen.items())  # the learned geometry is untouched
    assert any(not torch.equal(state[k], v) for k, v in head.items())
    with pytest.raises(ValueError):
        from_dict(TrainConfig, {**TINY, "trainable": "features"})
    with pytest.raises(ValueError):
        from_dict(TrainConfig, {**TINY, "semantic_geometry": "tsdf"})


def test_shipped_training_configs_load_and_only_the_last_stage_installs():
    import dataclasses
    from pathlib import Path

    from gnesf_ros.config import load_yaml

    root = Path(__file__).resolve().parents[2]
    stages = [load_yaml(TrainConfig, root / "config" / name)
              for name in ("train.yaml", "train_stage2.yaml", "train_stage3.yaml")]
    assert [s.ray_sdf_loss_weight > 0 for s in stages] == [False, False, True]
    assert {s.scene_style for s in stages} == {""}  # the shipped recipe: config/data.yaml's style (simple)
    recipe = [line for line in (root / "Makefile").read_text().splitlines() if "gnesf-train" in line or "--init" in line]
    installs = [line for line in recipe if "--install" in line]
    assert len(installs) == 1 and "runs/train2/gnesf.pt" in installs[0]
    # the optional depth fine-tune loads, trains only the vote head, and is not part of `make train`
    depth = load_yaml(TrainConfig, root / "config" / "train_depth_vote.yaml")
    assert (depth.semantic_geometry, depth.trainable, depth.sdf_loss_weight) == ("depth", "vote_head", 0.0)
    assert "train_depth_vote" not in (root / "Makefile").read_text()
    # issue 21's fine-tune on the segmenter's outputs: the same stage, on the realistic scenes the segmenter
    # learned from, at the mapper's resolution
    seg = load_yaml(TrainConfig, root / "config" / "train_segmenter_vote.yaml")
    assert (seg.semantic_geometry, seg.trainable, seg.semantics, seg.scene_style) == \
        ("depth", "vote_head", "segmenter", "realistic")
    assert (seg.sample.height, seg.sample.width) == (240, 320)
    # and with the 2D features learning too: otherwise the same
    feats = load_yaml(TrainConfig, root / "config" / "train_segmenter_features.yaml")
    assert feats.trainable == "all" and feats.sdf_loss_weight == 0.0 and feats.ray_sdf_loss_weight == 0.0
    assert dataclasses.replace(feats, trainable="vote_head") == seg
    assert {s.semantics for s in stages} == {"noise"}


def test_validation_volumes_hold_the_target_cameras(cfg):
    import dataclasses

    scan = SyntheticScan(7, num_frames=cfg.sample.frames_per_scan, height=cfg.sample.height,
                         width=cfg.sample.width)
    big = dataclasses.replace(cfg.sample, max_dims=96, include_cameras=True)
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = make_sample(scan, big, rng, cfg.model.trunc_m)
        if s is not None:
            break
    else:
        pytest.fail("no usable example in 20 draws")
    lo = s.origin_m - s.voxel_size_m / 2
    hi = s.origin_m + (torch.tensor(s.dims) - 0.5) * s.voxel_size_m
    assert torch.all((s.ray_origins >= lo) & (s.ray_origins <= hi))  # rays start inside, in free space
    # a training volume (fitted to the surface only) does not reach back to the camera
    rng = np.random.default_rng(0)
    plain = next(x for x in (make_sample(scan, dataclasses.replace(big, include_cameras=False), rng, cfg.model.trunc_m) for _ in range(20)) if x is not None)
    lo = plain.origin_m - plain.voxel_size_m / 2
    hi = plain.origin_m + (torch.tensor(plain.dims) - 0.5) * plain.voxel_size_m
    assert not torch.all((plain.ray_origins >= lo) & (plain.ray_origins <= hi))


def test_scene_style_selects_the_generator_style_of_training_scans():
    from gnesf_ros.train.trainer import make_scan

    real = make_scan(from_dict(TrainConfig, {**TINY, "scene_style": "realistic"}), 3)
    simple = make_scan(from_dict(TrainConfig, {**TINY, "scene_style": "simple"}), 3)
    assert (real.style, simple.style) == ("realistic", "simple")
    assert (real.frame(0)[0].rgb.shape, simple.frame(0)[0].rgb.shape) == ((48, 64, 3), (48, 64, 3))
    with pytest.raises(ValueError, match="scene_style"):
        from_dict(TrainConfig, {**TINY, "scene_style": "photoreal"})


def test_gnesf_train_scene_style_flag_trains_on_that_style(tmp_path, monkeypatch):
    import yaml

    from gnesf_ros.cli import train as train_cli
    from gnesf_ros.train import trainer as trainer_mod

    styles = []
    real_make_scan = trainer_mod.make_scan
    monkeypatch.setattr(trainer_mod, "make_scan", lambda cfg, seed, segmenter=None: styles.append(cfg.scene_style)
                        or real_make_scan(cfg, seed, segmenter))
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump({**TINY, "steps": 1, "val_every": 1}))
    assert train_cli.main(["--config", str(cfg_file), "--out", str(tmp_path / "run"), "--scene-style",
                           "realistic"]) == 0
    assert styles and set(styles) == {"realistic"}  # training and validation scans
    assert (tmp_path / "run" / "gnesf.pt").is_file()


def _tiny_segmenter_file(tmp_path):
    from gnesf_ros.classes import ClassList
    from gnesf_ros.segmentation.checkpoint import save_segmenter
    from gnesf_ros.segmentation.config import SegNetConfig
    from gnesf_ros.segmentation.network import SegNet

    torch.manual_seed(0)
    path = tmp_path / "seg.pt"
    save_segmenter(SegNet(SegNetConfig(width_mult=0.25, head_channels=16, skip_channels=8)).eval(),
                   ClassList.from_yaml().names, path)
    return path


def test_segmenter_semantics_feed_the_segmenters_probabilities_to_training(tmp_path):
    from gnesf_ros.segmentation.scan import SegmentedScan
    from gnesf_ros.train.trainer import load_input_segmenter, make_scan

    cfg = from_dict(TrainConfig, {**TINY, "semantics": "segmenter",
                                  "segmenter_checkpoint": str(_tiny_segmenter_file(tmp_path))})
    segmenter = load_input_segmenter(cfg)
    scan = make_scan(cfg, 7, segmenter)
    assert isinstance(scan, SegmentedScan) and len(scan) == cfg.sample.frames_per_scan
    plain = make_scan(cfg, 7)
    frame, view = scan.frame(5)
    noisy, view2 = plain.frame(5)
    np.testing.assert_array_equal(frame.rgb, noisy.rgb)  # same scan, same truth
    np.testing.assert_array_equal(view.labels, view2.labels)
    expected = segmenter.predict(frame.rgb).transpose(1, 2, 0)
    np.testing.assert_array_equal(frame.probs, expected)  # the segmenter's softmax replaced the noise model's
    assert not np.allclose(frame.probs, noisy.probs)
    np.testing.assert_allclose(frame.probs.sum(axis=2), 1.0, atol=1e-5)
    # a training example drawn from it carries those probabilities as the vote's input
    rng = np.random.default_rng(0)
    s = next(x for x in (make_sample(scan, cfg.sample, rng, cfg.model.trunc_m) for _ in range(20)) if x is not None)
    frames = {i: scan.frame(i)[0] for i in range(len(scan))}
    for v in range(s.probs.shape[0]):
        rgb = (s.images[v].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
        match = [i for i, f in frames.items() if np.array_equal(f.rgb, rgb)]
        assert match, "every source view is a frame of the scan"
        np.testing.assert_allclose(s.probs[v].permute(1, 2, 0).numpy(), frames[match[0]].probs, atol=1e-6)
    assert load_input_segmenter(from_dict(TrainConfig, TINY)) is None  # the noise model needs none


def test_gnesf_train_semantics_flag_trains_on_the_segmenters_output(tmp_path):
    import yaml

    from gnesf_ros.cli import train as train_cli

    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump({**TINY, "steps": 2, "val_every": 2,
                                        "segmenter_checkpoint": str(_tiny_segmenter_file(tmp_path))}))
    assert train_cli.main(["--config", str(cfg_file), "--out", str(tmp_path / "run"), "--semantics", "segmenter"]) == 0
    _, meta = load_checkpoint(tmp_path / "run" / "gnesf.pt")
    assert meta["train_config"]["semantics"] == "segmenter"
    with pytest.raises(ValueError, match="semantics"):
        from_dict(TrainConfig, {**TINY, "semantics": "mask2former"})
    with pytest.raises(SystemExit):
        train_cli.main(["--config", str(cfg_file), "--out", str(tmp_path / "x"), "--semantics", "truth"])
