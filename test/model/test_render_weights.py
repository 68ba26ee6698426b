"""Eq. 5, 7, 8-9 rendering weights."""
import torch

from gnesf_ros.model.render import composite, nerf_weights, ray_box, sdf_to_density, sdf_weights


def test_nerf_weights_closed_form_constant_density():
    s, d, M = 0.7, 0.3, 12
    w = nerf_weights(torch.full((2, M), s), torch.full((2, M), d))
    m = torch.arange(M, dtype=torch.float32)
    expected = torch.exp(-m * s * d) * (1 - torch.exp(torch.tensor(-s * d)))
    assert torch.allclose(w[0], expected, atol=1e-6)
    assert torch.allclose(nerf_weights(torch.full((1, M), s))[0],
                          torch.exp(-m * s) * (1 - torch.exp(torch.tensor(-s))), atol=1e-6)
    assert w.sum(-1).max() <= 1.0


def test_sdf_weights_single_plane():
    t = torch.linspace(0.0, 2.0, 41)  # spacing 0.05
    sdf = (1.02 - t)[None]  # surface at t = 1.02, nearest sample t = 1.0 (index 20)
    w = sdf_weights(sdf, trunc=0.1)
    assert torch.allclose(w.sum(), torch.tensor(1.0))
    assert int(w.argmax()) == 20
    assert (w >= 0).all()


def test_sdf_weights_zero_on_second_surface():
    t = torch.linspace(0.0, 4.0, 81)
    # A slab between t = 1 and t = 1.6 (inside negative), free again, second surface at t = 3.
    sdf = torch.minimum(torch.maximum(1.0 - t, t - 1.6), 3.0 - t)[None]
    w = sdf_weights(sdf, trunc=0.1)
    assert torch.allclose(w.sum(), torch.tensor(1.0))
    assert (w[0, t > 1.2] == 0).all()  # past the first truncation region: nothing, second surface included
    assert w[0, (t > 0.6) & (t < 1.2)].sum() > 0.95  # the bell of Eq. 8 has exponential tails


def test_sdf_weights_no_surface_all_zero():
    sdf = torch.linspace(1.0, 0.2, 16)[None].repeat(2, 1)
    sdf[1] = -0.5  # inside everywhere: no + -> - crossing either
    w = sdf_weights(sdf, trunc=0.1)
    assert torch.equal(w, torch.zeros_like(w))


def test_sdf_weights_gradient_finite():
    sdf = torch.linspace(0.5, -0.5, 20)[None].requires_grad_(True)
    w = sdf_weights(sdf, 0.1)
    (w * torch.arange(20.0)).sum().backward()
    assert torch.isfinite(sdf.grad).all() and sdf.grad.abs().sum() > 0


def test_composite_and_density():
    w = torch.tensor([[0.2, 0.8]])
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    assert torch.allclose(composite(w, v), torch.tensor([[0.2, 0.8]]))
    dens = sdf_to_density(torch.tensor([1.0, 0.0, -1.0]), beta=0.1)
    assert torch.allclose(dens, torch.tensor([0.5 * torch.exp(torch.tensor(-10.0)) / 0.1, 5.0,
                                              (1 - 0.5 * torch.exp(torch.tensor(-10.0))) / 0.1]))


def test_ray_box():
    o = torch.tensor([[-1.0, 0.5, 0.5], [-1.0, 5.0, 0.5]])
    d = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    t0, t1 = ray_box(o, d, torch.zeros(3), torch.ones(3))
    assert torch.allclose(t0[0], torch.tensor(1.0)) and torch.allclose(t1[0], torch.tensor(2.0))
    assert t0[1] > t1[1]


def test_sdf_weights_ignore_clamped_free_space_of_a_tsdf():
    t = torch.linspace(0.0, 2.0, 41)
    sdf = (1.02 - t).clamp(-0.1, 0.1)[None]  # a depth TSDF: +tr everywhere in free space
    w = sdf_weights(sdf, trunc=0.1)
    assert (w[0, t < 0.9] == 0).all() and torch.allclose(w.sum(), torch.tensor(1.0))
    assert int(w.argmax()) == 20


def test_sdf_weights_float32_clamp_below_trunc_is_free_space():
    # float32(0.12) < 0.12: a TSDF clamped at +-0.12 in float32 must still count as saturated (out of the band),
    # else every free-space sample gets sigmoid(1) sigmoid(-1) and the depth is pulled towards the camera
    t = torch.linspace(0.0, 3.0, 61)  # spacing 0.05
    sdf = (2.52 - t).clamp(-0.12, 0.12)[None]
    assert sdf[0, 0].item() < 0.12
    w = sdf_weights(sdf, trunc=0.12)
    assert (w[0, t < 2.35] == 0).all() and (w[0, t > 2.7] == 0).all()
    depth = (w * t).sum()
    assert abs(depth.item() - 2.52) < 0.02
