"""The training loop: Eq. 6 on rendered target views + an L1 truncated-SDF loss, with resume and validation."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from gnesf_ros.config import to_dict
from gnesf_ros.eval.metrics import confusion_matrix, scores_from_confusion
from gnesf_ros.model import GNeSF
from gnesf_ros.model.checkpoint import load_checkpoint, save_checkpoint
from gnesf_ros.model.render import ray_box
from gnesf_ros.model.volume import sample_volume
from gnesf_ros.train.config import TrainConfig
from gnesf_ros.train.samples import TrainSample, make_sample

log = logging.getLogger(__name__)
STATE_FILE = "train_state.pt"


@dataclass
class StepLosses:
    """Losses of one step (floats, for logging)."""

    total: float
    semantic: float
    sdf: float
    ray_sdf: float = 0.0


@dataclass
class History:
    """Loss and validation curves, saved beside the training state."""

    steps: list[int] = field(default_factory=list)
    semantic: list[float] = field(default_factory=list)
    sdf: list[float] = field(default_factory=list)
    ray_sdf: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_miou: list[float] = field(default_factory=list)
    val_input_miou: list[float] = field(default_factory=list)


def losses(model: GNeSF, sample: TrainSample, cfg: TrainConfig) -> tuple[torch.Tensor, StepLosses]:
    """Eq. 6 cross-entropy of rendered semantics (Eq. 5 with the SDF weights of Eq. 8-9) + SDF L1.

    With `semantic_geometry: depth` the semantics are voted at the target pixels' true surface points
    instead (`depth_vote_probs`), as the mapper votes with depth geometry.
    """
    depth_mode = cfg.semantic_geometry == "depth"
    window = encode_sample(model, sample, depth_mode)
    sem_window = window
    if cfg.semantic_geometry == "true":
        # Same features and volume M, but rendering weights and visibility from the true SDF.
        sem_window = dataclasses.replace(window, sdf_grid=sample.sdf_grid_true_m, sdf_volume=sample.sdf_grid_true_m)
    probs = target_probs(sem_window, sample, cfg, depth_mode)
    mass = probs.sum(dim=-1)
    has_mass = mass > 1e-3
    if has_mass.any():
        # Rendered semantics are probabilities (Eq. 4 is a convex combination): renormalise the rays'
        # mass so a ray whose weights fall partly outside the volume is still a distribution.
        p = probs[has_mass] / mass[has_mass, None]
        semantic = F.nll_loss(torch.log(p.clamp_min(1e-6)), sample.ray_labels[has_mass])
    else:
        semantic = probs.sum() * 0.0
    total = cfg.semantic_loss_weight * semantic
    tr = cfg.model.trunc_m
    sdf = semantic.new_zeros(())
    if cfg.sdf_loss_weight > 0:
        sdf_pred = window.query(sample.sdf_points).sdf
        sdf = F.l1_loss(sdf_pred.clamp(-tr, tr), sample.sdf_true_m.clamp(-tr, tr)) / tr
        total = total + cfg.sdf_loss_weight * sdf
    ray_sdf = sdf.new_zeros(())
    if cfg.ray_sdf_loss_weight > 0:
        ray_sdf = ray_sdf_loss(model, window, sample, cfg)
        total = total + cfg.ray_sdf_loss_weight * ray_sdf
    return total, StepLosses(float(total.detach()), float(semantic.detach()), float(sdf.detach()),
                             float(ray_sdf.detach()))


def encode_sample(model: GNeSF, sample: TrainSample, depth_mode: bool):
    """Encode the example's source views; in depth mode with the true SDF as geometry and the source depths
    for visibility, as the mapper encodes a window with depth geometry."""
    return model.encode(sample.images, sample.probs, sample.K, sample.T_map_cam, sample.origin_m,
                        sample.voxel_size_m, sample.dims,
                        sdf_volume=sample.sdf_grid_true_m if depth_mode else None,
                        depth_m=sample.depth_m if depth_mode else None)


def target_probs(window, sample: TrainSample, cfg: TrainConfig, depth_mode: bool) -> torch.Tensor:
    """Semantics (R, C) of the example's target rays: rendered through `window`'s SDF (Eq. 5, 8-9), or in
    depth mode voted at the rays' true surface points (`depth_vote_probs`)."""
    if depth_mode:
        return depth_vote_probs(window, sample)
    return window.render_rays(sample.ray_origins, sample.ray_dirs, cfg.model.render_near_m, cfg.model.render_far_m,
                              mode="sdf").probs


def depth_vote_probs(window, sample: TrainSample) -> torch.Tensor:
    """Soft-voted semantics (R, C) at each target ray's true surface point o + z d (d has z-depth 1).

    Eq. 5 with a surface known from depth: all of a ray's weight sits at its depth, so the rendered
    semantics are the vote there. The window must carry the source depths (visibility, as in the mapper).
    """
    points = sample.ray_origins + sample.ray_depth_m[:, None] * sample.ray_dirs  # (R, 3)
    return window.query(points).semantics


def truncated_l1(pred: torch.Tensor, target: torch.Tensor, trunc: float) -> torch.Tensor:
    """Mean |pred - target| / trunc for targets clamped to +-trunc, where a target at +trunc (-trunc) only asks
    for pred >= trunc (<= -trunc). Clamping pred instead would leave no gradient once it passes +-trunc."""
    err = torch.where(target >= trunc, F.relu(trunc - pred),
                      torch.where(target <= -trunc, F.relu(pred + trunc), (pred - target).abs()))
    return err.mean() / trunc


def ray_sdf_targets(origins: torch.Tensor, dirs: torch.Tensor, depth_z: torch.Tensor, t_start: torch.Tensor,
                    behind_m: float, trunc: float, samples: int, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Points along rays o + t d (d with z-depth 1) and their truncated projective SDF targets.

    origins, dirs (R, 3); depth_z, t_start (R,): the true z-depth and where sampling starts. Half the points
    are uniform over [t_start, depth + behind], half near the depth (sigma = trunc). Target = the distance to
    the depth along the ray (m), positive in front, clamped to +-trunc. Returns points (R, S, 3), target (R, S).
    """
    R = depth_z.shape[0]
    depth = depth_z[:, None]
    m_per_z = dirs.norm(dim=-1, keepdim=True)  # metres along the ray per metre of z-depth
    lo = torch.minimum(t_start[:, None], depth)
    hi = depth + behind_m / m_per_z
    u = torch.rand(R, samples // 2, generator=generator)
    t_near = depth + torch.randn(R, samples - samples // 2, generator=generator) * (trunc / m_per_z)
    t = torch.cat([lo + u * (hi - lo), torch.minimum(t_near, hi)], dim=1)  # (R, S) z-depths
    target = ((depth - t) * m_per_z).clamp(-trunc, trunc)
    return origins[:, None] + t[..., None] * dirs[:, None], target


def ray_sdf_loss(model: GNeSF, window, sample: TrainSample, cfg: TrainConfig) -> torch.Tensor:
    """Learned SDF at points along the target rays against the projective distance to the true depth.

    Along a ray the target falls monotonically from +trunc (free) through 0 (the depth) to -trunc, and stays
    negative up to `ray_sdf_behind_m` behind. Its per-point median therefore changes sign at the median of
    the depths the network finds plausible: a field unsure of the depth still gets a zero crossing (Eq. 8-9
    then puts the ray's weight there), where the scene SDF, negative only inside thin solids, leaves it free.
    """
    tr = cfg.model.trunc_m
    t_in, _ = ray_box(sample.ray_origins, sample.ray_dirs, *window.box)
    t_start = torch.clamp(t_in, min=cfg.model.render_near_m)
    pts, target = ray_sdf_targets(sample.ray_origins, sample.ray_dirs, sample.ray_depth_m, t_start,
                                  cfg.ray_sdf_behind_m, tr, cfg.ray_sdf_samples)
    Mx, inside = sample_volume(window.volume, window.origin_m, window.voxel_size_m, pts.reshape(-1, 3))
    if not inside.any():
        return Mx.sum() * 0.0
    return truncated_l1(model.sdf_head(Mx[inside]), target.reshape(-1)[inside], tr)


def make_scan(cfg: TrainConfig, seed: int, segmenter=None):
    """The synthetic scan of `seed` at the training resolution, in `cfg.scene_style` (data is only imported for
    training); with `segmenter` its frames carry the segmenter's probabilities (`cfg.semantics: segmenter`)."""
    from gnesf_ros.data.synthetic import SyntheticScan

    scan = SyntheticScan(seed, num_frames=cfg.sample.frames_per_scan, height=cfg.sample.height,
                         width=cfg.sample.width, style=cfg.scene_style or None)
    if segmenter is None:
        return scan
    from gnesf_ros.segmentation.scan import SegmentedScan

    return SegmentedScan(scan, segmenter)


def load_input_segmenter(cfg: TrainConfig):
    """The segmenter `cfg.semantics: segmenter` feeds the vote (None for the noise model); class list checked."""
    if cfg.semantics != "segmenter":
        return None
    from gnesf_ros.classes import ClassList
    from gnesf_ros.segmentation.checkpoint import default_checkpoint
    from gnesf_ros.segmentation.infer import Segmenter

    names = ClassList.from_yaml().names
    if len(names) != cfg.model.num_classes:
        raise ValueError(f"the class list has {len(names)} classes, the model {cfg.model.num_classes}")
    path = Path(cfg.segmenter_checkpoint) if cfg.segmenter_checkpoint else default_checkpoint()
    return Segmenter.from_checkpoint(path, names)


class ScanPool:
    """A few synthetic scans in memory, rotated so training sees many scenes at bounded cost."""

    def __init__(self, cfg: TrainConfig, rng: np.random.Generator, segmenter=None):
        self._cfg = cfg
        self._rng = rng
        self._segmenter = segmenter
        self._scans: OrderedDict[int, object] = OrderedDict()
        self._uses = 0

    def draw(self):
        cfg = self._cfg
        if len(self._scans) < cfg.scenes_cached or self._uses >= cfg.steps_per_scene:
            seed = int(self._rng.integers(*cfg.train_seed_range))
            self._scans[seed] = make_scan(cfg, seed, self._segmenter)
            while len(self._scans) > cfg.scenes_cached:
                self._scans.popitem(last=False)
            self._uses = 0
        self._uses += 1
        keys = list(self._scans)
        return self._scans[keys[int(self._rng.integers(len(keys)))]]


class Trainer:
    """Owns the model, optimiser, history and output folder; `run()` trains to `cfg.steps`, resumable."""

    def __init__(self, cfg: TrainConfig, out_dir: str | Path):
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.num_threads)
        self.model = GNeSF(cfg.model)
        self.optim = torch.optim.Adam(self._trainable_parameters(), lr=cfg.lr)
        self.step = 0
        self.history = History()
        self.rng = np.random.default_rng(cfg.seed)
        self._val_samples: list[TrainSample] | None = None
        self.segmenter = load_input_segmenter(cfg)

    def _trainable_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters `cfg.trainable` names; the others are frozen (no gradient, so no backward through them)."""
        if self.cfg.trainable == "all":
            return list(self.model.parameters())
        for p in self.model.parameters():
            p.requires_grad_(False)
        params = list(self.model.vote_head.parameters())
        for p in params:
            p.requires_grad_(True)
        return params

    # -- persistence ---------------------------------------------------------------------------
    def save_state(self) -> None:
        state = {"model": self.model.state_dict(), "optim": self.optim.state_dict(), "step": self.step,
                 "history": self.history.__dict__, "rng": self.rng.bit_generator.state,
                 "config": to_dict(self.cfg)}
        tmp = self.out_dir / (STATE_FILE + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.out_dir / STATE_FILE)
        save_checkpoint(self.model, self.out_dir / "gnesf.pt",
                        extra={"step": self.step, "train_config": to_dict(self.cfg)})
        (self.out_dir / "history.json").write_text(json.dumps(self.history.__dict__, indent=1))
        self.plot()

    def init_from(self, checkpoint: str | Path) -> None:
        """Start from another checkpoint's weights (fresh optimiser and step count)."""
        model, _ = load_checkpoint(checkpoint)
        self.model.load_state_dict(model.state_dict())
        log.info("initialised weights from %s", checkpoint)

    def resume(self) -> bool:
        """Load `train_state.pt` from the output folder when present; True if resumed."""
        path = self.out_dir / STATE_FILE
        if not path.is_file():
            return False
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.step = int(state["step"])
        self.history = History(**state["history"])
        self.rng.bit_generator.state = state["rng"]
        log.info("resumed from %s at step %d", path, self.step)
        return True

    def plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        h = self.history
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        if h.steps:
            k = max(1, len(h.steps) // 200)
            smooth = lambda x: np.convolve(x, np.ones(k) / k, mode="valid")  # noqa: E731
            axes[0].plot(h.steps[k - 1:], smooth(h.semantic), label="semantic CE (Eq. 6)")
            axes[0].plot(h.steps[k - 1:], smooth(h.sdf), label="SDF L1 / trunc")
            if len(h.ray_sdf) == len(h.steps) and any(h.ray_sdf):
                axes[0].plot(h.steps[k - 1:], smooth(h.ray_sdf), label="ray SDF L1 / trunc")
            axes[0].set_xlabel("step")
            axes[0].legend()
            axes[0].set_title("training loss")
        if h.val_steps:
            axes[1].plot(h.val_steps, h.val_miou, "o-", label="GNeSF render")
            source = "segmenter" if self.cfg.semantics == "segmenter" else "noise model"
            axes[1].plot(h.val_steps, h.val_input_miou, "s--", label=f"2D input ({source})")
            axes[1].set_xlabel("step")
            axes[1].set_ylabel("val 2D mIoU (%)")
            axes[1].legend()
            axes[1].set_title("validation (held-out scenes)")
        fig.tight_layout()
        fig.savefig(self.out_dir / "loss_curves.png", dpi=100)
        plt.close(fig)

    # -- training ------------------------------------------------------------------------------
    def _lr(self) -> float:
        frac = self.step / max(1, self.cfg.steps)
        return self.cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))

    def train_step(self, sample: TrainSample) -> StepLosses:
        self.model.train()
        for g in self.optim.param_groups:
            g["lr"] = self._lr()
        loss, parts = losses(self.model, sample, self.cfg)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optim.step()
        self.step += 1
        return parts

    def validation_samples(self) -> list[TrainSample]:
        if self._val_samples is None:
            cfg = self.cfg
            val_sample = dataclasses.replace(cfg.sample, max_dims=cfg.val_max_dims, include_cameras=True)
            samples = []
            for seed in cfg.val_seeds:
                scan = make_scan(cfg, seed, self.segmenter)
                rng = np.random.default_rng(seed)
                got = 0
                for _ in range(20):
                    s = make_sample(scan, val_sample, rng, cfg.model.trunc_m)
                    if s is not None:
                        samples.append(s)
                        got += 1
                    if got == 2:
                        break
            self._val_samples = samples
        return self._val_samples

    @torch.no_grad()
    def validate(self) -> tuple[float, float]:
        """2D mIoU of rendered target rays vs. the 2D input's own argmax there (`cfg.semantics`), on held-out scenes.

        Renders through the learned SDF; with `semantic_geometry: depth`, votes at the rays' true depth
        with the source depths' visibility instead (what that stage trains)."""
        self.model.eval()
        C = self.cfg.model.num_classes
        depth_mode = self.cfg.semantic_geometry == "depth"
        conf_model = np.zeros((C, C + 1), np.int64)
        conf_input = np.zeros((C, C + 1), np.int64)
        for s in self.validation_samples():
            probs = target_probs(encode_sample(self.model, s, depth_mode), s, self.cfg, depth_mode)
            pred = torch.where(probs.sum(-1) > 1e-3, probs.argmax(-1), torch.full_like(s.ray_labels, 255))
            conf_model += confusion_matrix(pred.numpy(), s.ray_labels.numpy(), C)
            conf_input += confusion_matrix(s.input_labels.numpy(), s.ray_labels.numpy(), C)
        return scores_from_confusion(conf_model).miou, scores_from_confusion(conf_input).miou

    def run(self, max_minutes: float | None = None) -> History:
        cfg = self.cfg
        pool = ScanPool(cfg, self.rng, self.segmenter)
        start = time.monotonic()
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train", unit="step")
        while self.step < cfg.steps:
            sample = None
            while sample is None:
                sample = make_sample(pool.draw(), cfg.sample, self.rng, cfg.model.trunc_m)
            parts = self.train_step(sample)
            h = self.history
            h.steps.append(self.step)
            h.semantic.append(parts.semantic)
            h.sdf.append(parts.sdf)
            h.ray_sdf.append(parts.ray_sdf)
            bar.update(1)
            bar.set_postfix(sem=f"{parts.semantic:.3f}", sdf=f"{parts.sdf:.3f}", ray=f"{parts.ray_sdf:.3f}")
            last = self.step >= cfg.steps
            out_of_time = max_minutes is not None and (time.monotonic() - start) / 60 > max_minutes
            if self.step % cfg.val_every == 0 or last or out_of_time:
                miou, input_miou = self.validate()
                h.val_steps.append(self.step)
                h.val_miou.append(miou)
                h.val_input_miou.append(input_miou)
                bar.write(f"step {self.step}: val 2D mIoU {miou:.1f} (2D input {input_miou:.1f})")
                self.save_state()
            if out_of_time:
                bar.write(f"stopping after {max_minutes} min at step {self.step} (resume to continue)")
                break
        bar.close()
        return self.history
