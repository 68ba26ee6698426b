"""`gnesf-eval`: score GNeSF and the baselines on held-out scenes (2D and 3D mIoU / mAcc, geometry).

    gnesf-eval synthetic --seeds 2000:2010 --out runs/eval [--frames 300] [--checkpoint PATH]
                         [--methods gnesf bayes_fusion ...] [--every-k 10] [--style simple|realistic]
                         [--semantics segmenter|noise|truth] [--segmenter-checkpoint PATH] [--input-format probs|labels]
    gnesf-eval scannet SCAN --tsv scannetv2-labels.combined.tsv --out runs/eval
    gnesf-eval scannet --geometry-only SCAN --out runs/geom      (colour + depth + poses: no labels, no tsv)

Geometry methods (gnesf, gnesf_depth, tsdf_fusion) also get accuracy / completeness / precision / recall /
F-score at 5 cm of their surface and AbsRel / RMSE / delta<1.25 of their rendered depth at the targets
(eval/geometry.py); with --geometry-only the truth is the TSDF fusion of the sensor depth.

Seeds are "A:B" (A..B-1, like a Python range), "A" or "A,B,C". Scenes used for training or validation
(config/data.yaml, config/train.yaml) are refused: scores on them say nothing about unseen scenes.
A ScanNet SCAN is a .sens file, a folder holding one, or an exported folder, with <scene>_vh_clean_2.labels.ply
beside it (3D truth); every k-th frame is a held-out target view (2D truth from its label image).

--semantics is the 2D input every method gets alike (gnesf, gnesf_depth, input_2d, bayes_fusion, majority_vote):
'segmenter' (the shipped 2D segmenter, or --segmenter-checkpoint, run on each frame's RGB), 'noise' (the
segmenter-noise model on the true labels) or 'truth' (one-hot true labels). The default is 'segmenter' since
2026-12-06: what a robot would feed the node (docs/segmenter.md has its scores); 'noise' is the ablation the
figures before that date used. metrics.json records the input as "semantics".
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from gnesf_ros.config import load_yaml
from gnesf_ros.errors import ConfigError, GnesfError
from gnesf_ros.paths import config_path


def parse_seeds(text: str) -> list[int]:
    """"A:B" -> A..B-1, "A" -> [A], "A,B,C" -> [A, B, C] (parts may mix: "1,5:8")."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if ":" in part:
                lo, hi = (int(x) for x in part.split(":"))
                if hi <= lo:
                    raise ValueError(f"empty range {part}")
                seeds.extend(range(lo, hi))
            else:
                seeds.append(int(part))
    except ValueError as exc:
        raise ConfigError(f"--seeds: expected A:B, A or A,B,C with integers, got {text!r} ({exc})") from exc
    return list(dict.fromkeys(seeds))


def reserved_seeds(data_yaml: Path | None = None, train_yaml: Path | None = None) -> set[int]:
    """Seeds of synthetic scenes used for training or validation: the train and val splits of config/data.yaml
    (`SyntheticDataConfig`) and the seeds config/train.yaml (`TrainConfig`) trains and validates on."""
    from gnesf_ros.data.synthetic import SyntheticDataConfig
    from gnesf_ros.train.config import TrainConfig

    data = SyntheticDataConfig.from_yaml(data_yaml)
    out = set(data.seeds("train")) | set(data.seeds("val"))
    train_yaml = train_yaml if train_yaml is not None else config_path("train.yaml")
    if Path(train_yaml).is_file():
        train = load_yaml(TrainConfig, train_yaml)
        out |= set(range(*train.train_seed_range)) | set(train.val_seeds)
    return out


def check_synthetic_input(semantics: str, input_format: str = "probs", style: str | None = None,
                          segmenter_checkpoint: Path | None = None) -> None:
    """ConfigError with the valid choices for a bad --semantics / --input-format / --style, or a
    --segmenter-checkpoint that is not a file (before any scene is generated)."""
    from gnesf_ros.data.realism import STYLES
    from gnesf_ros.eval.evaluate import INPUT_FORMATS, SEMANTICS_SOURCES

    if semantics not in SEMANTICS_SOURCES:
        hint = (f"; the delivery format is --input-format {semantics} since 2026-12-04" if semantics in INPUT_FORMATS
                else "")
        raise ConfigError(f"--semantics must be one of {', '.join(SEMANTICS_SOURCES)}, got {semantics!r}{hint}")
    if input_format not in INPUT_FORMATS:
        raise ConfigError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}, got {input_format!r}")
    if style is not None and style not in STYLES:
        raise ConfigError(f"--style must be one of {', '.join(STYLES)}, got {style!r}")
    if segmenter_checkpoint is not None:
        if semantics != "segmenter":
            raise ConfigError(f"--segmenter-checkpoint is only used with --semantics segmenter (got --semantics "
                              f"{semantics})")
        if not Path(segmenter_checkpoint).is_file():
            raise ConfigError(f"--segmenter-checkpoint {segmenter_checkpoint}: no such file")


THREADS_HELP = ("torch CPU threads (default 1; 0 = torch's default, all cores). Keep threads x parallel runs <= "
                "cores: two runs of 2 threads on 2 cores made the renders 5-10x slower")


def parse_mapper_params(items: list[str]) -> dict:
    """`NAME=VALUE` strings (YAML values) -> MapperConfig overrides, checked by building a MapperConfig."""
    import dataclasses

    import yaml

    from gnesf_ros.mapping.config import MapperConfig

    known = {f.name for f in dataclasses.fields(MapperConfig)} - {"geometry_source", "device"}
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in known:
            raise ConfigError(f"--mapper-param {item!r}: expected NAME=VALUE with NAME a MapperConfig field "
                              f"other than geometry_source / device ({', '.join(sorted(known))})")
        out[name] = yaml.safe_load(value)
    try:
        MapperConfig(**out)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"--mapper-param: {exc}") from exc
    return out


def eval_synthetic(seeds: list[int], out_dir: Path, num_frames: int, every_k: int, checkpoint: Path | None,
                   methods: list[str], device: str, command: str, progress: bool = True,
                   allow_training_seeds: bool = False, semantics: str = "segmenter",
                   mapper_overrides: dict | None = None, input_format: str = "probs", style: str | None = None,
                   segmenter_checkpoint: Path | None = None, size: tuple[int, int] = (240, 320)) -> int:
    from gnesf_ros.eval.evaluate import MethodSettings, evaluate_synthetic

    reserved = sorted(set(seeds) & reserved_seeds())
    if reserved and not allow_training_seeds:
        shown = ", ".join(map(str, reserved[:10])) + (" ..." if len(reserved) > 10 else "")
        print(f"gnesf-eval: refusing seeds used for training or validation ({len(reserved)}: {shown}); "
              "evaluate on held-out scenes, e.g. --seeds 2000:2100 (test split in config/data.yaml)", file=sys.stderr)
        return 2
    settings = MethodSettings(device=device, mapper_overrides=dict(mapper_overrides or {}))
    metrics = evaluate_synthetic(seeds, out_dir, model_path=str(checkpoint) if checkpoint else None,
                                 num_frames=num_frames, every_k_target=every_k, methods=methods, settings=settings,
                                 command=command, progress=progress, semantics=semantics, input_format=input_format,
                                 style=style, segmenter_checkpoint=segmenter_checkpoint, height=size[0], width=size[1])
    _print_table(metrics, out_dir)
    return 0


TABLE_COLUMNS = (("mIoU 2D", "miou_2d", 2), ("mAcc 2D", "macc_2d", 2), ("mIoU 3D", "miou_3d", 2),
                 ("mAcc 3D", "macc_3d", 2), ("F@5cm", "fscore_5cm", 3), ("acc m", "accuracy_m", 3),
                 ("comp m", "completeness_m", 3), ("AbsRel", "depth_abs_rel", 3), ("d<1.25", "depth_delta_1_25", 3),
                 ("s/scene", "seconds_per_scene", 2))


def _print_table(metrics: dict, out_dir: Path) -> None:
    print(f"{'method':<15} " + " ".join(f"{title:>8}" for title, _, _ in TABLE_COLUMNS))
    for m in metrics["methods"]:
        e = metrics[m]
        cells = [(e.get(key), digits) for _, key, digits in TABLE_COLUMNS]
        print(f"{m:<15} " + " ".join(f"{c:8.{d}f}" if c is not None else f"{'-':>8}" for c, d in cells))
    print(f"{len(metrics['scenes'])} scenes, {metrics['frames']} input frames, {metrics['targets']} target views; "
          f"report: {Path(out_dir) / 'metrics.json'}")


def eval_scannet(scans: list[Path], out_dir: Path, tsv: Path | None, semantics: str, every_k: int, frame_every: int,
                 size: tuple[int, int] | None, checkpoint: Path | None, methods: list[str], device: str, command: str,
                 progress: bool = True, mapper_overrides: dict | None = None, geometry_only: bool = False,
                 segmenter_checkpoint: Path | None = None) -> int:
    from gnesf_ros.eval.evaluate import MethodSettings
    from gnesf_ros.eval.scannet_eval import evaluate_scannet

    if every_k < 2:
        raise ConfigError(f"--every-k must be >= 2 (at least one input frame per target), got {every_k}")
    if frame_every < 1:
        raise ConfigError(f"--frame-every must be >= 1, got {frame_every}")
    if not geometry_only and (tsv is None or not tsv.is_file()):
        raise ConfigError(f"--tsv {tsv}: no such file (ScanNet's scannetv2-labels.combined.tsv; not needed with "
                          "--geometry-only)")
    for scan in scans:
        if not scan.exists():
            raise ConfigError(f"ScanNet scan {scan}: no such file or folder")
    if not geometry_only and semantics not in ("noise", "truth", "segmenter") and not Path(semantics).is_dir():
        raise ConfigError(f"--semantics must be 'segmenter', 'noise', 'truth' or a folder of predictions; {semantics} "
                          "is not a folder")
    if segmenter_checkpoint is not None:
        if semantics != "segmenter" or geometry_only:
            raise ConfigError("--segmenter-checkpoint is only used with --semantics segmenter")
        if not segmenter_checkpoint.is_file():
            raise ConfigError(f"--segmenter-checkpoint {segmenter_checkpoint}: no such file")
    metrics = evaluate_scannet(scans, out_dir, tsv, semantics=semantics, every_k_target=every_k,
                               frame_every=frame_every, image_size=size, methods=methods,
                               settings=MethodSettings(device=device, mapper_overrides=dict(mapper_overrides or {})),
                               model_path=str(checkpoint) if checkpoint else None, command=command, progress=progress,
                               geometry_only=geometry_only, segmenter_checkpoint=segmenter_checkpoint)
    _print_table(metrics, out_dir)
    if geometry_only:
        print("geometry truth: the open3d TSDF fusion (tsdf_fusion) of the input depth; no semantics scored")
    elif semantics == "noise":
        print("2D input: the segmenter-noise model applied to the true labels (not a real segmenter)")
    elif semantics == "segmenter":
        print("2D input: the 2D segmenter on each frame's RGB (the shipped one has seen only synthetic training "
              "scenes; docs/segmenter.md)")
    return 0


def main(argv: list[str] | None = None) -> int:
    from gnesf_ros.eval.evaluate import METHODS

    parser = argparse.ArgumentParser(prog="gnesf-eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="dataset", required=True)
    syn = sub.add_parser("synthetic", help="held-out procedural scenes (gnesf_ros.data.synthetic)")
    syn.add_argument("--seeds", required=True, help="A:B (A..B-1), A, or A,B,C; test split: 2000:2100")
    syn.add_argument("--out", type=Path, required=True, help="output folder (metrics.json, PNGs)")
    syn.add_argument("--frames", type=int, default=300, help="frames per scan (default 300)")
    syn.add_argument("--every-k", type=int, default=10, help="every k-th frame is a held-out target view")
    syn.add_argument("--checkpoint", type=Path, default=None, help="GNeSF checkpoint (default: the shipped one)")
    syn.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="methods to evaluate")
    syn.add_argument("--device", default="cpu", help="torch device of the gnesf methods")
    syn.add_argument("--semantics", default="segmenter",
                     help="2D input of every method: 'segmenter' (default: the shipped 2D segmenter on each frame's "
                          "RGB), 'noise' (the segmenter-noise model on the true labels) or 'truth' (one-hot labels)")
    syn.add_argument("--segmenter-checkpoint", type=Path, default=None,
                     help="segmenter of --semantics segmenter (default: gnesf_ros/checkpoints/segmenter.pt)")
    syn.add_argument("--input-format", choices=["probs", "labels"], default="probs",
                     help="how the 2D input is delivered: full probabilities, or label + confidence as a label-mode "
                          "bag carries them (what `make demo` replays; default probs). Was --semantics probs|labels "
                          "until 2026-12-04")
    syn.add_argument("--style", default=None,
                     help="synthetic scene style: simple | realistic (default: config/data.yaml synthetic.style)")
    syn.add_argument("--no-progress", action="store_true", help="no progress bars")
    syn.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    syn.add_argument("--mapper-param", action="append", default=[], metavar="NAME=VALUE",
                     help="MapperConfig override for both gnesf methods (YAML value), e.g. "
                          "--mapper-param keyframe_min_translation_m=0.05; repeatable")
    syn.add_argument("--allow-training-seeds", action="store_true", help=argparse.SUPPRESS)  # debugging only
    syn.add_argument("--height", type=int, default=240, help=argparse.SUPPRESS)  # tests: tiny frames
    syn.add_argument("--width", type=int, default=320, help=argparse.SUPPRESS)
    sc = sub.add_parser("scannet", help="ScanNet scans (.sens or exported folders, with *_vh_clean_2.labels.ply)")
    sc.add_argument("scans", nargs="+", type=Path, metavar="SCAN", help=".sens file, scan folder or exported folder")
    sc.add_argument("--tsv", type=Path, default=None,
                    help="scannetv2-labels.combined.tsv (raw ids -> NYU40); required unless --geometry-only")
    sc.add_argument("--geometry-only", action="store_true",
                    help="no labels needed (colour + depth + poses): score the geometry of gnesf and gnesf_depth "
                         "against the TSDF fusion of the input depth, and their rendered depth at the targets")
    sc.add_argument("--out", type=Path, required=True, help="output folder (metrics.json, PNGs)")
    sc.add_argument("--every-k", type=int, default=10, help="every k-th frame is a held-out target view")
    sc.add_argument("--frame-every", type=int, default=1, help="use every n-th frame of the scan (30 Hz)")
    sc.add_argument("--semantics", default="segmenter",
                    help="2D input: 'segmenter' (default: the shipped 2D segmenter on each frame's RGB; like "
                         "'noise' it needs a label image for every frame), 'noise' (noise model on the true labels), "
                         "'truth', or a folder of predictions (<i>.png / .npy / .npz; with several scans, a "
                         "sub-folder per scan)")
    sc.add_argument("--segmenter-checkpoint", type=Path, default=None,
                    help="segmenter of --semantics segmenter (default: gnesf_ros/checkpoints/segmenter.pt)")
    sc.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
                    help="frame size (default: the depth resolution, 480 640)")
    sc.add_argument("--checkpoint", type=Path, default=None, help="GNeSF checkpoint (default: the shipped one)")
    sc.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="methods to evaluate")
    sc.add_argument("--device", default="cpu", help="torch device of the gnesf methods")
    sc.add_argument("--no-progress", action="store_true", help="no progress bars")
    sc.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    sc.add_argument("--mapper-param", action="append", default=[], metavar="NAME=VALUE",
                    help="MapperConfig override for both gnesf methods (YAML value); repeatable")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = "gnesf-eval " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        if args.checkpoint is not None and not args.checkpoint.is_file():
            raise ConfigError(f"--checkpoint {args.checkpoint}: no such file")
        if args.threads < 0:
            raise ConfigError(f"--threads must be >= 0 (0 = torch's default), got {args.threads}")
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        overrides = parse_mapper_params(args.mapper_param)
        if args.dataset == "scannet":
            return eval_scannet(args.scans, args.out, args.tsv, args.semantics, args.every_k, args.frame_every,
                                tuple(args.size) if args.size else None, args.checkpoint, args.methods, args.device,
                                command, progress=not args.no_progress, mapper_overrides=overrides,
                                geometry_only=args.geometry_only, segmenter_checkpoint=args.segmenter_checkpoint)
        seeds = parse_seeds(args.seeds)
        check_synthetic_input(args.semantics, args.input_format, args.style, args.segmenter_checkpoint)
        if args.frames < 2:
            raise ConfigError(f"--frames must be >= 2, got {args.frames}")
        if args.checkpoint is not None and not args.checkpoint.is_file():
            raise ConfigError(f"--checkpoint {args.checkpoint}: no such file")
        return eval_synthetic(seeds, args.out, args.frames, args.every_k, args.checkpoint, args.methods, args.device,
                              command, progress=not args.no_progress, allow_training_seeds=args.allow_training_seeds,
                              semantics=args.semantics, mapper_overrides=overrides, input_format=args.input_format,
                              style=args.style, segmenter_checkpoint=args.segmenter_checkpoint,
                              size=(args.height, args.width))
    except GnesfError as exc:
        print(f"gnesf-eval: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
