#!/usr/bin/env bash
# Builds the custom ROS 2 interfaces (gnesf_ros_msgs, and a wire-compatible tf2_msgs where
# no tf2_msgs is importable) with colcon + ament_cmake + rosidl in the pip environment,
# i.e. without a ROS 2 distro, and makes them importable from that environment without
# `source`.  Called by 'make setup'.  On a real ROS 2 distro use plain `colcon build`.
#
#   tools/build_interfaces.sh [VENV]      (VENV defaults to $VIRTUAL_ENV, then ./.venv)
#
# Result: build/ros_ws/{build,install,log} (merged install), and
# VENV/lib/python3.X/site-packages/gnesf_ros_interfaces.pth, which puts the install's
# site-packages on sys.path and its lib/ on LD_LIBRARY_PATH (before the ROS wheels'
# bootstrapper re-executes Python with its own library path).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "${1:-${VIRTUAL_ENV:-$ROOT/.venv}}" && pwd)"
PY="$VENV/bin/python"
WS="$ROOT/build/ros_ws"
INSTALL="$WS/install"

[ -x "$PY" ] || { echo "build_interfaces: no Python at $PY (run 'make setup')" >&2; exit 1; }
PYVER="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
SITE="$VENV/lib/python$PYVER/site-packages"
PTH="$SITE/gnesf_ros_interfaces.pth"

# 1. Build tools (colcon, ament_cmake, rosidl generators) from pinned wheels.
"$VENV/bin/pip" install -q -c "$ROOT/requirements/constraints.txt" -r "$ROOT/requirements/interfaces.txt"

# 2. Which packages: tf2_msgs only where none is importable (it is not on PyPI); our own
#    fallback from an earlier run does not count as found.
PACKAGES=(gnesf_ros_msgs)
BASE_PATHS=("$ROOT/gnesf_ros_msgs")
TF2_MSGS_AT="$("$PY" -c 'import tf2_msgs.msg as m; print(m.__file__)' 2>/dev/null || true)"
if [ -z "$TF2_MSGS_AT" ] || [[ "$TF2_MSGS_AT" == "$INSTALL/"* ]]; then
  PACKAGES+=(tf2_msgs)
  BASE_PATHS+=("$ROOT/tools/fallback_interfaces/tf2_msgs")
fi

# 3. colcon build against the wheels: the ament/rosidl CMake configs live in VENV/share,
#    the injected CMake file repairs the wheels' exported Python include directories,
#    and an absolute RPATH lets the generated libraries find each other and the wheels'.
export PATH="$VENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export MAKEFLAGS="${MAKEFLAGS:--j2}"
export PYTHONWARNINGS="ignore"
mkdir -p "$WS"
cd "$ROOT"
echo "build_interfaces: colcon build ${PACKAGES[*]} -> ${INSTALL#$ROOT/}"
colcon --log-base "$WS/log" build \
  --base-paths "${BASE_PATHS[@]}" \
  --build-base "$WS/build" --install-base "$INSTALL" --merge-install \
  --parallel-workers 1 --event-handlers console_cohesion- summary- status- \
  --cmake-args \
    -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    "-DPython3_EXECUTABLE=$PY" \
    "-DCMAKE_PROJECT_INCLUDE=$ROOT/tools/cmake/pip_wheels_fix.cmake" \
    "-DCMAKE_INSTALL_RPATH=$INSTALL/lib;$VENV/lib" \
  >"$WS/colcon-build.out" 2>&1 || { cat "$WS/colcon-build.out" >&2; exit 1; }

# 4. Importable without `source`: a sys.path entry, and install/lib on LD_LIBRARY_PATH
#    (the typesupport libraries are dlopen()ed by bare name, so RPATH is not enough).
#    This .pth runs before ros_wheels_bootstrapper.pth (sorted by name), which then
#    re-executes Python with that library path; where the bootstrap already ran without
#    our directory (an inherited environment), clearing its guard makes it run again.
cat >"$PTH" <<EOF
$INSTALL/lib/python$PYVER/site-packages
import os; _d = '$INSTALL/lib'; _p = os.environ.get('LD_LIBRARY_PATH', ''); _d in _p.split(':') or (os.environ.__setitem__('LD_LIBRARY_PATH', _d + (':' + _p if _p else '')), os.environ.pop('_ROS_WHEELS_BOOTSTRAP_COMPLETE', None))
EOF

"$PY" -c 'from gnesf_ros_msgs.msg import ClassList; from tf2_msgs.msg import TFMessage' \
  || { echo "build_interfaces: the built interfaces do not import" >&2; exit 1; }
echo "build_interfaces: ok (${PACKAGES[*]})"
