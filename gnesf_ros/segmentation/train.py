"""Training loop of the segmenter: cross-entropy on augmented synthetic training frames, resumable, with curves.

Output folder: `train_state.pt` (resume), `segmenter.pt` (the checkpoint format the node loads), `history.json`
and `loss_curves.png` (training loss and validation mIoU / pixel accuracy on the val split).
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from gnesf_ros.classes import IGNORE_ID, ClassList
from gnesf_ros.config import to_dict
from gnesf_ros.errors import ConfigError
from gnesf_ros.eval.metrics import confusion_matrix, scores_from_confusion
from gnesf_ros.segmentation.augment import augment
from gnesf_ros.segmentation.checkpoint import save_segmenter
from gnesf_ros.segmentation.config import SegmenterTrainConfig
from gnesf_ros.segmentation.infer import Segmenter
from gnesf_ros.segmentation.network import SegNet
from gnesf_ros.segmentation.train_data import ScenePool, data_config, validation_frames

log = logging.getLogger(__name__)
STATE_FILE = "train_state.pt"
CHECKPOINT_FILE = "segmenter.pt"


@dataclass
class History:
    """Loss and validation curves (saved in the training state and history.json)."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_miou: list[float] = field(default_factory=list)
    val_pixel_acc: list[float] = field(default_factory=list)
    minutes: float = 0.0


def batch_to_tensors(rgb: list[np.ndarray], labels: list[np.ndarray], device: torch.device
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """B crops RGB (h, w, 3) uint8 and labels (h, w) uint8 -> (B, 3, h, w) float in [0, 1] and (B, h, w) int64."""
    x = torch.from_numpy(np.stack(rgb)).to(device).permute(0, 3, 1, 2).float() / 255.0
    y = torch.from_numpy(np.stack(labels)).to(device).long()
    return x, y


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Pixel cross-entropy, (B, C, H, W) logits vs (B, H, W) ids; IGNORE_ID pixels do not count."""
    if not (labels != IGNORE_ID).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_ID)


class SegmenterTrainer:
    """Owns the network, optimiser, scene pool and output folder; `run()` trains to `cfg.steps`, resumable."""

    def __init__(self, cfg: SegmenterTrainConfig, out_dir: str | Path, device: str = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.classes = ClassList.from_yaml()
        if cfg.net.num_classes != self.classes.num_classes:
            raise ConfigError(f"net.num_classes {cfg.net.num_classes} does not match the class list "
                              f"({self.classes.num_classes} classes)")
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.num_threads)
        self.data = data_config(cfg)
        self.model = SegNet(cfg.net).to(self.device)
        self.optim = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step = 0
        self.history = History()
        self._val: list[tuple[np.ndarray, np.ndarray]] | None = None

    # -- persistence ---------------------------------------------------------------------------
    def save_state(self) -> None:
        state = {"model": self.model.state_dict(), "optim": self.optim.state_dict(), "step": self.step,
                 "history": self.history.__dict__, "config": to_dict(self.cfg)}
        tmp = self.out_dir / (STATE_FILE + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.out_dir / STATE_FILE)
        save_segmenter(self.model, self.classes.names, self.out_dir / CHECKPOINT_FILE,
                       extra={"step": self.step, "train_config": to_dict(self.cfg),
                              "val_miou": self.history.val_miou[-1] if self.history.val_miou else None})
        (self.out_dir / "history.json").write_text(json.dumps(self.history.__dict__, indent=1))
        self.plot()

    def resume(self) -> bool:
        """Load `train_state.pt` from the output folder when present; True if resumed."""
        path = self.out_dir / STATE_FILE
        if not path.is_file():
            return False
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.step = int(state["step"])
        self.history = History(**state["history"])
        log.info("resumed from %s at step %d", path, self.step)
        return True

    def plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        h = self.history
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        if h.steps:
            k = len(h.steps) // 50  # smoothing window: ~50 points along the curve
            axes[0].plot(h.steps, h.loss, color="0.75" if k > 1 else "C0", lw=0.8, label="per step")
            if k > 1:
                axes[0].plot(h.steps[k - 1:], np.convolve(h.loss, np.ones(k) / k, mode="valid"),
                             label=f"mean of {k} steps")
            axes[0].set_xlabel("step")
            axes[0].set_ylabel("cross-entropy")
            axes[0].legend()
            axes[0].set_title("training loss (augmented training scenes)")
        if h.val_steps:
            axes[1].plot(h.val_steps, h.val_miou, "o-", label="mIoU")
            axes[1].plot(h.val_steps, h.val_pixel_acc, "s--", label="pixel accuracy")
            axes[1].set_xlabel("step")
            axes[1].set_ylabel("%")
            axes[1].legend()
            axes[1].set_title("validation (val split scenes)")
        fig.tight_layout()
        fig.savefig(self.out_dir / "loss_curves.png", dpi=100)
        plt.close(fig)

    # -- training ------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 5% of `lr` at `steps`."""
        cfg = self.cfg
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One optimiser step on a batch x (B, 3, h, w) in [0, 1], y (B, h, w) ids; returns the loss before it."""
        self.model.train()
        for g in self.optim.param_groups:
            g["lr"] = self.lr_at(self.step)
        loss = segmentation_loss(self.model(x), y)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optim.step()
        self.step += 1
        return float(loss.detach())

    def make_batch(self, pool: ScenePool) -> tuple[torch.Tensor, torch.Tensor]:
        """An augmented batch for the current step (deterministic per (seed, step))."""
        rng = np.random.default_rng([self.cfg.seed, self.step, 5])
        rgb, labels = [], []
        for _ in range(self.cfg.batch_size):
            img, lab = pool.sample(rng)
            img, lab = augment(img, lab, self.cfg.augment, rng)
            rgb.append(img)
            labels.append(lab)
        return batch_to_tensors(rgb, labels, self.device)

    def validate(self) -> tuple[float, float]:
        """(mIoU, pixel accuracy) in % on the val frames, full frames through the inference wrapper."""
        if self._val is None:
            self._val = validation_frames(self.cfg, self.data)
        seg = Segmenter(self.model, self.classes.names, self.device)
        C = self.classes.num_classes
        conf = np.zeros((C, C + 1), np.int64)
        for rgb, labels in self._val:
            conf += confusion_matrix(seg.predict_tensor(rgb).argmax(0).cpu().numpy(), labels, C)
        tp = np.trace(conf[:, :C])
        return scores_from_confusion(conf).miou, 100.0 * tp / max(1, conf.sum())

    def run(self, max_minutes: float | None = None) -> History:
        cfg = self.cfg
        pool = ScenePool(cfg, self.data, self.step)
        start = time.monotonic()
        minutes0 = self.history.minutes
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train-segmenter", unit="step")
        while self.step < cfg.steps:
            pool.advance(self.step)
            x, y = self.make_batch(pool)
            loss = self.train_step(x, y)
            h = self.history
            h.steps.append(self.step)
            h.loss.append(loss)
            h.minutes = minutes0 + (time.monotonic() - start) / 60
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{self.lr_at(self.step):.1e}")
            last = self.step >= cfg.steps
            out_of_time = max_minutes is not None and (time.monotonic() - start) / 60 > max_minutes
            if self.step % cfg.val_every == 0 or last or out_of_time:
                miou, acc = self.validate()
                h.val_steps.append(self.step)
                h.val_miou.append(miou)
                h.val_pixel_acc.append(acc)
                bar.write(f"step {self.step}: val mIoU {miou:.1f}, pixel accuracy {acc:.1f}")
                self.save_state()
            if out_of_time:
                bar.write(f"stopping after {max_minutes} min at step {self.step} (run again with --resume)")
                break
        bar.close()
        return self.history
