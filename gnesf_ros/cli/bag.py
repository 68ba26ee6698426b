"""`gnesf-bag`: write a rosbag2 of the mapper's input topics from a ScanNet scan or a synthetic scene.

    gnesf-bag scannet SCAN_DIR_OR_SENS OUT_BAG [--format mcap|sqlite3] [--every N] [--semantics noise|truth|DIR]
                      [--tsv PATH] [--probs] [--seed S] [--size H W]
    gnesf-bag synthetic --seed S OUT_BAG [--frames N] [--height H] [--width W] [--style simple|realistic]
                        [--format ...] [--probs]
"""
from __future__ import annotations

import argparse
import logging
import sys

from gnesf_ros.errors import GnesfError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnesf-bag", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="source", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--format", choices=["mcap", "sqlite3"], default="mcap", help="rosbag2 storage (default mcap)")
        sp.add_argument("--probs", action="store_true",
                        help="write semantics as 32FC<C> probabilities instead of mono8 labels + 32FC1 confidence")
        sp.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("scannet", help="a ScanNet .sens file, scan folder or exported folder")
    s.add_argument("scan", help="<scene>.sens, a folder holding it, or an exported folder (color/ depth/ pose/ intrinsic/)")
    s.add_argument("out", help="output bag folder (must not exist)")
    s.add_argument("--every", type=int, default=1, help="keep every N-th frame (default 1)")
    s.add_argument("--semantics", default="noise",
                   help="'noise' (segmenter-noise model on the true labels), 'truth', 'none' (colour, depth, "
                        "camera_info and poses only: the segmenter runs live), or a folder of predictions "
                        "<i>.png / <i>.npy / <i>.npz (default noise)")
    s.add_argument("--period-s", type=float, default=None,
                   help="time between the scan's frames for scans without time stamps (exported folders); "
                        "default 1/30 s")
    s.add_argument("--tsv", default=None, help="scannetv2-labels.combined.tsv (needed for raw ScanNet label ids)")
    s.add_argument("--seed", type=int, default=0, help="noise-model seed (default 0)")
    s.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="output image size (default: the depth resolution, 480 640 for ScanNet)")
    common(s)

    y = sub.add_parser("synthetic", help="a procedurally generated scene")
    y.add_argument("out", help="output bag folder (must not exist)")
    y.add_argument("--seed", type=int, required=True)
    y.add_argument("--frames", type=int, default=60)
    y.add_argument("--height", type=int, default=240)
    y.add_argument("--width", type=int, default=320)
    y.add_argument("--style", choices=["simple", "realistic"], default=None,
                   help="scene style (default: synthetic.style of config/data.yaml)")
    y.add_argument("--semantics", choices=["noise", "none"], default="noise",
                   help="'none': colour, depth, camera_info and poses only (default noise)")
    common(y)
    return p


def run(args: argparse.Namespace) -> int:
    from gnesf_ros.data.bag import convert_scannet, convert_synthetic

    try:
        if args.source == "scannet":
            summary = convert_scannet(args.scan, args.out, storage=args.format, every=args.every,
                                      semantics=args.semantics, tsv_path=args.tsv, probs=args.probs, seed=args.seed,
                                      image_size=tuple(args.size) if args.size else None, progress=not args.quiet,
                                      period_s=args.period_s)
        else:
            summary = convert_synthetic(args.seed, args.out, frames=args.frames, height=args.height, width=args.width,
                                        storage=args.format, probs=args.probs, progress=not args.quiet,
                                        style=args.style, semantics=args.semantics)
    except GnesfError as exc:
        print(f"gnesf-bag: error: {exc}", file=sys.stderr)
        return 1
    skipped = f", {summary.skipped_invalid_pose} skipped (invalid pose)" if summary.skipped_invalid_pose else ""
    print(f"wrote {summary.frames} frame(s) to {summary.path}{skipped}; semantics: {summary.metadata.get('semantics')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
