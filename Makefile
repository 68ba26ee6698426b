# gnesf_ros — set-up, tests, demo, training and benchmarks.
# Every target that needs Python creates the pinned environment first.
SHELL := /bin/bash
PY_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.setup-done
REQS := requirements/base.txt requirements/constraints.txt setup.py package.xml
# Custom interfaces (gnesf_ros_msgs, fallback tf2_msgs) built by colcon into build/ros_ws.
IFACE_SRCS := requirements/interfaces.txt tools/build_interfaces.sh tools/cmake/pip_wheels_fix.cmake \
  $(wildcard gnesf_ros_msgs/CMakeLists.txt gnesf_ros_msgs/package.xml gnesf_ros_msgs/msg/*.msg gnesf_ros_msgs/srv/*.srv) \
  $(wildcard tools/fallback_interfaces/*/CMakeLists.txt tools/fallback_interfaces/*/package.xml tools/fallback_interfaces/*/msg/*.msg)

.PHONY: setup test test-fast demo train train-segmenter bench eval clean-venv

# `make setup` also installs gnesf_ros's ROS layout (package-index marker, share/gnesf_ros/{package.xml,launch,
# config,rviz}, lib/gnesf_ros/<console scripts>) into the prefix that holds gnesf_ros_msgs, and makes the venv's
# Python put that prefix and the venv on AMENT_PREFIX_PATH: `ros2 launch gnesf_ros ...` and `ros2 run` then work
# from this environment. Re-run on every `make setup` (about a second), so edited launch/config files are
# refreshed and deleted ones removed.
ROS_PREFIX := build/ros_ws/install
setup: $(STAMP)
	$(PY) tools/install_ros_layout.py --prefix $(ROS_PREFIX) --venv $(VENV)

$(STAMP): $(REQS) $(IFACE_SRCS)
	@# open3d-cpu needs Debian's libusb-1.0-0 at import time.
	@if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libusb-1.0-0 >/dev/null; \
	  else echo "open3d needs Debian's libusb-1.0-0: run 'sudo apt-get install libusb-1.0-0' and retry"; exit 1; fi; fi
	@test -x $(PY) || $(PY_SYS) -m venv $(VENV)
	$(PIP) install -q -c requirements/constraints.txt -r requirements/base.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	tools/build_interfaces.sh $(VENV)
	@touch $(STAMP)

# Rebuild the custom interfaces only (after editing a .msg/.srv; `make setup` does it too).
.PHONY: interfaces
interfaces:
	@test -x $(PY) || { echo "run 'make setup' first"; exit 1; }
	tools/build_interfaces.sh $(VENV)

test: setup
	$(PY) -m pytest test -q

test-fast: setup
	$(PY) -m pytest test -q -m "not slow"

clean-venv:
	rm -rf $(VENV)

# The one-command demo: a held-out synthetic scan through the real node (player -> gnesf_mapping -> recorder),
# outputs in demo_output/ (map.ply, renders/, report.md, recording/recording.mcap). About 3-5 minutes on 2 cores.
# DEMO_ARGS passes options, e.g. DEMO_ARGS="--random-checkpoint" (no trained model) or "--keyframe-images".
DEMO_ARGS ?=
VIEWER ?=
demo: setup
	@if [ -n "$(VIEWER)" ]; then echo "VIEWER=$(VIEWER): no live viewer ships (rerun-sdk is not pinned); open demo_output/recording/recording.mcap in Foxglove or demo_output/map.ply in any mesh viewer"; fi
	$(PY) -m gnesf_ros.demo --out demo_output $(DEMO_ARGS)

# Train the shipped checkpoint in three stages (each resumable: re-run `make train` after an interruption).
# Stage 1 learns geometry and votes end to end; stage 2 fine-tunes the vote on the true SDF; stage 3 adds
# the ray SDF loss so the learned SDF crosses zero near the depth on every ray (docs/model_card.md).
TRAIN_MINUTES ?= 60
train: setup
	$(VENV)/bin/gnesf-train --config config/train.yaml --out runs/train --resume --max-minutes $(TRAIN_MINUTES)
	$(VENV)/bin/gnesf-train --config config/train_stage2.yaml --out runs/train2 --resume \
	  --init-from runs/train/gnesf.pt --max-minutes $(TRAIN_MINUTES)
	$(VENV)/bin/gnesf-train --config config/train_stage3.yaml --out runs/train3 --resume \
	  --init-from runs/train2/gnesf.pt --max-minutes $(TRAIN_MINUTES) --install

# Train the 2D segmenter (gnesf_ros/segmentation/) on the generator's training scenes (config/segmenter_train.yaml),
# resumable, and install it as gnesf_ros/checkpoints/segmenter.pt. On a GPU machine: SEG_DEVICE=cuda.
SEG_MINUTES ?= 120  # the 4000 steps of config/segmenter_train.yaml took ~90 min on one core
SEG_DEVICE ?= cpu
train-segmenter: $(STAMP)
	$(VENV)/bin/gnesf-train-segmenter --config config/segmenter_train.yaml --out runs/segmenter --resume \
	  --max-minutes $(SEG_MINUTES) --device $(SEG_DEVICE) --install

# Mapper benchmark (one run, one machine), both geometry sources (learned, depth) against one bayes_fusion run,
# with issue 22's targets: writes bench/results.json and the CPU table in docs/benchmarks.md. DEVICE=cuda (or
# cuda:N) runs it on a GPU: bench/results_cuda.json and the GPU table (its own block; neither run overwrites the
# other's). Compare two runs: `python tools/compare_bench.py bench/results.json bench/results_cuda.json`.
# BENCH_ARGS e.g. "--checkpoint runs/train/gnesf.pt", "--geometry depth" or "--frames 300 --scaling-frames 0"
# for a quick look.
DEVICE ?= cpu
BENCH_OUT ?= $(if $(filter cuda%,$(DEVICE)),bench/results_cuda.json,bench/results.json)
BENCH_ARGS ?=
bench: setup
	$(PY) -m gnesf_ros.eval.benchmark --device $(DEVICE) --out $(BENCH_OUT) --doc docs/benchmarks.md $(BENCH_ARGS)
