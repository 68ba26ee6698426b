"""Volume rendering of semantics (Eq. 5) with NeRF weights (Eq. 7) or SDF bell weights (Eq. 8-9).

All functions take samples ordered along each ray (near to far): (R, M) = R rays x M samples.
"""
from __future__ import annotations

import torch

from gnesf_ros.errors import InputError

BAND_TOLERANCE = 1e-4
"""Relative margin under tr below which |s| is in the truncation band (Eq. 8-9): a saturated SDF (+-tr stored in
float32 and trilinearly interpolated) differs from tr by a few ulp and must not count as in band."""


def nerf_weights(sigma: torch.Tensor, deltas: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 7: w_m = T_m (1 - exp(-sigma_m delta_m)), T_m = exp(-sum_{j<m} sigma_j delta_j).

    sigma: (R, M) densities >= 0; deltas: (R, M) sample spacings (None = 1, as written in the paper).
    Returns (R, M) weights, sum <= 1 (1 - sum = transmittance past the last sample).
    """
    tau = sigma if deltas is None else sigma * deltas
    alpha = 1.0 - torch.exp(-tau)
    acc = torch.cumsum(tau, dim=-1)
    T = torch.exp(-(acc - tau))  # exclusive cumulative sum
    return T * alpha


def sdf_weights(sdf: torch.Tensor, trunc: float) -> torch.Tensor:
    """Eq. 8-9: bell weights sigmoid(s/tr) sigmoid(-s/tr) in the first truncation region, normalised.

    sdf: (R, M) SDF samples in metres, ordered near to far; trunc: tr in metres.
    Only samples inside a truncation band (|s| < tr) count, plus the last sample before the first surface
    (so a coarse sampling that steps over the band still hits it): a truncated SDF (a depth TSDF clamped at
    +tr in free space) would otherwise give every free-space sample the weight sigmoid(1) sigmoid(-1).
    The first surface is the first + -> - crossing (s_m > 0 >= s_{m+1}). Samples after it are zeroed
    from the first one that leaves the band (|s| >= tr) or starts a second + -> - crossing, so a second
    surface further along the ray gets nothing; samples with s < 0 before the crossing (a ray starting
    inside geometry) are zeroed too. The rest is normalised to sum 1 per ray (Eq. 9).
    Rays without a + -> - crossing get all-zero weights. Differentiable w.r.t. sdf (the masks are not).
    """
    if sdf.ndim != 2:
        raise InputError(f"sdf must be (R, M), got {tuple(sdf.shape)}")
    R, M = sdf.shape
    bell = torch.sigmoid(sdf / trunc) * torch.sigmoid(-sdf / trunc)
    # a value clamped at +-tr in float32 (a TSDF's free space, the +tr outside the volume) must count as out of
    # the band: float32(0.12) < 0.12, so `abs(s) < tr` alone gave every free-space sample the weight
    # sigmoid(1) sigmoid(-1) and pulled rendered depth towards the camera (median 0.82x at 320x240)
    band = trunc * (1.0 - BAND_TOLERANCE)
    with torch.no_grad():
        cross = (sdf[:, :-1] > 0) & (sdf[:, 1:] <= 0)  # (R, M-1): surface between m and m+1
        has = cross.any(dim=-1)
        first = torch.argmax(cross.long(), dim=-1) if M > 1 else torch.zeros(R, dtype=torch.long, device=sdf.device)
        m = torch.arange(M, device=sdf.device)
        after = m[None] > first[:, None]
        second = torch.zeros_like(after)
        if M > 1:
            second[:, 1:] = cross & (m[None, :-1] > first[:, None])  # sample m+1 of a later crossing
        stop = after & ((sdf.abs() >= band) | second)
        cut = stop.long().cumsum(-1) > 0
        before_neg = (m[None] < first[:, None]) & (sdf < 0)
        in_band = (sdf.abs() < band) | (m[None] == first[:, None])
        keep = has[:, None] & ~cut & ~before_neg & in_band
    w = bell * keep
    return w / w.sum(dim=-1, keepdim=True).clamp(min=1e-12)


def composite(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Eq. 5: sum_m w_m values_m. weights (R, M), values (R, M, C) -> (R, C)."""
    return (weights.unsqueeze(-1) * values).sum(dim=-2)


def sdf_to_density(sdf: torch.Tensor, beta: float) -> torch.Tensor:
    """NeRF density (1 / metre) from an SDF (metres) for Eq. 7, VolSDF-style: sigma = Psi_beta(-sdf) / beta.

    Psi_beta is the CDF of a zero-mean Laplace distribution with scale beta: the density is 1/beta deep
    inside geometry, 1/(2 beta) on the surface and decays like exp(-sdf/beta) in free space. With
    deltas in metres this makes Eq. 7 an opacity that saturates within a few beta of the surface.
    """
    e = 0.5 * torch.exp(-sdf.abs() / beta)
    psi = torch.where(sdf >= 0, e, 1.0 - e)
    return psi / beta


def ray_box(origins: torch.Tensor, dirs: torch.Tensor, box_min: torch.Tensor, box_max: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Slab test: ray parameters (t_enter (R,), t_exit (R,)) of rays o + t d through an axis-aligned box.

    A ray that misses the box has t_enter > t_exit.
    """
    safe = torch.where(dirs.abs() < 1e-12, torch.full_like(dirs, 1e-12), dirs)
    t0 = (box_min - origins) / safe
    t1 = (box_max - origins) / safe
    return torch.minimum(t0, t1).amax(dim=-1), torch.maximum(t0, t1).amin(dim=-1)
