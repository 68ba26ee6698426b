"""`~/mesh` and `~/save_mesh` over real middleware: the node (own process, a FakeMapper holding a real VoxelMap)
meshes maps it loads; a probe subscribes to the MarkerArray and checks markers against meshes computed here."""
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("gnesf_ros_msgs.srv", reason="gnesf_ros_msgs not built (tools/build_interfaces.sh)")
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from ros_harness import (HELPERS, PARAMS_FILE, REPO, NodeProcess, Probe, _param_text, latched_qos,  # noqa: E402
                         subprocess_env, wait_until)

from gnesf_ros.classes import ClassList  # noqa: E402
from gnesf_ros.mapping.map_file import encode_map, write_map_file  # noqa: E402
from gnesf_ros.mapping.mesh import SemanticMesh, vertex_colors  # noqa: E402
from gnesf_ros.mapping.voxel_map import VoxelMap  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(240)]

VS = 0.05
C = 20


class MeshNodeProcess(NodeProcess):
    """NodeProcess running test/ros/helpers/mesh_mapper_node.py."""

    def __init__(self, params):
        cmd = [sys.executable, str(HELPERS / "mesh_mapper_node.py"), "--ros-args", "--params-file", str(PARAMS_FILE)]
        for k, v in params.items():
            cmd += ["-p", f"{k}:={_param_text(v)}"]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


def sphere_map(radius_m: float, centre_m=(0.0, 0.0, 0.0)) -> VoxelMap:
    """Voxels within 2 voxels of a sphere's surface, labelled 1 above z = 0 and 2 below."""
    m = VoxelMap(C, VS)
    r = np.arange(-12, 12)
    ijk = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    sdf = np.linalg.norm(ijk * VS - np.asarray(centre_m), axis=1) - radius_m
    ijk, sdf = ijk[np.abs(sdf) < 2 * VS], sdf[np.abs(sdf) < 2 * VS]
    probs = np.zeros((len(ijk), C), np.float32)
    probs[np.arange(len(ijk)), np.where(ijk[:, 2] > 0, 1, 2)] = 1.0
    m.integrate(ijk, sdf_m=sdf, weight=np.ones(len(ijk)), probs=probs)
    return m


def save(m: VoxelMap, path: Path) -> str:
    write_map_file(path, encode_map(m.data, {"voxel_size_m": VS, "num_classes": C}))
    return str(path)


class MeshState:
    """What a subscriber to ~/mesh would show: the markers of the received arrays applied in order."""

    def __init__(self, msgs):
        self.msgs = msgs
        self.seen = 0
        self.markers = {}

    def apply(self):
        from visualization_msgs.msg import Marker

        for arr in list(self.msgs[self.seen:]):
            for mk in arr.markers:
                if mk.action == Marker.DELETEALL:
                    self.markers.clear()
                elif mk.action == Marker.DELETE:
                    self.markers.pop(mk.id, None)
                else:
                    self.markers[mk.id] = mk
            self.seen += 1
        return self.markers


def triangles(mk) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in mk.points]).reshape(-1, 3, 3)


def expected_triangles(m: VoxelMap) -> list:
    """Each block's faces as (F, 3, 3) vertex arrays, in block key order."""
    mesh = SemanticMesh.from_map(m)
    return [mesh.blocks[k].vertices_m[mesh.blocks[k].faces].astype(np.float64) for k in sorted(mesh.blocks)]


def same_set(markers: dict, expected: list) -> bool:
    got = sorted((triangles(mk) for mk in markers.values()), key=lambda t: t.tobytes())
    want = sorted(expected, key=lambda t: t.tobytes())
    return len(got) == len(want) and all(g.shape == w.shape and np.allclose(g, w, atol=1e-6)
                                         for g, w in zip(got, want))


@pytest.fixture(scope="module")
def probe():
    p = Probe()
    yield p
    p.close()


def test_mesh_markers_follow_the_map_and_save_mesh_writes_a_ply(probe, tmp_path):
    from visualization_msgs.msg import Marker, MarkerArray

    from gnesf_ros_msgs.srv import FilePath

    node = MeshNodeProcess({"mesh_rate_hz": 5.0, "voxel_size_m": VS, "diagnostics_rate_hz": 5.0})
    try:
        node.wait_ready()
        msgs = probe.subscribe(MarkerArray, "/gnesf_mapping/mesh", latched_qos())
        state = MeshState(msgs)
        a = sphere_map(0.4)
        res = probe.call(FilePath, "/gnesf_mapping/load_map", FilePath.Request(file_path=save(a, tmp_path / "a.map")))
        assert res.success, res.message
        want_a = expected_triangles(a)
        assert len(want_a) == 8
        wait_until(lambda: same_set(state.apply(), want_a), 60, "the 8 block markers of map a")
        mk = next(iter(state.markers.values()))
        assert mk.header.frame_id == "map" and mk.ns == "mesh" and mk.type == Marker.TRIANGLE_LIST
        assert len(mk.colors) == len(mk.points) and len(mk.points) % 3 == 0
        # class colours: the label of every vertex is 1 (z > 0) or 2; the two class colours only, no grey
        classes = ClassList.from_yaml()
        cols = {(round(c.r * 255), round(c.g * 255), round(c.b * 255)) for m in state.markers.values()
                for c in m.colors}
        assert cols == {tuple(int(v) for v in classes.colors_rgb[1]), tuple(int(v) for v in classes.colors_rgb[2])}
        ids_a = set(state.markers)

        # a map whose sphere moved: every block is re-meshed and replaces its marker (same ids, new triangles);
        # the blocks of the far corner that lost their faces are deleted
        b = sphere_map(0.2, centre_m=(-0.3, -0.3, -0.3))  # inside block (-1, -1, -1)
        res = probe.call(FilePath, "/gnesf_mapping/load_map", FilePath.Request(file_path=save(b, tmp_path / "b.map")))
        assert res.success, res.message
        want_b = expected_triangles(b)
        wait_until(lambda: same_set(state.apply(), want_b), 60, "the markers of map b")
        assert set(state.markers) <= ids_a  # replaced in place (ids reused), nothing added under new ids
        assert len(want_b) < len(want_a) and len(state.markers) == len(want_b)
        last = msgs[-1]
        assert not any(m.action == Marker.DELETEALL for m in last.markers)  # an update, not a full resend

        # a late subscriber gets the whole mesh (DELETEALL, then every block)
        late = probe.subscribe(MarkerArray, "/gnesf_mapping/mesh", latched_qos())
        late_state = MeshState(late)
        wait_until(lambda: same_set(late_state.apply(), want_b), 60, "the whole mesh for a late subscriber")

        # ~/save_mesh: a PLY with the same faces
        path = tmp_path / "mesh.ply"
        res = probe.call(FilePath, "/gnesf_mapping/save_mesh", FilePath.Request(file_path=str(path)))
        assert res.success, res.message
        o3d = pytest.importorskip("open3d")
        ply = o3d.io.read_triangle_mesh(str(path))
        want = SemanticMesh.from_map(b).combined()
        assert len(ply.triangles) == want.num_faces and np.allclose(np.asarray(ply.vertices), want.vertices_m)
        np.testing.assert_array_equal(np.rint(np.asarray(ply.vertex_colors) * 255).astype(np.uint8),
                                      vertex_colors(want, "class", classes))
        bad = probe.call(FilePath, "/gnesf_mapping/save_mesh", FilePath.Request(file_path=str(tmp_path / "no/x.ply")))
        assert not bad.success and "no/x.ply" in bad.message

        # clear_map: every block marker is deleted
        from std_srvs.srv import Trigger

        assert probe.call(Trigger, "/gnesf_mapping/clear_map", Trigger.Request()).success
        wait_until(lambda: state.apply() == {}, 60, "all markers deleted after clear_map")
        assert node.alive() and node.count("[bad input") == 0, node.output
    finally:
        node.stop()


def test_rviz_config_shows_the_mesh():
    import yaml

    manager = yaml.safe_load((REPO / "rviz" / "gnesf.rviz").read_text())["Visualization Manager"]
    (mesh,) = [d for d in manager["Displays"] if d["Class"] == "rviz_default_plugins/MarkerArray"]
    assert mesh["Topic"]["Value"] == "/gnesf_mapping/mesh" and mesh["Enabled"]
    assert mesh["Topic"]["Durability Policy"] == "Transient Local" and mesh["Topic"]["Reliability Policy"] == "Reliable"


def test_a_mapper_without_a_voxel_map_has_no_mesh_to_save(tmp_path):
    import rclpy
    from fake_mapper import FakeMapper

    from gnesf_ros.ros.node import MappingNode
    from gnesf_ros_msgs.srv import FilePath

    context = rclpy.Context()
    rclpy.init(context=context)
    node = MappingNode(mapper_factory=FakeMapper, context=context)
    try:
        node.mesh_outputs.publish()  # nothing to mesh: no error, nothing sent
        res = node.mesh_outputs._srv_save_mesh(FilePath.Request(file_path=str(tmp_path / "m.ply")),
                                               FilePath.Response())
        assert not res.success and "no voxel map" in res.message and not (tmp_path / "m.ply").exists()
    finally:
        node.stop()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_mesh_parameters_are_checked():
    from gnesf_ros.errors import ConfigError
    from gnesf_ros.ros.params import configs_from_params

    node, _ = configs_from_params({"mesh_rate_hz": 0.0, "mesh_color": "rgb"})
    assert node.mesh_rate_hz == 0.0 and node.mesh_color == "rgb"
    with pytest.raises(ConfigError, match="mesh_color must be one of"):
        configs_from_params({"mesh_color": "labels"})
    with pytest.raises(ConfigError, match="mesh_rate_hz must be >= 0"):
        configs_from_params({"mesh_rate_hz": -1.0})
