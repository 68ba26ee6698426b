"""Rendering is a sampler, the field and a weighting composed: each part alone, and their composition."""
import pytest
import torch

from gnesf_ros.geometry.camera import Camera
from gnesf_ros.model import GNeSF, RenderMode
from gnesf_ros.model.render import composite, sdf_weights
from gnesf_ros.model.renderer import WEIGHTINGS, nerf_weighting, render_rays
from gnesf_ros.model.sampler import sample_in_box

from model_helpers import H, W


def test_samples_cover_the_box_and_a_miss_has_no_hit():
    box = (torch.zeros(3), torch.ones(3))
    origins = torch.tensor([[0.5, 0.5, -1.0], [5.0, 5.0, -1.0]])
    dirs = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    s = sample_in_box(origins, dirs, torch.tensor(0.1), torch.tensor(8.0), box, 4)
    assert s.hit.tolist() == [True, False]
    torch.testing.assert_close(s.t[0], torch.tensor([1.125, 1.375, 1.625, 1.875]))  # bin centres of [1, 2]
    assert torch.equal(s.t[1], torch.full((4,), 0.1))  # a miss samples at `near`, weightless
    assert s.points.shape == (8, 3) and torch.equal(s.points[:4, 2], s.t[0] - 1.0)
    torch.testing.assert_close(s.deltas_m()[0], torch.full((4,), 0.25))  # metres: |d| = 1
    one = sample_in_box(origins, 2 * dirs, torch.tensor(0.1), torch.tensor(8.0), box, 1)
    torch.testing.assert_close(one.deltas_m()[0], torch.tensor([1.0]))  # one sample spans the box: 0.5 t x 2 m/t


def test_nerf_weighting_uses_the_spacing_in_metres():
    box = (torch.zeros(3), torch.ones(3))
    o, d = torch.tensor([[0.5, 0.5, -1.0]]), torch.tensor([[0.0, 0.0, 1.0]])
    s = sample_in_box(o, d, torch.tensor(0.1), torch.tensor(8.0), box, 8)
    sdf = torch.linspace(0.3, -0.3, 8)[None]
    cfg = GNeSF().cfg
    w_near = nerf_weighting(sdf, s, cfg)
    w_far = nerf_weighting(sdf, sample_in_box(o, 2 * d, torch.tensor(0.1), torch.tensor(8.0), box, 8), cfg)
    torch.testing.assert_close(w_near, w_far)  # the same metres of ray, whatever the parameterisation
    assert set(WEIGHTINGS) == set(RenderMode)


def test_render_rays_is_the_composition_of_its_parts(tiny_cfg, scene):
    model = GNeSF(tiny_cfg).eval()
    uv = torch.tensor([[7.5, 5.5], [5.0, 6.0], [9.0, 4.0], [0.0, 0.0]])
    o, d = Camera(scene["K"], scene["T_map_cam"], H, W).rays(0, uv)
    with torch.no_grad():
        win = model.encode(**scene)
        out = render_rays(win, o, d, mode="sdf")
        s = sample_in_box(o, d, torch.tensor(tiny_cfg.render_near_m), torch.tensor(tiny_cfg.render_far_m), win.box,
                          tiny_cfg.render_samples)
        Mx, inside = win.encoding(s.points)
        sdf = win.sdf(s.points, Mx, inside).reshape(4, -1)
        w = sdf_weights(sdf, tiny_cfg.trunc_m) * s.hit[:, None]
        sem, _ = win.semantics(s.points, Mx)
    assert torch.equal(out.sdf, sdf) and torch.equal(out.weights, w) and torch.equal(out.t, s.t)
    torch.testing.assert_close(out.probs, composite(w, sem.reshape(4, tiny_cfg.render_samples, -1)))
    with pytest.raises(ValueError):
        render_rays(win, o, d, mode="phong")
