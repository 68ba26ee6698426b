"""Colour + camera_info + poses are enough: the gnesf_segmenter node labels the images and the mapping node
(numpy stand-in mapper) maps them, both over real middleware with their default topic names."""
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from ros_harness import NodeProcess, Probe, wait_until  # noqa: E402
from segmenter_harness import SegmenterProcess, write_tiny_checkpoint  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(300)]


def test_segmenter_feeds_the_mapper(tmp_path):
    from geometry_msgs.msg import PoseStamped
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    from gnesf_ros.ros import conversions as conv

    checkpoint = write_tiny_checkpoint(tmp_path / "tiny.pt")
    probe = Probe()
    reliable = QoSProfile(depth=30, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {"pose": probe.node.create_publisher(PoseStamped, "pose", reliable),
            "info": probe.node.create_publisher(CameraInfo, "color/camera_info", reliable),
            "color": probe.node.create_publisher(Image, "color/image", reliable)}
    segmenter = SegmenterProcess({"checkpoint": str(checkpoint), "input_qos": "reliable"})
    mapper = NodeProcess({"input_qos": "reliable", "pose_source": "pose_stamped", "require_confidence": True,
                          "diagnostics_rate_hz": 5.0, "tf_lookup_timeout_s": 1.0, "voxel_size_m": 0.1})
    try:
        segmenter.wait_ready()
        mapper.wait_ready()
        # color/image has two subscribers (segmenter and mapper); the mapper's semantic inputs match the segmenter
        wait_until(lambda: pubs["color"].get_subscription_count() >= 2 and pubs["info"].get_subscription_count()
                   and pubs["pose"].get_subscription_count(), 60, "both nodes' subscriptions")
        wait_until(lambda: probe.node.count_publishers("semantic/confidence") >= 1
                   and probe.node.count_subscribers("semantic/confidence") >= 1, 60, "segmenter -> mapper")
        h, w = 60, 80
        K = np.array([[60.0, 0, w / 2], [0, 60.0, h / 2], [0, 0, 1]])
        base = probe.node.get_clock().now().nanoseconds
        rng = np.random.default_rng(0)
        for i in range(6):
            stamp = conv.ns_to_stamp(base + i * 100_000_000)
            T = np.eye(4)
            T[0, 3] = 0.3 * i  # every frame a keyframe
            pubs["pose"].publish(PoseStamped(header=Header(stamp=stamp, frame_id="map"), pose=conv.matrix_to_pose(T)))
            header = Header(stamp=stamp, frame_id="camera")
            pubs["info"].publish(conv.K_to_camera_info(K, h, w, header))
            pubs["color"].publish(conv.numpy_to_image(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "rgb8",
                                                      header))
            time.sleep(0.3)  # pacing like a camera; the segmenter takes only the newest image
        wait_until(lambda: probe.diag_int("frames_mapped") >= 3, 60,
                   f"frames mapped from the segmenter's labels (mapper diagnostics {probe.diag})")
        assert probe.diag_int("mapper.voxels") > 0
        assert not any("[bad input" in ln for ln in mapper.lines), mapper.output
        assert segmenter.alive() and mapper.alive()
    finally:
        segmenter.stop()
        mapper.stop()
        probe.close()
