"""docs/ros_interface.md cannot drift: its tables are checked against the live node (topics, services and their
types, built in-process with the numpy stand-in mapper), the declared parameters (gnesf_ros/ros/params.py),
config/mapping.yaml and the interface files in gnesf_ros_msgs/.

When a test here fails, update docs/ros_interface.md (the message says which row)."""
import re
import sys
import typing
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "ros_interface.md"
MSGS = REPO / "gnesf_ros_msgs"


def section(title: str) -> str:
    text = DOC.read_text()
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert m, f"docs/ros_interface.md has no '## {title}' section"
    return m.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of every table row that is not a header or separator line."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if cells[0] in ("topic", "parameter", "service", "interface"):
            continue
        rows.append(cells)
    return rows


def code(cell: str) -> str:
    m = re.fullmatch(r"`([^`]*)`", cell)
    assert m, f"expected a `code` cell, got {cell!r}"
    return m.group(1)


# ---------------------------------------------------------------------------------------- parameters
def doc_type(value, hint=None) -> str:
    """ROS type name of a default; a list's element type comes from the field's type hint (an empty default has
    none of its own): "double array", "string array"."""
    names = {bool: "bool", int: "integer", float: "double", str: "string"}
    if isinstance(value, list):
        inner = typing.get_args(hint)[0] if hint is not None else type(value[0])
        return names[inner] + " array"
    return names[type(value)]


def doc_default(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(doc_default(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def doc_unit(name: str) -> str:
    for suffix, unit in (("_s", "s"), ("_m", "m"), ("_hz", "Hz"), ("_deg", "deg"), ("_px", "px")):
        if name.endswith(suffix):
            return unit
    return "-"


def doc_parameters() -> dict[str, list[str]]:
    rows = table_rows(section("Parameters"))
    out = {}
    for cells in rows:
        name = code(cells[0])
        assert name not in out, f"parameter {name} documented twice"
        out[name] = cells
    return out


def test_every_declared_parameter_is_documented_with_type_default_and_unit():
    from gnesf_ros.ros.params import parameter_specs

    documented = doc_parameters()
    specs = {s.name: s for s in parameter_specs()}
    assert sorted(set(specs) - set(documented)) == [], "parameters missing from docs/ros_interface.md"
    assert sorted(set(documented) - set(specs)) == [], "docs/ros_interface.md lists parameters the node lacks"
    for name, spec in specs.items():
        cells = documented[name]
        assert len(cells) == 5, f"{name}: expected | name | type | default | unit | meaning |, got {cells}"
        assert cells[1] == doc_type(spec.default, typing.get_type_hints(spec.owner)[name]), f"{name}: type"
        assert code(cells[2]) == doc_default(spec.default), f"{name}: default"
        assert cells[3] == doc_unit(name), f"{name}: unit"
        assert cells[4], f"{name}: no meaning"


def test_documented_defaults_are_the_values_in_mapping_yaml():
    values = yaml.safe_load((REPO / "config" / "mapping.yaml").read_text())["/**"]["ros__parameters"]
    documented = doc_parameters()
    assert set(values) == set(documented)
    for name, value in values.items():
        assert code(documented[name][2]) == doc_default(value), f"{name}: mapping.yaml says {value!r}"


# ----------------------------------------------------------------------------------- interfaces (.msg/.srv)
def fields(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            typ, name = line.split()[:2]
            out.append((name, typ))
    return out


def doc_interface_rows() -> dict[str, str]:
    return {cells[0]: cells[1] for cells in table_rows(section("Interface definitions (gnesf_ros_msgs)"))}


def expected_interface_text(path: Path) -> str:
    def fmt(pairs):
        return ", ".join(f"`{n}` {t}" for n, t in pairs)

    text = path.read_text()
    if path.suffix == ".srv":
        request, response = text.split("\n---", 1)
        return f"request: {fmt(fields(request))}; response: {fmt(fields(response))}"
    return fmt(fields(text))


def test_interface_definitions_match_the_msg_and_srv_files():
    rows = doc_interface_rows()
    files = sorted(MSGS.glob("msg/*.msg")) + sorted(MSGS.glob("srv/*.srv"))
    assert files, "no interface files in gnesf_ros_msgs/"
    names = {f"gnesf_ros_msgs/{p.parent.name}/{p.stem}": p for p in files}
    assert set(rows) == set(names), "interfaces in docs/ros_interface.md != gnesf_ros_msgs/msg, srv"
    for name, path in names.items():
        assert rows[name] == expected_interface_text(path), f"{name}: fields differ from {path.relative_to(REPO)}"


# ----------------------------------------------------------------------------------- live node
@pytest.fixture(scope="module")
def node():
    rclpy = pytest.importorskip("rclpy")
    sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))
    from fake_mapper import FakeMapper

    from gnesf_ros.ros.node import MappingNode

    from rclpy.parameter import Parameter

    context = rclpy.Context()
    rclpy.init(context=context)
    # one class mask, so that the `~/class_masks/<class>` row is checked against a live publisher
    n = MappingNode(mapper_factory=FakeMapper, context=context,
                    parameter_overrides=[Parameter("mask_classes", value=["table"])])
    try:
        yield n
    finally:
        n.stop()
        n.destroy_node()
        rclpy.try_shutdown(context=context)


def type_name(cls) -> str:
    """Message / service class -> 'pkg/msg/Name' (or srv)."""
    module = cls.__module__.split(".")  # e.g. sensor_msgs.msg._image
    return f"{module[0]}/{module[1]}/{cls.__name__}"


def rel(name: str) -> str:
    """Node-resolved name -> the name as the doc writes it (~/x for private names, relative otherwise)."""
    if name.startswith("/gnesf_mapping/"):
        return "~/" + name[len("/gnesf_mapping/"):]
    if name in ("/diagnostics", "/tf", "/tf_static"):
        return name
    return name.lstrip("/")


def doc_topics(title: str) -> dict[str, list[str]]:
    out = {}
    for cells in table_rows(section(title)):
        for name in re.findall(r"`([^`]+)`", cells[0]):
            out[name] = cells
    return out


def test_published_topics_and_types_match_the_node(node):
    live = {rel(p.topic_name): type_name(p.msg_type) for p in node.publishers
            if p.topic_name not in ("/rosout", "/parameter_events")}
    documented = doc_topics("Published topics")
    for template in [name for name in documented if "<" in name]:  # e.g. ~/class_masks/<class>
        cells = documented.pop(template)
        pattern = re.escape(template.split("<", 1)[0]) + r"[A-Za-z0-9_]+"
        matched = [name for name in live if re.fullmatch(pattern, name)]
        assert matched, f"no live publisher matches the doc's {template}"
        for name in matched:
            typ = live.pop(name)
            assert cells[1] == typ, f"{name}: the node publishes {typ}"
    assert set(documented) == set(live), "published topics in the doc != the node's publishers"
    for name, typ in live.items():
        assert documented[name][1] == typ, f"{name}: the node publishes {typ}"


def test_subscribed_topics_and_types_match_the_node(node):
    live: dict[str, str] = {}
    for s in node.subscriptions:
        if s.topic_name != "/parameter_events":
            live[rel(s.topic_name)] = type_name(s.msg_type)
    documented = doc_topics("Subscribed topics")
    # the pose topic exists only with pose_source pose_stamped / odometry: its row names both types
    assert "pose" in documented and "geometry_msgs/msg/PoseStamped" in documented["pose"][1] \
        and "nav_msgs/msg/Odometry" in documented["pose"][1]
    documented.pop("pose")
    assert set(documented) >= set(live), "the node subscribes to topics the doc does not list"
    assert set(documented) - set(live) <= {"/tf", "/tf_static"}  # tf2_ros's own listener subscribes to those
    for name, typ in live.items():
        assert documented[name][1] == typ, f"{name}: the node subscribes with {typ}"


def test_services_and_types_match_the_node(node):
    live = {rel(s.srv_name): type_name(s.srv_type) for s in node.services
            if not re.search(r"/(describe|get|list|set)_parameters(_atomically)?$|/get_parameter_types$|"
                             r"/get_type_description$", s.srv_name)}
    documented = {code(c[0]): c[1] for c in table_rows(section("Services"))}
    assert documented == live, "services in docs/ros_interface.md != the node's services (name -> type)"


def test_run_time_parameters_are_documented():
    """The "Parameters changed at run time" table lists exactly params.RUNTIME_PARAMETERS (each with how it takes
    effect), and each is a declared parameter; the node declares every other one read-only
    (test/ros/test_node_param_set.py)."""
    from gnesf_ros.ros.params import RUNTIME_PARAMETERS, parameter_specs

    rows = table_rows(section("Parameters changed at run time"))
    documented = {code(cells[0]): cells[1] for cells in rows if cells[0] != "run-time parameter"}
    assert set(documented) == set(RUNTIME_PARAMETERS), sorted(set(documented) ^ set(RUNTIME_PARAMETERS))
    assert all(documented.values())
    assert set(RUNTIME_PARAMETERS) <= {s.name for s in parameter_specs()}
