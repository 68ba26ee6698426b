"""Ray-cast rendering of a synthetic `Scene` with open3d: RGB, depth, labels, instances, true SDF.

Cameras follow the project convention: `T_map_cam` (4, 4) maps the OpenCV optical frame (x right,
y down, z forward) to the map frame; pixel centres sit at integer coordinates.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import open3d as o3d

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.data.scene import Scene
from gnesf_ros.errors import InputError

if TYPE_CHECKING:
    from gnesf_ros.data.realism import RealisticConfig

AMBIENT = 0.35
DIFFUSE = 0.8
SENSOR_NOISE_STD = 2.0  # RGB levels (0..255) of Gaussian sensor noise when an rng is given


@dataclass
class RenderedView:
    """Ground truth of one rendered camera view."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth_m: np.ndarray  # (H, W) float32 z-depth in metres, 0 where the ray hits nothing
    labels: np.ndarray  # (H, W) uint8 class ids, 255 = ceiling / no hit
    instance: np.ndarray  # (H, W) int32 object ids, -1 = no hit
    normal_cos: np.ndarray  # (H, W) float32 |cos| between viewing ray and surface normal, 0 where no hit
    sensor_depth_m: np.ndarray | None = None  # (H, W) realistic style: the depth sensor's output (0 = hole)


@dataclass
class LinearView:
    """A realistic-style render before the camera: truth plus the linear image and what the sensors need."""

    view: RenderedView  # truth; its rgb is the linear image exposed, gamma-encoded, without camera effects
    linear: np.ndarray  # (H, W, 3) float32 exposed, white-balanced linear image (1 = full scale)
    reflected: np.ndarray  # (H, W) float32 linear luminance leaving the surface, before exposure
    shininess: np.ndarray  # (H, W) float32 shininess of the hit look, 0 where no hit
    albedo_lum: np.ndarray  # (H, W) float32 linear albedo luminance (what an IR projector sees), 0 where no hit


def _matmul3(x: np.ndarray, A: np.ndarray) -> np.ndarray:
    """x (N, 3) @ A (3, 3) in float32 without BLAS (threaded BLAS is slow for this shape on busy CPUs)."""
    A = np.asarray(A, np.float32)
    return x[:, 0:1] * A[0] + x[:, 1:2] * A[1] + x[:, 2:3] * A[2]


class SceneRenderer:
    """Renders views of one scene and answers geometric truth queries (SDF, surface samples)."""

    def __init__(self, scene: Scene, realistic: "RealisticConfig | None" = None) -> None:
        self.scene = scene
        if scene.look is not None and realistic is None:
            from gnesf_ros.data.realism import RealisticConfig

            realistic = RealisticConfig()
        self.realistic = realistic
        self.exposure = 1.0  # realistic style: linear gain of the camera (SyntheticScan meters it per scan)
        self._rc = o3d.t.geometry.RaycastingScene()
        self._rc.add_triangles(o3d.core.Tensor(scene.vertices.astype(np.float32)),
                               o3d.core.Tensor(scene.triangles.astype(np.uint32)))
        self._grids: dict[tuple[int, int], np.ndarray] = {}

    # -- rendering ------------------------------------------------------------------------------

    def _dirs_cam(self, K: np.ndarray, height: int, width: int) -> np.ndarray:
        key = (height, width)
        if key not in self._grids:
            v, u = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32),
                               indexing="ij")
            self._grids = {key: np.stack([u.ravel(), v.ravel()], 1)}
        uv = self._grids[key]
        k = K.astype(np.float32)
        return np.stack([(uv[:, 0] - k[0, 2]) / k[0, 0], (uv[:, 1] - k[1, 2]) / k[1, 1],
                         np.ones(len(uv), np.float32)], 1)

    def render(self, K: np.ndarray, T_map_cam: np.ndarray, height: int, width: int,
               rng: np.random.Generator | None = None) -> RenderedView:
        """Render one view. K (3, 3) intrinsics, T_map_cam (4, 4); `rng` adds sensor noise to rgb."""
        K = np.asarray(K, dtype=np.float64)
        T = np.asarray(T_map_cam, dtype=np.float64)
        if K.shape != (3, 3) or T.shape != (4, 4):
            raise InputError(f"render: K must be (3, 3) and T_map_cam (4, 4), got {K.shape} and {T.shape}")
        if height < 1 or width < 1:
            raise InputError(f"render: image size must be positive, got {height}x{width}")
        if self.scene.look is not None:
            lv = self.render_linear(K, T, height, width)
            if rng is None:
                return lv.view
            noise = rng.standard_normal(size=lv.view.rgb.shape, dtype=np.float32) * np.float32(SENSOR_NOISE_STD)
            rgb = lv.view.rgb.astype(np.float32) + noise
            return dataclasses.replace(lv.view, rgb=np.clip(rgb + 0.5, 0, 255).astype(np.uint8))
        n_pix = height * width
        rays = np.empty((n_pix, 6), np.float32)
        rays[:, :3] = T[:3, 3]
        rays[:, 3:] = _matmul3(self._dirs_cam(K, height, width), T[:3, :3].T)  # camera z component 1
        ans = self._rc.cast_rays(o3d.core.Tensor.from_numpy(rays))
        t = ans["t_hit"].numpy()
        prim = ans["primitive_ids"].numpy()
        hit = np.isfinite(t) & (prim < len(self.scene.triangles))
        t = np.where(hit, t, np.float32(0.0))
        p_tri = np.where(hit, prim, 0).astype(np.int64)
        labels = np.where(hit, self.scene.tri_labels[p_tri], np.uint8(IGNORE_ID)).astype(np.uint8)
        obj = self.scene.tri_object[p_tri]
        instance = np.where(hit, obj, -1).astype(np.int32)
        d = rays[:, 3:]
        n = ans["primitive_normals"].numpy()
        cos_v = np.einsum("nc,nc->n", n, d) / np.sqrt(np.einsum("nc,nc->n", d, d))
        n *= np.where(cos_v > 0, np.float32(-1.0), np.float32(1.0))[:, None]  # normals face the camera
        normal_cos = np.where(hit, np.abs(cos_v), 0.0).astype(np.float32)
        pts = rays[:, :3] + d * t[:, None]
        rgb = self._albedo(pts, obj) * (np.where(hit, self._shade(pts, n), 0.0) * 255.0).astype(np.float32)[:, None]
        if rng is not None:
            rgb += rng.standard_normal(size=rgb.shape, dtype=np.float32) * np.float32(SENSOR_NOISE_STD)
        rgb = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
        return RenderedView(rgb=rgb.reshape(height, width, 3), depth_m=t.reshape(height, width),
                            labels=labels.reshape(height, width), instance=instance.reshape(height, width),
                            normal_cos=normal_cos.reshape(height, width))

    def render_linear(self, K: np.ndarray, T_map_cam: np.ndarray, height: int, width: int) -> LinearView:
        """Realistic style: textures, lights (Lambertian, inverse-square, optional shadows, highlights), exposure."""
        from gnesf_ros.data.textures import albedo

        sc, cfg = self.scene, self.realistic
        if sc.look is None or sc.lights is None:
            raise InputError("render_linear: the scene is of the simple style (no look); use render()")
        K = np.asarray(K, dtype=np.float64)
        T = np.asarray(T_map_cam, dtype=np.float64)
        n_pix = height * width
        rays = np.empty((n_pix, 6), np.float32)
        rays[:, :3] = T[:3, 3]
        rays[:, 3:] = _matmul3(self._dirs_cam(K, height, width), T[:3, :3].T)
        ans = self._rc.cast_rays(o3d.core.Tensor.from_numpy(rays))
        t = ans["t_hit"].numpy()
        prim = ans["primitive_ids"].numpy()
        hit = np.isfinite(t) & (prim < len(sc.triangles))
        t = np.where(hit, t, np.float32(0.0))
        tri = np.where(hit, prim, 0).astype(np.int64)
        labels = np.where(hit, sc.tri_labels[tri], np.uint8(IGNORE_ID)).astype(np.uint8)
        instance = np.where(hit, sc.tri_object[tri], -1).astype(np.int32)
        d = rays[:, 3:]
        n = ans["primitive_normals"].numpy()
        dlen = np.sqrt(np.einsum("nc,nc->n", d, d))
        cos_v = np.einsum("nc,nc->n", n, d) / dlen
        n *= np.where(cos_v > 0, np.float32(-1.0), np.float32(1.0))[:, None]
        normal_cos = np.where(hit, np.abs(cos_v), 0.0).astype(np.float32)
        idx = np.nonzero(hit)[0]
        pts = rays[idx, :3] + d[idx] * t[idx, None]
        nh = n[idx]
        alb, look_id = albedo(sc.look, pts, nh, tri[idx], cfg.textures.detail, cfg.textures.fine_grain)
        shiny = sc.look.shininess[look_id]
        view_dir = -d[idx] / dlen[idx, None]
        irr = np.full((len(idx), 3), np.float32(sc.lights.ambient))
        spec = np.zeros((len(idx), 3), np.float32)
        for lp, lc in zip(sc.lights.pos, sc.lights.rgb):
            to_l = lp[None, :] - pts
            d2 = np.einsum("nc,nc->n", to_l, to_l)
            inv = 1.0 / np.sqrt(np.maximum(d2, 1e-12))
            cos_l = np.maximum(np.einsum("nc,nc->n", nh, to_l) * inv, 0.0)
            vis = self._unshadowed(pts, nh, to_l) if cfg.lighting.shadows else 1.0
            fall = vis / (d2 + np.float32(0.1))
            irr += (cos_l * fall)[:, None] * lc[None, :]
            if cfg.lighting.specular > 0:
                half = to_l * inv[:, None] + view_dir
                half /= np.linalg.norm(half, axis=1, keepdims=True) + 1e-9
                nh_dot = np.maximum(np.einsum("nc,nc->n", nh, half), 0.0)
                power = 20.0 + 80.0 * shiny
                spec += (cfg.lighting.specular * shiny * nh_dot ** power * fall * (cos_l > 0))[:, None] * lc[None, :]
        rad = np.zeros((n_pix, 3), np.float32)
        rad[idx] = alb * irr + spec
        lum = np.zeros(n_pix, np.float32)
        lum[idx] = rad[idx] @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        linear = rad * np.float32(self.exposure) * sc.lights.white_balance[None, :]
        rgb = (np.clip(linear, 0.0, 1.0) ** np.float32(1 / 2.2) * 255.0 + 0.5).astype(np.uint8)
        sh = np.zeros(n_pix, np.float32)
        sh[idx] = shiny
        alum = np.zeros(n_pix, np.float32)
        alum[idx] = alb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        view = RenderedView(rgb=rgb.reshape(height, width, 3), depth_m=t.reshape(height, width),
                            labels=labels.reshape(height, width), instance=instance.reshape(height, width),
                            normal_cos=normal_cos.reshape(height, width))
        return LinearView(view=view, linear=linear.reshape(height, width, 3), reflected=lum.reshape(height, width),
                          shininess=sh.reshape(height, width), albedo_lum=alum.reshape(height, width))

    def _unshadowed(self, pts: np.ndarray, normals: np.ndarray, to_light: np.ndarray) -> np.ndarray:
        """(N,) 1 where the segment from each hit (lifted 2 mm off its surface) to the light is free, else 0."""
        rays = np.concatenate([pts + 0.002 * normals, to_light], axis=1).astype(np.float32)
        t = self._rc.cast_rays(o3d.core.Tensor.from_numpy(rays))["t_hit"].numpy()
        return (~(t < 0.999)).astype(np.float32)

    def _albedo(self, pts: np.ndarray, obj: np.ndarray) -> np.ndarray:
        """Procedural texture of each object evaluated at 3D points (N, 3) -> albedo (N, 3) in [0, 1]."""
        sc = self.scene
        out = np.empty((len(pts), 3), np.float32)
        order = np.argsort(obj, kind="stable")
        ids, starts = np.unique(obj[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        for o, a, b in zip(ids, starts, ends):  # one vectorised evaluation per visible object
            sel = order[a:b]
            p = pts[sel]
            f = np.float32(sc.texture_freq[o] * 2.0 * np.pi)
            ph = sc.texture_phase[o]
            proj = _matmul3(p, sc.texture_dirs[o].T)  # (n, 3)
            tex = int(sc.texture[o])
            if tex == 0:  # plain: a faint low-frequency shading variation
                pattern = 0.5 + 0.2 * np.sin(proj[:, 0] * (f * 0.25) + ph[0])
            elif tex == 1:  # stripes
                pattern = np.clip(np.sin(proj[:, 0] * f + ph[0]) * 3.0, -1.0, 1.0) * 0.5 + 0.5
            elif tex == 2:  # checker, axis aligned
                cells = np.floor(p * (f / (2 * np.pi)) + ph / (2 * np.pi)).astype(np.int64)
                pattern = (cells.sum(axis=1) & 1).astype(np.float32)
            else:  # noise: a sum of oblique waves at two scales
                waves = np.sin(proj * f + ph).sum(axis=1)
                fine = np.sin(proj * (f * 2.3) + ph[::-1]).sum(axis=1)
                pattern = 0.5 + (waves + 0.6 * fine) / 9.6
            pattern = np.clip(pattern, 0.0, 1.0)[:, None]
            out[sel] = sc.base_rgb[o] * (1.0 - pattern) + sc.second_rgb[o] * pattern
        return out

    def _shade(self, pts: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """Lambertian shading from the room light plus ambient: (N,) factors."""
        to_light = self.scene.light_pos - pts
        dist2 = np.einsum("nc,nc->n", to_light, to_light)
        cos_l = np.maximum(np.einsum("nc,nc->n", normals, to_light), 0.0) / np.sqrt(np.maximum(dist2, 1e-12))
        return AMBIENT + DIFFUSE * cos_l / (1.0 + 0.04 * dist2)

    # -- geometric truth -------------------------------------------------------------------------

    def true_sdf(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (N,) float32 of map points (N, 3) to the scene surface.

        Positive in free space inside the room, negative inside furniture, walls' outside and
        any other solid. The magnitude comes from open3d (closest triangle); the sign from exact
        inside tests of the scene's primitives (open3d's own sign counts ray crossings, which the
        one-sided room shell and touching parts would make wrong).
        """
        pts = np.asarray(points, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise InputError(f"true_sdf: points must be (N, 3), got {pts.shape}")
        dist = self._rc.compute_distance(o3d.core.Tensor(pts)).numpy()
        return np.where(self.scene.inside_solid(pts), -dist, dist).astype(np.float32)

    def surface_points(self, spacing_m: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
        """Points sampled uniformly (about one per spacing_m^2) on the labelled, observable surface.

        Returns pts (N, 3) float32 and labels (N,) uint8. Ceiling (ignore) triangles are left out,
        and so are surface parts with solid on both sides (floor under a cabinet, a wall behind a
        picture), which no camera can see. Deterministic per scene.
        """
        if spacing_m <= 0:
            raise InputError(f"surface_points: spacing_m must be positive, got {spacing_m}")
        sc = self.scene
        rng = np.random.default_rng([sc.seed, 7])
        keep_tri = np.nonzero(sc.tri_labels != IGNORE_ID)[0]
        v = sc.vertices.astype(np.float64)[sc.triangles[keep_tri]]  # (T, 3, 3)
        cross = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        area2 = np.linalg.norm(cross, axis=1)
        expected = 0.5 * area2 / spacing_m ** 2
        counts = np.floor(expected + rng.random(len(expected))).astype(np.int64)
        tri = np.repeat(np.arange(len(keep_tri)), counts)
        r1, r2 = rng.random(len(tri)), rng.random(len(tri))
        flip = r1 + r2 > 1.0
        r1[flip], r2[flip] = 1.0 - r1[flip], 1.0 - r2[flip]
        vt = v[tri]
        pts = vt[:, 0] + r1[:, None] * (vt[:, 1] - vt[:, 0]) + r2[:, None] * (vt[:, 2] - vt[:, 0])
        normal = cross[tri] / np.maximum(area2[tri], 1e-12)[:, None]
        eps = 0.004
        visible = ~sc.inside_solid(pts + eps * normal) | ~sc.inside_solid(pts - eps * normal)
        labels = sc.tri_labels[keep_tri[tri]]
        return pts[visible].astype(np.float32), labels[visible]
