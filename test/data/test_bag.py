"""rosbag2 writing and reading of frames: exact round trips, other tools' bags, clear errors."""
from __future__ import annotations


import numpy as np
import pytest

from gnesf_ros.data.bag import (BagTopics, convert_scannet, decode_image, read_frames_from_bag, typestore,
                                write_frames_to_bag)
from gnesf_ros.errors import DataError
from gnesf_ros.frame import Frame, labels_to_probs

from scannet_fixtures import make_tiny_scan, write_sens_scan, write_tsv

H, W, C = 12, 16, 20


def make_frames(n: int = 3, seed: int = 0) -> list[tuple[Frame, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        labels = rng.integers(0, C, (H, W)).astype(np.uint8)
        labels[0, :3] = 255
        conf = rng.uniform(0.3, 1.0, (H, W)).astype(np.float32)
        a = 0.3 * i + 0.1
        T = np.eye(4)
        T[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
        T[:3, 3] = [0.1 * i, -0.2, 1.0 + i]
        K = np.array([[20.0 + i, 0, 7.5], [0, 21.0, 5.5], [0, 0, 1]])
        depth = (rng.integers(0, 4000, (H, W)) / 1000.0).astype(np.float32)
        f = Frame(rgb=rng.integers(0, 256, (H, W, 3), dtype=np.uint8), K=K, T_map_cam=T,
                  probs=labels_to_probs(labels, C, conf), stamp_ns=1_000_000_000 + i * 50_000_000, depth_m=depth,
                  frame_id="camera_color_optical_frame")
        out.append((f, labels))
    return out


def assert_same(a: Frame, b: Frame, probs_exact: bool = True):
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.K, b.K)
    np.testing.assert_allclose(a.T_map_cam, b.T_map_cam, atol=1e-12)
    np.testing.assert_allclose(a.depth_m, b.depth_m, atol=1e-7)
    assert a.stamp_ns == b.stamp_ns and b.frame_id == "camera_color_optical_frame"
    if probs_exact:
        np.testing.assert_array_equal(a.probs, b.probs)
    else:
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip_labels(tmp_path, storage):
    frames = make_frames()
    assert write_frames_to_bag(tmp_path / "b", frames, storage=storage, progress=False) == 3
    back = list(read_frames_from_bag(tmp_path / "b"))
    assert [b.index for b in back] == [0, 1, 2]
    for (f, truth), b in zip(frames, back):
        # labels + confidence -> labels_to_probs reproduces the input probabilities
        assert_same(f, b.frame, probs_exact=False)
        np.testing.assert_array_equal(b.truth_labels, truth)


def test_round_trip_probabilities(tmp_path):
    frames = make_frames(2)
    write_frames_to_bag(tmp_path / "b", [(f, None) for f, _ in frames], probs=True, progress=False)
    back = list(read_frames_from_bag(tmp_path / "b"))
    for (f, _), b in zip(frames, back):
        assert_same(f, b.frame)
        assert b.truth_labels is None


def test_topics_types_and_stamps(tmp_path):
    from rosbags.highlevel import AnyReader
    write_frames_to_bag(tmp_path / "b", make_frames(2), progress=False)
    with AnyReader([tmp_path / "b"]) as r:
        types = {c.topic: c.msgtype for c in r.connections}
        assert types == {"/tf_static": "tf2_msgs/msg/TFMessage", "/color/image": "sensor_msgs/msg/Image",
                         "/color/camera_info": "sensor_msgs/msg/CameraInfo", "/depth/image": "sensor_msgs/msg/Image",
                         "/semantic/image": "sensor_msgs/msg/Image", "/semantic/confidence": "sensor_msgs/msg/Image",
                         "/semantic/ground_truth": "sensor_msgs/msg/Image", "/pose": "geometry_msgs/msg/PoseStamped",
                         "/tf": "tf2_msgs/msg/TFMessage"}
        store = typestore()
        for c in r.connections:  # hashes are the Kilted store's (= the wheels')
            assert c.digest == store.hash_rihs01(c.msgtype)
        encodings = {}
        for c, t, raw in r.messages():
            msg = r.deserialize(raw, c.msgtype)
            if c.msgtype == "sensor_msgs/msg/Image":
                encodings[c.topic] = msg.encoding
                assert msg.header.frame_id == "camera_color_optical_frame"
                assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == t
        assert encodings == {"/color/image": "rgb8", "/depth/image": "16UC1", "/semantic/image": "mono8",
                             "/semantic/confidence": "32FC1", "/semantic/ground_truth": "mono8"}


def test_bag_from_another_tool_via_tf_and_other_names(tmp_path):
    """A bag written by rosbags directly: other topic names, bgr8, no pose topic (pose from /tf), no depth."""
    store = typestore()
    from rosbags.rosbag2 import Writer
    T = store.types
    Header, Time = T["std_msgs/msg/Header"], T["builtin_interfaces/msg/Time"]
    rng = np.random.default_rng(1)
    bgr = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    with Writer(tmp_path / "o", version=9) as w:
        ci = w.add_connection("/cam/info", "sensor_msgs/msg/CameraInfo", typestore=store)
        im = w.add_connection("/cam/rgb", "sensor_msgs/msg/Image", typestore=store)
        se = w.add_connection("/seg/labels", "sensor_msgs/msg/Image", typestore=store)
        tf = w.add_connection("/tf", "tf2_msgs/msg/TFMessage", typestore=store)
        hdr = Header(stamp=Time(sec=5, nanosec=7), frame_id="cam")
        pad = np.zeros((4, 3), np.uint8)  # step with 3 bytes of padding per row
        data = np.concatenate([bgr.reshape(4, 15), pad], axis=1).reshape(-1)
        w.write(im, 1, store.serialize_cdr(T["sensor_msgs/msg/Image"](header=hdr, height=4, width=5, encoding="bgr8",
                                            is_bigendian=0, step=18, data=data), "sensor_msgs/msg/Image"))
        K = np.array([10.0, 0, 2, 0, 10, 1.5, 0, 0, 1])
        w.write(ci, 2, store.serialize_cdr(T["sensor_msgs/msg/CameraInfo"](
            header=hdr, height=4, width=5, distortion_model="", d=np.zeros(0), k=K, r=np.eye(3).reshape(-1),
            p=np.zeros(12), binning_x=0, binning_y=0,
            roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)),
            "sensor_msgs/msg/CameraInfo"))
        lab = np.full((4, 5), 2, np.uint8)
        w.write(se, 3, store.serialize_cdr(T["sensor_msgs/msg/Image"](header=hdr, height=4, width=5, encoding="mono8",
                                            is_bigendian=0, step=5, data=lab.reshape(-1)), "sensor_msgs/msg/Image"))
        tr = T["geometry_msgs/msg/TransformStamped"](
            header=Header(stamp=Time(sec=5, nanosec=7), frame_id="map"), child_frame_id="cam",
            transform=T["geometry_msgs/msg/Transform"](translation=T["geometry_msgs/msg/Vector3"](x=1.0, y=2.0, z=3.0),
                                                     rotation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)))
        w.write(tf, 4, store.serialize_cdr(T["tf2_msgs/msg/TFMessage"](transforms=[tr]), "tf2_msgs/msg/TFMessage"))
    topics = BagTopics(color="/cam/rgb", camera_info="/cam/info", semantic="/seg/labels", pose="/nope")
    (b,) = list(read_frames_from_bag(tmp_path / "o", topics))
    np.testing.assert_array_equal(b.frame.rgb, bgr[..., ::-1])
    np.testing.assert_array_equal(b.frame.T_map_cam[:3, 3], [1, 2, 3])
    assert b.frame.stamp_ns == 5_000_000_007 and b.frame.depth_m is None and b.frame.frame_id == "cam"
    assert b.frame.probs[0, 0, 2] == 1.0


def test_truncated_bag_is_a_clear_error(tmp_path):
    write_frames_to_bag(tmp_path / "b", make_frames(3), progress=False)
    (mcap,) = (tmp_path / "b").glob("*.mcap")
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"b.*(truncated|cannot)"):
        list(read_frames_from_bag(tmp_path / "b"))


def test_missing_camera_info_and_bad_encoding(tmp_path):
    write_frames_to_bag(tmp_path / "b", make_frames(1), progress=False)
    with pytest.raises(DataError, match=r"bag has no topic /nope"):
        list(read_frames_from_bag(tmp_path / "b", BagTopics(camera_info="/nope")))
    store = typestore()
    msg = store.types["sensor_msgs/msg/Image"](header=store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id="c"),
        height=1, width=1, encoding="yuv422", is_bigendian=0, step=2, data=np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="frame 4 /color/image: unsupported image encoding 'yuv422'"):
        decode_image(msg, "frame 4 /color/image")


def test_existing_output_refused(tmp_path):
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match="already exists"):
        write_frames_to_bag(tmp_path / "b", make_frames(1), progress=False)


def test_convert_scannet_sens(tmp_path):
    scan = make_tiny_scan()
    sens = write_sens_scan(tmp_path / "raw", scan)
    summary = convert_scannet(sens, tmp_path / "bag", semantics="truth", tsv_path=write_tsv(tmp_path / "t.tsv"),
                              progress=False)
    assert summary.frames == 3 and summary.skipped_invalid_pose == 1
    from gnesf_ros.data.scannet import ScanNetScan
    with ScanNetScan(sens, tsv_path=tmp_path / "t.tsv", semantics="truth") as s:
        for a, b in zip(s, read_frames_from_bag(tmp_path / "bag")):
            np.testing.assert_array_equal(a.frame.rgb, b.frame.rgb)
            np.testing.assert_array_equal(a.frame.K, b.frame.K)
            np.testing.assert_array_equal(a.frame.depth_m, b.frame.depth_m)
            np.testing.assert_array_equal(a.truth_labels, b.truth_labels)
            np.testing.assert_array_equal(a.frame.probs, b.frame.probs)
            np.testing.assert_allclose(a.frame.T_map_cam, b.frame.T_map_cam, atol=1e-6)  # float32 poses
