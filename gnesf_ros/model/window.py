"""The field of one encoded window: SDF (Eq. 2) and soft-voted semantics (Eq. 3-4, visibility) at any point.

`GNeSF.encode` returns an `EncodedWindow`; it holds everything a query needs (the views' features and 2D
semantics, the volume M, the SDF at the vertices, the heads and the inference options), so the model keeps no
state between calls. Rendering composes this field with a sampler and a weighting (model/renderer.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import torch

from gnesf_ros.errors import InputError
from gnesf_ros.geometry.camera import Camera
from gnesf_ros.model.config import InferenceOptions, ModelConfig
from gnesf_ros.model.features import sample_image
from gnesf_ros.model.fields import SDFHead, VoteHead, view_cues
from gnesf_ros.model.renderer import RayResult, RenderMode, RenderResult, render_image, render_rays
from gnesf_ros.model.visibility import depth_visibility, grid_visibility
from gnesf_ros.model.volume import grid_box, sample_volume
from gnesf_ros.model.voting import soft_vote


@dataclass
class QueryResult:
    """Per-point outputs of `EncodedWindow.query`."""

    sdf: torch.Tensor  # (P,) signed distance, metres (+trunc_m outside the volume = free)
    semantics: torch.Tensor  # (P, C) soft-voted class probabilities; all-zero row = unknown (no valid view)
    num_valid: torch.Tensor  # (P,) long, number of views that voted (in image, in front, visible, known pixel)


@dataclass(eq=False)
class EncodedWindow:
    """A window of source views encoded once (features F_i, volume M of Eq. 1, SDF at the vertices): a field."""

    feats: torch.Tensor  # (V, D, h, w) feature maps F_i
    probs: torch.Tensor  # (V, C, H, W) 2D semantic probabilities S_i (all-zero = unknown pixel)
    camera: Camera  # the V source views' cameras, at the size (H, W) of probs
    origin_m: torch.Tensor  # (3,) position of vertex (0, 0, 0) in the map frame
    voxel_size_m: float
    dims: tuple[int, int, int]  # (X, Y, Z) vertices
    volume: torch.Tensor  # (D_m, X, Y, Z) geometry encoding volume M
    sdf_grid: torch.Tensor  # (X, Y, Z) SDF at the vertices, metres, detached (learned head or sdf_volume)
    sdf_volume: torch.Tensor | None  # (X, Y, Z) given depth-TSDF geometry (NaN replaced by +trunc), or None
    depth_m: torch.Tensor | None  # (V, H, W) source-view depth (0 = no return) for visibility, or None
    cfg: ModelConfig = field(repr=False)  # sizes and constants of the model that encoded the window
    options: InferenceOptions = field(repr=False)  # the soft vote's inference rules
    sdf_head: SDFHead = field(repr=False)  # f_theta of Eq. 2
    vote_head: VoteHead = field(repr=False)  # f_v of Eq. 3

    @property
    def num_views(self) -> int:
        return int(self.feats.shape[0])

    @property
    def centers(self) -> torch.Tensor:
        """Camera centres o_i (V, 3)."""
        return self.camera.centers

    @property
    def box(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(min (3,), max (3,)) corners of the grid box."""
        return grid_box(self.origin_m, self.voxel_size_m, self.dims)

    @property
    def device(self) -> torch.device:
        return self.volume.device

    def points(self, points: torch.Tensor, name: str = "points") -> torch.Tensor:
        """`points` as float32 (P, 3) on the window's device; InputError naming `name` otherwise."""
        points = torch.as_tensor(points).to(device=self.device, dtype=torch.float32)
        if points.ndim != 2 or points.shape[-1] != 3:
            raise InputError(f"{name} must be (P, 3), got {tuple(points.shape)}")
        return points

    # ------------------------------------------------------------------ the field (Eq. 2-4, visibility)
    def encoding(self, pts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """M(x) (P, D_m) trilinear in the volume and inside (P,) bool for points pts (P, 3)."""
        return sample_volume(self.volume, self.origin_m, self.voxel_size_m, pts)

    def sdf(self, pts: torch.Tensor, Mx: torch.Tensor | None = None, inside: torch.Tensor | None = None
            ) -> torch.Tensor:
        """Eq. 2: sigma(x) = f_theta(M(x)) (P,) in metres (Mx and inside from `encoding`), or the given sdf_volume
        (which needs neither); +trunc_m outside the grid."""
        trunc = torch.full_like(pts[:, 0], self.cfg.trunc_m)
        if self.sdf_volume is None:
            if Mx is None or inside is None:
                raise InputError("a learned SDF needs the encodings M(x) and inside of `encoding(pts)`")
            return torch.where(inside, self.sdf_head(Mx), trunc)
        s, inside = sample_volume(self.sdf_volume.unsqueeze(0), self.origin_m, self.voxel_size_m, pts)
        return torch.where(inside, s[:, 0], trunc)

    def _semantics(self, x: torch.Tensor, Mx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft-voted semantics (P, C) and number of voting views (P,) for points x (P, 3)."""
        c, opts = self.cfg, self.options
        V, P = self.num_views, x.shape[0]
        uv, z, in_img = self.camera.project(x)  # (V, P, 2), (V, P), (V, P)
        S = sample_image(self.probs, uv)  # (V, P, C), bilinear
        mass = S.sum(dim=-1)
        known = mass >= c.min_known_mass
        Fx = sample_image(self.feats, self.camera.resized_pixels(uv, *self.feats.shape[-2:]))  # (V, P, D)
        m = in_img.unsqueeze(-1).to(Fx.dtype)
        n = m.sum(dim=0).clamp(min=1.0)
        mean = (Fx * m).sum(dim=0) / n  # Eq. 3: mean and variance over the views x projects into
        var = ((Fx * m) ** 2).sum(dim=0) / n - mean * mean
        var = var.clamp(min=0.0)
        centers = self.centers
        if self.depth_m is not None:
            vis = depth_visibility(z, uv, self.depth_m, c.depth_visibility_margin_m, opts.depth_vote_band_m)
        else:
            vis = grid_visibility(self.sdf_grid, self.origin_m, self.voxel_size_m, centers, x, c.visibility_samples,
                                  c.visibility_margin_m, pairs=in_img & known, chunk_points=c.chunk_points)
        valid = in_img & known & vis
        pair = valid.reshape(-1).nonzero().squeeze(1)  # flat (view, point) indices of the voting pairs
        vi, pi = pair // P, pair % P
        S = torch.where(valid.unsqueeze(-1), S / mass.clamp(min=1e-6).unsqueeze(-1), torch.zeros_like(S))
        uv_pairs = uv.reshape(V * P, 2).index_select(0, pair)
        confidence = S.amax(dim=-1).reshape(V * P).index_select(0, pair)  # max_c S_i(x), one value per pair
        cues = view_cues(x.index_select(0, pi) - centers.index_select(0, vi), uv_pairs, self.camera.width,
                         self.camera.height, confidence)
        scores = self.vote_head(Fx.reshape(V * P, Fx.shape[-1]).index_select(0, pair), mean, var, Mx, cues,
                                point_index=pi)  # Eq. 3: v_i(x)
        if opts.vote_confidence_power:  # weight x confidence^power; cues[:, -1] is max_c S_i(x)
            scores = scores + opts.vote_confidence_power * torch.log(cues[:, -1].clamp(min=1e-6))
        logits = torch.zeros(V, P, dtype=scores.dtype, device=x.device).index_put((vi, pi), scores)
        return soft_vote(S, logits, valid, opts.vote_pooling, c.vote_eps), valid.sum(dim=0)  # Eq. 4

    def semantics(self, x: torch.Tensor, Mx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 3-4 at points x (P, 3) with encodings Mx (P, D_m): semantics (P, C), voting views (P,); chunked."""
        step = max(1, self.cfg.chunk_points // self.num_views)
        if x.shape[0] <= step:
            return self._semantics(x, Mx)
        parts = [self._semantics(x[s:s + step], Mx[s:s + step]) for s in range(0, x.shape[0], step)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def query(self, points: torch.Tensor, max_abs_sdf_m: float | None = None) -> QueryResult:
        """SDF (Eq. 2) and soft-voted semantics (Eq. 3-4) of map points (P, 3).

        A view votes for x when x projects inside its image, lies in front of it, is visible (visibility
        module) and its interpolated 2D probabilities are known. `max_abs_sdf_m`, when given, computes
        semantics only where |sdf| < max_abs_sdf_m (near surfaces; the rest come back unknown), which is
        much cheaper for dense grids. Chunked over points; differentiable.
        """
        points = self.points(points)
        C = self.cfg.num_classes
        step = max(1, self.cfg.chunk_points // self.num_views)
        sdfs, sems, nvs = [], [], []
        for s in range(0, points.shape[0], step):
            pts = points[s:s + step]
            Mx, inside = self.encoding(pts)
            sdf = self.sdf(pts, Mx, inside)
            if max_abs_sdf_m is None:
                sem, nv = self._semantics(pts, Mx)
            else:
                sel = (sdf.detach().abs() < max_abs_sdf_m).nonzero(as_tuple=True)[0]
                sem_s, nv_s = self._semantics(pts[sel], Mx[sel])
                sem = torch.zeros(pts.shape[0], C, dtype=sem_s.dtype, device=pts.device).index_put((sel,), sem_s)
                nv = torch.zeros(pts.shape[0], dtype=torch.long, device=pts.device).index_put((sel,), nv_s)
            sdfs.append(sdf)
            sems.append(sem)
            nvs.append(nv)
        if not sdfs:
            z = points.new_zeros(0)
            return QueryResult(z, points.new_zeros(0, C), torch.zeros(0, dtype=torch.long, device=points.device))
        return QueryResult(torch.cat(sdfs), torch.cat(sems), torch.cat(nvs))

    # ------------------------------------------------------------------ rendering (model/renderer.py)
    def render_rays(self, origins: torch.Tensor, dirs: torch.Tensor, near=None, far=None,
                    mode: str | RenderMode = "sdf", perturb: bool = False,
                    generator: torch.Generator | None = None, min_weight: float = 0.0) -> RayResult:
        """Semantics rendered along rays (differentiable): `renderer.render_rays` on this field."""
        return render_rays(self, origins, dirs, near, far, mode, perturb, generator, min_weight)

    def render(self, K: torch.Tensor, T_map_cam: torch.Tensor, height: int, width: int,
               mode: str | RenderMode = "sdf") -> RenderResult:
        """A (novel) view rendered from this field, no gradient: `renderer.render_image`."""
        return render_image(self, K, T_map_cam, height, width, mode)
