"""Profile one fragment of the mapper (default MapperConfig, random weights, one torch thread).

    python tools/profile_fragment.py [--seed 2001] [--frames 120] [--cprofile]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import torch

from gnesf_ros.data.synthetic import SyntheticScan
from gnesf_ros.mapping.config import MapperConfig
from gnesf_ros.mapping.mapper import Mapper
from gnesf_ros.model.config import ModelConfig
from gnesf_ros.model.gnesf import GNeSF


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=2001)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    scan = SyntheticScan(args.seed, num_frames=args.frames)
    frames = [scan.frame(i)[0] for i in range(len(scan))]
    if args.checkpoint:
        from gnesf_ros.model.checkpoint import load_checkpoint
        model = load_checkpoint(args.checkpoint)[0]
    else:
        model = GNeSF(ModelConfig())
    mapper = Mapper(MapperConfig(), model=model)
    prof = cProfile.Profile() if args.cprofile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    for f in frames:
        mapper.add_frame(f)
    mapper.flush()
    if args.render:
        tr = time.perf_counter()
        r = mapper.render(frames[5].K, frames[5].T_map_cam, 240, 320)
        print(f"render {time.perf_counter() - tr:.2f} s, hit {(r.depth_m > 0).mean():.2f}")
    if prof:
        prof.disable()
    dt = time.perf_counter() - t0
    st = mapper.stats()
    print(f"{len(frames)} frames, {st['keyframes']} keyframes, {st['fragments']} fragments, {st['voxels']} voxels "
          f"in {dt:.2f} s -> {st['keyframes'] / dt:.2f} kf/s")
    print({k: round(v, 2) for k, v in st["seconds"].items()})
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
