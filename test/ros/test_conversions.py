"""Message <-> numpy conversions against hand-made messages (every encoding, padding, endianness, bad input)."""
import array
import math

import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg")
from geometry_msgs.msg import Pose, Transform  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from gnesf_ros.errors import InputError  # noqa: E402
from gnesf_ros.ros import conversions as cv  # noqa: E402


def make_image(pixels: np.ndarray, encoding: str, pad: int = 0, big_endian: bool = False) -> Image:
    """Hand-build an Image: rows of `pixels` bytes followed by `pad` junk bytes, in the chosen byte order."""
    h, w = pixels.shape[:2]
    wire = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = wire.reshape(h, -1).view(np.uint8).reshape(h, -1)
    padded = np.concatenate([rows, np.full((h, pad), 0xAB, np.uint8)], axis=1)
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=int(big_endian), step=padded.shape[1])
    msg.data = padded.tobytes()
    return msg


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings(rng, encoding, pad):
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    if encoding == "mono8":
        rgb = np.repeat(rgb[:, :, :1], 3, axis=2)
        pixels = rgb[:, :, 0]
    elif encoding.startswith("bgr"):
        pixels = rgb[:, :, ::-1]
    else:
        pixels = rgb
    if encoding.endswith("a8"):
        pixels = np.concatenate([pixels, np.full((5, 7, 1), 9, np.uint8)], axis=2)
    out = cv.image_to_rgb(make_image(np.ascontiguousarray(pixels), encoding, pad=pad))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
def test_depth_16bit_mm_to_metres(encoding, big_endian):
    mm = np.array([[0, 1000, 2500], [65535, 1, 42]], dtype=np.uint16)
    depth = cv.image_to_depth_m(make_image(mm, encoding, pad=2, big_endian=big_endian))
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, mm.astype(np.float64) / 1000.0, rtol=1e-6)


def test_depth_32fc1_nan_is_no_measurement():
    d = np.array([[1.5, np.nan], [-1.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(cv.image_to_depth_m(make_image(d, "32FC1", pad=4)), [[1.5, 0], [0, 2.0]])


def test_big_endian_32fc1():
    d = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    np.testing.assert_array_equal(cv.image_to_numpy(make_image(d, "32FC1", big_endian=True)), d)


def test_probability_image_32fc20(rng):
    probs = rng.random((4, 6, 20)).astype(np.float32)
    out = cv.image_to_probs(make_image(probs, "32FC20", pad=8), 20)
    assert out.shape == (4, 6, 20)
    np.testing.assert_array_equal(out, probs)
    with pytest.raises(InputError, match="32FC20.*20 channels.*class list has 21"):
        cv.image_to_probs(make_image(probs, "32FC20"), 21)


def test_label_images_mono8_and_mono16():
    ids8 = np.array([[0, 5, 255], [19, 3, 255]], dtype=np.uint8)
    labels = cv.image_to_labels(make_image(ids8, "mono8", pad=1), 20)
    np.testing.assert_array_equal(labels, [[0, 5, 255], [19, 3, 255]])
    ids16 = np.array([[0, 65535, 7], [255, 19, 1]], dtype=np.uint16)
    labels = cv.image_to_labels(make_image(ids16, "mono16", big_endian=True), 20)
    np.testing.assert_array_equal(labels, [[0, 255, 7], [255, 19, 1]])
    probs = cv.semantic_image_to_probs(make_image(ids16, "16UC1"), 20)
    assert probs.shape == (2, 3, 20)
    assert probs[0, 1].sum() == 0.0 and probs[0, 2, 7] == 1.0


def test_unknown_class_ids_rejected():
    ids = np.array([[0, 21, 40]], dtype=np.uint8)
    with pytest.raises(InputError, match=r"'mono8' 3x1: 2 pixel\(s\) with class id\(s\) \[21, 40\] outside 0..19"):
        cv.image_to_labels(make_image(ids, "mono8"), 20)


def test_confidence_image():
    c = np.array([[0.5, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(cv.image_to_confidence(make_image(c, "32FC1")), [[0.5, 1.0]])
    with pytest.raises(InputError, match="NaN"):
        cv.image_to_confidence(make_image(np.array([[np.nan]], np.float32), "32FC1"))


def test_bad_images():
    rgb = np.zeros((4, 5, 3), np.uint8)
    msg = make_image(rgb, "rgb8")
    msg.data = bytes(59)
    with pytest.raises(InputError, match=r"'rgb8' 5x4: data has 59 bytes, expected step 15 x height 4 = 60"):
        cv.image_to_rgb(msg)
    msg = make_image(rgb, "rgb8")
    msg.step = 14
    with pytest.raises(InputError, match="step 14 is smaller than one row"):
        cv.image_to_rgb(msg)
    with pytest.raises(InputError, match="unknown image encoding 'yuv422'"):
        cv.image_to_numpy(make_image(rgb, "yuv422"))
    with pytest.raises(InputError, match="colour image encoding '32FC1'"):
        cv.image_to_rgb(make_image(np.zeros((2, 2), np.float32), "32FC1"))
    with pytest.raises(InputError, match="empty image"):
        cv.image_to_rgb(Image(encoding="rgb8", height=0, width=0, step=0))
    with pytest.raises(InputError, match="depth image encoding 'rgb8'"):
        cv.image_to_depth_m(make_image(rgb, "rgb8"))
    with pytest.raises(InputError, match="label image encoding 'rgb8'"):
        cv.image_to_labels(make_image(rgb, "rgb8"), 20)


@pytest.mark.parametrize("encoding,dtype,shape", [("rgb8", np.uint8, (3, 4, 3)), ("mono16", np.uint16, (3, 4)),
                                                  ("32FC1", np.float32, (3, 4)), ("32FC5", np.float32, (3, 4, 5))])
def test_encode_round_trip(rng, encoding, dtype, shape):
    arr = (rng.random(shape) * 200).astype(dtype)
    msg = cv.numpy_to_image(arr, encoding)
    assert msg.step == int(np.prod(shape[1:])) * np.dtype(dtype).itemsize
    np.testing.assert_array_equal(cv.image_to_numpy(msg), arr)
    with pytest.raises(InputError, match=f"cannot encode array .* as '{encoding}'"):
        cv.numpy_to_image(arr.astype(np.float64), encoding)


def test_camera_info():
    K = np.array([[100.0, 0, 80], [0, 101.0, 60], [0, 0, 1]])
    msg = cv.K_to_camera_info(K, 120, 160)
    K2, h, w = cv.camera_info_to_K(msg)
    np.testing.assert_array_equal(K2, K)
    assert (h, w) == (120, 160)
    msg.k[0] = 0.0
    with pytest.raises(InputError, match="focal lengths must be finite and > 0, got fx=0.0"):
        cv.camera_info_to_K(msg)
    msg.k[0] = math.nan
    with pytest.raises(InputError, match="fx=nan"):
        cv.camera_info_to_K(msg)
    with pytest.raises(InputError, match="image size"):
        cv.camera_info_to_K(CameraInfo(k=K.reshape(-1).tolist()))


def test_point_cloud_round_trip(rng):
    n = 1000
    xyz = rng.normal(size=(n, 3)).astype(np.float32)
    label = rng.integers(0, 20, n).astype(np.uint16)
    conf = rng.random(n).astype(np.float32)
    rgb = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    msg = cv.array_to_cloud(cv.semantic_points_to_array(xyz, label, conf, rgb))
    assert isinstance(msg.data, array.array) and len(msg.data) == n * 24
    assert [f.name for f in msg.fields] == ["x", "y", "z", "rgb", "label", "confidence"]
    assert msg.point_step == 24 and msg.width == n and msg.height == 1
    pts = cv.cloud_to_array(msg)
    np.testing.assert_array_equal(np.stack([pts["x"], pts["y"], pts["z"]], 1), xyz)
    np.testing.assert_array_equal(pts["label"], label)
    np.testing.assert_array_equal(pts["confidence"], conf)
    np.testing.assert_array_equal(cv.unpack_rgb(pts["rgb"]), rgb)
    empty = cv.array_to_cloud(np.zeros(0, cv.CLOUD_DTYPE))
    assert cv.cloud_to_array(empty).shape == (0,)
    with pytest.raises(InputError, match="semantic points must be"):
        cv.semantic_points_to_array(xyz, label[:-1], conf, rgb)
    msg.data = msg.data[:-1]
    with pytest.raises(InputError, match="expected 24000"):
        cv.cloud_to_array(msg)


def test_pose_and_transform_round_trip(rng):
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rng.normal(size=3)).as_matrix()
    T[:3, 3] = rng.normal(size=3)
    np.testing.assert_allclose(cv.pose_to_matrix(cv.matrix_to_pose(T)), T, atol=1e-12)
    np.testing.assert_allclose(cv.transform_to_matrix(cv.matrix_to_transform(T)), T, atol=1e-12)


def test_bad_poses():
    pose = Pose()
    pose.orientation.w = 1.0
    np.testing.assert_array_equal(cv.pose_to_matrix(pose), np.eye(4))
    pose.position.x = math.nan
    with pytest.raises(InputError, match="translation contains NaN"):
        cv.pose_to_matrix(pose)
    pose = Pose()
    pose.orientation.w = 2.0
    with pytest.raises(InputError, match="norm 2.000000, expected 1"):
        cv.pose_to_matrix(pose)
    tf = Transform()
    tf.rotation.w = math.nan
    with pytest.raises(InputError, match="quaternion contains NaN"):
        cv.transform_to_matrix(tf, "tf map->cam")
    with pytest.raises(InputError, match="norm 0.000000"):
        cv.transform_to_matrix(Transform(rotation=Transform().rotation.__class__(w=0.0)))


def test_stamps():
    assert cv.stamp_to_ns(cv.ns_to_stamp(12_345_678_901)) == 12_345_678_901
