"""Publisher process for the node tests: a scripted sequence of (good or deliberately bad) posed frames.

    python test/ros/helpers/publish_frames.py --scenario good:2,size_mismatch:3 --pose-source tf

Frame i: a 160x120 camera 0.2 m * i along map x, looking along map z at a plane 1.5 m away; label ids by image
column band; stamps now + i * 0.1 s. Each publisher waits for the node's subscription to match (with a timeout),
frames are paced at `--rate-hz`, and the process waits for reliable delivery (acks) before it exits.
Exit code 0 on success, 3 when the node's subscriptions never matched.
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped, TransformStamped
from nav_msgs.msg import Odometry
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from gnesf_ros.ros import conversions as conv

KINDS = ("good", "color_encoding", "empty_image", "size_mismatch", "camera_info_zero_fx", "unknown_class",
         "semantic_encoding", "out_of_order", "no_camera_info", "nan_pose", "no_pose", "probs")


def parse_scenario(text: str) -> list[str]:
    kinds = []
    for part in text.split(","):
        kind, _, n = part.partition(":")
        if kind not in KINDS:
            raise SystemExit(f"unknown scenario kind {kind!r}; known: {KINDS}")
        kinds += [kind] * int(n or 1)
    return kinds


def T_map_cam(i: int) -> np.ndarray:
    T = np.eye(4)
    T[0, 3] = 0.2 * i
    return T


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="good:3")
    ap.add_argument("--pose-source", choices=["tf", "pose_stamped", "odometry"], default="tf")
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=120)
    ap.add_argument("--rate-hz", type=float, default=10.0)
    ap.add_argument("--first-index", type=int, default=0, help="index of the first frame (poses, stamps)")
    ap.add_argument("--match-timeout-s", type=float, default=30.0)
    args = ap.parse_args(argv)
    kinds = parse_scenario(args.scenario)

    rclpy.init()
    node = rclpy.create_node("gnesf_test_publisher")
    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {
        "camera_info": node.create_publisher(CameraInfo, "color/camera_info", reliable),
        "color": node.create_publisher(Image, "color/image", reliable),
        "depth": node.create_publisher(Image, "depth/image", reliable),
        "semantic": node.create_publisher(Image, "semantic/image", reliable),
    }
    if args.pose_source == "tf":
        from tf2_msgs.msg import TFMessage

        pubs["tf"] = node.create_publisher(TFMessage, "/tf", QoSProfile(depth=100))
        static = node.create_publisher(TFMessage, "/tf_static", QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        # base -> camera (optical) is static and the identity here; the chain is map -> base -> camera
        t = TransformStamped()
        t.header.frame_id, t.child_frame_id = "base", "camera"
        t.transform.rotation.w = 1.0
        static.publish(TFMessage(transforms=[t]))
    else:
        pubs["pose"] = node.create_publisher(PoseStamped if args.pose_source == "pose_stamped" else Odometry,
                                             "pose", reliable)

    deadline = time.monotonic() + args.match_timeout_s
    while any(p.get_subscription_count() == 0 for p in pubs.values()):
        if time.monotonic() > deadline:
            missing = [k for k, p in pubs.items() if p.get_subscription_count() == 0]
            print(f"publisher: no subscriber matched {missing} within {args.match_timeout_s} s", file=sys.stderr)
            return 3
        rclpy.spin_once(node, timeout_sec=0.05)

    h, w = args.height, args.width
    K = np.array([[100.0, 0, w / 2], [0, 100.0, h / 2], [0, 0, 1]])
    rng = np.random.default_rng(0)
    base_ns = node.get_clock().now().nanoseconds
    period = 1.0 / args.rate_hz
    last_ns = base_ns
    for n, kind in enumerate(kinds):
        i = args.first_index + n
        stamp_ns = base_ns + int(n * 0.1e9)
        if kind == "out_of_order":
            stamp_ns = base_ns - int((n + 1) * 0.1e9)  # older than everything sent before
        last_ns = max(last_ns, stamp_ns)
        stamp = conv.ns_to_stamp(stamp_ns)
        T = T_map_cam(i)

        # pose first, so the node can look it up when the images arrive
        if kind != "no_pose":
            if args.pose_source == "tf":
                from tf2_msgs.msg import TFMessage

                t = TransformStamped()
                t.header.stamp, t.header.frame_id, t.child_frame_id = stamp, "map", "base"
                t.transform = conv.matrix_to_transform(T)
                if kind == "nan_pose":
                    t.transform.translation.x = math.nan
                pubs["tf"].publish(TFMessage(transforms=[t]))
            else:
                pose = conv.matrix_to_pose(T)
                if kind == "nan_pose":
                    pose.position.x = math.nan
                if args.pose_source == "pose_stamped":
                    msg = PoseStamped(pose=pose)
                else:
                    msg = Odometry(child_frame_id="camera")
                    msg.pose.pose = pose
                msg.header.stamp, msg.header.frame_id = stamp, "map"
                pubs["pose"].publish(msg)

        def header(frame="camera"):
            return _header(stamp, frame)

        info = conv.K_to_camera_info(K, h, w, header())
        if kind == "camera_info_zero_fx":
            info.k[0] = 0.0
        if kind != "no_camera_info":
            pubs["camera_info"].publish(info)

        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        color = conv.numpy_to_image(rgb, "rgb8", header())
        if kind == "color_encoding":
            color.encoding = "yuv422"
        if kind == "empty_image":
            color = Image(header=header(), encoding="rgb8", height=0, width=0, step=0)
        pubs["color"].publish(color)
        pubs["depth"].publish(conv.numpy_to_image(np.full((h, w), 1500, np.uint16), "16UC1", header()))

        labels = np.minimum(np.arange(w)[None, :].repeat(h, 0) // 20, 19).astype(np.uint8)
        labels[:4] = 255  # a few unknown rows
        if kind == "unknown_class":
            labels[10, 10] = 40
        if kind == "size_mismatch":
            labels = labels[::2, ::2].copy()
        if kind == "probs":
            from gnesf_ros.frame import labels_to_probs

            sem = conv.numpy_to_image(labels_to_probs(labels, 20, np.full((h, w), 0.8, np.float32)), "32FC20",
                                      header())
        elif kind == "semantic_encoding":
            sem = conv.numpy_to_image(np.repeat(labels[:, :, None], 3, 2), "rgb8", header())
        else:
            sem = conv.numpy_to_image(labels, "mono8", header())
        pubs["semantic"].publish(sem)
        time.sleep(period)  # pacing at the stream's rate, not a wait for anything

    for p in pubs.values():
        p.wait_for_all_acked(Duration(seconds=10.0))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def _header(stamp, frame):
    from std_msgs.msg import Header

    return Header(stamp=stamp, frame_id=frame)


if __name__ == "__main__":
    sys.exit(main())
