"""The gnesf_segmenter node in its own process, and a tiny random-weight checkpoint for it (tests need no trained
segmenter)."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from ros_harness import REPO, NodeProcess, _param_text, subprocess_env, wait_until

PARAMS_FILE = REPO / "config" / "segmenter.yaml"


class SegmenterProcess(NodeProcess):
    """`python -m gnesf_ros.ros.segmenter_node` with config/segmenter.yaml and `params` on top."""

    def __init__(self, params: dict) -> None:
        cmd = [sys.executable, "-m", "gnesf_ros.ros.segmenter_node", "--ros-args", "--params-file", str(PARAMS_FILE)]
        for k, v in params.items():
            cmd += ["-p", f"{k}:={_param_text(v)}"]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        wait_until(lambda: not self.alive() or any("gnesf_segmenter ready" in ln for ln in self.lines), timeout_s,
                   "the segmenter node to start")
        assert self.alive(), f"node exited with {self.proc.returncode}:\n{self.output}"


def write_tiny_checkpoint(path: Path) -> Path:
    """A random-weight checkpoint of the real architecture, narrow for speed, with the ScanNet-20 class list."""
    import torch

    from gnesf_ros.classes import ClassList
    from gnesf_ros.segmentation.checkpoint import save_segmenter
    from gnesf_ros.segmentation.config import SegNetConfig
    from gnesf_ros.segmentation.network import SegNet

    torch.manual_seed(0)
    save_segmenter(SegNet(SegNetConfig(width_mult=0.25, head_channels=16, skip_channels=8)),
                   ClassList.from_yaml().names, path)
    return path
