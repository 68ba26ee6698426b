"""What the mapper needs from a model, as typed protocols: `SceneModel` encodes a window of views on a grid into a
`ModelWindow`, which answers SDF and semantic queries and renders views. `gnesf_ros.model.GNeSF` implements both;
the tests' stand-ins implement them too. The mapper probes nothing else and changes nothing on the model, so one
model can serve several mappers (eval/evaluate.py maps with both geometry sources on one model).
"""
from __future__ import annotations

from typing import Callable, Protocol, Sequence

import torch

from gnesf_ros.model.config import InferenceOptions
from gnesf_ros.model.renderer import RenderResult
from gnesf_ros.model.window import QueryResult


class ModelWindow(Protocol):
    """Views encoded on one grid: the field the mapper queries and renders (GNeSF: model/window.py)."""

    @property
    def sdf_grid(self) -> torch.Tensor | None:
        """(X, Y, Z) SDF (m) at the grid's vertices, when the window knows it (the mapper then queries only voxels
        near the truncation band); None = unknown (every voxel is queried)."""

    def query(self, points: torch.Tensor, max_abs_sdf_m: float | None = None) -> QueryResult:
        """SDF (P,) and semantics (P, C) of map points (P, 3) (Eq. 2-4); semantics may be left unknown (all-zero)
        where |sdf| >= max_abs_sdf_m."""

    def render(self, K: torch.Tensor, T_map_cam: torch.Tensor, height: int, width: int,
               mode: str = "sdf") -> RenderResult:
        """Semantics, depth and weight of a (novel) view K (3, 3), T_map_cam (4, 4) (Eq. 5 with Eq. 8-9 or 7)."""


class SceneModel(Protocol):
    """What `Mapper` needs from a model (GNeSF: model/gnesf.py). Stateless: `encode` returns the window."""

    @property
    def num_classes(self) -> int:
        """C: classes of the frames' probabilities and of the semantics."""

    @property
    def trunc_m(self) -> float:
        """Truncation tr (m) of the model's SDF: its free-space value and the band of its rendering weights."""

    @property
    def default_options(self) -> InferenceOptions:
        """The soft vote's inference rules the model was trained with; the mapper overrides some explicitly."""

    features: Callable[[torch.Tensor], torch.Tensor]
    """2D features F_i: images (V, 3, H, W) in [0, 1] -> (V, D, h, w); the mapper caches them per keyframe."""

    def encode(self, images: torch.Tensor, probs: torch.Tensor, K: torch.Tensor, T_map_cam: torch.Tensor,
               origin_m: torch.Tensor, voxel_size_m: float, dims: Sequence[int],
               sdf_volume: torch.Tensor | None = None, feats: torch.Tensor | None = None,
               depth_m: torch.Tensor | None = None, geometry_views: int | None = None,
               options: InferenceOptions | None = None) -> ModelWindow:
        """Encode V views (images (V, 3, H, W), probs (V, C, H, W), K (V, 3, 3), T_map_cam (V, 4, 4)) on the grid
        origin_m (3,), voxel_size_m, dims (X, Y, Z). sdf_volume (X, Y, Z): depth-TSDF geometry (NaN = unobserved);
        feats: cached `features(images)`; depth_m (V, H, W): source depth for visibility; geometry_views: only the
        first views build the geometry, all vote; options: the soft vote's rules (None = `default_options`)."""


def missing_members(model: object) -> list[str]:
    """Names of `SceneModel` members `model` lacks (empty when it implements the protocol)."""
    members = ("num_classes", "trunc_m", "default_options", "features", "encode")
    return [name for name in members if not hasattr(model, name)]
