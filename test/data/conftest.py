"""Shared fixtures of the synthetic-data tests: one small scene, its renderer and a tiny camera."""
import numpy as np
import pytest

from gnesf_ros.data.render import SceneRenderer
from gnesf_ros.data.scene import generate_scene
from gnesf_ros.data.synthetic import intrinsics
from gnesf_ros.data.trajectory import handheld_trajectory

H, W = 60, 80


@pytest.fixture(scope="module")
def scene():
    return generate_scene(2000)


@pytest.fixture(scope="module")
def renderer(scene):
    return SceneRenderer(scene)


@pytest.fixture(scope="module")
def poses(scene):
    return handheld_trajectory(scene, 120, seed=2000)


@pytest.fixture(scope="module")
def K():
    return intrinsics(H, W, 62.0)


@pytest.fixture(scope="module")
def views(renderer, poses, K):
    return [renderer.render(K, poses[i], H, W, rng=np.random.default_rng(i)) for i in range(0, 120, 30)]
