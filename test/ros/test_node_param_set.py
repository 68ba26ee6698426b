"""`ros2 param set` on the mapping node: read-only parameters are refused with a reason, run-time ones
(params.RUNTIME_PARAMETERS) are validated and take effect — over real middleware (the SetParameters service of a
node in its own process, its /diagnostics rate measured) and in-process for what is not visible on the graph."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2 wheels) not installed")
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from ros_harness import NodeProcess, Probe, wait_until  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(300)]

NODE = "/gnesf_mapping"


def set_params(probe: Probe, **values):
    from rcl_interfaces.srv import SetParameters

    req = SetParameters.Request(parameters=[rclpy.parameter.Parameter(k, value=v).to_parameter_msg()
                                            for k, v in values.items()])
    return probe.call(SetParameters, f"{NODE}/set_parameters", req).results


def get_params(probe: Probe, *names):
    from rcl_interfaces.srv import GetParameters

    res = probe.call(GetParameters, f"{NODE}/get_parameters", GetParameters.Request(names=list(names)))
    return [rclpy.parameter.parameter_value_to_python(v) for v in res.values]


def diagnostics_rate_hz(probe: Probe, seconds: float) -> float:
    """Messages per second of the node's mapping status on /diagnostics, counted over `seconds`."""
    from diagnostic_msgs.msg import DiagnosticArray

    if not hasattr(probe, "_diag_msgs"):
        probe._diag_msgs = probe.subscribe(DiagnosticArray, "/diagnostics", 50)
    mine = [0]

    def count() -> int:
        return sum(any(s.name.endswith(": mapping") for s in m.status) for m in list(probe._diag_msgs))

    mine[0] = count()
    t0 = time.monotonic()
    time.sleep(seconds)
    return (count() - mine[0]) / (time.monotonic() - t0)


def test_param_set_over_the_middleware():
    probe = Probe()
    node = NodeProcess({"pose_source": "pose_stamped", "diagnostics_rate_hz": 1.0})
    try:
        node.wait_ready()
        wait_until(lambda: probe.diag, 30.0, "the node's first diagnostics")
        # read-only (cannot change while the node runs): refused, with the reason, value unchanged
        (res,) = set_params(probe, voxel_size_m=0.08)
        assert not res.successful and "read-only" in res.reason, res
        assert get_params(probe, "voxel_size_m") == [0.04]
        # a run-time parameter with a bad value: refused naming the rule; a 0 <-> > 0 mesh rate switch too
        (res,) = set_params(probe, publish_rate_hz=-2.0)
        assert not res.successful and "publish_rate_hz must be > 0" in res.reason, res
        (res,) = set_params(probe, mesh_rate_hz=0.0)
        assert not res.successful and "only between values > 0" in res.reason, res
        assert get_params(probe, "publish_rate_hz", "mesh_rate_hz") == [1.0, 0.5]
        # a run-time rate: accepted, read back, and /diagnostics comes at the new rate
        before = diagnostics_rate_hz(probe, 3.0)
        (res,) = set_params(probe, diagnostics_rate_hz=8)  # an integer for a float parameter, as YAML allows
        assert res.successful, res.reason
        assert get_params(probe, "diagnostics_rate_hz") == [8]
        after = diagnostics_rate_hz(probe, 3.0)
        assert before <= 1.7 and after >= 3.0 * max(before, 1.0), (before, after)
        assert node.count("parameters set: diagnostics_rate_hz=8") == 1
        assert node.alive() and "Traceback" not in node.output, node.output
    finally:
        node.stop()
        probe.close()


@pytest.fixture
def node():
    """An in-process node (FakeMapper, pose topic) whose worker is stopped."""
    from fake_mapper import FakeMapper

    from gnesf_ros.ros.node import MappingNode

    context = rclpy.Context()
    rclpy.init(context=context)
    n = MappingNode(FakeMapper, context=context, parameter_overrides=[
        rclpy.parameter.Parameter("pose_source", value="pose_stamped")])
    n.stop()
    yield n
    n.destroy_node()
    rclpy.try_shutdown(context=context)


def test_run_time_parameters_take_effect(node):
    from rclpy.parameter import Parameter

    from gnesf_ros.ros.params import RUNTIME_PARAMETERS, MeshColor, parameter_specs

    descriptors = node.describe_parameters([s.name for s in parameter_specs()])
    assert {d.name for d in descriptors if not d.read_only} == set(RUNTIME_PARAMETERS)
    node.mesh_outputs._subscribers = 3  # as if three viewers had their blocks already
    results = node.set_parameters([Parameter("mesh_color", value="confidence"), Parameter("print_timings", value=True),
                                   Parameter("thin_non_keyframes", value=False), Parameter("queue_size", value=7),
                                   Parameter("bad_input_log_period_s", value=2.5),
                                   Parameter("obstacle_rate_hz", value=4.0), Parameter("publish_rate_hz", value=5.0),
                                   Parameter("mesh_rate_hz", value=2.0)])
    assert all(r.successful for r in results), [r.reason for r in results]
    p = node.params
    assert (p.mesh_color, p.print_timings, p.thin_non_keyframes, p.queue_size) == (MeshColor.CONFIDENCE, True, False, 7)
    assert node.mesh_outputs.color is MeshColor.CONFIDENCE and node.mesh_outputs._subscribers == 0  # all resent
    assert node.stats.log_period_s == 2.5
    assert node.navigation.config.obstacle_rate_hz == 4.0 and node.navigation.obstacle_timer.timer_period_ns == 250_000_000
    assert node._cloud_timer.timer_period_ns == 200_000_000
    assert node.mesh_outputs.timer.timer_period_ns == 500_000_000
    # a bad value anywhere in one request: nothing of it is applied
    res = node.set_parameters_atomically([Parameter("queue_size", value=3), Parameter("mesh_color", value="grey")])
    assert not res.successful and "mesh_color must be one of" in res.reason
    assert node.params.queue_size == 7 and node.get_parameter("queue_size").value == 7
    # read-only: refused by its descriptor
    (res,) = node.set_parameters([Parameter("map_frame", value="odom")])
    assert not res.successful and "read-only" in res.reason and node.params.map_frame == "map"
