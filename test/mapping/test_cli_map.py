"""gnesf-map: a tiny synthetic run writes every output; training seeds and bad arguments are refused."""
import json

import numpy as np
import pytest

from gnesf_ros.cli import map as cli_map
from gnesf_ros.model import GNeSF, ModelConfig
from gnesf_ros.model.checkpoint import save_checkpoint

TINY = dict(num_classes=20, feature_channels=4, volume_channels=4, volume_width=4, mlp_width=8,
            vote_feature_channels=4, render_samples=8, visibility_samples=4, trunc_m=0.2, visibility_margin_m=0.2)
SMALL_MAPPER = dict(window_size=2, voxel_size_m=0.1, max_depth_m=2.0, tsdf_trunc_m=0.2, max_volume_dims=24,
                    render_num_views=2, max_keyframes=10)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(GNeSF(ModelConfig(**TINY)), path)
    return path


@pytest.mark.parametrize("geometry", ["learned", "depth"])
def test_tiny_synthetic_run_writes_all_outputs(tmp_path, tiny_checkpoint, geometry):
    run = cli_map.synthetic_run(2001, num_frames=12, every=2, num_renders=2, height=36, width=48)
    assert run.num_frames == 6 and len(run.views) == 2
    code = cli_map.map_sequence(run, tmp_path, tiny_checkpoint, geometry, progress=False,
                                mapper_overrides=SMALL_MAPPER)
    assert code == 0
    for name in ("map.ply", "mesh.ply", "map.gnesfmap", "render_0.png", "render_1.png", "stats.json"):
        assert (tmp_path / name).is_file(), name
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames"] == 6 and stats["keyframes"] >= 2 and stats["fragments"] >= 1
    assert stats["voxels"] > 0 and stats["peak_rss_mb"] > 0
    assert {"encode", "query", "fusion"} <= set(stats["seconds"])
    assert len(stats["renders"]) == 2 and "pixel_accuracy" in stats["renders"][0]
    from PIL import Image

    assert Image.open(tmp_path / "render_0.png").size == (4 * 48 + 3 * 4, 36)
    assert (tmp_path / "map.ply").read_bytes().startswith(b"ply\n")
    header = (tmp_path / "mesh.ply").read_bytes().split(b"end_header\n")[0].decode()
    assert f"element vertex {stats['mesh']['vertices']}\n" in header
    assert f"element face {stats['mesh']['faces']}\n" in header
    if geometry == "depth":  # depth geometry has real surfaces whatever the (random) model says
        assert stats["mesh"]["faces"] > 0


def test_novel_poses_lie_between_trajectory_frames():
    a, b = np.eye(4), np.eye(4)
    b[:3, 3] = [1.0, 0.0, 0.0]
    b[:3, :3] = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # 90 degrees about z
    T = cli_map.interpolate_pose(a, b, 0.5)
    np.testing.assert_allclose(T[:3, 3], [0.5, 0.0, 0.0])
    np.testing.assert_allclose(np.degrees(np.arccos(T[0, 0])), 45.0, atol=1e-6)


def test_refuses_training_seeds(tmp_path, capsys):
    assert cli_map.main(["synthetic", "--seed", "3", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "refusing seed 3" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    code = cli_map.main(["synthetic", "--seed", "2001", "--out", str(tmp_path), "--checkpoint",
                         str(tmp_path / "nope.pt"), "--no-progress"])
    assert code == 2
    assert "nope.pt: no such file" in capsys.readouterr().err


def test_depth_png_is_millimetres_with_zero_unknown():
    png = cli_map.depth_png(np.array([[1.2344, 0.0], [np.nan, 70.0]]))
    assert png.dtype == np.uint16 and png.tolist() == [[1234, 0], [0, 65535]]


def test_render_size_semantics_and_depth_pngs(tmp_path):
    """--render-size renders at H x W with K scaled; every render has its 16-bit depth PNG (mm, 0 = unknown) beside
    it, and with depth geometry that depth is the measured one at the novel pose; --semantics none maps geometry."""
    import torch
    from PIL import Image

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny64.pt"  # the default 64 samples per ray and 12 cm truncation: depth is rendered right
    save_checkpoint(GNeSF(ModelConfig(**{**TINY, "render_samples": 64, "trunc_m": 0.12, "visibility_margin_m": 0.12})),
                    ckpt)
    code = cli_map.main(["synthetic", "--seed", "2001", "--frames", "12", "--every", "2", "--renders", "1",
                         "--height", "36", "--width", "48", "--render-size", "72", "96", "--semantics", "none",
                         "--geometry", "depth", "--checkpoint", str(ckpt), "--out", str(tmp_path / "out"),
                         "--no-progress"])
    assert code == 0
    out = tmp_path / "out"
    depth = np.asarray(Image.open(out / "render_0_depth.png"))
    assert depth.dtype == np.uint16 and depth.shape == (72, 96)
    assert Image.open(out / "render_0.png").size == (4 * 96 + 3 * 4, 72)
    stats = json.loads((out / "stats.json").read_text())
    entry = stats["renders"][0]
    assert entry["size"] == [72, 96] and entry["depth_png"] == "render_0_depth.png"
    assert stats["run"]["semantics"] == "none" and stats["voxels"] > 0
    assert entry["known_fraction"] == 0.0  # no semantics in, none out
    # the full-size default config renders depth: at the novel pose it matches the measured depth
    assert entry["depth_coverage"] > 0.5 and entry["depth_delta_1_25"] > 0.9


def test_scannet_views_are_named_by_frame_index(tmp_path, tiny_checkpoint):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
    from scannet_fixtures import make_tiny_scan, write_exported_scan

    folder = write_exported_scan(tmp_path / "scene0001_00", make_tiny_scan(num_frames=6, bad_pose=()))
    run = cli_map.scannet_run(folder, None, every=1, num_renders=1, semantics="none")
    assert cli_map.map_sequence(run, tmp_path / "out", tiny_checkpoint, "depth", progress=False,
                                mapper_overrides=SMALL_MAPPER) == 0
    names = sorted(p.name for p in (tmp_path / "out").glob("render_*"))
    assert names == ["render_frame2.png", "render_frame2_depth.png"]


def test_style_reaches_the_scan_and_stats(tmp_path, capsys):
    """--style realistic maps a realistic-style scan (its frames differ from the simple style's) and stats.json's
    run records it; an unknown style is refused with the choices."""
    ckpt = tmp_path / "tiny12.pt"  # 12 cm truncation, as the default config's tsdf_trunc_m (check_truncation)
    save_checkpoint(GNeSF(ModelConfig(**{**TINY, "trunc_m": 0.12, "visibility_margin_m": 0.12})), ckpt)
    code = cli_map.main(["synthetic", "--seed", "2001", "--frames", "6", "--every", "2", "--renders", "1",
                         "--height", "36", "--width", "48", "--style", "realistic", "--geometry", "depth",
                         "--checkpoint", str(ckpt), "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["run"]["style"] == "realistic" and stats["frames"] == 3
    first = {style: next(iter(cli_map.synthetic_run(2001, 6, 2, 0, 36, 48, style=style).frames))
             for style in ("simple", "realistic")}
    assert np.abs(first["simple"].rgb.astype(float) - first["realistic"].rgb.astype(float)).mean() > 5.0
    assert cli_map.main(["synthetic", "--seed", "2001", "--style", "cartoon", "--out", str(tmp_path / "bad"),
                         "--no-progress"]) == 2
    assert "--style must be one of simple, realistic, got 'cartoon'" in capsys.readouterr().err
