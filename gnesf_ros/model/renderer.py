"""Rendering composed of three parts: a sampler places samples on the rays (model/sampler.py), the field of an
encoded window gives their SDF and semantics (model/window.py), a weighting turns the SDF into weights
(model/render.py: Eq. 8-9 or Eq. 7); Eq. 5 composites the semantics with the weights.

A new weighting is one function in `WEIGHTINGS`; a new sampler, one function returning `RaySamples`.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

from gnesf_ros.errors import InputError
from gnesf_ros.geometry.camera import Camera
from gnesf_ros.model.config import ModelConfig
from gnesf_ros.model.render import composite, nerf_weights, sdf_to_density, sdf_weights
from gnesf_ros.model.sampler import RaySamples, sample_in_box

if TYPE_CHECKING:
    from gnesf_ros.model.window import EncodedWindow


class RenderMode(enum.StrEnum):
    """Which weights Eq. 5 uses: SDF bell weights (Eq. 8-9, 3D segmentation) or NeRF (Eq. 7, view synthesis)."""

    SDF = "sdf"
    NERF = "nerf"


@dataclass
class RayResult:
    """Per-ray outputs of `render_rays` (differentiable)."""

    probs: torch.Tensor  # (R, C) rendered semantics (Eq. 5); sums to `weight`
    depth: torch.Tensor  # (R,) weight-normalised expected ray parameter (z-depth for image rays); 0 if no hit
    weight: torch.Tensor  # (R,) sum of the sample weights (1 where an SDF ray hits a surface, else 0)
    t: torch.Tensor  # (R, M) sample ray parameters
    sdf: torch.Tensor  # (R, M) SDF at the samples, metres
    weights: torch.Tensor  # (R, M) sample weights (Eq. 7 or Eq. 8-9)


@dataclass
class RenderResult:
    """A rendered image of `render_image`."""

    probs: torch.Tensor  # (H, W, C) class probabilities; all-zero where nothing was hit or nothing voted
    depth: torch.Tensor  # (H, W) z-depth in metres; 0 where nothing was hit
    weight: torch.Tensor  # (H, W) accumulated weight (confidence that a surface was hit)


Weighting = Callable[[torch.Tensor, RaySamples, ModelConfig], torch.Tensor]
"""sdf (R, M) at the samples, the samples, the model's config -> sample weights (R, M)."""


def sdf_bell_weighting(sdf: torch.Tensor, samples: RaySamples, cfg: ModelConfig) -> torch.Tensor:
    """Eq. 8-9: bell weights of the first truncation region, normalised (`render.sdf_weights`)."""
    return sdf_weights(sdf, cfg.trunc_m)


def nerf_weighting(sdf: torch.Tensor, samples: RaySamples, cfg: ModelConfig) -> torch.Tensor:
    """Eq. 7 with the VolSDF density of the SDF (`render.sdf_to_density`) and deltas in metres."""
    return nerf_weights(sdf_to_density(sdf, cfg.nerf_beta_m), samples.deltas_m())


WEIGHTINGS: dict[RenderMode, Weighting] = {RenderMode.SDF: sdf_bell_weighting, RenderMode.NERF: nerf_weighting}


def render_rays(field: "EncodedWindow", origins: torch.Tensor, dirs: torch.Tensor,
                near: float | torch.Tensor | None = None, far: float | torch.Tensor | None = None,
                mode: str | RenderMode = "sdf", perturb: bool = False, generator: torch.Generator | None = None,
                min_weight: float = 0.0) -> RayResult:
    """Render semantics along rays o + t d (origins (R, 3), dirs (R, 3)) through `field`; differentiable.

    Samples (render_samples of them, stratified, jittered when `perturb`) cover [near, far] clipped to the grid
    box (None: the config's render_near_m / render_far_m); rays that miss the box get zero weight. mode "sdf":
    Eq. 8-9 weights; "nerf": Eq. 7. Semantics are computed only for samples with weight > min_weight (0 = all;
    exact since the others contribute w * s ~ 0).
    """
    c = field.cfg
    mode = RenderMode(mode)
    origins = field.points(origins, "origins")
    dirs = field.points(dirs, "dirs")
    if origins.shape != dirs.shape:
        raise InputError(f"origins and dirs must match, got {tuple(origins.shape)}, {tuple(dirs.shape)}")
    R, M = origins.shape[0], c.render_samples
    near = torch.as_tensor(c.render_near_m if near is None else near, dtype=origins.dtype, device=origins.device)
    far = torch.as_tensor(c.render_far_m if far is None else far, dtype=origins.dtype, device=origins.device)
    samples = sample_in_box(origins, dirs, near, far, field.box, M, perturb, generator)
    pts = samples.points
    if field.sdf_volume is None:
        Mx, inside = field.encoding(pts)
        sdf = field.sdf(pts, Mx, inside).reshape(R, M)  # Eq. 2 at the samples
    else:  # a given SDF (depth TSDF): M(x) only where the vote runs, below
        Mx, sdf = None, field.sdf(pts).reshape(R, M)
    weights = WEIGHTINGS[mode](sdf, samples, c)
    weights = weights * samples.hit[:, None]
    sel = (weights.detach().reshape(-1) > min_weight).nonzero(as_tuple=True)[0]
    Mx_sel = field.encoding(pts[sel])[0] if Mx is None else Mx[sel]
    sem_s, _ = field.semantics(pts[sel], Mx_sel)  # Eq. 3-4 where the weight matters
    sem = torch.zeros(R * M, c.num_classes, dtype=sem_s.dtype, device=pts.device).index_put((sel,), sem_s)
    probs = composite(weights, sem.reshape(R, M, -1))  # Eq. 5
    weight = weights.sum(dim=-1)
    t = samples.t
    depth = (weights * t).sum(dim=-1) / weight.clamp(min=1e-6)
    depth = torch.where(weight > 1e-6, depth, torch.zeros_like(depth))
    return RayResult(probs, depth, weight, t, sdf, weights)


@torch.no_grad()
def render_image(field: "EncodedWindow", K: torch.Tensor, T_map_cam: torch.Tensor, height: int, width: int,
                 mode: str | RenderMode = "sdf") -> RenderResult:
    """Render a (novel) view K (3, 3), T_map_cam (4, 4), height x width through `field`.

    No gradient (inference); chunked over rays. Samples with weight <= 1e-3 skip the semantics.
    """
    dev = field.device
    origins, dirs = Camera.single(K, T_map_cam, height, width).to(device=dev, dtype=torch.float32).rays()
    step = max(1, field.cfg.chunk_points // field.cfg.render_samples)
    parts = [render_rays(field, origins[s:s + step], dirs[s:s + step], mode=mode, min_weight=1e-3)
             for s in range(0, origins.shape[0], step)]
    probs = torch.cat([p.probs for p in parts]).reshape(height, width, -1)
    depth = torch.cat([p.depth for p in parts]).reshape(height, width)
    weight = torch.cat([p.weight for p in parts]).reshape(height, width)
    return RenderResult(probs, depth, weight)
