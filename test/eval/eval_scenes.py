"""Tiny hand-made evaluation scenes: a camera sliding along a wall (left of x = 0 wall, right door)."""
import numpy as np

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.eval.evaluate import EvalScene, TargetView, target_indices
from gnesf_ros.frame import Frame

K = np.array([[200.0, 0, 11.5], [0, 200.0, 7.5], [0, 0, 1]])
H, W, C = 16, 24, 20


def _wall_truth(x):
    return np.where(x < 0.0, 0, 7)  # wall left of x = 0, door right of it


def _plane_frame(x_cam, rng, flip=0.2):
    """Camera at (x_cam, 0, 0) looking along +z at a wall z = 2; noisy 2D labels, a few unknown pixels."""
    T = np.eye(4)
    T[0, 3] = x_cam
    u = np.arange(W)[None, :].repeat(H, 0)
    x_map = (u - K[0, 2]) / K[0, 0] * 2.0 + x_cam
    truth = _wall_truth(x_map)
    noisy = np.where(rng.random((H, W)) < flip, rng.integers(0, C, (H, W)), truth)
    probs = np.eye(C, dtype=np.float32)[noisy] * 0.6 + 0.4 / C
    probs[rng.random((H, W)) < 0.05] = 0.0
    frame = Frame(rgb=np.full((H, W, 3), 128, np.uint8), K=K, T_map_cam=T, probs=probs,
                  depth_m=np.full((H, W), 2.0, np.float32))
    return frame, truth


def plane_scene(seed, num_frames, every_k_target, height, width, surface_spacing_m=0.01):
    rng = np.random.default_rng(seed)
    xs = np.linspace(-0.3, 0.3, num_frames)
    held = set(target_indices(num_frames, every_k_target))
    targets, inputs = [], []
    for i, x in enumerate(xs):
        frame, truth = _plane_frame(x, rng)
        if i in held:
            targets.append(TargetView.from_frame(frame, truth))
        else:
            inputs.append(frame)
    gx, gy = np.meshgrid(np.arange(-0.5, 0.5, surface_spacing_m), np.arange(-0.1, 0.1, surface_spacing_m))
    xyz = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, 2.0)], 1)
    label = _wall_truth(xyz[:, 0])
    label[np.abs(xyz[:, 1]) > 0.07] = IGNORE_ID
    return EvalScene(name=f"plane_{seed}", input_frames=iter(inputs), targets=targets, surface_xyz=xyz,
                     surface_label=label, num_input_frames=len(inputs), restrict_surface_to_observed_m=0.05)
