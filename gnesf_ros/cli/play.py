"""`gnesf-play`: publish a rosbag2 (or ROS 1 .bag) into the live ROS 2 graph at recorded timing.

    gnesf-play BAG [--rate R] [--loop] [--topics T ...] [--remap old:=new ...] [--clock]
               [--start-paused] [--wait-for-subscribers [TOPIC ...]] [--wait-timeout-s S] [--timeout S]
               [--ros-args ...]
"""
from __future__ import annotations

import argparse
import sys

from gnesf_ros.ros.environment import split_ros_args


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnesf-play", description=__doc__.split("\n\n")[0])
    p.add_argument("bag", help="rosbag2 folder (mcap or sqlite3), its .mcap/.db3 file, or a ROS 1 .bag")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    p.add_argument("--loop", action="store_true", help="play again from the start at the end")
    p.add_argument("--topics", nargs="+", default=[], help="recorded topics to play (default: all)")
    p.add_argument("--remap", nargs="+", default=[], metavar="OLD:=NEW", help="rename recorded topics")
    p.add_argument("--start-paused", action="store_true", help="wait for a ~/resume call (std_srvs/Trigger)")
    p.add_argument("--clock", action="store_true",
                   help="publish /clock (rosgraph_msgs/Clock) from the bag's time stamps, for use_sim_time")
    p.add_argument("--wait-for-subscribers", nargs="*", default=None, metavar="TOPIC",
                   help="before playing, wait until each TOPIC (published name) has a subscriber, or N with "
                        "TOPIC=N; no TOPIC = every Image and CameraInfo topic played (but /semantic/ground_truth)")
    p.add_argument("--wait-timeout-s", type=float, default=60.0, metavar="S",
                   help="give up waiting for subscribers after S seconds: exit code 1 (default 60)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="at the end of the bag, wait at most S seconds for reliable subscribers to acknowledge the "
                        "last messages (default 30)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv, ros_args = split_ros_args(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    from gnesf_ros.ros.player import PlayerOptions, parse_remaps, parse_wait_topics, run_player

    try:
        parse_wait_topics(args.wait_for_subscribers or [])  # a bad TOPIC=N: exit code 2 before any ROS set-up
        options = PlayerOptions(rate=args.rate, loop=args.loop, topics=tuple(args.topics),
                                remap=parse_remaps(args.remap), start_paused=args.start_paused,
                                wait_for_subscribers=args.wait_for_subscribers is not None,
                                wait_topics=tuple(args.wait_for_subscribers or ()),
                                wait_timeout_s=args.wait_timeout_s, timeout_s=args.timeout, clock=args.clock)
    except ValueError as exc:
        print(f"gnesf-play: error: {exc}", file=sys.stderr)
        return 2
    return run_player(args.bag, options, ros_args)


if __name__ == "__main__":
    sys.exit(main())
