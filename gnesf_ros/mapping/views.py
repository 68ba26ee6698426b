"""The views of one window, stacked for the model: `WindowViews` (keyframes first, then extra frames)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gnesf_ros.errors import InputError
from gnesf_ros.geometry.camera import Camera
from gnesf_ros.mapping.fragment import DepthHits
from gnesf_ros.mapping.keyframes import Keyframe


@dataclass
class WindowViews:
    """V cached views of one window (or a render's source views) as stacked CPU tensors, at one image size."""

    images: torch.Tensor  # (V, 3, H, W) float32 in [0, 1]
    probs: torch.Tensor  # (V, C, H, W) float32; an all-zero column = unknown pixel
    camera: Camera  # the V views' cameras (float32 K (V, 3, 3) at (H, W), T_map_cam (V, 4, 4))
    feats: torch.Tensor | None = None  # (V, D, h, w) cached 2D features F_i, when every view has them
    depth_m: torch.Tensor | None = None  # (V, H, W) float32 (0 = no measurement), with depth geometry
    geometry_views: int | None = None  # only the first this many (the keyframes) build Eq. 1; None = all
    hits: DepthHits | None = None  # the window's depth pixels binned into voxels (depth_hit_points)

    @classmethod
    def stack(cls, kfs: list[Keyframe], with_depth: bool, geometry_views: int | None = None) -> "WindowViews":
        """Stack cached keyframes (and extra frames); InputError if their sizes differ or, `with_depth`, one has
        no depth image."""
        sizes = sorted({(kf.height, kf.width) for kf in kfs})
        if len(sizes) != 1:
            raise InputError(f"keyframes of one window must share an image size, got {sizes}")
        views = cls(images=torch.stack([kf.image for kf in kfs]), probs=torch.stack([kf.probs for kf in kfs]),
                    camera=Camera(torch.stack([kf.K for kf in kfs]), torch.stack([kf.T_map_cam for kf in kfs]),
                                  *sizes[0]),
                    geometry_views=geometry_views)
        if all(kf.features is not None for kf in kfs):
            views.feats = torch.stack([kf.features for kf in kfs])
        if with_depth:
            if any(kf.depth_m is None for kf in kfs):
                raise InputError("geometry_source is 'depth' but a keyframe has no depth image")
            views.depth_m = torch.stack([kf.depth_m for kf in kfs])
        return views
