"""The `gnesf_mapping` node's parameters: declared once, from two dataclasses, mapped by one function.

`NodeParams` (below) holds what only the node uses (topics, QoS, TF, queues, rates); `MapperConfig`
(gnesf_ros/mapping/config.py) holds the mapper's knobs; `NavigationConfig` (gnesf_ros/mapping/navigation.py) those
of the navigation outputs (built by gnesf_ros/ros/navigation_outputs.py). All are flat ROS parameters of the node; their
defaults come from the dataclasses and their descriptions from the fields' docstrings, so nothing is
written twice. `configs_from_params(values)` is the one place a dict of parameter values becomes typed
configs (and the place cross-field errors are raised, as ConfigError). It needs no ROS and is tested alone.

Mode strings are parsed once into enums (`InputQos`, `PoseSource` here; `MeshColor` of mapping/mesh.py; the mapper's
modes, e.g. `GeometrySource`, in `MapperConfig.__post_init__`, mapping/config.py), and the node compares enums
(2026-12-04). They are `StrEnum`s: a member equals its string and prints as it, so logs, YAML and the declared
parameter values stay the plain strings. The lower layer owns each enum; this module imports them.

`RUNTIME_PARAMETERS` are the ones `ros2 param set` changes while the node runs (`runtime_update` validates a
change; the node applies it); every other parameter is declared read-only, so setting it is refused with a reason
instead of succeeding and changing nothing (2026-12-04).
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from gnesf_ros.config import from_dict, parse_mode
from gnesf_ros.errors import ConfigError
from gnesf_ros.mapping.config import MapperConfig
from gnesf_ros.mapping.mesh import MeshColor
from gnesf_ros.mapping.navigation import NavigationConfig


class InputQos(StrEnum):
    """`input_qos`: QoS of the image inputs."""

    SENSOR_DATA = "sensor_data"
    RELIABLE = "reliable"


class PoseSource(StrEnum):
    """`pose_source`: where the camera pose comes from."""

    TF = "tf"
    POSE_STAMPED = "pose_stamped"
    ODOMETRY = "odometry"


INPUT_QOS = tuple(m.value for m in InputQos)
POSE_SOURCES = tuple(m.value for m in PoseSource)


RUNTIME_PARAMETERS: dict[str, str] = {
    "publish_rate_hz": "the `~/semantic_cloud` timer takes the new period",
    "diagnostics_rate_hz": "the /diagnostics timer takes the new period",
    "mesh_rate_hz": "the `~/mesh` timer takes the new period; only between values > 0 (0 = no `~/mesh` topic, "
                    "a start-up choice)",
    "mesh_color": "the next `~/mesh` message resends every block in the new colours; `~/save_mesh` uses them",
    "obstacle_rate_hz": "the `~/obstacle_cloud` timer takes the new period",
    "grid_rate_hz": "the `~/occupancy` and `~/class_masks/*` timer takes the new period",
    "print_timings": "from the next keyframe",
    "publish_keyframe_images": "from the next keyframe",
    "thin_non_keyframes": "from the next frame received",
    "queue_size": "from the next frame received",
    "tf_lookup_timeout_s": "from the next pose wait",
    "bad_input_log_period_s": "from the next bad input",
}
"""Parameters `ros2 param set` changes while the node runs, and how each takes effect; the others are read-only."""


@dataclass
class NodeParams:
    """Parameters of the ROS node itself (the mapper's are in MapperConfig)."""

    map_frame: str = "map"
    """Fixed frame of the map, the cloud and poses (TF target frame)."""

    camera_frame: str = ""
    """Camera optical frame used for the TF lookup; "" = the colour image's header.frame_id."""

    input_qos: str = "reliable"
    """QoS of the image inputs: "reliable" (reliable, keep last input_history_depth) or "sensor_data" (best effort,
    depth 5). Reliable because best effort lost most frames of a 1x replay (2026-12-04: 79 of 150 camera_info); a
    best-effort publisher does not match it and is reported as bad input `incompatible_qos`: set "sensor_data" for
    such a camera driver."""

    pose_source: str = "tf"
    """Where the camera pose comes from: "tf" (map_frame <- camera frame at the image stamp), "pose_stamped"
    (geometry_msgs/PoseStamped on `pose`) or "odometry" (nav_msgs/Odometry on `pose`); a pose message gives the
    camera optical frame's pose in map_frame."""

    tf_lookup_timeout_s: float = 0.5
    """How long (s) the worker waits for the pose of a frame's stamp before it skips the frame."""

    tf_cache_time_s: float = 10.0
    """History (s) of transforms / poses kept for interpolation."""

    sync_tolerance_s: float = 0.01
    """Colour, camera_info, semantics (+ confidence, depth) match when their stamps differ by at most this
    (s); 0 = exact stamps only."""

    require_confidence: bool = False
    """Treat `semantic/confidence` as a required stream. Leave false for segmenters without confidence; set
    true when yours publishes it, so that no frame is ever fused as one-hot labels because its confidence
    image arrived after the label image (an optional stream is only waited for once it has been seen)."""

    input_history_depth: int = 150
    """History depth of each reliable input subscription (input_qos "reliable"): messages per topic the middleware
    keeps until the node's executor takes them. 150 = 5 s of a 30 Hz camera, so an executor that falls seconds
    behind (the worker holds the interpreter) loses nothing; a full history overwrites its oldest unread sample, a
    loss no reliable transport repairs (2026-12-05: a reader of depth 60 not spun for 3 s lost 30 of 180 images,
    one of 150 none). Memory is taken only by unread messages, not reserved for the depth (the process keeps its
    high-water mark): at worst, every reader full at 640x480, ~140 MB of rgb8 colour, ~185 MB each of 32FC1 depth
    and confidence and 46-92 MB of mono8/mono16 labels, ~0.6 GB in all; a 32FC<C> probability image (20 classes:
    ~25 MB) makes the semantic reader alone ~3.7 GB, so lower it for such a segmenter."""

    sync_queue_size: int = 60
    """Messages the synchroniser keeps per input stream while waiting for the others (bounded; the oldest is
    dropped, `sync.dropped_overflow`): 2 s of a 30 Hz camera. The inputs' middleware history is
    input_history_depth."""

    queue_size: int = 60
    """Keyframes (and frames whose pose is not known yet) waiting for the worker; beyond it the oldest is dropped
    (`dropped.queue_full`). A non-keyframe still waiting when the next frame arrives is thinned
    (`thinned_non_keyframes`). 60 holds the 45 keyframes of a 10 s handheld scan; ~3 MB each at 640x480."""

    thin_non_keyframes: bool = True
    """Thin a non-keyframe that is still queued when the next frame arrives (counted `thinned_non_keyframes`), so
    a slow mapper spends its time on keyframes. False keeps every frame for the worker, up to `queue_size` (an
    offline-equivalent replay, e.g. the demo's)."""

    publish_rate_hz: float = 1.0
    """Rate (Hz) of `~/semantic_cloud` (published only when the map changed)."""

    diagnostics_rate_hz: float = 1.0
    """Rate (Hz) of /diagnostics."""

    mesh_rate_hz: float = 0.5
    """Rate (Hz) at which the blocks of the map touched since the last `~/mesh` message are re-meshed and sent
    (only changed blocks; nothing while `~/mesh` has no subscriber); 0 = no `~/mesh` topic (`~/save_mesh` still
    works)."""

    mesh_color: str = "class"
    """Vertex colours of `~/mesh` and `~/save_mesh`: "class" (class colours, grey where unknown), "rgb" (the
    images' mean colour) or "confidence" (blue 0 -> red 1, grey where unknown)."""

    publish_keyframe_images: bool = True
    """Render and publish `~/semantic_image` and `~/label_image` at every new keyframe."""

    class_file: str = ""
    """Class list YAML (ids, names, colours); "" = ScanNet-20 (config/scannet20.yaml)."""

    save_on_shutdown: str = ""
    """Map file written at shutdown; "" = do not save."""

    print_timings: bool = False
    """Log per-stage mapper timings for every keyframe."""

    bad_input_log_period_s: float = 10.0
    """At most one log line per kind of bad input in this period (s); every occurrence is counted in diagnostics."""

    torch_threads: int = 1
    """Threads torch may use (torch.set_num_threads) in the node process; 0 = torch's default (all cores). 1 is
    fastest on a small loaded machine (2 threads were 8-13x slower on 2 busy cores)."""

    def __post_init__(self) -> None:
        if not self.map_frame:
            raise ValueError("map_frame must not be empty")
        self.input_qos = parse_mode(InputQos, self.input_qos, "input_qos")
        self.pose_source = parse_mode(PoseSource, self.pose_source, "pose_source")
        self.mesh_color = parse_mode(MeshColor, self.mesh_color, "mesh_color")
        for name in ("tf_lookup_timeout_s", "sync_tolerance_s", "bad_input_log_period_s"):
            if getattr(self, name) < 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("tf_cache_time_s", "publish_rate_hz", "diagnostics_rate_hz"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("input_history_depth", "sync_queue_size", "queue_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.mesh_rate_hz < 0.0:
            raise ValueError(f"mesh_rate_hz must be >= 0, got {self.mesh_rate_hz}")
        if self.torch_threads < 0:
            raise ValueError(f"torch_threads must be >= 0, got {self.torch_threads}")


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter: its name, default (fixes the type) and description."""

    name: str
    default: Any
    description: str
    owner: type


def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string literal under each field) of a dataclass, by field name."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):  # pragma: no cover - source unavailable (e.g. zipped install)
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr) \
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def parameter_specs() -> list[ParamSpec]:
    """Every node parameter, node's first, then the mapper's, then the navigation outputs', in declaration order."""
    specs = []
    for cls in (NodeParams, MapperConfig, NavigationConfig):
        docs = field_docs(cls)
        defaults = cls()
        for f in dataclasses.fields(cls):
            default = getattr(defaults, f.name)
            default = default.value if isinstance(default, Enum) else default  # ROS declares the plain string
            specs.append(ParamSpec(f.name, default, docs.get(f.name, ""), cls))
    names = [s.name for s in specs]
    assert len(names) == len(set(names)), f"duplicate parameter names: {names}"  # internal invariant
    return specs


def configs_from_params(values: dict[str, Any]) -> tuple[NodeParams, MapperConfig]:
    """Parameter values by name (missing ones take defaults) -> (NodeParams, MapperConfig); ConfigError if invalid."""
    node_fields = {f.name for f in dataclasses.fields(NodeParams)}
    mapper_fields = {f.name for f in dataclasses.fields(MapperConfig)}
    nav_fields = {f.name for f in dataclasses.fields(NavigationConfig)}  # read by NavigationOutputs
    unknown = sorted(set(values) - node_fields - mapper_fields - nav_fields)
    if unknown:
        raise ConfigError(f"gnesf_mapping: unknown parameter(s) {unknown}")
    node = from_dict(NodeParams, {k: v for k, v in values.items() if k in node_fields}, "gnesf_mapping")
    mapper = from_dict(MapperConfig, {k: v for k, v in values.items() if k in mapper_fields}, "gnesf_mapping")
    if node.pose_source is not PoseSource.TF and node.camera_frame:
        raise ConfigError("gnesf_mapping: camera_frame is only used with pose_source 'tf' (a pose message already "
                          f"gives the camera pose), got camera_frame {node.camera_frame!r} with pose_source "
                          f"{node.pose_source.value!r}")
    return node, mapper


def runtime_update(node: NodeParams, nav: NavigationConfig, changes: dict[str, Any]
                   ) -> tuple[NodeParams, NavigationConfig]:
    """The node's and the navigation outputs' configs with `changes` (parameter name -> value) applied and validated,
    as new objects; ConfigError, saying why, for a parameter that cannot change at run time or a bad value."""
    fixed = sorted(set(changes) - set(RUNTIME_PARAMETERS))
    if fixed:
        raise ConfigError(f"gnesf_mapping: {fixed} cannot change while the node runs (read at start-up): restart it "
                          "with the new value")
    if "mesh_rate_hz" in changes and isinstance(changes["mesh_rate_hz"], (int, float)) \
            and (changes["mesh_rate_hz"] > 0.0) != (node.mesh_rate_hz > 0.0):
        raise ConfigError(f"gnesf_mapping: mesh_rate_hz can change at run time only between values > 0 (0 = no ~/mesh "
                          f"topic, chosen at start-up); it is {node.mesh_rate_hz:g}, got {changes['mesh_rate_hz']}")
    node_fields = {f.name for f in dataclasses.fields(NodeParams)}
    nav_fields = {f.name for f in dataclasses.fields(NavigationConfig)}
    new_node = from_dict(NodeParams, {**{f: getattr(node, f) for f in node_fields},
                                      **{k: v for k, v in changes.items() if k in node_fields}}, "gnesf_mapping")
    new_nav = from_dict(NavigationConfig, {**{f: getattr(nav, f) for f in nav_fields},
                                           **{k: v for k, v in changes.items() if k in nav_fields}}, "gnesf_mapping")
    return new_node, new_nav


def declare_parameters(node: Any) -> dict[str, Any]:
    """Declare every parameter on an rclpy node (once, with default and description); return their values.
    Those not in `RUNTIME_PARAMETERS` are read-only: `ros2 param set` is refused ("read-only") for them.

    Float parameters accept integers too (`publish_rate_hz: 2` in YAML), list parameters any element type (an
    empty default has no ROS type of its own); types are checked by `configs_from_params`. An empty list in a
    parameter file arrives as "not set" and is read as [].
    """
    from rcl_interfaces.msg import ParameterDescriptor

    values = {}
    for spec in parameter_specs():
        descriptor = ParameterDescriptor(description=spec.description,
                                         dynamic_typing=isinstance(spec.default, (float, list)),
                                         read_only=spec.name not in RUNTIME_PARAMETERS)
        value = node.declare_parameter(spec.name, spec.default, descriptor).value
        values[spec.name] = [] if value is None and isinstance(spec.default, list) else value
    return values
