"""The mapper with the real GNeSF network (random weights, tiny sizes): the plumbing end to end."""
import numpy as np
import pytest

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import ConfigError
from gnesf_ros.mapping import Mapper, MapperConfig
from gnesf_ros.model import GNeSF, ModelConfig
from mapping_fixtures import HEIGHT, K_SMALL, NUM_CLASSES, WIDTH, downward_pose, label_at, plane_sequence

VOXEL = 0.1


def tiny_model(num_classes: int = NUM_CLASSES) -> GNeSF:
    return GNeSF(ModelConfig(num_classes=num_classes, feature_channels=4, volume_channels=4, volume_width=4,
                             mlp_width=8, vote_feature_channels=4, render_samples=16, visibility_samples=4,
                             trunc_m=0.2, visibility_margin_m=0.2))


def config(**overrides) -> MapperConfig:
    values = dict(voxel_size_m=VOXEL, max_depth_m=2.0, max_volume_dims=40, window_size=3, image_width_px=0,
                  tsdf_trunc_m=0.2, max_keyframes=20, render_num_views=3)
    values.update(overrides)
    return MapperConfig(**values)


@pytest.mark.parametrize("render_mode", ["sdf", "nerf"])
def test_depth_geometry_gives_the_plane_and_its_labels(class_list, render_mode):
    mapper = Mapper(config(geometry_source="depth", render_mode=render_mode), model=tiny_model(),
                    class_list=class_list)
    for frame in plane_sequence(6):
        mapper.add_frame(frame)
    mapper.flush()
    pts = mapper.semantic_points()
    assert len(pts) > 100 and np.all(np.abs(pts.xyz[:, 2]) < VOXEL + 1e-6)
    # every view agrees on a point's class away from the x = 0 boundary, so any soft vote picks it
    clear = np.abs(pts.xyz[:, 0]) > 0.15
    np.testing.assert_array_equal(pts.label[clear], label_at(pts.xyz[clear, 0]))

    out = mapper.render(K_SMALL, downward_pose(0.2, 0.0, 1.3), HEIGHT // 2, WIDTH // 2)
    assert out.label.shape == (HEIGHT // 2, WIDTH // 2)
    assert np.mean(out.label != IGNORE_ID) > 0.3
    hit = out.depth_m > 0
    assert np.all(np.abs(out.depth_m[hit] - 1.3) < 2 * VOXEL)


def test_depth_hit_points_vote_and_publish_at_the_measured_surface(class_list):
    """With depth geometry the semantics of a voxel the depth images hit are voted at the hits' mean, and the cloud
    is those means: on the plane z = 0, off the voxel lattice in x and y. Without the option: lattice centres."""
    def run(**overrides):
        model = tiny_model()
        mapper = Mapper(config(geometry_source="depth", **overrides), model=model, class_list=class_list)
        queried = []
        encode = model.encode

        def recording_encode(*args, **kwargs):  # windows that record the points they are asked about
            window = encode(*args, **kwargs)
            query = window.query
            window.query = lambda pts, **kw: queried.append(pts.numpy().copy()) or query(pts, **kw)
            return window

        model.encode = recording_encode
        for frame in plane_sequence(6):
            mapper.add_frame(frame)
        mapper.flush()
        return mapper.semantic_points(), np.concatenate(queried)

    pts, queried = run()
    assert len(pts) > 100
    np.testing.assert_allclose(pts.xyz[:, 2], 0.0, atol=1e-6)
    off_lattice = np.abs(pts.xyz[:, :2] / VOXEL - np.round(pts.xyz[:, :2] / VOXEL)) > 1e-3
    assert np.mean(np.any(off_lattice, axis=1)) > 0.5
    # the model was asked at hit means (on the plane, off the lattice) at least once per published point; a voxel
    # several windows hit publishes the count-weighted mean of their means
    at_hits = np.any(np.abs(queried / VOXEL - np.round(queried / VOXEL)) > 1e-3, axis=1)
    assert at_hits.sum() >= len(pts)
    np.testing.assert_allclose(queried[at_hits, 2], 0.0, atol=1e-6)
    voxel_of = lambda xyz: {tuple(k) for k in np.round(xyz / VOXEL).astype(int)}
    assert voxel_of(pts.xyz[np.any(off_lattice, axis=1)]) <= voxel_of(queried[at_hits])
    clear = np.abs(pts.xyz[:, 0]) > 0.1
    np.testing.assert_array_equal(pts.label[clear], label_at(pts.xyz[clear, 0]))

    pts_c, queried_c = run(depth_hit_points=False)
    np.testing.assert_allclose(queried_c / VOXEL, np.round(queried_c / VOXEL), atol=1e-4)
    assert len(pts_c) > 100


def test_inference_options_reach_every_window_and_leave_the_model_alone(class_list):
    """MapperConfig's vote_pooling, vote_confidence_power and depth_vote_band_m become the mapper's inference
    options, passed to every encode; the model's config is not touched, so two mappers can share one model. YAML's
    .inf turns the band off; a negative band is refused before any model is built."""
    import dataclasses
    import math

    import yaml

    from gnesf_ros.config import from_dict
    from gnesf_ros.model import InferenceOptions

    model = tiny_model()
    untouched = dataclasses.replace(model.cfg)
    windows = []
    encode = model.encode
    model.encode = lambda *args, **kwargs: windows.append(encode(*args, **kwargs)) or windows[-1]
    mapper = Mapper(config(geometry_source="depth", depth_vote_band_m=0.07, vote_pooling="log",
                           vote_confidence_power=2.0), model=model, class_list=class_list)
    off = from_dict(MapperConfig, yaml.safe_load("depth_vote_band_m: .inf"))
    assert math.isinf(off.depth_vote_band_m)
    other = Mapper(config(geometry_source="depth", depth_vote_band_m=off.depth_vote_band_m), model=model,
                   class_list=class_list)
    assert mapper.options == InferenceOptions(vote_pooling="log", vote_confidence_power=2.0, depth_vote_band_m=0.07)
    assert other.options == InferenceOptions(vote_pooling="linear", vote_confidence_power=0.0,
                                             depth_vote_band_m=math.inf)
    for frame in plane_sequence(3):
        mapper.add_frame(frame)
        other.add_frame(frame)
    assert [w.options for w in windows] == [mapper.options, other.options]
    assert model.cfg == untouched
    with pytest.raises(ConfigError, match="depth_vote_band_m"):
        from_dict(MapperConfig, {"depth_vote_band_m": -0.01})


def test_learned_geometry_runs(class_list):
    mapper = Mapper(config(), model=tiny_model(), class_list=class_list)
    updates = [mapper.add_frame(f) for f in plane_sequence(3, with_depth=False)]
    assert updates[-1].fragment_fused and np.all(np.isfinite(mapper.map.data.sdf_m))
    pts = mapper.semantic_points()
    assert np.all(pts.label < NUM_CLASSES)


def test_model_and_class_list_must_agree(class_list):
    with pytest.raises(ConfigError, match="model predicts 5 classes but the class list has 4"):
        Mapper(config(), model=tiny_model(5), class_list=class_list)


def test_vote_confidence_power_is_checked():
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="vote_confidence_power"):
            config(vote_confidence_power=bad)


def test_tsdf_trunc_must_suit_the_models_truncation(class_list, tmp_path):
    """tiny_model's trunc_m is 0.2 m: learned geometry takes a band up to it, depth geometry a TSDF from it on; the
    refusal names both values and the model (the checkpoint's path when the mapper loaded it)."""
    from gnesf_ros.model.checkpoint import save_checkpoint

    Mapper(config(tsdf_trunc_m=0.15), model=tiny_model(), class_list=class_list)
    Mapper(config(geometry_source="depth", tsdf_trunc_m=0.3), model=tiny_model(), class_list=class_list)
    with pytest.raises(ConfigError, match=r"tsdf_trunc_m 0.3 m exceeds the model's trunc_m 0.2 m \(the GNeSF "
                                          r"passed to Mapper\).*set tsdf_trunc_m <= 0.2"):
        Mapper(config(tsdf_trunc_m=0.3), model=tiny_model(), class_list=class_list)
    path = tmp_path / "tiny.pt"
    save_checkpoint(tiny_model(), path)
    with pytest.raises(ConfigError, match=rf"tsdf_trunc_m 0.15 m is below the model's trunc_m 0.2 m \(checkpoint "
                                          rf"{path}\).*set tsdf_trunc_m >= 0.2"):
        Mapper(config(geometry_source="depth", tsdf_trunc_m=0.15, checkpoint=str(path)), class_list=class_list)
