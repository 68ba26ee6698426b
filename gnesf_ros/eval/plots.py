"""Figures of an evaluation: row-normalised confusion matrices, per-scene label-image rows and reliability diagrams
(matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from gnesf_ros.classes import ClassList


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def normalise_rows(conf: np.ndarray) -> np.ndarray:
    """Confusion counts (C, K) -> each row divided by its sum (rows without samples stay 0)."""
    conf = np.asarray(conf, dtype=np.float64)
    total = conf.sum(axis=1, keepdims=True)
    return np.divide(conf, total, out=np.zeros_like(conf), where=total > 0)


def save_confusion(path: str | Path, conf: np.ndarray, names: Sequence[str], title: str = "") -> None:
    """PNG of a (C, C+1) confusion matrix, rows = true class normalised to 1, last column = unknown.

    Classes absent from the truth are drawn as empty (grey) rows.
    """
    plt = _pyplot()
    conf = np.asarray(conf)
    c = conf.shape[0]
    norm = normalise_rows(conf)
    shown = np.ma.masked_where(np.repeat(conf.sum(axis=1, keepdims=True) == 0, conf.shape[1], axis=1), norm)
    cols = list(names)[:c] + (["unknown"] if conf.shape[1] > c else [])
    # fixed margins (inches) for the rotated class names: tight_layout would cost a second full draw
    w_in, h_in = 0.3 * len(cols) + 2.6, 0.3 * c + 2.0
    fig = plt.figure(figsize=(w_in, h_in))
    ax = fig.add_axes((1.4 / w_in, 1.4 / h_in, 1.0 - 2.2 / w_in, 1.0 - 1.8 / h_in))
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")
    im = ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
    ax.set_yticks(range(c), list(names)[:c], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, cax=fig.add_axes((1.0 - 0.65 / w_in, 1.4 / h_in, 0.15 / w_in, 1.0 - 1.8 / h_in)))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_scene_row(path: str | Path, images: dict[str, np.ndarray], classes: ClassList,
                   order: Sequence[str] | None = None, title: str = "",
                   panel_titles: dict[str, str] | None = None) -> None:
    """PNG of one row of panels: "rgb" (H, W, 3) as is, every other entry a label image (H, W) colour-coded
    with the class palette (unknown = black). `order` picks and orders the panels present in `images`;
    `panel_titles` replaces a panel's title (default: its key)."""
    plt = _pyplot()
    keys = [k for k in (order or list(images)) if k in images]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 2.3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        img = images[key]
        ax.imshow(img if key == "rgb" else classes.colorize(img))
        ax.set_title((panel_titles or {}).get(key, key), fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_reliability(path: str | Path, curves: dict[str, np.ndarray], title: str = "") -> None:
    """PNG of reliability diagrams: for each named (B, 3) array of `metrics.reliability_bins`, accuracy against
    mean confidence per filled bin, with the diagonal a calibrated classifier lies on."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="calibrated")
    for name, bins in curves.items():
        bins = np.asarray(bins, dtype=np.float64)
        filled = bins[:, 0] > 0
        n = bins[filled, 0]
        ax.plot(bins[filled, 2] / n, bins[filled, 1] / n, marker="o", ms=3, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (mean per bin)")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="upper left")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_navigation_layers(path: str | Path, occupancy: np.ndarray, mask: np.ndarray, extent_m: Sequence[float],
                           obstacle_xy: np.ndarray, camera_xy: np.ndarray | None = None,
                           truth_outline_xy: np.ndarray | None = None, mask_name: str = "class") -> None:
    """PNG of the navigation outputs, top-down in the map frame: the occupancy grid (H, W) int8 (white free, black
    occupied, grey unknown) with the obstacle cloud's points (N, 2) and the camera, and a class mask (H, W) with the
    class's true footprint outline (K, 2). `extent_m` = (x0, x1, y0, y1) of the grid."""
    plt = _pyplot()
    occ = np.asarray(occupancy)
    shade = np.where(occ == 100, 0.0, np.where(occ == 0, 1.0, 0.6))
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    axes[0].imshow(shade, origin="lower", extent=extent_m, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if len(obstacle_xy):
        axes[0].scatter(obstacle_xy[:, 0], obstacle_xy[:, 1], s=1, c="tab:red", label="~/obstacle_cloud")
    if camera_xy is not None:
        axes[0].plot(*camera_xy, "b^", markersize=9, label="camera")
    axes[0].set_title("~/occupancy (white free, black occupied, grey unknown)")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].imshow(np.asarray(mask) == 100, origin="lower", extent=extent_m, cmap="Greens", vmin=0, vmax=1,
                   interpolation="nearest")
    if truth_outline_xy is not None:
        closed = np.concatenate([truth_outline_xy, truth_outline_xy[:1]])
        axes[1].plot(closed[:, 0], closed[:, 1], "m-", linewidth=1.5, label="true footprint")
        axes[1].legend(loc="upper right", fontsize=8)
    axes[1].set_title(f"~/class_masks/{mask_name} (green = 100)")
    for ax in axes:
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
