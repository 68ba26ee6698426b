"""Can the SDF head learn geometry from RGB at all? An SDF-only training diagnostic on cached examples.

    python tools/sdf_learnability.py cache runs/sdf_cache_train.pt --seeds 0:50       # 2 examples per scene
    python tools/sdf_learnability.py cache runs/sdf_cache_val.pt --seeds 1000:1010
    python tools/sdf_learnability.py run runs/sdf_cache_train.pt runs/sdf_cache_val.pt --steps 3000 \
        --variants base,tanh,rgb_tanh,bce_tanh,rgb_bce_tanh     # CUDA when present, else one CPU thread
    python tools/sdf_learnability.py spread runs/sdf_cache_val.pt   # photo-consistency the views offer

`cache --style simple|realistic` picks the scene style (default: config/train.yaml's `scene_style`).
`spread` measures what multi-view stereo has to work with: the spread (std across the views a point projects into)
of the raw colours at the supervision points near the surface (|SDF| < 1 voxel) and in free space (SDF > tr/2).

Trains only the geometry path (2D U-Net -> Eq. 1 volume -> SDF head) with the trainer's L1 loss on the
truncated SDF, and prints held-out L1 / tr every tenth of the run. A constant "+tr everywhere" prediction
scores about 0.675 on the validation scenes: a curve that sits there has learned nothing. Variants:
    base   the shipped model and loss (prediction clamped to +-tr before the L1: no gradient once past +tr)
    tanh   tr * tanh(output), L1 on the unclamped value (a gradient everywhere)
    rgb    the raw colours' mean and spread across views (photo-consistency) added to the volume input
    bce    an extra occupancy cross-entropy (inside = sdf < 0) on the same output
    wide   16 instead of 8 channels in the 3D U-Net and M
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from gnesf_ros.model import GNeSF
from gnesf_ros.model.config import ModelConfig
from gnesf_ros.geometry.camera import Camera
from gnesf_ros.model.volume import VolumeNet, build_feature_volume, mean_var_volume, sample_volume


def cache(out: str, seeds: range, per_scene: int, style: str = "") -> None:
    """Cut `per_scene` training examples from each scene (config/train.yaml's sampling, scenes in `style` or the
    config's), keep what the SDF needs."""
    from tqdm import tqdm

    from gnesf_ros.config import load_yaml
    from gnesf_ros.train.config import TrainConfig
    from gnesf_ros.train.samples import make_sample
    from gnesf_ros.train.trainer import make_scan

    cfg = load_yaml(TrainConfig, "config/train.yaml")
    if style:
        cfg.scene_style = style
    torch.set_num_threads(1)
    examples = []
    for seed in tqdm(seeds, desc="scenes", unit="scene"):
        scan, rng, got = make_scan(cfg, seed), np.random.default_rng(seed), 0
        for _ in range(5 * per_scene):
            s = make_sample(scan, cfg.sample, rng, cfg.model.trunc_m)
            if s is None:
                continue
            examples.append(dict(images=(s.images * 255).round().to(torch.uint8), K=s.K, T=s.T_map_cam,
                                 origin=s.origin_m, vs=s.voxel_size_m, dims=s.dims, pts=s.sdf_points.half(),
                                 sdf=s.sdf_true_m.half()))
            got += 1
            if got == per_scene:
                break
    torch.save(examples, out)
    print(f"{len(examples)} examples -> {out}")


class Probe:
    """The geometry path of one variant: model, optional photometric channels, output squashing, loss."""

    def __init__(self, variant: str, device: torch.device):
        self.variant, self.device = variant, device
        wide = "wide" in variant
        cfg = ModelConfig(volume_width=16 if wide else 8, volume_channels=16 if wide else 8)
        self.model = GNeSF(cfg)
        extra = 7 if "rgb" in variant else 0  # mean RGB (3), per-channel spread (3), total spread (1)
        self.model.volume_net = VolumeNet(2 * cfg.feature_channels + 1 + extra, cfg.volume_channels, cfg.volume_width)
        self.model.to(device)
        self.tr = cfg.trunc_m

    def predict(self, ex: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """SDF (P,) metres and the raw head output (P,) at the example's supervision points."""
        dev = self.device
        imgs = ex["images"].to(dev).float() / 255.0  # (V, 3, H, W)
        K, T, origin = ex["K"].to(dev), ex["T"].to(dev), ex["origin"].to(dev)
        feats = self.model.features(imgs)  # (V, D, h, w)
        h, w = feats.shape[-2:]
        feat_camera = Camera(K, T, imgs.shape[-2], imgs.shape[-1]).resized(h, w)
        mean, var, count = mean_var_volume(feats, feat_camera, origin, ex["vs"], ex["dims"])
        B = build_feature_volume(mean, var, count, imgs.shape[0])
        if "rgb" in self.variant:
            small = F.interpolate(imgs, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
            rgb_mean, rgb_var, _ = mean_var_volume(small, feat_camera, origin, ex["vs"], ex["dims"])
            B = torch.cat([B, rgb_mean, rgb_var.sqrt(), rgb_var.sum(0, keepdim=True).sqrt()], 0)
        volume = self.model.volume_net(B)
        pts = ex["pts"].to(dev).float()
        Mx, inside = sample_volume(volume, origin, ex["vs"], pts)
        raw = self.model.sdf_head.net(Mx)[..., 0]
        sdf = self.tr * torch.tanh(raw) if "tanh" in self.variant else self.tr * raw
        free = torch.full_like(sdf, self.tr)
        return torch.where(inside, sdf, free), torch.where(inside, raw, torch.full_like(raw, 5.0))

    def loss(self, ex: dict, train: bool) -> torch.Tensor:
        sdf, raw = self.predict(ex)
        true = ex["sdf"].to(self.device).float().clamp(-self.tr, self.tr)
        pred = sdf if "tanh" in self.variant else sdf.clamp(-self.tr, self.tr)
        loss = F.l1_loss(pred, true) / self.tr
        if train and "bce" in self.variant:
            loss = loss + F.binary_cross_entropy_with_logits(-raw, (true < 0).float())
        return loss


def colour_spread(path: str) -> dict:
    """Median std of the raw colours across the views each supervision point projects into, near the surface and in
    free space (colour in [0, 1]); the gap between the two is the photo-consistency signal RGB-only geometry has."""
    from gnesf_ros.model.features import sample_image

    near, free = [], []
    for ex in torch.load(path):
        imgs = ex["images"].float() / 255.0  # (V, 3, H, W)
        pts, sdf = ex["pts"].float(), ex["sdf"].float()  # (P, 3) map frame, (P,) metres
        vs, tr = float(ex["vs"]), ModelConfig().trunc_m
        uv, _z, valid = Camera(ex["K"].float(), ex["T"].float(), imgs.shape[2], imgs.shape[3]).project(pts)
        cols = sample_image(imgs, uv)  # (V, P, 3)
        seen = valid.float()  # (V, P)
        n = seen.sum(0)
        mean = (cols * seen[..., None]).sum(0) / n.clamp(min=1)[:, None]
        std = (((cols - mean) ** 2 * seen[..., None]).sum(0) / n.clamp(min=1)[:, None]).sqrt().mean(-1)  # (P,)
        ok = n >= 3
        near.append(std[ok & (sdf.abs() < vs)])
        free.append(std[ok & (sdf > tr / 2)])
    near_t, free_t = torch.cat(near), torch.cat(free)
    return {"examples": len(near), "surface_points": int(near_t.numel()), "free_points": int(free_t.numel()),
            "spread_surface_median": round(float(near_t.median()), 4),
            "spread_free_median": round(float(free_t.median()), 4),
            "free_over_surface": round(float(free_t.median() / near_t.median().clamp(min=1e-6)), 2)}


def run(train_path: str, val_path: str, steps: int, variants: list[str], limit_s: float) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(1)
    train, val = torch.load(train_path), torch.load(val_path)
    curves = {}
    for variant in variants:
        torch.manual_seed(0)
        probe = Probe(variant, device)
        opt = torch.optim.Adam(probe.model.parameters(), lr=1e-3)
        pick = torch.Generator().manual_seed(0)
        t0, curve, running, since = time.time(), [], 0.0, 0
        for step in range(1, steps + 1):
            loss = probe.loss(train[int(torch.randint(len(train), (1,), generator=pick))], train=True)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(probe.model.parameters(), 5.0)
            opt.step()
            running, since = running + float(loss.detach()), since + 1
            out_of_time = time.time() - t0 > limit_s
            if step % max(1, steps // 10) == 0 or out_of_time:
                with torch.no_grad():
                    val_l1 = sum(float(probe.loss(ex, train=False)) for ex in val) / len(val)
                curve.append({"step": step, "train_loss": round(running / since, 4), "val_l1": round(val_l1, 4)})
                print(variant, curve[-1], f"{time.time() - t0:.0f} s", flush=True)
                running, since = 0.0, 0
            if out_of_time:
                break
        curves[variant] = curve
    return curves


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache", help="cut and save examples")
    c.add_argument("out")
    c.add_argument("--seeds", required=True, help="A:B")
    c.add_argument("--per-scene", type=int, default=2)
    c.add_argument("--style", choices=["", "simple", "realistic"], default="",
                   help="scene style (default: config/train.yaml's scene_style)")
    sp = sub.add_parser("spread", help="colour spread across views at the surface vs in free space")
    sp.add_argument("examples")
    r = sub.add_parser("run", help="train the variants, print held-out L1 curves")
    r.add_argument("train")
    r.add_argument("val")
    r.add_argument("--steps", type=int, default=3000)
    r.add_argument("--variants", default="base,tanh,rgb_tanh,bce_tanh,rgb_bce_tanh")
    r.add_argument("--limit-s", type=float, default=1e9, help="stop a variant after this many seconds")
    args = p.parse_args()
    if args.cmd == "cache":
        a, b = (int(x) for x in args.seeds.split(":"))
        cache(args.out, range(a, b), args.per_scene, args.style)
    elif args.cmd == "spread":
        print(json.dumps(colour_spread(args.examples)))
    else:
        print(json.dumps(run(args.train, args.val, args.steps, args.variants.split(","), args.limit_s)))


if __name__ == "__main__":
    main()
