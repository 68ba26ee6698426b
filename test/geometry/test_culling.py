"""Frustum culling: the candidates of a view hold every grid point its exact projection test accepts (a superset),
sorted; single half-spaces by hand; the culling removes most of a box a view does not see."""
import numpy as np
import pytest
import torch

from culling_cases import culling_cases, pose_looking
from gnesf_ros.geometry.camera import Camera, project_with_matrix
from gnesf_ros.geometry.culling import culling_margin_m, grid_candidates, projection_halfspaces
from gnesf_ros.model.volume import vertex_points


def _check_superset(cand: torch.Tensor, valid: torch.Tensor, total: int, where: str) -> None:
    assert cand.dtype == torch.int64, where
    assert bool((cand[1:] > cand[:-1]).all()) and (cand.numel() == 0 or 0 <= int(cand[0]) <= int(cand[-1]) < total), \
        where
    in_cand = torch.zeros(total, dtype=torch.bool)
    in_cand[cand] = True
    missed = valid & ~in_cand
    assert not missed.any(), f"{where}: {int(missed.sum())} accepted points not among the candidates"


@pytest.mark.parametrize("case", culling_cases(), ids=lambda c: c.name)
@pytest.mark.parametrize("radius_m", [0.0, 0.0866, 0.7])
def test_candidates_hold_every_point_project_accepts(case, radius_m):
    origin, dims, vs = case.origin_m, case.dims, case.voxel_size_m
    pts = vertex_points(origin, vs, dims)  # float32, as build_fragment's centres
    total = pts.shape[0]
    cam = case.camera
    margin = culling_margin_m(vs, origin, dims, cam.centers)
    for max_depth_m in (None, 1.3):
        halfspaces = cam.project_halfspaces(radius_m=radius_m, max_depth_m=max_depth_m)
        _, z, valid = cam.project(pts, radius_m=radius_m)
        if max_depth_m is not None:
            valid = valid & (z <= max_depth_m)
        cands = grid_candidates(halfspaces, origin, vs, dims, margin)
        assert len(cands) == cam.num_views
        for v, cand in enumerate(cands):
            _check_superset(cand, valid[v], total, f"{case.name} view {v} max depth {max_depth_m}")


@pytest.mark.parametrize("case", culling_cases(seed=1), ids=lambda c: c.name)
def test_candidates_hold_every_point_project_with_matrix_accepts(case):
    origin, dims, vs = case.origin_m, case.dims, case.voxel_size_m
    pts = vertex_points(origin, vs, dims)
    for cam in (case.camera, case.camera.resized(max(case.camera.height // 2, 1), max(case.camera.width // 3, 1))):
        P = cam.projection_matrices()  # with the skew, unlike Camera.project
        halfspaces = projection_halfspaces(P, cam.height, cam.width, min_depth_m=1e-3)
        margin = culling_margin_m(vs, origin, dims, cam.centers)
        for v, cand in enumerate(grid_candidates(halfspaces, origin, vs, dims, margin)):
            _, seen = project_with_matrix(pts, P[v], cam.height, cam.width)
            _check_superset(cand, seen, pts.shape[0], f"{case.name} view {v} {cam.height}x{cam.width}")


def _one(halfspaces, origin, vs, dims, margin_m):
    """The candidates of one view of halfspaces (C, 4)."""
    return grid_candidates(halfspaces[None], origin, vs, dims, margin_m)[0]


def test_candidates_of_single_halfspaces_by_hand():
    origin, vs, dims = torch.zeros(3), 0.1, (4, 3, 10)  # x, y in 0..0.3 / 0..0.2, z in 0..0.9
    flat = torch.arange(4 * 3 * 10).reshape(dims)
    # z >= 0.25, widened by 0.05: k >= 2 kept, one index of padding may add k = 1 (or 0 at rounding)
    cand = set(_one(torch.tensor([[0.0, 0, 1, -0.25]]), origin, vs, dims, 0.05).tolist())
    assert set(flat[:, :, 2:].reshape(-1).tolist()) <= cand <= set(flat[:, :, 0:].reshape(-1).tolist())
    # z <= 0.42 widened by 0.05: k <= 4 kept, at most k <= 6 with padding and rounding
    cand = set(_one(torch.tensor([[0.0, 0, -1, 0.42]]), origin, vs, dims, 0.05).tolist())
    assert set(flat[:, :, :5].reshape(-1).tolist()) <= cand <= set(flat[:, :, :7].reshape(-1).tolist())
    # x >= 0.27 widened by 0.05 is parallel to the columns: whole columns x = 0.3 only (x = 0.2 is 0.02 short)
    cand = _one(torch.tensor([[2.0, 0, 0, -0.54]]), origin, vs, dims, 0.05)
    assert torch.equal(cand, flat[3].reshape(-1))
    # both: the intersection; a half-space nothing meets: nothing
    both = torch.tensor([[2.0, 0, 0, -0.54], [0.0, 0, 1, -0.25]])
    assert set(_one(both, origin, vs, dims, 0.05).tolist()) <= set(flat[3].reshape(-1).tolist())
    assert _one(torch.tensor([[0.0, 0, 1, -5.0]]), origin, vs, dims, 0.05).numel() == 0
    # a view with a non-finite half-space (a broken pose) keeps every point, the exact test decides; the others of
    # the batch are as alone
    batch = torch.tensor([[[float("nan"), 0, 1, 0]], [[0.0, 0, 1, -0.25]], [[0.0, 0, 1, -5.0]]])
    cands = grid_candidates(batch, origin, vs, dims, 0.05)
    assert torch.equal(cands[0], torch.arange(120)) and torch.equal(cands[1], _one(batch[1], origin, vs, dims, 0.05))
    assert cands[2].numel() == 0


def test_a_camera_by_hand_and_what_culling_saves():
    # a 1x1 image of focal 1 at the origin looking along +z: valid where |x|, |y| < 0.5 z (u in [-0.5, 0.5))
    cam = Camera.single(torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1]]), torch.eye(4), 1, 1)
    origin, vs, dims = torch.tensor([-1.0, -1.0, -2.0]), 0.5, (5, 5, 7)  # x, y in -1..1, z in -2..1
    pts = vertex_points(origin, vs, dims)
    valid = cam.project(pts)[2][0]
    hand = {(0.0, 0.0, 0.5), (-0.5, -0.5, 1.0), (-0.5, 0.0, 1.0), (0.0, -0.5, 1.0), (0.0, 0.0, 1.0)}
    assert {tuple(p) for p in pts[valid].tolist()} == hand
    cand = _one(cam.project_halfspaces()[0], origin, vs, dims, 0.2)
    _check_superset(cand, valid, pts.shape[0], "by hand")
    # z >= 1e-3 - 0.2 rounds out to k >= 3 (z >= -0.5), padded to k >= 2: z = -2, -1.5 are culled
    assert pts[cand, 2].min() == -1.0

    # a 40x30 camera in the middle of a 64^3 box of 5 cm voxels sees a small part of it: culling keeps little more
    K = torch.tensor([[40.0, 0, 19.5], [0, 40.0, 14.5], [0, 0, 1]])
    cam = Camera.single(K, pose_looking([1.6, 1.6, 1.6], [1.0, 0.1, 0.05]).float(), 30, 40)
    origin, vs, dims = torch.zeros(3), 0.05, (64, 64, 64)
    valid = cam.project(vertex_points(origin, vs, dims), radius_m=0.043)[2][0]
    cand = _one(cam.project_halfspaces(radius_m=0.043)[0], origin, vs, dims,
                           culling_margin_m(vs, origin, dims, cam.centers))
    _check_superset(cand, valid, 64 ** 3, "40x30")
    assert valid.float().mean() < 0.1 and cand.numel() < 2 * int(valid.sum())  # 3.7% seen, 1.5x that kept


def test_halfspaces_agree_with_project_in_float64():
    """Away from their boundaries (|A [p; 1]| > 1e-6 |n|) the half-spaces decide exactly as `project` does."""
    g = torch.Generator().manual_seed(5)
    cam = Camera.single(torch.tensor([[30.0, 2.0, 15.5], [0, 25.0, 11.5], [0, 0, 1]], dtype=torch.float64),
                        pose_looking([0.2, -0.1, 0.3], [1.0, 0.5, -0.2]), 24, 32)
    pts = torch.randn(20000, 3, generator=g, dtype=torch.float64) * 3
    A = cam.project_halfspaces(radius_m=0.1, max_depth_m=4.0)[0]  # (C, 4)
    s = pts @ A[:, :3].T + A[:, 3]  # (N, C)
    clear = (s.abs() > 1e-6 * A[:, :3].norm(dim=1)).all(dim=1)
    _, z, valid = cam.project(pts, radius_m=0.1)
    valid = valid[0] & (z[0] <= 4.0)
    assert torch.equal(valid[clear], (s[clear] >= 0).all(dim=1)) and clear.float().mean() > 0.99
    assert 0.02 < valid.float().mean() < 0.5  # some points of each side
