"""`make demo` / `gnesf-demo`: a held-out synthetic scan through the real ROS 2 node, and what comes out.

    gnesf-demo [--out demo_output] [--frames 200] [--checkpoint PATH | --random-checkpoint] [--rate 1.0]
               [--semantics segmenter|noise] [--style simple|realistic]

Pipeline (five processes on a private ROS 2 graph: a random ROS_DOMAIN_ID, localhost discovery, the
large-data transport):
  1. the scan `demo_seed` of config/data.yaml (test split, never trained on) is generated from its seed
     and written to `OUT/input_bag` (rosbag2/MCAP: colour, camera_info, depth, poses; ~70 MB even compressed,
     so it is generated, not shipped): every 10th frame is a held-out novel view and is left out of the bag;
  2. `gnesf_ros.ros.recorder` records the node's outputs to `OUT/recording/recording.mcap`;
  3. the mapping node starts as `ros2 launch gnesf_ros mapping.launch.py` starts it (the `mapping_node`
     entry with `--ros-args --params-file config/mapping.yaml`, the launch file's remappings) plus a small
     override file `OUT/demo_params.yaml` (checkpoint; a queue that keeps every frame);
  4. `gnesf_segmenter` (the shipped 2D segmenter, config/segmenter.yaml, as `segmenter:=true` starts it) labels
     the colour images live: colour + depth + poses are all the two nodes get;
  5. `gnesf-play` publishes the bag at recorded timing slowed down (--rate 0.15: the node maps slower than
     that anyway); a progress bar follows the node's /diagnostics.
With `--semantics noise` (the ablation) there is no segmenter node: the bag also carries the segmenter-noise
model's labels + confidence, and those are played to the node.
Meanwhile the baselines (input_2d, bayes_fusion, majority_vote) map the same frames in this process, with the same
2D input (the same segmenter run here on the same images, or the noise-model labels of the bag). After
the replay the node's services are called: ~/flush, ~/save_map, ~/save_ply, ~/save_mesh, ~/render_view at novel
poses. renders/view_NN.png show each novel view's RGB, the 2D input there, the node's render and the truth, each
with its mIoU; `map_preview.png` shows the semantic mesh (meshed here from the saved map, as the node meshes it)
from two viewpoints, coloured by class and by the images' colour, next to the scene's true mesh.
Scores use gnesf_ros.eval (`evaluate_scene`, Atlas 3D protocol), so the 3D numbers equal
`gnesf-eval synthetic --seeds SEED --frames N --input-format labels --methods gnesf_depth ...`.

Every wait has a timeout; every failure ends with one message saying what to do; children are always stopped.
This module is the orchestration; the pieces: `cli/processes.py` (child processes), `ros/demo_probe.py` (the
rclpy side, imported lazily), `eval/demo_report.py` (metrics.json's node counters, report.md, pictures).
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib.util
import json
import os
import random
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gnesf_ros.classes import ClassList
from gnesf_ros.cli.processes import Child, wait_until
from gnesf_ros.errors import DemoError, GnesfError
from gnesf_ros.eval import demo_report
from gnesf_ros.paths import checkpoint_path, config_path, share_dir

NODE = "/gnesf_mapping"
MARKER = ".gnesf-demo"  # marks a folder the demo may empty before a new run
INPUT_TOPICS = ["/color/image", "/color/camera_info", "/semantic/image", "/semantic/confidence", "/tf"]
SEMANTIC_TOPICS = ["/semantic/image", "/semantic/confidence"]
DEMO_SEMANTICS = ("noise", "segmenter")


@dataclass
class DemoOptions:
    """What `run_demo` does (defaults: the shipped demo)."""

    out_dir: Path = Path("demo_output")
    """Output folder; emptied first when it holds an earlier demo's outputs, refused when it holds anything else."""
    seed: int | None = None
    """Synthetic scene; None = `demo_seed` of config/data.yaml."""
    frames: int = 200
    """Frames of the scan (every `every_k_target`-th is a held-out novel view, the rest are replayed)."""
    height: int = 240
    width: int = 320
    every_k_target: int = 10
    render_views: int = 4
    """Held-out poses rendered by the node's ~/render_view (PNGs in renders/, scored in 2D)."""
    checkpoint: Path | None = None
    """GNeSF checkpoint; None = the one shipped in the package (gnesf_ros/checkpoints/gnesf.pt)."""
    rate: float = 0.15
    """Playback speed of the bag (0.15: 4.5 frames/s). The node maps slower than 30 Hz anyway (its queue keeps every frame); a slower
    replay leaves the DDS readers time to take each image on a busy 2-core machine (none lost)."""
    keyframe_images: bool = False
    """Let the node render ~/semantic_image and ~/label_image at every keyframe (recorded in the MCAP). Costs ~4 s
    per keyframe on a 2-core CPU (~2 more minutes for the shipped scan), so it is off by default."""
    geometry_source: str = "depth"
    """The node's `geometry_source`. The demo scan has a depth camera, and with the shipped model the depth
    TSDF gives far better geometry than the learned RGB-only SDF (docs/model_card.md has both), so the demo
    maps with depth; `--geometry learned` shows the RGB-only path."""
    style: str | None = None
    """Scene style of the scan ("simple" | "realistic"); None = `synthetic.style` of config/data.yaml."""
    semantics: str = "segmenter"
    """2D input: "segmenter" (the shipped segmenter node labels the replayed colour images live; the bag has no
    semantic topics) or "noise" (the bag's labels from the segmenter-noise model, played to the node)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Extra node parameters (override config/mapping.yaml; then the 3D score is no longer gnesf-eval's)."""
    node_start_timeout_s: float = 180.0
    mapping_timeout_s: float = 900.0
    """Longest the node may take to map the replayed frames."""
    stall_timeout_s: float = 120.0
    """Give up when the node made no progress for this long after the player finished."""
    service_timeout_s: float = 300.0
    progress: bool = True
    figures: bool = True


# ------------------------------------------------------------------------------------------- checks
def check_environment(opts: DemoOptions) -> Path:
    """Everything the demo needs before it starts a process; returns the checkpoint path."""
    if opts.semantics not in DEMO_SEMANTICS:
        raise DemoError(f"--semantics must be one of {DEMO_SEMANTICS}, got {opts.semantics!r}")
    if opts.semantics == "segmenter" and not checkpoint_path("segmenter.pt").is_file():
        raise DemoError(f"no segmenter checkpoint at {checkpoint_path('segmenter.pt')}: train one with "
                        "'make train-segmenter', or run the demo with --semantics noise")
    ckpt = Path(opts.checkpoint) if opts.checkpoint else checkpoint_path()
    if not ckpt.is_file():
        raise DemoError(f"no GNeSF checkpoint at {ckpt}. Train one with 'make train' (it installs "
                        f"{checkpoint_path()}), or pass --checkpoint PATH. To check the pipeline without a trained "
                        "model: 'make demo DEMO_ARGS=--random-checkpoint' (random weights: meaningless scores)")
    try:
        import open3d  # noqa: F401 - the synthetic scene renderer needs it
    except OSError as exc:
        raise DemoError(f"open3d cannot load ({exc}). It needs Debian's libusb: run "
                        "'sudo apt-get install libusb-1.0-0' and retry") from exc
    except ImportError as exc:
        raise DemoError(f"open3d is not installed ({exc}): run 'make setup'") from exc
    # Found, not imported: only gnesf_ros/ros/ imports rclpy (ros/demo_probe.py does, once the demo runs).
    missing = [name for name in ("rclpy", "gnesf_ros_msgs") if importlib.util.find_spec(name) is None]
    if missing:
        raise DemoError(f"ROS 2 Python packages are missing ({', '.join(missing)}): run 'make setup' (it builds the "
                        "gnesf_ros_msgs interfaces into build/ros_ws)")
    return ckpt


def launch_remappings(launch_file: Path | None = None) -> list[tuple[str, str]]:
    """The (node input, topic) remappings of launch/mapping.launch.py with its default arguments, read from the
    launch file itself (its INPUT_TOPICS table) so the demo starts the node exactly as the launch file does."""
    path = launch_file or share_dir() / "launch" / "mapping.launch.py"
    try:
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "INPUT_TOPICS" for t in node.targets):
                return [(node_input, node_input) for _arg, node_input, _doc in ast.literal_eval(node.value)]
    except (OSError, SyntaxError, ValueError) as exc:
        raise DemoError(f"cannot read the remappings of {path}: {exc}") from exc
    raise DemoError(f"{path} has no INPUT_TOPICS table")


def prepare_out_dir(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise DemoError(f"{out} exists and is not a demo output folder: remove it or pass --out OTHER")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by gnesf-demo; emptied by the next run\n")


def ros_env(domain_id: int) -> dict[str, str]:
    from gnesf_ros.ros.environment import ros_subprocess_env

    env = ros_subprocess_env()
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               FASTDDS_BUILTIN_TRANSPORTS="LARGE_DATA", PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0")
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    return env


# ------------------------------------------------------------------------------------- the node as an eval method
class NodeMethod:
    """The running node seen as a `gnesf_ros.eval.evaluate` method: `finish()` waits for the node to map the
    replayed frames and calls its services; 2D labels come from ~/render_view, 3D points from ~/semantic_cloud."""

    has_2d = True
    has_3d = True

    def __init__(self, run: "_Run") -> None:
        self.run = run
        self.renders: list[dict[str, np.ndarray]] = []

    def add_frame(self, frame: Any) -> None:  # the node gets the frames from the bag player
        pass

    def finish(self) -> None:
        self.run.wait_mapped()
        self.run.finish_map()

    def render_labels(self, target: Any) -> np.ndarray:
        label, color = self.run.render_view(target.K, target.T_map_cam, target.height, target.width)
        self.renders.append({"rgb": target.rgb, "input_2d": target.input_label, "gnesf": label, "truth": target.truth})
        return label.astype(np.int64)

    def surface(self) -> tuple[np.ndarray, np.ndarray]:
        return self.run.cloud_xyz.astype(np.float64), self.run.cloud_label.astype(np.int64)


# ------------------------------------------------------------------------------------------------- run
class _Run:
    """State of one demo run: children, probe, progress, timings."""

    def __init__(self, opts: DemoOptions, out: Path, n_inputs: int) -> None:
        self.opts, self.out, self.n_inputs = opts, out, n_inputs
        self.children: dict[str, Child] = {}
        self.probe: Any = None  # ros.demo_probe.DemoProbe once started
        self.timings: dict[str, float] = {}
        self.cloud_xyz = np.zeros((0, 3), np.float32)
        self.cloud_label = np.zeros(0, np.uint16)
        self.node_stats: dict[str, str] = {}
        self._bar: Any = None
        self._bar_stop = threading.Event()
        self._bar_thread: threading.Thread | None = None
        self.replay_started = 0.0

    # -- progress ---------------------------------------------------------------------------------
    def start_progress(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=self.n_inputs, desc="replay -> gnesf_mapping", unit="frame", dynamic_ncols=True,
                         disable=not self.opts.progress, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} frames "
                                                                    "[{elapsed}<{remaining}{postfix}]")
        self._bar_thread = threading.Thread(target=self._update_bar, daemon=True)
        self._bar_thread.start()

    def _update_bar(self) -> None:
        while not self._bar_stop.wait(0.5):
            self._refresh_bar()

    def _refresh_bar(self) -> None:
        p = self.probe
        if p is None or self._bar is None:
            return
        mapped = p.diag_int("frames_mapped")
        self._bar.n = min(mapped, self.n_inputs)
        cloud = p.cloud.width if p.cloud is not None else 0
        self._bar.set_postfix_str(f"keyframes {p.diag_int('keyframes')}, fragments {p.diag_int('mapper.fragments')}, "
                                  f"voxels {p.diag_int('mapper.voxels'):,}, cloud {cloud:,} pts", refresh=True)

    def stop_progress(self) -> None:
        self._bar_stop.set()
        if self._bar_thread is not None:
            self._bar_thread.join(2.0)
        if self._bar is not None:
            self._refresh_bar()
            self._bar.close()

    # -- mapping ----------------------------------------------------------------------------------
    def wait_mapped(self) -> None:
        """Until the node mapped every replayed frame (or, once the player ended, stopped making progress)."""
        p, player, node = self.probe, self.children["player"], self.children["node"]
        assert p is not None
        deadline = time.monotonic() + self.opts.mapping_timeout_s
        last_change, last = time.monotonic(), None
        while True:
            mapped = p.diag_int("frames_mapped")
            state = (mapped, p.diag_int("received.semantic"), p.diag_int("queue.length"))
            if state != last:
                last, last_change = state, time.monotonic()
            if not node.alive():
                raise DemoError(f"the mapping node exited (code {node.proc.returncode}) while mapping; its last "
                                f"lines:\n{node.tail()}\n  full log: {node.log.name}")
            if not player.alive() and player.proc.returncode != 0:
                raise DemoError(f"the bag player failed (code {player.proc.returncode}):\n{player.tail()}")
            if mapped >= self.n_inputs:
                break
            if not player.alive() and p.diag_int("queue.length") == 0 and time.monotonic() - last_change > 5.0:
                # the player is done and nothing moved for 5 s: some frames never arrived (counted in the report);
                # a fusion still running finishes before ~/flush (both take the node's map lock)
                break
            if time.monotonic() - last_change > self.opts.stall_timeout_s:
                raise DemoError(f"the node mapped no frame for {self.opts.stall_timeout_s:.0f} s ({mapped}/"
                                f"{self.n_inputs} mapped; diagnostics: waiting_for_pose "
                                f"{p.diag.get('waiting_for_pose')}, bad input "
                                f"{ {k: v for k, v in p.diag.items() if k.startswith('bad_input')} }). Node log: "
                                f"{node.log.name}")
            if time.monotonic() > deadline:
                raise DemoError(f"mapping took longer than {self.opts.mapping_timeout_s:.0f} s ({mapped}/"
                                f"{self.n_inputs} frames): the machine is too slow or overloaded; try --frames 100")
            time.sleep(0.1)
        self.timings["replay_and_mapping_s"] = time.monotonic() - self.replay_started
        self.stop_progress()
        self.node_stats = dict(p.diag)

    def finish_map(self) -> None:
        """~/flush, wait for the final cloud, ~/save_map, ~/save_ply, ~/save_mesh."""
        p = self.probe
        assert p is not None
        t0 = time.monotonic()
        version = p.cloud_count
        if p.flush(self.opts.service_timeout_s) != "nothing pending":  # wait for the cloud of the fused window
            wait_until(lambda: p.cloud_count > version, 60.0, "the semantic cloud after ~/flush")
        # the node publishes the cloud within 1 / publish_rate_hz of any change: once none came for longer than
        # that, the last one is the final map
        quiet_s = 1.5 / float(self.opts.params.get("publish_rate_hz", 1.0)) + 0.5
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            seen = p.cloud_count
            time.sleep(quiet_s)
            if p.cloud_count == seen:
                break
        self.timings["flush_s"] = time.monotonic() - t0
        self.cloud_xyz, self.cloud_label = p.cloud_points()
        for srv, name in (("save_map", "map.gnesfmap"), ("save_ply", "map.ply"), ("save_mesh", "mesh.ply")):
            p.save(srv, str((self.out / name).resolve()), self.opts.service_timeout_s)
        self.node_stats = dict(p.diag) or self.node_stats

    def render_view(self, K: np.ndarray, T_map_cam: np.ndarray, height: int, width: int) -> tuple[np.ndarray, ...]:
        assert self.probe is not None
        t0 = time.monotonic()
        try:
            return self.probe.render_view(K, T_map_cam, height, width, self.opts.service_timeout_s)
        finally:
            self.timings.setdefault("render_view_s", []).append(round(time.monotonic() - t0, 2))  # type: ignore[union-attr]

    def stop_all(self) -> None:
        self.stop_progress()
        order = ["player", "segmenter", "node", "recorder"]  # the recorder last: it records until the node is gone
        for name in order + [n for n in self.children if n not in order]:
            child = self.children.get(name)
            if child is not None:
                child.stop(timeout_s=60.0 if name == "recorder" else 15.0)
        if self.probe is not None:
            self.probe.close()
            self.probe = None


# ------------------------------------------------------------------------------------------------ demo
def write_input_bag(path: Path, seed: int, opts: DemoOptions) -> int:
    """The replayed frames (all but the held-out ones) as a rosbag2: colour, camera_info, depth (used only with
    geometry_source depth), pose, TF; with `semantics` "noise" also the noise model's labels + confidence and the
    truth, with "segmenter" nothing semantic (the segmenter node labels the colour). Returns the frames written."""
    from gnesf_ros.data.bag import write_frames_to_bag
    from gnesf_ros.eval.evaluate import make_synthetic_scan, target_indices

    scan = make_synthetic_scan(seed, opts.frames, opts.height, opts.width, opts.style)
    held = set(target_indices(len(scan), opts.every_k_target))
    keep = [i for i in range(len(scan)) if i not in held]

    def frames():
        for i in keep:
            frame, view = scan.frame(i)
            yield frame, np.asarray(view.labels, dtype=np.uint8)

    semantic = opts.semantics != "segmenter"
    meta = {"source": "synthetic", "seed": str(seed), "style": scan.style,
            "semantics": "noise" if semantic else "none", "frames": str(opts.frames),
            "held_out_every": str(opts.every_k_target)}
    return write_frames_to_bag(path, frames(), metadata=meta, total=len(keep), progress=opts.progress,
                               semantics=semantic)


def _depth_mode(opts: DemoOptions) -> bool:
    return opts.params.get("geometry_source", opts.geometry_source) == "depth"


def played_topics(opts: DemoOptions) -> tuple[list[str], list[str]]:
    """(topics the player publishes, topics it waits for subscribers on, as `gnesf-play --wait-for-subscribers`
    takes them): with `semantics` "segmenter" the bag's semantic topics stay unplayed (the segmenter node publishes
    them) and the colour topic waits for both nodes; depth only with depth geometry."""
    segmenter = opts.semantics == "segmenter"
    inputs = [t for t in INPUT_TOPICS if not segmenter or t not in SEMANTIC_TOPICS]
    waited = [f"{t}=2" if segmenter and t == "/color/image" else t for t in inputs]
    return inputs + ["/tf_static"] + (["/depth/image"] if _depth_mode(opts) else []), waited


def _offline_method(opts: DemoOptions) -> str:
    """The gnesf-eval method that maps like the demo's node (its row matches the node's "gnesf" row)."""
    return "gnesf_depth" if _depth_mode(opts) else "gnesf"


def _params_file(path: Path, ckpt: Path, opts: DemoOptions) -> Path:
    import yaml

    params = {"checkpoint": str(ckpt.resolve()),
              "queue_size": 10000,  # the bag is faster than a small CPU maps: keep every frame (nothing dropped)
              "thin_non_keyframes": False,  # every frame, as the offline methods it is compared with
              "input_qos": "reliable",  # a recorded bag: no image may be lost on the way (sensor_data drops them)
              "publish_keyframe_images": opts.keyframe_images,  # outputs only: the map is the same either way
              "geometry_source": opts.geometry_source,
              **opts.params}
    path.write_text("# Demo overrides of config/mapping.yaml (a node-name section beats the /** wildcard).\n"
                    + yaml.safe_dump({"gnesf_mapping": {"ros__parameters": params}}, sort_keys=True))
    return path


def run_demo(opts: DemoOptions) -> dict[str, Any]:
    """Run the demo; returns the metrics written to OUT/metrics.json. Raises DemoError with what to do."""
    from gnesf_ros.data.synthetic import SyntheticDataConfig
    from gnesf_ros.eval.evaluate import build_methods, evaluate_scene, summarize, synthetic_scene

    t_start = time.monotonic()
    ckpt = check_environment(opts)
    data = SyntheticDataConfig.from_yaml()
    seed = opts.seed if opts.seed is not None else data.demo_seed
    opts = dataclasses.replace(opts, style=opts.style or data.style)
    out = Path(opts.out_dir).resolve()
    prepare_out_dir(out)
    (out / "logs").mkdir()
    classes = ClassList.from_yaml()
    log = print if opts.progress else (lambda *a, **k: None)

    log(f"[1/4] generating held-out synthetic scan {seed} ({opts.frames} frames, {opts.width}x{opts.height}) "
        f"-> {out / 'input_bag'}")
    t0 = time.monotonic()
    n_inputs = write_input_bag(out / "input_bag", seed, opts)
    timings: dict[str, Any] = {"generate_bag_s": round(time.monotonic() - t0, 1)}

    domain = random.SystemRandom().randint(10, 200)
    env = ros_env(domain)
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE",
                                            "FASTDDS_BUILTIN_TRANSPORTS")})
    run = _Run(opts, out, n_inputs)
    py = sys.executable
    try:
        log(f"[2/4] starting recorder and mapping node (ROS_DOMAIN_ID={domain}, localhost only)")
        from gnesf_ros.ros.demo_probe import DemoProbe

        run.probe = DemoProbe(NODE)
        run.children["recorder"] = Child("recorder", [py, "-m", "gnesf_ros.ros.recorder", str(out / "recording"),
                                                      "--node", NODE], env, out / "logs" / "recorder.log")
        run.children["recorder"].wait_for_line("recording", 60.0, "its subscriptions")
        params = _params_file(out / "demo_params.yaml", ckpt, opts)
        remaps = [a for src, dst in launch_remappings() for a in ("-r", f"{src}:={dst}")]
        t0 = time.monotonic()
        node = Child("mapping node", [py, "-m", "gnesf_ros.ros.node", "--ros-args", "--params-file",
                                      str(config_path("mapping.yaml")), "--params-file", str(params), *remaps],
                     env, out / "logs" / "mapping_node.log")
        run.children["node"] = node
        node.wait_for_line("gnesf_mapping ready", opts.node_start_timeout_s, "'gnesf_mapping ready'")
        timings["node_start_s"] = round(time.monotonic() - t0, 1)
        wait_until(lambda: run.probe.count_nodes("gnesf_mapping") >= 1, 30.0, "the node to appear in the ROS graph")
        time.sleep(0.5)
        if run.probe.count_nodes("gnesf_mapping") > 1:
            raise DemoError(f"another gnesf_mapping node runs in ROS_DOMAIN_ID={domain} on this machine: run the "
                            "demo again (it picks a new random domain) or stop the other node")

        played, inputs = played_topics(opts)
        if opts.semantics == "segmenter":  # the segmenter node turns the colour images into the semantic topics
            seg = Child("segmenter node", [py, "-m", "gnesf_ros.ros.segmenter_node", "--ros-args", "--params-file",
                                           str(config_path("segmenter.yaml")), "-p", "input_qos:=reliable",
                                           "-p", "keep_every_image:=true",
                                           *remaps], env, out / "logs" / "segmenter_node.log")
            run.children["segmenter"] = seg
            seg.wait_for_line("gnesf_segmenter ready", opts.node_start_timeout_s, "'gnesf_segmenter ready'")

        log(f"[3/4] replaying {n_inputs} frames through the node (held out: every {opts.every_k_target}th frame); "
            "baselines map the same frames here")
        run.children["player"] = Child(
            "bag player", [py, "-m", "gnesf_ros.cli.play", str(out / "input_bag"), "--rate", str(opts.rate),
                           "--topics", *played, "--wait-for-subscribers", *inputs, "--wait-timeout-s", "60",
                           "--timeout", "60"],
            env, out / "logs" / "player.log")
        run.replay_started = time.monotonic()
        run.start_progress()

        segmenter = None
        if opts.semantics == "segmenter":
            from gnesf_ros.eval.evaluate import load_eval_segmenter

            segmenter = load_eval_segmenter(None, classes=classes)
        scene = synthetic_scene(seed, num_frames=opts.frames, every_k_target=opts.every_k_target, height=opts.height,
                                width=opts.width, semantics=opts.semantics, input_format="labels",
                                style=opts.style, segmenter=segmenter)
        pick = np.unique(np.linspace(0, len(scene.targets) - 1, max(1, min(opts.render_views, len(scene.targets))))
                         .round().astype(int))
        scene.targets = [scene.targets[i] for i in pick]
        methods: dict[str, Any] = build_methods(["input_2d", "bayes_fusion", "majority_vote"],
                                                _settings(classes))
        node_method = NodeMethod(run)
        methods = {"gnesf": node_method, **methods}
        t0 = time.monotonic()
        result = evaluate_scene(scene, methods, classes.num_classes, progress=False)
        timings["evaluation_s"] = round(time.monotonic() - t0, 1)
        log(f"[4/4] node finished; rendered {len(scene.targets)} novel views; scoring and writing {out}")
    finally:
        run.stop_all()
    timings.update({k: (round(v, 1) if isinstance(v, float) else v) for k, v in run.timings.items()})
    timings["baseline_seconds"] = {m: round(s, 2) for m, s in result.seconds.items() if m != "gnesf"}
    timings["total_s"] = round(time.monotonic() - t_start, 1)

    metrics = summarize(result.conf_2d, result.conf_3d, classes.names)
    metrics.update(_run_info(opts, seed, ckpt, n_inputs, result, run, timings))
    metrics["views_2d"] = demo_report.view_scores(node_method.renders, classes.num_classes)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    np.savez_compressed(out / "confusion.npz", class_names=np.array(classes.names),
                        **{f"{m}_2d": v for m, v in result.conf_2d.items()},
                        **{f"{m}_3d": v for m, v in result.conf_3d.items()})
    if opts.figures:
        demo_report.write_figures(out, result, node_method.renders, metrics["views_2d"], classes, seed, opts.style,
                                  opts.semantics)
    demo_report.write_report(out, metrics, classes)
    metrics["timings"]["total_s"] = round(time.monotonic() - t_start, 1)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _settings(classes: ClassList) -> Any:
    from gnesf_ros.eval.evaluate import MethodSettings

    return MethodSettings(num_classes=classes.num_classes)


def _run_info(opts: DemoOptions, seed: int, ckpt: Path, n_inputs: int, result: Any, run: _Run,
              timings: dict[str, Any]) -> dict[str, Any]:
    stats = run.node_stats
    return {
        "methods": list(result.conf_3d.keys() | result.conf_2d.keys()),
        "scene": f"synthetic_{seed}", "seed": seed, "frames_per_scan": opts.frames, "every_k_target": opts.every_k_target,
        "image_size": [opts.height, opts.width], "style": opts.style, "semantics": opts.semantics,
        "input_format": "labels",
        "replayed_frames": n_inputs,
        "targets_2d": result.num_targets, "surface_points": result.num_surface_points,
        "checkpoint": str(ckpt), "node_params": opts.params,
        "node": demo_report.node_summary(stats, run.cloud_xyz.shape[0]),
        "timings": timings,
        "cross_check": (f"gnesf-eval synthetic --seeds {seed} --frames {opts.frames} --every-k {opts.every_k_target} "
                        f"--style {opts.style} --semantics {opts.semantics} --input-format labels "
                        f"--methods {_offline_method(opts)} input_2d bayes_fusion majority_vote "
                        f"--checkpoint {ckpt} --out demo_output/gnesf_eval" if not opts.params else
                        "none: node parameters differ from config/mapping.yaml"),
    }


# ------------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnesf-demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default demo_output)")
    p.add_argument("--seed", type=int, default=None, help="synthetic scene (default: demo_seed of config/data.yaml)")
    p.add_argument("--frames", type=int, default=200, help="frames of the scan (default 200)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=(240, 320), help="image size")
    p.add_argument("--render-views", type=int, default=4, help="novel views rendered by the node (default 4)")
    p.add_argument("--rate", type=float, default=0.15, help="bag playback speed (default 0.15)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--checkpoint", type=Path, default=None, help="GNeSF checkpoint (default: the shipped one)")
    g.add_argument("--random-checkpoint", action="store_true",
                   help="use a random-weight model (OUT/random_gnesf.pt): checks the pipeline, scores mean nothing")
    p.add_argument("--geometry", choices=("depth", "learned"), default="depth",
                   help="the node's geometry_source (default depth: the demo scan has a depth camera)")
    p.add_argument("--keyframe-images", action="store_true",
                   help="the node also renders ~/semantic_image and ~/label_image at every keyframe (recorded; "
                        "~4 s per keyframe on a 2-core CPU)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="extra node parameter (YAML value), e.g. --param publish_keyframe_images=false")
    p.add_argument("--semantics", choices=DEMO_SEMANTICS, default="segmenter",
                   help="2D input: 'segmenter' (default: the shipped segmenter node labels the colour images live; "
                        "docs/segmenter.md) or 'noise' (the segmenter-noise model's labels, played from the bag)")
    p.add_argument("--style", choices=("simple", "realistic"), default=None,
                   help="scene style of the scan (default: synthetic.style of config/data.yaml)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--docs-img", type=Path, default=None, metavar="DIR",
                   help="also copy the mesh preview and one render to DIR/demo_mesh.png, DIR/demo_render.png "
                        "(the README's pictures: --docs-img docs/img)")
    return p


def copy_docs_images(out: Path, dest: Path) -> None:
    """The README's pictures from a finished demo: the map preview and the novel-view render whose truth shows the
    most classes (metrics.json's views_2d; the middle one on a tie or without it)."""
    renders = sorted((out / "renders").glob("view_*.png"))
    if not (out / "map_preview.png").is_file() or not renders:
        raise DemoError(f"{out} has no map_preview.png or renders/: run the demo with figures first")
    views = json.loads((out / "metrics.json").read_text()).get("views_2d", []) if (out / "metrics.json").is_file() \
        else []
    counts = [v.get("truth_classes", 0) for v in views] if len(views) == len(renders) else [0] * len(renders)
    middle = len(renders) // 2
    best = max(range(len(renders)), key=lambda i: (counts[i], -abs(i - middle)))
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "map_preview.png", dest / "demo_mesh.png")
    shutil.copyfile(renders[best], dest / "demo_render.png")


def _random_checkpoint(path: Path) -> Path:
    import torch

    from gnesf_ros.model.checkpoint import save_checkpoint
    from gnesf_ros.model.config import ModelConfig
    from gnesf_ros.model.gnesf import GNeSF

    torch.manual_seed(0)
    save_checkpoint(GNeSF(ModelConfig()), path, extra={"note": "random weights (gnesf-demo --random-checkpoint)"})
    return path


def main(argv: list[str] | None = None) -> int:
    import yaml

    args = build_parser().parse_args(argv)
    try:
        params = {}
        for item in args.param:
            if "=" not in item:
                raise DemoError(f"--param must look like NAME=VALUE, got {item!r}")
            k, v = item.split("=", 1)
            params[k] = yaml.safe_load(v)
        ckpt = args.checkpoint
        if args.random_checkpoint:
            tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"gnesf_demo_random_{os.getpid()}.pt"
            ckpt = _random_checkpoint(tmp)
        opts = DemoOptions(out_dir=args.out, seed=args.seed, frames=args.frames, height=args.size[0],
                           width=args.size[1], render_views=args.render_views, checkpoint=ckpt, rate=args.rate,
                           keyframe_images=args.keyframe_images, geometry_source=args.geometry, params=params,
                           semantics=args.semantics, style=args.style,
                           progress=not args.no_progress)
        metrics = run_demo(opts)
        if args.docs_img is not None:
            copy_docs_images(Path(args.out), args.docs_img)
    except DemoError as exc:
        print(f"\ngnesf-demo: {exc}", file=sys.stderr)
        return 1
    except GnesfError as exc:
        print(f"\ngnesf-demo: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ngnesf-demo: interrupted; child processes stopped", file=sys.stderr)
        return 130
    _print_summary(Path(args.out), metrics, random_weights=args.random_checkpoint)
    return 0


def _print_summary(out: Path, metrics: dict[str, Any], random_weights: bool = False) -> None:
    print("\n" + "\n".join(demo_report.summary_table(metrics)))
    if random_weights:
        print("(random-weight model: the gnesf scores mean nothing)")
    node = metrics["node"]
    if node["frames_mapped"] < metrics["replayed_frames"]:
        print(f"warning: the node mapped {node['frames_mapped']} of {metrics['replayed_frames']} replayed frames "
              f"(received {node['frames_received']}; dropped {node['dropped'] or 0}, bad input "
              f"{node['bad_input'] or 0}): the gnesf scores are not gnesf-eval's. Try a slower --rate.")
    t = metrics["timings"]
    print(f"\ndemo took {t['total_s']:.0f} s. Outputs in {out.resolve()}/:")
    print("  report.md            scores, per-class table, timings      (any Markdown viewer)")
    print("  map.ply              the semantic map, class colours        (meshlab / CloudCompare / "
          "python -c \"import open3d as o3d; o3d.visualization.draw_geometries([o3d.io.read_point_cloud('map.ply')])\")")
    print("  mesh.ply             the semantic mesh, class colours       (meshlab / CloudCompare / python -c "
          "\"import open3d as o3d; o3d.visualization.draw_geometries([o3d.io.read_triangle_mesh('mesh.ply')])\")")
    print("  map_preview.png, renders/*.png, confusion_*.png             (any image viewer)")
    print("  recording/recording.mcap  the node's topics                 (Foxglove: Open local file)")
    print("  map.gnesfmap         load into a running node: ros2 service call /gnesf_mapping/load_map "
          "gnesf_ros_msgs/srv/FilePath \"{file_path: ...}\"")


if __name__ == "__main__":
    sys.exit(main())
