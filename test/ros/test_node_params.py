"""Parameters (one declaration, one mapping onto configs, the YAML in step), diagnostics bookkeeping, and the
worker queue's drop policy, in-process without other processes."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from gnesf_ros.errors import ConfigError
from gnesf_ros.mapping.config import MapperConfig
from gnesf_ros.ros.diagnostics import NodeStats, RateMeter
from gnesf_ros.ros.params import NodeParams, configs_from_params, field_docs, parameter_specs

REPO = Path(__file__).resolve().parents[2]


def test_mapping_yaml_lists_every_parameter_with_its_default_and_a_comment():
    text = (REPO / "config" / "mapping.yaml").read_text()
    values = yaml.safe_load(text)["/**"]["ros__parameters"]
    specs = parameter_specs()
    assert list(values) == [s.name for s in specs]
    for s in specs:
        same = values[s.name] == s.default or (isinstance(s.default, float) and math.isnan(s.default)
                                                and math.isnan(values[s.name]))  # floor_height_m: .nan
        assert same and type(values[s.name]) is type(s.default), s.name
        assert s.description, f"{s.name} has no docstring"
    lines = text.splitlines()
    for s in specs:
        i = next(i for i, ln in enumerate(lines) if ln.startswith(f"    {s.name}: "))
        comment = []
        while lines[i - 1].lstrip().startswith("#"):
            i -= 1
            comment.insert(0, lines[i])
        assert comment and "Default:" in " ".join(comment), f"{s.name}: no comment with the default"


def test_configs_from_params():
    node, mapper = configs_from_params({"map_frame": "odom", "publish_rate_hz": 2, "voxel_size_m": 0.05,
                                        "geometry_source": "depth", "pose_source": "odometry"})
    assert node == NodeParams(map_frame="odom", publish_rate_hz=2.0, pose_source="odometry")
    assert mapper == MapperConfig(voxel_size_m=0.05, geometry_source="depth")
    assert configs_from_params({}) == (NodeParams(), MapperConfig())


def test_mode_strings_are_parsed_once_into_enums():
    from gnesf_ros.ros.params import InputQos, MeshColor, PoseSource

    node, _ = configs_from_params({"input_qos": "sensor_data", "pose_source": "pose_stamped", "mesh_color": "rgb"})
    assert node.input_qos is InputQos.SENSOR_DATA and node.pose_source is PoseSource.POSE_STAMPED
    assert node.mesh_color is MeshColor.RGB
    # a member is its string: logs and YAML read the same; the declared ROS default is the plain string
    assert f"{node.pose_source}" == "pose_stamped" and node.mesh_color == "rgb"
    defaults = {s.name: s.default for s in parameter_specs()}
    assert type(defaults["input_qos"]) is str and defaults["input_qos"] == "reliable"
    with pytest.raises(ConfigError, match=r"mesh_color must be one of \('class', 'rgb', 'confidence'\), got 'grey'"):
        configs_from_params({"mesh_color": "grey"})


@pytest.mark.parametrize("values,match", [
    ({"map_frme": "x"}, r"unknown parameter\(s\) \['map_frme'\]"),
    ({"input_qos": "fast"}, "input_qos must be one of"),
    ({"pose_source": "gps"}, r"pose_source must be one of \('tf', 'pose_stamped', 'odometry'\), got 'gps'"),
    ({"publish_rate_hz": 0.0}, "publish_rate_hz must be > 0"),
    ({"queue_size": 0}, "queue_size must be >= 1"),
    ({"input_history_depth": 0}, "input_history_depth must be >= 1, got 0"),
    ({"voxel_size_m": "big"}, "voxel_size_m: expected a number"),
    ({"geometry_source": "lidar"}, "geometry_source must be one of"),
    ({"pose_source": "odometry", "camera_frame": "cam"}, "camera_frame is only used with pose_source 'tf'"),
])
def test_bad_parameters(values, match):
    with pytest.raises(ConfigError, match=match):
        configs_from_params(values)


def test_field_docs_read_attribute_docstrings():
    docs = field_docs(NodeParams)
    assert docs["map_frame"].startswith("Fixed frame of the map")
    assert "(m)" in field_docs(MapperConfig)["voxel_size_m"]


def test_bad_input_logging_is_throttled_per_kind_and_always_counted():
    now = [0.0]
    stats = NodeStats(log_period_s=10.0, clock=lambda: now[0])
    assert stats.bad_input("size_mismatch", "a") is True
    assert stats.bad_input("size_mismatch", "b") is False
    assert stats.bad_input("camera_info", "c") is True  # another kind logs on its own
    now[0] = 10.5
    assert stats.bad_input("size_mismatch", "d") is True
    snap = stats.snapshot()
    assert snap["bad_inputs"] == {"size_mismatch": 3, "camera_info": 1}
    assert snap["last_bad_input"]["size_mismatch"] == "d"


def test_skip_bad_input_writes_one_throttled_line_and_counts_every_skip():
    class Logger:
        def __init__(self):
            self.lines = []

        def warning(self, text):
            self.lines.append(text)

    now, log = [0.0], Logger()
    stats = NodeStats(log_period_s=2.5, clock=lambda: now[0])
    for stamp_ns in (1_500_000_000, 2_000_000_000):
        stats.skip_bad_input(log, "color_image", stamp_ns, "encoding 'yuv422' not supported")
    assert log.lines == ["[bad input: color_image] skipping @ 1.500 s: encoding 'yuv422' not supported (logged once "
                         "per 2.5 s; counted in /diagnostics)"]
    now[0] = 3.0
    stats.skip_bad_input(log, "color_image", 3_000_000_000, "again")
    assert len(log.lines) == 2 and stats.snapshot()["bad_inputs"] == {"color_image": 3}


def test_rate_meter():
    meter = RateMeter(window_s=5.0)
    for i in range(11):
        meter.tick(100.0 + 0.1 * i)
    assert meter.rate_hz(101.0) == pytest.approx(10.0)
    assert meter.rate_hz(200.0) == 0.0


@pytest.fixture
def node():
    """An in-process node (FakeMapper, pose topic) whose worker is stopped, so its queue can be inspected."""
    rclpy = pytest.importorskip("rclpy")
    sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))
    from fake_mapper import FakeMapper

    from gnesf_ros.ros.node import MappingNode

    context = rclpy.Context()
    rclpy.init(context=context)
    n = MappingNode(FakeMapper, context=context, parameter_overrides=[
        rclpy.parameter.Parameter("pose_source", value="pose_stamped"),
        rclpy.parameter.Parameter("queue_size", value=3)])
    n.stop()
    yield n
    n.destroy_node()
    rclpy.try_shutdown(context=context)


def test_queue_thins_waiting_non_keyframes_and_drops_keyframes_when_full(node):
    from geometry_msgs.msg import TransformStamped

    from gnesf_ros.ros.conversions import matrix_to_transform, ns_to_stamp
    from gnesf_ros.ros.node import POSE_CHILD
    from gnesf_ros.ros.sync import SyncedSet

    def pose(stamp, x):
        T = np.eye(4)
        T[0, 3] = x
        t = TransformStamped(child_frame_id=POSE_CHILD, transform=matrix_to_transform(T))
        t.header.frame_id, t.header.stamp = "map", ns_to_stamp(stamp)
        node.tf.set_transform(t)

    # keyframe threshold 0.1 m: 1, 3, 5, 6 are keyframes (6 is 1 m from 5), 2 and 4 are not
    xs = {1: 0.0, 2: 0.01, 3: 0.5, 4: 0.52, 5: 1.0, 6: 0.0}
    for stamp, x in xs.items():
        pose(stamp, x)
    queued = []
    for stamp in xs:
        node._enqueue(SyncedSet(stamp, {}))
        queued.append([p.synced.stamp_ns for p in node._queue])
    # a non-keyframe waits only until the next frame arrives (2 is thinned at 3's arrival, 4 at 5's); at the cap of
    # 3 the oldest keyframe goes as queue full
    assert queued == [[1], [1, 2], [1, 3], [1, 3, 4], [1, 3, 5], [3, 5, 6]]
    assert node.stats.counters["thinned_non_keyframes"] == 2
    assert node.stats.counters["dropped_queue_full"] == 1
    # a frame whose pose has not arrived yet waits undecided; the next arrival decides it, in stamp order
    node._queue.clear()
    node._enqueue(SyncedSet(7, {}))
    assert node._queue[-1].keyframe_hint is None and node._queue[-1].T_map_cam is None
    pose(7, 0.02)  # 0.02 m from keyframe 6: not a keyframe
    pose(8, 0.5)
    node._enqueue(SyncedSet(8, {}))
    assert [(p.synced.stamp_ns, p.keyframe_hint) for p in node._queue] == [(8, True)]
    assert node.stats.counters["thinned_non_keyframes"] == 3
    # the frame in the worker's hands heads the chain: once its pose is there it becomes the reference, so the
    # frames after it are judged against it (not against an older keyframe)
    from gnesf_ros.ros.node import _Pending

    node._queue.clear()
    node._in_flight = _Pending(SyncedSet(10, {}), None, None, 0.0)
    try:
        for stamp, x in ((10, 3.0), (11, 3.01), (12, 3.02)):
            pose(stamp, x)
        node._enqueue(SyncedSet(11, {}))
        assert node._in_flight.keyframe_hint is True
        node._enqueue(SyncedSet(12, {}))
        assert [(p.synced.stamp_ns, p.keyframe_hint) for p in node._queue] == [(12, False)]
        assert node.stats.counters["thinned_non_keyframes"] == 4
    finally:
        node._in_flight = None


def test_node_thins_with_the_mappers_keyframe_rule(node):
    """The node's receipt-time keyframe decision is the mapper's selector, from the same MapperConfig: both see
    the same poses and agree frame by frame; ~/clear_map resets the node's reference as the mapper's."""
    import rclpy

    from gnesf_ros.mapping.keyframes import KeyframeSelector
    from gnesf_ros.ros.node import MappingNode

    context = rclpy.Context()
    rclpy.init(context=context)
    other = MappingNode(type(node.mapper), context=context, parameter_overrides=[
        rclpy.parameter.Parameter("pose_source", value="pose_stamped"),
        rclpy.parameter.Parameter("keyframe_min_translation_m", value=0.3),
        rclpy.parameter.Parameter("keyframe_min_rotation_deg", value=40.0)])
    try:
        other.stop()
        sel = other._kf_selector
        assert isinstance(sel, KeyframeSelector)
        assert (sel.min_translation_m, sel.min_rotation_deg) == (0.3, 40.0)
        assert (other.mapper_config.keyframe_min_translation_m, other.mapper_config.keyframe_min_rotation_deg) == \
            (0.3, 40.0)
        mapper_sel = KeyframeSelector.from_config(other.mapper_config)
        rng = np.random.default_rng(3)
        for x in np.cumsum(rng.uniform(0.0, 0.2, 40)):
            T = np.eye(4)
            T[0, 3] = x
            assert sel.check(T) == mapper_sel.check(T)
        assert sel.T_map_last is not None
        other._srv_clear_map(None, type("R", (), {})())
        assert sel.T_map_last is None
    finally:
        other.destroy_node()
        rclpy.try_shutdown(context=context)
