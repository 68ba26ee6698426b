"""Offscreen pictures of triangle meshes without a display or GPU: open3d's CPU ray casting (RaycastingScene).

Measured on the project's machines (no display, no GPU, 2026-12-04): open3d's OffscreenRenderer fails
("Failed to load vulkan library!" after the headless GLFW fallback), while RaycastingScene casts a 480x360 view
of a 200k-face mesh in ~0.1 s on one core. Faces turned away from the camera are dropped before casting
(back-face culling), so a bird's-eye view sees into a room through its near walls and ceiling ("dollhouse").
Faces must be oriented counter-clockwise seen from free space (the semantic mesh is; `orient_to_free_space`
turns a mesh with mixed orientation around).
"""
from __future__ import annotations

import numpy as np

from gnesf_ros.errors import InputError


def look_at(eye_m: np.ndarray, target_m: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """T_map_cam (4, 4) of an OpenCV camera (x right, y down, z forward) at eye_m looking at target_m."""
    eye_m, target_m = np.asarray(eye_m, np.float64), np.asarray(target_m, np.float64)
    z = target_m - eye_m
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        raise InputError("look_at: the viewing direction is parallel to `up`")
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, np.cross(z, x), z, eye_m
    return T


def intrinsics(height: int, width: int, fov_x_deg: float = 60.0) -> np.ndarray:
    f = 0.5 * width / np.tan(np.deg2rad(fov_x_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def face_normals(vertices_m: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unnormalised face normals (F, 3), float64 (right-hand rule over the face's vertex order)."""
    tri = np.asarray(vertices_m, np.float64)[faces]
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def orient_to_free_space(vertices_m: np.ndarray, faces: np.ndarray, sdf_fn, step_m: float = 0.01) -> np.ndarray:
    """Faces (F, 3) reordered where needed so that each normal points to where `sdf_fn` (N, 3) -> (N,) is larger."""
    n = face_normals(vertices_m, faces)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    c = np.asarray(vertices_m, np.float64)[faces].mean(axis=1)
    flip = sdf_fn(c + step_m * n) < sdf_fn(c - step_m * n)
    out = np.array(faces, copy=True)
    out[flip] = out[flip][:, ::-1]
    return out


def render_mesh(vertices_m: np.ndarray, faces: np.ndarray, K: np.ndarray, T_map_cam: np.ndarray, height: int,
                width: int, vertex_rgb: np.ndarray | None = None, face_rgb: np.ndarray | None = None,
                background: tuple[int, int, int] = (255, 255, 255), cull_back_faces: bool = True) -> np.ndarray:
    """Shaded picture (H, W, 3) uint8 of a mesh: vertices (V, 3), faces (F, 3), coloured by vertex_rgb (V, 3)
    uint8 (each pixel takes its face's nearest vertex: class borders stay sharp) or face_rgb (F, 3) uint8."""
    import open3d as o3d

    if (vertex_rgb is None) == (face_rgb is None):
        raise InputError("render_mesh: give exactly one of vertex_rgb and face_rgb")
    vertices_m = np.asarray(vertices_m, np.float64)
    faces = np.asarray(faces, np.int64)
    T = np.asarray(T_map_cam, np.float64)
    image = np.empty((height * width, 3), np.uint8)
    image[:] = background
    normal = face_normals(vertices_m, faces)
    keep = np.arange(faces.shape[0])
    if cull_back_faces:
        to_cam = T[:3, 3][None] - vertices_m[faces].mean(axis=1)
        keep = np.nonzero((normal * to_cam).sum(axis=1) > 0)[0]
    if keep.size == 0:
        return image.reshape(height, width, 3)
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(vertices_m.astype(np.float32)),
                     o3d.core.Tensor(faces[keep].astype(np.uint32)))
    v, u = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    Kinv = np.linalg.inv(np.asarray(K, np.float64))
    d_cam = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1) @ Kinv.T
    d_map = d_cam @ T[:3, :3].T
    d_map /= np.linalg.norm(d_map, axis=1, keepdims=True)
    rays = np.concatenate([np.broadcast_to(T[:3, 3], d_map.shape), d_map], axis=1).astype(np.float32)
    ans = rc.cast_rays(o3d.core.Tensor(rays))
    prim = ans["primitive_ids"].numpy().astype(np.int64)
    hit = prim != o3d.t.geometry.RaycastingScene.INVALID_ID
    f = keep[prim[hit]]
    if vertex_rgb is not None:
        uv = ans["primitive_uvs"].numpy()[hit]  # barycentric weights of the face's 2nd and 3rd vertex
        w = np.stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1)
        color = np.asarray(vertex_rgb)[faces[f, np.argmax(w, axis=1)]].astype(np.float64)
    else:
        color = np.asarray(face_rgb)[f].astype(np.float64)
    n = normal[f] / np.maximum(np.linalg.norm(normal[f], axis=1, keepdims=True), 1e-12)
    shade = 0.45 + 0.55 * np.abs((n * d_map[hit]).sum(axis=1))  # head light
    image[hit] = np.clip(color * shade[:, None], 0, 255).astype(np.uint8)
    return image.reshape(height, width, 3)


def orbit_views(lo_m: np.ndarray, hi_m: np.ndarray, azimuths_deg=(45.0, 225.0), elevation_deg: float = 55.0,
                fov_x_deg: float = 60.0, aspect: float = 0.75) -> list[np.ndarray]:
    """T_map_cam (4, 4) of cameras around the box [lo_m, hi_m] looking at its centre from above, far enough for
    the box to fit in the view."""
    lo_m, hi_m = np.asarray(lo_m, np.float64), np.asarray(hi_m, np.float64)
    centre = (lo_m + hi_m) / 2.0
    radius = 0.5 * np.linalg.norm(hi_m - lo_m)
    half_fov = np.deg2rad(fov_x_deg) / 2.0 * min(1.0, aspect)
    dist = radius / np.sin(half_fov) * 0.95
    views = []
    el = np.deg2rad(elevation_deg)
    for az in np.deg2rad(np.asarray(azimuths_deg, np.float64)):
        eye = centre + dist * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        views.append(look_at(eye, centre))
    return views


def save_mesh_preview(path, mesh, class_list, truth=None, title: str = "", height: int = 300, width: int = 400,
                      bounds_m: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """A PNG of the semantic mesh (mapping/mesh.py TriangleMesh) from two bird's-eye viewpoints: coloured by class
    and by the images' RGB, next to `truth` = (vertices (V, 3), faces (F, 3) oriented to free space, face labels
    (F,)) coloured by class when given. Unknown semantics are grey."""
    from gnesf_ros.eval.plots import _pyplot
    from gnesf_ros.mapping.mesh import vertex_colors

    if bounds_m is None:
        lo, hi = (mesh.vertices_m.min(axis=0), mesh.vertices_m.max(axis=0)) if mesh.num_vertices else \
            (np.zeros(3), np.ones(3))
    else:
        lo, hi = bounds_m
    K = intrinsics(height, width)
    views = orbit_views(lo, hi, aspect=height / width)
    columns = [("mesh: class", dict(vertex_rgb=vertex_colors(mesh, "class", class_list))),
               ("mesh: RGB", dict(vertex_rgb=mesh.rgb))]
    if truth is not None:
        columns.append(("truth: class", dict(face_rgb=class_list.colorize(truth[2], unknown_rgb=(200, 200, 200)))))
    plt = _pyplot()
    fig, axes = plt.subplots(len(views), len(columns), figsize=(3.2 * len(columns), 2.5 * len(views)),
                             squeeze=False)
    for r, T in enumerate(views):
        for c, (name, colors) in enumerate(columns):
            verts, faces = (mesh.vertices_m, mesh.faces) if name.startswith("mesh") else truth[:2]
            axes[r, c].imshow(render_mesh(verts, faces, K, T, height, width, **colors))
            axes[r, c].axis("off")
            if r == 0:
                axes[r, c].set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
