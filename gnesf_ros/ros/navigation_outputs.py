"""The node's outputs for navigation stacks: `~/obstacle_cloud`, `~/occupancy`, `~/class_masks/<class>`.

The computation is gnesf_ros/mapping/navigation.py (pure numpy); this module owns the publishers, the two timers
and the message building. It reads the map through one callable, `map_snapshot(known_version) -> (version,
SemanticPoints or None when the map is still at known_version)`, which the node implements under its map lock,
and learns the camera's position from `set_camera_pose`.

QoS, chosen for what Nav2 subscribes with (docs/navigation.md):
- `~/obstacle_cloud`: reliable, volatile, depth 1. Nav2's ObstacleLayer and VoxelLayer subscribe with sensor-data
  QoS (best effort, volatile), which a reliable publisher serves; a best-effort publisher would in turn be
  refused by reliable subscribers (RViz's default, most tools). Volatile: a late subscriber must not get a stale
  cloud from where the camera was; the next one comes within 1 / obstacle_rate_hz.
- `~/occupancy`, `~/class_masks/*`: reliable + transient local, depth 1 ("latched"), what Nav2's map subscribers
  use (StaticLayer with map_subscribe_transient_local, the costmap filters' mask subscription), so that a
  costmap started later still gets the current grid. Published when the map changed, at most at grid_rate_hz.
"""
from __future__ import annotations

import array
import threading
from typing import Any, Callable

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from gnesf_ros.classes import ClassList
from gnesf_ros.config import from_dict
from gnesf_ros.errors import GnesfError
from gnesf_ros.mapping.navigation import GridSpec, NavigationConfig, NavigationLayers, NavigationMaps, topic_token
from gnesf_ros.ros import conversions as conv
from gnesf_ros.ros.timers import set_timer_rate

OBSTACLE_CLOUD_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.VOLATILE)
GRID_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def navigation_config(node: Any) -> NavigationConfig:
    """The NavigationConfig of `node`'s declared parameters (gnesf_ros/ros/params.py declares them); ConfigError
    when a value is invalid."""
    import dataclasses

    values = {}
    for f in dataclasses.fields(NavigationConfig):
        value = node.get_parameter(f.name).value
        values[f.name] = [] if value is None else value  # an empty list in a parameter file reads as "not set"
    return from_dict(NavigationConfig, values, node.get_name())


def grid_message(grid: np.ndarray, spec: GridSpec, header: Any) -> Any:
    """(height, width) int8 values on `spec` -> nav_msgs/OccupancyGrid (row-major from the origin corner)."""
    from nav_msgs.msg import OccupancyGrid

    if grid.shape != (spec.height, spec.width) or grid.dtype != np.int8:
        raise GnesfError(f"grid_message: expected int8 ({spec.height}, {spec.width}), got {grid.dtype} {grid.shape}")
    msg = OccupancyGrid()
    msg.header = header
    msg.info.map_load_time = header.stamp
    msg.info.resolution = float(spec.resolution_m)
    msg.info.width, msg.info.height = int(spec.width), int(spec.height)
    msg.info.origin.position.x, msg.info.origin.position.y = float(spec.origin_x_m), float(spec.origin_y_m)
    msg.info.origin.orientation.w = 1.0
    msg.data = array.array("b", np.ascontiguousarray(grid).tobytes())
    return msg


class NavigationOutputs:
    """Publishers and timers of the navigation outputs on `node` (see the module docstring)."""

    def __init__(self, node: Any, class_list: ClassList, map_frame: str,
                 map_snapshot: Callable[[int], tuple[int, Any]], publish: Callable[[Any, Any], None]) -> None:
        from nav_msgs.msg import OccupancyGrid
        from sensor_msgs.msg import PointCloud2

        self.node = node
        self.config = navigation_config(node)
        self.maps = NavigationMaps(self.config, class_list)  # ConfigError for unknown class names
        self.map_frame = map_frame
        self._snapshot = map_snapshot
        self._publish = publish
        self._lock = threading.Lock()  # guards the camera position (set from the node's worker thread)
        self._points: Any = None
        self._points_version = -1
        self._floor_z: float | None = None
        self._camera_xy: np.ndarray | None = None
        self._grid_version = -1
        group = MutuallyExclusiveCallbackGroup()  # never blocks the services; the two timers share the cache
        self.obstacle_pub = node.create_publisher(PointCloud2, "~/obstacle_cloud", OBSTACLE_CLOUD_QOS)
        self.occupancy_pub = node.create_publisher(OccupancyGrid, "~/occupancy", GRID_QOS)
        self.mask_pubs = {name: node.create_publisher(OccupancyGrid, f"~/class_masks/{topic_token(name)}", GRID_QOS)
                          for name in self.config.mask_classes}
        self.obstacle_timer = node.create_timer(1.0 / self.config.obstacle_rate_hz, self.publish_obstacles,
                                                callback_group=group)
        self.grid_timer = node.create_timer(1.0 / self.config.grid_rate_hz, self.publish_grids, callback_group=group)

    def apply(self, config: NavigationConfig) -> None:
        """Run-time parameters (params.RUNTIME_PARAMETERS): the two timers' rates; the config is kept for them."""
        if config.obstacle_rate_hz != self.config.obstacle_rate_hz:
            set_timer_rate(self.obstacle_timer, config.obstacle_rate_hz)
        if config.grid_rate_hz != self.config.grid_rate_hz:
            set_timer_rate(self.grid_timer, config.grid_rate_hz)
        self.config = config

    def set_camera_pose(self, T_map_cam: np.ndarray) -> None:
        """The pose of the latest mapped frame: the centre of `~/obstacle_cloud`."""
        with self._lock:
            self._camera_xy = np.asarray(T_map_cam, dtype=np.float64)[:2, 3].copy()

    def _points_now(self) -> tuple[int, Any]:
        """(map version, the map's points), fetched again only when the map changed (both timers run in one
        mutually exclusive group, so the cache needs no lock of its own)."""
        version, points = self._snapshot(self._points_version)
        if points is not None:
            self._points, self._points_version = points, version
            self._floor_z = self.maps.floor_height(points.xyz, points.label)
        return self._points_version, self._points

    def _header(self) -> Any:
        from std_msgs.msg import Header

        return Header(stamp=self.node.get_clock().now().to_msg(), frame_id=self.map_frame)

    def publish_obstacles(self) -> None:
        """Timer: the obstacle points around the camera (nothing before the first pose, nor while the map has
        points but no floor height yet; an empty cloud for an empty map)."""
        with self._lock:
            center = self._camera_xy
        if center is None or self.obstacle_pub.get_subscription_count() == 0:  # nobody listens: no work
            return
        _, pts = self._points_now()
        floor_z = self._floor_z
        if pts is not None and len(pts) == 0:  # an empty (e.g. cleared) map: an empty cloud, so Nav2 drops the last
            floor_z = 0.0
        if pts is None or floor_z is None:
            self.node.get_logger().info(
                "~/obstacle_cloud waits for a floor height: set floor_height_m, or map more of the traversable "
                f"classes {self.config.traversable_classes}", throttle_duration_sec=10.0)
            return
        keep = self.maps.obstacles(pts.xyz, pts.label, floor_z, center)
        cloud = conv.semantic_points_to_array(pts.xyz[keep], pts.label[keep], pts.confidence[keep], pts.rgb[keep])
        self._publish(self.obstacle_pub, conv.array_to_cloud(cloud, self._header()))

    def publish_grids(self) -> None:
        """Timer: `~/occupancy` and the class masks, when the map changed since they were last published and
        someone listens (the topics are latched: a later subscriber gets the grids of the map as it is then)."""
        if all(p.get_subscription_count() == 0 for p in (self.occupancy_pub, *self.mask_pubs.values())):
            return
        version, pts = self._points_now()
        if pts is None or version == self._grid_version:
            return
        try:
            layers: NavigationLayers = self.maps.layers(pts.xyz, pts.label)
        except GnesfError as exc:  # e.g. a stray point far away would make the grid huge: say so, keep going
            self.node.get_logger().warning(f"navigation grids not published: {exc}", throttle_duration_sec=10.0)
            self._grid_version = version
            return
        self._grid_version = version
        if layers.spec is None:
            return
        header = self._header()
        if layers.occupancy is not None:
            self._publish(self.occupancy_pub, grid_message(layers.occupancy, layers.spec, header))
        for name, mask in layers.masks.items():
            self._publish(self.mask_pubs[name], grid_message(mask, layers.spec, header))
