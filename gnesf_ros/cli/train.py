"""`gnesf-train`: train GNeSF on synthetic scans and write a checkpoint (resumable)."""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from gnesf_ros.config import load_yaml
from gnesf_ros.errors import GnesfError
from gnesf_ros.paths import checkpoint_path, config_path


def train(config_file: Path, out_dir: Path, resume: bool, steps: int | None, max_minutes: float | None,
          install: bool, init_from: Path | None = None, scene_style: str | None = None,
          semantics: str | None = None) -> int:
    from gnesf_ros.train.config import TrainConfig
    from gnesf_ros.train.trainer import Trainer

    cfg = load_yaml(TrainConfig, config_file)
    if steps is not None:
        cfg.steps = steps
    if scene_style is not None:
        cfg.scene_style = scene_style
    if semantics is not None:
        cfg.semantics = semantics
    trainer = Trainer(cfg, out_dir)
    if not (resume and trainer.resume()) and init_from is not None:
        trainer.init_from(init_from)
    trainer.run(max_minutes=max_minutes)
    print(f"checkpoint: {out_dir / 'gnesf.pt'}  curves: {out_dir / 'loss_curves.png'}")
    if install:
        shutil.copyfile(out_dir / "gnesf.pt", checkpoint_path())
        print(f"installed as the shipped checkpoint {checkpoint_path()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gnesf-train", description=__doc__)
    parser.add_argument("--config", type=Path, default=config_path("train.yaml"), help="training YAML")
    parser.add_argument("--out", type=Path, default=Path("runs/train"), help="output folder")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    parser.add_argument("--steps", type=int, default=None, help="override the config's step count")
    parser.add_argument("--scene-style", choices=["simple", "realistic"], default=None,
                        help="override the config's scene_style (docs/synthetic_scenes.md)")
    parser.add_argument("--semantics", choices=["noise", "segmenter"], default=None,
                        help="override the config's 2D input to the vote: the noise model or the shipped segmenter")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    parser.add_argument("--init-from", type=Path, default=None, help="start from this checkpoint's weights")
    parser.add_argument("--install", action="store_true", help="copy the result to gnesf_ros/checkpoints/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return train(args.config, args.out, args.resume, args.steps, args.max_minutes, args.install,
                     args.init_from, args.scene_style, args.semantics)
    except GnesfError as exc:
        print(f"gnesf-train: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
