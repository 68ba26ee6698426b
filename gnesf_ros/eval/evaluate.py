"""Benchmark harness: map held-out scenes with every method and score them in 2D and 3D.

A scene for evaluation is an `EvalScene`: an ordered stream of input `Frame`s (fed to every method),
held-out `TargetView`s (pose + truth label image + the 2D segmenter's own output there), and the true
labelled surface points. `synthetic_scene(seed)` builds one from `gnesf_ros.data.synthetic`; a ScanNet
reader only has to produce the same three things. `evaluate_scenes` runs the methods on a single pass
over each scene's input stream, sums one confusion matrix per method and per metric over all scenes,
and writes `metrics.json`, `confusion.npz` and PNG figures.

Methods (`METHODS`):
    gnesf          Mapper, geometry_source "learned": 2D = Mapper.render at the target, 3D = semantic_points
    gnesf_depth    the same with geometry_source "depth" (depth TSDF geometry, same soft voting)
    input_2d       the 2D input itself at the target view (argmax of its probabilities): 2D only
    bayes_fusion   log-probability fusion over the depth surface (baselines.BayesFusion): 3D, and 2D by splatting
    majority_vote  argmax vote counting over the depth surface (baselines.MajorityVote): 3D, and 2D by splatting
    tsdf_fusion    open3d TSDF fusion of the same depth (geometry.TSDFFusion): geometry only, the reference

Geometry (eval/geometry.py) is scored for every method that makes it (gnesf, gnesf_depth, tsdf_fusion): its surface
points against the true surface observed by the input depth (accuracy, completeness, precision / recall / F-score at
5 cm, both clouds at 2 cm; the mean over scenes), and its rendered depth at the targets against their measured depth
(AbsRel, RMSE, delta<1.25, pooled over pixels). A scene with `geometry_only` has no labels: its truth surface is
the TSDF fusion of its input depth, and only geometry is scored.

2D scores count every truth pixel that is not ignored and lies within the mapped range (MethodSettings.max_depth_m,
where depth is known); a pixel a method leaves unknown is a miss. 3D scores follow Atlas (atlas.py): every true
surface point (observed within the same range) takes the nearest predicted point's label.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from scipy.spatial import cKDTree

from gnesf_ros.classes import IGNORE_ID, ClassList
from gnesf_ros.errors import InputError, MapFileError
from gnesf_ros.eval.atlas import atlas_confusion, labelling_ceiling
from gnesf_ros.eval.baselines import BayesFusion, MajorityVote, VoxelSemanticFusion, backproject_depth, probs_to_labels, voxel_keys
from gnesf_ros.eval.geometry import DepthAccumulator, GeometryScores, TSDFFusion, geometry_scores
from gnesf_ros.eval.metrics import confusion_matrix, scores_from_confusion
from gnesf_ros.frame import Frame

log = logging.getLogger(__name__)

METHODS = ("gnesf", "gnesf_depth", "input_2d", "bayes_fusion", "majority_vote", "tsdf_fusion")
BASELINE_METHODS = ("input_2d", "bayes_fusion", "majority_vote")  # semantic baselines: need no model checkpoint
LEARNED_METHODS = ("gnesf", "gnesf_depth")
GEOMETRY_METHODS = ("gnesf", "gnesf_depth", "tsdf_fusion")  # make geometry (scored by eval/geometry.py)
GEOMETRY_REFERENCE = "tsdf_fusion"  # a geometry_only scene's truth: not scored against itself


# -- what a scene provides ---------------------------------------------------------------------------
@dataclass
class TargetView:
    """A held-out view: scored in 2D, never fed to the mappers."""

    K: np.ndarray  # (3, 3)
    T_map_cam: np.ndarray  # (4, 4)
    truth: np.ndarray  # (H, W) true label ids, IGNORE_ID = not scored
    input_label: np.ndarray  # (H, W) argmax of the 2D segmenter's probabilities here, IGNORE_ID = unknown
    rgb: np.ndarray | None = None  # (H, W, 3) uint8, for figures
    depth_m: np.ndarray | None = None  # (H, W) measured z-depth (0 = none): limits scoring to the mapped range
    depth_limits_2d: bool = True  # False: depth_m only scores rendered depth, 2D labels are scored at any range

    @property
    def height(self) -> int:
        return int(self.truth.shape[0])

    @property
    def width(self) -> int:
        return int(self.truth.shape[1])

    @classmethod
    def from_frame(cls, frame: Frame, truth: np.ndarray) -> "TargetView":
        """Keep what scoring needs of `frame` (its probabilities are reduced to argmax labels)."""
        truth = np.asarray(truth)
        if truth.shape != frame.probs.shape[:2]:
            raise InputError(f"frame {frame.frame_id} @ {frame.stamp_ns} ns: truth {truth.shape} and semantics "
                             f"{frame.probs.shape[:2]} differ in size")
        return cls(K=np.asarray(frame.K, dtype=np.float64), T_map_cam=np.asarray(frame.T_map_cam, dtype=np.float64),
                   truth=truth.astype(np.int64), input_label=probs_to_labels(frame.probs), rgb=frame.rgb,
                   depth_m=None if frame.depth_m is None else np.asarray(frame.depth_m, dtype=np.float32))

    def scored_truth(self, max_depth_m: float) -> np.ndarray:
        """`truth` with pixels outside the mapped range (depth 0 or beyond max_depth_m) set to IGNORE_ID."""
        if self.depth_m is None or not self.depth_limits_2d:
            return self.truth
        in_range = (self.depth_m > 0) & (self.depth_m <= max_depth_m)
        return np.where(in_range, self.truth, IGNORE_ID)


@dataclass
class EvalScene:
    """One scene to evaluate. `input_frames` may be a generator: it is iterated exactly once."""

    name: str
    input_frames: Iterable[Frame]
    targets: Sequence[TargetView]
    surface_xyz: np.ndarray  # (P, 3) true surface points, map frame
    surface_label: np.ndarray  # (P,) their labels, IGNORE_ID = not scored
    num_input_frames: int | None = None  # for progress bars
    restrict_surface_to_observed_m: float | None = None
    """If set, only true surface points within this distance (m) of some input depth point are scored (a
    synthetic surface covers what the camera never saw; a ScanNet mesh only covers what the scan saw: None)."""
    geometry_only: bool = False
    """No labels: the targets' truth is all IGNORE_ID, `surface_xyz` may be empty, and the geometry truth is the
    TSDF fusion of the input depth (the `tsdf_fusion` method must be among the methods)."""


# -- methods -----------------------------------------------------------------------------------------
class _Method:
    """One method under evaluation: fed the input stream, then asked for 2D labels and 3D points."""

    has_2d = True
    has_3d = True
    has_geometry = False

    def add_frame(self, frame: Frame) -> None:
        pass

    def render_depth(self, target: TargetView) -> np.ndarray | None:
        """Rendered z-depth (H, W) metres (0 = none) at the target, or None for a method without geometry."""
        return None

    def geometry(self) -> np.ndarray:
        """Surface points (N, 3) of the method's geometry (with `has_geometry`)."""
        raise NotImplementedError

    def finish(self) -> None:
        pass

    def render_labels(self, target: TargetView) -> np.ndarray:
        raise NotImplementedError

    def surface(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class _Input2D(_Method):
    has_3d = False

    def render_labels(self, target: TargetView) -> np.ndarray:
        return target.input_label


class _Fusion(_Method):
    def __init__(self, fusion: VoxelSemanticFusion) -> None:
        self.fusion = fusion
        self._points = None

    def add_frame(self, frame: Frame) -> None:
        self.fusion.integrate(frame)

    def finish(self) -> None:
        # like Mapper.semantic_points: only voxels with known semantics are surface predictions (voxels only
        # unknown pixels reached still occlude in `render`, where they show as unknown)
        self._points = self.fusion.points(include_unknown=False)

    def render_labels(self, target: TargetView) -> np.ndarray:
        return self.fusion.render(target.K, target.T_map_cam, target.height, target.width).label

    def surface(self) -> tuple[np.ndarray, np.ndarray]:
        return self._points.xyz, self._points.label


class _TSDFReference(_Method):
    """open3d TSDF fusion of the input depth: geometry only (no semantics)."""

    has_2d = False
    has_3d = False
    has_geometry = True

    def __init__(self, max_depth_m: float) -> None:
        self.fusion = TSDFFusion(max_depth_m=max_depth_m)
        self._points: np.ndarray | None = None

    def add_frame(self, frame: Frame) -> None:
        if frame.depth_m is not None:
            self.fusion.integrate(frame.depth_m, frame.K, frame.T_map_cam)

    def finish(self) -> None:
        self._points = self.fusion.points()

    def render_depth(self, target: TargetView) -> np.ndarray | None:
        return self.fusion.render_depth(target.K, target.T_map_cam, target.height, target.width)

    def geometry(self) -> np.ndarray:
        return self._points if self._points is not None else self.fusion.points()


class _MapperMethod(_Method):
    has_geometry = True

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper
        self._last: tuple[int, Any] | None = None  # (id of the target, its render): labels and depth share one

    def add_frame(self, frame: Frame) -> None:
        self.mapper.add_frame(frame)

    def finish(self) -> None:
        self.mapper.flush()

    def _render(self, target: TargetView) -> Any:
        if self._last is None or self._last[0] != id(target):
            self._last = (id(target), self.mapper.render(target.K, target.T_map_cam, target.height, target.width))
        return self._last[1]

    def render_labels(self, target: TargetView) -> np.ndarray:
        return np.asarray(self._render(target).label).astype(np.int64)

    def render_depth(self, target: TargetView) -> np.ndarray | None:
        depth = getattr(self._render(target), "depth_m", None)
        return None if depth is None else np.asarray(depth, dtype=np.float32)

    def geometry(self) -> np.ndarray:
        if hasattr(self.mapper, "surface_points"):
            return np.asarray(self.mapper.surface_points(), dtype=np.float64).reshape(-1, 3)
        return np.asarray(self.mapper.semantic_points().xyz, dtype=np.float64).reshape(-1, 3)

    def surface(self) -> tuple[np.ndarray, np.ndarray]:
        pts = self.mapper.semantic_points()
        return np.asarray(pts.xyz, dtype=np.float64), np.asarray(pts.label).astype(np.int64)


@dataclass
class MethodSettings:
    """How methods are built; one object for all scenes."""

    num_classes: int = 20
    voxel_size_m: float = 0.04
    """Baseline voxel edge (m); the mappers use their own MapperConfig.voxel_size_m (4 cm too)."""
    pixel_stride: int = 2
    """Baselines back-project every stride-th row and column of each depth image."""
    max_depth_m: float = 3.0
    """Baselines drop depth beyond this (m), like the mapper's frustum clipping."""
    bayes_eps: float = 1e-3
    """Probabilities are clipped at this before the log in Bayesian fusion."""
    model_path: str | None = None
    """GNeSF checkpoint; None = the checkpoint shipped in the package."""
    device: str = "cpu"
    mapper_overrides: dict[str, Any] = field(default_factory=dict)
    """Extra MapperConfig fields for both gnesf methods."""


def _load_model(settings: MethodSettings) -> Any:
    from gnesf_ros.paths import checkpoint_path

    path = Path(settings.model_path) if settings.model_path else checkpoint_path()
    if not path.is_file():
        raise MapFileError(f"no GNeSF checkpoint at {path}: train one (make train) or pass a checkpoint path, "
                           f"or evaluate only {', '.join(BASELINE_METHODS)}")
    from gnesf_ros.model.checkpoint import load_checkpoint

    model, _extra = load_checkpoint(path)
    try:
        model = model.to(settings.device).eval()
    except AttributeError:  # not a torch module (a test double)
        pass
    return model


def _make_mapper(geometry_source: str, model: Any, settings: MethodSettings) -> _MapperMethod:
    from gnesf_ros.mapping.config import MapperConfig
    try:
        from gnesf_ros.mapping import Mapper
    except ImportError:
        from gnesf_ros.mapping.mapper import Mapper
    cfg = MapperConfig(**{**settings.mapper_overrides, "geometry_source": geometry_source, "device": settings.device})
    return _MapperMethod(Mapper(cfg, model=model))


def build_methods(names: Sequence[str], settings: MethodSettings, model: Any = None) -> dict[str, _Method]:
    """Fresh method objects for one scene (`model` is shared by the gnesf methods, loaded once by the caller: a
    mapper passes its inference options to each encode and never changes the model, mapping/model_api.py)."""
    out: dict[str, _Method] = {}
    for name in names:
        if name == "input_2d":
            out[name] = _Input2D()
        elif name == "bayes_fusion":
            out[name] = _Fusion(BayesFusion(settings.num_classes, settings.voxel_size_m, settings.pixel_stride,
                                            settings.max_depth_m, eps=settings.bayes_eps))
        elif name == "majority_vote":
            out[name] = _Fusion(MajorityVote(settings.num_classes, settings.voxel_size_m, settings.pixel_stride,
                                             settings.max_depth_m))
        elif name == "gnesf":
            out[name] = _make_mapper("learned", model, settings)
        elif name == "gnesf_depth":
            out[name] = _make_mapper("depth", model, settings)
        elif name == "tsdf_fusion":
            out[name] = _TSDFReference(settings.max_depth_m)
        else:
            raise InputError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return out


# -- observed part of the true surface ----------------------------------------------------------------
class _Coverage:
    """Set of 2 cm voxels hit by input depth (every 4th pixel); answers "was this point observed?"."""

    def __init__(self, voxel_size_m: float = 0.02, pixel_stride: int = 4, max_depth_m: float = np.inf) -> None:
        self.voxel_size_m, self.pixel_stride, self.max_depth_m = voxel_size_m, pixel_stride, max_depth_m
        self._keys: list[np.ndarray] = []
        self.seen_depth = False

    def add(self, frame: Frame) -> None:
        if frame.depth_m is None:
            return
        self.seen_depth = True
        pts, _, _ = backproject_depth(frame.depth_m, frame.K, frame.T_map_cam, self.pixel_stride, self.max_depth_m)
        self._keys.append(np.unique(voxel_keys(np.floor(pts / self.voxel_size_m).astype(np.int64))))

    def observed(self, xyz: np.ndarray, radius_m: float) -> np.ndarray:
        from gnesf_ros.eval.baselines import keys_to_voxels

        keys = np.unique(np.concatenate(self._keys)) if self._keys else np.zeros(0, dtype=np.int64)
        if keys.size == 0:
            return np.zeros(xyz.shape[0], dtype=bool)
        centres = (keys_to_voxels(keys) + 0.5) * self.voxel_size_m
        dist, _ = cKDTree(centres).query(xyz, k=1, distance_upper_bound=radius_m + 0.87 * self.voxel_size_m)
        return np.isfinite(dist)


# -- per-scene evaluation ----------------------------------------------------------------------------
@dataclass
class SceneResult:
    """Confusion matrices of one scene, per method (absent where the method has no such output)."""

    name: str
    conf_2d: dict[str, np.ndarray]  # method -> (C, C+1)
    conf_3d: dict[str, np.ndarray]
    conf_3d_ceiling: dict[str, np.ndarray]  # the method's points with perfect labels (`labelling_ceiling`)
    seconds: dict[str, float]  # method -> time spent (integration + predictions)
    num_input_frames: int
    num_targets: int
    num_surface_points: int
    figure_view: dict[str, np.ndarray]  # "rgb", "truth", "input_2d", method... label images of one target
    geometry: dict[str, GeometryScores] = field(default_factory=dict)  # method -> its surface vs the true one
    depth: dict[str, DepthAccumulator] = field(default_factory=dict)  # method -> rendered vs measured target depth


def evaluate_scene(scene: EvalScene, methods: dict[str, _Method], num_classes: int, progress: bool = True,
                   figure_target: int | None = None, max_depth_m: float = MethodSettings.max_depth_m) -> SceneResult:
    """Feed `scene.input_frames` to every method once, in order; score each at the targets and on the surface.

    Both scores stay inside `max_depth_m`, the range every method maps (MethodSettings.max_depth_m). 2D: target
    pixels whose depth is beyond it (or unmeasured) are not scored, for any method, the 2D input included; up
    to 55% of a synthetic target view lies farther, where every map is blank by construction. 3D (with
    `scene.restrict_surface_to_observed_m`): only true surface observed by input depth within range is
    scored; the rest is mapped by no method, and scoring it would only measure how nearest-neighbour label
    transfer extrapolates (30% of the points of scene 2000).
    """
    from tqdm import tqdm

    seconds = {m: 0.0 for m in methods}
    geometry_methods = [m for m, o in methods.items() if getattr(o, "has_geometry", False)]
    if scene.geometry_only and GEOMETRY_REFERENCE not in methods:
        raise InputError(f"{scene.name}: a geometry-only scene needs the {GEOMETRY_REFERENCE} method (its truth)")
    # geometry is scored against the true surface the input depth observed (within the F-score threshold)
    geometry_radius_m = scene.restrict_surface_to_observed_m or 0.05
    needs_coverage = scene.restrict_surface_to_observed_m is not None or (geometry_methods and not scene.geometry_only)
    coverage = _Coverage(max_depth_m=max_depth_m) if needs_coverage else None
    n_in = 0
    for frame in tqdm(scene.input_frames, total=scene.num_input_frames, desc=f"{scene.name} map", leave=False,
                      disable=not progress, unit="frame"):
        n_in += 1
        if coverage is not None:
            coverage.add(frame)
        for name, method in methods.items():
            t0 = time.perf_counter()
            method.add_frame(frame)
            seconds[name] += time.perf_counter() - t0
    for name, method in methods.items():
        t0 = time.perf_counter()
        method.finish()
        seconds[name] += time.perf_counter() - t0

    if figure_target is None:
        figure_target = len(scene.targets) // 2
    conf_2d = {m: np.zeros((num_classes, num_classes + 1), dtype=np.int64) for m, o in methods.items()
               if o.has_2d and not scene.geometry_only}
    depth_acc = {m: DepthAccumulator(max_depth_m) for m in geometry_methods}
    figure: dict[str, np.ndarray] = {}
    for t, target in enumerate(tqdm(scene.targets, desc=f"{scene.name} 2D", leave=False, disable=not progress,
                                    unit="view")):
        truth = target.scored_truth(max_depth_m)
        if t == figure_target:
            figure["truth"] = truth
            figure["input_2d"] = target.input_label
            if target.rgb is not None:
                figure["rgb"] = target.rgb
        for name in conf_2d:
            t0 = time.perf_counter()
            pred = methods[name].render_labels(target)
            seconds[name] += time.perf_counter() - t0
            if pred.shape != target.truth.shape:
                raise InputError(f"{scene.name}: method {name} rendered {pred.shape}, expected {target.truth.shape}")
            conf_2d[name] += confusion_matrix(pred, truth, num_classes)
            if t == figure_target:
                figure[name] = pred
        for name in geometry_methods if target.depth_m is not None else []:
            t0 = time.perf_counter()
            depth = methods[name].render_depth(target)  # a mapper's render above is reused
            seconds[name] += time.perf_counter() - t0
            if depth is not None:
                depth_acc[name].add(depth, target.depth_m)

    all_xyz = np.asarray(scene.surface_xyz, dtype=np.float64).reshape(-1, 3)
    surface_xyz, surface_label = all_xyz, np.asarray(scene.surface_label).reshape(-1)
    seen = coverage is not None and coverage.seen_depth
    restrict = scene.restrict_surface_to_observed_m
    if seen and restrict is not None:
        keep = coverage.observed(all_xyz, restrict)
        surface_xyz, surface_label = all_xyz[keep], surface_label[keep]
    true_geometry = all_xyz
    if seen and geometry_methods:
        true_geometry = surface_xyz if restrict == geometry_radius_m else all_xyz[coverage.observed(all_xyz,
                                                                                                    geometry_radius_m)]
    geometry = {}
    if geometry_methods:
        if scene.geometry_only:
            true_geometry = methods[GEOMETRY_REFERENCE].geometry()
        for name in geometry_methods:
            if scene.geometry_only and name == GEOMETRY_REFERENCE:
                continue  # the truth itself
            if true_geometry.shape[0] == 0:
                log.warning("%s: no true surface observed: geometry not scored", scene.name)
                break
            t0 = time.perf_counter()
            geometry[name] = geometry_scores(methods[name].geometry(), true_geometry)
            seconds[name] += time.perf_counter() - t0
    conf_3d, conf_3d_ceiling = {}, {}
    for name, method in methods.items():
        if not method.has_3d or scene.geometry_only:
            continue
        t0 = time.perf_counter()
        xyz, label = method.surface()
        conf_3d[name] = atlas_confusion(xyz, label, surface_xyz, surface_label, num_classes)
        seconds[name] += time.perf_counter() - t0
        conf_3d_ceiling[name] = atlas_confusion(xyz, labelling_ceiling(xyz, surface_xyz, surface_label),
                                                surface_xyz, surface_label, num_classes)
    return SceneResult(name=scene.name, conf_2d=conf_2d, conf_3d=conf_3d, conf_3d_ceiling=conf_3d_ceiling,
                       seconds=seconds, num_input_frames=n_in,
                       num_targets=len(scene.targets), num_surface_points=int(surface_xyz.shape[0]), figure_view=figure,
                       geometry=geometry, depth=depth_acc)


def mean_geometry(scenes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean over scenes of each geometry score (`GeometryScores.as_dict` entries; None where a scene had none),
    point counts summed."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for d in scenes for k in d):
        values = [d[key] for d in scenes if d.get(key) is not None]
        if key.endswith("points"):
            out[key] = int(sum(values))
        else:
            out[key] = round(float(np.mean(values)), 4) if values else None
    return out


# -- synthetic scenes --------------------------------------------------------------------------------
def target_indices(num_frames: int, every_k_target: int) -> list[int]:
    """Held-out frame indices: every k-th frame, starting at k - 1 (frames k-1, 2k-1, ...)."""
    if every_k_target < 2:
        raise InputError(f"every_k_target must be >= 2 (at least one input frame per target), got {every_k_target}")
    return list(range(every_k_target - 1, num_frames, every_k_target))


def label_semantics(frame: Frame) -> Frame:
    """`frame` with its probabilities reduced to what a label image + confidence carries (argmax label, max
    probability, the rest spread evenly: `labels_to_probs`), exactly as a bag or a ROS topic in label mode
    (`gnesf-bag` without --probs) delivers them to the node."""
    from gnesf_ros.data.bag import split_semantics
    from gnesf_ros.frame import labels_to_probs

    labels, conf = split_semantics(frame.probs)
    return dataclasses.replace(frame, probs=labels_to_probs(labels, frame.probs.shape[2], conf))


SEMANTICS_SOURCES = ("segmenter", "noise", "truth")
"""2D input of a synthetic evaluation: the 2D segmenter on each frame's RGB, the segmenter-noise model on the true
labels, or one-hot true labels. The default stays "noise" until the shipped segmenter is good (issue 21: it scores
~10 mIoU on realistic scenes today, so defaulting to it would make every figure meaningless)."""
INPUT_FORMATS = ("probs", "labels")
"""How the 2D input is delivered: full probabilities, or label + confidence as a label-mode bag or topic carries
them."""


def check_semantics(semantics: str, input_format: str = "probs") -> None:
    """InputError naming the valid choices when `semantics` or `input_format` is not one of them."""
    if semantics not in SEMANTICS_SOURCES:
        raise InputError(f"semantics (the 2D input) must be one of {', '.join(SEMANTICS_SOURCES)}, got {semantics!r}"
                         + ("; the delivery format probs|labels is input_format (--input-format) since 2026-12-04"
                            if semantics in INPUT_FORMATS else ""))
    if input_format not in INPUT_FORMATS:
        raise InputError(f"input_format must be one of {', '.join(INPUT_FORMATS)}, got {input_format!r}")


def frame_semantics(frame: Frame, truth: np.ndarray, semantics: str, segmenter: Any = None,
                    input_format: str = "probs") -> Frame:
    """`frame` with its 2D input taken from `semantics` (SEMANTICS_SOURCES) and delivered as `input_format`.

    "noise" keeps the frame's probabilities (the noise model's), "truth" puts one-hot `truth` (H, W) labels
    (IGNORE_ID pixels unknown), "segmenter" runs `segmenter` (a `segmentation.infer.Segmenter`) on the frame's RGB.
    """
    from gnesf_ros.frame import labels_to_probs

    C = frame.probs.shape[2]
    if semantics == "truth":
        frame = dataclasses.replace(frame, probs=labels_to_probs(np.asarray(truth), C))
    elif semantics == "segmenter":
        if segmenter is None:
            raise InputError("semantics 'segmenter' needs a loaded Segmenter")
        from gnesf_ros.segmentation.scan import segmented_frame

        frame = segmented_frame(frame, segmenter)
    return label_semantics(frame) if input_format == "labels" else frame


def load_eval_segmenter(checkpoint: str | Path | None, device: str = "cpu", classes: ClassList | None = None) -> Any:
    """The segmenter of `semantics="segmenter"`: `checkpoint` (default: the shipped one), class list checked."""
    from gnesf_ros.segmentation.checkpoint import default_checkpoint
    from gnesf_ros.segmentation.infer import Segmenter

    classes = classes or ClassList.from_yaml()
    path = Path(checkpoint) if checkpoint else default_checkpoint()
    return Segmenter.from_checkpoint(path, classes.names, device=device)


def make_synthetic_scan(seed: int, num_frames: int, height: int, width: int, style: str | None = None) -> Any:
    """`SyntheticScan` of `style` (None: config/data.yaml's `synthetic.style`), with config/data.yaml's realistic
    knobs whichever way the style was chosen."""
    from gnesf_ros.data.synthetic import SyntheticDataConfig, SyntheticScan

    data = SyntheticDataConfig.from_yaml()
    style = data.style if style is None else style
    return SyntheticScan(seed, num_frames=num_frames, height=height, width=width, style=style,
                         realistic=data.realistic if style == "realistic" else None)


def synthetic_scene(seed: int, num_frames: int = 300, every_k_target: int = 10, height: int = 240, width: int = 320,
                    surface_spacing_m: float = 0.02, observed_radius_m: float | None = 0.05,
                    semantics: str = "noise", input_format: str = "probs", style: str | None = None,
                    segmenter: Any = None) -> EvalScene:
    """A held-out synthetic scan as an `EvalScene` (frames rendered lazily, each exactly once).

    semantics: the 2D input of inputs and targets alike (`frame_semantics`): "noise" (the segmenter-noise model),
    "truth" (one-hot true labels) or "segmenter" (`segmenter` run on each frame's RGB). input_format: "probs" (full
    probabilities) or "labels" (reduced to label + confidence by `label_semantics`, as the node receives a bag
    written in label mode, e.g. the demo's). style: `SyntheticScan`'s ("simple" | "realistic"; None = config/data.yaml).
    """
    check_semantics(semantics, input_format)
    scan = make_synthetic_scan(seed, num_frames, height, width, style)
    n = len(scan)
    held = target_indices(n, every_k_target)
    held_set = set(held)

    def with_depth(frame: Frame, view: Any) -> Frame:
        frame = frame if frame.depth_m is not None else dataclasses.replace(frame, depth_m=view.depth_m)
        return frame_semantics(frame, view.labels, semantics, segmenter, input_format)

    targets = []
    for i in held:
        frame, view = scan.frame(i)
        targets.append(TargetView.from_frame(with_depth(frame, view), view.labels))

    def inputs() -> Iterator[Frame]:
        for i in range(n):
            if i not in held_set:
                frame, view = scan.frame(i)
                yield with_depth(frame, view)

    xyz, label = scan.renderer.surface_points(surface_spacing_m)
    return EvalScene(name=f"synthetic_{seed}", input_frames=inputs(), targets=targets, surface_xyz=xyz,
                     surface_label=label, num_input_frames=n - len(held), restrict_surface_to_observed_m=observed_radius_m)


# -- all scenes --------------------------------------------------------------------------------------
def _pct(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 2)


def summarize(conf_2d: dict[str, np.ndarray], conf_3d: dict[str, np.ndarray], names: Sequence[str],
              conf_3d_ceiling: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """{method: {miou_2d, macc_2d, miou_3d, macc_3d, per_class: {name: {iou_2d, acc_2d, iou_3d, acc_3d}}}} (percent).

    With `conf_3d_ceiling`: also miou_3d_ceiling, macc_3d_ceiling (and per class), the 3D score of the method's
    points with perfect labels (`atlas.labelling_ceiling`)."""
    out: dict[str, Any] = {}
    ceiling = conf_3d_ceiling or {}
    for method in list(dict.fromkeys(list(conf_2d) + list(conf_3d))):
        entry: dict[str, Any] = {}
        per_class: dict[str, dict[str, float | None]] = {n: {} for n in names}
        for dim, confs in (("2d", conf_2d), ("3d", conf_3d), ("3d_ceiling", ceiling)):
            if method not in confs:
                continue
            s = scores_from_confusion(confs[method])
            entry[f"miou_{dim}"] = _pct(s.miou)
            entry[f"macc_{dim}"] = _pct(s.macc)
            for i, n in enumerate(names):
                per_class[n][f"iou_{dim}"] = _pct(s.iou[i])
                per_class[n][f"acc_{dim}"] = _pct(s.acc[i])
        entry["per_class"] = per_class
        out[method] = entry
    return out


def evaluate_scenes(scenes: Iterable[EvalScene], out_dir: str | Path, methods: Sequence[str] = METHODS,
                    settings: MethodSettings | None = None, classes: ClassList | None = None,
                    num_scenes: int | None = None, command: str = "", progress: bool = True,
                    extra: dict[str, Any] | None = None, figures: bool = True) -> dict[str, Any]:
    """Run `methods` on every scene, sum confusions over scenes, write metrics.json / confusion.npz / PNGs
    (confusion matrices per method and metric, one row of label images per scene; `figures=False`: no PNGs).

    Returns the metrics dict that was written to `out_dir/metrics.json`.
    """
    from tqdm import tqdm

    from gnesf_ros.eval import plots

    classes = classes or ClassList.from_yaml()
    settings = settings or MethodSettings(num_classes=classes.num_classes)
    if settings.num_classes != classes.num_classes:
        raise InputError(f"settings.num_classes={settings.num_classes} but the class list has {classes.num_classes}")
    methods = list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(f"unknown method(s) {unknown}; known: {', '.join(METHODS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = _load_model(settings) if any(m in LEARNED_METHODS for m in methods) else None

    c = classes.num_classes
    total_2d: dict[str, np.ndarray] = {}
    total_3d: dict[str, np.ndarray] = {}
    total_ceiling: dict[str, np.ndarray] = {}
    seconds = {m: 0.0 for m in methods}
    geometry_per_scene: dict[str, list[dict[str, Any]]] = {}
    depth_total: dict[str, DepthAccumulator] = {}
    per_scene, scene_names = [], []
    frames = targets = 0
    for scene in tqdm(scenes, total=num_scenes, desc="scenes", disable=not progress, unit="scene"):
        result = evaluate_scene(scene, build_methods(methods, settings, model), c, progress=progress,
                                max_depth_m=settings.max_depth_m)
        scene_names.append(result.name)
        frames += result.num_input_frames
        targets += result.num_targets
        for total, confs in ((total_2d, result.conf_2d), (total_3d, result.conf_3d),
                             (total_ceiling, result.conf_3d_ceiling)):
            for m, conf in confs.items():
                total[m] = total.get(m, 0) + conf
        for m, s in result.seconds.items():
            seconds[m] += s
        scene_summary = summarize(result.conf_2d, result.conf_3d, classes.names, result.conf_3d_ceiling)
        for m, g in result.geometry.items():
            geometry_per_scene.setdefault(m, []).append(g.as_dict())
            scene_summary.setdefault(m, {}).update(g.as_dict())
        for m, acc in result.depth.items():
            depth_total.setdefault(m, DepthAccumulator(acc.max_depth_m)).merge(acc)
            scene_summary.setdefault(m, {}).update(acc.result().as_dict())
        per_scene.append({"name": result.name, "input_frames": result.num_input_frames, "targets": result.num_targets,
                          "surface_points": result.num_surface_points,
                          "seconds": {m: round(s, 3) for m, s in result.seconds.items()},
                          **{m: {k: v for k, v in e.items() if k != "per_class"} for m, e in scene_summary.items()}})
        if figures and result.figure_view:
            plots.save_scene_row(out_dir / f"scene_{result.name}.png", result.figure_view, classes,
                                 order=["rgb", "input_2d"] + [m for m in methods if m != "input_2d"] + ["truth"],
                                 title=result.name)
    if not scene_names:
        raise InputError("no scenes to evaluate")

    metrics: dict[str, Any] = summarize(total_2d, total_3d, classes.names, total_ceiling)
    for m in methods:
        metrics.setdefault(m, {"per_class": {}})["seconds_per_scene"] = round(seconds[m] / len(scene_names), 3)
        metrics[m].update(mean_geometry(geometry_per_scene.get(m, [])))
        if m in depth_total:
            metrics[m].update(depth_total[m].result().as_dict())
    metrics["scenes"] = scene_names
    metrics["frames"] = frames
    metrics["targets"] = targets
    metrics["per_scene"] = per_scene
    metrics["methods"] = methods
    metrics["command"] = command
    metrics["settings"] = dataclasses.asdict(settings)  # mapper_overrides included: the run can be repeated
    metrics.update(extra or {})
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    np.savez_compressed(out_dir / "confusion.npz", class_names=np.array(classes.names),
                        **{f"{m}_2d": v for m, v in total_2d.items()}, **{f"{m}_3d": v for m, v in total_3d.items()},
                        **{f"{m}_3d_ceiling": v for m, v in total_ceiling.items()})
    for m in methods if figures else []:
        for dim, confs in (("2d", total_2d), ("3d", total_3d)):
            if m in confs:
                plots.save_confusion(out_dir / f"confusion_{m}_{dim}.png", confs[m], classes.names,
                                     title=f"{m} {dim.upper()} (rows: truth, normalised)")
    log.info("wrote %s", out_dir / "metrics.json")
    return metrics


def evaluate_synthetic(seeds: Sequence[int], out_dir: str | Path, model_path: str | None = None, num_frames: int = 300,
                       every_k_target: int = 10, methods: Sequence[str] = METHODS, height: int = 240, width: int = 320,
                       settings: MethodSettings | None = None, command: str = "", progress: bool = True,
                       scene_factory: Callable[..., EvalScene] | None = None, figures: bool = True,
                       surface_spacing_m: float = 0.02, semantics: str = "noise", input_format: str = "probs",
                       style: str | None = None, segmenter_checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Evaluate `methods` on synthetic scans `seeds` (held out from training); see `evaluate_scenes`.

    Every `every_k_target`-th frame is a target view (never fed to the mappers); the rest are fed in order.
    The 3D truth is the scene surface sampled every `surface_spacing_m` (restricted to what the input
    frames observed). `scene_factory(seed, num_frames=, every_k_target=, height=, width=, surface_spacing_m=)`
    replaces `synthetic_scene` (tests, other generators); it gets `semantics=`, `input_format=`, `style=` and
    `segmenter=` only when they differ from the defaults. `semantics` ("segmenter" | "noise" | "truth") is the 2D
    input every method gets (and the targets' input_2d), `input_format="labels"` reduces it to label + confidence
    as the node gets it from a label-mode bag (see `synthetic_scene`), `style` is `SyntheticScan`'s (None =
    config/data.yaml's `synthetic.style`), `segmenter_checkpoint` the segmenter of "segmenter" (None = shipped).
    metrics.json records `semantics`, `input_format`, `style` and, for "segmenter", `segmenter_checkpoint`.
    """
    if not seeds:
        raise InputError("no seeds given")
    check_semantics(semantics, input_format)
    classes = ClassList.from_yaml()
    settings = settings or MethodSettings(num_classes=classes.num_classes)
    if model_path is not None:
        settings = dataclasses.replace(settings, model_path=str(model_path))
    style_given = style is not None
    if style is None:
        from gnesf_ros.data.synthetic import SyntheticDataConfig

        style = SyntheticDataConfig.from_yaml().style
    factory = scene_factory or synthetic_scene
    extra: dict[str, Any] = {"seeds": [int(s) for s in seeds], "frames_per_scan": num_frames,
                             "every_k_target": every_k_target, "image_size": [height, width],
                             "surface_spacing_m": surface_spacing_m, "semantics": semantics,
                             "input_format": input_format, "style": style}
    more: dict[str, Any] = {}  # custom factories need not know the defaults
    if semantics != "noise":
        more["semantics"] = semantics
    if input_format != "probs":
        more["input_format"] = input_format
    if scene_factory is None or style_given:
        more["style"] = style
    if semantics == "segmenter":
        from gnesf_ros.segmentation.checkpoint import default_checkpoint

        path = Path(segmenter_checkpoint) if segmenter_checkpoint else default_checkpoint()
        more["segmenter"] = load_eval_segmenter(path, settings.device, classes)
        extra["segmenter_checkpoint"] = str(path)
    scenes = (factory(int(s), num_frames=num_frames, every_k_target=every_k_target, height=height, width=width,
                      surface_spacing_m=surface_spacing_m, **more) for s in seeds)
    return evaluate_scenes(scenes, out_dir, methods, settings, classes, num_scenes=len(seeds), command=command,
                           progress=progress, figures=figures, extra=extra)
