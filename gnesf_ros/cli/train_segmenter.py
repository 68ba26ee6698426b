"""`gnesf-train-segmenter`: train the 2D segmenter on synthetic training scenes and write its checkpoint."""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from gnesf_ros.config import load_yaml
from gnesf_ros.errors import GnesfError
from gnesf_ros.paths import config_path


def train_segmenter(config_file: Path, out_dir: Path, resume: bool, steps: int | None, max_minutes: float | None,
                    device: str, install: bool) -> int:
    """Train (or continue) a run in `out_dir`; with `install` copy its checkpoint to gnesf_ros/checkpoints/."""
    from gnesf_ros.segmentation.checkpoint import default_checkpoint
    from gnesf_ros.segmentation.config import SegmenterTrainConfig
    from gnesf_ros.segmentation.train import CHECKPOINT_FILE, SegmenterTrainer

    cfg = load_yaml(SegmenterTrainConfig, config_file)
    if steps is not None:
        cfg.steps = steps
    trainer = SegmenterTrainer(cfg, out_dir, device)
    if resume:
        trainer.resume()
    trainer.run(max_minutes=max_minutes)
    print(f"checkpoint: {out_dir / CHECKPOINT_FILE}  curves: {out_dir / 'loss_curves.png'}")
    if install:
        shutil.copyfile(out_dir / CHECKPOINT_FILE, default_checkpoint())
        print(f"installed as the shipped segmenter {default_checkpoint()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gnesf-train-segmenter", description=__doc__)
    parser.add_argument("--config", type=Path, default=config_path("segmenter_train.yaml"), help="training YAML")
    parser.add_argument("--out", type=Path, default=Path("runs/segmenter"), help="output folder")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt when present")
    parser.add_argument("--steps", type=int, default=None, help="override the config's step count")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--install", action="store_true", help="copy the result to gnesf_ros/checkpoints/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return train_segmenter(args.config, args.out, args.resume, args.steps, args.max_minutes, args.device,
                               args.install)
    except GnesfError as exc:
        print(f"gnesf-train-segmenter: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
