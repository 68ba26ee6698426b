"""Child processes of the demo: each in its own session, its output logged to a file and kept in memory, stopped
with SIGINT then SIGKILL; and a polling wait with a timeout. No ROS here (the environment is handed in)."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

from gnesf_ros.errors import DemoError
from gnesf_ros.paths import share_dir


class Child:
    """A child process in its own session; output collected to a log file and kept in memory."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.cmd = name, cmd
        self.lines: list[str] = []
        self.log = log_path.open("w")
        self.log.write("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n")
        self.log.flush()
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True, cwd=str(share_dir()))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self.log.write(line)
            self.log.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 15) -> str:
        return "\n".join("    " + ln for ln in self.lines[-n:])

    def wait_for_line(self, text: str, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(text in ln for ln in self.lines):
            if not self.alive():
                raise DemoError(f"{self.name} exited (code {self.proc.returncode}) before {what}; its last lines:\n"
                                f"{self.tail()}\n  full log: {self.log.name}")
            if time.monotonic() > deadline:
                raise DemoError(f"{self.name}: no sign of {what} within {timeout_s:.0f} s (machine overloaded? "
                                f"see {self.log.name})")
            time.sleep(0.05)

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGINT, then SIGKILL to the whole session after `timeout_s`. Returns the exit code."""
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self._reader.join(2.0)
        self.log.close()
        return self.proc.returncode


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """`predicate()` until it is truthy (returned); DemoError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)
