"""`SegNet`: a MobileNet-v3-style encoder with an LR-ASPP head and a 1/4-resolution skip, RGB -> class logits.

Encoder (inverted residual blocks with squeeze-excite, strides 2-4-8-16, the last stage dilated instead of a
fifth stride, as in LR-ASPP, Howard et al. 2019) -> LR-ASPP at 1/16 (a 1x1 branch gated by a global-pooled
sigmoid) -> fused with the 1/8 features -> refined with the 1/4 features -> bilinear upsampling to the input.
~1.6 M parameters at width 1.0. The network imports nothing from gnesf_ros/data/.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gnesf_ros.errors import InputError
from gnesf_ros.segmentation.config import SegNetConfig

# ImageNet statistics: a conventional input normalisation, kept inside the network so a checkpoint is complete
RGB_MEAN = (0.485, 0.456, 0.406)
RGB_STD = (0.229, 0.224, 0.225)

# (expand ratio, out channels, stride, dilation, squeeze-excite) per block, after a 16-channel stride-2 stem
BLOCKS: tuple[tuple[int, int, int, int, bool], ...] = (
    (1, 16, 1, 1, False),
    (4, 24, 2, 1, False),  # 1/4: skip
    (3, 24, 1, 1, False),
    (3, 40, 2, 1, True),  # 1/8: low-level LR-ASPP input
    (3, 40, 1, 1, True),
    (6, 80, 2, 1, False),  # 1/16
    (3, 80, 1, 1, False),
    (3, 80, 1, 1, False),
    (6, 112, 1, 1, True),
    (6, 160, 1, 2, True),  # dilated instead of a 1/32 stride
    (6, 160, 1, 2, True),
)
SKIP_BLOCK = 2  # output of this block (1/4) feeds the skip refinement
LOW_BLOCK = 4  # output of this block (1/8) feeds the LR-ASPP low-level branch
OUTPUT_STRIDE = 16


def _ch(c: int, mult: float) -> int:
    """Channels scaled by `mult`, rounded to a multiple of 8 (at least 8)."""
    return max(8, int(round(c * mult / 8.0)) * 8)


def _conv_bn(cin: int, cout: int, k: int = 1, stride: int = 1, dilation: int = 1, groups: int = 1,
             act: type[nn.Module] | None = nn.Hardswish) -> nn.Sequential:
    pad = dilation * (k - 1) // 2
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, pad, dilation, groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Channel gate from globally pooled features (MobileNet-v3)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(8, channels // 4)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))


class InvertedResidual(nn.Module):
    """1x1 expand -> 3x3 depthwise (stride, dilation) -> optional SE -> 1x1 project, residual when shapes match."""

    def __init__(self, cin: int, expand: int, cout: int, stride: int, dilation: int, se: bool) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn(cin, hidden, 1))
        layers.append(_conv_bn(hidden, hidden, 3, stride, dilation, groups=hidden))
        if se:
            layers.append(SqueezeExcite(hidden))
        layers.append(_conv_bn(hidden, cout, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class SegNet(nn.Module):
    """RGB (B, 3, H, W) in [0, 1] -> logits (B, C, H, W). H and W must be multiples of 16 (`Segmenter` pads)."""

    def __init__(self, cfg: SegNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg if cfg is not None else SegNetConfig()
        m = self.cfg.width_mult
        self.register_buffer("rgb_mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor(RGB_STD).view(1, 3, 1, 1), persistent=False)
        self.stem = _conv_bn(3, _ch(16, m), 3, stride=2)
        blocks = []
        cin = _ch(16, m)
        chans = []
        for expand, cout, stride, dilation, se in BLOCKS:
            cout = _ch(cout, m)
            blocks.append(InvertedResidual(cin, expand, cout, stride, dilation, se))
            chans.append(cout)
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        C, hc = self.cfg.num_classes, self.cfg.head_channels
        # LR-ASPP: main branch x gate, upsampled to 1/8, plus a low-level classifier
        self.aspp = _conv_bn(cin, hc, 1, act=nn.ReLU)
        self.aspp_gate = nn.Conv2d(cin, hc, 1)
        self.low_head = nn.Conv2d(chans[LOW_BLOCK], C, 1)
        self.high_head = nn.Conv2d(hc, C, 1)
        # 1/4 refinement: [upsampled logits, skip features] -> logits
        self.skip = _conv_bn(chans[SKIP_BLOCK], self.cfg.skip_channels, 1, act=nn.ReLU)
        self.refine = nn.Sequential(_conv_bn(C + self.cfg.skip_channels, self.cfg.skip_channels, 3, act=nn.ReLU),
                                    nn.Conv2d(self.cfg.skip_channels, C, 1))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise InputError(f"SegNet expects RGB (B, 3, H, W), got {tuple(rgb.shape)}")
        h, w = rgb.shape[-2:]
        if h % OUTPUT_STRIDE or w % OUTPUT_STRIDE:
            raise InputError(f"SegNet input {h}x{w}: height and width must be multiples of {OUTPUT_STRIDE}")
        x = self.stem((rgb - self.rgb_mean) / self.rgb_std)
        skip = low = x
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == SKIP_BLOCK:
                skip = x
            elif i == LOW_BLOCK:
                low = x
        gate = torch.sigmoid(self.aspp_gate(F.adaptive_avg_pool2d(x, 1)))
        high = F.interpolate(self.aspp(x) * gate, size=low.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.low_head(low) + self.high_head(high)  # (B, C, H/8, W/8)
        logits = F.interpolate(logits, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        logits = logits + self.refine(torch.cat([logits, self.skip(skip)], dim=1))  # (B, C, H/4, W/4)
        return F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
