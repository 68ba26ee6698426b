"""Accuracy over real middleware: the node maps a held-out synthetic scan as well as the offline Mapper does.

A publisher process streams 50 frames of held-out scan 2000 (every 6th of 300; 160x120; rgb8, camera_info, 32FC1
depth, the noisy segmenter output as mono8 labels + 32FC1 confidence; pose from TF or from a PoseStamped topic) at
10 Hz into the node
(real Mapper, geometry_source depth, the shipped checkpoint or a random tiny one). The test scores the node's
`~/semantic_cloud` against the scene's true surface (Atlas protocol) and its `~/render_view` at a held-out pose
against the true labels, and compares both with the offline Mapper fed the same frames in this process (same
config, poses through the same quaternion round trip): mIoU within 2 points. The node's queue is large enough
that nothing is dropped (checked: drop counters are zero and every frame is mapped), so both saw the same frames.
Neither calls `flush()`: the node has no such step, and a partial window stays unfused in both.

Why labels + confidence and not 32FC20 probabilities: measured here, 1.5 MB 32FC20 images at 10 Hz over the
reliable LARGE_DATA transport reach the node in bursts about every 3 s (median latency ~13 s even with the
FakeMapper), so 50 frames took ~30 s to stream; labels + confidence stream in 5 s with ~40 ms latency.
The confidence is an optional stream: the node's synchroniser waits for it only once it has seen one, so a first
label image that overtakes the first confidence image is mapped as one-hot labels (seen here: 1514 voxels' votes
differed). The publisher therefore sends the first label image only once the node has taken a confidence image.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
gnesf_srv = pytest.importorskip("gnesf_ros_msgs.srv", reason="gnesf_ros_msgs not built (tools/build_interfaces.sh)")
pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs (real or fallback build) needed for TF input")
HELPERS = Path(__file__).resolve().parent / "helpers"
sys.path.insert(0, str(HELPERS))

from publish_synthetic import parse_indices, scan_for, wire_frames  # noqa: E402
from ros_harness import REPO, NodeProcess, Probe, latched_qos, subprocess_env, wait_until  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(400)]

SEED = 2000  # test split (config/data.yaml): never trained on
INDICES = "0:300:6"  # 50 frames spread over the whole trajectory
TARGET_INDEX = 153  # held out: between published frames 150 and 156
H, W = 120, 160
C = 20
RATE_HZ = 10.0
SEMANTICS = "labels"  # mono8 argmax + 32FC1 confidence, as bags and the demo carry them (see the module docstring)
MAX_AHEAD = 5  # frames the publisher may be ahead of what the node has taken (see publish_synthetic.py)
TOLERANCE_POINTS = 2.0
MAPPER = {"geometry_source": "depth", "window_size": 4, "voxel_size_m": 0.08, "max_volume_dims": 48,
          "image_width_px": 160, "tsdf_trunc_m": 0.16, "render_num_views": 4, "max_depth_m": 3.0}
NODE = {"input_qos": "reliable", "queue_size": 100, "thin_non_keyframes": False, "sync_queue_size": 100, "publish_rate_hz": 5.0,
        "diagnostics_rate_hz": 5.0, "publish_keyframe_images": False, "tf_lookup_timeout_s": 2.0}


@pytest.fixture(scope="module")
def one_thread():
    """torch in every process of this module on one thread (2-thread torch is far slower on a busy 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")  # the node and publisher processes inherit it (torch's default threads)
        mp.setenv("MKL_NUM_THREADS", "1")
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The shipped checkpoint when present (scores then mean something), else random tiny weights."""
    from gnesf_ros.paths import checkpoint_path

    if checkpoint_path().is_file():
        return checkpoint_path()
    from gnesf_ros.model import GNeSF, ModelConfig
    from gnesf_ros.model.checkpoint import save_checkpoint

    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(GNeSF(ModelConfig(num_classes=C, feature_channels=4, volume_channels=4, volume_width=4,
                                      mlp_width=8, vote_feature_channels=4, render_samples=16, visibility_samples=4,
                                      trunc_m=0.16, visibility_margin_m=0.16)), path)
    return path


def _miou(conf: np.ndarray) -> float:
    from gnesf_ros.eval.metrics import scores_from_confusion

    return float(scores_from_confusion(conf).miou)


def _render_pose(T: np.ndarray) -> np.ndarray:
    """The pose the node's render_view gets: through geometry_msgs/Pose and back."""
    from gnesf_ros.ros import conversions as conv

    return conv.pose_to_matrix(conv.matrix_to_pose(T))


@pytest.fixture(scope="module")
def offline(one_thread, checkpoint):
    """The offline Mapper on the same frames, the 3D truth (observed part of the surface) and the target view."""
    from gnesf_ros.eval.atlas import atlas_confusion
    from gnesf_ros.eval.evaluate import _Coverage
    from gnesf_ros.eval.metrics import confusion_matrix
    from gnesf_ros.mapping import Mapper
    from gnesf_ros.mapping.config import MapperConfig

    scan = scan_for(SEED, H, W)
    indices = parse_indices(INDICES)
    assert TARGET_INDEX not in indices
    mapper = Mapper(MapperConfig(**MAPPER, checkpoint=str(checkpoint)))
    coverage = _Coverage()
    keyframes = 0
    for _i, frame, _view in wire_frames(scan, indices, SEMANTICS):
        coverage.add(frame)
        keyframes += mapper.add_frame(frame).is_keyframe
    xyz, label = scan.renderer.surface_points(0.04)
    keep = coverage.observed(xyz, 0.05)
    truth_xyz, truth_label = xyz[keep], label[keep]
    pts = mapper.semantic_points()
    target, target_view = scan.frame(TARGET_INDEX)
    T_target = _render_pose(target.T_map_cam)
    render = mapper.render(target.K, T_target, H, W)
    return {
        "num_frames": len(indices), "keyframes": keyframes,
        "cloud": _sorted_points(np.asarray(pts.xyz, np.float32), np.asarray(pts.label, np.uint16)),
        "truth_xyz": truth_xyz, "truth_label": truth_label, "K": target.K, "T_target": target.T_map_cam,
        "truth_2d": target_view.labels.astype(np.int64), "render_label": np.asarray(render.label).astype(np.int64),
        "miou_3d": _miou(atlas_confusion(pts.xyz, pts.label, truth_xyz, truth_label, C)),
        "miou_2d": _miou(confusion_matrix(np.asarray(render.label).astype(np.int64),
                                          target_view.labels.astype(np.int64), C)),
    }


@pytest.fixture(scope="module")
def probe(one_thread):
    p = Probe()
    yield p
    p.close()


def _publish(pose_source: str) -> None:
    cmd = [sys.executable, str(HELPERS / "publish_synthetic.py"), "--seed", str(SEED), "--indices", INDICES,
           "--size", str(H), str(W), "--rate-hz", str(RATE_HZ), "--pose-source", pose_source,
           "--semantics", SEMANTICS, "--max-ahead", str(MAX_AHEAD)]
    res = subprocess.run(cmd, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=180)
    if res.returncode != 0:
        raise RuntimeError(f"publisher failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    print(res.stdout)


def _sorted_points(xyz: np.ndarray, label: np.ndarray) -> np.ndarray:
    pts = np.zeros(len(xyz), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("label", "<u2")])
    pts["x"], pts["y"], pts["z"], pts["label"] = xyz[:, 0], xyz[:, 1], xyz[:, 2], label
    return np.sort(pts, order=["x", "y", "z"])


def _wait_for_cloud(clouds: list, expected: np.ndarray, timeout_s: float) -> bool:
    """Wait until the latest received cloud holds exactly `expected`'s points and labels; False on timeout."""
    from gnesf_ros.ros import conversions as conv

    def same() -> bool:
        if not clouds or clouds[-1].width != len(expected):
            return False
        c = conv.cloud_to_array(clouds[-1])
        got = _sorted_points(np.stack([c["x"], c["y"], c["z"]], 1), c["label"])
        return bool(np.array_equal(got, expected))

    try:
        wait_until(same, timeout_s, "the final cloud", poll_s=0.2)
        return True
    except TimeoutError:
        return False


def _drops(diag: dict[str, str]) -> dict[str, str]:
    """Every drop / bad-input counter in the node's diagnostics that is not zero."""
    keys = [k for k in diag if k.startswith(("dropped.", "sync.dropped_", "bad_input.")) or k == "publish_errors"]
    return {k: diag[k] for k in keys if diag[k] not in ("0", "0.000")}


@pytest.mark.parametrize("pose_source", ["tf", "pose_stamped"])
def test_node_matches_offline_mapper(pose_source, offline, probe, checkpoint):
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import PointCloud2

    from gnesf_ros.eval.atlas import atlas_confusion
    from gnesf_ros.eval.metrics import confusion_matrix
    from gnesf_ros.ros import conversions as conv

    n = offline["num_frames"]
    node = NodeProcess({**NODE, **MAPPER, "checkpoint": str(checkpoint), "pose_source": pose_source},
                       real_mapper=True)
    try:
        node.wait_ready(120)
        probe.diag = {}  # forget the previous node's diagnostics
        clouds = probe.subscribe(PointCloud2, "/gnesf_mapping/semantic_cloud", latched_qos())
        _publish(pose_source)
        probe.wait_diag("frames_mapped", n, timeout_s=180)
        diag = dict(probe.diag)
        assert _drops(diag) == {}, f"the node dropped or rejected input: {_drops(diag)}"
        assert int(diag["keyframes"]) == offline["keyframes"], diag
        # the cloud of the final map: a cloud published before the last frames were fused can have the final
        # number of points and other labels, so wait for the offline map's points and labels (the same frames and
        # config give the same map); should that never come, the latest cloud is scored with the tolerance
        final = _wait_for_cloud(clouds, offline["cloud"], timeout_s=20.0)
        cloud = conv.cloud_to_array(clouds[-1])
        xyz = np.stack([cloud["x"], cloud["y"], cloud["z"]], 1).astype(np.float64)
        miou_3d = _miou(atlas_confusion(xyz, cloud["label"].astype(np.int64), offline["truth_xyz"],
                                        offline["truth_label"], C))

        req = gnesf_srv.RenderView.Request()
        req.camera_info = conv.K_to_camera_info(offline["K"], H, W)
        req.pose = PoseStamped()
        req.pose.header.frame_id = "map"
        req.pose.pose = conv.matrix_to_pose(offline["T_target"])
        res = probe.call(gnesf_srv.RenderView, "/gnesf_mapping/render_view", req, timeout_s=120)
        assert res.success, res.message
        label = conv.image_to_numpy(res.label).astype(np.int64)
        label[label == conv.LABEL_UNKNOWN_MONO16] = 255
        miou_2d = _miou(confusion_matrix(label, offline["truth_2d"], C))
        same_pixels = float(np.mean(label == offline["render_label"]))

        print(f"[{pose_source}] 3D mIoU node {miou_3d:.2f} offline {offline['miou_3d']:.2f} "
              f"({len(xyz)} points, {len(offline['truth_xyz'])} truth points); 2D mIoU node {miou_2d:.2f} "
              f"offline {offline['miou_2d']:.2f} ({same_pixels:.1%} identical pixels); checkpoint {checkpoint.name}; "
              f"cloud {'identical to' if final else 'DIFFERENT from'} the offline map")
        assert abs(miou_3d - offline["miou_3d"]) <= TOLERANCE_POINTS
        assert abs(miou_2d - offline["miou_2d"]) <= TOLERANCE_POINTS
        assert node.count("[bad input") == 0 and "Traceback" not in node.output, node.output
    except (AssertionError, TimeoutError, RuntimeError) as exc:
        raise AssertionError(f"{exc}\n--- node output:\n{node.output}") from exc
    finally:
        node.stop()
