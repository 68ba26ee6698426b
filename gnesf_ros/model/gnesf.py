"""The GNeSF model: encode a window of posed source views once; the returned window answers queries and renders.

    model = GNeSF(ModelConfig())
    win = model.encode(images, probs, K, T_map_cam, origin_m, voxel_size_m, dims)   # Eq. 1 (+ SDF grid)
    q = win.query(points)                 # Eq. 2 SDF, Eq. 3-4 soft-voted semantics, visibility masks
    img = win.render(K, T_map_cam, H, W, mode="sdf")                                 # Eq. 5 + Eq. 8-9 / 7

The model is stateless: `encode` returns an `EncodedWindow` (model/window.py, the field) holding all a query
needs, and keeps nothing; inference options (the soft vote's rules) are passed to `encode`, never set on the
model's config. Rendering composes a sampler, the field and a weighting (model/renderer.py).

Grid convention: vertex (i, j, k) at origin_m + (i, j, k) * voxel_size_m (see model/volume.py). Query
the SDF/semantics of voxel centres by passing their coordinates; `EncodedWindow.sdf_grid` holds the SDF
at every vertex already. The model runs on the device of its parameters; inputs are moved there.
Wrap inference in `torch.inference_mode()` (encode and query keep autograd graphs otherwise, for training).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from gnesf_ros.errors import InputError
from gnesf_ros.model.config import InferenceOptions, ModelConfig
from gnesf_ros.geometry.camera import Camera
from gnesf_ros.model.features import FeatureNet, feature_size
from gnesf_ros.model.fields import SDFHead, VoteHead
from gnesf_ros.model.renderer import RayResult, RenderMode, RenderResult
from gnesf_ros.model.volume import VolumeNet, _check_grid, build_feature_volume, mean_var_volume
from gnesf_ros.model.window import EncodedWindow, QueryResult

__all__ = ["GNeSF", "EncodedWindow", "QueryResult", "RayResult", "RenderMode", "RenderResult"]


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

    @property
    def num_classes(self) -> int:
        """C, classes of the 2D probabilities it votes with and of its semantics."""
        return self.cfg.num_classes

    @property
    def trunc_m(self) -> float:
        """tr (m): scale of the SDF head, SDF of free space outside a window's grid, band of Eq. 8-9."""
        return self.cfg.trunc_m

    @property
    def default_options(self) -> InferenceOptions:
        """The inference options of its config (those its checkpoint was trained with)."""
        return InferenceOptions.of(self.cfg)

    # ------------------------------------------------------------------ encode (Sec. 3.1, Eq. 1)
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, images: torch.Tensor, probs: torch.Tensor, K: torch.Tensor, T_map_cam: torch.Tensor,
               origin_m: torch.Tensor, voxel_size_m: float, dims: Sequence[int],
               sdf_volume: torch.Tensor | None = None, feats: torch.Tensor | None = None,
               depth_m: torch.Tensor | None = None, geometry_views: int | None = None,
               options: InferenceOptions | None = None) -> EncodedWindow:
        """Encode V source views for a grid -> the window's field (queries, rendering); the model keeps nothing.

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
            options: the soft vote's inference rules (None: `default_options`, the config's).
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
        camera = Camera(K, T_map_cam, H, W)
        feat_camera = camera.resized(*feats.shape[-2:])  # the cameras of the feature maps
        g = V if geometry_views is None else int(geometry_views)
        if not 1 <= g <= V:
            raise InputError(f"geometry_views must be in 1..{V}, got {geometry_views}")
        mean, var, count = mean_var_volume(feats[:g], feat_camera[:g], origin_m, voxel_size_m, dims, c.chunk_points)
        volume = self.volume_net(build_feature_volume(mean, var, count, g))
        if sdf_volume is None:
            with torch.no_grad():
                flat = volume.detach().reshape(volume.shape[0], -1).transpose(0, 1)
                sdf_grid = torch.cat([self.sdf_head(x) for x in flat.split(c.chunk_points)]).reshape(dims)
        else:
            sdf_grid = sdf_volume.detach()
        options = options if options is not None else self.default_options
        return EncodedWindow(feats, probs, camera, origin_m, voxel_size_m, dims, volume, sdf_grid, sdf_volume, depth_m,
                             cfg=c, options=options, sdf_head=self.sdf_head, vote_head=self.vote_head)
