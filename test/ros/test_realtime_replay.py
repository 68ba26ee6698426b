"""1x replay of a 30 Hz scan over real DDS, as a user runs it: the default config/mapping.yaml, the real mapper,
`gnesf-play` in its own process, and no middleware variable in anybody's environment (conftest's
FASTDDS_BUILTIN_TRANSPORTS is removed from the children). Every frame must reach the node (received == published
on every input stream) and be mapped or deliberately thinned (>= 95%); what is dropped is counted.

Also: /clock from `gnesf-play --clock` drives every timer of a node with use_sim_time.
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy (ROS 2 wheels) not installed")
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from ros_harness import REPO, NodeProcess, Probe, latched_qos, subprocess_env, wait_until  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(900)]

STREAMS = {"color": "/color/image", "camera_info": "/color/camera_info", "depth": "/depth/image",
           "semantic": "/semantic/image", "confidence": "/semantic/confidence"}


def user_env() -> dict[str, str]:
    """The children's environment without the middleware settings a user would not have exported."""
    env = subprocess_env()
    for name in ("FASTDDS_BUILTIN_TRANSPORTS", "FASTDDS_DEFAULT_PROFILES_FILE"):
        env.pop(name, None)
    return env


class UserNode(NodeProcess):
    """NodeProcess started with `user_env()`."""

    def __init__(self, params: dict | None = None, real_mapper: bool = False) -> None:
        import ros_harness

        original = ros_harness.subprocess_env
        ros_harness.subprocess_env = user_env
        try:
            super().__init__(params, real_mapper)
        finally:
            ros_harness.subprocess_env = original


def play(bag: Path, *args: str, timeout_s: float = 300.0) -> tuple[int, str]:
    res = subprocess.run([sys.executable, "-m", "gnesf_ros.cli.play", str(bag), *args], cwd=REPO, env=user_env(),
                         capture_output=True, text=True, timeout=timeout_s)
    return res.returncode, res.stdout + res.stderr


def _accounted(diag: dict[str, str]) -> int:
    """Frames the node mapped, thinned or dropped for a counted reason."""
    return sum(int(diag.get(k, "0")) for k in ("frames_mapped", "thinned_non_keyframes", "dropped.queue_full")) + sum(
        int(v) for k, v in diag.items() if k.startswith("bad_input."))


@pytest.mark.slow
def test_1x_replay_of_a_300_frame_scan_accounts_for_every_frame(tmp_path, monkeypatch):
    """Every frame reaches the node (300 of 300 on every stream), is mapped, thinned or dropped for a counted reason,
    and >= 95% are mapped or thinned. Some full-suite runs on 2026-12-04 received 298-299 of 300: an input reader's
    history (then sync_queue_size, 60 = 2 s) overwrites its oldest unread message when the executor falls behind.
    The readers now keep input_history_depth (150 = 5 s); on 2026-12-05 this test received 300 of 300 on every
    stream in 3 runs, one with a CPU-bound process beside it (so did one such run with depth 60: this replay alone
    does not reproduce the loss; docs/ros_interface.md, "Real-time input")."""
    from gnesf_ros.data.bag import convert_synthetic

    bag = tmp_path / "scan"
    convert_synthetic(2001, bag, frames=300, height=120, width=160, progress=False)  # 30 Hz stamps, 10 s
    # The listener too is a user's process: Fast DDS's default transports, as the node and the player here (the
    # test session's LARGE_DATA shares only shared memory with them; read when the probe's participant is made).
    for name in ("FASTDDS_BUILTIN_TRANSPORTS", "FASTDDS_DEFAULT_PROFILES_FILE"):
        monkeypatch.delenv(name, raising=False)
    probe = Probe()
    node = UserNode(real_mapper=True)  # config/mapping.yaml as shipped
    try:
        node.wait_ready(timeout_s=180.0)
        code, out = play(bag, "--wait-for-subscribers")  # returns once the node acknowledged what it got
        assert code == 0, out
        assert re.search(r"published 2401 message\(s\)", out), out  # 300 x 8 topics + /tf_static

        # the node works through its queue of keyframes after the bag ends; settled = the same counters 2 s apart
        def settled() -> bool:
            first = dict(probe.diag)
            if first.get("queue.length") != "0" or _accounted(first) != int(first.get("sync.emitted", "-1")):
                return False
            time.sleep(2.0)
            return probe.diag.get("sync.emitted") == first.get("sync.emitted") and _accounted(probe.diag) == \
                _accounted(first)

        silent = _Silence(probe, node)
        try:
            wait_until(lambda: silent() or settled(), 600, "the node to settle")
        except TimeoutError:
            pytest.fail(_stall_report(probe, node))
        assert settled(), _stall_report(probe, node)
        d = probe.diag
        for stream in STREAMS:
            assert probe.diag_int(f"received.{stream}") == 300, f"{stream} lost in transport: {d}"
        assert probe.diag_int("sync.dropped_overflow") == 0 and probe.diag_int("sync.dropped_unmatched") <= 3, d
        mapped, thinned = probe.diag_int("frames_mapped"), probe.diag_int("thinned_non_keyframes")
        assert mapped + thinned >= 0.95 * 300, d
        assert probe.diag_int("keyframes") >= 30, d  # the scan's 45 keyframes (0.1 m / 15 deg) are mapped
        assert d.get("latency_ms.applicable") == "False", d  # synthetic stamps start at 0 s: not wall-clock
        assert "Traceback" not in node.output, node.output
    finally:
        node.stop()
        probe.close()


class _Silence:
    """Callable: True once no mapping diagnostics reached the probe for `quiet_s` (published at 1 Hz) or the node
    died, so a stall fails in seconds with evidence instead of at the settle timeout."""

    def __init__(self, probe: Probe, node: UserNode, quiet_s: float = 30.0) -> None:
        self.probe, self.node, self.quiet_s = probe, node, quiet_s
        self.count, self.since = -1, time.monotonic()

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.probe.diag_messages != self.count:
            self.count, self.since = self.probe.diag_messages, now
        return not self.node.alive() or now - self.since > self.quiet_s


def _stall_report(probe: Probe, node: UserNode) -> str:
    """What a stall looks like from outside: the probe's last diagnostics, what a fresh listener process hears on
    /diagnostics, and the node's output with its threads' stacks."""
    code = ("import rclpy, time\nfrom diagnostic_msgs.msg import DiagnosticArray\nrclpy.init()\n"
            "n = rclpy.create_node('stall_listener')\ngot = []\n"
            "n.create_subscription(DiagnosticArray, '/diagnostics', lambda m: got.extend(\n"
            "    {kv.key: kv.value for kv in s.values} for s in m.status if s.name.endswith(': mapping')), 10)\n"
            "end = time.time() + 5\nwhile time.time() < end: rclpy.spin_once(n, timeout_sec=0.1)\n"
            "print(len(got), got[-1] if got else None)\n")
    if node.alive():
        node.proc.send_signal(signal.SIGUSR1)  # the node prints every thread's stack (faulthandler)
    try:
        res = subprocess.run([sys.executable, "-c", code], env=user_env(), capture_output=True, text=True, timeout=60)
        fresh = (res.stdout + res.stderr[-1500:]).strip()
    except subprocess.TimeoutExpired:
        fresh = "(the listener process timed out)"
    return (f"the node did not settle: node alive {node.alive()}, {probe.diag_messages} diagnostics messages "
            f"reached the probe (errors {probe.errors}); its last: {probe.diag}\n"
            f"a fresh listener process heard in 5 s: {fresh}\nnode output (tail):\n{node.output[-8000:]}")


def _sim_bag(path: Path, frames: int = 90) -> list[int]:
    """A small scan stamped from 5 s (not 0: ROS time 0 means "no time yet" under use_sim_time)."""
    from gnesf_ros.data.bag import write_frames_to_bag
    from gnesf_ros.data.synthetic import SyntheticScan

    scan = SyntheticScan(2002, num_frames=frames, height=48, width=64)
    pairs = []
    for i in range(frames):
        frame, view = scan.frame(i)
        frame.stamp_ns = 5_000_000_000 + i * 33_333_333
        if frame.depth_m is None:
            frame.depth_m = np.asarray(view.depth_m, np.float32)
        pairs.append((frame, None))
    write_frames_to_bag(path, pairs, progress=False)
    return [f.stamp_ns for f, _ in pairs]


def test_use_sim_time_timers_run_on_the_players_clock(tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import PointCloud2

    stamps = _sim_bag(tmp_path / "bag")
    probe = Probe()
    diags = probe.subscribe(DiagnosticArray, "/diagnostics", 10)
    clouds = probe.subscribe(PointCloud2, "/gnesf_mapping/semantic_cloud", latched_qos())
    node = UserNode({"use_sim_time": True, "pose_source": "pose_stamped", "geometry_source": "depth"})
    try:
        node.wait_ready()
        code, out = play(tmp_path / "bag", "--clock", "--wait-for-subscribers", "--rate", "0.5")
        assert code == 0, out
        wait_until(lambda: any(c.width > 0 for c in clouds), 30, "a non-empty cloud")
        wait_until(lambda: diags, 30, "diagnostics")

        def ns(stamp):
            return stamp.sec * 10**9 + stamp.nanosec

        lo, hi = stamps[0], stamps[-1]
        # both timers fired on /clock: their messages carry the bag's time, not the wall clock's
        sim_diags = [ns(d.header.stamp) for d in diags if lo <= ns(d.header.stamp) <= hi]
        assert len(sim_diags) >= 2, [ns(d.header.stamp) for d in diags]
        full = [c for c in clouds if c.width > 0]
        assert all(lo <= ns(c.header.stamp) <= hi for c in full), [ns(c.header.stamp) for c in full]
        assert probe.diag.get("latency_ms.applicable") == "True"  # bag stamps on the (sim) clock: applicable
        assert "Traceback" not in node.output
    finally:
        node.stop()
        probe.close()


def test_a_best_effort_camera_driver_is_reported_not_silently_unmatched():
    """Reliable inputs do not match a best-effort publisher: the node says so and what to set."""
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    probe = Probe()
    node = UserNode()
    try:
        node.wait_ready()
        probe.node.create_publisher(Image, "/color/image", qos_profile_sensor_data)
        wait_until(lambda: probe.diag_int("bad_input.incompatible_qos") >= 1, 60,
                   f"incompatible_qos in diagnostics ({probe.diag})")
        wait_until(lambda: node.count("[bad input: incompatible_qos]"), 10, "the log line")
        line = next(ln for ln in node.lines if "incompatible_qos" in ln)
        assert "a publisher of color/image offers a QoS that does not match input_qos 'reliable'" in line
        assert "needs input_qos 'sensor_data'" in line
    finally:
        node.stop()
        probe.close()
