import numpy as np
import pytest

from gnesf_ros.classes import ClassList
from gnesf_ros.config import from_dict
from gnesf_ros.errors import ConfigError, InputError
from gnesf_ros.frame import Frame, labels_to_probs


def test_scannet20_class_list():
    cl = ClassList.from_yaml()
    assert cl.num_classes == 20
    assert cl.names[0] == "wall" and cl.names[19] == "otherfurniture"
    rgb = cl.colorize(np.array([[0, 255]]))
    assert rgb[0, 0].tolist() == [174, 199, 232]
    assert rgb[0, 1].tolist() == [0, 0, 0]


def test_labels_to_probs_simplex_and_unknown():
    labels = np.array([[0, 2], [255, 1]])
    conf = np.array([[0.7, 1.0], [0.5, 0.4]], dtype=np.float32)
    p = labels_to_probs(labels, 3, conf)
    assert p.shape == (2, 2, 3)
    np.testing.assert_allclose(p[0, 0], [0.7, 0.15, 0.15], atol=1e-6)
    np.testing.assert_allclose(p[0, 1], [0.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(p[1, 0], [0, 0, 0])  # unknown casts no vote
    np.testing.assert_allclose(p[1, 1], [0.3, 0.4, 0.3], atol=1e-6)


def _frame(**kw):
    args = dict(rgb=np.zeros((4, 5, 3), np.uint8), K=np.array([[5.0, 0, 2], [0, 5.0, 2], [0, 0, 1]]),
                T_map_cam=np.eye(4), probs=np.full((4, 5, 3), 1 / 3, np.float32))
    args.update(kw)
    return Frame(**args)


def test_frame_validate_rejects_bad_inputs():
    _frame().validate(3)
    T = np.eye(4)
    T[0, 0] = np.nan
    with pytest.raises(InputError, match="finite 4x4"):
        _frame(T_map_cam=T).validate()
    with pytest.raises(InputError, match="semantics must be"):
        _frame(probs=np.zeros((3, 5, 3), np.float32)).validate()
    with pytest.raises(InputError, match="expected 4 semantic channels"):
        _frame().validate(4)
    with pytest.raises(InputError, match="empty image"):
        _frame(rgb=np.zeros((0, 0, 3), np.uint8), probs=np.zeros((0, 0, 3), np.float32)).validate()
    S = np.eye(4)
    S[0, 0] = 2.0
    with pytest.raises(InputError, match="not a rigid"):
        _frame(T_map_cam=S).validate()


def test_config_from_dict_nested_and_unknown_keys():
    from dataclasses import dataclass, field

    @dataclass
    class Inner:
        size_m: float = 1.0

    @dataclass
    class Outer:
        name: str = "a"
        inner: Inner = field(default_factory=Inner)
        dims: tuple[int, ...] = (1, 2)

    cfg = from_dict(Outer, {"inner": {"size_m": 2}, "dims": [3, 4]})
    assert cfg.inner.size_m == 2.0 and cfg.dims == (3, 4)
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(Outer, {"inner": {"sise_m": 2}})
    with pytest.raises(ConfigError, match="expected a number"):
        from_dict(Outer, {"inner": {"size_m": "big"}})
