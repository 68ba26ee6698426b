"""The local volume of a window of keyframes: bounds snapped to the global voxel grid, frustum mask, depth TSDF,
the window's depth hits per voxel, and the voxels the window observes (`observed_voxels`: the mapper's first stage).

Voxel key (i, j, k) (int64) has its centre at (i, j, k) * voxel_size_m in the map frame; a fragment is the
box of keys key_min .. key_min + dims - 1, so its `origin_m` (the centre of volume index (0, 0, 0)) lies on
the global grid and fragments fuse into the global map without resampling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from gnesf_ros.errors import InputError
from gnesf_ros.geometry.camera import Camera, pixel_directions, pixel_grid
from gnesf_ros.geometry.culling import frustum_candidates
from gnesf_ros.config import parse_mode
from gnesf_ros.mapping.config import TsdfDistance
from gnesf_ros.mapping.voxel_map import pack_keys, sorted_lookup


@dataclass
class Fragment:
    """A local voxel volume on the global grid. Arrays are numpy, indexed [x, y, z]."""

    key_min: np.ndarray  # (3,) int64 voxel key of volume index (0, 0, 0)
    dims: tuple[int, int, int]  # (X, Y, Z)
    voxel_size_m: float
    mask: np.ndarray  # (X, Y, Z) bool: voxel centre inside >= 1 window frustum (clipped at max_depth_m)
    cropped: bool  # the frusta's bounds exceeded max_volume_dims on some axis and were cropped
    rgb: np.ndarray | None = None  # (X, Y, Z, 3) float32 in [0, 1]: mean colour over the views that see the voxel
    tsdf_m: np.ndarray | None = None  # (X, Y, Z) float32 depth TSDF (m), +trunc where unobserved
    tsdf_weight: np.ndarray | None = None  # (X, Y, Z) float32 number of depth observations

    @property
    def origin_m(self) -> np.ndarray:
        """Map-frame centre (3,) float64 of volume index (0, 0, 0)."""
        return self.key_min.astype(np.float64) * self.voxel_size_m

    @property
    def num_voxels(self) -> int:
        return int(np.prod(self.dims))

    def keys(self) -> np.ndarray:
        """Integer voxel keys (X*Y*Z, 3) int64, C order (x slowest, z fastest)."""
        grids = np.meshgrid(*(np.arange(d, dtype=np.int64) for d in self.dims), indexing="ij")
        return np.stack([g.reshape(-1) for g in grids], axis=1) + self.key_min[None, :]

    def centers_m(self) -> np.ndarray:
        """Voxel centres (X*Y*Z, 3) float64 in the map frame, C order."""
        return self.keys().astype(np.float64) * self.voxel_size_m


@dataclass
class DepthHits:
    """The depth pixels of a window binned into voxels: where the sensor saw surface inside each voxel."""

    keys: np.ndarray  # (U,) int64 packed voxel keys (voxel_map.pack_keys), strictly increasing
    mean_m: np.ndarray  # (U, 3) float64 mean of the hits in each voxel, map frame
    count: np.ndarray  # (U,) int64 number of hits

    def lookup(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Packed keys (P,) -> (index (P,) into the hit arrays, found (P,) bool)."""
        return sorted_lookup(self.keys, packed)


@dataclass
class FragmentVoxels:
    """The P voxels of a fragment that its window observes, and where the model is asked about them."""

    fragment: Fragment
    select: np.ndarray  # (P,) int64 flat (C order) indices into the fragment's volume
    keys: np.ndarray  # (P, 3) int64 global voxel keys (= fragment.keys()[select])
    query_m: np.ndarray  # (P, 3) float64 map points where semantics are voted: centres, or the depth hits' mean
    weight: np.ndarray  # (P,) float32 weight of their SDF observation: the TSDF's view count (depth) or 1 (learned)
    depth_sdf_m: np.ndarray | None = None  # (P,) float32 depth TSDF (m) with depth geometry; None = the model's SDF
    hit_offset_m: np.ndarray | None = None  # (P, 3) float32 hits' mean - centre (zero where no hit), with hits
    hit_count: np.ndarray | None = None  # (P,) int64 depth hits in each voxel, with hits

    @property
    def size(self) -> int:
        return int(self.select.size)


def observed_voxels(frag: Fragment, depth_geometry: bool, hits: DepthHits | None = None) -> FragmentVoxels | None:
    """The fragment's voxels inside some frustum (and, with depth geometry, observed by the TSDF); None if there are
    none. With `hits` (the window's `depth_hits`) a voxel the depth hit is voted at the hits' mean, not its centre:
    at an object's edge a centre may project onto the surface behind."""
    mask = frag.mask.reshape(-1)
    if depth_geometry:
        mask = mask & (frag.tsdf_weight.reshape(-1) > 0)
    select = np.nonzero(mask)[0]
    if select.size == 0:  # e.g. a tile in a corner of the window's box that no frustum reaches
        return None
    keys = np.stack(np.unravel_index(select, frag.dims), axis=1).astype(np.int64) + frag.key_min[None, :]
    voxels = FragmentVoxels(fragment=frag, select=select, keys=keys,
                            query_m=keys.astype(np.float64) * frag.voxel_size_m,
                            weight=np.ones(select.size, dtype=np.float32))
    if depth_geometry:  # geometry is the depth TSDF: the model is asked only for semantics
        voxels.depth_sdf_m = frag.tsdf_m.reshape(-1)[select]
        voxels.weight = frag.tsdf_weight.reshape(-1)[select]
    if hits is not None:
        hidx, hit = hits.lookup(pack_keys(keys))
        hit_mean_m = hits.mean_m[hidx[hit]]
        voxels.hit_offset_m = np.zeros((select.size, 3), np.float32)
        voxels.hit_count = np.where(hit, hits.count[hidx], 0)
        voxels.hit_offset_m[hit] = hit_mean_m - voxels.query_m[hit]
        voxels.query_m[hit] = hit_mean_m
    return voxels


DENSE_HIT_BINS = 1 << 24
"""`depth_hits` bins the hits on a dense grid of their bounding box up to this many voxels (4 int64/float64 arrays
of it: 0.5 GB at the limit; a window's hits within max_depth_m span ~2 M), beyond it it sorts their keys."""


def depth_hits(depth_m: torch.Tensor, camera: Camera, voxel_size_m: float, max_depth_m: float) -> DepthHits:
    """Back-project every valid pixel of V depth images (V, H, W) of `camera` (0, NaN, inf and beyond max_depth_m:
    none) and bin the points into the voxels whose centres are nearest (key = round(x / voxel_size_m))."""
    V, H, W = depth_m.shape
    if (camera.num_views, camera.height, camera.width) != (V, H, W):
        raise InputError(f"depth_hits: depth (V, H, W) = {(V, H, W)} does not match {camera.num_views} cameras of "
                         f"{camera.height}x{camera.width}")
    camera = camera.to(dtype=torch.float64)
    pts = []
    for i in range(V):  # V <= window size; vectorised over pixels
        origin, direction = camera.rays(i)  # (H*W, 3) each, z = 1
        d = depth_m[i].reshape(-1).double()
        ok = torch.isfinite(d) & (d > 0) & (d <= max_depth_m)
        pts.append((origin[ok] + d[ok, None] * direction[ok]).cpu().numpy())  # (n, 3)
    xyz = np.concatenate(pts)
    ijk = np.round(xyz / voxel_size_m).astype(np.int64)
    lo = ijk.min(axis=0) if len(ijk) else np.zeros(3, np.int64)
    extent = ijk.max(axis=0) - lo + 1 if len(ijk) else np.ones(3, np.int64)
    if int(np.prod(extent)) <= DENSE_HIT_BINS:
        # bins of the hits' bounding box, C order = the packed keys' (lexicographic) order: no sort needed
        local = ijk - lo
        flat = (local[:, 0] * extent[1] + local[:, 1]) * extent[2] + local[:, 2]
        bins = int(np.prod(extent))
        count = np.bincount(flat, minlength=bins)
        occupied = np.nonzero(count)[0]
        ukeys = pack_keys(np.stack(np.unravel_index(occupied, tuple(extent)), axis=1) + lo)
        sums = np.stack([np.bincount(flat, weights=xyz[:, a], minlength=bins)[occupied] for a in range(3)], axis=1)
        count = count[occupied]
    else:  # hits spread over a huge box (a far outlier): sort instead
        ukeys, inv = np.unique(pack_keys(ijk), return_inverse=True)
        count = np.bincount(inv, minlength=ukeys.size)
        sums = np.stack([np.bincount(inv, weights=xyz[:, a], minlength=ukeys.size) for a in range(3)], axis=1)
    return DepthHits(keys=ukeys, mean_m=sums / np.maximum(count, 1)[:, None], count=count.astype(np.int64))


def frustum_centroid(points: np.ndarray) -> np.ndarray:
    """Centroid (3,) of a pyramid given as `Camera.frusta` gives one (apex first, then the 4 base corners)."""
    apex, base = points[0], points[1:].mean(axis=0)
    return apex + 0.75 * (base - apex)


def _snapped_box(frusta: list[np.ndarray], voxel_size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest voxel keys (3,) int64 of the box holding every frustum vertex."""
    if not frusta:
        raise InputError("a fragment needs at least one frustum")
    pts = np.concatenate(frusta, axis=0)
    return (np.floor(pts.min(axis=0) / voxel_size_m).astype(np.int64),
            np.ceil(pts.max(axis=0) / voxel_size_m).astype(np.int64))


def fragment_bounds(frusta: list[np.ndarray], voxel_size_m: float, max_dims: int,
                    centre_m: np.ndarray | None = None) -> tuple[np.ndarray, tuple[int, int, int], bool]:
    """Snap the bounding box of the frusta (each (5, 3)) to the voxel grid and cap it at max_dims per axis.

    Returns key_min (3,) int64, dims (X, Y, Z), cropped. An axis over the cap keeps max_dims voxels centred
    on `centre_m` (default: the mean of the frustum centroids), kept inside the uncropped box.
    """
    lo, hi = _snapped_box(frusta, voxel_size_m)
    dims = hi - lo + 1
    cropped = bool(np.any(dims > max_dims))
    if cropped:
        if centre_m is None:
            centre_m = np.mean([frustum_centroid(f) for f in frusta], axis=0)
        centre_key = np.round(np.asarray(centre_m, dtype=np.float64) / voxel_size_m).astype(np.int64)
        start = np.clip(centre_key - max_dims // 2, lo, hi - max_dims + 1)
        over = dims > max_dims
        lo = np.where(over, start, lo)
        dims = np.where(over, max_dims, dims)
    return lo, (int(dims[0]), int(dims[1]), int(dims[2])), cropped


def fragment_tiles(frusta: list[np.ndarray], voxel_size_m: float, max_dims: int
                   ) -> list[tuple[np.ndarray, tuple[int, int, int], bool]]:
    """The snapped bounding box of the frusta split into near-equal tiles of at most max_dims per axis.

    Returns a list of (key_min (3,) int64, dims, False) like `fragment_bounds`, one per tile; the tiles
    partition the box (every voxel key lies in exactly one), so a window larger than one volume is encoded
    tile by tile instead of being cropped.
    """
    lo, hi = _snapped_box(frusta, voxel_size_m)
    edges = []
    for a in range(3):
        n = int(hi[a] - lo[a] + 1)
        parts = -(-n // max_dims)  # ceil
        edges.append(lo[a] + np.round(np.linspace(0, n, parts + 1)).astype(np.int64))
    tiles = []
    for x0, x1 in zip(edges[0][:-1], edges[0][1:]):
        for y0, y1 in zip(edges[1][:-1], edges[1][1:]):
            for z0, z1 in zip(edges[2][:-1], edges[2][1:]):
                tiles.append((np.array([x0, y0, z0], dtype=np.int64), (int(x1 - x0), int(y1 - y0), int(z1 - z0)), False))
    return tiles


def tiles_in_frusta(tiles: list[tuple[np.ndarray, tuple[int, int, int], bool]], frusta: list[np.ndarray],
                    voxel_size_m: float) -> list[tuple[np.ndarray, tuple[int, int, int], bool]]:
    """The tiles (as `fragment_tiles` returns them) whose box meets some frustum's bounding box, widened by a voxel's
    diagonal: the others cannot hold a voxel `build_fragment` counts as seen (its centre, widened by the half-diagonal,
    projects inside that frustum), so building them is wasted work (a window's box is mostly outside its pyramids)."""
    margin = math.sqrt(3.0) * voxel_size_m
    boxes = [(f.min(axis=0) - margin, f.max(axis=0) + margin) for f in frusta]
    kept = []
    for tile in tiles:
        key_min, dims = tile[0], np.asarray(tile[1])
        lo = (key_min - 0.5) * voxel_size_m  # voxel centres sit at key * voxel_size_m
        hi = (key_min + dims - 0.5) * voxel_size_m
        if any(np.all(lo <= b_hi) and np.all(hi >= b_lo) for b_lo, b_hi in boxes):
            kept.append(tile)
    return kept


def _pixel_index(uv: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Nearest pixel's flat index (N,) of pixel coordinates uv (N, 2) (clamped to the image)."""
    u = (uv[:, 0] + 0.5).floor_().clamp_(0, width - 1).long()
    v = (uv[:, 1] + 0.5).floor_().clamp_(0, height - 1).long()
    return v * width + u


def depth_normals(depth_m: torch.Tensor, K: torch.Tensor, max_jump: float = 0.05) -> torch.Tensor:
    """Unit surface normals (H, W, 3) in the camera frame of a z-depth image (H, W), NaN where unknown.

    The normal is the cross product of central differences of the back-projected points. Where a neighbour has
    no depth, or the depth jumps by more than `max_jump` (relative) between neighbours (a silhouette), and on
    the image border, it is unknown.
    """
    h, w = depth_m.shape
    normals = torch.full((h, w, 3), float("nan"))
    if h < 3 or w < 3:
        return normals
    d = depth_m.float()
    ray = pixel_directions(pixel_grid(h, w), K.float()).reshape(h, w, 3)  # camera frame, z = 1
    pts = ray * d[..., None]
    n = torch.cross(pts[1:-1, 2:] - pts[1:-1, :-2], pts[2:, 1:-1] - pts[:-2, 1:-1], dim=-1)
    norm = n.norm(dim=-1, keepdim=True)
    centre = d[1:-1, 1:-1]
    neigh = torch.stack([d[1:-1, 2:], d[1:-1, :-2], d[2:, 1:-1], d[:-2, 1:-1]])
    ok = (centre > 0) & (neigh > 0).all(0) & ((neigh - centre).abs() <= max_jump * centre).all(0) & (norm[..., 0] > 0)
    normals[1:-1, 1:-1] = torch.where(ok[..., None], n / norm.clamp(min=1e-12), normals[1:-1, 1:-1])
    return normals


def _centres_table(frag: Fragment) -> torch.Tensor:
    """Voxel centres (X*Y*Z, 3) float32, C order: bitwise `frag.centers_m()` as float32 (float64 key * voxel size,
    then rounded: micrometres within km of the origin), from per-axis values (no per-voxel division or product)."""
    X, Y, Z = frag.dims
    x, y, z = (((torch.arange(d) + int(k0)).double() * frag.voxel_size_m).float()
               for d, k0 in zip(frag.dims, frag.key_min))
    return torch.stack([x[:, None, None].expand(X, Y, Z), y[None, :, None].expand(X, Y, Z),
                        z[None, None, :].expand(X, Y, Z)], dim=-1).reshape(-1, 3)


def _view_candidates(camera: Camera, frag: Fragment, radius_m: float, max_depth_m: float, cull: bool
                     ) -> list[torch.Tensor]:
    """Per view, the flat indices (Q_i,) int64, increasing, of the voxels whose centres may pass `project` with
    radius_m and z <= max_depth_m (`culling.frustum_candidates`: a superset), or every voxel without `cull`."""
    if not cull:
        return [torch.arange(frag.num_voxels)] * camera.num_views
    halfspaces = camera.project_halfspaces(radius_m=radius_m, max_depth_m=max_depth_m)  # (V, C, 4)
    return frustum_candidates(halfspaces, torch.from_numpy(frag.origin_m), frag.voxel_size_m, frag.dims,
                              camera.centers)


def build_fragment(camera: Camera, voxel_size_m: float, max_depth_m: float, max_dims: int,
                   images: torch.Tensor | None = None, depth_m: torch.Tensor | None = None,
                   tsdf_trunc_m: float | None = None,
                   bounds: tuple[np.ndarray, tuple[int, int, int], bool] | None = None,
                   tsdf_distance: str = TsdfDistance.PROJECTIVE, tsdf_min_cos: float = 0.2, cull: bool = True
                   ) -> Fragment:
    """The local volume of V views.

    Args:
        camera: the V views' cameras (images of camera.height x camera.width).
        images: optional (V, 3, H, W) in [0, 1]: mean colour per voxel.
        depth_m: optional (V, H, W) metres (0 = none): a TSDF truncated at tsdf_trunc_m is fused on the grid.
        tsdf_distance: "projective" (depth difference along the ray) or "plane" (that difference times the
            |cos| of the angle between ray and the depth image's normal, at least `tsdf_min_cos`: the distance
            to the surface's tangent plane, which a surface seen only at grazing angles needs to keep its zero).
        bounds: (key_min, dims, cropped) of the volume, as `fragment_bounds` returns them; default: the bounds
            of the views' frusta.
        cull: project, per view, only the voxels its frustum can reach (`_view_candidates`): the same result,
            bitwise, ~4x less projection work; False projects every voxel (the reference that tests compare to).
    """
    if bounds is None:
        bounds = fragment_bounds(camera.frusta(max_depth_m), voxel_size_m, max_dims)
    key_min, dims, cropped = bounds
    frag = Fragment(key_min=key_min, dims=dims, voxel_size_m=voxel_size_m, mask=np.zeros(dims, dtype=bool),
                    cropped=cropped)
    camera = camera.to(device="cpu", dtype=torch.float32)
    height, width = camera.height, camera.width
    n = frag.num_voxels
    seen = torch.zeros(n, dtype=torch.bool)
    rgb_sum = torch.zeros(3, n) if images is not None else None  # channel-first: one row per colour
    rgb_count = torch.zeros(n) if images is not None else None
    use_depth = depth_m is not None
    if use_depth:
        if tsdf_trunc_m is None or tsdf_trunc_m <= 0:
            raise InputError(f"a depth TSDF needs tsdf_trunc_m > 0, got {tsdf_trunc_m}")
        try:
            tsdf_distance = parse_mode(TsdfDistance, tsdf_distance, "tsdf_distance")
        except ValueError as exc:
            raise InputError(str(exc)) from None
        tsdf_sum = torch.zeros(n)
        tsdf_w = torch.zeros(n)
    half_diagonal_m = 0.5 * math.sqrt(3.0) * voxel_size_m
    candidates = _view_candidates(camera, frag, half_diagonal_m, max_depth_m, cull)
    centres = _centres_table(frag)  # (N, 3)
    for i in range(camera.num_views):  # V <= window size: a loop over views, vectorised over voxels
        # a voxel whose centre projects just outside the image can still hold surface the image shows (an object
        # entering at the border): it counts when its half-diagonal reaches in, and reads the border pixel
        cand = candidates[i]  # (Q,) flat indices, increasing: a superset of the voxels this view sees
        uv, z, valid = camera[i].project(centres.index_select(0, cand), radius_m=half_diagonal_m)
        keep = (valid[0] & (z[0] <= max_depth_m)).nonzero().squeeze(1)  # (M,)
        idx = cand.index_select(0, keep)  # (M,) increasing: one view sees ~15-25% of a window's box
        seen.index_fill_(0, idx, True)
        if idx.numel() == 0 or (images is None and not use_depth):
            continue
        uv, z = uv[0].index_select(0, keep), z[0].index_select(0, keep)
        pix = _pixel_index(uv, height, width)
        if images is not None:
            rgb_sum.index_add_(1, idx, images[i].reshape(3, -1).float().index_select(1, pix))
            rgb_count.index_add_(0, idx, torch.ones_like(z))
        if use_depth:
            d = depth_m[i].reshape(-1).float().index_select(0, pix)
            sdf = d - z
            if tsdf_distance is TsdfDistance.PLANE:
                # d - z runs along the optical axis; times |n . r| (r = the voxel's ray with z = 1, n the depth
                # image's unit normal) it becomes the distance to the tangent plane. |n . r| = |r| |cos|, and
                # |cos| is floored at tsdf_min_cos. Unknown normals keep the projective distance.
                n_cam = depth_normals(depth_m[i], camera.K[i]).reshape(-1, 3).index_select(0, pix)  # (M, 3)
                r = pixel_directions(uv, camera.K[i])  # camera frame, z = 1
                along = torch.maximum((n_cam * r).sum(-1).abs(), tsdf_min_cos * r.norm(dim=-1))
                sdf = torch.where(torch.isnan(along), sdf, sdf * along)
            use = (d > 0) & (sdf >= -tsdf_trunc_m)
            tsdf_sum.index_add_(0, idx[use], sdf[use].clamp(-tsdf_trunc_m, tsdf_trunc_m))
            tsdf_w.index_add_(0, idx[use], torch.ones_like(sdf[use]))
    frag.mask = seen.numpy().reshape(dims)
    if images is not None:
        frag.rgb = (rgb_sum / rgb_count.clamp(min=1.0)).T.float().numpy().reshape(dims + (3,))
    if use_depth:
        tsdf = torch.where(tsdf_w > 0, tsdf_sum / tsdf_w.clamp(min=1.0), torch.full_like(tsdf_sum, tsdf_trunc_m))
        frag.tsdf_m = tsdf.float().numpy().reshape(dims)
        frag.tsdf_weight = tsdf_w.float().numpy().reshape(dims)
    return frag
