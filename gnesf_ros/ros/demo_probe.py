"""The demo's window on the running mapping node (rclpy side): /diagnostics, the latched semantic cloud and the
node's services (~/flush, ~/save_map|save_ply|save_mesh, ~/render_view) as plain numpy in, numpy out.

`gnesf_ros/cli/demo.py` imports this lazily (only ros/ imports rclpy); timeouts become `DemoError`s that say what
to do."""
from __future__ import annotations

from typing import Any

import numpy as np

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import DemoError
from gnesf_ros.ros.probe import GraphProbe


class DemoProbe(GraphProbe):
    """This process's rclpy node (spun in a thread): /diagnostics, the node's latched cloud, its services."""

    def __init__(self, node: str) -> None:
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import PointCloud2

        # no rclpy signal handler here: Ctrl-C must reach the demo's clean-up (which stops the children)
        super().__init__("gnesf_demo", handle_signals=False)
        self.node_name = node
        self.cloud: Any = None
        self.cloud_count = 0
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.subscribe(PointCloud2, f"{node}/semantic_cloud", latched, callback=self._on_cloud)

    def _on_cloud(self, msg: Any) -> None:
        self.cloud = msg
        self.cloud_count += 1

    def call(self, srv_type: Any, name: str, request: Any, timeout_s: float) -> Any:
        try:
            return super().call(srv_type, name, request, timeout_s, appear_timeout_s=min(timeout_s, 30.0))
        except TimeoutError as exc:
            raise DemoError(f"{exc} (is the node still running?)") from exc

    def flush(self, timeout_s: float) -> str:
        """~/flush; returns its message ("nothing pending" when no window was waiting)."""
        from std_srvs.srv import Trigger

        res = self.call(Trigger, f"{self.node_name}/flush", Trigger.Request(), timeout_s)
        if not res.success:
            raise DemoError(f"{self.node_name}/flush failed: {res.message}")
        return res.message

    def save(self, service: str, path: str, timeout_s: float) -> None:
        """~/save_map, ~/save_ply or ~/save_mesh (gnesf_ros_msgs/FilePath) to `path`."""
        from gnesf_ros_msgs.srv import FilePath

        res = self.call(FilePath, f"{self.node_name}/{service}", FilePath.Request(file_path=path), timeout_s)
        if not res.success:
            raise DemoError(f"{self.node_name}/{service} failed: {res.message}")

    def cloud_points(self) -> tuple[np.ndarray, np.ndarray]:
        """The latest latched cloud as (xyz (N, 3) float32, label (N,) uint16)."""
        from gnesf_ros.ros.conversions import cloud_to_array

        arr = cloud_to_array(self.cloud)
        return np.stack([arr["x"], arr["y"], arr["z"]], axis=1), np.asarray(arr["label"])

    def render_view(self, K: np.ndarray, T_map_cam: np.ndarray, height: int, width: int, timeout_s: float
                    ) -> tuple[np.ndarray, np.ndarray]:
        """~/render_view at a pose in the map frame: (label (H, W) int64, unknown = IGNORE_ID; rgb (H, W, 3))."""
        from geometry_msgs.msg import PoseStamped
        from gnesf_ros_msgs.srv import RenderView

        from gnesf_ros.ros import conversions as conv

        req = RenderView.Request()
        req.camera_info = conv.K_to_camera_info(K, height, width)
        req.pose = PoseStamped()
        req.pose.header.frame_id = "map"
        req.pose.pose = conv.matrix_to_pose(T_map_cam)
        res = self.call(RenderView, f"{self.node_name}/render_view", req, timeout_s)
        if not res.success:
            raise DemoError(f"{self.node_name}/render_view failed: {res.message}")
        label = conv.image_to_numpy(res.label).astype(np.int64)
        label[label == conv.LABEL_UNKNOWN_MONO16] = IGNORE_ID
        return label, conv.image_to_rgb(res.color)
