"""Eq. 2 (SDF head f_theta) and Eq. 3 (voting-score head: tiny MLP for F'_i, then f_v)."""
from __future__ import annotations

import torch
from torch import nn

from gnesf_ros.model.config import ModelConfig


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with LeakyReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


class SDFHead(nn.Module):
    """Eq. 2: sigma(x) = f_theta(M(x)), an SDF in metres: M(x) (P, D_m) -> sdf (P,).

    The MLP output is scaled by tr (trunc_m), so an output of +-1 is one truncation distance; points
    outside the volume are set to +tr (free space) by the caller.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.trunc = cfg.trunc_m
        self.net = mlp([cfg.volume_channels, cfg.mlp_width, cfg.mlp_width, 1])

    def forward(self, Mx: torch.Tensor) -> torch.Tensor:
        return self.trunc * self.net(Mx)[..., 0]


VIEW_CUES = 7
"""Per-(view, point) cues beside F'_i and M(x): displacement x - o_i (3), its length (1), the projected
pixel in [-1, 1] (2; distance to the image border) and the 2D confidence max_c S_i(x) (1)."""


def view_cues(disp: torch.Tensor, uv: torch.Tensor, width: int, height: int, confidence: torch.Tensor) -> torch.Tensor:
    """Cues (Q, 7) for the vote head: disp (Q, 3) metres, uv (Q, 2) pixels, confidence (Q,) max_c S_i(x) of the
    normalised probabilities.

    Eq. 3 feeds only the displacement; its length, the image position and the segmenter's own
    confidence are added because a segmenter's errors grow with distance and towards the image
    border, and its confidence is informative: the vote can learn to trust views accordingly.
    """
    size = uv.new_tensor([width, height])
    uv_norm = (uv + 0.5) / size * 2.0 - 1.0
    return torch.cat([disp, disp.norm(dim=-1, keepdim=True), uv_norm, confidence.unsqueeze(-1)], dim=-1)


class VoteHead(nn.Module):
    """Eq. 3: F'_i = g([F_i(x), mean, var]); v_i = f_v([F'_i, M(x), cues_i]).

    forward(F (Q, D) per-(view, point) features, mean (Q, D), var (Q, D), Mx (Q, D_m), cues (Q, 7) from
    `view_cues`) -> voting scores (Q,). Q is a flat list of (view, point) pairs, so only pairs that
    matter are computed. With `point_index` (Q,) long, mean, var (P, D) and Mx (P, D_m) are per point and
    pair q reads point point_index[q]: the same scores, with their share of the first layers computed once
    per point instead of once per pair (a point is seen by ~10-20 views).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, fp = cfg.feature_channels, cfg.vote_feature_channels
        self.feat = nn.Sequential(mlp([3 * d, fp]), nn.LeakyReLU(0.1))
        self.vote = mlp([fp + cfg.volume_channels + VIEW_CUES, cfg.mlp_width, 1])

    def forward(self, F: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, Mx: torch.Tensor,
                cues: torch.Tensor, point_index: torch.Tensor | None = None) -> torch.Tensor:
        if point_index is None:
            Fp = self.feat(torch.cat([F, mean, var], dim=-1))
            return self.vote(torch.cat([Fp, Mx, cues], dim=-1))[..., 0]
        # a linear layer of a concatenation is the sum of its column blocks' products: [F, m, v] W^T = F W_F^T +
        # (m W_m^T + v W_v^T)[point]; likewise [F', M(x), cues] for the vote's first layer
        d, fp = F.shape[-1], self.feat[0][0].out_features
        lin, first = self.feat[0][0], self.vote[0]
        per_point = torch.addmm(lin.bias, torch.cat([mean, var], dim=-1), lin.weight[:, d:].T)  # (P, fp)
        Fp = self.feat[1](torch.addmm(per_point.index_select(0, point_index), F, lin.weight[:, :d].T))
        Wf, Wm, Wc = first.weight.split([fp, Mx.shape[-1], cues.shape[-1]], dim=1)
        h = torch.addmm(torch.addmm(first.bias, Mx, Wm.T).index_select(0, point_index), Fp, Wf.T)
        h = torch.addmm(h, cues, Wc.T)
        return self.vote[1:](h)[..., 0]
