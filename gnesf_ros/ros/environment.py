"""Process environment for ROS 2 children that use the project's generated interfaces.

On a real ROS 2 distro, `source install/setup.bash` sets everything and the children inherit it.
In the pip environment, `tools/build_interfaces.sh` (run by `make setup`) builds `gnesf_ros_msgs`
(and a fallback `tf2_msgs`) into `build/ros_ws/install` and writes a `.pth` file into the venv so any
Python of that venv imports them without `source`. `ros_subprocess_env()` states the same paths
explicitly, so a child started with it works whatever its parent's environment was.

No rclpy import here: the module only computes paths.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from gnesf_ros.paths import PACKAGE_DIR

#: Merged colcon install prefix written by tools/build_interfaces.sh (source checkout only).
INTERFACES_INSTALL_DIR = PACKAGE_DIR.parent / "build" / "ros_ws" / "install"


def interfaces_install_dir() -> Path | None:
    """The pip-environment install prefix of the generated interfaces, or None where not built."""
    return INTERFACES_INSTALL_DIR if INTERFACES_INSTALL_DIR.is_dir() else None


def _prepend(value: str | None, entry: str) -> str:
    parts = [p for p in (value or "").split(os.pathsep) if p]
    if entry in parts:
        return os.pathsep.join(parts)
    return os.pathsep.join([entry, *parts])


def ros_subprocess_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process that imports rclpy and the generated interfaces.

    Args:
        base: environment to start from; `os.environ` when None (never modified).

    Returns:
        A new dict: `base` plus, where `build/ros_ws/install` exists, its Python site-packages on
        PYTHONPATH and its lib/ on LD_LIBRARY_PATH (the typesupport libraries are dlopen()ed by
        name). Unchanged otherwise (a sourced ROS 2 workspace already provides both).
    """
    env = dict(os.environ if base is None else base)
    install = interfaces_install_dir()
    if install is None:
        return env
    py = f"python{sys.version_info.major}.{sys.version_info.minor}"
    env["PYTHONPATH"] = _prepend(env.get("PYTHONPATH"), str(install / "lib" / py / "site-packages"))
    env["LD_LIBRARY_PATH"] = _prepend(env.get("LD_LIBRARY_PATH"), str(install / "lib"))
    return env


def split_ros_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """A command line -> (the program's own arguments, those after `--ros-args`, which rclpy.init takes)."""
    if "--ros-args" not in argv:
        return list(argv), []
    i = argv.index("--ros-args")
    return argv[:i], argv[i + 1:]
