"""tools/install_ros_layout.py: the layout `ros2 launch` / `ros2 run` need, installed into a tmp prefix.

No launch stack needed: the package index is queried with ament_index_python (a pinned wheel, a dependency of
ros-rclpy), the executables are run, and the venv hook is executed the way `site` executes a .pth file.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ament_index_python.packages import get_package_prefix, get_package_share_directory

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "install_ros_layout.py"
SHARE_FILES = ["package.xml", "launch/mapping.launch.py", "launch/replay.launch.py", "config/mapping.yaml",
               "config/scannet20.yaml", "rviz/gnesf.rviz"]
PY = f"python{sys.version_info[0]}.{sys.version_info[1]}"


def console_scripts() -> set[str]:
    """The console script names setup.py registers, read from its text (independently of the tool)."""
    return set(re.findall(r'"([\w-]+) = gnesf_ros[\w.]*:\w+"', (ROOT / "setup.py").read_text()))


def run_tool(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(TOOL), *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(prefix, venv): the layout installed into a tmp prefix, over a stale one, with the hook in a tmp venv."""
    tmp = tmp_path_factory.mktemp("ros_layout")
    prefix, venv = tmp / "install", tmp / "venv"
    (venv / "lib" / PY / "site-packages").mkdir(parents=True)
    # A stale install: a symlinked launch/ folder (which ros2launch ignores) and a file no longer in the package.
    (prefix / "share" / "gnesf_ros").mkdir(parents=True)
    (prefix / "share" / "gnesf_ros" / "launch").symlink_to(ROOT / "launch")
    (prefix / "lib" / "gnesf_ros").mkdir(parents=True)
    (prefix / "lib" / "gnesf_ros" / "old_script").write_text("#!/bin/sh\n")
    result = run_tool("--prefix", str(prefix), "--venv", str(venv))
    assert result.returncode == 0, result.stderr
    assert f"under {prefix}" in result.stdout
    return prefix, venv


def test_marker_and_share_files_are_real_copies(installed):
    prefix, _ = installed
    assert (prefix / "share/ament_index/resource_index/packages/gnesf_ros").is_file()
    share = prefix / "share" / "gnesf_ros"
    assert not (share / "launch").is_symlink(), "ros2launch does not follow a symlinked launch/ folder"
    for name in SHARE_FILES:
        path = share / name
        assert path.is_file() and not path.is_symlink(), name
        assert path.read_bytes() == (ROOT / name).read_bytes(), name
    # Every launch/config/rviz file of the source tree, nothing else (re-running removed the stale ones).
    for folder, pattern in (("launch", "*.launch.py"), ("config", "*.yaml"), ("rviz", "*.rviz")):
        assert sorted(p.name for p in (share / folder).iterdir()) == sorted(p.name for p in (ROOT / folder).glob(pattern))


def test_each_console_script_is_an_executable(installed):
    prefix, _ = installed
    lib = prefix / "lib" / "gnesf_ros"
    names = console_scripts()
    assert {"mapping_node", "gnesf-play", "gnesf-bag", "gnesf-record"} <= names
    assert {p.name for p in lib.iterdir()} == names  # old_script is gone
    for name in names:
        assert os.access(lib / name, os.X_OK), name


def test_executables_run_the_entry_points(installed):
    prefix, _ = installed
    lib = prefix / "lib" / "gnesf_ros"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
           "ROS_DOMAIN_ID": str(100 + os.getpid() % 100)}
    for name in sorted(console_scripts() - {"mapping_node", "segmenter_node"}):  # argparse CLIs: --help exits 0 with their usage
        result = subprocess.run([str(lib / name), "--help"], env=env, capture_output=True, text=True, timeout=120,
                                cwd=prefix)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert f"usage: {name}" in result.stdout, name
    # The node takes --ros-args only: a bad parameter proves its main() ran (clean configuration error, exit 2).
    result = subprocess.run([str(lib / "mapping_node"), "--ros-args", "-p", "input_qos:=bogus"], env=env,
                            capture_output=True, text=True, timeout=120, cwd=prefix)
    assert result.returncode == 2, result.stderr
    assert "input_qos must be one of" in result.stdout + result.stderr
    result = subprocess.run([str(lib / "segmenter_node"), "--ros-args", "-p", "checkpoint:=/nonexistent/seg.pt"],
                            env=env, capture_output=True, text=True, timeout=120, cwd=prefix)
    assert result.returncode == 2, result.stderr
    assert "no segmenter checkpoint at /nonexistent/seg.pt" in result.stdout + result.stderr


def test_package_index_finds_the_prefix(installed, monkeypatch):
    prefix, _ = installed
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{prefix}{os.pathsep}{sys.prefix}")
    assert Path(get_package_share_directory("gnesf_ros")) == prefix / "share" / "gnesf_ros"
    # Where launch_ros (ExecutableInPackage) and `ros2 run` look for an executable.
    assert (Path(get_package_prefix("gnesf_ros")) / "lib" / "gnesf_ros" / "mapping_node").is_file()


def test_venv_hook_adds_the_prefixes_after_a_sourced_workspace(installed, tmp_path):
    prefix, venv = installed
    site = venv / "lib" / PY / "site-packages"
    (hook,) = site.glob("*.pth")
    probe = "import os, site, sys; site.addsitedir(sys.argv[1]); print(os.environ.get('AMENT_PREFIX_PATH'))"

    def ament_prefix_path(start: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "AMENT_PREFIX_PATH"}
        if start is not None:
            env["AMENT_PREFIX_PATH"] = start
        # -S: no site-packages of this interpreter, so only the hook under test runs.
        result = subprocess.run([sys.executable, "-S", "-c", probe, str(site)], env=env, capture_output=True,
                                text=True, timeout=60, check=True)
        return result.stdout.strip()

    ours = [str(prefix), str(venv)]
    assert ament_prefix_path(None).split(os.pathsep) == ours
    overlay = str(tmp_path / "ws" / "install")
    assert ament_prefix_path(overlay).split(os.pathsep) == [overlay, *ours]  # a sourced workspace keeps precedence
    already = os.pathsep.join([str(venv), overlay, str(prefix)])
    assert ament_prefix_path(already) == already  # nothing to add: unchanged (a re-executed Python)
    assert hook.name.endswith(".pth") and hook.name < "ros_wheels_bootstrapper.pth"


def test_bad_prefix_and_venv_are_clear_errors(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = run_tool("--prefix", str(blocked / "install"))
    assert result.returncode == 1 and "install_ros_layout: error:" in result.stderr
    result = run_tool("--prefix", str(tmp_path / "p"), "--venv", str(tmp_path / "not_a_venv"))
    assert result.returncode == 1
    assert re.search(r"--venv .*not_a_venv: expected a virtual environment with .*site-packages", result.stderr)
