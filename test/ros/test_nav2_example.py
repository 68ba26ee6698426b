"""config/nav2_costmap_example.yaml is a Nav2 parameter file wired to the node's outputs: the topics are the node's
(default name, no namespace), the data type, the keep-out filter's info server and its base / multiplier what
nav2_costmap_2d requires, and the filter topics agree on both sides. (Nav2 itself is not installable here.)"""
from pathlib import Path

import yaml

from gnesf_ros.mapping.navigation import NavigationConfig, topic_token

REPO = Path(__file__).resolve().parents[2]
NODE = "/gnesf_mapping"


def test_nav2_example_is_wired_to_the_node_outputs():
    doc = yaml.safe_load((REPO / "config" / "nav2_costmap_example.yaml").read_text())
    info = doc["gnesf_keepout_filter_info_server"]["ros__parameters"]
    assert (info["type"], info["base"], info["multiplier"]) == (0, 0.0, 1.0)  # keep-out needs base 0, multiplier 1
    assert info["mask_topic"] == f"{NODE}/class_masks/{topic_token('table')}"
    assert doc["lifecycle_manager_gnesf_filters"]["ros__parameters"]["node_names"] == \
        ["gnesf_keepout_filter_info_server"]
    sources = 0
    for name in ("local_costmap", "global_costmap"):
        params = doc[name][name]["ros__parameters"]  # Nav2's <node>: <node>: ros__parameters layout
        assert params["filters"] == ["keepout_filter"]
        keepout = params["keepout_filter"]
        assert keepout["plugin"] == "nav2_costmap_2d::KeepoutFilter"
        assert keepout["filter_info_topic"] == info["filter_info_topic"]
        for layer in params["plugins"]:
            p = params[layer]
            assert p["plugin"].startswith("nav2_costmap_2d::"), layer
            for source in p.get("observation_sources", "").split():
                s = p[source]
                assert s["topic"] == f"{NODE}/obstacle_cloud" and s["data_type"] == "PointCloud2"
                assert s["sensor_frame"], "the cloud is in the map frame: the sensor origin must be given"
                assert s["obstacle_max_range"] >= NavigationConfig().obstacle_radius_m
                sources += 1
            if p["plugin"] == "nav2_costmap_2d::StaticLayer":
                assert p["map_topic"] == f"{NODE}/occupancy" and p["map_subscribe_transient_local"] is True
                assert params["resolution"] == NavigationConfig().grid_resolution_m
    assert sources == 2
