"""The semantic mesh: marching cubes on the global map's fused SDF, per block, incremental.

The map (mapping/voxel_map.py) is cut into blocks of `block_voxels`^3 voxels. A block's mesh is scikit-image's
marching cubes (Lewiner) over the (B+1)^3 voxel centres from the block's first voxel to one voxel into its +x, +y,
+z neighbours: every cube of 8 voxel centres belongs to exactly one block, so blocks stitch without cracks or
overlaps (a vertex on a shared face is computed from the same two SDF values by both blocks). A cube is meshed
only where all 8 corners are observed (weight > 0): unobserved space never makes a surface.

Vertices carry the attributes of the nearer voxel of their cube edge: class label (IGNORE_ID where the voxel has
no semantic mass: unknown stays unknown, drawn grey, never a made-up class), confidence (VoxelMap.labels) and
the mean RGB of the input images. Each face carries the label of the voxel its centroid lies nearest to, so a
face shows the class the map holds where the face is (at a class border its three vertices may disagree; the
face colour of `mesh_color: class` and the PLY's face labels follow the map, not a vote of the vertices). `SemanticMesh.update` re-meshes only the blocks the map touched since the last
update (VoxelMap.pop_touched_blocks) and drops blocks left without faces (cleared or emptied parts of the map),
so the mesh is bounded by the map and equal to one meshed from scratch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from gnesf_ros.classes import IGNORE_ID, ClassList
from gnesf_ros.errors import InputError
from gnesf_ros.mapping.map_file import write_map_file
from gnesf_ros.mapping.voxel_map import VoxelMap, pack_keys, unpack_keys



class MeshColor(StrEnum):
    """Vertex colours of a mesh (the node's `mesh_color`): class colours, the images' colour, or confidence."""

    CLASS = "class"
    RGB = "rgb"
    CONFIDENCE = "confidence"


UNKNOWN_GREY = (128, 128, 128)
"""Colour of vertices whose voxel has unknown semantics (mesh_color: class)."""

_CHUNK_BLOCKS = 128  # blocks gathered per vectorised lookup (memory: 128 x 17^3 voxels)
# the 8 corners of a cube as offsets of its origin voxel
_CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.int64)


@dataclass
class TriangleMesh:
    """An indexed triangle mesh with per-vertex semantics, map frame."""

    vertices_m: np.ndarray  # (V, 3) float32
    faces: np.ndarray  # (F, 3) int32 vertex indices, counter-clockwise seen from free space (normals outward)
    label: np.ndarray  # (V,) uint16 class ids, IGNORE_ID = unknown
    confidence: np.ndarray  # (V,) float32 in [0, 1], 0 where unknown
    rgb: np.ndarray  # (V, 3) uint8 mean colour of the input images
    face_label: np.ndarray  # (F,) uint16 class id of the map voxel nearest each face's centroid, IGNORE_ID = unknown

    @classmethod
    def empty(cls) -> "TriangleMesh":
        return cls(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32), np.zeros(0, np.uint16),
                   np.zeros(0, np.float32), np.zeros((0, 3), np.uint8), np.zeros(0, np.uint16))

    @property
    def num_vertices(self) -> int:
        return int(self.vertices_m.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.vertices_m, self.faces, self.label, self.confidence, self.rgb,
                                      self.face_label))

    def vertex_vote_labels(self) -> np.ndarray:
        """(F,) uint16: the label two or three of a face's vertices share, else its first vertex's (what a viewer
        that colours by vertex shows; differs from `face_label` only at class borders)."""
        lab = self.label[self.faces] if self.num_faces else np.zeros((0, 3), np.uint16)
        out = lab[:, 0].copy()
        two = lab[:, 1] == lab[:, 2]
        out[two] = lab[two, 1]
        return out

    def area_m2(self) -> float:
        tri = self.vertices_m[self.faces].astype(np.float64)  # (F, 3, 3)
        return float(0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum())


def vertex_colors(mesh: TriangleMesh, mode: str, class_list: ClassList) -> np.ndarray:
    """Per-vertex colours (V, 3) uint8. "class": class colours, grey where unknown; "rgb": the images' colour;
    "confidence": a blue (0) -> red (1) ramp, grey where unknown."""
    if mode == MeshColor.CLASS:
        return class_list.colorize(mesh.label, unknown_rgb=UNKNOWN_GREY)
    if mode == MeshColor.RGB:
        return mesh.rgb
    if mode == MeshColor.CONFIDENCE:
        c = np.clip(mesh.confidence, 0.0, 1.0)[:, None]
        out = ((1.0 - c) * np.array([40, 60, 230]) + c * np.array([230, 40, 40])).astype(np.uint8)
        out[mesh.label == IGNORE_ID] = UNKNOWN_GREY
        return out
    raise InputError(f"mesh colour mode must be one of {tuple(m.value for m in MeshColor)}, got {mode!r}")


def corner_colors(mesh: TriangleMesh, mode: str, class_list: ClassList) -> np.ndarray:
    """Colours of the faces' corners (F*3, 3) uint8, in face order, for triangle lists: "class" colours each face
    flat by its `face_label`; "rgb" and "confidence" take the corners' vertex colours."""
    if mode == MeshColor.CLASS:
        return np.repeat(class_list.colorize(mesh.face_label, unknown_rgb=UNKNOWN_GREY), 3, axis=0)
    return vertex_colors(mesh, mode, class_list)[mesh.faces.reshape(-1)]


def concatenate(meshes: list[TriangleMesh], weld: bool = True) -> TriangleMesh:
    """One mesh of several; with `weld`, vertices at the same position (block borders) become one."""
    meshes = [m for m in meshes if m.num_faces]
    if not meshes:
        return TriangleMesh.empty()
    offsets = np.cumsum([0] + [m.num_vertices for m in meshes[:-1]])
    out = TriangleMesh(np.concatenate([m.vertices_m for m in meshes]),
                       np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]).astype(np.int32),
                       np.concatenate([m.label for m in meshes]), np.concatenate([m.confidence for m in meshes]),
                       np.concatenate([m.rgb for m in meshes]), np.concatenate([m.face_label for m in meshes]))
    if not weld:
        return out
    _, first, inverse = np.unique(out.vertices_m, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # keep the vertices in their first-seen order (deterministic, block order)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    keep = first[order]
    return TriangleMesh(out.vertices_m[keep], rank[inverse.reshape(-1)][out.faces].astype(np.int32),
                        out.label[keep], out.confidence[keep], out.rgb[keep], out.face_label)


def _block_grid(block_voxels: int) -> np.ndarray:
    """Offsets (M, 3), M = (B+1)^3, of a block's sample voxels from its first voxel, C order."""
    r = np.arange(block_voxels + 1)
    return np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)


def mesh_blocks(vmap: VoxelMap, blocks: np.ndarray, min_weight: float = 0.0) -> dict[int, TriangleMesh]:
    """Marching cubes of the given blocks (packed block keys (K,)) -> {block key: mesh} for blocks with faces."""
    from skimage.measure import marching_cubes  # scikit-image: imported here, only the mesher needs it

    blocks = np.unique(np.asarray(blocks, dtype=np.int64))
    b = vmap.block_voxels
    n1 = b + 1
    grid = _block_grid(b)
    d = vmap.data
    out: dict[int, TriangleMesh] = {}
    for start in range(0, blocks.size, _CHUNK_BLOCKS):
        chunk = blocks[start:start + _CHUNK_BLOCKS]
        first = unpack_keys(chunk) * b  # (k, 3) first voxel of each block
        ijk = (first[:, None, :] + grid[None]).reshape(-1, 3)
        idx, found = vmap.lookup(pack_keys(ijk))
        observed = found & (d.weight[idx] > min_weight) if len(vmap) else found
        idx = idx.reshape(-1, n1, n1, n1)
        observed = observed.reshape(-1, n1, n1, n1)
        sdf = np.where(observed, d.sdf_m[idx] if len(vmap) else 0.0, np.float32(1.0)).astype(np.float32)
        cube_ok = np.ones((chunk.size, b, b, b), dtype=bool)  # all 8 corners observed
        for ci, cj, ck in _CORNERS:
            cube_ok &= observed[:, ci:ci + b, cj:cj + b, ck:ck + b]
        for i, key in enumerate(chunk.tolist()):
            ok = cube_ok[i]
            if not ok.any():
                continue
            vol = sdf[i]
            seen = vol[observed[i]]
            if seen.min() > 0.0 or seen.max() < 0.0:  # cheap pre-check: no zero crossing possible
                continue
            mask = np.zeros((n1, n1, n1), dtype=bool)
            mask[1:, 1:, 1:] = ok  # skimage meshes the cube whose far corner is a True element
            try:
                verts, faces, _normals, _values = marching_cubes(vol, level=0.0, mask=mask,
                                                                 gradient_direction="descent",
                                                                 allow_degenerate=False)
            except RuntimeError:  # "No surface found at the given iso value."
                continue
            if faces.shape[0] == 0:
                continue
            near = np.clip(np.rint(verts).astype(np.int64), 0, b)  # the nearer voxel of the vertex's cube edge
            vi = idx[i][near[:, 0], near[:, 1], near[:, 2]]
            label, confidence = vmap.labels(vi)
            at = np.clip(np.rint(verts[faces].mean(axis=1)).astype(np.int64), 0, b)  # voxel nearest each centroid
            face_label, _ = vmap.labels(idx[i][at[:, 0], at[:, 1], at[:, 2]])
            out[key] = TriangleMesh(vertices_m=((verts + first[i]) * vmap.voxel_size_m).astype(np.float32),
                                    faces=faces.astype(np.int32), label=label, confidence=confidence,
                                    rgb=np.clip(np.rint(d.rgb[vi] * 255.0), 0, 255).astype(np.uint8),
                                    face_label=face_label.astype(np.uint16))
    return out


def blocks_to_mesh(vmap: VoxelMap, touched: np.ndarray) -> np.ndarray:
    """Blocks whose mesh may change when the voxels of blocks `touched` (packed (K,)) changed: each block and
    its -x/-y/-z neighbours (whose far samples lie in it). Packed (K',) sorted unique."""
    if touched.size == 0:
        return np.zeros(0, np.int64)
    ijk = unpack_keys(touched)
    return np.unique(pack_keys((ijk[:, None, :] - _CORNERS[None]).reshape(-1, 3)))


@dataclass
class MeshUpdate:
    """What one `SemanticMesh.update` did."""

    changed: list[int] = field(default_factory=list)  # block keys (packed) whose mesh is new or replaced
    removed: list[int] = field(default_factory=list)  # block keys whose mesh was dropped
    seconds: float = 0.0


class SemanticMesh:
    """The map's mesh as one TriangleMesh per block (packed block key -> mesh), kept up to date incrementally.

    The map's touched-blocks record has one consumer: give each map at most one incremental SemanticMesh.
    """

    def __init__(self, min_weight: float = 0.0):
        self.min_weight = float(min_weight)
        self.blocks: dict[int, TriangleMesh] = {}
        self._initialised = False

    @classmethod
    def from_map(cls, vmap: VoxelMap, min_weight: float = 0.0) -> "SemanticMesh":
        """Mesh every block of the map from scratch (reads the map only; its touched record is left alone)."""
        mesh = cls(min_weight)
        mesh.blocks = mesh_blocks(vmap, blocks_to_mesh(vmap, np.unique(vmap.block_keys(vmap.data.keys))),
                                  mesh.min_weight)
        mesh._initialised = True
        return mesh

    def update(self, vmap: VoxelMap) -> MeshUpdate:
        """Re-mesh the blocks the map touched since the last update (all of them the first time)."""
        t = time.perf_counter()
        touched = vmap.pop_touched_blocks()
        if not self._initialised:  # first update: everything there is, and whatever was meshed before goes
            touched = np.union1d(touched, np.unique(vmap.block_keys(vmap.data.keys)))
            touched = np.union1d(touched, np.array(list(self.blocks), dtype=np.int64))
            self._initialised = True
        todo = blocks_to_mesh(vmap, touched)
        fresh = mesh_blocks(vmap, todo, self.min_weight)
        update = MeshUpdate()
        for key in todo.tolist():
            if key in fresh:
                self.blocks[key] = fresh[key]
                update.changed.append(key)
            elif self.blocks.pop(key, None) is not None:
                update.removed.append(key)
        update.seconds = time.perf_counter() - t
        return update

    def reset(self) -> None:
        """Forget every block; the next update meshes the whole map."""
        self.blocks.clear()
        self._initialised = False

    def combined(self, weld: bool = True) -> TriangleMesh:
        """All blocks as one mesh, blocks in key order."""
        return concatenate([self.blocks[k] for k in sorted(self.blocks)], weld=weld)

    def stats(self) -> dict[str, int]:
        return {"blocks": len(self.blocks), "vertices": sum(m.num_vertices for m in self.blocks.values()),
                "faces": sum(m.num_faces for m in self.blocks.values()),
                "bytes": sum(m.nbytes for m in self.blocks.values())}


def write_mesh_ply(path: str | Path, mesh: TriangleMesh, class_list: ClassList, color: str = "class",
                   comment: str = "") -> None:
    """Binary little-endian PLY: vertices (x y z float, red green blue uchar coloured by `color`, label ushort,
    confidence float) and faces (uchar count + int indices, label ushort: the map's class where the face lies).
    Written atomically (temporary file + rename)."""
    rgb = vertex_colors(mesh, color, class_list)
    vertex = np.empty(mesh.num_vertices, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"),
                                                ("green", "u1"), ("blue", "u1"), ("label", "<u2"),
                                                ("confidence", "<f4")])
    vertex["x"], vertex["y"], vertex["z"] = mesh.vertices_m[:, 0], mesh.vertices_m[:, 1], mesh.vertices_m[:, 2]
    vertex["red"], vertex["green"], vertex["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    vertex["label"], vertex["confidence"] = mesh.label, mesh.confidence
    face = np.empty(mesh.num_faces, dtype=[("n", "u1"), ("v", "<i4", (3,)), ("label", "<u2")])
    face["n"], face["v"], face["label"] = 3, mesh.faces, mesh.face_label
    header = ("ply\nformat binary_little_endian 1.0\n"
              + (f"comment {comment}\n" if comment else "")
              + f"comment vertex colour: {color}; label {IGNORE_ID} = unknown\n"
              f"element vertex {mesh.num_vertices}\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\n"
              "property ushort label\nproperty float confidence\n"
              f"element face {mesh.num_faces}\nproperty list uchar int vertex_indices\nproperty ushort label\n"
              "end_header\n")
    write_map_file(path, header.encode("ascii") + vertex.tobytes() + face.tobytes())


def save_map_mesh(path: str | Path, vmap: VoxelMap, class_list: ClassList, color: str = "class") -> TriangleMesh:
    """Mesh the whole map from scratch and write it as a PLY (`write_mesh_ply`); returns the mesh."""
    mesh = SemanticMesh.from_map(vmap).combined()
    write_mesh_ply(path, mesh, class_list, color=color, comment=f"gnesf_ros semantic mesh, voxel_size_m "
                                                                 f"{vmap.voxel_size_m}")
    return mesh
