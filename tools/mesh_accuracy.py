#!/usr/bin/env python3
"""How good is the semantic mesh (gnesf_ros/mapping/mesh.py), and what does it cost?

    python tools/mesh_accuracy.py --seeds 2000:2005 --frames 150 --out runs/mesh_accuracy

Maps held-out synthetic scans with depth geometry (shipped checkpoint, default MapperConfig with
geometry_source "depth"), re-meshes the touched blocks incrementally after every fused fragment (as the node does
at `mesh_rate_hz`) and measures, per scene:
- accuracy: mean / 95th percentile distance (cm) from the mesh's vertices to the true surface (target: mean <= 2);
- coverage: of the true surface points (2 cm spacing) that the map covers (within 5 cm of its semantic cloud),
  the share within 5 cm of the mesh (target >= 95%);
- label agreement: each face's label (`TriangleMesh.face_label`, the PLY's face label and the RViz face colour)
  against the map's label of the voxel nearest the face's centroid, looked up afresh in the map from the written
  vertices, over faces whose voxel is in the map (target >= 99%); also over the faces whose voxel has known
  semantics, inside cubes of one label, and at class borders (cubes of several labels); and the same agreement
  for the label two of a face's vertices share (what a viewer colouring by vertex shows, e.g. the PNG renders);
- incremental == scratch: the incremental mesh's blocks equal those of SemanticMesh.from_map at the end;
- cost: seconds per incremental update (median / max), blocks re-meshed per update, full mesh seconds, and the
  mesh's size (blocks, vertices, faces, MB in memory and as PLY).
Writes OUT/mesh_accuracy.json and prints a markdown table (docs/benchmarks.md has the last one).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gnesf_ros.classes import ClassList
from gnesf_ros.cli.eval import THREADS_HELP, parse_seeds, reserved_seeds

COVER_M = 0.05  # "covers": within 5 cm (the F-score threshold of gnesf_ros.eval)


def mesh_distance(vertices_m: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance (N,) from points (N, 3) to a triangle mesh (open3d's closest-point query)."""
    import open3d as o3d

    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(vertices_m.astype(np.float32)), o3d.core.Tensor(faces.astype(np.uint32)))
    return rc.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()


def blocks_equal(a, b) -> bool:
    if sorted(a.blocks) != sorted(b.blocks):
        return False
    return all(np.array_equal(getattr(a.blocks[k], f), getattr(b.blocks[k], f)) for k in a.blocks
               for f in ("vertices_m", "faces", "label", "confidence", "rgb", "face_label"))


def run_scene(seed: int, frames: int, model, out: Path) -> dict:
    import dataclasses

    from scipy.spatial import cKDTree

    from gnesf_ros.data.synthetic import SyntheticScan
    from gnesf_ros.mapping.config import MapperConfig
    from gnesf_ros.mapping.mapper import Mapper
    from gnesf_ros.mapping.mesh import SemanticMesh, write_mesh_ply
    from gnesf_ros.mapping.voxel_map import pack_keys

    scan = SyntheticScan(seed, num_frames=frames)
    mapper = Mapper(MapperConfig(geometry_source="depth"), model=model)
    mesh = SemanticMesh()
    updates = []
    for i in tqdm(range(len(scan)), desc=f"scene {seed}", unit="frame", leave=False):
        frame, view = scan.frame(i)
        if frame.depth_m is None:
            frame = dataclasses.replace(frame, depth_m=view.depth_m)
        if mapper.add_frame(frame).fragment_fused:
            upd = mesh.update(mapper.map)
            updates.append((upd.seconds, len(upd.changed) + len(upd.removed)))
    if mapper.flush().fragment_fused:
        upd = mesh.update(mapper.map)
        updates.append((upd.seconds, len(upd.changed) + len(upd.removed)))
    vmap = mapper.map
    t = time.perf_counter()
    scratch = SemanticMesh.from_map(vmap)
    full_s = time.perf_counter() - t
    same = blocks_equal(mesh, scratch)
    tm = mesh.combined()
    ply = out / f"mesh_{seed}.ply"
    write_mesh_ply(ply, tm, ClassList.from_yaml(), comment=f"synthetic scene {seed}")

    # accuracy: vertices to the true surface
    dist_v = np.abs(scan.renderer.true_sdf(tm.vertices_m))
    # coverage: true surface points the map covers, and of those the ones the mesh covers
    surf, _ = scan.renderer.surface_points(0.02)
    cloud = mapper.semantic_points().xyz
    by_map = cKDTree(cloud).query(surf, distance_upper_bound=COVER_M)[0] <= COVER_M
    by_mesh = mesh_distance(tm.vertices_m, tm.faces, surf[by_map]) <= COVER_M
    # label agreement: face label vs the map's label of the voxel nearest the face's centroid
    label, _conf = vmap.labels()
    centroid = tm.vertices_m[tm.faces].astype(np.float64).mean(axis=1)
    idx, found = vmap.lookup(pack_keys(np.rint(centroid / vmap.voxel_size_m).astype(np.int64)))
    face_label = tm.face_label
    agree = face_label[found] == label[idx[found]]
    vote_agree = tm.vertex_vote_labels()[found] == label[idx[found]]
    # faces whose cube's 8 voxels share one label (away from class borders) vs the rest
    origin = np.floor(centroid / vmap.voxel_size_m).astype(np.int64)
    corner_labels = []
    for c in np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]):
        ci, cf = vmap.lookup(pack_keys(origin + c))
        corner_labels.append(np.where(cf, label[ci], -1))
    corner_labels = np.stack(corner_labels, axis=1)
    uniform = np.all(corner_labels == corner_labels[:, :1], axis=1)[found]
    secs = np.array([u[0] for u in updates]) if updates else np.zeros(1)
    blocks_per_update = np.array([u[1] for u in updates]) if updates else np.zeros(1)
    return {
        "seed": seed, "frames": len(scan), "voxels": len(vmap), "fragments": mapper.stats()["fragments"],
        "vertex_to_truth_cm": {"mean": float(dist_v.mean() * 100), "p95": float(np.percentile(dist_v, 95) * 100)},
        "map_covered_surface_points": int(by_map.sum()),
        "mesh_coverage_pct": float(100.0 * by_mesh.mean()) if by_mesh.size else float("nan"),
        "faces_with_map_voxel": int(found.sum()),
        "label_agreement_pct": float(100.0 * agree.mean()) if agree.size else float("nan"),
        "label_agreement_known_voxel_pct": float(100.0 * agree[label[idx[found]] != 255].mean()) if agree.size
        else float("nan"),
        "label_agreement_uniform_cube_pct": float(100.0 * agree[uniform].mean()) if uniform.any() else float("nan"),
        "label_agreement_border_cube_pct": float(100.0 * agree[~uniform].mean()) if (~uniform).any() else float("nan"),
        "vertex_vote_agreement_pct": float(100.0 * vote_agree.mean()) if vote_agree.size else float("nan"),
        "border_face_pct": float(100.0 * (~uniform).mean()) if uniform.size else 0.0,
        "unknown_face_pct": float(100.0 * np.mean(face_label == 255)) if face_label.size else 0.0,
        "incremental_equals_scratch": bool(same),
        "updates": len(updates),
        "update_s": {"median": float(np.median(secs)), "max": float(secs.max())},
        "blocks_per_update": {"median": float(np.median(blocks_per_update)), "max": int(blocks_per_update.max())},
        "full_mesh_s": full_s,
        "blocks": len(mesh.blocks), "vertices": tm.num_vertices, "faces": tm.num_faces,
        "mesh_mb": tm.nbytes / 2**20, "ply_mb": ply.stat().st_size / 2**20,
    }


def table(rows: list[dict]) -> str:
    lines = ["| scene | vertex to truth, cm (mean / p95) | mesh coverage of map-covered surface, % | "
             "face labels = map voxel labels, % (all / voxel known / one-label cubes) | vertex vote = map voxel label, % | "
             "incremental = scratch | "
             "update s (median / max) | "
             "blocks per update (median / max) | full mesh s | blocks | vertices | faces | MB (memory / PLY) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['vertex_to_truth_cm']['mean']:.2f} / {r['vertex_to_truth_cm']['p95']:.2f} | "
            f"{r['mesh_coverage_pct']:.2f} | {r['label_agreement_pct']:.2f} / "
            f"{r.get('label_agreement_known_voxel_pct', float('nan')):.2f} / "
            f"{r.get('label_agreement_uniform_cube_pct', float('nan')):.2f} | "
            f"{r.get('vertex_vote_agreement_pct', float('nan')):.2f} | "
            f"{'yes' if r['incremental_equals_scratch'] else 'NO'} | "
            f"{r['update_s']['median']:.3f} / {r['update_s']['max']:.3f} | "
            f"{r['blocks_per_update']['median']:.0f} / {r['blocks_per_update']['max']} | {r['full_mesh_s']:.2f} | "
            f"{r['blocks']} | {r['vertices']:,} | {r['faces']:,} | {r['mesh_mb']:.1f} / {r['ply_mb']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="2000:2005", help="held-out synthetic seeds (A:B = A..B-1)")
    ap.add_argument("--frames", type=int, default=150, help="frames per scan")
    ap.add_argument("--out", type=Path, default=Path("runs/mesh_accuracy"))
    ap.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    args = ap.parse_args(argv)
    import torch

    from gnesf_ros.mapping.config import MapperConfig
    from gnesf_ros.mapping.mapper import load_model

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    seeds = parse_seeds(args.seeds)
    bad = sorted(set(seeds) & reserved_seeds())
    if bad:
        print(f"seeds {bad} are training/validation scenes: pick held-out ones", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    model = load_model(MapperConfig(geometry_source="depth"))
    rows = []
    for seed in tqdm(seeds, desc="scenes", unit="scene"):
        rows.append(run_scene(seed, args.frames, model, args.out))
        (args.out / "mesh_accuracy.json").write_text(json.dumps(
            {"command": " ".join(["python tools/mesh_accuracy.py", *(argv if argv is not None else sys.argv[1:])]),
             "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                        f"{torch.get_num_threads()} thread(s)", "scenes": rows}, indent=2) + "\n")
    print(table(rows))
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("mesh_coverage_pct", "label_agreement_pct",
                                                               "vertex_vote_agreement_pct")}
    mean["vertex_to_truth_cm"] = float(np.mean([r["vertex_to_truth_cm"]["mean"] for r in rows]))
    print(f"\nmean over scenes: vertex to truth {mean['vertex_to_truth_cm']:.2f} cm (target <= 2), coverage "
          f"{mean['mesh_coverage_pct']:.2f}% (>= 95), face label agreement {mean['label_agreement_pct']:.2f}% (>= 99; "
          f"vertex vote {mean['vertex_vote_agreement_pct']:.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
