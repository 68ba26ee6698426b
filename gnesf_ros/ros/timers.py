"""Run-time rate changes of rclpy timers (`ros2 param set` on a `*_rate_hz` parameter, 2026-12-04)."""
from __future__ import annotations

from typing import Any


def set_timer_rate(timer: Any, rate_hz: float) -> None:
    """Give a running rclpy timer the period 1 / rate_hz (Hz > 0), counted from now."""
    timer.timer_period_ns = int(round(1e9 / rate_hz))
    timer.reset()
