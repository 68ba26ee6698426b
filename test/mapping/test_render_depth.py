"""Depth rendered from a depth-geometry map at a mapped frame's own pose is that frame's depth (issue 20, item 3).

On real 640x480 frames the SDF weights (Eq. 8-9) used to give every free-space sample of the depth TSDF (clamped at
+tr in float32, which is below tr in float64) a weight, and the rendered depth came out at ~0.7 of the sensor's.
"""
import numpy as np
import pytest

from gnesf_ros.data.synthetic import SyntheticScan
from gnesf_ros.frame import Frame, labels_to_probs
from gnesf_ros.mapping import Mapper, MapperConfig
from gnesf_ros.model import GNeSF, ModelConfig


def small_model() -> GNeSF:
    """Random weights: with depth geometry the rendered depth depends only on the TSDF, not on the network."""
    return GNeSF(ModelConfig(feature_channels=4, volume_channels=4, volume_width=4, mlp_width=8,
                             vote_feature_channels=4, visibility_samples=4))


@pytest.mark.parametrize("height,width", [(240, 320), (480, 640)])
def test_render_at_a_mapped_pose_returns_its_depth(height, width):
    scan = SyntheticScan(2002, num_frames=6, height=height, width=width, fov_deg=58.0)  # surfaces at 2-4 m
    cfg = MapperConfig(geometry_source="depth", render_fill_from_map=False, window_size=3, render_num_views=3)
    mapper = Mapper(cfg, model=small_model())
    frames = []
    for i in range(len(scan)):
        view = scan.render(i)  # the true labels as semantics: the depth is what is tested
        frames.append(Frame(rgb=view.rgb, K=scan.K, T_map_cam=scan.poses[i], probs=labels_to_probs(view.labels, 20),
                            stamp_ns=i * 33_000_000, depth_m=view.depth_m))
        mapper.add_frame(frames[-1])
    mapper.flush()
    frame = frames[2]
    out = mapper.render(frame.K, frame.T_map_cam, height, width)
    truth = frame.depth_m
    both = (truth > 0) & (truth <= cfg.max_depth_m) & (out.depth_m > 0)
    assert both.sum() > 0.2 * truth.size  # the room beyond max_depth_m is not mapped
    ratio = out.depth_m[both] / truth[both]
    delta = np.maximum(ratio, 1.0 / ratio) < 1.25
    assert delta.mean() >= 0.95, f"delta<1.25 {delta.mean():.3f}, median ratio {np.median(ratio):.3f}"
    assert abs(np.median(ratio) - 1.0) < 0.02
