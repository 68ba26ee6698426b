"""Where a ray is sampled: stratified samples over the part of [near, far] inside the grid box (Eq. 5's x_m).

A sampler only places samples; the field (model/window.py) evaluates them and a weighting (model/render.py)
turns their SDF into weights. `RaySamples` carries what the weightings need (sample spacing for Eq. 7).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gnesf_ros.geometry.camera import stratified_samples
from gnesf_ros.model.render import ray_box


@dataclass
class RaySamples:
    """M samples on each of R rays o + t d, ordered near to far."""

    t: torch.Tensor  # (R, M) ray parameters (z-depth for image rays)
    points: torch.Tensor  # (R * M, 3) map-frame sample points, ray-major
    near: torch.Tensor  # (R,) start of the sampled interval (near bound where the ray misses the box)
    far: torch.Tensor  # (R,) end of the sampled interval (= near where the ray misses the box)
    hit: torch.Tensor  # (R,) bool: the ray's [near, far] meets the grid box
    dirs: torch.Tensor  # (R, 3) ray directions (their length converts t to metres)

    @property
    def num_rays(self) -> int:
        return int(self.t.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.t.shape[1])

    def deltas_m(self) -> torch.Tensor:
        """Spacing (R, M) in metres from each sample to the next (the last repeats its predecessor's; a single
        sample spans its whole interval): the delta of Eq. 7."""
        if self.num_samples > 1:
            spacing = torch.diff(self.t, dim=-1)
            spacing = torch.cat([spacing, spacing[:, -1:]], dim=-1)
        else:
            spacing = (self.far - self.near)[:, None]
        return spacing * self.dirs.norm(dim=-1, keepdim=True)


def sample_in_box(origins: torch.Tensor, dirs: torch.Tensor, near: torch.Tensor, far: torch.Tensor,
                  box: tuple[torch.Tensor, torch.Tensor], num_samples: int, perturb: bool = False,
                  generator: torch.Generator | None = None) -> RaySamples:
    """Stratified samples (jittered when `perturb`) over [near, far] clipped to the box (min (3,), max (3,)).

    origins, dirs (R, 3); near, far: scalar tensors. A ray that misses the box gets its samples at `near`
    and hit = False (the renderer gives them zero weight).
    """
    R = origins.shape[0]
    t_in, t_out = ray_box(origins, dirs, *box)
    tn = torch.maximum(t_in, near.expand(R))
    tf = torch.minimum(t_out, far.expand(R))
    hit = tf > tn
    tn = torch.where(hit, tn, near.expand(R))
    tf = torch.where(hit, tf, tn)
    t = stratified_samples(tn, tf, num_samples, perturb=perturb, generator=generator)  # (R, M)
    pts = (origins[:, None] + t[..., None] * dirs[:, None]).reshape(-1, 3)
    return RaySamples(t=t, points=pts, near=tn, far=tf, hit=hit, dirs=dirs)
