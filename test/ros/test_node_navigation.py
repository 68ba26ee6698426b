"""The navigation outputs over real middleware: `~/obstacle_cloud`, `~/occupancy` and `~/class_masks/table` of a
room with one table (`scene.table_room()`), scored against the scene's geometry.

A publisher process circles the table with an RGB-D camera (24 frames, 160x120, ground-truth labels: the segmenter
is not under test) into the node (real Mapper, depth geometry, random tiny weights: with labels that agree across
views the soft vote cannot change them). The probe subscribes as Nav2 does: the obstacle cloud with sensor-data QoS
(best effort, volatile), the grids latched (reliable + transient local, depth 1). Bad navigation parameters stop the
node at start with a clear message (checked with the numpy stand-in mapper).
"""
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("nav_msgs.msg", reason="nav_msgs (ros-nav-msgs) is needed for ~/occupancy")
gnesf_srv = pytest.importorskip("gnesf_ros_msgs.srv", reason="gnesf_ros_msgs not built")
pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs (real or fallback build) needed for TF input")
HELPERS = Path(__file__).resolve().parent / "helpers"
sys.path.insert(0, str(HELPERS))

from ros_harness import REPO, NodeProcess, Probe, latched_qos, subprocess_env, wait_until  # noqa: E402

pytestmark = [pytest.mark.ros]

FRAMES = 24
FLOOR, TABLE = 1, 6
RES = 0.05
BAND = (0.05, 2.0)
RADIUS = 3.0
MAPPER = {"geometry_source": "depth", "window_size": 4, "voxel_size_m": 0.04, "max_depth_m": 3.5,
          "tsdf_trunc_m": 0.12, "max_volume_dims": 96, "image_width_px": 160, "render_num_views": 2}
NODE = {"input_qos": "reliable", "queue_size": 100, "sync_queue_size": 100, "publish_keyframe_images": False,
        "diagnostics_rate_hz": 5.0, "tf_lookup_timeout_s": 2.0, "mask_classes": "[table]",
        "obstacle_rate_hz": 5.0, "grid_rate_hz": 2.0, "grid_resolution_m": RES, "obstacle_radius_m": RADIUS}


def _footprint_geometry(spec_origin, width, height):
    """Per cell of the published grid: (inside the table's footprint (H, W) bool, distance to it (H, W) m)."""
    from publish_table_room import room

    cx, cy, hx, hy, yaw = room().objects[-1].footprint
    x = spec_origin[0] + (np.arange(width) + 0.5) * RES
    y = spec_origin[1] + (np.arange(height) + 0.5) * RES
    gx, gy = np.meshgrid(x, y, indexing="xy")
    dx, dy = gx - cx, gy - cy
    lx = np.abs(np.cos(yaw) * dx + np.sin(yaw) * dy)
    ly = np.abs(-np.sin(yaw) * dx + np.cos(yaw) * dy)
    return (lx < hx) & (ly < hy), np.hypot(np.maximum(lx - hx, 0.0), np.maximum(ly - hy, 0.0))


def _save_figure(grid_msg, occ, mask, pts, cam_xy) -> None:
    """What the probe received, as a PNG: into FIGURE_DIR when set (docs/img/navigation_table_room.png is made with
    `GNESF_FIGURE_DIR=docs/img pytest test/ros/test_node_navigation.py -k table`), else the test's tmp dir."""
    from publish_table_room import room

    from gnesf_ros.data.scene import _obb_corners
    from gnesf_ros.eval.plots import save_navigation_layers

    out = Path(os.environ.get("GNESF_FIGURE_DIR") or tempfile.mkdtemp(prefix="gnesf_nav_"))
    x0, y0, r = grid_msg.info.origin.position.x, grid_msg.info.origin.position.y, grid_msg.info.resolution
    extent = (x0, x0 + grid_msg.info.width * r, y0, y0 + grid_msg.info.height * r)
    save_navigation_layers(out / "navigation_table_room.png", occ, mask, extent,
                           np.stack([pts["x"], pts["y"]], 1), cam_xy, _obb_corners(room().objects[-1].footprint),
                           "table")
    print(f"figure: {out / 'navigation_table_room.png'}")


def _grid(msg) -> np.ndarray:
    return np.asarray(msg.data, dtype=np.int8).reshape(msg.info.height, msg.info.width)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_obstacle_cloud_occupancy_and_class_mask_of_a_room_with_a_table(tmp_path):
    import subprocess

    import torch
    from nav_msgs.msg import OccupancyGrid
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import PointCloud2
    from std_srvs.srv import Trigger

    from gnesf_ros.model import GNeSF, ModelConfig
    from gnesf_ros.model.checkpoint import save_checkpoint
    from gnesf_ros.ros import conversions as conv

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(GNeSF(ModelConfig(num_classes=20, feature_channels=4, volume_channels=4, volume_width=4,
                                      mlp_width=8, vote_feature_channels=4, render_samples=8, visibility_samples=4,
                                      trunc_m=0.12, visibility_margin_m=0.12)), ckpt)
    probe = Probe()
    node = NodeProcess({**NODE, **MAPPER, "checkpoint": str(ckpt)}, real_mapper=True)
    try:
        node.wait_ready(120)
        clouds = probe.subscribe(PointCloud2, "/gnesf_mapping/obstacle_cloud", qos_profile_sensor_data)
        grids = probe.subscribe(OccupancyGrid, "/gnesf_mapping/occupancy", latched_qos())
        masks = probe.subscribe(OccupancyGrid, "/gnesf_mapping/class_masks/table", latched_qos())
        res = subprocess.run([sys.executable, str(HELPERS / "publish_table_room.py"), "--frames", str(FRAMES)],
                             cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=180)
        assert res.returncode == 0, f"publisher failed:\n{res.stdout}\n{res.stderr}"
        probe.wait_diag("frames_mapped", FRAMES, timeout_s=240)
        flushed = probe.call(Trigger, "/gnesf_mapping/flush", Trigger.Request(), timeout_s=120)
        assert flushed.success, flushed.message
        # the map is final now: the grid timer (2 Hz) publishes a grid within 0.5 s of any change, so a cloud
        # stamped (at publication, same clock) 1.5 s after this comes after the final grids were published
        t_final_ns = time.time_ns() + 1_500_000_000

        def stamp_ns(msg) -> int:
            return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec

        wait_until(lambda: grids and masks and clouds and stamp_ns(clouds[-1]) >= t_final_ns, 60,
                   f"grids (got {len(grids)}), masks ({len(masks)}) and a cloud of the final map")

        # ---- ~/obstacle_cloud: same fields as ~/semantic_cloud; table points, no floor, in the band and radius
        cloud = clouds[-1]
        assert cloud.header.frame_id == "map"
        assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb", "label", "confidence"]
        pts = conv.cloud_to_array(cloud)
        assert np.sum(pts["label"] == TABLE) > 200, np.bincount(pts["label"])
        assert not np.any(pts["label"] == FLOOR)
        assert pts["z"].min() >= BAND[0] - 0.02 and pts["z"].max() <= BAND[1] + 0.02  # floor estimate ~0 m
        from publish_table_room import ring_poses, room

        cam_xy = ring_poses(room(), FRAMES)[-1][:2, 3]  # the last mapped frame's camera
        assert np.hypot(pts["x"] - cam_xy[0], pts["y"] - cam_xy[1]).max() <= RADIUS + 1e-3

        # ---- ~/occupancy: the table's cells occupied, open floor around it free
        grid_msg = grids[-1]
        assert grid_msg.header.frame_id == "map" and grid_msg.info.resolution == pytest.approx(RES)
        occ = _grid(grid_msg)
        inside, dist = _footprint_geometry((grid_msg.info.origin.position.x, grid_msg.info.origin.position.y),
                                           grid_msg.info.width, grid_msg.info.height)
        ring = (dist > 0.15) & (dist < 0.6)
        occupied_table = np.mean(occ[inside] == 100)
        free_ring, occupied_ring = np.mean(occ[ring] == 0), np.mean(occ[ring] == 100)
        assert set(np.unique(occ).tolist()) <= {-1, 0, 100}

        # ---- ~/class_masks/table: covers the table's footprint
        mask_msg = masks[-1]
        mask = _grid(mask_msg)
        assert (mask_msg.info.width, mask_msg.info.height) == (grid_msg.info.width, grid_msg.info.height)
        assert set(np.unique(mask).tolist()) <= {0, 100}
        on = mask == 100
        iou = np.sum(on & inside) / np.sum(on | inside)
        print(f"table cells occupied {occupied_table:.3f}; floor ring free {free_ring:.3f} occupied "
              f"{occupied_ring:.3f}; table mask IoU {iou:.3f} ({np.sum(inside)} truth cells, {np.sum(on)} mask cells)"
              f"; obstacle cloud {len(pts)} points, {np.sum(pts['label'] == TABLE)} of the table")
        _save_figure(grid_msg, occ, mask, pts, cam_xy)
        assert occupied_table >= 0.95
        assert free_ring >= 0.9 and occupied_ring <= 0.02
        assert iou >= 0.8
        assert "Traceback" not in node.output, node.output
    except (AssertionError, TimeoutError) as exc:
        raise AssertionError(f"{exc}\n--- node output:\n{node.output}") from exc
    finally:
        node.stop()
        probe.close()


@pytest.mark.parametrize("params,message", [
    ({"mask_classes": "[tabel]"}, "mask_classes: unknown class name(s) ['tabel']"),
    ({"obstacle_height_range_m": "[2.0, 0.05]"}, "obstacle_height_range_m must be [min, max] with finite min < max"),
    ({"traversable_classes": "[floor, carpet]"}, "traversable_classes: unknown class name(s) ['carpet']"),
])
def test_bad_navigation_parameters_stop_the_node_with_a_clear_message(params, message):
    node = NodeProcess(params)
    try:
        node.proc.wait(60)
        node._reader.join(5.0)  # the whole output
    finally:
        node.stop()
    assert node.proc.returncode == 2, node.output
    assert "cannot start" in node.output and message in node.output, node.output
