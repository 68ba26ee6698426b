"""The GNeSF model end to end on tiny inputs: gradients, unknowns, depth geometry, determinism, checkpoints."""
import dataclasses
import math

import pytest
import torch

from gnesf_ros.errors import ConfigError, InputError, MapFileError
from gnesf_ros.geometry.camera import Camera
from gnesf_ros.model import GNeSF, InferenceOptions, ModelConfig
from gnesf_ros.model.checkpoint import load_checkpoint, save_checkpoint
from gnesf_ros.model.volume import vertex_points

from model_helpers import H, W, look_at


def _points(scene, n=40, seed=5):
    g = torch.Generator().manual_seed(seed)
    return 0.1 + 0.8 * torch.rand(n, 3, generator=g)


def _rays(scene, view=0):
    uv = torch.tensor([[7.5, 5.5], [5.0, 6.0], [9.0, 4.0], [8.0, 8.0]])
    return Camera(scene["K"], scene["T_map_cam"], H, W).rays(view, uv)


def test_gradients_reach_every_parameter(tiny_cfg, scene):
    model = GNeSF(tiny_cfg)
    win = model.encode(**scene)
    loss = 0.0
    for mode in ("sdf", "nerf"):
        o, d = _rays(scene)
        out = win.render_rays(o, d, mode=mode)
        target = torch.tensor([0, 1, 2, 0])
        loss = loss - torch.log(out.probs.gather(1, target[:, None]) + 1e-6).mean()
    q = win.query(_points(scene))
    loss = loss + q.sdf.abs().mean() - torch.log(q.semantics[:, 0] + 1e-6).mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
               or p.grad.abs().sum() == 0]
    assert missing == []


def test_query_shapes_and_simplex(tiny_cfg, scene):
    model = GNeSF(tiny_cfg).eval()
    with torch.no_grad():
        win = model.encode(**scene)
        q = win.query(_points(scene))
    assert q.sdf.shape == (40,) and q.semantics.shape == (40, 3) and q.num_valid.dtype == torch.long
    voted = q.num_valid > 0
    assert voted.any()
    assert torch.allclose(q.semantics[voted].sum(-1), torch.ones(int(voted.sum())), atol=1e-5)
    assert (q.semantics[~voted] == 0).all()
    # Outside the volume the SDF is +trunc (free space).
    far = win.query(torch.tensor([[5.0, 5.0, 5.0]]))
    assert far.sdf.item() == pytest.approx(tiny_cfg.trunc_m)


def test_view_that_sees_nothing_gives_unknown(tiny_cfg, scene):
    model = GNeSF(tiny_cfg).eval()
    away = dict(scene)
    away.update(images=scene["images"][:1], probs=scene["probs"][:1], K=scene["K"][:1],
                T_map_cam=look_at([0.5, 0.5, 3.0], [0.5, 0.5, 6.0])[None])  # looking away from the grid
    with torch.no_grad():
        q = model.encode(**away).query(_points(scene))
    assert torch.equal(q.semantics, torch.zeros(40, 3)) and (q.num_valid == 0).all()
    # A view that looks at the points but whose 2D semantics are all unknown casts no vote either.
    blind = dict(scene, probs=torch.zeros_like(scene["probs"]))
    with torch.no_grad():
        q = model.encode(**blind).query(_points(scene))
    assert torch.equal(q.semantics, torch.zeros(40, 3)) and (q.num_valid == 0).all()


def test_depth_sdf_volume_replaces_learned_sdf(tiny_cfg, scene):
    model = GNeSF(tiny_cfg).eval()
    pts = vertex_points(scene["origin_m"], scene["voxel_size_m"], scene["dims"])
    sdf_vol = (pts[:, 2] - 0.5).reshape(scene["dims"])  # a floor at z = 0.5 (solid below), cameras above
    with torch.no_grad():
        win = model.encode(**scene, sdf_volume=sdf_vol)
        q = win.query(torch.tensor([[0.3, 0.4, 0.45], [0.5, 0.5, 0.7]]))
        r = win.render(scene["K"][0], scene["T_map_cam"][0], H, W)
    assert torch.allclose(q.sdf, torch.tensor([-0.05, 0.2]), atol=1e-5)
    assert torch.equal(win.sdf_grid, sdf_vol)
    assert r.probs.shape == (H, W, 3) and r.depth.shape == (H, W) and r.weight.shape == (H, W)
    hit = r.weight > 0.5
    assert hit.any() and (r.depth[hit] > 0).all()
    o, d = Camera(scene["K"], scene["T_map_cam"], H, W).rays(0)
    z_hit = (o + r.depth.reshape(-1, 1) * d)[hit.reshape(-1), 2]
    assert (z_hit - 0.5).abs().max() < 0.15  # the floor, within the spacing of 8 samples per ray


def test_source_depth_decides_visibility(tiny_cfg, scene):
    """With depth_m, a view votes for x unless its depth at x's pixel lies in front of x: depth far behind
    every point -> the same votes as no occlusion at all; view 0 reporting a surface 0.3 m from its camera
    -> view 0 votes for nothing; and a wrong-sized depth stack is refused. (The vote band is off here: it is
    the occlusion side under test.)"""
    model = GNeSF(dataclasses.replace(tiny_cfg, depth_vote_band_m=math.inf)).eval()
    pts = _points(scene)
    V = scene["images"].shape[0]
    open_sdf = torch.full(scene["dims"], tiny_cfg.trunc_m)  # all free space: the grid march occludes nothing
    with torch.no_grad():
        ref = model.encode(**scene, sdf_volume=open_sdf).query(pts)
        far = model.encode(**scene, sdf_volume=open_sdf, depth_m=torch.full((V, H, W), 50.0)).query(pts)
        near_depth = torch.full((V, H, W), 50.0)
        near_depth[0] = 0.3
        near = model.encode(**scene, sdf_volume=open_sdf, depth_m=near_depth).query(pts)
        alone = model.encode(**dict(scene, images=scene["images"][1:], probs=scene["probs"][1:],
                                    K=scene["K"][1:], T_map_cam=scene["T_map_cam"][1:]),
                             sdf_volume=open_sdf).query(pts)
    assert torch.equal(far.num_valid, ref.num_valid) and torch.allclose(far.semantics, ref.semantics)
    assert (ref.num_valid > near.num_valid).any()
    assert torch.equal(near.num_valid, alone.num_valid)
    with pytest.raises(InputError, match="depth_m must be"):
        model.encode(**scene, depth_m=torch.ones(V, H + 1, W))


def test_depth_vote_band_drops_views_whose_pixel_sees_past_the_point(tiny_cfg, scene):
    """depth_vote_band_m: a view whose measured depth lies far behind x saw a farther surface through x's free
    space and must not vote; with depth 50 m everywhere nobody votes, with view 0 alone seeing past the points
    the votes are those of the other views; and the band is refused when negative or NaN."""
    pts = _points(scene)
    V = scene["images"].shape[0]
    open_sdf = torch.full(scene["dims"], tiny_cfg.trunc_m)
    model = GNeSF(dataclasses.replace(tiny_cfg, depth_vote_band_m=0.04)).eval()
    with torch.no_grad():
        ref = model.encode(**scene, sdf_volume=open_sdf).query(pts)
        far = model.encode(**scene, sdf_volume=open_sdf, depth_m=torch.full((V, H, W), 50.0)).query(pts)
        holes = torch.full((V, H, W), 0.0)  # no return anywhere: nothing known, every view still votes
        holes[0] = 50.0  # ... but view 0 sees a wall 50 m away through every point
        past0 = model.encode(**scene, sdf_volume=open_sdf, depth_m=holes).query(pts)
        alone = model.encode(**dict(scene, images=scene["images"][1:], probs=scene["probs"][1:],
                                    K=scene["K"][1:], T_map_cam=scene["T_map_cam"][1:]),
                             sdf_volume=open_sdf).query(pts)
    assert (ref.num_valid > 0).any() and (far.num_valid == 0).all() and (far.semantics == 0).all()
    assert torch.equal(past0.num_valid, alone.num_valid)
    for bad in (-0.01, float("nan")):
        with pytest.raises(ConfigError, match="depth_vote_band_m"):
            dataclasses.replace(tiny_cfg, depth_vote_band_m=bad)


def test_max_abs_sdf_skips_far_points(tiny_cfg, scene):
    model = GNeSF(tiny_cfg).eval()
    pts = vertex_points(scene["origin_m"], scene["voxel_size_m"], scene["dims"])
    sdf_vol = (pts[:, 2] - 0.5).reshape(scene["dims"])
    with torch.no_grad():
        win = model.encode(**scene, sdf_volume=sdf_vol)
        x = torch.tensor([[0.5, 0.5, 0.45], [0.5, 0.5, 0.05]])
        full, near = win.query(x), win.query(x, max_abs_sdf_m=0.1)
    assert torch.equal(near.sdf, full.sdf)
    assert torch.allclose(near.semantics[0], full.semantics[0]) and (near.semantics[1] == 0).all()


def _outputs(model, scene):
    with torch.no_grad():
        win = model.encode(**scene)
        q = win.query(_points(scene))
        o, d = _rays(scene)
        r = win.render_rays(o, d, mode="nerf")
    return [q.sdf, q.semantics, q.num_valid, r.probs, r.depth, win.volume]


def test_deterministic_under_fixed_seed(tiny_cfg, scene):
    torch.manual_seed(7)
    a = _outputs(GNeSF(tiny_cfg).eval(), scene)
    torch.manual_seed(7)
    b = _outputs(GNeSF(tiny_cfg).eval(), scene)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_checkpoint_round_trip(tiny_cfg, scene, tmp_path):
    model = GNeSF(tiny_cfg).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(model, path, extra={"step": 12, "miou": 0.5})
    loaded, extra = load_checkpoint(path)
    assert extra == {"step": 12, "miou": 0.5} and loaded.cfg == tiny_cfg
    for x, y in zip(_outputs(model, scene), _outputs(loaded, scene)):
        assert torch.equal(x, y)


def test_corrupt_checkpoints_raise_map_file_error(tiny_cfg, tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(GNeSF(tiny_cfg), path)
    data = path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(MapFileError, match="trunc.pt.*corrupt or truncated"):
        load_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(MapFileError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(MapFileError, match="missing.pt: no such file"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(MapFileError, match="foreign.pt is not a gnesf_ros model checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_bad_inputs_and_config(tiny_cfg, scene):
    model = GNeSF(tiny_cfg)
    with pytest.raises(InputError, match=r"points must be \(P, 3\), got \(2, 2\)"):
        model.encode(**scene).query(torch.zeros(2, 2))
    with pytest.raises(InputError, match="probs must be"):
        model.encode(**dict(scene, probs=scene["probs"][:, :2]))
    with pytest.raises(InputError, match="sdf_volume"):
        model.encode(**scene, sdf_volume=torch.zeros(2, 2, 2))
    with pytest.raises(ConfigError, match="image_scale"):
        ModelConfig(image_scale=0.0)
    with pytest.raises(ConfigError, match="render_near_m"):
        ModelConfig(render_near_m=5.0, render_far_m=1.0)


def test_geometry_views_build_the_volume_and_every_view_votes(tiny_cfg, scene):
    """geometry_views=2: the volume M (and so the learned SDF) is that of views 0-1 alone; view 2 still votes."""
    model = GNeSF(tiny_cfg).eval()
    first_two = {k: (v[:2] if k in ("images", "probs", "K", "T_map_cam") else v) for k, v in scene.items()}
    pts = _points(scene)
    with torch.no_grad():
        both = model.encode(**scene, geometry_views=2)
        q_both = both.query(pts)
        only = model.encode(**first_two)
        q_only = only.query(pts)
    assert torch.allclose(both.volume, only.volume) and torch.allclose(q_both.sdf, q_only.sdf)
    assert (q_both.num_valid > q_only.num_valid).any() and not torch.allclose(q_both.semantics, q_only.semantics)
    for bad in (0, 4):
        with pytest.raises(InputError, match="geometry_views"):
            model.encode(**scene, geometry_views=bad)


def test_log_pooling_is_an_inference_switch(tiny_cfg, scene):
    model = GNeSF(tiny_cfg).eval()
    pts = _points(scene)
    with torch.no_grad():
        lin = model.encode(**scene).query(pts)
        log = model.encode(**scene, options=InferenceOptions(vote_pooling="log")).query(pts)
    voted = lin.num_valid > 1
    assert torch.equal(lin.num_valid, log.num_valid) and torch.allclose(lin.sdf, log.sdf)
    assert torch.allclose(log.semantics[voted].sum(-1), torch.ones(int(voted.sum())), atol=1e-5)
    assert not torch.allclose(lin.semantics[voted], log.semantics[voted], atol=1e-3)
    assert model.cfg.vote_pooling == "linear"  # an option of the call, not a change of the model
    with pytest.raises(ConfigError, match="vote_pooling"):
        ModelConfig(vote_pooling="max")
    with pytest.raises(ConfigError, match="vote_pooling"):
        InferenceOptions(vote_pooling="max")


def test_vote_confidence_power_weights_views_by_confidence(tiny_cfg, scene):
    """With the learned scores held at zero, the vote is sum_i c_i^p S_i / sum_i c_i^p (c_i = max_c S_i): p = 0 is
    the plain mean, p = 4 lets the confident view win over two unsure ones that agree; negative p is refused."""
    V, C = scene["probs"].shape[0], scene["probs"].shape[1]
    assert V == 3 and C >= 3
    D = torch.full((V, C), 0.0)
    D[0, 0], D[0, 1] = 0.9, 0.1  # view 0: class 0, sure
    D[1:, 1], D[1:, 0] = 0.75, 0.25  # views 1-2: class 1, less sure
    probs = D[:, :, None, None].expand(V, C, H, W).contiguous()
    model = GNeSF(tiny_cfg).eval()
    model.vote_head.forward = lambda F, mean, var, Mx, cues, point_index=None: torch.zeros(F.shape[0])
    pts = _points(scene, n=200)
    conf = D.max(dim=1).values
    for power in (0.0, 4.0):
        with torch.no_grad():
            options = InferenceOptions(vote_confidence_power=power)
            q = model.encode(**dict(scene, probs=probs), options=options).query(pts)
        every = q.num_valid == V
        assert every.sum() > 0
        w = conf ** power / (conf ** power).sum()
        expected = (w[:, None] * D).sum(dim=0)
        torch.testing.assert_close(q.semantics[every], expected.expand(int(every.sum()), C), atol=1e-4, rtol=1e-4)
        assert int(q.semantics[every][0].argmax()) == (1 if power == 0 else 0)
    with pytest.raises(ConfigError, match="vote_confidence_power"):
        ModelConfig(vote_confidence_power=-1.0)
    with pytest.raises(ConfigError, match="vote_confidence_power"):
        InferenceOptions(vote_confidence_power=-1.0)


def test_the_model_is_stateless_and_each_window_answers_for_itself(tiny_cfg, scene):
    """encode keeps nothing on the model: a window queried after another was encoded still answers for its own views,
    with its own inference options; the defaults are the config's."""
    model = GNeSF(tiny_cfg).eval()
    pts = _points(scene)
    other = dict(scene, probs=torch.flip(scene["probs"], dims=[1]))
    with torch.no_grad():
        first = model.encode(**scene)
        before = first.query(pts)
        second = model.encode(**other, options=InferenceOptions(vote_pooling="log"))
        after = first.query(pts)
        theirs = second.query(pts)
    assert not hasattr(model, "window")
    assert torch.equal(before.semantics, after.semantics) and torch.equal(before.sdf, after.sdf)
    assert not torch.allclose(theirs.semantics, after.semantics)
    assert first.options == model.default_options == InferenceOptions.of(tiny_cfg)
    assert second.options.vote_pooling == "log" and model.cfg.vote_pooling == "linear"


def test_vote_head_per_point_inputs_give_the_pairwise_scores(tiny_cfg):
    """VoteHead with point_index (mean, var, M(x) once per point, the first layers split by column blocks) scores
    every (view, point) pair as the plain call on the gathered rows does; gradients agree too."""
    from gnesf_ros.model.fields import VIEW_CUES, VoteHead

    torch.manual_seed(0)
    head = VoteHead(tiny_cfg)
    P, Q, D = 7, 19, tiny_cfg.feature_channels
    mean, var = torch.randn(P, D), torch.rand(P, D)
    Mx = torch.randn(P, tiny_cfg.volume_channels, requires_grad=True)
    F, cues = torch.randn(Q, D), torch.randn(Q, VIEW_CUES)
    pi = torch.randint(0, P, (Q,))
    fast = head(F, mean, var, Mx, cues, point_index=pi)
    plain = head(F, mean[pi], var[pi], Mx[pi], cues)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)
    g_fast, = torch.autograd.grad(fast.sum(), Mx)
    g_plain, = torch.autograd.grad(plain.sum(), Mx)
    torch.testing.assert_close(g_fast, g_plain, atol=1e-5, rtol=1e-5)
    assert head(F[:0], mean, var, Mx, cues[:0], point_index=pi[:0]).shape == (0,)
