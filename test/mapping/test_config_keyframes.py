import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import yaml

from gnesf_ros.config import from_dict, to_dict
from gnesf_ros.errors import ConfigError
from gnesf_ros.geometry.camera import scale_intrinsics
from gnesf_ros.mapping.config import (GeometrySource, LargeWindows, MapperConfig, NewVoxelRule, SemanticFusion,
                                      TsdfDistance, WindowOverflow)
from gnesf_ros.model import RenderMode
from gnesf_ros.mapping.keyframes import KeyframeSelector, KeyframeStore, downscale_frame, is_keyframe, pose_delta
from mapping_fixtures import HEIGHT, WIDTH, downward_pose, plane_frame


def rot_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    T = np.eye(4)
    T[:2, :2] = [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]
    return T


def test_config_defaults_and_cross_checks():
    cfg = MapperConfig()
    assert cfg.window_size == 9 and cfg.voxel_size_m == 0.04 and cfg.max_volume_dims == 96
    assert from_dict(MapperConfig, {"geometry_source": "depth"}).geometry_source == "depth"
    with pytest.raises(ConfigError, match="geometry_source must be one of"):
        from_dict(MapperConfig, {"geometry_source": "lidar"})
    with pytest.raises(ConfigError, match="render_mode"):
        from_dict(MapperConfig, {"render_mode": "mesh"})
    with pytest.raises(ConfigError, match="max_keyframes"):
        from_dict(MapperConfig, {"max_keyframes": 4, "window_size": 9})
    with pytest.raises(ConfigError, match="tsdf_trunc_m"):
        from_dict(MapperConfig, {"tsdf_trunc_m": 0.01})
    with pytest.raises(ConfigError, match="map_clearing_radius_m"):
        from_dict(MapperConfig, {"map_clearing_radius_m": 1.0, "max_depth_m": 3.0})


def test_keyframe_thresholds():
    T0 = np.eye(4)
    assert is_keyframe(None, T0, 0.1, 15.0)
    T = np.eye(4)
    T[0, 3] = 0.099
    assert not is_keyframe(T0, T, 0.1, 15.0)
    T[0, 3] = 0.1
    assert is_keyframe(T0, T, 0.1, 15.0)
    assert not is_keyframe(T0, rot_z(14.9), 0.1, 15.0)
    assert is_keyframe(T0, rot_z(15.0), 0.1, 15.0)
    t, r = pose_delta(T0, rot_z(30.0))
    assert t == 0.0 and r == pytest.approx(30.0)


def test_selector_measures_from_last_keyframe_not_last_frame():
    sel = KeyframeSelector(0.1, 15.0)
    poses = [downward_pose(x) for x in (0.0, 0.06, 0.09, 0.12, 0.16, 0.22)]
    assert [sel.check(T) for T in poses] == [True, False, False, True, False, True]


def test_store_caps_keyframes_and_counts_drops():
    store = KeyframeStore(max_keyframes=3)
    for i in range(5):
        store.add(plane_frame(0.2 * i, stamp_ns=i))
    assert len(store) == 3 and store.dropped == 2
    assert [kf.stamp_ns for kf in store] == [2, 3, 4]
    assert [kf.stamp_ns for kf in store.nearest(downward_pose(0.41), 2)] == [2, 3]


def test_downscale_keeps_geometry_and_simplex():
    frame = plane_frame(0.0)
    image, probs, K, depth = downscale_frame(frame, WIDTH // 2)
    assert image.shape == (3, HEIGHT // 2, WIDTH // 2) and probs.shape[1:] == (HEIGHT // 2, WIDTH // 2)
    assert depth.shape == (HEIGHT // 2, WIDTH // 2) and torch.all(depth == 1.5)
    assert torch.allclose(probs.sum(0), torch.ones(HEIGHT // 2, WIDTH // 2))
    # the same map point projects to corresponding pixels: u' = (u + 0.5) * s - 0.5
    K2 = scale_intrinsics(torch.from_numpy(frame.K), 0.5, 0.5)
    assert K.dtype == torch.float64 and torch.equal(K, K2)
    assert K2[0, 2] == pytest.approx((frame.K[0, 2] + 0.5) * 0.5 - 0.5)
    image_same, _, K_same, _ = downscale_frame(frame, 0)
    assert image_same.shape == (3, HEIGHT, WIDTH) and np.array_equal(K_same.numpy(), frame.K)


def test_tsdf_distance_must_be_a_known_mode():
    assert MapperConfig(tsdf_distance="plane").tsdf_distance == "plane"
    with pytest.raises(ValueError, match="tsdf_distance"):
        MapperConfig(tsdf_distance="ray")
    with pytest.raises(ConfigError, match="tsdf_distance"):
        from_dict(MapperConfig, {"tsdf_distance": "euclidean"})


def test_modes_are_parsed_once_into_enums_that_stay_strings():
    values = {"geometry_source": "depth", "semantic_fusion": "mean", "large_windows": "crop", "window_overflow": "thin",
              "tsdf_distance": "plane", "new_voxel_rule": "crossing", "render_mode": "nerf"}
    cfg = from_dict(MapperConfig, values)
    assert (cfg.geometry_source, cfg.semantic_fusion, cfg.large_windows, cfg.window_overflow, cfg.tsdf_distance,
            cfg.new_voxel_rule, cfg.render_mode) == (GeometrySource.DEPTH, SemanticFusion.MEAN, LargeWindows.CROP,
                                                     WindowOverflow.THIN, TsdfDistance.PLANE, NewVoxelRule.CROSSING,
                                                     RenderMode.NERF)
    assert all(type(getattr(cfg, name)) is not str for name in values)
    assert dataclasses.replace(cfg, window_size=3).geometry_source is GeometrySource.DEPTH
    plain = to_dict(cfg)
    assert {k: plain[k] for k in values} == values and all(type(plain[k]) is str for k in values)
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain
    assert json.loads(json.dumps(dataclasses.asdict(cfg)))["tsdf_distance"] == "plane"
    assert f"{cfg.geometry_source}" == "depth" and cfg.semantic_fusion == "mean"
    with pytest.raises(ValueError, match=r"large_windows must be one of \('tile', 'crop'\), got 'grow'"):
        MapperConfig(large_windows="grow")


def test_selector_from_config_takes_the_mappers_thresholds():
    sel = KeyframeSelector.from_config(MapperConfig(keyframe_min_translation_m=0.25, keyframe_min_rotation_deg=30.0))
    assert (sel.min_translation_m, sel.min_rotation_deg, sel.T_map_last) == (0.25, 30.0, None)
