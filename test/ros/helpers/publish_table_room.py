"""Publisher process: a camera circling the table of `scene.table_room()`, streaming what a robot would send.

    python test/ros/helpers/publish_table_room.py --frames 24 --size 120 160 --rate-hz 10

Per frame, in this order: `/tf` (map -> camera), `color/camera_info`, `color/image` (rgb8), `depth/image` (32FC1 m)
and `semantic/image` (mono8 ground-truth labels, 255 = unknown: the segmenter is not under test here). Frame n is
stamped now + n * 0.1 s and paced at `--rate-hz`. Every publisher waits for the node's subscription to match (with
a timeout) and, at the end, for reliable delivery (acks). Exit code 0 on success, 3 when nothing matched.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

CAMERA_FRAME = "camera"
MAP_FRAME = "map"
STAMP_STEP_NS = 100_000_000
FOV_DEG = 70.0


def room():
    from gnesf_ros.data.scene import table_room

    return table_room()


def ring_poses(scene, num_frames: int, radius_m: float = 1.4, height_m: float = 1.5,
               look_at_z_m: float = 0.3) -> np.ndarray:
    """T_map_cam (F, 4, 4): cameras on a circle around the table, looking at a point above its centre."""
    from gnesf_ros.data.trajectory import look_rotation

    table = scene.objects[-1]
    cx, cy = table.footprint[:2]
    ang = np.linspace(0.0, 2.0 * np.pi, num_frames, endpoint=False)
    pos = np.stack([cx + radius_m * np.cos(ang), cy + radius_m * np.sin(ang), np.full(num_frames, height_m)], 1)
    yaw = ang + np.pi  # towards the centre
    pitch = np.full(num_frames, -np.arctan2(height_m - look_at_z_m, radius_m))
    T = np.tile(np.eye(4), (num_frames, 1, 1))
    T[:, :3, :3] = look_rotation(yaw, pitch, np.zeros(num_frames))
    T[:, :3, 3] = pos
    return T


def views(num_frames: int, height: int, width: int):
    """(K, [(T_map_cam, RenderedView)]) of the ring scan."""
    from gnesf_ros.data.render import SceneRenderer
    from gnesf_ros.data.synthetic import intrinsics

    scene = room()
    renderer = SceneRenderer(scene)
    K = intrinsics(height, width, FOV_DEG)
    out = []
    for i, T in enumerate(ring_poses(scene, num_frames)):
        out.append((T, renderer.render(K, T, height, width, rng=np.random.default_rng([i, 3]))))
    return K, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", type=int, nargs=2, default=(120, 160), metavar=("H", "W"))
    ap.add_argument("--rate-hz", type=float, default=10.0)
    ap.add_argument("--match-timeout-s", type=float, default=30.0)
    args = ap.parse_args(argv)

    import rclpy
    from geometry_msgs.msg import TransformStamped
    from rclpy.duration import Duration
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header
    from tf2_msgs.msg import TFMessage

    from gnesf_ros.ros import conversions as conv

    h, w = args.size
    K, frames = views(args.frames, h, w)
    rclpy.init()
    node = rclpy.create_node("gnesf_test_table_room_publisher")
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {
        "camera_info": node.create_publisher(CameraInfo, "color/camera_info", reliable),
        "color": node.create_publisher(Image, "color/image", reliable),
        "depth": node.create_publisher(Image, "depth/image", reliable),
        "semantic": node.create_publisher(Image, "semantic/image", reliable),
        "tf": node.create_publisher(TFMessage, "/tf", QoSProfile(depth=100)),
    }
    deadline = time.monotonic() + args.match_timeout_s
    while any(p.get_subscription_count() == 0 for p in pubs.values()):
        if time.monotonic() > deadline:
            missing = [k for k, p in pubs.items() if p.get_subscription_count() == 0]
            print(f"publisher: no subscriber matched {missing} within {args.match_timeout_s} s", file=sys.stderr)
            return 3
        rclpy.spin_once(node, timeout_sec=0.05)

    base_ns = node.get_clock().now().nanoseconds
    next_t = time.monotonic()
    for n, (T, view) in enumerate(frames):
        stamp = conv.ns_to_stamp(base_ns + n * STAMP_STEP_NS)
        header = Header(stamp=stamp, frame_id=CAMERA_FRAME)
        t = TransformStamped()
        t.header.stamp, t.header.frame_id, t.child_frame_id = stamp, MAP_FRAME, CAMERA_FRAME
        t.transform = conv.matrix_to_transform(T)
        pubs["tf"].publish(TFMessage(transforms=[t]))
        pubs["camera_info"].publish(conv.K_to_camera_info(K, h, w, header))
        pubs["color"].publish(conv.numpy_to_image(view.rgb, "rgb8", header))
        pubs["depth"].publish(conv.numpy_to_image(view.depth_m.astype(np.float32), "32FC1", header))
        pubs["semantic"].publish(conv.numpy_to_image(view.labels.astype(np.uint8), "mono8", header))
        next_t += 1.0 / args.rate_hz
        time.sleep(max(0.0, next_t - time.monotonic()))
    for p in pubs.values():
        p.wait_for_all_acked(Duration(seconds=20.0))
    print(f"publisher: sent {len(frames)} frames", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
