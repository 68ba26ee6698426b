"""Bad input over real middleware: the node survives each kind, logs it once, counts it, and the map is unchanged."""
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from ros_harness import NodeProcess, Probe, publish  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(400)]

PARAMS = {"input_qos": "reliable", "queue_size": 30, "publish_rate_hz": 5.0, "diagnostics_rate_hz": 5.0,
          "pose_source": "pose_stamped", "tf_lookup_timeout_s": 0.3, "bad_input_log_period_s": 600.0,
          "voxel_size_m": 0.1}

# scenario kind in the publisher -> the node's bad-input counter (each sent 3 times)
IMAGE_FAULTS = {
    "color_encoding": "color_image",  # colour 'yuv422'
    "empty_image": "empty_image",  # colour 0x0
    "size_mismatch": "size_mismatch",  # semantic image half the colour size
    "camera_info_zero_fx": "camera_info",  # uncalibrated camera
    "unknown_class": "unknown_class_ids",  # label 40 with 20 classes
    "semantic_encoding": "semantic_image",  # labels as rgb8
}
LOG_TEXT = {
    "color_image": "colour image encoding 'yuv422' not supported",
    "empty_image": "empty image",
    "size_mismatch": "semantic image 80x60 does not match colour 160x120",
    "camera_info": "focal lengths must be finite and > 0",
    "unknown_class_ids": "class id(s) [40] outside 0..19",
    "semantic_image": "label image encoding 'rgb8' not supported",
    "stamps_out_of_order": "is not after the previous",
    "missing_camera_info": "no color/camera_info for the semantic image",
    "pose": "translation contains NaN",
    "tf_missing": "would extrapolate",
}


def test_bad_input_suite():
    probe = Probe()
    node = NodeProcess(PARAMS)
    try:
        node.wait_ready()
        publish("good:2", pose_source="pose_stamped")
        probe.wait_diag("frames_mapped", 2)
        voxels = probe.diag_int("mapper.voxels")
        assert voxels > 0

        # 1. image faults and out-of-order stamps: each frame skipped, the map unchanged
        scenario = ",".join(f"{k}:3" for k in IMAGE_FAULTS) + ",out_of_order:3"
        publish(scenario, pose_source="pose_stamped", first_index=2)
        for counter in IMAGE_FAULTS.values():
            probe.wait_diag(f"bad_input.{counter}", 3)
        assert probe.diag_int("bad_input.stamps_out_of_order") >= 3  # every stream of those frames is refused
        assert node.alive()
        assert probe.diag_int("frames_mapped") == 2 and probe.diag_int("mapper.frames") == 2
        assert probe.diag_int("mapper.voxels") == voxels

        # 2. camera_info never sent for 3 frames; a later good frame shows they cannot match any more
        publish("no_camera_info:3,good:1", pose_source="pose_stamped", first_index=30)
        probe.wait_diag("bad_input.missing_camera_info", 3)
        probe.wait_diag("frames_mapped", 3)
        voxels = probe.diag_int("mapper.voxels")

        # 3. NaN poses are refused on arrival; frames without any pose for their stamp are skipped after the timeout
        publish("nan_pose:3,no_pose:3", pose_source="pose_stamped", first_index=40)
        probe.wait_diag("bad_input.pose", 3)
        probe.wait_diag("bad_input.tf_missing", 6)
        assert probe.diag_int("frames_mapped") == 3 and probe.diag_int("mapper.voxels") == voxels
        assert node.alive()

        # one specific line per kind, however many times it happened
        for counter, text in LOG_TEXT.items():
            lines = [ln for ln in node.lines if f"[bad input: {counter}]" in ln]
            assert len(lines) == 1, f"{counter}: {lines}"
            assert text in lines[0], lines[0]
        assert "Traceback" not in node.output
        assert probe.diag.get("publish_errors") == "0"
    finally:
        node.stop()
        probe.close()
