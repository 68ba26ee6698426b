"""Two measurements behind issue 20 (docs/model_card.md, 2026-12-04), on held-out synthetic scans:

    python tools/map_checks.py render-depth --seed 2002 --size 480 640 --frames 30 [--geometry depth]
    python tools/map_checks.py voxel-growth --seed 2003 --frames 300 [--param new_voxel_rule=band] --out growth.json

render-depth: map the scan, then render at some of its own frames' poses (Mapper.render, render_fill_from_map off)
and compare the rendered depth with the frame's depth where both are known (median ratio, AbsRel, delta<1.25).
voxel-growth: map the scan with learned geometry; voxels created per fragment, caps hit, and the map's geometry
against the true surface the depth observed (eval/geometry.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch
import yaml
from tqdm import tqdm

from gnesf_ros.data.synthetic import SyntheticScan
from gnesf_ros.eval.geometry import depth_errors, geometry_scores
from gnesf_ros.mapping import Mapper, MapperConfig


def _params(items: list[str]) -> dict:
    return {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in items)}


def render_depth(args) -> dict:
    h, w = args.size
    scan = SyntheticScan(args.seed, num_frames=args.frames, height=h, width=w, fov_deg=58.0)  # ScanNet's ~58 deg
    cfg = MapperConfig(geometry_source=args.geometry, render_fill_from_map=False, **_params(args.param))
    mapper = Mapper(cfg)
    frames = []
    for i in tqdm(range(len(scan)), desc="map", file=sys.stderr):
        frames.append(scan.frame(i)[0])
        mapper.add_frame(frames[-1])
    mapper.flush()
    out = []
    for i in (len(frames) // 4, len(frames) // 2, 3 * len(frames) // 4):
        f = frames[i]
        r = mapper.render(f.K, f.T_map_cam, h, w)
        both = (f.depth_m > 0) & (f.depth_m <= cfg.max_depth_m) & (r.depth_m > 0)
        e = depth_errors(r.depth_m, f.depth_m, cfg.max_depth_m)
        out.append({"frame": i, "median_ratio": round(float(np.median(r.depth_m[both] / f.depth_m[both])), 3),
                    **e.as_dict()})
    return {"seed": args.seed, "size": [h, w], "geometry": args.geometry, "views": out}


def voxel_growth(args) -> dict:
    scan = SyntheticScan(args.seed, num_frames=args.frames)
    mapper = Mapper(MapperConfig(geometry_source="learned", **_params(args.param)))
    created, depth_pts = [], []
    t0 = time.perf_counter()
    for i in tqdm(range(len(scan)), desc="map", file=sys.stderr, mininterval=10):
        f, _ = scan.frame(i)
        u = mapper.add_frame(f)
        if u.fragment_fused:
            created.append(u.voxels_created)
        if i % 5 == 0:  # the surface the depth observed (every 7th pixel of every 5th frame), for the truth
            ok = (f.depth_m > 0) & (f.depth_m <= 3.0)
            v, uu = np.nonzero(ok)
            d = f.depth_m[ok]
            pc = np.stack([(uu - f.K[0, 2]) / f.K[0, 0] * d, (v - f.K[1, 2]) / f.K[1, 1] * d, d], 1)[::7]
            depth_pts.append(pc @ f.T_map_cam[:3, :3].T + f.T_map_cam[:3, 3])
    u = mapper.flush()
    if u.fragment_fused:
        created.append(u.voxels_created)
    from scipy.spatial import cKDTree

    truth, _ = scan.renderer.surface_points(0.02)
    observed = cKDTree(np.concatenate(depth_pts)).query(truth, distance_upper_bound=0.05)[0] < 0.05
    st = {k: v for k, v in mapper.stats().items() if k != "seconds"}
    c = np.asarray(created)
    return {"seed": args.seed, "frames": args.frames, "params": _params(args.param),
            "seconds": round(time.perf_counter() - t0, 1), "stats": st,
            "created_per_fragment": {"mean": round(float(c.mean()), 1), "p90": round(float(np.percentile(c, 90)), 1),
                                     "max": int(c.max())},
            **geometry_scores(mapper.surface_points(), truth[observed]).as_dict()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render-depth")
    r.add_argument("--size", type=int, nargs=2, default=[480, 640], metavar=("H", "W"))
    r.add_argument("--geometry", choices=("depth", "learned"), default="depth")
    v = sub.add_parser("voxel-growth")
    for p in (r, v):
        p.add_argument("--seed", type=int, default=2002)
        p.add_argument("--frames", type=int, default=30)
        p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="MapperConfig override")
        p.add_argument("--out", default=None, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = render_depth(args) if args.cmd == "render-depth" else voxel_growth(args)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
