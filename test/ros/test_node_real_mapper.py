"""The node with the real Mapper and GNeSF network (random tiny weights) over real middleware: end to end."""
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
gnesf_srv = pytest.importorskip("gnesf_ros_msgs.srv", reason="gnesf_ros_msgs not built")
pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs (real or fallback build) needed for TF input")
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from ros_harness import NodeProcess, Probe, cloud_points, latched_qos, publish, wait_until  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(400)]


def test_real_mapper_maps_renders_and_saves(tmp_path):
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import PointCloud2

    from gnesf_ros.model import GNeSF, ModelConfig
    from gnesf_ros.model.checkpoint import save_checkpoint
    from gnesf_ros.ros import conversions as conv

    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(GNeSF(ModelConfig(num_classes=20, feature_channels=4, volume_channels=4, volume_width=4,
                                      mlp_width=8, vote_feature_channels=4, render_samples=8, visibility_samples=4,
                                      trunc_m=0.2, visibility_margin_m=0.2)), ckpt)
    params = {"checkpoint": str(ckpt), "geometry_source": "depth", "window_size": 2, "voxel_size_m": 0.1,
              "max_depth_m": 2.0, "tsdf_trunc_m": 0.2, "max_volume_dims": 32, "image_width_px": 80,
              "render_num_views": 2, "max_keyframes": 10, "input_qos": "reliable", "queue_size": 10, "thin_non_keyframes": False,
              "publish_rate_hz": 5.0, "diagnostics_rate_hz": 5.0, "tf_lookup_timeout_s": 1.0}
    probe = Probe()
    node = NodeProcess(params, real_mapper=True)
    try:
        node.wait_ready(120)
        publish("good:4", pose_source="tf")
        probe.wait_diag("frames_mapped", 4, timeout_s=180)
        wait_until(lambda: probe.diag_int("mapper.fragments") >= 1, 60, "a fused fragment")
        clouds = probe.subscribe(PointCloud2, "/gnesf_mapping/semantic_cloud", latched_qos())
        wait_until(lambda: clouds and clouds[-1].width > 0, 60, "a non-empty semantic cloud")
        pts = cloud_points(clouds[-1])
        assert np.all(np.abs(pts["z"] - 1.5) < 0.3)  # the depth plane 1.5 m in front of the cameras

        req = gnesf_srv.RenderView.Request()
        req.camera_info = conv.K_to_camera_info(np.array([[50.0, 0, 20], [0, 50.0, 15], [0, 0, 1]]), 30, 40)
        req.pose = PoseStamped()
        req.pose.header.frame_id = "map"
        req.pose.pose = conv.matrix_to_pose(np.eye(4))
        res = probe.call(gnesf_srv.RenderView, "/gnesf_mapping/render_view", req, timeout_s=120)
        assert res.success, res.message
        assert conv.image_to_numpy(res.label).shape == (30, 40)

        path = tmp_path / "map.gnesf"
        res = probe.call(gnesf_srv.FilePath, "/gnesf_mapping/save_map", gnesf_srv.FilePath.Request(file_path=str(path)))
        assert res.success and path.is_file(), res.message
        assert node.count("[bad input") == 0 and "Traceback" not in node.output, node.output
    except (AssertionError, TimeoutError) as exc:
        raise AssertionError(f"{exc}\n--- node output:\n{node.output}") from exc
    finally:
        node.stop()
        probe.close()
