"""ScanNet scans as `EvalScene`s, so `evaluate_scenes` scores them exactly like the synthetic scenes.

One scan (a `.sens` file, a folder holding one, or an exported folder; see `gnesf_ros.data.scannet`) becomes one
`EvalScene`:

- frames: the scan's frames after `frame_every` subsampling and invalid-pose skipping, in order; of these, every
  `every_k_target`-th (positions k-1, 2k-1, ...; `target_indices`) is a held-out target view, never mapped;
- 2D truth at a target: its ScanNet label image mapped to ScanNet-20 (needs `label-filt/` or the
  `_2d-label-filt.zip`, and the tsv); a target without a label image is not scored (counted);
- 3D truth: every vertex of `<scene>_vh_clean_2.labels.ply` (NYU40 ids -> ScanNet-20) is scored (Atlas protocol);
  the mesh only covers what the scan saw, so it is not restricted further (`restrict_surface_to_observed_m=None`).

Geometry (`geometry_only=True`, `gnesf-eval scannet --geometry-only`): colour, depth and poses are enough (no labels,
no tsv, no mesh); the mappers get no semantics (every pixel unknown), the truth surface is the open3d TSDF fusion of
the input depth (method `tsdf_fusion`) and the targets' measured depth scores the rendered depth. With labels, targets
keep their depth too (rendered-depth scores only; 2D labels are scored at any range, as before).

The input stream is read once, lazily; the targets are collected while it is read (uint8 label images, the colour
image of one target for the figure), so `EvalScene.targets` is complete once `input_frames` is exhausted:
`evaluate_scene` feeds all inputs before it renders any target. Memory: about 4 bytes per pixel per target.
"""
from __future__ import annotations

import logging
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from gnesf_ros.errors import DataError, InputError
from gnesf_ros.eval.baselines import probs_to_labels
from gnesf_ros.eval.evaluate import (GEOMETRY_METHODS, GEOMETRY_REFERENCE, METHODS, EvalScene, MethodSettings,
                                    TargetView, evaluate_scenes, frame_semantics, load_eval_segmenter)
from gnesf_ros.frame import Frame

log = logging.getLogger(__name__)


@dataclass
class ScanReport:
    """What one scan contributed (filled while its frames are read; written into metrics.json)."""

    name: str
    path: str
    semantics: str  # 'noise' (the segmenter-noise model on the true labels), 'truth', 'segmenter' or 'predictions:<dir>'
    frames_in_scan: int
    truth_mesh: str
    mesh_vertices: int = 0
    input_frames: int = 0
    targets: int = 0
    targets_without_labels: int = 0
    skipped_invalid_pose: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _target_view(frame: Frame, truth: np.ndarray | None, keep_rgb: bool) -> TargetView:
    """A TargetView holding uint8 labels (not int64; None = all unknown) and float16 depth: a scan may have hundreds
    of targets."""
    if truth is None:
        truth = np.full(frame.probs.shape[:2], 255, np.uint8)
    if truth.shape != frame.probs.shape[:2]:
        raise InputError(f"frame {frame.frame_id} @ {frame.stamp_ns} ns: truth {truth.shape} and semantics "
                         f"{frame.probs.shape[:2]} differ in size")
    input_label = probs_to_labels(frame.probs)
    return TargetView(K=np.asarray(frame.K, dtype=np.float64), T_map_cam=np.asarray(frame.T_map_cam, np.float64),
                      truth=np.asarray(truth, dtype=np.uint8), input_label=input_label.astype(np.uint8),
                      rgb=frame.rgb if keep_rgb else None,
                      depth_m=None if frame.depth_m is None else np.asarray(frame.depth_m, np.float16),  # 2 mm at 3 m
                      depth_limits_2d=False)


def scannet_scene(path: str | Path, tsv_path: str | Path | None, semantics: str | Path = "noise",
                  every_k_target: int = 10, frame_every: int = 1, image_size: tuple[int, int] | None = None,
                  noise_seed: int = 0, report: list[ScanReport] | None = None,
                  geometry_only: bool = False, segmenter: Any = None) -> EvalScene:
    """One ScanNet scan as an `EvalScene` (see the module docstring).

    Args:
        path: `.sens` file, scan folder holding one, or exported folder.
        tsv_path: `scannetv2-labels.combined.tsv` (raw ids -> NYU40); needed for the 2D truth.
        semantics: 2D input: 'noise' (segmenter-noise model on the true labels), 'truth', 'segmenter' (`segmenter`,
            a `segmentation.infer.Segmenter`, run on each frame's RGB; like 'noise' it reads the scan with its label
            images, so every frame needs one) or a folder of predictions.
        every_k_target: every k-th frame (after `frame_every`) is held out as a target (>= 2).
        frame_every: use every n-th frame of the scan (ScanNet records at 30 Hz).
        image_size: (H, W) of the frames; None = the depth resolution (640x480).
        report: a `ScanReport` for this scan is appended here (its counters fill while the frames are read).
        geometry_only: no labels (semantics 'none', tsv and mesh unused): geometry scored against the TSDF of the
            input depth (module docstring).
    Raises:
        DataError: no scan, no tsv, no `<scene>_vh_clean_2.labels.ply`, or bad files (the message names the path).
    """
    from gnesf_ros.data.scannet import ScanNetScan

    if every_k_target < 2:
        raise InputError(f"every_k_target must be >= 2 (at least one input frame per target), got {every_k_target}")
    if geometry_only:
        semantics, tsv_path = "none", None
    use_segmenter = str(semantics) == "segmenter"
    if use_segmenter and segmenter is None:
        raise InputError("semantics 'segmenter' needs a loaded Segmenter")
    scan = ScanNetScan(path, tsv_path=tsv_path, semantics="truth" if use_segmenter else semantics, every=frame_every,
                       image_size=image_size, noise_seed=noise_seed)
    mesh = None if geometry_only else scan.truth_mesh()
    if mesh is None and not geometry_only:
        scan.close()
        raise DataError(f"{path}: no {scan.scene}_vh_clean_2.labels.ply beside the scan: the 3D truth comes from it")
    verts, labels = mesh if mesh is not None else (np.zeros((0, 3)), np.zeros(0, np.int64))
    info = ScanReport(name=scan.scene, path=str(path), semantics="segmenter" if use_segmenter else scan.semantics,
                      frames_in_scan=len(scan),
                      truth_mesh="" if geometry_only else str(scan.info.truth_mesh),
                      mesh_vertices=int(verts.shape[0]))
    if report is not None:
        report.append(info)
    n_used = -(-len(scan) // frame_every)  # before invalid-pose skipping: an estimate for progress and the figure
    expected_targets = n_used // every_k_target
    targets: list[TargetView] = []  # filled while the inputs are read

    def inputs() -> Iterator[Frame]:
        try:
            for position, sf in enumerate(scan):
                frame = frame_semantics(sf.frame, None, "segmenter", segmenter) if use_segmenter else sf.frame
                if position % every_k_target == every_k_target - 1:
                    if sf.truth_labels is None and not geometry_only:
                        info.targets_without_labels += 1
                        continue
                    keep_rgb = len(targets) == expected_targets // 2
                    targets.append(_target_view(frame, sf.truth_labels, keep_rgb))
                    info.targets += 1
                    continue
                info.input_frames += 1
                yield frame
        finally:
            info.skipped_invalid_pose = scan.skipped_invalid_pose
            scan.close()
        if info.targets_without_labels:
            log.warning("%s: %d target view(s) have no label image and are not scored", path,
                        info.targets_without_labels)

    return EvalScene(name=scan.scene, input_frames=inputs(), targets=targets,
                     surface_xyz=np.asarray(verts, dtype=np.float64), surface_label=labels.astype(np.int64),
                     num_input_frames=n_used - expected_targets, restrict_surface_to_observed_m=None,
                     geometry_only=geometry_only)


def evaluate_scannet(scans: Sequence[str | Path], out_dir: str | Path, tsv_path: str | Path | None,
                     semantics: str | Path = "noise", every_k_target: int = 10, frame_every: int = 1,
                     image_size: tuple[int, int] | None = None, methods: Sequence[str] = METHODS,
                     settings: MethodSettings | None = None, model_path: str | None = None, command: str = "",
                     progress: bool = True, figures: bool = True, geometry_only: bool = False,
                     segmenter_checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Evaluate `methods` on ScanNet scans; same methods, files and JSON keys as `evaluate_synthetic`.

    `semantics` as in `scannet_scene`; with several scans, a predictions folder holding a sub-folder named like a
    scan's folder (or .sens file stem) uses that sub-folder for it. metrics.json also records `dataset: scannet`,
    the semantics source, `every_k_target`, `frame_every`, `image_size` and one `scannet` entry per scan
    (frames, targets, skipped invalid poses, mesh vertices). `geometry_only`: see `scannet_scene`; only the geometry
    methods run (the others need labels) and `tsdf_fusion` is added as the truth. `segmenter_checkpoint`: the
    segmenter of semantics 'segmenter' (None = the shipped one), recorded as metrics.json's `segmenter_checkpoint`.
    """
    if not scans:
        raise InputError("no ScanNet scans given")
    settings = settings or MethodSettings()
    if model_path is not None:
        settings = dataclasses.replace(settings, model_path=str(model_path))
    reports: list[ScanReport] = []
    if geometry_only:
        methods = [m for m in methods if m in GEOMETRY_METHODS]
        methods = methods + [GEOMETRY_REFERENCE] if GEOMETRY_REFERENCE not in methods else methods
        semantics = "none"

    segmenter, seg_extra = None, {}
    if str(semantics) == "segmenter":
        from gnesf_ros.segmentation.checkpoint import default_checkpoint

        seg_path = Path(segmenter_checkpoint) if segmenter_checkpoint else default_checkpoint()
        segmenter = load_eval_segmenter(seg_path, settings.device)
        seg_extra = {"segmenter_checkpoint": str(seg_path)}

    def semantics_for(scan: Path) -> str | Path:
        if str(semantics) in ("noise", "truth", "none", "segmenter"):
            return semantics
        sub = Path(semantics) / (scan.stem if scan.suffix == ".sens" else scan.name)
        return sub if sub.is_dir() else semantics

    scenes = (scannet_scene(s, tsv_path, semantics_for(Path(s)), every_k_target, frame_every, image_size,
                            report=reports, geometry_only=geometry_only, segmenter=segmenter) for s in scans)
    extra = {"dataset": "scannet", "semantics": str(semantics), "every_k_target": every_k_target,
             "geometry_only": geometry_only,
             **({"geometry_truth": f"{GEOMETRY_REFERENCE} of the input depth"} if geometry_only else {}),
             "frame_every": frame_every, "image_size": list(image_size) if image_size else None, **seg_extra}
    metrics = evaluate_scenes(scenes, out_dir, methods, settings, num_scenes=len(scans), command=command,
                              progress=progress, figures=figures, extra=extra)
    # the per-scan counters are only known once every scan was read: add them to the written report
    metrics["scannet"] = [r.as_dict() for r in reports]
    if str(semantics) == "noise":
        metrics["semantics_note"] = ("2D input = the project's segmenter-noise model applied to the true ScanNet "
                                     "labels, not a real segmenter")
    (Path(out_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
