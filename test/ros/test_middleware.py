"""The Fast DDS profile the node and gnesf-play give themselves: written once, applied only where the user chose
nothing and the RMW is Fast DDS, and it sets only the writers' heartbeat."""
import xml.etree.ElementTree as ET

from gnesf_ros.ros.middleware import HEARTBEAT_PERIOD_NS, PROFILE_ENV, apply_fastdds_profile


def test_profile_is_applied_only_where_nothing_else_was_chosen(tmp_path):
    env = {}
    path = apply_fastdds_profile(env, tmp_path)
    assert env == {PROFILE_ENV: str(path)} and path.parent == tmp_path
    assert apply_fastdds_profile(env, tmp_path) is None  # already set (by the user, or by us): left alone
    assert apply_fastdds_profile({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, tmp_path) is None
    env = {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}
    assert apply_fastdds_profile(env, tmp_path) == path  # same content, same file
    assert apply_fastdds_profile({}, tmp_path / "missing" / "folder") is None  # unwritable: defaults, no error


def test_profile_sets_only_the_heartbeat(tmp_path):
    root = ET.parse(apply_fastdds_profile({}, tmp_path)).getroot()
    ns = {"d": "http://www.eprosima.com"}
    writers = root.findall("d:profiles/d:data_writer", ns)
    assert len(writers) == 1 and writers[0].get("is_default_profile") == "true"
    assert [c.tag.split("}")[1] for c in writers[0]] == ["times"]
    assert int(writers[0].find("d:times/d:heartbeat_period/d:nanosec", ns).text) == HEARTBEAT_PERIOD_NS == 50_000_000
    assert root.findall("d:profiles/d:participant", ns) == [] and root.findall(".//d:transport_descriptors", ns) == []
