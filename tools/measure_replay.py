"""Measure what a 1x replay delivers to the mapping node: per-stream received counts, synchronised, mapped,
thinned and dropped frames, read from the node's /diagnostics once it has taken every frame.

    PYTHONPATH=$PWD .venv/bin/python tools/measure_replay.py --frames 150 --size 480 640 \
        [--bag DIR] [--real-mapper] [--transport LARGE_DATA] [-p input_qos:=sensor_data ...]

The node (with the numpy stand-in mapper unless --real-mapper) and `gnesf-play` run as separate processes on a
random ROS_DOMAIN_ID, localhost only, with config/mapping.yaml plus the `-p` overrides, and without any
FASTDDS_* variable unless --transport sets FASTDDS_BUILTIN_TRANSPORTS in both. The figures in
docs/ros_interface.md ("Real-time input") were measured with it. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = ("received.", "sync.", "frames_mapped", "keyframes", "thinned_non_keyframes", "dropped.", "bad_input.",
        "queue.")


def child_env(domain: int, transport: str | None) -> dict[str, str]:
    from gnesf_ros.ros.environment import ros_subprocess_env

    env = ros_subprocess_env()
    for name in list(env):
        if name.startswith("FASTDDS_"):
            del env[name]
    env.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]))
    if transport:
        env["FASTDDS_BUILTIN_TRANSPORTS"] = transport
    return env


def wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bag", type=Path, help="bag to play (default: a synthetic scan written to a temp folder)")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--real-mapper", action="store_true", help="the real mapper (default: the numpy stand-in)")
    ap.add_argument("--transport", default=None, help="FASTDDS_BUILTIN_TRANSPORTS for both processes")
    ap.add_argument("-p", dest="params", action="append", default=[], metavar="NAME:=VALUE")
    args = ap.parse_args(argv)

    domain = random.SystemRandom().randint(101, 200)
    env = child_env(domain, args.transport)
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    with tempfile.TemporaryDirectory() as tmp:
        bag = args.bag
        if bag is None:
            from gnesf_ros.data.bag import convert_synthetic

            bag = Path(tmp) / "scan"
            convert_synthetic(args.seed, bag, frames=args.frames, height=args.size[0], width=args.size[1])
        from gnesf_ros.ros.probe import GraphProbe

        probe = GraphProbe("measure_replay_probe")
        script = ["-m", "gnesf_ros.ros.node"] if args.real_mapper else [
            str(REPO / "test" / "ros" / "helpers" / "fake_mapper_node.py")]
        cmd = [sys.executable, *script, "--ros-args", "--params-file", str(REPO / "config" / "mapping.yaml")]
        for p in args.params:
            cmd += ["-p", p]
        log = Path(tmp) / "node.log"
        node = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        try:
            wait(lambda: "gnesf_mapping ready" in log.read_text(), 300, "the node")
            t0 = time.monotonic()
            play = subprocess.run([sys.executable, "-m", "gnesf_ros.cli.play", str(bag), "--wait-for-subscribers"],
                                  cwd=REPO, env=env, capture_output=True, text=True)
            play_s = time.monotonic() - t0
            if play.returncode != 0:
                print(play.stdout + play.stderr, file=sys.stderr)
                return 1
            wait(lambda: probe.diag.get("queue.length") == "0", 900, "the node's queue to empty")
            time.sleep(3.0)  # two more diagnostics periods: the last frame's counters
            out = {"bag": str(bag), "play_s": round(play_s, 1), "params": args.params, "transport": args.transport,
                   **{k: v for k, v in sorted(probe.diag.items()) if k.startswith(KEYS)}}
            print(json.dumps(out, indent=1))
        finally:
            node.send_signal(2)
            node.wait(30)
            probe.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
