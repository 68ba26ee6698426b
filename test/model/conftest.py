"""Tiny model inputs shared by the model tests: 3 views of 16x12 pixels around a 6^3 grid."""
import math

import pytest
import torch

from gnesf_ros.model import ModelConfig

from model_helpers import C, H, W, look_at  # noqa: E402


@pytest.fixture
def tiny_cfg() -> ModelConfig:
    return ModelConfig(num_classes=C, feature_channels=4, volume_channels=4, volume_width=4, mlp_width=8,
                       vote_feature_channels=4, render_samples=8, visibility_samples=6, chunk_points=50)


@pytest.fixture
def scene():
    """Dict of encode() inputs: images, probs, K, T_map_cam, origin_m, voxel_size_m, dims."""
    g = torch.Generator().manual_seed(3)
    V = 3
    K = torch.tensor([[12.0, 0, 7.5], [0, 12.0, 5.5], [0, 0, 1]]).expand(V, 3, 3).clone()
    target = torch.tensor([0.5, 0.5, 0.5])
    T = torch.stack([look_at([0.5 + 2 * math.cos(a), 0.5 + 2 * math.sin(a), 1.2], target)
                     for a in (0.0, 0.7, 1.5)])
    probs = torch.softmax(3 * torch.randn(V, C, H, W, generator=g), dim=1)
    probs[1, :, :3, :] = 0.0  # a band of unknown pixels
    return dict(images=torch.rand(V, 3, H, W, generator=g), probs=probs, K=K, T_map_cam=T,
                origin_m=torch.zeros(3), voxel_size_m=0.2, dims=(6, 6, 6))
