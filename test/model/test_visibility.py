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


def test_depth_visibility_hand_cases():
    """One view, depth image 4x4 all 2.0 m except a hole (0) and a NaN; points at known pixels and depths."""
    from gnesf_ros.model.visibility import depth_visibility

    depth = torch.full((1, 4, 4), 2.0)
    depth[0, 0, 3] = 0.0           # no return at pixel (u=3, v=0)
    depth[0, 3, 0] = float("nan")  # invalid at pixel (u=0, v=3)
    uv = torch.tensor([[[1.2, 1.4],    # -> pixel (1, 1), z 2.03: on the surface, inside the margin
                        [1.0, 1.0],    # z 2.5: behind the surface by 0.5 m: hidden
                        [1.0, 1.0],    # z 1.0: in front of the surface: seen
                        [3.0, 0.0],    # z 9.0 at the hole: nothing known, seen
                        [0.0, 3.0],    # z 9.0 at the NaN pixel: seen
                        [9.0, -4.0]]]) # outside the image: clamped to the border pixel (3, 0) = hole
    z = torch.tensor([[2.03, 2.5, 1.0, 9.0, 9.0, 9.0]])
    assert depth_visibility(z, uv, depth, 0.06).tolist() == [[True, False, True, True, True, True]]
    # the margin decides for a point 0.05 m behind the measured surface
    z2 = torch.tensor([[2.05]])
    assert depth_visibility(z2, uv[:, :1], depth, 0.06).tolist() == [[True]]
    assert depth_visibility(z2, uv[:, :1], depth, 0.04).tolist() == [[False]]
    # the vote band: a point more than band_m in front of the measured surface is free space in this view
    # (its pixel saw a farther surface); holes and NaN still count as nothing known
    assert depth_visibility(z, uv, depth, 0.06, band_m=0.04).tolist() == [[True, False, False, True, True, True]]
    z3 = torch.tensor([[1.97, 1.95]])
    assert depth_visibility(z3, uv[:, :2], depth, 0.06, band_m=0.04).tolist() == [[True, False]]


def test_depth_visibility_catches_a_thin_occluder_the_grid_march_misses():
    """A 2 cm table top 0.5 m in front of a wall: the wall point behind it is hidden in the depth image,
    while a 16-sample SDF march over a 4 cm grid steps over the slab (the reason depth geometry uses depth)."""
    from gnesf_ros.model.visibility import depth_visibility

    vs = 0.04
    origin = torch.tensor([-0.4, -0.4, 0.0])
    dims = (21, 21, 61)
    idx = torch.stack(torch.meshgrid(*(torch.arange(d) for d in dims), indexing="ij"), -1).float()
    p = origin + idx * vs
    wall = 2.0 - p[..., 2]
    slab = torch.maximum((p[..., 2] - 1.5).abs() - 0.01, p[..., 0])  # 2 cm thick, x < 0
    sdf = torch.minimum(wall, slab)
    centers = torch.zeros(1, 3)
    pt = torch.tensor([[-0.2, 0.0, 2.0]])
    march = grid_visibility(sdf, origin, vs, centers, pt, 16, margin_m=0.12)
    assert march.tolist() == [[True]]  # the march misses the thin slab
    depth = torch.full((1, 8, 8), 2.0)
    depth[0, :, :4] = 1.5  # the slab covers the left half of the image (x < 0)
    uv = torch.tensor([[[2.0, 4.0]]])  # the wall point projects into the left half
    assert depth_visibility(pt[:, 2:].T, uv, depth, 0.06).tolist() == [[False]]
