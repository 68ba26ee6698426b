"""Ctrl-C in a terminal: SIGINT to the node's whole process group, once or twice in quick succession (under
launch the node gets it from the terminal and again from launch). Exit code 0 within 2 s, no traceback, no rosout
error, with and without save_on_shutdown (into a folder that does not exist yet)."""
import os
import signal
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from ros_harness import NodeProcess, Probe, publish  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(300)]

PARAMS = {"pose_source": "pose_stamped", "publish_rate_hz": 5.0, "diagnostics_rate_hz": 5.0}


@pytest.fixture(scope="module")
def probe():
    p = Probe()
    yield p
    p.close()


@pytest.mark.parametrize("save", [False, True], ids=["no_save", "save_on_shutdown"])
def test_process_group_sigint_once_and_twice_exits_cleanly(probe, tmp_path, save):
    for twice in (False, True):
        path = tmp_path / f"new_{twice}" / "dir" / "shutdown.map"
        node = NodeProcess({**PARAMS, **({"save_on_shutdown": str(path)} if save else {})})
        try:
            node.wait_ready()
            probe.diag.clear()
            publish("good:2", pose_source="pose_stamped")  # the worker has run, the timers are publishing
            probe.wait_diag("frames_mapped", 2)
            assert node.proc.pid == os.getpgid(node.proc.pid)  # its own process group (start_new_session)
            t0 = time.monotonic()
            os.killpg(node.proc.pid, signal.SIGINT)
            if twice:
                time.sleep(0.02)  # launch forwards the terminal's SIGINT a moment later
                try:
                    os.killpg(node.proc.pid, signal.SIGINT)
                except ProcessLookupError:  # already gone: the second signal had nothing left to interrupt
                    pass
            node.proc.wait(10)
            seconds = time.monotonic() - t0
            node._reader.join(2.0)
            what = f"twice={twice}, save={save}:\n{node.output}"
            assert node.proc.returncode == 0, what
            assert seconds < 2.0, f"exit took {seconds:.2f} s; {what}"
            for bad in ("Traceback", "KeyboardInterrupt", "context is invalid", "Failed to publish", "[ERROR]"):
                assert bad not in node.output, what
            if save:
                assert path.is_file() and path.stat().st_size > 0, what
                assert f"saved map to {path}" in node.output
        finally:
            node.stop(signal.SIGKILL)


@pytest.mark.slow
def test_real_mapper_double_sigint_exits_cleanly(probe, tmp_path):
    """The same with the real mapper (torch loaded, its threads, a pending window), SIGINT twice after mapping."""
    path = tmp_path / "out" / "real.map"
    node = NodeProcess({**PARAMS, "save_on_shutdown": str(path), "geometry_source": "depth"}, real_mapper=True)
    try:
        node.wait_ready(timeout_s=180.0)
        probe.diag.clear()
        publish("good:3", pose_source="pose_stamped")
        probe.wait_diag("frames_mapped", 3, timeout_s=120)
        t0 = time.monotonic()
        os.killpg(node.proc.pid, signal.SIGINT)
        time.sleep(0.02)
        try:
            os.killpg(node.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        node.proc.wait(10)
        seconds = time.monotonic() - t0
        node._reader.join(2.0)
        assert node.proc.returncode == 0, node.output
        assert seconds < 2.0, f"exit took {seconds:.2f} s:\n{node.output}"
        for bad in ("Traceback", "KeyboardInterrupt", "context is invalid", "Failed to publish", "[ERROR]"):
            assert bad not in node.output, node.output
        assert path.is_file()
    finally:
        node.stop(signal.SIGKILL)


def test_sigusr1_prints_every_threads_stack_and_the_node_keeps_running(probe):
    node = NodeProcess(PARAMS)
    try:
        node.wait_ready()
        node.proc.send_signal(signal.SIGUSR1)
        from ros_harness import wait_until

        # the executor's thread (the main one, spinning) and the mapping worker (waiting for frames)
        wait_until(lambda: node.count("Current thread 0x") and node.count(" in _work"), 30,
                   f"a stack dump of every thread: {node.output}")
        assert node.count("in spin") >= 1, node.output
        assert node.alive()
        probe.diag.clear()
        publish("good:2", pose_source="pose_stamped")  # still mapping after the dump
        probe.wait_diag("frames_mapped", 2)
    finally:
        node.stop()
