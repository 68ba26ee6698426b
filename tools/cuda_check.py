"""The mapper on CUDA against the CPU of the same machine: speed, render time, memory, and identical labels.

    python tools/cuda_check.py export --seed 2024 --frames 90 --out bench/frames2024.npz   # here (needs open3d)
    python tools/cuda_check.py run bench/frames2024.npz --out bench/cuda_check.json        # on a CUDA machine

`export` stores a held-out synthetic scan compactly (label + confidence semantics, as on the node's topics);
`run` maps every frame but each 10th (those are rendered as novel views) with both geometry sources, first
on CUDA (after a warm-up pass), then on the CPU with `--cpu-threads`, and compares the labels of the voxels
both maps hold. Needs only torch, numpy, PyYAML and tqdm on the CUDA machine.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from gnesf_ros.frame import Frame, labels_to_probs
from gnesf_ros.mapping import Mapper, MapperConfig


def export(seed: int, num_frames: int, out: str) -> None:
    from gnesf_ros.data.synthetic import SyntheticScan

    scan = SyntheticScan(seed, num_frames=num_frames)
    cols: dict[str, list] = {k: [] for k in ("rgb", "labels", "conf", "depth", "K", "T")}
    for i in range(len(scan)):
        frame, view = scan.frame(i)
        labels = frame.probs.argmax(-1).astype(np.uint8)
        labels[frame.probs.sum(-1) <= 0] = 255
        cols["rgb"].append(frame.rgb)
        cols["labels"].append(labels)
        cols["conf"].append(frame.probs.max(-1).astype(np.float16))
        cols["depth"].append(view.depth_m.astype(np.float16))
        cols["K"].append(frame.K)
        cols["T"].append(frame.T_map_cam)
    np.savez_compressed(out, **{k: np.stack(v) for k, v in cols.items()})
    print(f"{len(scan)} frames -> {out}")


def load_frames(path: str, num_classes: int = 20) -> tuple[list[Frame], dict]:
    d = dict(np.load(path))
    frames = [Frame(rgb=d["rgb"][i], K=d["K"][i], T_map_cam=d["T"][i],
                    probs=labels_to_probs(d["labels"][i], num_classes, d["conf"][i].astype(np.float32)),
                    depth_m=d["depth"][i].astype(np.float32), stamp_ns=i * 33_333_333, frame_id="cam")
              for i in range(len(d["rgb"])) if i % 10 != 9]
    return frames, d


def map_and_render(frames: list[Frame], d: dict, geometry: str, device: str) -> tuple[Mapper, dict]:
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    m = Mapper(MapperConfig(geometry_source=geometry, device=device))
    t0 = time.perf_counter()
    for f in frames:
        m.add_frame(f)
    m.flush()
    sync()
    map_s = time.perf_counter() - t0
    render_s = []
    for i in [i for i in range(len(d["rgb"])) if i % 10 == 9][:3]:
        t1 = time.perf_counter()
        m.render(d["K"][i], d["T"][i], 240, 320)
        sync()
        render_s.append(round(time.perf_counter() - t1, 3))
    st = m.stats()
    return m, {"map_s": round(map_s, 2), "keyframes": st["keyframes"], "fragments": st["fragments"],
               "keyframes_per_s": round(st["keyframes"] / map_s, 2), "render_s": render_s,
               "surface_points": len(m.semantic_points())}


def run(path: str, cpu_threads: int) -> dict:
    frames, d = load_frames(path)
    torch.set_num_threads(cpu_threads)
    out: dict = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cpu_threads": cpu_threads,
                 "frames": len(frames)}
    warm = Mapper(MapperConfig(geometry_source="learned", device="cuda"))  # context, kernels, allocator
    for f in frames[:30]:
        warm.add_frame(f)
    warm.flush()
    torch.cuda.synchronize()
    for geometry in ("depth", "learned"):
        torch.cuda.reset_peak_memory_stats()
        gpu_map, out[f"{geometry}_cuda"] = map_and_render(frames, d, geometry, "cuda")
        out[f"{geometry}_cuda"]["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2 ** 20)
        cpu_map, out[f"{geometry}_cpu"] = map_and_render(frames, d, geometry, "cpu")
        la, _ = gpu_map.map.labels()
        lb, _ = cpu_map.map.labels()
        common, ia, ib = np.intersect1d(gpu_map.map.data.keys, cpu_map.map.data.keys, return_indices=True)
        known = (la[ia] != 255) & (lb[ib] != 255)
        out[f"{geometry}_agreement"] = {"voxels_cuda": len(gpu_map.map), "voxels_cpu": len(cpu_map.map),
                                        "common_voxels": int(common.size),
                                        "label_agreement": round(float((la[ia] == lb[ib])[known].mean()), 4)}
        for key in (f"{geometry}_cuda", f"{geometry}_cpu", f"{geometry}_agreement"):
            print(key, out[key], flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--seed", type=int, default=2024)
    e.add_argument("--frames", type=int, default=90)
    e.add_argument("--out", required=True)
    r = sub.add_parser("run")
    r.add_argument("frames_file")
    r.add_argument("--out", required=True)
    r.add_argument("--cpu-threads", type=int, default=8)
    args = p.parse_args()
    if args.cmd == "export":
        export(args.seed, args.frames, args.out)
    else:
        result = run(args.frames_file, args.cpu_threads)
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
