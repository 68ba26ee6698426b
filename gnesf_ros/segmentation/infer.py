"""`Segmenter`: a loaded `SegNet` on a device, RGB images (H, W, 3) uint8 -> class probabilities (C, H, W)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from gnesf_ros.errors import InputError
from gnesf_ros.segmentation.checkpoint import load_segmenter
from gnesf_ros.segmentation.network import OUTPUT_STRIDE, SegNet


class Segmenter:
    """Inference wrapper: pads to the network's stride, runs it without gradients, returns softmax probabilities."""

    def __init__(self, model: SegNet, class_names: Sequence[str], device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.class_names = list(class_names)

    @classmethod
    def from_checkpoint(cls, path: str | Path, class_names: Sequence[str] | None = None,
                        device: str | torch.device = "cpu") -> "Segmenter":
        """Load `path` (class list checked against `class_names` when given) onto `device`."""
        model, names, _ = load_segmenter(path, class_names, map_location=device)
        return cls(model, names, device)

    @property
    def num_classes(self) -> int:
        return self.model.cfg.num_classes

    @torch.inference_mode()
    def predict_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """RGB (H, W, 3) uint8 -> probabilities (C, H, W) float32 on the segmenter's device (sum 1 per pixel)."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
            raise InputError(f"Segmenter expects RGB (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        h, w = rgb.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        ph, pw = -h % OUTPUT_STRIDE, -w % OUTPUT_STRIDE
        if ph or pw:  # replicate the border up to the stride; the padding is cropped from the output
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        logits = self.model(x)[0, :, :h, :w]
        return torch.softmax(logits, dim=0)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """RGB (H, W, 3) uint8 -> probabilities (C, H, W) float32 numpy."""
        return self.predict_tensor(rgb).float().cpu().numpy()

    def labels_and_confidence(self, rgb: np.ndarray, min_confidence: float = 0.0,
                              unknown_id: int = 255) -> tuple[np.ndarray, np.ndarray]:
        """RGB -> argmax labels (H, W) uint8 (`unknown_id` where the top probability < min_confidence) and the
        top probability (H, W) float32."""
        probs = self.predict_tensor(rgb)
        conf, labels = probs.max(dim=0)
        labels = labels.to(torch.uint8)
        if min_confidence > 0.0:
            labels[conf < min_confidence] = unknown_id
        return labels.cpu().numpy(), conf.float().cpu().numpy()
