"""The mapper's stages alone: the window's views, the observed voxels of a fragment, and what the window is asked."""
import dataclasses

import numpy as np
import pytest
import torch

from gnesf_ros.errors import InputError
from gnesf_ros.mapping.fragment import build_fragment, depth_hits, observed_voxels
from gnesf_ros.mapping.keyframes import Keyframe
from gnesf_ros.mapping.views import WindowViews
from gnesf_ros.mapping.window_query import needs_window, observe, voxels_to_ask
from mapping_fixtures import CAMERA_HEIGHT_M, HEIGHT, K_SMALL, NUM_CLASSES, WIDTH, FakeWindow, downward_pose

VOXEL = 0.1
TRUNC = 0.2


def keyframe(x_m: float, index: int = 0, height: int = HEIGHT, depth: bool = True) -> Keyframe:
    return Keyframe(index=index, stamp_ns=index, image=torch.rand(3, height, WIDTH),
                    probs=torch.full((NUM_CLASSES, height, WIDTH), 1.0 / NUM_CLASSES),
                    K=torch.from_numpy(K_SMALL).float(), T_map_cam=torch.from_numpy(downward_pose(x_m)).float(),
                    depth_m=torch.full((height, WIDTH), CAMERA_HEIGHT_M) if depth else None)


def test_window_views_stack_and_refuse_mixed_input():
    views = WindowViews.stack([keyframe(0.0), keyframe(0.2, 1)], with_depth=True, geometry_views=1)
    assert views.images.shape == (2, 3, HEIGHT, WIDTH) and views.depth_m.shape == (2, HEIGHT, WIDTH)
    assert (views.camera.height, views.camera.width, views.geometry_views, views.feats) == (HEIGHT, WIDTH, 1, None)
    assert views.camera.num_views == 2 and views.camera.K.dtype == torch.float32
    with pytest.raises(InputError, match="must share an image size"):
        WindowViews.stack([keyframe(0.0), keyframe(0.2, 1, height=HEIGHT + 2)], with_depth=False)
    with pytest.raises(InputError, match="a keyframe has no depth image"):
        WindowViews.stack([keyframe(0.0), keyframe(0.2, 1, depth=False)], with_depth=True)


def _fragment(views: WindowViews):
    return build_fragment(views.camera, VOXEL, 2.0, 48, images=views.images,
                          depth_m=views.depth_m, tsdf_trunc_m=TRUNC)


def test_observed_voxels_and_the_depth_hits_they_are_voted_at():
    views = WindowViews.stack([keyframe(0.0), keyframe(0.3, 1)], with_depth=True)
    frag = _fragment(views)
    learned = observed_voxels(frag, depth_geometry=False)
    depth = observed_voxels(frag, depth_geometry=True)
    assert learned.size == int(frag.mask.sum()) and depth.size == int((frag.mask & (frag.tsdf_weight > 0)).sum())
    np.testing.assert_array_equal(learned.keys, frag.keys()[learned.select])
    assert learned.depth_sdf_m is None and np.all(learned.weight == 1.0)
    np.testing.assert_array_equal(depth.depth_sdf_m, frag.tsdf_m.reshape(-1)[depth.select])
    np.testing.assert_allclose(depth.query_m, depth.keys * VOXEL)  # centres without hits
    hits = depth_hits(views.depth_m, views.camera, VOXEL, 2.0)
    at_hits = observed_voxels(frag, depth_geometry=True, hits=hits)
    hit = at_hits.hit_count > 0
    assert hit.any() and np.allclose(at_hits.query_m[hit, 2], 0.0, atol=1e-6)  # the plane z = 0 the depth saw
    np.testing.assert_allclose(at_hits.query_m - at_hits.hit_offset_m, at_hits.keys * VOXEL, atol=1e-6)


def test_the_window_is_asked_only_about_the_band():
    views = WindowViews.stack([keyframe(0.0)], with_depth=True)
    frag = _fragment(views)
    window = FakeWindow(views.probs, views.camera.K, views.camera.T_map_cam)  # SDF = z, no SDF grid
    depth = observed_voxels(frag, depth_geometry=True)
    ask, known = voxels_to_ask(window, depth, TRUNC)
    assert known is None and np.array_equal(ask, np.nonzero(np.abs(depth.depth_sdf_m) < TRUNC)[0])
    learned = observed_voxels(frag, depth_geometry=False)
    ask, known = voxels_to_ask(window, learned, TRUNC)
    assert known is None and np.array_equal(ask, np.arange(learned.size))  # no grid: every voxel
    window.sdf_grid = torch.from_numpy(frag.centers_m()[:, 2].reshape(frag.dims)).float()  # the SDF z on the grid
    ask, known = voxels_to_ask(window, learned, TRUNC)
    assert 0 < ask.size < learned.size and np.all(np.abs(known[ask]) < TRUNC * 1.01)
    obs = observe(window, learned, TRUNC, chunk=7, num_classes=NUM_CLASSES, device=torch.device("cpu"))
    np.testing.assert_allclose(obs.sdf_m, np.clip(learned.keys[:, 2] * VOXEL, -TRUNC, TRUNC), atol=1e-6)
    asked = np.zeros(learned.size, bool)
    asked[ask] = True
    assert np.all(obs.semantics[~asked] == 0) and np.all(obs.semantics[asked].sum(1) <= 1.0 + 1e-6)


def test_a_depth_fragment_of_free_space_needs_no_window():
    """With depth geometry a fragment with no voxel in the TSDF band is observed without encoding: its SDF is the
    TSDF and nothing votes; one band voxel, or learned geometry, needs the window."""
    views = WindowViews.stack([keyframe(0.0)], with_depth=True)
    frag = _fragment(views)
    depth = observed_voxels(frag, depth_geometry=True)
    assert needs_window(depth, TRUNC)
    free = dataclasses.replace(depth, depth_sdf_m=np.full_like(depth.depth_sdf_m, TRUNC))  # all clamped at +trunc
    assert not needs_window(free, TRUNC)
    assert needs_window(dataclasses.replace(free, depth_sdf_m=None), TRUNC)  # learned geometry
    obs = observe(None, free, TRUNC, chunk=7, num_classes=NUM_CLASSES, device=torch.device("cpu"))
    np.testing.assert_array_equal(obs.sdf_m, free.depth_sdf_m)
    assert obs.semantics.shape == (free.size, NUM_CLASSES) and not obs.semantics.any()
