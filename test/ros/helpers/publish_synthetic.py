"""Publisher process: stream frames of a held-out synthetic scan (gnesf_ros.data.synthetic) into the node.

    python test/ros/helpers/publish_synthetic.py --seed 2000 --indices 0:300:6 --size 120 160 --rate-hz 15 \
        --pose-source tf

Per frame, in this order: the pose (`/tf` map -> camera, or `pose` PoseStamped in `map`), then
`color/camera_info`, `color/image` (rgb8), `depth/image` (32FC1 m) and `semantic/image` (32FC20: the noisy
segmenter probabilities exactly as the offline mapper gets them). Frame n is stamped now + n * 0.1 s; frames are
paced at `--rate-hz` (all rendered before the first is sent), optionally flow-controlled by the node's
/diagnostics (`--max-ahead`). Every publisher waits for the node's subscription to match (with a timeout) and, at
the end, for reliable delivery (acks). `wire_frames()` gives the same frames the node decodes (poses through the
same quaternion round trip) for the in-process offline comparison.

Exit code 0 on success, 3 when the node's subscriptions never matched, 4 when flow control (`--max-ahead`) waited
longer than `--stall-timeout-s` for the node.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Iterator

import numpy as np

CAMERA_FRAME = "camera"
MAP_FRAME = "map"
STAMP_STEP_NS = 100_000_000


def parse_indices(text: str) -> list[int]:
    """"A:B:S" -> range(A, B, S); "A,B,C" -> [A, B, C]."""
    if ":" in text:
        return list(range(*(int(x) for x in text.split(":"))))
    return [int(x) for x in text.split(",")]


def scan_for(seed: int, height: int, width: int, num_frames: int = 300):
    from gnesf_ros.data.synthetic import SyntheticScan

    return SyntheticScan(seed, num_frames=num_frames, height=height, width=width)


def wire_pose(T_map_cam: np.ndarray, stamp_ns: int = 1) -> np.ndarray:
    """T_map_cam after the trip the node's pose takes: a geometry_msgs Transform (quaternion) in a TfBuffer."""
    from geometry_msgs.msg import TransformStamped

    from gnesf_ros.ros import conversions as conv
    from gnesf_ros.ros.tf_buffer import TfBuffer

    t = TransformStamped()
    t.header.stamp, t.header.frame_id, t.child_frame_id = conv.ns_to_stamp(stamp_ns), MAP_FRAME, CAMERA_FRAME
    t.transform = conv.matrix_to_transform(T_map_cam)
    buf = TfBuffer(10.0)
    buf.set_transform(t)
    return buf.lookup(MAP_FRAME, CAMERA_FRAME, stamp_ns)


def wire_frames(scan, indices: list[int], semantics: str = "probs") -> Iterator[tuple[int, object, object]]:
    """(index, Frame as the node decodes it, ground-truth view) for each published frame."""
    import dataclasses

    from gnesf_ros.eval.evaluate import label_semantics

    for i in indices:
        frame, view = scan.frame(i)
        if semantics == "labels":
            frame = label_semantics(frame)
        yield i, dataclasses.replace(frame, T_map_cam=wire_pose(frame.T_map_cam), frame_id=CAMERA_FRAME), view


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--indices", default="0:300:6", help="A:B:S or A,B,C: frame indices of the 300-frame scan")
    ap.add_argument("--size", type=int, nargs=2, default=(120, 160), metavar=("H", "W"))
    ap.add_argument("--rate-hz", type=float, default=15.0)
    ap.add_argument("--pose-source", choices=["tf", "pose_stamped"], default="tf")
    ap.add_argument("--semantics", choices=["probs", "labels"], default="probs",
                    help="probs: 32FC20 probabilities; labels: mono8 argmax + 32FC1 confidence "
                         "(semantic/confidence; the first label image is sent once the node's diagnostics show it "
                         "took the first confidence image: an optional stream the node has never seen does not hold "
                         "a frame back)")
    ap.add_argument("--match-timeout-s", type=float, default=30.0)
    ap.add_argument("--max-ahead", type=int, default=0,
                    help="flow control: send frame n only once the node's /diagnostics say it has taken frame "
                         "n - max_ahead of every stream (0 = off). The node's reliable inputs keep 10 messages; a "
                         "node stalled longer than that on a busy machine would lose frames at the DDS reader")
    ap.add_argument("--stall-timeout-s", type=float, default=120.0)
    args = ap.parse_args(argv)

    import torch  # noqa: F401 - imported by the scan's modules anyway; keep it on one thread on a shared machine

    torch.set_num_threads(1)
    import rclpy
    from geometry_msgs.msg import PoseStamped, TransformStamped
    from rclpy.duration import Duration
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    from gnesf_ros.ros import conversions as conv

    t_start = time.monotonic()
    h, w = args.size
    scan = scan_for(args.seed, h, w)
    # render everything first: streaming then costs no CPU the node needs (the test machine is small and busy)
    frames = [scan.frame(i)[0] for i in parse_indices(args.indices)]

    rclpy.init()
    node = rclpy.create_node("gnesf_test_synthetic_publisher")
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {
        "camera_info": node.create_publisher(CameraInfo, "color/camera_info", reliable),
        "color": node.create_publisher(Image, "color/image", reliable),
        "depth": node.create_publisher(Image, "depth/image", reliable),
        "semantic": node.create_publisher(Image, "semantic/image", reliable),
    }
    if args.semantics == "labels":
        pubs["confidence"] = node.create_publisher(Image, "semantic/confidence", reliable)
    if args.pose_source == "tf":
        from tf2_msgs.msg import TFMessage

        pubs["tf"] = node.create_publisher(TFMessage, "/tf", QoSProfile(depth=100))
    else:
        pubs["pose"] = node.create_publisher(PoseStamped, "pose", reliable)

    deadline = time.monotonic() + args.match_timeout_s
    while any(p.get_subscription_count() == 0 for p in pubs.values()):
        if time.monotonic() > deadline:
            missing = [k for k, p in pubs.items() if p.get_subscription_count() == 0]
            print(f"publisher: no subscriber matched {missing} within {args.match_timeout_s} s", file=sys.stderr)
            return 3
        rclpy.spin_once(node, timeout_sec=0.05)

    taken = [0]  # frames the node has taken from every input stream (its /diagnostics 'received.*')
    confidence_taken = [0]
    if args.max_ahead > 0 or args.semantics == "labels":
        from diagnostic_msgs.msg import DiagnosticArray

        def on_diag(msg) -> None:
            for status in msg.status:
                if status.name.endswith(": mapping"):
                    values = {kv.key: kv.value for kv in status.values}
                    taken[0] = min(int(values.get(f"received.{s}", "0")) for s in pubs if s not in ("tf", "pose"))
                    confidence_taken[0] = int(values.get("received.confidence", "0"))

        node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)

    t_matched = time.monotonic()
    base_ns = node.get_clock().now().nanoseconds
    period = 1.0 / args.rate_hz
    next_t = time.monotonic()
    for n, frame in enumerate(frames):
        stall = time.monotonic() + args.stall_timeout_s
        while args.max_ahead > 0 and n - taken[0] >= args.max_ahead:
            if time.monotonic() > stall:
                print(f"publisher: the node took only {taken[0]} frames in {args.stall_timeout_s} s", file=sys.stderr)
                return 4
            rclpy.spin_once(node, timeout_sec=0.05)
            next_t = time.monotonic()
        stamp = conv.ns_to_stamp(base_ns + n * STAMP_STEP_NS)
        header = Header(stamp=stamp, frame_id=CAMERA_FRAME)
        if args.pose_source == "tf":
            t = TransformStamped()
            t.header.stamp, t.header.frame_id, t.child_frame_id = stamp, MAP_FRAME, CAMERA_FRAME
            t.transform = conv.matrix_to_transform(frame.T_map_cam)
            pubs["tf"].publish(TFMessage(transforms=[t]))
        else:
            pubs["pose"].publish(PoseStamped(header=Header(stamp=stamp, frame_id=MAP_FRAME),
                                             pose=conv.matrix_to_pose(frame.T_map_cam)))
        pubs["camera_info"].publish(conv.K_to_camera_info(frame.K, h, w, header))
        pubs["color"].publish(conv.numpy_to_image(frame.rgb, "rgb8", header))
        pubs["depth"].publish(conv.numpy_to_image(frame.depth_m.astype(np.float32), "32FC1", header))
        if args.semantics == "labels":
            from gnesf_ros.data.bag import split_semantics

            labels, conf = split_semantics(frame.probs)
            pubs["confidence"].publish(conv.numpy_to_image(conf, "32FC1", header))  # before its anchor
            if n == 0:  # the node waits for an optional stream only once it has seen it: first the confidence
                _spin_until(node, lambda: confidence_taken[0] >= 1, args.stall_timeout_s)
            pubs["semantic"].publish(conv.numpy_to_image(labels, "mono8", header))
        else:
            probs = np.ascontiguousarray(frame.probs, dtype=np.float32)
            pubs["semantic"].publish(conv.numpy_to_image(probs, f"32FC{probs.shape[2]}", header))
        next_t += period
        time.sleep(max(0.0, next_t - time.monotonic()))  # pacing at the stream's rate

    t_sent = time.monotonic()
    for p in pubs.values():
        p.wait_for_all_acked(Duration(seconds=20.0))
    print(f"publisher: sent {len(frames)} frames; seconds: render + match {t_matched - t_start:.1f}, stream "
          f"{t_sent - t_matched:.1f}, acks {time.monotonic() - t_sent:.1f}", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def _spin_until(node, predicate, timeout_s: float) -> None:
    import rclpy

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            print(f"publisher: gave up after {timeout_s} s waiting for the node", file=sys.stderr)
            sys.exit(4)
        rclpy.spin_once(node, timeout_sec=0.05)


if __name__ == "__main__":
    sys.exit(main())
