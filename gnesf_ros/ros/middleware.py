"""Middleware settings the project's own processes (the mapping and segmenter nodes, `gnesf-play`) give themselves.

Fast DDS repairs a lost sample of a reliable writer only after the writer's next heartbeat, every 3 s by default;
by then a KEEP_LAST writer may have dropped it, and until it is repaired the reader holds back every later sample
of that topic (reliable delivery is in order). Replaying a 30 Hz 640x480 scan into a busy node at 1x, this stalled
`color/camera_info` for seconds and lost 2-30 of 150 (2026-12-04, test/ros/test_realtime_replay.py's set-up); with
a 50 ms heartbeat none of 150 were lost in any run. The profile below sets only that (no transport, no QoS), so the
processes still talk to any other ROS 2 process, local or remote, with whatever settings those use.

It is applied through FASTDDS_DEFAULT_PROFILES_FILE in the process's own environment before rclpy.init, and only
where the user has not chosen a profile and the RMW is Fast DDS: nobody has to export anything in a shell.
No rclpy import here.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
FASTDDS_RMWS = ("", "rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")  # "" = the default RMW (Fast DDS)
HEARTBEAT_PERIOD_NS = 50_000_000

PROFILE_XML = f"""<?xml version="1.0" encoding="UTF-8" ?>
<!-- gnesf_ros: reliable writers announce their samples every {HEARTBEAT_PERIOD_NS // 1_000_000} ms, so a lost
     sample is repaired before it leaves the writer's history (gnesf_ros/ros/middleware.py) -->
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <data_writer profile_name="gnesf_ros_writer" is_default_profile="true">
      <times>
        <heartbeat_period>
          <sec>0</sec>
          <nanosec>{HEARTBEAT_PERIOD_NS}</nanosec>
        </heartbeat_period>
      </times>
    </data_writer>
  </profiles>
</dds>
"""


def profile_path(folder: str | Path | None = None) -> Path:
    """Write the profile (once; its name carries a hash of its content) and return its path."""
    digest = hashlib.sha256(PROFILE_XML.encode()).hexdigest()[:12]
    path = Path(folder or tempfile.gettempdir()) / f"gnesf_ros_fastdds_{digest}.xml"
    if not path.is_file() or path.read_text() != PROFILE_XML:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(PROFILE_XML)
        os.replace(tmp, path)
    return path


def apply_fastdds_profile(environ: MutableMapping[str, str] | None = None,
                          folder: str | Path | None = None) -> Path | None:
    """Point this process's Fast DDS at the project's profile, unless the user set one or another RMW is used.

    Call before rclpy.init (Fast DDS reads the variable when the first participant is created). Returns the
    profile's path, or None when nothing was changed.
    """
    env = os.environ if environ is None else environ
    if env.get(PROFILE_ENV) or env.get("RMW_IMPLEMENTATION", "") not in FASTDDS_RMWS:
        return None
    try:
        path = profile_path(folder)
    except OSError:  # an unwritable temp folder: run with Fast DDS's defaults
        return None
    env[PROFILE_ENV] = str(path)
    return path
