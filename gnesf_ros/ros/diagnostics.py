"""Counters, rates and throttled bad-input logging of the node, and their /diagnostics message.

Plain Python (thread-safe) so the bookkeeping is tested without a graph; only `to_diagnostic_array`
touches message types.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import Any, Callable


class RateMeter:
    """Message rate (Hz) over the last `window_s` seconds."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self.count = 0

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._times.append(now)
        self.count += 1
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()

    def rate_hz(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class NodeStats:
    """Everything the node counts. `bad_input(kind, text)` counts and says whether to log now (throttled per kind)."""

    def __init__(self, log_period_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.log_period_s = log_period_s
        self._clock = clock
        self._lock = threading.Lock()
        self.counters: dict[str, int] = defaultdict(int)
        self.bad_inputs: dict[str, int] = defaultdict(int)
        self.last_bad_input: dict[str, str] = {}
        self._last_logged: dict[str, float] = {}
        self.rates: dict[str, RateMeter] = defaultdict(RateMeter)
        self.latency_s: deque[float] = deque(maxlen=50)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def tick(self, stream: str) -> None:
        with self._lock:
            self.rates[stream].tick(self._clock())

    def latency(self, seconds: float) -> None:
        with self._lock:
            self.latency_s.append(seconds)

    def bad_input(self, kind: str, text: str) -> bool:
        """Count one bad input of `kind`; True when it should be logged (first time, then once per period)."""
        with self._lock:
            self.bad_inputs[kind] += 1
            self.last_bad_input[kind] = text
            now = self._clock()
            last = self._last_logged.get(kind)
            if last is None or now - last >= self.log_period_s:
                self._last_logged[kind] = now
                return True
            return False

    def skip_bad_input(self, logger: Any, kind: str, stamp_ns: int, text: str) -> None:
        """Count one skipped input of `kind` and warn through `logger` (an rclpy logger) when `bad_input` says so:
        the one throttled line both nodes write for a frame they skip."""
        if self.bad_input(kind, text):
            logger.warning(f"[bad input: {kind}] skipping @ {stamp_ns * 1e-9:.3f} s: {text} (logged once per "
                           f"{self.log_period_s:g} s; counted in /diagnostics)")

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            lat = sorted(self.latency_s)
            return {
                "counters": dict(self.counters),
                "bad_inputs": dict(self.bad_inputs),
                "last_bad_input": dict(self.last_bad_input),
                "rates_hz": {k: m.rate_hz(now) for k, m in self.rates.items()},
                "received": {k: m.count for k, m in self.rates.items()},
                "latency_ms_median": 1e3 * lat[len(lat) // 2] if lat else 0.0,
                "latency_ms_max": 1e3 * lat[-1] if lat else 0.0,
                "latency_ms_count": len(lat),
            }


def memory_rss_mb() -> float:
    """Resident memory of this process (MB); 0 when unknown."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except Exception:  # noqa: BLE001 - psutil is optional; fall back to /proc
        try:
            with open("/proc/self/statm") as f:
                import os

                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            return 0.0


def to_diagnostic_array(name: str, hardware_id: str, stamp: Any, values: dict[str, Any], level: int,
                        message: str) -> Any:
    """One DiagnosticStatus (`values` flattened to key/value strings) in a DiagnosticArray."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    def flat(prefix: str, v: Any):
        if isinstance(v, dict):
            for k, x in sorted(v.items()):
                yield from flat(f"{prefix}.{k}" if prefix else str(k), x)
        elif isinstance(v, float):
            yield prefix, f"{v:.3f}"
        else:
            yield prefix, str(v)

    status = DiagnosticStatus(level=bytes([level]), name=name, message=message, hardware_id=hardware_id)
    status.values = [KeyValue(key=k, value=v) for k, v in flat("", values)]
    msg = DiagnosticArray()
    msg.header.stamp = stamp
    msg.status = [status]
    return msg
