"""The online incremental semantic mapper (no ROS): frames in; a fused sparse semantic voxel map, semantic
point clouds and novel-view semantic renders out.

Pipeline per keyframe window (docs/architecture.md, "The mapper"): keyframe selection -> cached downscaled
keyframes -> every `window_size` keyframes the window's views (`WindowViews`) -> per fragment volume on the global
grid three stages: build the fragment (`fragment.observed_voxels`), query the window (`window_query`: `model.encode`,
then `window.query` of the observed voxels), fuse into the global `VoxelMap`. The model is anything implementing
`SceneModel` (mapping/model_api.py).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnesf_ros.classes import IGNORE_ID, ClassList
from gnesf_ros.errors import ConfigError, InputError, MapFileError
from gnesf_ros.frame import Frame
from gnesf_ros.geometry.camera import Camera
from gnesf_ros.geometry.splat import splat_labels
from gnesf_ros.mapping.config import (GeometrySource, LargeWindows, MapperConfig, NewVoxelRule, SemanticFusion,
                                      WindowOverflow, check_truncation)
from gnesf_ros.mapping.fragment import (Fragment, FragmentVoxels, build_fragment, depth_hits, fragment_bounds,
                                        fragment_tiles, frustum_centroid, observed_voxels, tiles_in_frusta)
from gnesf_ros.mapping.keyframes import Keyframe, KeyframeSelector, KeyframeStore
from gnesf_ros.mapping.map_file import decode_map, encode_map, read_map_file, write_map_file
from gnesf_ros.mapping.model_api import SceneModel, missing_members
from gnesf_ros.mapping.surface_gate import closest_to_surface, crossing_mask
from gnesf_ros.mapping.views import WindowViews
from gnesf_ros.mapping.voxel_map import VoxelMap, pack_keys
from gnesf_ros.mapping.window_query import VoxelObservations, encode_window, needs_window, observe
from gnesf_ros.model.config import InferenceOptions
from gnesf_ros.paths import checkpoint_path

logger = logging.getLogger(__name__)


@dataclass
class MapUpdate:
    """What one `add_frame` / `flush` call did."""

    is_keyframe: bool
    fragment_fused: bool  # a window was encoded and fused into the global map
    num_voxels: int  # global map size after the call
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: keyframe, features, volume, encode, query, fusion
    voxels_created: int = 0
    fragment_cropped: bool = False  # the window's frusta exceeded max_volume_dims and the volume was cropped
    voxels_not_created: int = 0  # new voxels a fragment was refused by max_new_voxels_per_fragment


@dataclass
class SemanticPoints:
    """Surface voxels with known semantics."""

    xyz: np.ndarray  # (N, 3) float32 surface points of the voxels (or their centres), map frame (m)
    label: np.ndarray  # (N,) uint16 class ids
    confidence: np.ndarray  # (N,) float32 in (0, 1]: max of the fused class posterior (VoxelMap.labels)
    rgb: np.ndarray  # (N, 3) uint8 class colours

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


@dataclass
class MapRender:
    """A semantic image rendered at a (novel) camera pose."""

    label: np.ndarray  # (H, W) uint16, IGNORE_ID (255) where unknown
    rgb: np.ndarray  # (H, W, 3) uint8 class colours (black where unknown)
    confidence: np.ndarray  # (H, W) float32, 0 where unknown
    depth_m: np.ndarray  # (H, W) float32 rendered z-depth, 0 where nothing was rendered


def model_path(config: MapperConfig) -> Path:
    """The checkpoint `load_model` reads: `config.checkpoint`, or "" = the checkpoint shipped in the package."""
    return Path(config.checkpoint) if config.checkpoint else checkpoint_path()


def load_model(config: MapperConfig) -> SceneModel:
    """The model of `config.checkpoint` ("" = the checkpoint shipped in the package); MapFileError if missing."""
    path = model_path(config)
    if not path.is_file():
        raise MapFileError(f"no model checkpoint at {path}: pass a model to Mapper, set the mapper's 'checkpoint' "
                           "parameter, or train one (make train)")
    from gnesf_ros.model.checkpoint import load_checkpoint  # model layer sits below; imported only when needed

    model, _extra = load_checkpoint(path, map_location=config.device)
    return model


class Mapper:
    """One stateful mapper owning the keyframe cache and the global semantic voxel map.

    `model` implements `SceneModel` (mapping/model_api.py; GNeSF does); None loads the configured checkpoint. The
    mapper never changes the model (its inference options, `options`, are passed to each `encode`), so mappers may
    share one. `config.tsdf_trunc_m` must suit the model's trunc_m (`config.check_truncation`, ConfigError).
    `class_list` defaults to config/scannet20.yaml; frames must carry its number of classes.
    """

    def __init__(self, config: MapperConfig | None = None, model: SceneModel | None = None,
                 class_list: ClassList | None = None):
        self.config = config if config is not None else MapperConfig()
        self.class_list = class_list if class_list is not None else ClassList.from_yaml()
        self.device = torch.device(self.config.device)
        self.model: SceneModel = model if model is not None else load_model(self.config)
        missing = missing_members(self.model)
        if missing:
            raise ConfigError(f"the model ({type(self.model).__name__}) does not implement SceneModel "
                              f"(mapping/model_api.py): it lacks {', '.join(missing)}")
        if isinstance(self.model, torch.nn.Module):
            self.model.to(self.device).eval()
        if self.model.num_classes != self.class_list.num_classes:
            raise ConfigError(f"the model predicts {self.model.num_classes} classes but the class list has "
                              f"{self.class_list.num_classes} ({', '.join(self.class_list.names[:3])}, ...)")
        check_truncation(self.config, self.model.trunc_m,
                         f"checkpoint {model_path(self.config)}" if model is None else f"the {type(model).__name__} "
                         "passed to Mapper")
        self.options = self._inference_options()
        cfg = self.config
        self.map = VoxelMap(self.class_list.num_classes, cfg.voxel_size_m,
                            evidence="log" if cfg.semantic_fusion is SemanticFusion.BAYES else "linear")
        self.keyframes = KeyframeStore(cfg.max_keyframes, cfg.image_width_px, feature_fn=self._feature_fn())
        self.selector = KeyframeSelector(cfg.keyframe_min_translation_m, cfg.keyframe_min_rotation_deg)
        self._window: list[Keyframe] = []  # keyframes of the pending window
        self._extras: list[Keyframe] = []  # its non-keyframes (fuse_all_frames)
        self._extra_seen, self._extra_stride = 0, 1  # non-keyframes seen in this window; keep every stride-th
        self._camera_m: np.ndarray | None = None
        self.reset()

    def _inference_options(self) -> InferenceOptions:
        """The model's default inference options with the mapper's soft-vote rules (MapperConfig's vote_pooling,
        "" = the model's; vote_confidence_power; depth_vote_band_m), passed to every `encode`."""
        cfg, base = self.config, self.model.default_options
        return dataclasses.replace(base, vote_pooling=cfg.vote_pooling or base.vote_pooling,
                                   vote_confidence_power=cfg.vote_confidence_power,
                                   depth_vote_band_m=cfg.depth_vote_band_m)

    def _feature_fn(self):
        """Per-keyframe feature function: F_i computed once per keyframe, cached and passed to `encode(feats=)`."""
        features = self.model.features
        device = self.device

        def feature_fn(image: torch.Tensor) -> torch.Tensor:  # (1, 3, h, w) -> (1, D, h', w') on the device
            with torch.inference_mode():
                return features(image.to(device))

        return feature_fn

    # ---- state --------------------------------------------------------------------------------------
    def clear(self) -> None:
        """Empty the map, the keyframe cache and the pending window (session counters are kept)."""
        self.map.clear()
        self.keyframes.clear()
        self.selector.reset()
        self._take_window()

    def reset(self) -> None:
        """`clear()` and zero every counter and timer."""
        self.clear()
        self.map.dropped = 0
        self.keyframes.dropped = 0
        self._counts = {"frames": 0, "keyframes": 0, "extra_frames": 0, "fragments": 0, "cropped_fragments": 0,
                        "capped_fragments": 0, "voxels_not_created": 0}
        self._seconds: dict[str, float] = defaultdict(float)

    @property
    def num_classes(self) -> int:
        return self.class_list.num_classes

    @property
    def _depth_geometry(self) -> bool:
        """geometry_source "depth": the frames' depth TSDF is the geometry, the model gives semantics only."""
        return self.config.geometry_source is GeometrySource.DEPTH

    def stats(self) -> dict[str, Any]:
        """Counters and cumulative per-stage seconds (plain types, ready for a diagnostics message)."""
        return {**self._counts,
                "cached_keyframes": len(self.keyframes),
                "pending_keyframes": len(self._window),
                "pending_extra_frames": len(self._extras),
                "voxels": len(self.map),
                "dropped_keyframes": self.keyframes.dropped,
                "dropped_voxels": self.map.dropped,
                "seconds": dict(sorted(self._seconds.items()))}

    def _timed(self, timings: dict[str, float], stage: str, start: float) -> float:
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - start
        self._seconds[stage] += now - start
        return now

    # ---- input --------------------------------------------------------------------------------------
    def add_frame(self, frame: Frame) -> MapUpdate:
        """Take one frame: a non-keyframe costs a pose check; every `window_size`-th keyframe fuses a fragment."""
        t = time.perf_counter()
        timings: dict[str, float] = {}
        frame.validate(self.num_classes)
        if self._depth_geometry and frame.depth_m is None:
            raise InputError(f"frame {frame.frame_id} @ {frame.stamp_ns} ns: geometry_source is 'depth' "
                             "but the frame has no depth image")
        self._counts["frames"] += 1
        self._camera_m = np.asarray(frame.T_map_cam, dtype=np.float64)[:3, 3].copy()
        keyframe = self.selector.check(frame.T_map_cam)
        t = self._timed(timings, "keyframe", t)
        if not keyframe:
            update = MapUpdate(False, False, len(self.map), timings)
            if self.config.fuse_all_frames:
                self._add_extra(frame)
                self._timed(timings, "features", t)
                if self.config.window_overflow is WindowOverflow.FUSE \
                        and len(self._extras) >= self.config.max_window_frames:
                    self._fuse_window(update)  # the window is full: close it here rather than drop frames
            return update
        self._window.append(self.keyframes.add(frame))
        self._counts["keyframes"] += 1
        self._timed(timings, "features", t)
        update = MapUpdate(True, False, len(self.map), timings)
        if len(self._window) >= self.config.window_size:
            self._fuse_window(update)
        return update

    def flush(self) -> MapUpdate:
        """Fuse the pending partial window (end of a sequence). No-op when nothing is pending."""
        update = MapUpdate(False, False, len(self.map), {})
        if self._window or self._extras:
            self._fuse_window(update)
        return update

    def _add_extra(self, frame: Frame) -> None:
        """Keep a non-keyframe for the pending window. With `window_overflow: thin`, past `max_window_frames` keep
        every other one and from then on take every 2nd (4th, ...) frame, so the kept frames stay evenly spread
        and memory stays bounded ("fuse" closes the window at the cap instead: `add_frame`)."""
        self._extra_seen += 1
        if (self._extra_seen - 1) % self._extra_stride:
            return
        self._extras.append(self.keyframes.make(frame))
        self._counts["extra_frames"] += 1
        if len(self._extras) > self.config.max_window_frames:
            self._extras = self._extras[::2]
            self._extra_stride *= 2

    def _take_window(self) -> tuple[list[Keyframe], list[Keyframe]]:
        """The pending window's keyframes and extra frames; the window starts empty again."""
        taken = self._window, self._extras
        self._window, self._extras = [], []
        self._extra_seen, self._extra_stride = 0, 1
        return taken

    def _fuse_window(self, update: MapUpdate) -> None:
        """Fuse the pending window: its views, the volume(s) bounding their frusta, one fragment per volume."""
        cfg = self.config
        kfs, extras = self._take_window()
        if not kfs:  # only extra frames pending (flush right after a fragment): the first builds Eq. 1
            kfs, extras = extras[:1], extras[1:]
        views = WindowViews.stack(kfs + extras, self._depth_geometry, geometry_views=len(kfs))
        if self._depth_geometry and cfg.depth_hit_points:
            t = time.perf_counter()
            views.hits = depth_hits(views.depth_m, views.camera, cfg.voxel_size_m, cfg.max_depth_m)
            self._timed(update.timings, "volume", t)
        frusta = views.camera.frusta(cfg.max_depth_m)
        if cfg.large_windows is LargeWindows.TILE:
            volumes = tiles_in_frusta(fragment_tiles(frusta, cfg.voxel_size_m, cfg.max_volume_dims), frusta,
                                      cfg.voxel_size_m)
        else:
            volumes = [fragment_bounds(frusta, cfg.voxel_size_m, cfg.max_volume_dims)]
        if len(volumes) > 1:
            logger.debug("window of keyframes %d..%d encoded as %d tiles", kfs[0].index, kfs[-1].index, len(volumes))
        for bounds in volumes:
            self._fuse_fragment(views, bounds, update)
        update.num_voxels = len(self.map)

    def _fuse_fragment(self, views: WindowViews, bounds: tuple[np.ndarray, tuple[int, int, int], bool],
                       update: MapUpdate) -> None:
        """One volume of the window (`bounds` as fragment_bounds returns them) in three stages: build the fragment,
        query the window, fuse into the map."""
        voxels = self._build_fragment(views, bounds, update)
        if voxels is None:  # no voxel observed: nothing to encode
            return
        observations = self._query_window(views, voxels, update)
        self._fuse_into_map(voxels, observations, views, update)

    def _build_fragment(self, views: WindowViews, bounds: tuple[np.ndarray, tuple[int, int, int], bool],
                        update: MapUpdate) -> FragmentVoxels | None:
        """Stage 1: the fragment on the global grid (frustum mask, mean colour, depth TSDF) and its observed voxels."""
        cfg = self.config
        t = time.perf_counter()
        frag = build_fragment(views.camera, cfg.voxel_size_m, cfg.max_depth_m, cfg.max_volume_dims,
                              images=views.images, depth_m=views.depth_m, tsdf_trunc_m=cfg.tsdf_trunc_m,
                              bounds=bounds, tsdf_distance=cfg.tsdf_distance)
        update.fragment_cropped |= frag.cropped
        if frag.cropped:
            self._counts["cropped_fragments"] += 1
            logger.debug("fragment cropped to %s voxels", frag.dims)
        voxels = observed_voxels(frag, self._depth_geometry, views.hits)
        self._timed(update.timings, "volume", t)
        if voxels is not None:
            self._counts["fragments"] += 1
        return voxels

    def _query_window(self, views: WindowViews, voxels: FragmentVoxels, update: MapUpdate) -> VoxelObservations:
        """Stage 2: encode the window's views on the fragment's grid (Eq. 1) and ask it about the voxels (Eq. 2-4)."""
        cfg = self.config
        t = time.perf_counter()
        with torch.inference_mode():
            window = None
            if needs_window(voxels, cfg.tsdf_trunc_m):
                window = encode_window(self.model, views, voxels.fragment, self._depth_geometry, self.options,
                                       self.device)
                t = self._timed(update.timings, "encode", t)
            observations = observe(window, voxels, cfg.tsdf_trunc_m, cfg.query_chunk_size, self.num_classes,
                                   self.device)
        self._timed(update.timings, "query", t)
        return observations

    def _fuse_into_map(self, voxels: FragmentVoxels, observations: VoxelObservations, views: WindowViews,
                       update: MapUpdate) -> None:
        """Stage 3: integrate the observations into the global map (new voxels and votes only in the truncation
        band), then clear beyond the radius and the voxel cap around the camera."""
        cfg = self.config
        t = time.perf_counter()
        frag, sdf_obs = voxels.fragment, observations.sdf_m
        sem = np.clip(np.nan_to_num(observations.semantics, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)
        band = np.abs(sdf_obs) < cfg.tsdf_trunc_m  # new voxels and semantic votes only near the surface
        learned_grid = None if self._depth_geometry else (frag.dims, voxels.select)
        create = self._creatable(band, sdf_obs, voxels.keys, learned_grid, update)
        sem, sem_weight = self._semantic_evidence(sem, voxels.weight, band)
        rgb = frag.rgb.reshape(-1, 3)[voxels.select] if frag.rgb is not None else None
        hits = {} if voxels.hit_count is None else {"hit_offset_m": voxels.hit_offset_m, "hit_count": voxels.hit_count}
        update.voxels_created += self.map.integrate(voxels.keys, sdf_obs, voxels.weight, sem, rgb=rgb,
                                                   sem_weight=sem_weight, create=create, **hits)
        camera_m = self._camera_m if self._camera_m is not None else views.camera.T_map_cam[-1, :3, 3].double().numpy()
        self.map.clear_outside_radius(camera_m, cfg.map_clearing_radius_m)
        self.map.enforce_max_voxels(cfg.max_voxels, camera_m)
        self._timed(update.timings, "fusion", t)
        update.fragment_fused = True
        update.num_voxels = len(self.map)

    def _semantic_evidence(self, sem: np.ndarray, weight: np.ndarray, band: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
        """A fragment's votes (P, C) and their weights (P,) as the map accumulates them: with `semantic_fusion:
        bayes` log evidence of weight 1 (one observation per fragment), with `mean` the probabilities weighted by
        the SDF weight; zero weight outside the band."""
        if self.config.semantic_fusion is SemanticFusion.BAYES:
            return self._log_evidence(sem), band.astype(np.float32)
        return sem, weight * band

    def _creatable(self, band: np.ndarray, sdf_obs: np.ndarray, keys: np.ndarray,
                   learned_grid: tuple[tuple[int, int, int], np.ndarray] | None, update: MapUpdate) -> np.ndarray:
        """(P,) bool: which of a fragment's voxels (SDF sdf_obs (P,), keys (P, 3)) may be created in the map. The band
        (|sdf| < trunc); with learned geometry (`learned_grid` = the fragment's dims and the flat indices of the P
        voxels in it) and `new_voxel_rule: crossing` only near a confident zero crossing of their SDF on the grid
        (surface_gate.crossing_mask; voxels outside every frustum are unknown); at most
        `max_new_voxels_per_fragment` new ones, those nearest the surface."""
        cfg = self.config
        create = band
        if learned_grid is not None and cfg.new_voxel_rule is NewVoxelRule.CROSSING:
            dims, select = learned_grid
            grid = np.full(int(np.prod(dims)), np.nan, np.float32)
            grid[select] = sdf_obs
            near = crossing_mask(grid.reshape(dims), cfg.voxel_size_m, cfg.tsdf_trunc_m, cfg.crossing_min_slope,
                                 cfg.crossing_dilation_voxels)
            create = band & near.reshape(-1)[select]
        limit = cfg.max_new_voxels_per_fragment
        if limit and np.count_nonzero(create) > limit:
            _, exists = self.map.lookup(pack_keys(keys))
            new = np.nonzero(create & ~exists)[0]
            if new.size > limit:
                keep = closest_to_surface(new, sdf_obs[new], limit)
                create = create & exists
                create[keep] = True
                refused = int(new.size - keep.size)
                update.voxels_not_created += refused
                self._counts["capped_fragments"] += 1
                self._counts["voxels_not_created"] += refused
                logger.info("fragment %d: %d new voxels over max_new_voxels_per_fragment (%d), kept those nearest "
                            "the surface", self._counts["fragments"], refused, limit)
        return create

    def _log_evidence(self, sem: np.ndarray) -> np.ndarray:
        """A fragment's voted distributions (P, C) -> Bayesian evidence log((p + eps) / eps) (P, C), >= 0.

        Summed over fragments, its argmax is the MAP class of the product of the fragments' distributions
        (uniform prior), and softmax(sum) the posterior; rows without a vote (all zero) stay zero.
        """
        eps = np.float32(self.config.semantic_eps)
        total = sem.sum(axis=1, keepdims=True)
        known = total > 1e-6
        p = sem / np.where(known, total, 1.0)
        return np.where(known, np.log((p + eps) / eps), 0.0).astype(np.float32)

    # ---- outputs ------------------------------------------------------------------------------------
    def _surface(self, known_only: bool) -> tuple[np.ndarray, np.ndarray]:
        """Voxel indices (N,) and points (N, 3) float64 of the map's surface (rules of `semantic_points`); with
        `known_only`, only voxels whose semantics are known."""
        label, _ = self.map.labels()
        cfg = self.config
        if self._depth_geometry and cfg.depth_hit_points and np.any(self.map.data.hit_count > 0):
            idx, xyz = self.map.hit_points()
            keep = label[idx] != IGNORE_ID if known_only else np.ones(idx.shape, bool)
            return idx[keep], xyz[keep]
        keep = self.map.surface_mask() & ((label != IGNORE_ID) if known_only else True)
        idx = np.nonzero(keep)[0]
        xyz = self.map.surface_points(idx) if cfg.cloud_on_surface else self.map.centers_m(idx)
        return idx, xyz

    def surface_points(self) -> np.ndarray:
        """Every surface point (N, 3) float64 of the map, whatever its semantics (known or not): the geometry
        that `eval/geometry.py` scores. Same rules as `semantic_points`."""
        return np.asarray(self._surface(known_only=False)[1], dtype=np.float64).reshape(-1, 3)

    def semantic_points(self) -> SemanticPoints:
        """Surface voxels whose semantics are known: with depth geometry and `depth_hit_points`, the voxels depth
        hit, at the hits' mean; else (or for a map without hits, e.g. loaded from an older file) those with
        |sdf| < voxel size or a zero crossing to a neighbour, at their surface points (`cloud_on_surface`) or
        centres."""
        label, confidence = self.map.labels()
        idx, xyz = self._surface(known_only=True)
        label = label[idx]
        return SemanticPoints(xyz=np.asarray(xyz, dtype=np.float32).reshape(-1, 3), label=label,
                              confidence=confidence[idx], rgb=self.class_list.colorize(label))

    def render(self, K: np.ndarray, T_map_cam: np.ndarray, height: int, width: int) -> MapRender:
        """Semantic image at any camera pose, rendered by the model from the `render_num_views` cached keyframes
        nearest to the pose (novel-view synthesis). With `render_fill_from_map`, pixels the rendering leaves
        unknown (and every pixel when no keyframe is cached) come from the fused map's surface voxels."""
        cfg = self.config
        K = np.asarray(K, dtype=np.float64)
        T_map_cam = np.asarray(T_map_cam, dtype=np.float64)
        if K.shape != (3, 3) or T_map_cam.shape != (4, 4) or height < 1 or width < 1:
            raise InputError(f"render needs K (3, 3), T_map_cam (4, 4) and a positive size, got {K.shape}, "
                             f"{T_map_cam.shape}, {height}x{width}")
        unknown = MapRender(label=np.full((height, width), IGNORE_ID, np.uint16),
                            rgb=np.zeros((height, width, 3), np.uint8),
                            confidence=np.zeros((height, width), np.float32),
                            depth_m=np.zeros((height, width), np.float32))
        sources = self.keyframes.nearest(T_map_cam, cfg.render_num_views)
        if not sources:  # e.g. a map loaded from a file: only the fused map can answer
            if cfg.render_fill_from_map:
                self._fill_from_map(K, T_map_cam, np.ones((height, width), bool), unknown.label, unknown.confidence,
                                    unknown.depth_m)
                unknown.rgb = self.class_list.colorize(unknown.label)
            return unknown
        size = (sources[0].height, sources[0].width)
        sources = [kf for kf in sources if (kf.height, kf.width) == size]
        t = time.perf_counter()
        views = WindowViews.stack(sources, self._depth_geometry)
        target = Camera.single(K, T_map_cam, height, width).frusta(cfg.max_depth_m)[0]
        # only the target frustum is rendered: the volume holds it (centred on it), not the source frusta
        bounds = fragment_bounds([target], cfg.voxel_size_m, cfg.max_volume_dims, frustum_centroid(target))
        if self._depth_geometry:
            frag = build_fragment(views.camera, cfg.voxel_size_m, cfg.max_depth_m, cfg.max_volume_dims,
                                  depth_m=views.depth_m, tsdf_trunc_m=cfg.tsdf_trunc_m, bounds=bounds,
                                  tsdf_distance=cfg.tsdf_distance)
        else:  # no mask, colour or TSDF needed: just the grid
            frag = Fragment(key_min=bounds[0], dims=bounds[1], voxel_size_m=cfg.voxel_size_m,
                            mask=np.zeros(0, dtype=bool), cropped=bounds[2])
        with torch.inference_mode():
            window = encode_window(self.model, views, frag, self._depth_geometry, self.options, self.device)
            out = window.render(torch.from_numpy(K).float().to(self.device),
                                torch.from_numpy(T_map_cam).float().to(self.device), height, width,
                                mode=cfg.render_mode)
        self._seconds["render"] += time.perf_counter() - t
        probs = np.nan_to_num(out.probs.detach().float().cpu().numpy().reshape(height, width, -1), nan=0.0)
        probs = np.clip(probs, 0.0, None)
        weight = out.weight.detach().float().cpu().numpy().reshape(height, width)
        depth = out.depth.detach().float().cpu().numpy().reshape(height, width)
        total = probs.sum(axis=2)
        known = total > 1e-6
        label = np.where(known, np.argmax(probs, axis=2), IGNORE_ID).astype(np.uint16)
        confidence = np.where(known, probs.max(axis=2) / np.where(known, total, 1.0), 0.0).astype(np.float32)
        depth_m = np.where((weight > 1e-6) & np.isfinite(depth), depth, 0.0).astype(np.float32)
        if cfg.render_fill_from_map and not known.all():
            self._fill_from_map(K, T_map_cam, ~known, label, confidence, depth_m)
        return MapRender(label=label, rgb=self.class_list.colorize(label), confidence=confidence, depth_m=depth_m)

    def _fill_from_map(self, K: np.ndarray, T_map_cam: np.ndarray, holes: np.ndarray, label: np.ndarray,
                       confidence: np.ndarray, depth_m: np.ndarray) -> None:
        """Fill `holes` (H, W) of a render in place from a z-buffered splat of the labelled surface voxels.

        The volume rendering only knows what the `render_num_views` nearest keyframes saw inside one volume;
        the global map holds every fragment's fused votes. Splat footprint: 1.5 voxels, as the baselines.
        """
        pts = self.semantic_points()
        if len(pts) == 0:
            return
        height, width = holes.shape
        splat = splat_labels(pts.xyz, np.arange(len(pts)), K, T_map_cam, height, width,
                             footprint_m=1.5 * self.config.voxel_size_m)
        fill = holes & (splat.depth_m > 0) & (splat.depth_m <= self.config.max_depth_m)
        src = splat.label[fill]
        label[fill] = pts.label[src]
        confidence[fill] = pts.confidence[src]
        depth_m[fill] = splat.depth_m[fill]

    # ---- files --------------------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"voxel_size_m": self.config.voxel_size_m, "num_classes": self.num_classes,
                "class_names": list(self.class_list.names), "semantic_fusion": self.config.semantic_fusion.value}

    def to_bytes(self) -> bytes:
        """The map file's bytes (see map_file.py): the voxel map, voxel size and class names; no timestamps."""
        return encode_map(self.map.data, self._meta())

    def save(self, path: str | Path) -> None:
        """Write the global map to one versioned binary file (atomically). Keyframes are not saved."""
        write_map_file(path, self.to_bytes())

    def load(self, path: str | Path) -> None:
        """Replace the global map by the one in `path`. On any problem raise MapFileError (naming the path and
        the cause) and keep the current map. The keyframe cache and pending window are kept."""
        data, meta = read_map_file(path)
        self._adopt(data, meta, path)

    def from_bytes(self, blob: bytes, where: str = "<bytes>") -> None:
        data, meta = decode_map(blob, where)
        self._adopt(data, meta, where)

    def _adopt(self, data, meta: dict[str, Any], where: Any) -> None:
        mine = self._meta()
        try:
            voxel_ok = math.isclose(float(meta["voxel_size_m"]), mine["voxel_size_m"], rel_tol=1e-9)
            classes_ok = list(meta["class_names"]) == mine["class_names"]
        except (KeyError, TypeError, ValueError) as exc:
            raise MapFileError(f"cannot load map {where}: corrupt metadata ({exc})") from exc
        if not voxel_ok:
            raise MapFileError(f"cannot load map {where}: voxel size {meta['voxel_size_m']} m, "
                               f"this mapper uses {mine['voxel_size_m']} m")
        fusion = meta.get("semantic_fusion", "mean") if isinstance(meta, dict) else "mean"  # older files: mean
        if fusion != mine["semantic_fusion"]:
            raise MapFileError(f"cannot load map {where}: its semantics were fused with semantic_fusion "
                               f"'{fusion}', this mapper uses '{mine['semantic_fusion']}'")
        if not classes_ok:
            raise MapFileError(f"cannot load map {where}: saved with classes {meta['class_names']}, "
                               f"this mapper uses {mine['class_names']}")
        self.map.data = data

    def export_ply(self, path: str | Path) -> int:
        """Write the semantic points as a binary little-endian PLY coloured by class, with `label` (ushort) and
        `confidence` (float) vertex properties. Returns the number of points."""
        pts = self.semantic_points()
        n = len(pts)
        vertex = np.empty(n, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"),
                                    ("blue", "u1"), ("label", "<u2"), ("confidence", "<f4")])
        vertex["x"], vertex["y"], vertex["z"] = pts.xyz[:, 0], pts.xyz[:, 1], pts.xyz[:, 2]
        vertex["red"], vertex["green"], vertex["blue"] = pts.rgb[:, 0], pts.rgb[:, 1], pts.rgb[:, 2]
        vertex["label"], vertex["confidence"] = pts.label, pts.confidence
        header = ("ply\nformat binary_little_endian 1.0\n"
                  f"comment gnesf_ros semantic map, voxel_size_m {self.config.voxel_size_m}\n"
                  f"element vertex {n}\n"
                  "property float x\nproperty float y\nproperty float z\n"
                  "property uchar red\nproperty uchar green\nproperty uchar blue\n"
                  "property ushort label\nproperty float confidence\nend_header\n")
        write_map_file(path, header.encode("ascii") + vertex.tobytes())
        return n
