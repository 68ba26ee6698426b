import numpy as np
import pytest

from gnesf_ros.config import from_dict
from gnesf_ros.data.synthetic import FRAME_ID, SyntheticDataConfig, SyntheticScan
from gnesf_ros.errors import ConfigError


def test_scan_frames_are_valid_and_deterministic():
    scan = SyntheticScan(2001, num_frames=3, height=60, width=80)
    assert len(scan) == 3 and scan.poses.shape == (3, 4, 4) and scan.K.shape == (3, 3)
    fov = 2 * np.degrees(np.arctan(40 / scan.K[0, 0]))
    assert 60 <= fov <= 65
    frames = list(scan)
    assert len(frames) == 3
    frame, view = frames[2]
    frame.validate(num_classes=20)
    assert frame.stamp_ns == 2 * 33_333_333 and frame.frame_id == FRAME_ID
    assert frame.depth_m is view.depth_m and frame.rgb.shape == (60, 80, 3)
    again, _ = SyntheticScan(2001, num_frames=3, height=60, width=80).frame(2)
    np.testing.assert_array_equal(frame.probs, again.probs)
    np.testing.assert_array_equal(frame.rgb, again.rgb)
    with pytest.raises(IndexError):
        scan.frame(3)


def test_data_config_splits_are_disjoint():
    cfg = SyntheticDataConfig.from_yaml()
    train, val, test = (set(cfg.seeds(s)) for s in ("train", "val", "test"))
    assert len(train) == 1000 and len(val) == 10 and len(test) == 100
    assert not (train & val) and not (train & test) and not (val & test)
    assert cfg.demo_seed in test
    with pytest.raises(ConfigError, match="overlap"):
        from_dict(SyntheticDataConfig, {"train_seeds": [0, 1500]})
