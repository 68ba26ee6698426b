"""The map does not depend much on the frame rate: every frame vs. every second frame of one scan."""
import numpy as np
import pytest
import torch

from gnesf_ros.data.synthetic import SyntheticScan
from gnesf_ros.mapping import Mapper, MapperConfig
from gnesf_ros.model.checkpoint import load_checkpoint
from gnesf_ros.paths import checkpoint_path


def _map_labels(frames, model) -> dict[tuple[int, int, int], int]:
    cfg = MapperConfig(geometry_source="depth", max_volume_dims=48, window_size=5, max_depth_m=3.0)
    mapper = Mapper(cfg, model=model)
    for frame in frames:
        mapper.add_frame(frame)
    mapper.flush()
    pts = mapper.semantic_points()
    keys = np.round(pts.xyz / cfg.voxel_size_m).astype(np.int64)
    return {tuple(k): int(label) for k, label in zip(keys, pts.label)}


@pytest.mark.slow
def test_every_frame_and_every_second_frame_agree():
    torch.set_num_threads(1)
    assert checkpoint_path().is_file(), "the shipped checkpoint is missing: run `make train`"
    model, _ = load_checkpoint(checkpoint_path())
    scan = SyntheticScan(2003, num_frames=80, height=120, width=160)  # held-out scene
    frames = [scan.frame(i)[0] for i in range(len(scan))]
    full = _map_labels(frames, model)
    half = _map_labels(frames[::2], model)
    both = full.keys() & half.keys()
    assert len(both) > 500, f"only {len(both)} surface voxels observed by both runs"
    agree = np.mean([full[k] == half[k] for k in both])
    assert agree >= 0.90, f"labels agree on {100 * agree:.1f}% of {len(both)} common surface voxels"
