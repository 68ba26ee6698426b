"""The mapping node's mesh outputs: `~/mesh` (visualization_msgs/MarkerArray) and `~/save_mesh` (FilePath -> PLY).

One TRIANGLE_LIST marker per map block (namespace "mesh", a stable id per block): an update sends only the blocks
re-meshed since the last message (ADD replaces a block's marker, DELETE removes a block that lost its faces), so
RViz keeps the rest. The topic is reliable + transient local; since a latched message holds only the last update,
the whole mesh (DELETEALL, then every block) is sent again whenever a new subscriber appears.
The meshing itself is gnesf_ros/mapping/mesh.py (no ROS), driven here from the node's map lock.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from gnesf_ros.errors import GnesfError
from gnesf_ros.mapping.mesh import SemanticMesh, TriangleMesh, corner_colors, write_mesh_ply
from gnesf_ros.mapping.voxel_map import VoxelMap
from gnesf_ros.ros.timers import set_timer_rate

NAMESPACE = "mesh"


def block_marker(mesh: TriangleMesh, marker_id: int, header: Any, corner_colors_u8: np.ndarray) -> Any:
    """One block's mesh -> a TRIANGLE_LIST Marker (3 points per face, a colour per point: `corner_colors_u8`
    (F*3, 3) in face order, mapping.mesh.corner_colors)."""
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker

    m = Marker(header=header, ns=NAMESPACE, id=marker_id, type=Marker.TRIANGLE_LIST, action=Marker.ADD)
    m.pose.orientation.w = 1.0
    m.scale.x = m.scale.y = m.scale.z = 1.0
    m.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    points = [Point(x=x, y=y, z=z) for x, y, z in mesh.vertices_m.astype(np.float64).tolist()]
    rgb = corner_colors_u8.astype(np.int64)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    unique, inverse = np.unique(packed, return_inverse=True)  # one ColorRGBA object per distinct colour
    palette = [ColorRGBA(r=((c >> 16) & 255) / 255.0, g=((c >> 8) & 255) / 255.0, b=(c & 255) / 255.0, a=1.0)
               for c in unique.tolist()]
    corners = mesh.faces.reshape(-1).tolist()
    m.points = [points[i] for i in corners]
    m.colors = [palette[i] for i in inverse.reshape(-1).tolist()]
    return m


def delete_marker(marker_id: int, header: Any, action: str = "DELETE") -> Any:
    from visualization_msgs.msg import Marker

    return Marker(header=header, ns=NAMESPACE, id=marker_id, action=getattr(Marker, action))


class MeshOutputs:
    """`~/mesh` at `mesh_rate_hz` (0 = off) and `~/save_mesh` for a MappingNode whose mapper has a VoxelMap
    (`mapper.map`); with another mapper (e.g. a test stand-in without one) both say so and do nothing."""

    def __init__(self, node: Any, map_lock: threading.Lock, callback_group: Any, file_path_srv: Any,
                 lock_wait_s: float) -> None:
        from visualization_msgs.msg import MarkerArray

        self.node = node
        self.lock = map_lock
        self.lock_wait_s = lock_wait_s  # longest the mesh timer waits for the map lock (the node's timers' bound)
        self.color = node.params.mesh_color
        self.mesh = SemanticMesh()
        self._ids: dict[int, int] = {}  # block key -> marker id
        self._next_id = 0
        self._changed: set[int] = set()  # blocks re-meshed since the last message
        self._removed: set[int] = set()
        self._subscribers = 0
        self.pub = None
        self.timer = None
        if node.params.mesh_rate_hz > 0.0:
            from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

            qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
            self.pub = node.create_publisher(MarkerArray, "~/mesh", qos)
            self.timer = node.create_timer(1.0 / node.params.mesh_rate_hz, self.publish, callback_group=callback_group)
        if file_path_srv is not None:
            node.create_service(file_path_srv, "~/save_mesh", self._srv_save_mesh, callback_group=callback_group)

    def apply(self, rate_hz: float, color: str) -> None:
        """Run-time parameters: the timer's rate (only while there is a timer: 0 <-> > 0 is refused before) and the
        vertex colours; a new colour makes the next message resend every block (DELETEALL first)."""
        if self.timer is not None and rate_hz > 0.0 and abs(self.timer.timer_period_ns * 1e-9 * rate_hz - 1.0) > 1e-9:
            set_timer_rate(self.timer, rate_hz)
        if color != self.color:
            self.color = color
            self._subscribers = 0  # publish() then sends every block, as to a new subscriber

    def _map(self) -> VoxelMap | None:
        vmap = getattr(self.node.mapper, "map", None)
        return vmap if isinstance(vmap, VoxelMap) else None

    def _update(self, vmap: VoxelMap) -> None:
        """Re-mesh what the map touched (call with the map lock held); remember it for the next message."""
        upd = self.mesh.update(vmap)
        self._changed.update(upd.changed)
        self._changed.difference_update(upd.removed)
        self._removed.update(upd.removed)
        self._removed.difference_update(upd.changed)

    def publish(self) -> None:
        """Timer: re-mesh touched blocks and send the changed ones (all of them to a new subscriber); nothing while
        `~/mesh` has no subscriber."""
        from visualization_msgs.msg import MarkerArray

        vmap = self._map()
        if vmap is None or self.pub is None:
            return
        subscribers = self.pub.get_subscription_count()
        if subscribers == 0:  # nobody looks: no meshing (the map keeps its touched record for later)
            self._subscribers = 0
            return
        if not self.lock.acquire(timeout=self.lock_wait_s):  # a fusion holds the map: the next tick re-meshes
            return
        try:
            self._update(vmap)
            full = subscribers > self._subscribers
            self._subscribers = subscribers
            blocks = dict(self.mesh.blocks) if full else {k: self.mesh.blocks[k] for k in self._changed}
            removed = set() if full else set(self._removed)
            self._changed.clear()
            self._removed.clear()
        finally:
            self.lock.release()
        if not blocks and not removed and not full:
            return
        header = self.node._header()
        markers = [delete_marker(0, header, "DELETEALL")] if full else []
        for key in removed:
            if key in self._ids:
                markers.append(delete_marker(self._ids.pop(key), header))
        if full:
            self._ids = {k: v for k, v in self._ids.items() if k in blocks}
        for key in sorted(blocks):
            if key not in self._ids:
                self._ids[key] = self._next_id
                self._next_id += 1
            markers.append(block_marker(blocks[key], self._ids[key], header,
                                        corner_colors(blocks[key], self.color, self.node.class_list)))
        self.node._publish(self.pub, MarkerArray(markers=markers))

    def _srv_save_mesh(self, request: Any, response: Any) -> Any:
        vmap = self._map()
        if vmap is None:
            response.success, response.message = False, "this mapper has no voxel map to mesh"
            return response
        try:
            with self.lock:
                self._update(vmap)
                mesh = self.mesh.combined()
            write_mesh_ply(request.file_path, mesh, self.node.class_list, color=self.color,
                           comment=f"gnesf_ros semantic mesh, voxel_size_m {vmap.voxel_size_m}")
            response.success = True
            response.message = f"wrote {mesh.num_vertices} vertices, {mesh.num_faces} faces to {request.file_path}"
        except (GnesfError, OSError) as exc:
            response.success, response.message = False, f"cannot write mesh {request.file_path}: {exc}"
        return response
