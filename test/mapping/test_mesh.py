"""The semantic mesh (mapping/mesh.py): marching cubes on analytic SDFs, block stitching, incremental == scratch,
unknown semantics, the PLY file."""
import numpy as np
import pytest

from gnesf_ros.classes import IGNORE_ID, ClassList
from gnesf_ros.mapping.mesh import (UNKNOWN_GREY, SemanticMesh, corner_colors, mesh_blocks, vertex_colors,
                                    write_mesh_ply)
from gnesf_ros.mapping.voxel_map import VoxelMap, unpack_keys

C = 4
VS = 0.02


def grid_keys(lo: int, hi: int) -> np.ndarray:
    r = np.arange(lo, hi)
    return np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)


def analytic_map(sdf_fn, lo=-20, hi=20, label_fn=None, block_voxels=16, keep=None) -> VoxelMap:
    """A map whose voxels in [lo, hi)^3 (where `keep`) hold sdf_fn(centres); labels from label_fn (-1 = no vote)."""
    m = VoxelMap(C, VS, block_voxels=block_voxels)
    ijk = grid_keys(lo, hi)
    xyz = ijk * VS
    if keep is not None:
        ijk, xyz = ijk[keep(xyz)], xyz[keep(xyz)]
    probs = np.zeros((len(ijk), C), np.float32)
    if label_fn is not None:
        lab = label_fn(xyz)
        probs[lab >= 0, lab[lab >= 0]] = 1.0
    rgb = np.clip((xyz - xyz.min(0)) / np.ptp(xyz, axis=0).max(), 0, 1)
    m.integrate(ijk, sdf_m=sdf_fn(xyz), weight=np.ones(len(ijk)), probs=probs, rgb=rgb)
    return m


def sphere_sdf(r):
    return lambda p: np.linalg.norm(p, axis=1) - r


def box_sdf(half, centre):
    def f(p):
        q = np.abs(p - centre) - half
        return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)
    return f


def edge_use(faces: np.ndarray) -> np.ndarray:
    """How many faces use each undirected edge."""
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return counts


def test_sphere_area_vertex_distance_orientation_and_closed_across_blocks():
    r = 0.3
    m = analytic_map(sphere_sdf(r))
    mesh = SemanticMesh.from_map(m)
    assert len(mesh.blocks) == 8  # the sphere spans the 8 blocks around the origin
    tm = mesh.combined()
    assert tm.area_m2() == pytest.approx(4 * np.pi * r * r, rel=0.01)
    dist = np.abs(np.linalg.norm(tm.vertices_m, axis=1) - r)
    assert dist.mean() < 0.02 * VS and dist.max() < 0.1 * VS
    # every edge shared by exactly two faces: the 8 block meshes stitch into one closed surface, no cracks
    assert np.all(edge_use(tm.faces) == 2)
    tri = tm.vertices_m[tm.faces].astype(np.float64)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    big = np.linalg.norm(normal, axis=1) > 1e-12  # (a vertex exactly on a voxel centre can leave a sliver)
    assert big.mean() > 0.99
    assert np.all((normal * tri.mean(axis=1)).sum(axis=1)[big] > 0)  # outward: towards positive SDF (free space)


def test_box_area_and_vertex_distance():
    half, centre = np.array([0.2, 0.15, 0.1]), np.array([0.013, -0.007, 0.004])
    f = box_sdf(half, centre)
    tm = SemanticMesh.from_map(analytic_map(f, lo=-16, hi=16)).combined()
    a, b, c = half
    # marching cubes chamfers the box's edges: a right-angle edge cut by a chamfer of legs <= one voxel loses
    # at most (2 - sqrt 2) voxel of area per metre of edge; the faces themselves are exact
    area, edges_m = 8 * (a * b + b * c + c * a), 8 * (a + b + c)
    assert area - (2 - np.sqrt(2)) * VS * edges_m <= tm.area_m2() < area
    dist = np.abs(f(tm.vertices_m.astype(np.float64)))
    assert dist.mean() < 0.05 * VS and dist.max() < 0.5 * VS
    assert np.all(edge_use(tm.faces) == 2)


def test_vertices_carry_the_nearest_voxels_semantics_and_unknown_stays_grey():
    classes = ClassList.from_yaml()
    label_fn = lambda p: np.where(p[:, 0] > 0.1, -1, np.where(p[:, 2] > 0, 1, 2))  # noqa: E731 - x>0.1: no vote
    m = analytic_map(sphere_sdf(0.3), label_fn=label_fn)
    tm = SemanticMesh.from_map(m).combined()
    x, z = tm.vertices_m[:, 0], tm.vertices_m[:, 2]
    far = np.abs(x - 0.1) > VS  # away from the class border (a vertex takes the nearer voxel of its edge)
    assert np.all(tm.label[far & (x > 0.1)] == IGNORE_ID)
    assert np.all(tm.confidence[tm.label == IGNORE_ID] == 0.0)
    known = far & (x < 0.1) & (np.abs(z) > VS)
    np.testing.assert_array_equal(tm.label[known], np.where(z[known] > 0, 1, 2))
    colors = vertex_colors(tm, "class", classes)
    unknown = tm.label == IGNORE_ID
    assert unknown.sum() > 100
    assert np.all(colors[unknown] == UNKNOWN_GREY)
    assert not np.any(np.all(colors[unknown][:, None, :] == classes.colors_rgb[None], axis=2))  # no class colour
    conf_colors = vertex_colors(tm, "confidence", classes)
    assert np.all(conf_colors[unknown] == UNKNOWN_GREY)
    # RGB: the colour the test painted (a ramp over the grid), rounded to uint8
    assert tm.rgb.dtype == np.uint8 and np.ptp(tm.rgb[:, 0].astype(int)) > 100


def test_each_face_carries_the_label_of_the_voxel_nearest_its_centroid():
    # classes change along the diagonal x + y = 0.031 m (no voxel centre on it): border cubes span both classes
    classes = ClassList.from_yaml()
    m = analytic_map(sphere_sdf(0.3), label_fn=lambda p: np.where(p[:, 0] + p[:, 1] < 0.031, 1, 2))
    tm = SemanticMesh.from_map(m).combined()
    centroid = tm.vertices_m[tm.faces].mean(axis=1)
    nearest = np.rint(centroid / VS) * VS  # centre of the voxel nearest each centroid
    np.testing.assert_array_equal(tm.face_label, np.where(nearest[:, 0] + nearest[:, 1] < 0.031, 1, 2))
    # the vote of the vertices (nearer voxel of each edge) agrees away from the border and not everywhere on it
    border = np.abs(centroid[:, 0] + centroid[:, 1] - 0.031) < 2 * VS
    vote = tm.vertex_vote_labels()
    assert border.sum() > 50 and (vote[border] != tm.face_label[border]).any()
    np.testing.assert_array_equal(vote[~border], tm.face_label[~border])
    # triangle-list colours: "class" paints every face flat in its face label's colour; "rgb" keeps the vertices'
    cc = corner_colors(tm, "class", classes).reshape(-1, 3, 3)
    np.testing.assert_array_equal(cc, np.repeat(classes.colors_rgb[tm.face_label][:, None, :], 3, axis=1))
    np.testing.assert_array_equal(corner_colors(tm, "rgb", classes), tm.rgb[tm.faces.reshape(-1)])


def test_unobserved_space_makes_no_surface():
    # only the half x < 0 of the grid is observed: no face may have a vertex past the last observed voxel
    m = analytic_map(sphere_sdf(0.3), keep=lambda p: p[:, 0] < 0.0)
    tm = SemanticMesh.from_map(m).combined()
    assert tm.num_faces > 0
    assert tm.vertices_m[:, 0].max() <= -VS + 1e-6
    assert SemanticMesh.from_map(VoxelMap(C, VS)).combined().num_faces == 0


def blocks_equal(a: SemanticMesh, b: SemanticMesh) -> None:
    assert sorted(a.blocks) == sorted(b.blocks)
    for k in a.blocks:
        for f in ("vertices_m", "faces", "label", "confidence", "rgb", "face_label"):
            np.testing.assert_array_equal(getattr(a.blocks[k], f), getattr(b.blocks[k], f), err_msg=f"{k} {f}")


def test_incremental_remeshing_equals_meshing_from_scratch():
    m = analytic_map(sphere_sdf(0.3), label_fn=lambda p: np.where(p[:, 2] > 0, 1, 2), lo=-24, hi=24,
                     block_voxels=8)
    inc = SemanticMesh()
    first = inc.update(m)
    assert len(first.changed) == len(inc.blocks) > 0 and not first.removed
    blocks_equal(inc, SemanticMesh.from_map(m))
    assert inc.update(m).changed == []  # nothing touched: nothing re-meshed
    # move the surface inside one corner region (a new observation fused into the existing voxels)
    ijk = grid_keys(-24, 24)
    sel = np.all(ijk >= 9, axis=1)
    ijk = ijk[sel]
    xyz = ijk * VS
    probs = np.zeros((len(ijk), C), np.float32)
    probs[:, 3] = 5.0
    m.integrate(ijk, sdf_m=np.linalg.norm(xyz, axis=1) - 0.35, weight=np.full(len(ijk), 3.0), probs=probs)
    upd = inc.update(m)
    assert 0 < len(upd.changed) < len(inc.blocks)  # only blocks near the touched ones
    blocks_equal(inc, SemanticMesh.from_map(m))
    assert np.any(inc.combined().label == 3)
    # clear everything farther than 0.2 m from a point: blocks left without faces leave the mesh
    m.clear_outside_radius(np.array([-0.3, 0.0, 0.0]), 0.2)
    upd = inc.update(m)
    assert upd.removed
    assert all(k not in inc.blocks for k in upd.removed)
    blocks_equal(inc, SemanticMesh.from_map(m))
    m.clear()
    upd = inc.update(m)
    assert inc.blocks == {} and upd.removed


def test_the_first_update_meshes_a_map_that_was_filled_before():
    m = analytic_map(sphere_sdf(0.2))
    m.pop_touched_blocks()  # someone took the record: the first update must still mesh everything
    inc = SemanticMesh()
    inc.update(m)
    blocks_equal(inc, SemanticMesh.from_map(m))


def test_blocks_stitch_for_any_block_size():
    f = sphere_sdf(0.27)
    ref = SemanticMesh.from_map(analytic_map(f, block_voxels=64)).combined()
    for b in (5, 8):
        tm = SemanticMesh.from_map(analytic_map(f, block_voxels=b)).combined()
        assert tm.num_faces == ref.num_faces and np.all(edge_use(tm.faces) == 2)
        assert tm.area_m2() == pytest.approx(ref.area_m2(), rel=1e-6)


def test_mesh_blocks_of_an_empty_block_list_and_unknown_blocks():
    m = analytic_map(sphere_sdf(0.2))
    assert mesh_blocks(m, np.zeros(0, np.int64)) == {}
    far = m.block_keys(np.array([m.data.keys[0]])) + (100 << 42)  # a block far from every voxel
    assert mesh_blocks(m, far) == {}


def test_ply_round_trips_through_open3d_with_faces_colours_labels(tmp_path):
    o3d = pytest.importorskip("open3d")
    classes = ClassList.from_yaml()
    m = analytic_map(sphere_sdf(0.2), label_fn=lambda p: np.where(p[:, 0] > 0.05, -1, np.where(p[:, 2] > 0, 1, 2)))
    tm = SemanticMesh.from_map(m).combined()
    path = tmp_path / "mesh.ply"
    write_mesh_ply(path, tm, classes, color="class", comment="test")
    back = o3d.io.read_triangle_mesh(str(path))
    np.testing.assert_array_equal(np.asarray(back.triangles), tm.faces)
    np.testing.assert_allclose(np.asarray(back.vertices), tm.vertices_m, atol=1e-7)
    colors = np.rint(np.asarray(back.vertex_colors) * 255).astype(np.uint8)
    np.testing.assert_array_equal(colors, vertex_colors(tm, "class", classes))
    # label and confidence (open3d ignores extra properties): read them back from the binary body
    raw = path.read_bytes()
    body = raw[raw.index(b"end_header\n") + len(b"end_header\n"):]
    vdt = np.dtype([("xyz", "<f4", (3,)), ("rgb", "u1", (3,)), ("label", "<u2"), ("confidence", "<f4")])
    v = np.frombuffer(body, vdt, count=tm.num_vertices)
    np.testing.assert_array_equal(v["label"], tm.label)
    np.testing.assert_array_equal(v["confidence"], tm.confidence)
    assert (v["label"] == IGNORE_ID).any() and set(np.unique(v["label"])) <= {1, 2, IGNORE_ID}
    fdt = np.dtype([("n", "u1"), ("v", "<i4", (3,)), ("label", "<u2")])
    f = np.frombuffer(body, fdt, count=tm.num_faces, offset=vdt.itemsize * tm.num_vertices)
    assert np.all(f["n"] == 3) and len(body) == vdt.itemsize * tm.num_vertices + fdt.itemsize * tm.num_faces
    np.testing.assert_array_equal(f["v"], tm.faces)
    np.testing.assert_array_equal(f["label"], tm.face_label)
    with pytest.raises(Exception, match="colour mode"):
        write_mesh_ply(path, tm, classes, color="nope")


def test_block_keys_of_the_mesh_are_the_maps_blocks():
    m = analytic_map(sphere_sdf(0.3))
    mesh = SemanticMesh.from_map(m)
    ijk = unpack_keys(np.array(sorted(mesh.blocks)))
    np.testing.assert_array_equal(ijk, [[i, j, k] for i in (-1, 0) for j in (-1, 0) for k in (-1, 0)])

