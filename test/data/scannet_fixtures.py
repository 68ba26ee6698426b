"""Tiny ScanNet scans built from known arrays: the same frames as a .sens file and as an exported folder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gnesf_ros.data.sens import write_sens

COLOR_HW = (60, 80)
DEPTH_HW = (30, 40)
K_COLOR = np.array([[70.0, 0, 39.5], [0, 70.0, 29.5], [0, 0, 1]])
K_DEPTH = np.array([[35.0, 0, 19.5], [0, 35.0, 14.5], [0, 0, 1]])  # the colour camera at depth resolution
# raw ScanNet id -> nyu40 id rows of a miniature scannetv2-labels.combined.tsv
TSV_ROWS = [(1, 1), (2, 5), (3, 7), (5, 2), (21, 39), (40, 40), (13, 13)]


@dataclass
class TinyScan:
    jpegs: list[bytes]
    depths: list[np.ndarray]  # (Hd, Wd) uint16 mm
    poses: list[np.ndarray]  # (4, 4) float32
    raw_labels: list[np.ndarray]  # (Hc, Wc) uint16 raw ScanNet ids


def make_tiny_scan(num_frames: int = 4, bad_pose: tuple[int, ...] = (2,), seed: int = 0) -> TinyScan:
    rng = np.random.default_rng(seed)
    jpegs, depths, poses, labels = [], [], [], []
    for i in range(num_frames):
        yy, xx = np.mgrid[0 : COLOR_HW[0], 0 : COLOR_HW[1]]
        rgb = np.stack([(xx * 3 + i * 10) % 256, (yy * 4) % 256, np.full_like(xx, 40 * i % 256)], -1).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        jpegs.append(buf.tobytes())
        depths.append(rng.integers(0, 5000, DEPTH_HW).astype(np.uint16))
        a = 0.1 * i
        T = np.eye(4, dtype=np.float32)
        T[:3, :3] = [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]
        T[:3, 3] = [0.5 * i, 0.25, 1.5]
        if i in bad_pose:
            T[:] = -np.inf
        poses.append(T)
        lab = np.zeros(COLOR_HW, dtype=np.uint16)
        ids = [r for r, _ in TSV_ROWS] + [999]
        for k, rid in enumerate(ids):
            lab[:, k * 10 : (k + 1) * 10] = rid
        labels.append(np.roll(lab, i, axis=1))
    return TinyScan(jpegs, depths, poses, labels)


def write_tsv(path: Path) -> Path:
    lines = ["id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass"]
    lines += [f"{r}\tname{r}\tname{r}\t1\t{n}\t0\tx" for r, n in TSV_ROWS]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_sens_scan(folder: Path, scan: TinyScan, scene: str = "scene0000_00") -> Path:
    """<folder>/<scene>.sens + <folder>/label-filt/<i>.png; returns the .sens path."""
    folder.mkdir(parents=True, exist_ok=True)
    sens = folder / f"{scene}.sens"
    write_sens(sens, K_COLOR, K_DEPTH, scan.jpegs, scan.depths, scan.poses, COLOR_HW)
    _write_labels(folder / "label-filt", scan)
    return sens


def write_exported_scan(folder: Path, scan: TinyScan) -> Path:
    """The layout ScanNet's SensReader exports (poses written with float32-exact precision)."""
    for sub in ("color", "depth", "pose", "intrinsic"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for name, K in (("intrinsic_color.txt", K_COLOR), ("intrinsic_depth.txt", K_DEPTH)):
        K4 = np.eye(4)
        K4[:3, :3] = K
        np.savetxt(folder / "intrinsic" / name, K4, fmt="%.9g")
    for i, (jpg, depth, pose) in enumerate(zip(scan.jpegs, scan.depths, scan.poses)):
        (folder / "color" / f"{i}.jpg").write_bytes(jpg)
        cv2.imwrite(str(folder / "depth" / f"{i}.png"), depth)
        np.savetxt(folder / "pose" / f"{i}.txt", pose.astype(np.float64), fmt="%.9g")
    _write_labels(folder / "label-filt", scan)
    return folder


def _write_labels(folder: Path, scan: TinyScan) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, lab in enumerate(scan.raw_labels):
        cv2.imwrite(str(folder / f"{i}.png"), lab)
