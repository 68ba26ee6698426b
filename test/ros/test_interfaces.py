"""The generated interfaces (gnesf_ros_msgs, tf2_msgs) import, round-trip through rclpy, and are wire-compatible.

Wire compatibility is checked against rosbags' ROS 2 Kilted type store, an independent implementation of
the type system: same bytes for the same message, and the same RIHS01 type hash that DDS discovery carries.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
import rclpy  # noqa: E402
from geometry_msgs.msg import PoseStamped, TransformStamped  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from rosbags.typesys import Stores, get_types_from_msg, get_typestore  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import ColorRGBA, Header  # noqa: E402

from gnesf_ros.ros.environment import interfaces_install_dir, ros_subprocess_env  # noqa: E402

try:
    from gnesf_ros_msgs.msg import ClassList, SemanticClass
    from gnesf_ros_msgs.srv import FilePath, RenderView
    from tf2_msgs.msg import TFMessage
except ImportError as exc:  # built by `make setup`; absent means the set-up is broken, not optional
    raise ImportError(f"generated interfaces missing ({exc}): run 'make setup' (tools/build_interfaces.sh)") from exc

MSG_DIR = Path(__file__).resolve().parents[2] / "gnesf_ros_msgs" / "msg"


def kilted_typestore():
    return get_typestore(Stores.ROS2_KILTED)


def make_class_list() -> ClassList:
    classes = [
        SemanticClass(id=0, name="wall", color=ColorRGBA(r=0.5, g=0.75, b=0.875, a=1.0)),
        SemanticClass(id=4, name="chair", color=ColorRGBA(r=0.75, g=0.75, b=0.125, a=1.0)),
    ]
    return ClassList(header=Header(frame_id="map"), classes=classes, unknown_id=65535)


def make_transform(parent: str, child: str, i: int) -> TransformStamped:
    t = TransformStamped()
    t.header.stamp.sec, t.header.stamp.nanosec = 1700000000 + i, 123456789
    t.header.frame_id, t.child_frame_id = parent, child
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = 1.5 + i, -2.25, 0.125
    t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z, t.transform.rotation.w = 0.0, 0.0, 0.6, 0.8
    return t


def test_message_round_trip():
    msg = make_class_list()
    back = deserialize_message(serialize_message(msg), ClassList)
    assert back == msg
    assert [c.name for c in back.classes] == ["wall", "chair"] and back.unknown_id == 65535


def test_service_round_trip():
    info = CameraInfo(width=64, height=48, k=[50.0, 0.0, 32.0, 0.0, 50.0, 24.0, 0.0, 0.0, 1.0])
    pose = PoseStamped(header=Header(frame_id="map"))
    pose.pose.orientation.w = 1.0
    request = RenderView.Request(camera_info=info, pose=pose)
    assert deserialize_message(serialize_message(request), RenderView.Request) == request

    labels = np.full((48, 64), 65535, np.uint16)
    label = Image(height=48, width=64, encoding="mono16", step=128, data=labels.tobytes())
    depth = Image(height=48, width=64, encoding="32FC1", step=256, data=np.ones((48, 64), np.float32).tobytes())
    response = RenderView.Response(success=True, message="", label=label, depth=depth)
    assert deserialize_message(serialize_message(response), RenderView.Response) == response

    for msg in (FilePath.Request(file_path="/tmp/map.npz"), FilePath.Response(success=False, message="no map")):
        assert deserialize_message(serialize_message(msg), type(msg)) == msg


def test_interface_definitions_are_pinned():
    """Changing a field breaks every client: make it a deliberate act (update this test)."""
    assert SemanticClass.get_fields_and_field_types() == {"id": "uint16", "name": "string", "color": "std_msgs/ColorRGBA"}
    assert ClassList.get_fields_and_field_types() == {
        "header": "std_msgs/Header", "classes": "sequence<gnesf_ros_msgs/SemanticClass>", "unknown_id": "uint16"}
    assert RenderView.Request.get_fields_and_field_types() == {
        "camera_info": "sensor_msgs/CameraInfo", "pose": "geometry_msgs/PoseStamped"}
    assert RenderView.Response.get_fields_and_field_types() == {
        "success": "boolean", "message": "string", "label": "sensor_msgs/Image", "color": "sensor_msgs/Image",
        "confidence": "sensor_msgs/Image", "depth": "sensor_msgs/Image"}
    assert FilePath.Request.get_fields_and_field_types() == {"file_path": "string"}
    assert FilePath.Response.get_fields_and_field_types() == {"success": "boolean", "message": "string"}


def test_tf_message_bytes_match_rosbags():
    # Frame ids chosen so that CDR needs no alignment padding before the float64 fields (Fast CDR leaves
    # padding bytes uninitialised; rosbags writes zeros), so the whole buffers must be identical.
    transforms = [make_transform("map", "camera0", 0), make_transform("map", "base_link01", 1)]
    ours = serialize_message(TFMessage(transforms=transforms))

    store = kilted_typestore()
    Time, Header_, Vector3, Quaternion, Transform, TS, TF = (store.types[n] for n in (
        "builtin_interfaces/msg/Time", "std_msgs/msg/Header", "geometry_msgs/msg/Vector3",
        "geometry_msgs/msg/Quaternion", "geometry_msgs/msg/Transform", "geometry_msgs/msg/TransformStamped",
        "tf2_msgs/msg/TFMessage"))
    theirs_msg = TF(transforms=[
        TS(header=Header_(stamp=Time(sec=t.header.stamp.sec, nanosec=t.header.stamp.nanosec), frame_id=t.header.frame_id),
           child_frame_id=t.child_frame_id,
           transform=Transform(
               translation=Vector3(x=t.transform.translation.x, y=t.transform.translation.y, z=t.transform.translation.z),
               rotation=Quaternion(x=t.transform.rotation.x, y=t.transform.rotation.y, z=t.transform.rotation.z,
                                   w=t.transform.rotation.w)))
        for t in transforms])
    theirs = bytes(store.serialize_cdr(theirs_msg, "tf2_msgs/msg/TFMessage"))

    assert ours == theirs
    assert deserialize_message(theirs, TFMessage).transforms == transforms
    back = store.deserialize_cdr(ours, "tf2_msgs/msg/TFMessage")
    assert [t.child_frame_id for t in back.transforms] == ["camera0", "base_link01"]


def test_graph_type_names_and_hashes_match_rosbags():
    """What DDS discovery announces: the type name and RIHS01 hash equal the independent computation."""
    store = kilted_typestore()
    for path in sorted(MSG_DIR.glob("*.msg")):
        store.register(get_types_from_msg(path.read_text(), f"gnesf_ros_msgs/msg/{path.stem}"))

    context = Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("gnesf_interfaces_probe", context=context)
        try:
            for msg_type, name in ((TFMessage, "tf2_msgs/msg/TFMessage"), (ClassList, "gnesf_ros_msgs/msg/ClassList")):
                topic = "/gnesf_probe_" + name.rsplit("/", 1)[1].lower()
                node.create_publisher(msg_type, topic, 1)
                (info,) = node.get_publishers_info_by_topic(topic)
                assert info.topic_type == name
                assert str(info.topic_type_hash) == store.hash_rihs01(name)
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_ros_subprocess_env_is_enough_for_a_child(monkeypatch):
    """A child whose inherited environment lacks the install paths still imports and serializes."""
    install = interfaces_install_dir()
    assert install is not None, "build/ros_ws/install missing: run 'make setup'"
    lib = str(install / "lib")
    inherited = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p and p != lib]
    monkeypatch.setenv("LD_LIBRARY_PATH", ":".join(inherited))
    before = dict(os.environ)
    env = ros_subprocess_env()
    assert dict(os.environ) == before, "ros_subprocess_env must not modify os.environ"
    assert env["LD_LIBRARY_PATH"].split(":")[0] == lib
    assert str(install) in env["PYTHONPATH"]

    code = ("from rclpy.serialization import serialize_message as s, deserialize_message as d\n"
            "from gnesf_ros_msgs.msg import ClassList, SemanticClass\nfrom tf2_msgs.msg import TFMessage\n"
            "m = ClassList(classes=[SemanticClass(id=7, name='sofa')], unknown_id=65535)\n"
            "assert d(s(m), ClassList) == m and d(s(TFMessage()), TFMessage) == TFMessage()\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
