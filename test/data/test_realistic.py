"""The realistic synthetic style: determinism, each effect measurable through its knob, truth kept exact."""
import dataclasses

import numpy as np
import pytest

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.config import from_dict
from gnesf_ros.data.realism import CameraConfig, DepthSensorConfig, RealisticConfig
from gnesf_ros.data.render import SceneRenderer
from gnesf_ros.data.scene import WALL, generate_scene
from gnesf_ros.data.sensor import camera_image, sensor_depth
from gnesf_ros.data.synthetic import SyntheticDataConfig, SyntheticScan, intrinsics
from gnesf_ros.errors import ConfigError

H, W = 60, 80


def _scan(seed, cfg=None, frames=12, h=H, w=W):
    return SyntheticScan(seed, num_frames=frames, height=h, width=w, style="realistic",
                         realistic=cfg if cfg is not None else RealisticConfig())


def _knobs(**sections) -> RealisticConfig:
    """A RealisticConfig with some sub-section fields replaced, e.g. camera={"jpeg_quality": 0}."""
    cfg = RealisticConfig()
    for name, values in sections.items():
        setattr(cfg, name, dataclasses.replace(getattr(cfg, name), **values))
    return cfg


def test_deterministic_per_seed_and_seeds_differ():
    a, b, c = _scan(2003), _scan(2003), _scan(2004)
    fa, va = a.frame(5)
    fb, vb = b.frame(5)
    np.testing.assert_array_equal(a.poses, b.poses)
    np.testing.assert_array_equal(fa.rgb, fb.rgb)
    np.testing.assert_array_equal(fa.depth_m, fb.depth_m)
    np.testing.assert_array_equal(va.labels, vb.labels)
    np.testing.assert_array_equal(fa.probs, fb.probs)
    assert not np.array_equal(fa.rgb, c.frame(5)[0].rgb)


def test_default_style_is_simple_and_unchanged():
    """config/data.yaml ships `style: simple`; the default scan equals an explicit simple one."""
    assert SyntheticDataConfig.from_yaml().style == "simple"
    default, simple = SyntheticScan(2001, num_frames=2, height=H, width=W), SyntheticScan(
        2001, num_frames=2, height=H, width=W, style="simple")
    f0, v0 = default.frame(1)
    f1, _ = simple.frame(1)
    np.testing.assert_array_equal(f0.rgb, f1.rgb)
    assert v0.sensor_depth_m is None and f0.depth_m is v0.depth_m and default.scene.look is None


def test_style_config_is_checked():
    cfg = from_dict(SyntheticDataConfig, {"style": "realistic", "realistic": {"camera": {"jpeg_quality": 50}}})
    assert cfg.style == "realistic" and cfg.realistic.camera.jpeg_quality == 50
    with pytest.raises(ConfigError, match="style"):
        from_dict(SyntheticDataConfig, {"style": "photoreal"})
    with pytest.raises(ConfigError, match="unknown"):
        from_dict(SyntheticDataConfig, {"realistic": {"camera": {"iso": 800}}})
    with pytest.raises(ConfigError, match="range"):
        from_dict(SyntheticDataConfig, {"realistic": {"depth": {"min_range_m": 5.0, "max_range_m": 4.0}}})


def test_truth_is_exact_and_separate_from_the_sensors():
    noisy = _knobs(depth={"noise_at_1m": 0.02, "dropout": 0.3}, camera={"shot_noise": 0.1})
    scan = _scan(2005, noisy)
    frame, view = scan.frame(6)
    exact = scan.renderer.render_linear(scan.K, scan.poses[6], H, W).view
    np.testing.assert_array_equal(view.depth_m, exact.depth_m)
    np.testing.assert_array_equal(view.labels, exact.labels)
    np.testing.assert_array_equal(view.instance, exact.instance)
    assert frame.depth_m is view.sensor_depth_m
    both = (view.sensor_depth_m > 0) & (view.depth_m > 0)
    assert both.mean() > 0.1 and not np.allclose(view.sensor_depth_m[both], view.depth_m[both])
    # the same scene with the sensors' effects off gives the same truth
    quiet = _scan(2005, _knobs(depth={"noise_at_1m": 0.0, "dropout": 0.0}, camera={"shot_noise": 0.0}))
    np.testing.assert_array_equal(quiet.frame(6)[1].depth_m, view.depth_m)
    pts_a, lab_a = scan.renderer.surface_points(0.1)
    pts_b, lab_b = quiet.renderer.surface_points(0.1)
    np.testing.assert_array_equal(pts_a, pts_b)
    np.testing.assert_array_equal(lab_a, lab_b)


# ---------------------------------------------------------------------------------------------- camera

def test_camera_noise_std_rises_with_its_knobs():
    K = intrinsics(H, W, 62.0)
    flat = np.full((H, W, 3), 0.3, np.float32)
    base = dict(vignetting=0.0, jpeg_quality=0, read_noise=0.0)

    def std(**kw):
        img = camera_image(flat, CameraConfig(**{**base, **kw}), np.random.default_rng(0), K)
        return float(img.astype(np.float64).std())

    shot = [std(shot_noise=s) for s in (0.0, 0.01, 0.03, 0.06)]
    assert shot[0] == 0.0 and shot[1] < shot[2] < shot[3]
    read = [std(shot_noise=0.0, read_noise=r) for r in (0.005, 0.02)]
    assert read[0] < read[1]
    # shot noise grows with the signal, read noise does not
    dark = camera_image(np.full((H, W, 3), 0.05, np.float32), CameraConfig(**{**base, "shot_noise": 0.05}),
                        np.random.default_rng(0), K)
    lin_dark = (dark / 255.0) ** 2.2
    lin_bright = (camera_image(flat, CameraConfig(**{**base, "shot_noise": 0.05}), np.random.default_rng(0), K)
                  / 255.0) ** 2.2
    assert lin_bright.std() > 1.5 * lin_dark.std()


def test_vignetting_darkens_corners_and_lens_distortion_leaves_an_empty_border():
    K = intrinsics(H, W, 62.0)
    flat = np.full((H, W, 3), 0.4, np.float32)
    quiet = dict(shot_noise=0.0, read_noise=0.0, jpeg_quality=0)
    img = camera_image(flat, CameraConfig(vignetting=0.4, **quiet), None, K).astype(float)
    assert img[0, 0].mean() < img[H // 2, W // 2].mean() - 20
    # pincushion (k1 > 0): the pinhole corners lie outside what the lens saw; barrel: resampling only
    undist = camera_image(flat, CameraConfig(vignetting=0.0, lens_k1=0.3, **quiet), None, K)
    assert undist[0, 0].max() == 0 and undist[H // 2, W // 2].min() > 150
    rng = np.random.default_rng(0)
    noise_img = rng.random((H, W, 3), dtype=np.float32)
    sharp = camera_image(noise_img, CameraConfig(vignetting=0.0, **quiet), None, K).astype(float)
    barrel = camera_image(noise_img, CameraConfig(vignetting=0.0, lens_k1=-0.2, **quiet), None, K).astype(float)
    assert barrel[5:-5, 5:-5].min() > 0 and barrel.std() < sharp.std()


def test_jpeg_and_motion_blur_change_the_image():
    K = intrinsics(H, W, 62.0)
    rng = np.random.default_rng(3)
    lin = rng.random((H, W, 3), dtype=np.float32)
    quiet = dict(shot_noise=0.0, read_noise=0.0, vignetting=0.0)
    raw = camera_image(lin, CameraConfig(jpeg_quality=0, **quiet), None, K).astype(float)
    q90 = camera_image(lin, CameraConfig(jpeg_quality=90, **quiet), None, K).astype(float)
    q20 = camera_image(lin, CameraConfig(jpeg_quality=20, **quiet), None, K).astype(float)
    assert 0 < np.abs(q90 - raw).mean() < np.abs(q20 - raw).mean()
    sharp = _scan(2006, _knobs(camera={"blur_subframes": 1}))
    blurred = _scan(2006, _knobs(camera={"blur_subframes": 3, "blur_fraction": 1.0}))
    a, b = sharp.frame(8)[0].rgb.astype(float), blurred.frame(8)[0].rgb.astype(float)
    grad = lambda x: np.abs(np.diff(x.mean(2), axis=1)).mean()  # noqa: E731
    assert grad(b) < grad(a)


# ---------------------------------------------------------------------------------------------- depth

def test_depth_noise_grows_with_its_knob_and_with_distance_squared():
    shape = (100, 100)
    off = dict(dropout=0.0, edge_jump=0.0, dark_threshold=0.0, specular_holes=False)

    def err(z, noise):
        truth = np.full(shape, z, np.float32)
        out = sensor_depth(truth, np.ones(shape, np.float32), np.ones(shape, np.float32), np.zeros(shape, np.float32),
                           DepthSensorConfig(noise_at_1m=noise, **off), np.random.default_rng(1))
        assert (out > 0).all()
        return float((out - truth).std())

    assert err(2.0, 0.0) == 0.0
    assert err(2.0, 0.001) < err(2.0, 0.003)
    ratio = err(3.0, 0.002) / err(1.0, 0.002)
    assert 7.0 < ratio < 11.0  # 9 = (3 / 1)^2


def test_frontal_wall_within_range_has_no_holes():
    shape = (60, 80)
    cfg = DepthSensorConfig(dropout=0.0)
    out = sensor_depth(np.full(shape, 2.0, np.float32), np.full(shape, 0.98, np.float32),
                       np.full(shape, 0.3, np.float32), np.zeros(shape, np.float32), cfg, np.random.default_rng(0))
    assert (out > 0).all()
    far = sensor_depth(np.full(shape, cfg.max_range_m + 0.5, np.float32), np.ones(shape, np.float32),
                       np.full(shape, 0.3, np.float32), np.zeros(shape, np.float32), cfg, np.random.default_rng(0))
    assert (far == 0).all()


def test_rendered_depth_holes_at_grazing_angles_edges_and_beyond_range():
    """On a real render, with only the geometric hole causes on, holes are exactly where they should be."""
    scan = _scan(2007, _knobs(depth={"dropout": 0.0, "dark_threshold": 0.0, "specular_holes": False,
                                     "edge_jump": 0.0, "max_range_m": 3.0}))
    cfg = scan.realistic.depth
    grazing_seen = far_seen = 0
    for i in range(0, 12, 3):
        _, view = scan.frame(i)
        z, sensor = view.depth_m, view.sensor_depth_m
        grazing = (z > 0) & (view.normal_cos <= np.cos(np.deg2rad(cfg.grazing_deg)))
        far = z > cfg.max_range_m
        good = (z >= cfg.min_range_m) & ~far & ~grazing
        assert (sensor[grazing] == 0).all() and (sensor[far] == 0).all()
        assert (sensor[good] > 0).all()
        grazing_seen += grazing.sum()
        far_seen += far.sum()
    assert grazing_seen > 0 and far_seen > 0
    # depth edges: with the edge knob on, holes appear along depth discontinuities only
    edged = _scan(2007, _knobs(depth={"dropout": 0.0, "dark_threshold": 0.0, "specular_holes": False,
                                      "grazing_deg": 90.0, "max_range_m": 20.0}))
    _, view = edged.frame(0)
    holes = (view.sensor_depth_m == 0) & (view.depth_m > 0.4)
    zpad = np.pad(view.depth_m, 2, mode="edge")
    jump = np.max([np.abs(zpad[2 + dy:2 + dy + H, 2 + dx:2 + dx + W] - view.depth_m)
                   for dy in range(-2, 3) for dx in range(-2, 3)], axis=0)
    assert holes.any() and (jump[holes] > 0.02 * view.depth_m[holes]).all()


def test_dark_surfaces_give_holes():
    shape = (50, 50)
    cfg = DepthSensorConfig(dropout=0.0, dark_threshold=0.02)
    albedo = np.where(np.arange(50)[None, :] < 25, 0.005, 0.4).astype(np.float32) * np.ones(shape, np.float32)
    out = sensor_depth(np.full(shape, 2.0, np.float32), np.ones(shape, np.float32), albedo,
                       np.zeros(shape, np.float32), cfg, np.random.default_rng(0))
    assert (out[:, :25] == 0).all() and (out[:, 25:] > 0).all()


# ---------------------------------------------------------------------------------------------- light, texture

def test_exposure_changes_image_statistics():
    scan = _scan(2008, _knobs(camera={"shot_noise": 0.0, "read_noise": 0.0, "jpeg_quality": 0}))
    base = scan.renderer.exposure
    means, stds = [], []
    for gain in (0.25, 0.5, 1.0, 2.0):
        scan.renderer.exposure = base * gain
        rgb = scan.frame(4)[0].rgb.astype(float)
        means.append(rgb.mean())
        stds.append(rgb.std())
    assert means == sorted(means) and means[-1] > means[0] + 40
    assert stds[0] < stds[2]  # a dark exposure flattens the contrast
    # each scan meters its exposure; a dark scan's bias (x0.3-0.55) darkens it against its metered exposure
    seed = next(s for s in range(2000, 2100) if generate_scene(s, RealisticConfig()).lights.exposure_bias < 0.6)
    dark = _scan(seed)
    bias = dark.scene.lights.exposure_bias
    dark_mean = dark.frame(3)[0].rgb.mean()
    dark.renderer.exposure /= bias
    assert dark.frame(3)[0].rgb.mean() > dark_mean + 15


def test_lights_add_shading_contrast_and_shadows_darken():
    cfg = _knobs(lighting={"ambient": 0.6})
    scene = generate_scene(2009, cfg)
    K = intrinsics(H, W, 62.0)
    scan = _scan(2009, cfg)
    T = scan.poses[0]
    lit = SceneRenderer(scene, cfg).render_linear(K, T, H, W)
    dark_scene = dataclasses.replace(scene, lights=dataclasses.replace(scene.lights, rgb=scene.lights.rgb * 0))
    ambient = SceneRenderer(dark_scene, cfg).render_linear(K, T, H, W)
    hit = lit.view.depth_m > 0
    assert lit.linear[hit].mean() > 1.5 * ambient.linear[hit].mean()
    # shading from a point light varies over one flat wall; ambient light alone does not
    wall = lit.view.labels == WALL
    ratio_lit = (lit.linear[wall] / np.maximum(ambient.linear[wall], 1e-6)).mean(1)
    assert wall.sum() > 50 and ratio_lit.std() > 0.05
    shadows = SceneRenderer(scene, _knobs(lighting={"ambient": 0.6, "shadows": True})).render_linear(K, T, H, W)
    assert shadows.linear.sum() <= lit.linear.sum() + 1e-3


def _grad_energy(rgb: np.ndarray, inst: np.ndarray, step: int) -> float:
    """Median grey-level difference of pixels `step` apart on the same instance: texture detail present
    across the surfaces (a median, so a few strong stripes or object edges do not count as detail)."""
    g = rgb.astype(np.float64).mean(2)
    dx = np.abs(g[:, step:] - g[:, :-step])
    same = (inst[:, step:] == inst[:, :-step]) & (inst[:, step:] >= 0)
    return float(np.median(dx[same]))


def test_textures_have_detail_at_several_scales():
    quiet = _knobs(camera={"shot_noise": 0.0, "read_noise": 0.0, "jpeg_quality": 0, "blur_subframes": 1,
                           "vignetting": 0.0})
    flat = _knobs(camera=dataclasses.asdict(quiet.camera), textures={"detail": 0.0, "fine_grain": 0.0})
    energy = {}
    for name, style, cfg in (("simple", "simple", None), ("realistic", "realistic", quiet), ("flat", "realistic", flat)):
        e1 = e4 = 0.0
        for seed in (2010, 2011, 2012):
            scan = SyntheticScan(seed, num_frames=10, height=120, width=160, style=style, realistic=cfg)
            for i in (0, 5):
                view = scan.renderer.render(scan.K, scan.poses[i], 120, 160) if style == "simple" else scan.frame(i)[1]
                e1 += _grad_energy(view.rgb, view.instance, 1)
                small = view.rgb[::4, ::4]
                e4 += _grad_energy(small, view.instance[::4, ::4], 1)
        energy[name] = (e1, e4)
    for k in (0, 1):  # fine (1 px) and coarse (4 px) scales (docs/synthetic_scenes.md: realistic 4.5 / 6.2, simple 0.5 / 2.9)
        assert energy["realistic"][k] > 1.5 * energy["simple"][k]
        assert energy["realistic"][k] > 3.0 * energy["flat"][k]


@pytest.mark.slow  # ~10 s: 36 small scans
def test_colour_does_not_identify_the_class():
    """A nearest per-class-mean-colour classifier, fitted on some scenes and scored on others, is near chance."""
    def per_scene_class_colours(style, seeds):
        X, y = [], []
        for s in seeds:
            scan = SyntheticScan(s, num_frames=30, height=30, width=40, style=style, realistic=RealisticConfig())
            acc = {}
            for i in (0, 10, 20, 29):
                v = scan.renderer.render(scan.K, scan.poses[i], 30, 40)
                for c in np.unique(v.labels):
                    if c != IGNORE_ID:
                        m = v.labels == c
                        a = acc.setdefault(int(c), [np.zeros(3), 0])
                        a[0] += v.rgb[m].astype(float).sum(0)
                        a[1] += m.sum()
            X += [sm / n for sm, n in acc.values()]
            y += list(acc)
        return np.array(X), np.array(y)

    acc = {}
    for style in ("simple", "realistic"):
        Xa, ya = per_scene_class_colours(style, range(1000, 1010))
        Xb, yb = per_scene_class_colours(style, range(2000, 2008))
        classes = np.unique(ya)
        means = np.array([Xa[ya == c].mean(0) for c in classes])
        pred = classes[np.argmin(((Xb[:, None] - means[None]) ** 2).sum(-1), 1)]
        acc[style] = float((pred == yb).mean())
        majority = max(float(np.mean(yb == c)) for c in classes)
    assert acc["realistic"] < acc["simple"]
    assert acc["realistic"] <= majority  # no better than always answering the most common class


# ---------------------------------------------------------------------------------------------- layout, trajectory

def test_rooms_two_rooms_and_clutter():
    cfg = RealisticConfig()
    scenes = [generate_scene(s, cfg) for s in range(2000, 2016)]
    sizes = np.array([sc.room_size_m[:2].prod() for sc in scenes])
    assert sizes.max() > 2.5 * sizes.min()  # rooms of several sizes
    two = [sc for sc in scenes if sc.two_rooms]
    assert 0 < len(two) < len(scenes)
    sc = two[0]
    walls = [o for o in sc.objects if o.label == WALL]
    assert len(walls) == 5  # four outer walls and the partition
    # the walk loop passes through the doorway: both sides of the partition are walked, never through solid
    loop = np.concatenate([sc.walk_loop, np.full((len(sc.walk_loop), 1), 1.0)], 1)
    assert not sc.inside_solid(loop).any()
    xs = np.array([p.center[0] for p in sc.primitives if sc.objects[p.object_id].label == WALL]).mean()
    assert (sc.walk_loop[:, 0] < xs - 0.5).any() and (sc.walk_loop[:, 0] > xs + 0.5).any()
    clutter = [o for o in sc.objects if o.kind == "clutter"]
    assert sum(o.kind == "clutter" for s in scenes for o in s.objects) > 3 * len(scenes)
    assert all(o.label == IGNORE_ID for o in clutter)


def test_robot_and_handheld_trajectories():
    kinds = {}
    for seed in range(2000, 2012):
        scan = _scan(seed, frames=240, h=8, w=8)
        kinds.setdefault(scan.trajectory_kind, scan)
    robot, hand = kinds["robot"], kinds["handheld"]
    for scan in (robot, hand):  # the camera stays in free space
        sdf = scan.renderer.true_sdf(scan.poses[:, :3, 3])
        assert (sdf > 0.1).all()
    zr, zh = robot.poses[:, 2, 3], hand.poses[:, 2, 3]
    assert zr.max() < 0.8 < zh.min()  # lower
    def rot(P):  # rotation angle between consecutive frames, radians
        rel = P[1:, :3, :3].transpose(0, 2, 1) @ P[:-1, :3, :3]
        return np.arccos(np.clip((np.einsum("fii->f", rel) - 1) / 2, -1, 1))
    step = lambda P: np.linalg.norm(np.diff(P[:, :3, 3], axis=0), axis=1)  # noqa: E731
    assert step(robot.poses).mean() < step(hand.poses).mean()  # slower
    # steadier: no bobbing, and (but for turning round once) it turns less per frame than a panning hand
    assert zr.std() < 0.01 < zh.std()
    assert np.median(rot(robot.poses)) < 0.6 * np.median(rot(hand.poses))
    # out and back: the second half revisits the first half's places
    F = len(robot.poses)
    k = np.arange(0, F // 2, 10)
    back = np.linalg.norm(robot.poses[F - 1 - k, :3, 3] - robot.poses[k, :3, 3], axis=1)
    assert back.max() < 0.1
