#!/usr/bin/env python3
"""Installs gnesf_ros's ROS 2 package layout into a prefix, so that `ros2 launch` / `ros2 run` find it.

    python tools/install_ros_layout.py [--prefix PREFIX] [--python PY] [--venv VENV]

An editable pip install puts none of what the ament package index and launch_ros look for on
AMENT_PREFIX_PATH. This writes, under PREFIX (default: build/ros_ws/install, the merged prefix where
tools/build_interfaces.sh puts gnesf_ros_msgs, so that one prefix holds both packages exactly as a
colcon merged install would):

- share/ament_index/resource_index/packages/gnesf_ros   (the package-index marker)
- share/gnesf_ros/{package.xml, launch/, config/, rviz/} (real copies: ros2launch does not follow a
  symlinked launch/ folder)
- lib/gnesf_ros/<console script>                        (an executable per console script of setup.py,
  running PY, default this interpreter, on its entry point)

The file lists are setup.py's own `data_files` and `console_scripts` (the ones colcon installs), read
with distutils' run_setup, so the two install routes cannot drift apart. share/gnesf_ros and
lib/gnesf_ros are replaced as a whole on every run, so re-running refreshes them (removed files go too).

With --venv, also writes VENV's `gnesf_ros_ament.pth`: every Python of that venv (the node, `ros2`, tests)
then starts with PREFIX and VENV (where the ROS wheels keep their own package index) on AMENT_PREFIX_PATH,
after any workspace already there; the ROS wheels' bootstrapper passes the variable on when it re-executes Python.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "gnesf_ros"
HOOK_NAME = f"{PACKAGE}_ament.pth"


def setup_py_contents(root: Path = ROOT) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """setup.py's (data_files, console_scripts), evaluated in `root` (its globs are relative to it)."""
    from distutils.core import run_setup  # setuptools' copy of distutils

    cwd = os.getcwd()
    try:
        os.chdir(root)
        dist = run_setup(str(root / "setup.py"), stop_after="init")
    finally:
        os.chdir(cwd)
    return list(dist.data_files or []), list((dist.entry_points or {}).get("console_scripts", []))


def wrapper_text(name: str, entry_point: str, python: str) -> str:
    """An executable for `name = module:function`: a Python script that /bin/sh hands to `python`.

    The two-line /bin/sh preamble (the form pip uses for long interpreter paths) is a no-op string for
    Python; it keeps the file independent of the kernel's shebang length limit and of spaces in `python`.
    """
    module, _, function = (part.strip() for part in entry_point.partition(":"))
    if not module or not function.isidentifier():
        raise ValueError(f"console script {name!r}: expected 'module:function', got {entry_point!r} (setup.py)")
    if "'''" in python:
        raise ValueError(f"interpreter path {python!r} contains ''' and cannot be written into a wrapper")
    return (f"#!/bin/sh\n"
            f"'''exec' {shlex.quote(python)} \"$0\" \"$@\"\n"
            f"' '''\n"
            f"# {name}: console script of {PACKAGE} ({module}:{function}), written by tools/install_ros_layout.py.\n"
            f"import sys\n"
            f"from {module} import {function}\n"
            f"sys.exit({function}())\n")


def hook_text(prefix: Path, venv: Path) -> str:
    """One .pth line adding `prefix` and `venv` to AMENT_PREFIX_PATH where missing, at the end: a workspace the
    user sourced (e.g. a colcon install of gnesf_ros) keeps precedence; a re-executed Python changes nothing.

    `site` exec()s the line in a function scope, where a comprehension cannot see the line's own variables:
    hence filter() and dict.fromkeys() (ordered de-duplication) instead.
    """
    return ("import os; _p = list(filter(None, os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep))); "
            "os.environ['AMENT_PREFIX_PATH'] = os.pathsep.join(dict.fromkeys(_p + "
            + repr([str(prefix), str(venv)]) + "))\n")


def install(prefix: Path, python: str, root: Path = ROOT, venv: Path | None = None) -> list[Path]:
    """Write the layout under `prefix` (and the AMENT_PREFIX_PATH hook into `venv`); returns the written files."""
    prefix, python = prefix.resolve(), os.path.abspath(python)  # the venv's bin/python, not its symlink target
    data_files, console_scripts = setup_py_contents(root)
    for owned in (prefix / "share" / PACKAGE, prefix / "lib" / PACKAGE):
        if owned.is_symlink() or owned.is_file():
            owned.unlink()
        elif owned.is_dir():
            shutil.rmtree(owned)
    written = []
    for target_dir, sources in data_files:
        (prefix / target_dir).mkdir(parents=True, exist_ok=True)
        for source in sources:
            target = prefix / target_dir / Path(source).name
            if target.is_symlink():
                target.unlink()
            shutil.copyfile(root / source, target)  # a real file, never a link
            written.append(target)
    if not console_scripts:
        raise ValueError(f"{root / 'setup.py'}: no console_scripts found; expected at least mapping_node")
    lib = prefix / "lib" / PACKAGE
    lib.mkdir(parents=True, exist_ok=True)
    for spec in console_scripts:
        name, _, entry_point = (part.strip() for part in spec.partition("="))
        target = lib / name
        target.write_text(wrapper_text(name, entry_point, python))
        target.chmod(0o755)
        written.append(target)
    if venv is not None:
        site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        if not site.is_dir():
            raise FileNotFoundError(f"--venv {venv}: expected a virtual environment with {site}, found none")
        (site / HOOK_NAME).write_text(hook_text(prefix, venv.resolve()))
        written.append(site / HOOK_NAME)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="install_ros_layout.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--prefix", type=Path, default=ROOT / "build" / "ros_ws" / "install",
                   help="install prefix (default: build/ros_ws/install)")
    p.add_argument("--python", default=sys.executable,
                   help="interpreter the executables run; it must import gnesf_ros (default: this one)")
    p.add_argument("--venv", type=Path, default=None,
                   help="also make this venv's Python put PREFIX and VENV on AMENT_PREFIX_PATH (a .pth file)")
    args = p.parse_args(argv)
    try:
        written = install(args.prefix, args.python, ROOT, args.venv)
    except (OSError, ValueError) as exc:
        print(f"install_ros_layout: error: {exc}", file=sys.stderr)
        return 1
    print(f"install_ros_layout: {len(written)} files of {PACKAGE} under {args.prefix.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
