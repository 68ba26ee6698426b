"""What the demo (`gnesf-demo`, gnesf_ros/cli/demo.py) writes once the node has mapped and been scored:
metrics.json's node counters, report.md, the console table, and the pictures (renders/, confusion_*.png,
map_preview.png: the semantic mesh of the node's saved map next to the scene's true mesh)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gnesf_ros.classes import IGNORE_ID, ClassList

METHODS = ("gnesf", "input_2d", "bayes_fusion", "majority_vote")
"""The demo's methods in table order: the node ("gnesf") and the baselines fed the same frames."""


def node_summary(stats: dict[str, str], cloud_points: int) -> dict[str, Any]:
    """The node's counters from its last /diagnostics (`stats`: key -> value strings) for metrics.json."""
    return {"frames_received": int(float(stats.get("received.semantic", 0))),
            "frames_mapped": int(float(stats.get("frames_mapped", 0))),
            "keyframes": int(float(stats.get("keyframes", 0))),
            "fragments": int(float(stats.get("mapper.fragments", 0))),
            "voxels": int(float(stats.get("mapper.voxels", 0))),
            "cloud_points": int(cloud_points),
            "dropped": {k[len("dropped."):]: v for k, v in stats.items() if k.startswith("dropped.")},
            "bad_input": {k[len("bad_input."):]: v for k, v in stats.items() if k.startswith("bad_input.")},
            "memory_rss_mb": float(stats.get("memory_rss_mb", 0.0))}


def view_scores(node_renders: list[dict[str, np.ndarray]], num_classes: int) -> list[dict[str, float | None]]:
    """mIoU of the 2D input ("input_2d") and of the node's render ("gnesf") against the truth in each held-out
    view rendered by the node (a pixel left unknown is a miss, as in the pooled 2D scores); None where no class
    of the view's truth is scored. "truth_classes": how many classes the view's truth shows."""
    from gnesf_ros.eval.metrics import confusion_matrix, scores_from_confusion

    out = []
    for images in node_renders:
        truth = np.asarray(images["truth"])
        row: dict[str, float | None] = {"truth_classes": int(np.unique(truth[truth < num_classes]).size)}
        for key in ("input_2d", "gnesf"):
            miou = scores_from_confusion(confusion_matrix(images[key], images["truth"], num_classes)).miou
            row[key] = round(miou, 2) if np.isfinite(miou) else None
        out.append(row)
    return out


def summary_table(metrics: dict[str, Any]) -> list[str]:
    """The console table of `gnesf-demo`: mIoU / mAcc in 3D and 2D per method."""
    lines = [f"{'method':<15} {'mIoU 3D':>8} {'mAcc 3D':>8} {'mIoU 2D':>8} {'mAcc 2D':>8}"]
    for m in METHODS:
        if m in metrics:
            e = metrics[m]
            lines.append(f"{m:<15} " + " ".join(f"{fmt(e.get(k)):>8}" for k in ("miou_3d", "macc_3d", "miou_2d",
                                                                                  "macc_2d")))
    return lines


def input_name(semantics: str | None) -> str:
    """What the 2D input of a demo was, for titles and the report."""
    return "segmenter" if semantics == "segmenter" else "noise-model input"


def write_figures(out: Path, result: Any, node_renders: list[dict[str, np.ndarray]], scores: list[dict[str, Any]],
                  classes: ClassList, seed: int, style: str | None = None, semantics: str | None = None) -> None:
    """renders/view_NN.png (RGB | 2D input | the node's render | truth per held-out view, each with its mIoU from
    `scores`, `view_scores` of the renders), confusion_*.png and map_preview.png (from OUT/map.gnesfmap).
    `result`: the `evaluate_scene` result."""
    from gnesf_ros.eval import plots

    renders = out / "renders"
    renders.mkdir(exist_ok=True)
    source = input_name(semantics)
    for i, (images, score) in enumerate(zip(node_renders, scores)):
        plots.save_scene_row(renders / f"view_{i:02d}.png", images, classes,
                             order=["rgb", "input_2d", "gnesf", "truth"],
                             title=f"held-out view {i}: RGB | 2D input ({source}) | GNeSF render (node) | truth",
                             panel_titles={"input_2d": f"{source}: {fmt(score['input_2d'])} mIoU",
                                           "gnesf": f"GNeSF node: {fmt(score['gnesf'])} mIoU"})
    for m, conf in result.conf_3d.items():
        plots.save_confusion(out / f"confusion_{m}_3d.png", conf, classes.names, title=f"{m} 3D (rows: truth)")
    if "gnesf" in result.conf_2d:
        plots.save_confusion(out / "confusion_gnesf_2d.png", result.conf_2d["gnesf"], classes.names,
                             title="gnesf 2D (rows: truth)")
    save_demo_mesh_preview(out / "map_preview.png", out / "map.gnesfmap", seed, classes, style)


def save_demo_mesh_preview(path: Path, map_file: Path, seed: int, classes: ClassList,
                           style: str | None = None) -> dict[str, int]:
    """map_preview.png: the semantic mesh of the node's saved map (the mesh ~/save_mesh writes) from two
    bird's-eye viewpoints, by class and by RGB, next to the true mesh of synthetic scene `seed` (ceiling left out,
    faces turned to free space; `style` as the scan's, None = config/data.yaml's). Returns the mesh's size."""
    from gnesf_ros.data.render import SceneRenderer
    from gnesf_ros.data.scene import generate_scene
    from gnesf_ros.data.synthetic import SyntheticDataConfig
    from gnesf_ros.eval.mesh_render import orient_to_free_space, save_mesh_preview
    from gnesf_ros.mapping.map_file import read_map_file
    from gnesf_ros.mapping.mesh import SemanticMesh
    from gnesf_ros.mapping.voxel_map import VoxelMap

    data, meta = read_map_file(map_file)
    vmap = VoxelMap(classes.num_classes, float(meta["voxel_size_m"]),
                    evidence="log" if meta.get("semantic_fusion") == "bayes" else "linear")
    vmap.data = data
    mesh = SemanticMesh.from_map(vmap).combined()
    data = SyntheticDataConfig.from_yaml()
    scene = generate_scene(seed, data.realistic if (style or data.style) == "realistic" else None)
    walls_up = scene.tri_labels != IGNORE_ID  # the ceiling is unlabelled: left out of the truth picture
    faces = orient_to_free_space(scene.vertices, scene.triangles[walls_up], SceneRenderer(scene).true_sdf)
    save_mesh_preview(path, mesh, classes, truth=(scene.vertices, faces, scene.tri_labels[walls_up]),
                      bounds_m=scene.bounds,
                      title=f"semantic mesh from the node's map ({mesh.num_vertices:,} vertices, {mesh.num_faces:,} "
                            f"faces; grey = unknown) | truth")
    return {"vertices": mesh.num_vertices, "faces": mesh.num_faces}


def fmt(v: Any) -> str:
    """A score in percent with one decimal; '-' for a score not defined (class absent, method without 2D)."""
    return "-" if v is None else f"{v:.1f}"


def write_report(out: Path, metrics: dict[str, Any], classes: ClassList) -> None:
    """OUT/report.md: scores of every method, per-class 3D IoU, the node's counters, timings and the files."""
    methods = [m for m in METHODS if m in metrics]
    t = metrics["timings"]
    n = metrics["node"]
    lines = [f"# gnesf_ros demo: {metrics['scene']}", "",
             f"Held-out synthetic scan {metrics['seed']} ({metrics.get('style', 'simple')} style, never trained on): "
             f"{metrics['frames_per_scan']} frames at "
             f"{metrics['image_size'][1]}x{metrics['image_size'][0]}; every {metrics['every_k_target']}th frame is a "
             f"novel view, the other {metrics['replayed_frames']} were replayed as ROS 2 topics through the "
             "`gnesf_mapping` node. 2D input: "
             + ("the shipped segmenter, run live by the `gnesf_segmenter` node on the replayed colour images"
                if metrics.get("semantics") == "segmenter" else "the segmenter-noise model's labels, from the bag")
             + ". The baselines fused the same frames with the same 2D input (label + confidence semantics, as on the "
             "topics). 3D: Atlas protocol on "
             f"{metrics['surface_points']:,} true surface points; 2D: {metrics['targets_2d']} novel views "
             "(a pixel left unknown is a miss).", "",
             "| method | mIoU 3D | mAcc 3D | mIoU 2D | mAcc 2D |", "|---|---|---|---|---|"]
    source = input_name(metrics.get("semantics"))
    names = {"gnesf": "**GNeSF (node)**", "input_2d": f"2D input ({source})", "bayes_fusion": "Bayesian fusion",
             "majority_vote": "majority vote"}
    for m in methods:
        e = metrics[m]
        lines.append(f"| {names[m]} | {fmt(e.get('miou_3d'))} | {fmt(e.get('macc_3d'))} | "
                     f"{fmt(e.get('miou_2d'))} | {fmt(e.get('macc_2d'))} |")
    if {"gnesf", "input_2d", "bayes_fusion"} <= set(methods):
        g, i, b = metrics["gnesf"], metrics["input_2d"], metrics["bayes_fusion"]
        lines += ["", f"At the novel views the node's renders scored {fmt(g.get('miou_2d'))} mIoU, the {source} "
                      f"itself {fmt(i.get('miou_2d'))} and Bayesian fusion's map {fmt(b.get('miou_2d'))}; in 3D the "
                      f"node's map scored {fmt(g.get('miou_3d'))} against Bayesian fusion's {fmt(b.get('miou_3d'))}."]
    lines += ["", "Per class, 3D IoU (classes absent from the scene: -):", "",
              "| class | " + " | ".join(names[m] for m in methods if m != "input_2d") + " |",
              "|---|" + "---|" * len([m for m in methods if m != "input_2d"])]
    for c in classes.names:
        row = [metrics[m]["per_class"].get(c, {}).get("iou_3d") for m in methods if m != "input_2d"]
        if all(v is None for v in row):
            continue
        lines.append(f"| {c} | " + " | ".join(fmt(v) for v in row) + " |")
    renders = sorted((out / "renders").glob("*.png")) if (out / "renders").is_dir() else []
    views = metrics.get("views_2d") or []
    if views:
        source = input_name(metrics.get("semantics"))
        lines += ["", f"Held-out views the node rendered (`renders/view_NN.png`: RGB | {source} | the node's render | "
                      "truth), mIoU of each against the truth:", "",
                  f"| view | {source} | GNeSF node |", "|---|---|---|"]
        lines += [f"| {i} | {fmt(v.get('input_2d'))} | {fmt(v.get('gnesf'))} |" for i, v in enumerate(views)]
    lines += ["", "## Node", "",
              f"- frames received {n['frames_received']}, mapped {n['frames_mapped']} / {metrics['replayed_frames']} "
              f"replayed, keyframes {n['keyframes']}, "
              f"fragments {n['fragments']}, voxels {n['voxels']:,}, cloud points {n['cloud_points']:,}, "
              f"memory {n['memory_rss_mb']:.0f} MB",
              f"- dropped: {n['dropped'] or 'nothing'}; bad input: {n['bad_input'] or 'none'}",
              "", "## Timings (s)", "",
              f"- generate the bag {t.get('generate_bag_s')}, node start {t.get('node_start_s')}, replay + mapping "
              f"{t.get('replay_and_mapping_s')}, flush {t.get('flush_s')}, render_view per view "
              f"{t.get('render_view_s')}, total {t.get('total_s')}",
              f"- baselines (fed while the node mapped): {t.get('baseline_seconds')}",
              "", "## Files", "",
              "- `map.ply` (class colours, `label` and `confidence` per vertex), `map.gnesfmap` (`~/load_map`)",
              "- `mesh.ply` (`~/save_mesh`: the semantic mesh, class colours, `label` and `confidence` per vertex)",
              "- `map_preview.png`, `renders/` (" + ", ".join(r.name for r in renders) + ")",
              "- `confusion_*_3d.png`, `confusion_gnesf_2d.png`, `metrics.json`, `confusion.npz`",
              "- `recording/recording.mcap`: the node's outputs (open in Foxglove), `input_bag/`: what was replayed",
              "- `logs/`: the node, player and recorder output", "",
              f"Cross-check (same protocol, offline): `{metrics['cross_check']}`", ""]
    if (out / "map_preview.png").exists():
        lines.insert(2, "![map](map_preview.png)\n")
    (out / "report.md").write_text("\n".join(lines))
