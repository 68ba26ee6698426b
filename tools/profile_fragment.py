"""Profile the mapper on a held-out synthetic scan (default MapperConfig, one torch thread).

    python tools/profile_fragment.py [--seed 2001] [--frames 120] [--geometry learned|depth] [--cprofile] [--render]

Weights: --checkpoint PATH, --shipped (the package checkpoint) or random (default: fastest to start).
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
    ap.add_argument("--shipped", action="store_true", help="the checkpoint shipped in the package")
    ap.add_argument("--geometry", default="learned", choices=("learned", "depth"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    scan = SyntheticScan(args.seed, num_frames=args.frames)
    frames = [scan.frame(i)[0] for i in range(len(scan))]
    if args.checkpoint or args.shipped:
        from gnesf_ros.model.checkpoint import load_checkpoint
        from gnesf_ros.paths import checkpoint_path
        model = load_checkpoint(args.checkpoint or checkpoint_path())[0]
    else:
        model = GNeSF(ModelConfig())
    mapper = Mapper(MapperConfig(geometry_source=args.geometry), model=model)
    prof = cProfile.Profile() if args.cprofile else None
    t0, c0 = time.perf_counter(), time.thread_time()
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
    dt, cpu = time.perf_counter() - t0, time.thread_time() - c0
    st = mapper.stats()
    print(f"{len(frames)} frames, {st['keyframes']} keyframes, {st['fragments']} fragments, {st['voxels']} voxels "
          f"in {dt:.2f} s ({cpu:.2f} s CPU on this thread) -> {st['keyframes'] / dt:.2f} kf/s")
    print({k: round(v, 2) for k, v in st["seconds"].items()})
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
