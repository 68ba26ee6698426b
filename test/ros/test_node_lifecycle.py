"""Pose from a topic instead of TF, a quiet wait for the first pose, probability input, and clean shutdown."""
import signal
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from ros_harness import NodeProcess, Probe, publish  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(300)]

FAST = {"input_qos": "reliable", "queue_size": 20, "publish_rate_hz": 5.0, "diagnostics_rate_hz": 5.0,
        "tf_lookup_timeout_s": 0.3, "voxel_size_m": 0.1}


@pytest.fixture(scope="module")
def probe():
    p = Probe()
    yield p
    p.close()


def test_pose_from_odometry_topic_and_quiet_start(probe, tmp_path):
    save_path = tmp_path / "shutdown.map"
    node = NodeProcess({**FAST, "pose_source": "odometry", "save_on_shutdown": str(save_path)})
    try:
        node.wait_ready()
        # two frames before any pose exists: waited for quietly (counted, not reported as bad input)
        publish("no_pose:2,good:2,probs:1", pose_source="odometry")
        probe.wait_diag("frames_mapped", 3)
        assert probe.diag_int("waiting_for_pose") == 2
        assert node.count("[bad input") == 0, node.output
        assert node.count("waiting for the pose of") == 1
        assert probe.diag_int("mapper.voxels") > 0
        # SIGINT: clean exit within 2 s, the map saved on the way out
        seconds = node.stop(signal.SIGINT)
        assert node.proc.returncode == 0, node.output
        assert seconds < 2.0 + 1.0  # save_on_shutdown included; the plain exit is tested below
        assert save_path.is_file() and save_path.stat().st_size > 0
        assert "Traceback" not in node.output and "saved map to" in node.output
    finally:
        node.stop(signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_exits_cleanly_within_2_s(probe, sig):
    node = NodeProcess({**FAST, "pose_source": "pose_stamped"})
    try:
        node.wait_ready()
        publish("good:2", pose_source="pose_stamped")  # the worker has run and the timers are publishing
        probe.wait_diag("frames_mapped", 2)
        seconds = node.stop(sig)
        assert seconds < 2.0, f"exit took {seconds:.2f} s"
        assert node.proc.returncode == 0, node.output
        assert "Traceback" not in node.output, node.output
    finally:
        node.stop(signal.SIGKILL)


def test_bad_parameters_fail_fast_with_a_clear_message():
    node = NodeProcess({"pose_source": "gps"})
    node.proc.wait(60)
    node._reader.join(5)
    assert node.proc.returncode == 2
    assert "pose_source must be one of ('tf', 'pose_stamped', 'odometry'), got 'gps'" in node.output
