"""Sec. 3.1: a small 2D U-Net giving per-view feature maps F_i (d channels) at a reduced resolution."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gnesf_ros.errors import InputError
from gnesf_ros.model.config import ModelConfig


def feature_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(h, w) of the feature maps of an image of (height, width) at `scale` (at least 1x1)."""
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.ReLU(inplace=True))


class FeatureNet(nn.Module):
    """U-Net F: images (V, 3, H, W) in [0, 1] -> features (V, D, h, w), (h, w) = feature_size(H, W, scale).

    Three levels (1, 1/2, 1/4 of the resized image) with skip connections; no normalisation layers, so
    a view's features do not depend on the other views in the batch.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.scale = cfg.image_scale
        c0, c1, c2 = 16, 24, 32
        self.enc0 = nn.Sequential(_conv(3, c0), _conv(c0, c0))
        self.enc1 = nn.Sequential(_conv(c0, c1, 2), _conv(c1, c1))
        self.enc2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))
        self.dec1 = _conv(c2 + c1, c1)
        self.dec0 = _conv(c1 + c0, c0)
        self.out = nn.Conv2d(c0, cfg.feature_channels, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError(f"images must be (V, 3, H, W), got {tuple(images.shape)}")
        h, w = feature_size(images.shape[2], images.shape[3], self.scale)
        x = images
        if (h, w) != tuple(images.shape[2:]):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        x = x * 2.0 - 1.0
        e0 = self.enc0(x)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        d1 = self.dec1(torch.cat([F.interpolate(e2, size=e1.shape[2:], mode="bilinear", align_corners=False), e1], 1))
        d0 = self.dec0(torch.cat([F.interpolate(d1, size=e0.shape[2:], mode="bilinear", align_corners=False), e0], 1))
        return self.out(d0)


def sample_image_cf(maps: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of per-view maps (V, C, h, w) at pixel coordinates uv (V, P, 2) -> (V, C, P), channel-first
    (each view's (C, P) contiguous, for running sums over views); the one bilinear image sampler of the model.

    Pixel centres at integers (the convention of gnesf_ros.geometry.camera); outside the map -> 0.
    """
    h, w = maps.shape[-2:]
    grid = ((uv + 0.5) / uv.new_tensor([w, h]) * 2.0 - 1.0).unsqueeze(1)  # (V, 1, P, 2) in grid_sample's [-1, 1]
    out = F.grid_sample(maps, grid.to(maps.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[:, :, 0]


def sample_image(maps: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """`sample_image_cf` as (V, P, C): maps (V, C, h, w) at pixels uv (V, P, 2), one row per point (a view of it)."""
    return sample_image_cf(maps, uv).transpose(1, 2)
