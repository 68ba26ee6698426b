"""Test harness: the node in a subprocess, a publisher process, and an in-test probe node (subscribers, clients).

Every wait polls a condition with a timeout; nothing sleeps a fixed time hoping something happened.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gnesf_ros.ros.probe import GraphProbe

REPO = Path(__file__).resolve().parents[3]
HELPERS = Path(__file__).resolve().parent
PARAMS_FILE = REPO / "config" / "mapping.yaml"


def subprocess_env() -> dict[str, str]:
    try:
        from gnesf_ros.ros.environment import ros_subprocess_env

        env = ros_subprocess_env()
    except ImportError:  # pragma: no cover - environment.py is another module's; fall back to ours
        env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
    return env


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


class NodeProcess:
    """`gnesf_mapping` (with the FakeMapper unless `real_mapper`) in its own process; stderr+stdout collected."""

    def __init__(self, params: dict[str, Any] | None = None, real_mapper: bool = False) -> None:
        script = ["-m", "gnesf_ros.ros.node"] if real_mapper else [str(HELPERS / "fake_mapper_node.py")]
        cmd = [sys.executable, *script, "--ros-args", "--params-file", str(PARAMS_FILE)]
        for k, v in (params or {}).items():
            cmd += ["-p", f"{k}:={_param_text(v)}"]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        wait_until(lambda: not self.alive() or any("gnesf_mapping ready" in ln for ln in self.lines), timeout_s,
                   "the node to start")
        assert self.alive(), f"node exited with {self.proc.returncode}:\n{self.output}"

    def count(self, text: str) -> int:
        return sum(text in ln for ln in self.lines)

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 10.0) -> float:
        """Send `sig`; return seconds until the process exited."""
        if not self.alive():
            return 0.0
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            raise
        finally:
            self._reader.join(2.0)
        return time.monotonic() - t0


def _param_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def publish(scenario: str, pose_source: str = "tf", first_index: int = 0, timeout_s: float = 120.0,
            extra: list[str] | None = None) -> None:
    """Run the publisher process to completion; raise with its output when it fails."""
    cmd = [sys.executable, str(HELPERS / "publish_frames.py"), "--scenario", scenario, "--pose-source", pose_source,
           "--first-index", str(first_index), *(extra or [])]
    res = subprocess.run(cmd, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=timeout_s)
    if res.returncode != 0:
        raise RuntimeError(f"publisher failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")


class Probe(GraphProbe):
    """An in-test rclpy node spun in a background thread: latest diagnostics, subscriptions, service calls."""

    def __init__(self) -> None:
        super().__init__("gnesf_test_probe")

    def wait_diag(self, key: str, value: int, timeout_s: float = 60.0) -> None:
        wait_until(lambda: self.diag_int(key) == value, timeout_s,
                   f"diagnostics {key} == {value} (now {self.diag.get(key)}; all: {self.diag})")

    def call(self, srv_type: Any, name: str, request: Any, timeout_s: float = 30.0) -> Any:
        return super().call(srv_type, name, request, timeout_s)


def latched_qos():
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def cloud_points(msg: Any) -> np.ndarray:
    from gnesf_ros.ros.conversions import cloud_to_array

    return np.sort(cloud_to_array(msg), order=["x", "y", "z"])
