"""Visibility module: + -> - is visible, + -> - -> + is occluded."""
import torch

from gnesf_ros.model.visibility import grid_visibility, segment_visibility, visible


def test_visible_rule():
    s = torch.tensor([[1.0, 0.5, 0.1, -0.05],      # one crossing, point just behind surface
                      [1.0, 0.5, 0.3, 0.2],        # free space all the way
                      [1.0, -0.1, 0.4, 0.0],       # + - + : occluded
                      [-0.2, 0.3, 0.2, 0.1],       # starts negative then positive: no + -> - -> +
                      [0.4, -0.1, -0.3, -0.1]])    # inside a solid: one crossing only
    assert visible(s).tolist() == [True, True, False, True, True]
    considered = torch.tensor([[True, True, False, False]]).expand(5, 4)
    assert visible(s, considered).tolist() == [True, True, True, True, True]


def _two_planes(occluder: bool):
    """Camera at z=0 looking along +z; a wall (surface) at z = 2 (solid behind it); optionally a
    0.3 m thick occluding slab between z = 1.0 and z = 1.3, covering x < 0."""
    def sdf(p):
        wall = 2.0 - p[:, 2]
        if not occluder:
            return wall
        slab = torch.maximum(torch.maximum(1.0 - p[:, 2], p[:, 2] - 1.3), p[:, 0])  # box: z in [1,1.3], x < 0
        return torch.minimum(wall, slab)
    return sdf


def test_segment_visibility_plane_with_and_without_occluder():
    centers = torch.tensor([[0.0, 0.0, 0.0]])
    pts = torch.tensor([[-0.5, 0.0, 2.0],    # on the wall, behind the slab
                        [0.5, 0.0, 2.0],     # on the wall, clear line of sight
                        [-0.5, 0.0, 2.05],   # just behind the wall surface (inside the wall)
                        [-0.5, 0.0, 1.6]])   # free space behind the slab
    free = segment_visibility(_two_planes(False), centers, pts, 64, margin_m=0.12)
    assert free.tolist() == [[True, True, True, True]]
    occl = segment_visibility(_two_planes(True), centers, pts, 64, margin_m=0.12)
    assert occl.tolist() == [[False, True, False, False]]


def test_margin_keeps_own_surface_band():
    """A noisy SDF that wiggles + - + right at the point does not occlude it."""
    def wiggly(p):
        z = p[:, 2]
        return torch.where((z > 1.9) & (z < 1.95), torch.full_like(z, -0.01), 2.0 - z + 0.03)
    centers = torch.zeros(1, 3)
    pt = torch.tensor([[0.0, 0.0, 2.0]])
    assert not segment_visibility(wiggly, centers, pt, 200, margin_m=0.0)[0, 0]
    assert segment_visibility(wiggly, centers, pt, 200, margin_m=0.12)[0, 0]


def test_pairs_mask_and_grid_fast_path_agree():
    # A grid over x, y in [-1, 1], z in [0.5, 2.5] with 5 cm voxels, holding the two-plane SDF.
    vox = 0.05
    origin = torch.tensor([-1.0, -1.0, 0.5])
    dims = (41, 41, 41)
    ijk = torch.stack(torch.meshgrid(*[torch.arange(n) for n in dims], indexing="ij"), -1).reshape(-1, 3)
    sdf_fn = _two_planes(True)
    grid = sdf_fn(origin + ijk * vox).reshape(dims)
    centers = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, -0.5]])
    pts = torch.tensor([[-0.5, 0.0, 2.0], [0.5, 0.0, 2.0], [-0.5, 0.0, 1.6]])
    pairs = torch.tensor([[True, True, True], [True, False, True]])
    fast = grid_visibility(grid, origin, vox, centers, pts, 48, margin_m=0.12, pairs=pairs)
    slow = segment_visibility(sdf_fn, centers, pts, 48, margin_m=0.12, pairs=pairs)
    assert fast.tolist() == slow.tolist() == [[False, True, False], [False, False, False]]
