"""The gnesf_segmenter node over real middleware: an image in, labels (or probabilities) with the same header out,
bad encodings skipped with one log line, the newest image always taken, and a clear refusal without a checkpoint."""
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("rclpy")
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from ros_harness import NodeProcess, Probe, wait_until  # noqa: E402
from segmenter_harness import PARAMS_FILE, SegmenterProcess, write_tiny_checkpoint  # noqa: E402

from gnesf_ros.ros.params import field_docs  # noqa: E402
from gnesf_ros.ros.segmenter_node import SegmenterNodeParams  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(300)]
H, W = 48, 64


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("seg") / "tiny.pt")


class Rig:
    """The probe node: a colour publisher, collectors of the outputs and of the segmenter's diagnostics."""

    def __init__(self, reliable: bool = True) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.probe = Probe()
        qos = QoSProfile(depth=30, reliability=ReliabilityPolicy.RELIABLE if reliable else
                         ReliabilityPolicy.BEST_EFFORT)
        self.pub = self.probe.node.create_publisher(Image, "color/image", qos)
        self.labels = self.probe.subscribe(Image, "semantic/image", QoSProfile(depth=30))
        self.confidence = self.probe.subscribe(Image, "semantic/confidence", QoSProfile(depth=30))
        self.diag: dict[str, str] = {}
        self.probe.subscribe(DiagnosticArray, "/diagnostics", QoSProfile(depth=10), self._on_diag)

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            if status.name.endswith(": segmenter"):
                self.diag = {kv.key: kv.value for kv in status.values}

    def diag_int(self, key: str) -> int:
        return int(self.diag.get(key, "0"))

    def send(self, rgb: np.ndarray, stamp_s: int, encoding: str = "rgb8") -> None:
        from std_msgs.msg import Header

        from gnesf_ros.ros.conversions import ns_to_stamp, numpy_to_image

        header = Header(stamp=ns_to_stamp(stamp_s * 1_000_000_000 + 5), frame_id="cam_optical")
        msg = numpy_to_image(rgb, "rgb8", header)
        msg.encoding = encoding  # a wrong label on the same bytes
        self.pub.publish(msg)

    def wait_matched(self, node: NodeProcess, confidence: bool = True) -> None:
        """Our colour publisher matched the node's subscription, and our output subscriptions its publishers (a
        volatile reliable message published before its reader matched is never delivered to it); `confidence`:
        the node publishes semantic/confidence too (output: labels)."""
        wait_until(lambda: self.pub.get_subscription_count() >= 1, 60, "the node's color/image subscription")
        topics = ("/semantic/image", "/semantic/confidence") if confidence else ("/semantic/image",)
        outputs = [s for s in self.probe.node.subscriptions if s.topic_name.endswith(topics)]
        wait_until(lambda: all(s.get_publisher_count() >= 1 for s in outputs), 60,
                   f"the node's publishers of {topics} matched")


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def test_labels_mode_same_stamp_bad_encoding_and_newest_first(checkpoint):
    from gnesf_ros.ros.conversions import image_to_numpy, stamp_to_ns
    from gnesf_ros.segmentation.infer import Segmenter

    rig = Rig()
    node = SegmenterProcess({"checkpoint": str(checkpoint), "input_qos": "reliable", "diagnostics_rate_hz": 10.0,
                             "bad_input_log_period_s": 600.0})
    try:
        node.wait_ready()
        rig.wait_matched(node)
        rgb = image(1)
        rig.send(rgb, 100)
        wait_until(lambda: rig.labels and rig.confidence, 60, "labels and confidence")
        lab, conf = rig.labels[0], rig.confidence[0]
        for msg in (lab, conf):
            assert stamp_to_ns(msg.header.stamp) == 100_000_000_005 and msg.header.frame_id == "cam_optical"
        assert lab.encoding == "mono8" and conf.encoding == "32FC1" and (lab.height, lab.width) == (H, W)
        expected_lab, expected_conf = Segmenter.from_checkpoint(checkpoint).labels_and_confidence(rgb)
        got_lab = image_to_numpy(lab)
        assert (got_lab == expected_lab).mean() > 0.999
        np.testing.assert_allclose(image_to_numpy(conf), expected_conf, atol=1e-4)

        # bad encodings: each skipped and counted, one log line, the node keeps working
        for i in range(3):
            rig.send(image(2), 101 + i, encoding="yuv422")
            wait_until(lambda: rig.diag_int("bad_input.color_image") == i + 1, 30, f"bad input {i + 1} counted")
        rig.send(image(3), 110)
        wait_until(lambda: len(rig.labels) == 2, 30, "the next good image's labels")
        assert stamp_to_ns(rig.labels[1].header.stamp) == 110_000_000_005
        lines = [ln for ln in node.lines if "[bad input: color_image]" in ln]
        assert len(lines) == 1 and "colour image encoding 'yuv422' not supported" in lines[0], lines

        # a burst: every image is either segmented or dropped as stale, and the newest is always segmented
        for k in range(12):
            rig.send(image(10 + k), 200 + k)
        wait_until(lambda: rig.diag_int("received") == 1 + 3 + 1 + 12
                   and rig.diag_int("frames_segmented") + rig.diag_int("dropped_stale") + 3 == 17, 60,
                   f"the burst accounted for (diagnostics {rig.diag})")
        wait_until(lambda: stamp_to_ns(rig.labels[-1].header.stamp) == 211_000_000_005, 30, "the newest image")
        assert node.alive() and "Traceback" not in node.output
    finally:
        node.stop()
        rig.probe.close()


def test_keep_every_image_labels_a_burst_in_order(checkpoint):
    """keep_every_image (recorded data): a burst faster than the node segments is labelled whole, in order."""
    from gnesf_ros.ros.conversions import stamp_to_ns

    rig = Rig()
    node = SegmenterProcess({"checkpoint": str(checkpoint), "input_qos": "reliable", "keep_every_image": True,
                             "diagnostics_rate_hz": 10.0})
    try:
        node.wait_ready()
        rig.wait_matched(node)
        for k in range(20):
            rig.send(image(30 + k), 300 + k)
        wait_until(lambda: len(rig.labels) == 20 and len(rig.confidence) == 20, 60, "every image's labels")
        assert [stamp_to_ns(m.header.stamp) for m in rig.labels] == [(300 + k) * 1_000_000_000 + 5 for k in range(20)]
        wait_until(lambda: rig.diag_int("frames_segmented") == 20, 30, f"diagnostics {rig.diag}")
        assert rig.diag_int("dropped_stale") == 0 and rig.diag_int("dropped_queue_full") == 0
    finally:
        node.stop()
        rig.probe.close()


def test_probabilities_mode(checkpoint):
    from gnesf_ros.ros.conversions import image_to_numpy, stamp_to_ns

    rig = Rig(reliable=False)  # best-effort publisher into the default sensor_data subscription
    node = SegmenterProcess({"checkpoint": str(checkpoint), "output": "probabilities"})
    try:
        node.wait_ready()
        rig.wait_matched(node, confidence=False)

        def sent_and_got():
            rig.send(image(4), 300)  # best effort: resend until one arrives
            return rig.labels

        wait_until(sent_and_got, 60, "probabilities", poll_s=0.5)
        msg = rig.labels[0]
        assert msg.encoding == "32FC20" and stamp_to_ns(msg.header.stamp) == 300_000_000_005
        probs = image_to_numpy(msg)
        assert probs.shape == (H, W, 20)
        np.testing.assert_allclose(probs.sum(axis=2), 1.0, atol=1e-4)
        assert not rig.confidence  # no confidence image in this mode
    finally:
        node.stop()
        rig.probe.close()


def test_missing_checkpoint_fails_in_one_line(tmp_path):
    missing = tmp_path / "none.pt"
    node = SegmenterProcess({"checkpoint": str(missing)})
    node.proc.wait(90)
    node._reader.join(5)
    assert node.proc.returncode == 2
    fatal = [ln for ln in node.lines if "FATAL" in ln]
    assert len(fatal) == 1 and str(missing) in fatal[0] and "make train-segmenter" in fatal[0], node.output


def test_cuda_without_a_gpu_refused_in_one_line(checkpoint):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the refusal is for machines without one")
    node = SegmenterProcess({"checkpoint": str(checkpoint), "device": "cuda"})
    node.proc.wait(90)
    node._reader.join(5)
    assert node.proc.returncode == 2
    fatal = [ln for ln in node.lines if "FATAL" in ln]
    assert len(fatal) == 1 and "device 'cuda' requested but torch sees no CUDA device" in fatal[0], node.output


def test_segmenter_yaml_lists_every_parameter_with_its_default_and_a_comment():
    import dataclasses

    text = PARAMS_FILE.read_text()
    values = yaml.safe_load(text)["/**"]["ros__parameters"]
    defaults = SegmenterNodeParams()
    names = [f.name for f in dataclasses.fields(SegmenterNodeParams)]
    assert list(values) == names
    docs = field_docs(SegmenterNodeParams)
    lines = text.splitlines()
    for name in names:
        assert values[name] == getattr(defaults, name) and type(values[name]) is type(getattr(defaults, name)), name
        assert docs.get(name), f"{name} has no docstring"
        i = next(i for i, ln in enumerate(lines) if ln.startswith(f"    {name}: "))
        assert lines[i - 1].lstrip().startswith("#") and "Default:" in lines[i - 1], name
