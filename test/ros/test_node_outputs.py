"""The node over real middleware (own processes): latched outputs for late subscribers, services, TF poses.

The node runs with the numpy FakeMapper (test/ros/helpers/fake_mapper.py): these tests are about the ROS
interface; the mapper has its own tests.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
gnesf_msgs = pytest.importorskip("gnesf_ros_msgs.msg", reason="gnesf_ros_msgs not built (tools/build_interfaces.sh)")
pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs (real or fallback build) needed for TF input")
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from ros_harness import NodeProcess, Probe, cloud_points, latched_qos, publish, wait_until  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(300)]

FAST = {"input_qos": "reliable", "queue_size": 20, "publish_rate_hz": 5.0, "diagnostics_rate_hz": 5.0,
        "voxel_size_m": 0.1}


@pytest.fixture(scope="module")
def probe():
    p = Probe()
    yield p
    p.close()


@pytest.fixture(scope="module")
def mapped_node(probe):
    """A node (pose from TF: map -> base dynamic, base -> camera static) that mapped 3 good frames."""
    node = NodeProcess(FAST)
    node.wait_ready()
    publish("good:3", pose_source="tf")
    probe.wait_diag("frames_mapped", 3)
    yield node
    node.stop()


def test_late_subscriber_gets_class_info_and_current_cloud(probe, mapped_node):
    from sensor_msgs.msg import PointCloud2

    wait_until(lambda: probe.diag_int("mapper.voxels") > 0, 30, "a non-empty map")
    voxels = probe.diag_int("mapper.voxels")
    # subscribe only now: transient local must hand over the last class list and the current cloud
    classes = probe.subscribe(gnesf_msgs.ClassList, "/gnesf_mapping/class_info", latched_qos())
    clouds = probe.subscribe(PointCloud2, "/gnesf_mapping/semantic_cloud", latched_qos())
    wait_until(lambda: classes and clouds, 30, "latched class_info and semantic_cloud")
    info = classes[-1]
    assert len(info.classes) == 20 and info.unknown_id == 65535
    assert info.classes[0].name == "wall" and info.classes[0].id == 0
    cloud = clouds[-1]
    assert cloud.header.frame_id == "map" and cloud.width == voxels
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb", "label", "confidence"]
    pts = cloud_points(cloud)
    assert pts["label"].max() < 20 and np.all((pts["confidence"] > 0) & (pts["confidence"] <= 1))
    assert mapped_node.count("[bad input") == 0, mapped_node.output


def test_save_clear_load_gives_back_the_same_cloud(probe, mapped_node, tmp_path):
    from sensor_msgs.msg import PointCloud2
    from std_srvs.srv import Trigger

    from gnesf_ros_msgs.srv import FilePath

    clouds = probe.subscribe(PointCloud2, "/gnesf_mapping/semantic_cloud", latched_qos())
    wait_until(lambda: clouds and clouds[-1].width > 0, 30, "the current cloud")
    before = cloud_points(clouds[-1])
    path = str(tmp_path / "map.gnesf")
    res = probe.call(FilePath, "/gnesf_mapping/save_map", FilePath.Request(file_path=path))
    assert res.success, res.message
    res = probe.call(Trigger, "/gnesf_mapping/clear_map", Trigger.Request())
    assert res.success
    wait_until(lambda: clouds[-1].width == 0, 30, "an empty cloud after clear_map")
    res = probe.call(FilePath, "/gnesf_mapping/load_map", FilePath.Request(file_path=path))
    assert res.success, res.message
    wait_until(lambda: clouds[-1].width == before.shape[0], 30, "the reloaded cloud")
    np.testing.assert_array_equal(cloud_points(clouds[-1]), before)
    # a bad file: failure with the path in the message, and the map is kept
    bad = tmp_path / "bad.gnesf"
    bad.write_bytes(b"not a map")
    res = probe.call(FilePath, "/gnesf_mapping/load_map", FilePath.Request(file_path=str(bad)))
    assert not res.success and str(bad) in res.message
    res = probe.call(FilePath, "/gnesf_mapping/save_ply", FilePath.Request(file_path=str(tmp_path / "m.ply")))
    assert res.success and f"wrote {before.shape[0]} points" in res.message
    assert (tmp_path / "m.ply").read_text().startswith("ply")


def test_render_view_service(probe, mapped_node):
    from geometry_msgs.msg import PoseStamped

    from gnesf_ros.ros import conversions as conv
    from gnesf_ros_msgs.srv import RenderView

    req = RenderView.Request()
    req.camera_info = conv.K_to_camera_info(np.array([[50.0, 0, 40], [0, 50.0, 30], [0, 0, 1]]), 60, 80)
    req.pose = PoseStamped()
    req.pose.header.frame_id = "map"
    req.pose.pose = conv.matrix_to_pose(np.eye(4))
    res = probe.call(RenderView, "/gnesf_mapping/render_view", req)
    assert res.success, res.message
    label = conv.image_to_numpy(res.label)
    assert res.label.encoding == "mono16" and label.shape == (60, 80)
    assert label[0, 0] == 1 and label[-1, -1] == 65535  # FakeMapper: top half class 1, bottom unknown
    assert conv.image_to_numpy(res.color).shape == (60, 80, 3)
    assert res.confidence.encoding == "32FC1" and res.depth.encoding == "32FC1"
    req.camera_info.k[0] = 0.0
    res = probe.call(RenderView, "/gnesf_mapping/render_view", req)
    assert not res.success and "focal lengths" in res.message


def test_toggle_integration_pauses_mapping(probe, mapped_node):
    from std_srvs.srv import SetBool

    mapped = probe.diag_int("frames_mapped")
    assert probe.call(SetBool, "/gnesf_mapping/toggle_integration", SetBool.Request(data=False)).success
    publish("good:2", pose_source="tf", first_index=10)
    probe.wait_diag("skipped_paused", 2)
    assert probe.diag.get("integrating") == "False"
    probe.wait_diag("frames_mapped", mapped, timeout_s=5)
    assert probe.call(SetBool, "/gnesf_mapping/toggle_integration", SetBool.Request(data=True)).success
    publish("good:2", pose_source="tf", first_index=20)
    probe.wait_diag("frames_mapped", mapped + 2)


def test_keyframe_semantic_and_label_images(probe, mapped_node):
    from sensor_msgs.msg import Image

    from gnesf_ros.ros import conversions as conv

    labels = probe.subscribe(Image, "/gnesf_mapping/label_image", 10)
    colours = probe.subscribe(Image, "/gnesf_mapping/semantic_image", 10)
    wait_until(lambda: probe.node.count_publishers("/gnesf_mapping/label_image"), 30, "the label image publisher")
    # the node renders only for matched subscribers; discovery of ours on its side may lag a little: retry
    for attempt in range(5):
        publish("good:1", pose_source="tf", first_index=40 + 10 * attempt)  # far from earlier poses: a keyframe
        try:
            wait_until(lambda: labels and colours, 10, "keyframe label and semantic images")
            break
        except TimeoutError:
            if attempt == 4:
                raise
    label = conv.image_to_numpy(labels[-1])
    assert labels[-1].encoding == "mono16" and label.shape == (120, 160)
    assert set(np.unique(label)) == {1, 65535}  # FakeMapper render: class 1 on top, unknown below
    assert colours[-1].encoding == "rgb8" and colours[-1].header.frame_id == "camera"
