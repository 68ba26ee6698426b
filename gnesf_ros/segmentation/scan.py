"""`SegmentedScan`: a synthetic scan whose frames carry a 2D segmenter's probabilities instead of the noise model's.

Training GNeSF on what a real segmenter gets wrong (issue 21, item 3): the vote only has something to learn when its
2D input errs the way a network does (overconfident, wrong on the same object from neighbouring views).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gnesf_ros.errors import InputError


class SegmentedScan:
    """Wraps a scan (`frame(i) -> (Frame, RenderedView)`, `len`); frames get `segmenter`'s softmax as `probs`.

    Everything else (renderer, poses, K, ...) is the wrapped scan's, so training and evaluation code that reads a
    `SyntheticScan` reads this one unchanged.
    """

    def __init__(self, scan: Any, segmenter: Any) -> None:
        self._scan = scan
        self._segmenter = segmenter

    def __len__(self) -> int:
        return len(self._scan)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scan, name)

    def frame(self, i: int) -> tuple[Any, Any]:
        """Frame i with the segmenter's probabilities (H, W, C) float32 on its RGB, and the truth."""
        frame, view = self._scan.frame(i)
        return segmented_frame(frame, self._segmenter), view


def segmented_frame(frame: Any, segmenter: Any) -> Any:
    """`frame` (a `Frame`) with `segmenter`'s probabilities (H, W, C) float32 on its RGB in place of its own; InputError
    when their shape differs from the frame's (class count or image size)."""
    probs = np.ascontiguousarray(segmenter.predict(frame.rgb).transpose(1, 2, 0), dtype=np.float32)  # (C,H,W)->(H,W,C)
    if probs.shape != frame.probs.shape:
        raise InputError(f"segmenter output {probs.shape} does not match the frame's semantics "
                         f"{frame.probs.shape} (class count or image size differs)")
    return dataclasses.replace(frame, probs=probs)
