"""The GNeSF model: encode a window of posed source views once, then query points and render rays.

    model = GNeSF(ModelConfig())
    win = model.encode(images, probs, K, T_map_cam, origin_m, voxel_size_m, dims)   # Eq. 1 (+ SDF grid)
    q = win.query(points)                 # Eq. 2 SDF, Eq. 3-4 soft-voted semantics, visibility masks
    img = model.render(K, T_map_cam, H, W, mode="sdf")                               # Eq. 5 + Eq. 8-9 / 7

Grid convention: vertex (i, j, k) at origin_m + (i, j, k) * voxel_size_m (see model/volume.py). Query
the SDF/semantics of voxel centres by passing their coordinates; `EncodedWindow.sdf_grid` holds the SDF
at every vertex already. The model runs on the device of its parameters; inputs are moved there.
Wrap inference in `torch.inference_mode()` (encode and query keep autograd graphs otherwise, for training).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from gnesf_ros.errors import InputError
from gnesf_ros.geometry.camera import camera_centers, image_rays, project, stratified_samples
from gnesf_ros.model.config import ModelConfig
from gnesf_ros.model.features import FeatureNet, feature_size, sample_image, scale_intrinsics
from gnesf_ros.model.fields import SDFHead, VoteHead, view_cues
from gnesf_ros.model.render import composite, nerf_weights, ray_box, sdf_to_density, sdf_weights
from gnesf_ros.model.visibility import depth_visibility, grid_visibility
from gnesf_ros.model.volume import (VolumeNet, _check_grid, build_feature_volume, grid_box, mean_var_volume,
                                    sample_volume)
from gnesf_ros.model.voting import soft_vote


class RenderMode(str, enum.Enum):
    """Which weights Eq. 5 uses: SDF bell weights (Eq. 8-9, 3D segmentation) or NeRF (Eq. 7, view synthesis)."""

    SDF = "sdf"
    NERF = "nerf"


@dataclass
class QueryResult:
    """Per-point outputs of `GNeSF.query`."""

    sdf: torch.Tensor  # (P,) signed distance, metres (+trunc_m outside the volume = free)
    semantics: torch.Tensor  # (P, C) soft-voted class probabilities; all-zero row = unknown (no valid view)
    num_valid: torch.Tensor  # (P,) long, number of views that voted (in image, in front, visible, known pixel)


@dataclass
class RayResult:
    """Per-ray outputs of `GNeSF.render_rays` (differentiable)."""

    probs: torch.Tensor  # (R, C) rendered semantics (Eq. 5); sums to `weight`
    depth: torch.Tensor  # (R,) weight-normalised expected ray parameter (z-depth for image rays); 0 if no hit
    weight: torch.Tensor  # (R,) sum of the sample weights (1 where an SDF ray hits a surface, else 0)
    t: torch.Tensor  # (R, M) sample ray parameters
    sdf: torch.Tensor  # (R, M) SDF at the samples, metres
    weights: torch.Tensor  # (R, M) sample weights (Eq. 7 or Eq. 8-9)


@dataclass
class RenderResult:
    """A rendered image of `GNeSF.render`."""

    probs: torch.Tensor  # (H, W, C) class probabilities; all-zero where nothing was hit or nothing voted
    depth: torch.Tensor  # (H, W) z-depth in metres; 0 where nothing was hit
    weight: torch.Tensor  # (H, W) accumulated weight (confidence that a surface was hit)


@dataclass(eq=False)
class EncodedWindow:
    """A window of source views encoded once (features F_i, volume M of Eq. 1, SDF at the vertices)."""

    feats: torch.Tensor  # (V, D, h, w) feature maps F_i
    probs: torch.Tensor  # (V, C, H, W) 2D semantic probabilities S_i (all-zero = unknown pixel)
    K: torch.Tensor  # (V, 3, 3) intrinsics of the full-resolution images
    T_map_cam: torch.Tensor  # (V, 4, 4)
    height: int  # H of the source images
    width: int  # W of the source images
    origin_m: torch.Tensor  # (3,) position of vertex (0, 0, 0) in the map frame
    voxel_size_m: float
    dims: tuple[int, int, int]  # (X, Y, Z) vertices
    volume: torch.Tensor  # (D_m, X, Y, Z) geometry encoding volume M
    sdf_grid: torch.Tensor  # (X, Y, Z) SDF at the vertices, metres, detached (learned head or sdf_volume)
    sdf_volume: torch.Tensor | None  # (X, Y, Z) given depth-TSDF geometry (NaN replaced by +trunc), or None
    depth_m: torch.Tensor | None  # (V, H, W) source-view depth (0 = no return) for visibility, or None
    model: "GNeSF" = field(repr=False)

    @property
    def num_views(self) -> int:
        return int(self.feats.shape[0])

    @property
    def centers(self) -> torch.Tensor:
        """Camera centres o_i (V, 3)."""
        return camera_centers(self.T_map_cam)

    @property
    def box(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(min (3,), max (3,)) corners of the grid box."""
        return grid_box(self.origin_m, self.voxel_size_m, self.dims)

    def query(self, points: torch.Tensor, max_abs_sdf_m: float | None = None) -> "QueryResult":
        return self.model.query(points, max_abs_sdf_m=max_abs_sdf_m, window=self)

    def render_rays(self, origins: torch.Tensor, dirs: torch.Tensor, near=None, far=None, mode="sdf",
                    **kwargs) -> "RayResult":
        return self.model.render_rays(origins, dirs, near, far, mode, window=self, **kwargs)

    def render(self, K: torch.Tensor, T_map_cam: torch.Tensor, height: int, width: int, mode="sdf") -> "RenderResult":
        return self.model.render(K, T_map_cam, height, width, mode, window=self)


class GNeSF(nn.Module):
    """Generalizable neural semantic field (paper Sec. 3-4), sized by a ModelConfig."""

    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg = cfg if cfg is not None else ModelConfig()
        c = self.cfg
        self.features = FeatureNet(c)
        self.volume_net = VolumeNet(2 * c.feature_channels + 1, c.volume_channels, c.volume_width)
        self.sdf_head = SDFHead(c)
        self.vote_head = VoteHead(c)
        self.window: EncodedWindow | None = None

    # ------------------------------------------------------------------ encode (Sec. 3.1, Eq. 1)
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, images: torch.Tensor, probs: torch.Tensor, K: torch.Tensor, T_map_cam: torch.Tensor,
               origin_m: torch.Tensor, voxel_size_m: float, dims: Sequence[int],
               sdf_volume: torch.Tensor | None = None, feats: torch.Tensor | None = None,
               depth_m: torch.Tensor | None = None, geometry_views: int | None = None) -> EncodedWindow:
        """Encode V source views for a grid; the result is also kept as `self.window`.

        Args:
            images: (V, 3, H, W) in [0, 1].  probs: (V, C, H, W) class probabilities (all-zero = unknown).
            K: (V, 3, 3) full-resolution intrinsics.  T_map_cam: (V, 4, 4).
            origin_m (3,), voxel_size_m, dims (X, Y, Z): the grid (vertex convention in the module docstring).
            sdf_volume: optional (X, Y, Z) SDF in metres at the vertices (e.g. a depth TSDF); when given it
                replaces the learned SDF for query outputs, visibility and rendering. NaN = unobserved,
                taken as free (+trunc_m).
            feats: optional (V, D, h, w) feature maps F_i = self.features(images) computed earlier (e.g. cached
                once per keyframe by the mapper); skips the 2D U-Net. Must come from the same images.
            depth_m: optional (V, H, W) metric z-depth of the source views (0 = no return). When given,
                visibility is read from the depth images (`depth_visibility`) instead of the SDF ray march:
                exact per pixel, and cheaper. Use it with depth geometry.
            geometry_views: only the first this many views build the volume M (Eq. 1); all V views vote
                (Eq. 3-4). Lets extra frames add their semantics without the cost of Eq. 1. None = all.
        """
        dev, c = self._device(), self.cfg
        f32 = dict(device=dev, dtype=torch.float32)
        images, probs, K, T_map_cam = (x.to(**f32) for x in (torch.as_tensor(images), torch.as_tensor(probs),
                                                             torch.as_tensor(K), torch.as_tensor(T_map_cam)))
        origin_m = torch.as_tensor(origin_m).to(**f32).reshape(-1)
        voxel_size_m = float(voxel_size_m)
        dims = _check_grid(origin_m, voxel_size_m, dims)
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError(f"images must be (V, 3, H, W), got {tuple(images.shape)}")
        V, _, H, W = images.shape
        if tuple(probs.shape) != (V, c.num_classes, H, W):
            raise InputError(f"probs must be (V, C, H, W) = {(V, c.num_classes, H, W)}, got {tuple(probs.shape)}")
        if tuple(K.shape) != (V, 3, 3) or tuple(T_map_cam.shape) != (V, 4, 4):
            raise InputError(f"K must be ({V}, 3, 3) and T_map_cam ({V}, 4, 4), got {tuple(K.shape)}, "
                             f"{tuple(T_map_cam.shape)}")
        if sdf_volume is not None:
            sdf_volume = torch.as_tensor(sdf_volume).to(**f32)
            if tuple(sdf_volume.shape) != dims:
                raise InputError(f"sdf_volume must be (X, Y, Z) = {dims}, got {tuple(sdf_volume.shape)}")
            sdf_volume = torch.nan_to_num(sdf_volume, nan=c.trunc_m)

        if depth_m is not None:
            depth_m = torch.as_tensor(depth_m).to(**f32)
            if tuple(depth_m.shape) != (V, H, W):
                raise InputError(f"depth_m must be (V, H, W) = {(V, H, W)}, got {tuple(depth_m.shape)}")
        if feats is None:
            feats = self.features(images)
        else:
            feats = torch.as_tensor(feats).to(**f32)
            expected = (V, c.feature_channels) + feature_size(H, W, c.image_scale)
            if tuple(feats.shape) != expected:
                raise InputError(f"feats must be (V, D, h, w) = {expected}, got {tuple(feats.shape)}")
        h, w = feats.shape[-2:]
        K_feat = scale_intrinsics(K, w / W, h / H)
        g = V if geometry_views is None else int(geometry_views)
        if not 1 <= g <= V:
            raise InputError(f"geometry_views must be in 1..{V}, got {geometry_views}")
        mean, var, count = mean_var_volume(feats[:g], K_feat[:g], T_map_cam[:g], origin_m, voxel_size_m, dims,
                                           c.chunk_points)
        volume = self.volume_net(build_feature_volume(mean, var, count, g))
        if sdf_volume is None:
            with torch.no_grad():
                flat = volume.detach().reshape(volume.shape[0], -1).transpose(0, 1)
                sdf_grid = torch.cat([self.sdf_head(x) for x in flat.split(c.chunk_points)]).reshape(dims)
        else:
            sdf_grid = sdf_volume.detach()
        self.window = EncodedWindow(feats, probs, K, T_map_cam, H, W, origin_m, voxel_size_m, dims, volume,
                                    sdf_grid, sdf_volume, depth_m, model=self)
        return self.window

    def _window(self, window: EncodedWindow | None) -> EncodedWindow:
        win = window if window is not None else self.window
        if win is None:
            raise InputError("GNeSF has no encoded window: call encode() first")
        return win

    # ------------------------------------------------------------------ query (Eq. 2-4, visibility)
    def _sdf(self, win: EncodedWindow, pts: torch.Tensor, Mx: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
        trunc = torch.full_like(pts[:, 0], self.cfg.trunc_m)
        if win.sdf_volume is None:
            return torch.where(inside, self.sdf_head(Mx), trunc)
        s, _ = sample_volume(win.sdf_volume.unsqueeze(0), win.origin_m, win.voxel_size_m, pts)
        return torch.where(inside, s[:, 0], trunc)

    def _semantics(self, win: EncodedWindow, x: torch.Tensor, Mx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft-voted semantics (P, C) and number of voting views (P,) for points x (P, 3)."""
        c = self.cfg
        V, P = win.num_views, x.shape[0]
        uv, z, in_img = project(x, win.K, win.T_map_cam, win.height, win.width)  # (V, P, 2), (V, P), (V, P)
        S = sample_image(win.probs, uv)  # (V, P, C), bilinear
        mass = S.sum(dim=-1)
        known = mass >= c.min_known_mass
        h, w = win.feats.shape[-2:]
        scale = uv.new_tensor([w / win.width, h / win.height])
        Fx = sample_image(win.feats, (uv + 0.5) * scale - 0.5)  # (V, P, D)
        m = in_img.unsqueeze(-1).to(Fx.dtype)
        n = m.sum(dim=0).clamp(min=1.0)
        mean = (Fx * m).sum(dim=0) / n
        var = ((Fx * m) ** 2).sum(dim=0) / n - mean * mean
        var = var.clamp(min=0.0)
        centers = win.centers
        if win.depth_m is not None:
            vis = depth_visibility(z, uv, win.depth_m, c.depth_visibility_margin_m, c.depth_vote_band_m)
        else:
            vis = grid_visibility(win.sdf_grid, win.origin_m, win.voxel_size_m, centers, x, c.visibility_samples,
                                  c.visibility_margin_m, pairs=in_img & known, chunk_points=c.chunk_points)
        valid = in_img & known & vis
        vi, pi = valid.nonzero(as_tuple=True)
        S = torch.where(valid.unsqueeze(-1), S / mass.clamp(min=1e-6).unsqueeze(-1), torch.zeros_like(S))
        cues = view_cues(x[pi] - centers[vi], uv[vi, pi], win.width, win.height, S[vi, pi])
        scores = self.vote_head(Fx[vi, pi], mean[pi], var[pi], Mx[pi], cues)
        if c.vote_confidence_power:  # weight x confidence^power; cues[:, -1] is max_c S_i(x)
            scores = scores + c.vote_confidence_power * torch.log(cues[:, -1].clamp(min=1e-6))
        logits = torch.zeros(V, P, dtype=scores.dtype, device=x.device).index_put((vi, pi), scores)
        return soft_vote(S, logits, valid, c.vote_pooling, c.vote_eps), valid.sum(dim=0)

    def _semantics_chunked(self, win: EncodedWindow, x: torch.Tensor, Mx: torch.Tensor):
        step = max(1, self.cfg.chunk_points // win.num_views)
        if x.shape[0] <= step:
            return self._semantics(win, x, Mx)
        parts = [self._semantics(win, x[s:s + step], Mx[s:s + step]) for s in range(0, x.shape[0], step)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def _check_points(self, points: torch.Tensor, name: str = "points") -> torch.Tensor:
        points = torch.as_tensor(points).to(device=self._device(), dtype=torch.float32)
        if points.ndim != 2 or points.shape[-1] != 3:
            raise InputError(f"{name} must be (P, 3), got {tuple(points.shape)}")
        return points

    def query(self, points: torch.Tensor, max_abs_sdf_m: float | None = None,
              window: EncodedWindow | None = None) -> QueryResult:
        """SDF (Eq. 2) and soft-voted semantics (Eq. 3-4) of map points (P, 3) on the last encoded window.

        A view votes for x when x projects inside its image, lies in front of it, is visible (visibility
        module) and its interpolated 2D probabilities are known. `max_abs_sdf_m`, when given, computes
        semantics only where |sdf| < max_abs_sdf_m (near surfaces; the rest come back unknown), which is
        much cheaper for dense grids. Chunked over points; differentiable.
        """
        win = self._window(window)
        points = self._check_points(points)
        C = self.cfg.num_classes
        step = max(1, self.cfg.chunk_points // win.num_views)
        sdfs, sems, nvs = [], [], []
        for s in range(0, points.shape[0], step):
            pts = points[s:s + step]
            Mx, inside = sample_volume(win.volume, win.origin_m, win.voxel_size_m, pts)
            sdf = self._sdf(win, pts, Mx, inside)
            if max_abs_sdf_m is None:
                sem, nv = self._semantics(win, pts, Mx)
            else:
                sel = (sdf.detach().abs() < max_abs_sdf_m).nonzero(as_tuple=True)[0]
                sem_s, nv_s = self._semantics(win, pts[sel], Mx[sel])
                sem = torch.zeros(pts.shape[0], C, dtype=sem_s.dtype, device=pts.device).index_put((sel,), sem_s)
                nv = torch.zeros(pts.shape[0], dtype=torch.long, device=pts.device).index_put((sel,), nv_s)
            sdfs.append(sdf)
            sems.append(sem)
            nvs.append(nv)
        if not sdfs:
            z = points.new_zeros(0)
            return QueryResult(z, points.new_zeros(0, C), torch.zeros(0, dtype=torch.long, device=points.device))
        return QueryResult(torch.cat(sdfs), torch.cat(sems), torch.cat(nvs))

    # ------------------------------------------------------------------ rendering (Eq. 5, 7, 8-9)
    def render_rays(self, origins: torch.Tensor, dirs: torch.Tensor, near: float | torch.Tensor | None = None,
                    far: float | torch.Tensor | None = None, mode: str | RenderMode = "sdf", perturb: bool = False,
                    generator: torch.Generator | None = None, min_weight: float = 0.0,
                    window: EncodedWindow | None = None) -> RayResult:
        """Render semantics along rays o + t d (origins (R, 3), dirs (R, 3)); differentiable (training).

        Samples (render_samples of them, stratified, jittered when `perturb`) cover [near, far] clipped to
        the grid box; rays that miss the box get zero weight. mode "sdf": Eq. 8-9 weights; "nerf": Eq. 7
        with the density of `sdf_to_density` and deltas in metres. Semantics are computed only for samples
        with weight > min_weight (0 = all; exact since the others contribute w * s ~ 0).
        """
        win = self._window(window)
        c = self.cfg
        mode = RenderMode(mode)
        origins = self._check_points(origins, "origins")
        dirs = self._check_points(dirs, "dirs")
        if origins.shape != dirs.shape:
            raise InputError(f"origins and dirs must match, got {tuple(origins.shape)}, {tuple(dirs.shape)}")
        R, M = origins.shape[0], c.render_samples
        near = torch.as_tensor(c.render_near_m if near is None else near, dtype=origins.dtype, device=origins.device)
        far = torch.as_tensor(c.render_far_m if far is None else far, dtype=origins.dtype, device=origins.device)
        t_in, t_out = ray_box(origins, dirs, *win.box)
        tn = torch.maximum(t_in, near.expand(R))
        tf = torch.minimum(t_out, far.expand(R))
        hit = tf > tn
        tn = torch.where(hit, tn, near.expand(R))
        tf = torch.where(hit, tf, tn)
        t = stratified_samples(tn, tf, M, perturb=perturb, generator=generator)  # (R, M)
        pts = (origins[:, None] + t[..., None] * dirs[:, None]).reshape(-1, 3)
        Mx, inside = sample_volume(win.volume, win.origin_m, win.voxel_size_m, pts)
        sdf = self._sdf(win, pts, Mx, inside).reshape(R, M)
        if mode is RenderMode.SDF:
            weights = sdf_weights(sdf, c.trunc_m)
        else:
            spacing = torch.diff(t, dim=-1)
            spacing = torch.cat([spacing, spacing[:, -1:]], dim=-1) if M > 1 else (tf - tn)[:, None]
            weights = nerf_weights(sdf_to_density(sdf, c.nerf_beta_m), spacing * dirs.norm(dim=-1, keepdim=True))
        weights = weights * hit[:, None]
        sel = (weights.detach().reshape(-1) > min_weight).nonzero(as_tuple=True)[0]
        sem_s, _ = self._semantics_chunked(win, pts[sel], Mx[sel])
        sem = torch.zeros(R * M, c.num_classes, dtype=sem_s.dtype, device=pts.device).index_put((sel,), sem_s)
        probs = composite(weights, sem.reshape(R, M, -1))
        weight = weights.sum(dim=-1)
        depth = (weights * t).sum(dim=-1) / weight.clamp(min=1e-6)
        depth = torch.where(weight > 1e-6, depth, torch.zeros_like(depth))
        return RayResult(probs, depth, weight, t, sdf, weights)

    @torch.no_grad()
    def render(self, K: torch.Tensor, T_map_cam: torch.Tensor, height: int, width: int,
               mode: str | RenderMode = "sdf", window: EncodedWindow | None = None) -> RenderResult:
        """Render a (novel) view K (3, 3), T_map_cam (4, 4), height x width from the encoded window.

        No gradient (inference); chunked over rays. Samples with weight <= 1e-3 skip the semantics.
        """
        win = self._window(window)
        dev = self._device()
        K = torch.as_tensor(K).to(device=dev, dtype=torch.float32)
        T_map_cam = torch.as_tensor(T_map_cam).to(device=dev, dtype=torch.float32)
        origins, dirs = image_rays(K, T_map_cam, int(height), int(width))
        step = max(1, self.cfg.chunk_points // self.cfg.render_samples)
        parts = [self.render_rays(origins[s:s + step], dirs[s:s + step], mode=mode, min_weight=1e-3, window=win)
                 for s in range(0, origins.shape[0], step)]
        probs = torch.cat([p.probs for p in parts]).reshape(height, width, -1)
        depth = torch.cat([p.depth for p in parts]).reshape(height, width)
        weight = torch.cat([p.weight for p in parts]).reshape(height, width)
        return RenderResult(probs, depth, weight)
