"""ScanNet scans as a stream of `Frame`s (+ ground-truth label images), from a `.sens` file or an
exported folder.

Inputs accepted by `ScanNetScan(path, ...)`:

- a `.sens` file, or a ScanNet scan folder holding `<scene>.sens` (labels then come from
  `label-filt/` or `<scene>_2d-label-filt.zip` beside it, 3D truth from `<scene>_vh_clean_2.labels.ply`);
- an exported folder (what ScanNet's SensReader writes): `color/<i>.jpg`, `depth/<i>.png` (uint16 mm),
  `pose/<i>.txt` (4x4 camera-to-world), `intrinsic/intrinsic_color.txt`, `intrinsic/intrinsic_depth.txt`,
  optional `label-filt/<i>.png` (raw ScanNet ids) and `<scene>_vh_clean_2.labels.ply`.

Image geometry. Every yielded frame is in the *colour* camera, resampled to one output size
(default: the depth resolution, 640x480 for ScanNet):
- rgb: colour image resized (INTER_AREA when shrinking, INTER_LINEAR when growing);
- K: colour intrinsics scaled with pixel-centre alignment, cx' = (cx + 0.5) * W'/W - 0.5 (same for y);
- depth: the depth image re-sampled (nearest) into that camera through K_depth K'^-1 (ScanNet colour and
  depth share the optical centre, so this is exact for a pinhole and keeps z-depth values unchanged);
- labels / predictions (given at any resolution of the colour camera): nearest resize; probabilities linear.

Labels: raw ScanNet ids -> NYU40 (`scannetv2-labels.combined.tsv`, columns `id` and `nyu40id`) ->
ScanNet-20 ids 0..19, 255 = ignore (`NYU40_TO_SCANNET20`).

Frames whose pose has a non-finite entry (ScanNet marks lost tracking with -inf) are skipped and counted
in `ScanNetScan.skipped_invalid_pose`; they are never yielded.
"""
from __future__ import annotations

import csv
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from gnesf_ros.classes import IGNORE_ID
from gnesf_ros.errors import DataError
from gnesf_ros.frame import Frame, labels_to_probs
from gnesf_ros.geometry.camera import scale_intrinsics

from gnesf_ros.data.sens import SensReader

log = logging.getLogger(__name__)

NUM_CLASSES = 20
FRAME_ID = "camera_color_optical_frame"
DEFAULT_START_NS = 1_000_000_000  # frame 0 at t = 1 s (a zero stamp means "no stamp" to many ROS tools)
DEFAULT_PERIOD_NS = 33_333_333  # ScanNet records at 30 Hz

#: NYU40 id -> ScanNet-20 id (the 20 benchmark classes); every other NYU40 id maps to 255.
NYU40_TO_SCANNET20: dict[int, int] = {
    1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6, 8: 7, 9: 8, 10: 9, 11: 10, 12: 11, 14: 12, 16: 13,
    24: 14, 28: 15, 33: 16, 34: 17, 36: 18, 39: 19,
}


def nyu40_lookup() -> np.ndarray:
    """(256,) uint8 table: NYU40 id -> ScanNet-20 id (255 for unmapped ids)."""
    table = np.full(256, IGNORE_ID, dtype=np.uint8)
    for nyu, s20 in NYU40_TO_SCANNET20.items():
        table[nyu] = s20
    return table


def nyu40_to_scannet20(ids: np.ndarray) -> np.ndarray:
    """NYU40 ids (any shape, any int dtype) -> ScanNet-20 ids uint8 (255 = ignore)."""
    ids = np.asarray(ids).astype(np.int64)
    out = np.full(ids.shape, IGNORE_ID, dtype=np.uint8)
    ok = (ids >= 0) & (ids < 256)
    out[ok] = nyu40_lookup()[ids[ok]]
    return out


def load_label_map(tsv_path: str | Path | None) -> np.ndarray:
    """Read `scannetv2-labels.combined.tsv` -> (max_raw_id + 1,) uint8 table raw ScanNet id -> ScanNet-20 id."""
    if tsv_path is None:
        raise DataError("raw ScanNet label ids need scannetv2-labels.combined.tsv (ScanNet's label table): "
                        "pass its path (--tsv PATH)")
    path = Path(tsv_path)
    if not path.is_file():
        raise DataError(f"ScanNet label table not found: {path} (expected scannetv2-labels.combined.tsv)")
    pairs = []
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f, delimiter="\t")
            if reader.fieldnames is None or "id" not in reader.fieldnames or "nyu40id" not in reader.fieldnames:
                raise DataError(f"{path}: needs tab-separated columns 'id' and 'nyu40id', got {reader.fieldnames}")
            for line_no, row in enumerate(reader, start=2):
                try:
                    pairs.append((int(row["id"]), int(row["nyu40id"])))
                except (TypeError, ValueError) as exc:
                    raise DataError(f"{path}:{line_no}: bad id/nyu40id {row.get('id')!r}/{row.get('nyu40id')!r}") from exc
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if not pairs:
        raise DataError(f"{path}: no rows")
    table = np.full(max(r for r, _ in pairs) + 1, IGNORE_ID, dtype=np.uint8)
    for raw, nyu in pairs:
        if raw >= 0:
            table[raw] = nyu40_to_scannet20(np.array(nyu))
    return table


def map_raw_labels(raw: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Raw ScanNet ids (H, W) -> ScanNet-20 ids (H, W) uint8; ids outside the table -> 255."""
    raw = np.asarray(raw).astype(np.int64)
    out = np.full(raw.shape, IGNORE_ID, dtype=np.uint8)
    ok = (raw >= 0) & (raw < len(table))
    out[ok] = table[raw[ok]]
    return out


def read_labels_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """`<scene>_vh_clean_2.labels.ply` -> (vertices (N, 3) float32 in the scan's world frame,
    ScanNet-20 labels (N,) uint8). The file's `label` property holds NYU40 ids."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise DataError(f"{path}: not a PLY file")
    header = data[:end].decode("ascii", errors="replace").splitlines()
    body_start = data.index(b"\n", end) + 1
    fmt = next((ln.split()[1] for ln in header if ln.startswith("format")), "")
    ply_types = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
                 "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
                 "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}
    num_vertices, props, in_vertex = 0, [], False
    for ln in header:
        parts = ln.split()
        if parts[:2] == ["element", "vertex"]:
            num_vertices, in_vertex = int(parts[2]), True
        elif parts and parts[0] == "element":
            in_vertex = False
        elif in_vertex and parts and parts[0] == "property":
            if parts[1] == "list":
                raise DataError(f"{path}: list property in the vertex element is not supported")
            props.append((parts[2], ply_types.get(parts[1], "")))
    names = [n for n, _ in props]
    if "label" not in names or not {"x", "y", "z"} <= set(names):
        raise DataError(f"{path}: vertices need x, y, z and label properties, got {names}")
    if fmt == "binary_little_endian" or fmt == "binary_big_endian":
        order = "<" if fmt == "binary_little_endian" else ">"
        dtype = np.dtype([(n, order + t) for n, t in props])
        if len(data) - body_start < dtype.itemsize * num_vertices:
            raise DataError(f"{path}: truncated vertex data ({num_vertices} vertices announced)")
        verts = np.frombuffer(data, dtype=dtype, count=num_vertices, offset=body_start)
        xyz = np.stack([verts["x"], verts["y"], verts["z"]], axis=1).astype(np.float32)
        label = verts["label"]
    elif fmt == "ascii":
        rows = data[body_start:].decode("ascii").split("\n")[:num_vertices]
        table = np.array([r.split() for r in rows], dtype=np.float64)
        xyz = table[:, [names.index("x"), names.index("y"), names.index("z")]].astype(np.float32)
        label = table[:, names.index("label")].astype(np.int64)
    else:
        raise DataError(f"{path}: unsupported PLY format '{fmt}'")
    return xyz, nyu40_to_scannet20(label)


@dataclass
class ScanFrame:
    """One yielded frame of a scan."""

    index: int  # frame index in the scan (file name / .sens order)
    frame: Frame
    truth_labels: np.ndarray | None  # (H, W) uint8 ScanNet-20 ids, 255 = ignore; None when not available


@dataclass
class ScanInfo:
    """What a scan is and where its semantics come from (recorded in bags and reports)."""

    scene: str
    source: str  # 'sens' | 'folder'
    path: str
    semantics: str  # 'noise' | 'truth' | 'predictions:<dir>'
    num_frames: int  # frames in the scan (before --every and invalid-pose skipping)
    height: int
    width: int
    K: np.ndarray  # (3, 3) intrinsics of the yielded frames
    has_truth_labels: bool
    truth_mesh: str | None = None  # path of <scene>_vh_clean_2.labels.ply when present
    extra: dict = field(default_factory=dict)


def _index_files(folder: Path, suffixes: tuple[str, ...]) -> dict[int, Path]:
    """Files named <number><suffix> (e.g. 12.jpg, 000012.png) -> {12: path}; where one index has several
    files, the suffix listed last in `suffixes` wins."""
    out: dict[int, Path] = {}
    if folder.is_dir():
        for p in sorted(folder.iterdir(), key=lambda q: (suffixes.index(q.suffix.lower()) if q.suffix.lower() in suffixes else -1, q.name)):
            m = re.fullmatch(r"(?:frame-)?0*(\d+)", p.stem)
            if m and p.suffix.lower() in suffixes:
                out[int(m.group(1))] = p
    return out


def _read_matrix(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A text matrix, rounded to float32 like the .sens file stores it (so both layouts give equal frames)."""
    try:
        m = np.loadtxt(path, dtype=np.float64).astype(np.float32).astype(np.float64)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read matrix {path}: {exc}") from exc
    if m.shape != shape:
        raise DataError(f"{path}: expected a {shape[0]}x{shape[1]} matrix, got shape {m.shape}")
    return m


def _imread(path: Path, flags: int, what: str) -> np.ndarray:
    img = cv2.imread(str(path), flags)
    if img is None:
        raise DataError(f"cannot read {what} image {path}")
    return img


def _resize(img: np.ndarray, hw: tuple[int, int], nearest: bool = False) -> np.ndarray:
    if img.shape[:2] == hw:
        return img
    if nearest:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if hw[0] * hw[1] < img.shape[0] * img.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(img, (hw[1], hw[0]), interpolation=interp)


class _DepthWarp:
    """Nearest re-sampling of a depth image (intrinsics K_depth) into the output camera K_out (same centre)."""

    def __init__(self, K_depth: np.ndarray, depth_hw: tuple[int, int], K_out: np.ndarray, out_hw: tuple[int, int]):
        u = np.arange(out_hw[1], dtype=np.float64)
        v = np.arange(out_hw[0], dtype=np.float64)
        mx = K_depth[0, 0] / K_out[0, 0] * (u - K_out[0, 2]) + K_depth[0, 2]
        my = K_depth[1, 1] / K_out[1, 1] * (v - K_out[1, 2]) + K_depth[1, 2]
        self.identity = out_hw == depth_hw and np.allclose(mx, u, atol=1e-3) and np.allclose(my, v, atol=1e-3)
        self.map_x = np.broadcast_to(mx[None, :], out_hw).astype(np.float32)
        self.map_y = np.broadcast_to(my[:, None], out_hw).astype(np.float32)

    def __call__(self, depth: np.ndarray) -> np.ndarray:
        if self.identity:
            return depth
        return cv2.remap(depth, self.map_x, self.map_y, interpolation=cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class _LabelSource:
    """Raw ScanNet label images from a `label-filt/` folder or a `<scene>_2d-label-filt.zip`."""

    def __init__(self, folder: Path | None = None, zip_path: Path | None = None):
        self.folder, self.zip_path = folder, zip_path
        self._zip = zipfile.ZipFile(zip_path) if zip_path is not None else None
        if folder is not None:
            self._index = _index_files(folder, (".png",))
        else:
            self._index = {}
            for name in self._zip.namelist():
                m = re.fullmatch(r"(?:.*/)?0*(\d+)\.png", name)
                if m:
                    self._index[int(m.group(1))] = name

    def __contains__(self, index: int) -> bool:
        return index in self._index

    def read(self, index: int) -> np.ndarray:
        if self._zip is not None:
            buf = np.frombuffer(self._zip.read(self._index[index]), dtype=np.uint8)
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            if img is None:
                raise DataError(f"{self.zip_path}: cannot decode label image {self._index[index]}")
            return img
        return _imread(self._index[index], cv2.IMREAD_UNCHANGED, "label")


class ScanNetScan:
    """Iterate a ScanNet scan as `ScanFrame`s (bounded memory: one frame decoded at a time).

    semantics: 'noise' (the segmenter-noise model applied to the true labels; needs labels + tsv),
    'truth' (the true labels as one-hot probabilities), 'none' (every pixel unknown: all-zero probabilities, for
    geometry alone or a bag of colour, depth, camera_info and poses for a segmenter that runs live; needs no
    labels), or a folder of a segmenter's predictions named
    by frame index: `<i>.png` (ScanNet-20 label ids, 255 unknown), `<i>.npy` / `<i>.npz` ((H, W, C) or
    (C, H, W) probabilities; npz key 'probs' or its only array); probabilities win over a PNG of the same index.
    """

    def __init__(self, path: str | Path, tsv_path: str | Path | None = None, semantics: str | Path = "noise",
                 every: int = 1, image_size: tuple[int, int] | None = None, noise_seed: int = 0,
                 noise_config: object | None = None, frame_id: str = FRAME_ID,
                 start_ns: int = DEFAULT_START_NS, period_ns: int = DEFAULT_PERIOD_NS):
        self.path = Path(path)
        if every < 1:
            raise DataError(f"every must be >= 1, got {every}")
        self.every, self.frame_id = int(every), frame_id
        self.start_ns, self.period_ns = int(start_ns), int(period_ns)
        self.skipped_invalid_pose = 0
        self.num_classes = NUM_CLASSES
        if not self.path.exists():
            raise DataError(f"ScanNet scan not found: {self.path}")
        self._sens: SensReader | None = None
        sens_path = self._find_sens()
        if sens_path is not None:
            self._open_sens(sens_path)
            root = sens_path.parent
        else:
            self._open_folder()
            root = self.path
        self.scene = self._scene_name(root, sens_path)
        self.out_hw = tuple(image_size) if image_size is not None else self._depth_hw
        self.K = scale_intrinsics(self._K_color, self.out_hw[1] / self._color_hw[1], self.out_hw[0] / self._color_hw[0])
        self._warp = _DepthWarp(self._K_depth, self._depth_hw, self.K, self.out_hw)
        # labels
        self._labels = self._find_labels(root)
        semantics_s = str(semantics)
        needs_truth = semantics_s in ("noise", "truth")
        if semantics_s == "none":  # colour, depth and poses only: the robot's own segmenter runs live
            self._labels = None
        self._table = None
        if self._labels is not None and (needs_truth or tsv_path is not None):
            self._table = load_label_map(tsv_path)
        if needs_truth:
            if self._labels is None:
                raise DataError(f"{self.path}: semantics '{semantics_s}' needs ScanNet label images (label-filt/ or "
                                f"*_2d-label-filt.zip), none found; pass a folder of segmenter predictions instead")
        self._noise = None
        if semantics_s == "noise":
            self._noise = self._make_noise(noise_config, noise_seed)
            self.semantics = "noise"
        elif semantics_s in ("truth", "none"):
            self.semantics = semantics_s
        else:
            pred_dir = Path(semantics_s)
            if not pred_dir.is_dir():
                raise DataError(f"semantics must be 'noise', 'truth' or a folder of predictions; {pred_dir} is not a folder")
            self._preds = _index_files(pred_dir, (".png", ".npy", ".npz"))
            if not self._preds:
                raise DataError(f"{pred_dir}: no prediction files named <frame index>.png/.npy/.npz")
            self.semantics = f"predictions:{pred_dir}"
        mesh = root / f"{self.scene}_vh_clean_2.labels.ply"
        self.info = ScanInfo(scene=self.scene, source="sens" if sens_path else "folder", path=str(self.path),
                             semantics=self.semantics, num_frames=len(self._frame_ids), height=self.out_hw[0],
                             width=self.out_hw[1], K=self.K, has_truth_labels=self._table is not None,
                             truth_mesh=str(mesh) if mesh.is_file() else None)

    # -- opening -----------------------------------------------------------------------------------
    def _find_sens(self) -> Path | None:
        if self.path.is_file():
            if self.path.suffix != ".sens":
                raise DataError(f"{self.path}: expected a .sens file or a scan folder")
            return self.path
        if (self.path / "color").is_dir():
            return None
        found = sorted(self.path.glob("*.sens"))
        if not found:
            raise DataError(f"{self.path}: neither a .sens file nor an exported scan (color/, depth/, pose/, intrinsic/)")
        return found[0]

    @staticmethod
    def _scene_name(root: Path, sens_path: Path | None) -> str:
        if sens_path is not None:
            return sens_path.stem
        plys = sorted(root.glob("*_vh_clean_2.labels.ply"))
        return plys[0].name[: -len("_vh_clean_2.labels.ply")] if plys else root.name

    def _open_sens(self, sens_path: Path) -> None:
        self._sens = SensReader(sens_path)
        h = self._sens.header
        self._K_color = h.intrinsic_color[:3, :3].astype(np.float64)
        self._K_depth = h.intrinsic_depth[:3, :3].astype(np.float64)
        self._color_hw = (h.color_height, h.color_width)
        self._depth_hw = (h.depth_height, h.depth_width)
        self._depth_shift = h.depth_shift
        self._frame_ids = list(range(len(self._sens)))

    def _open_folder(self) -> None:
        p = self.path
        for sub in ("color", "depth", "pose", "intrinsic"):
            if not (p / sub).is_dir():
                raise DataError(f"{p}: exported scan folder lacks '{sub}/'")
        self._K_color = _read_matrix(p / "intrinsic" / "intrinsic_color.txt", (4, 4))[:3, :3]
        self._K_depth = _read_matrix(p / "intrinsic" / "intrinsic_depth.txt", (4, 4))[:3, :3]
        self._colors = _index_files(p / "color", (".jpg", ".jpeg", ".png"))
        self._depths = _index_files(p / "depth", (".png",))
        self._poses = _index_files(p / "pose", (".txt",))
        self._frame_ids = sorted(set(self._colors) & set(self._depths) & set(self._poses))
        if not self._frame_ids:
            raise DataError(f"{p}: no frame has all of color/<i>.jpg, depth/<i>.png and pose/<i>.txt")
        missing = len(set(self._colors) | set(self._depths) | set(self._poses)) - len(self._frame_ids)
        if missing:
            log.warning("%s: %d frame(s) lack a colour, depth or pose file and are left out", p, missing)
        first = self._frame_ids[0]
        self._color_hw = _imread(self._colors[first], cv2.IMREAD_COLOR, "colour").shape[:2]
        self._depth_hw = _imread(self._depths[first], cv2.IMREAD_UNCHANGED, "depth").shape[:2]
        self._depth_shift = 1000.0

    def _find_labels(self, root: Path) -> _LabelSource | None:
        if (root / "label-filt").is_dir():
            return _LabelSource(folder=root / "label-filt")
        zips = sorted(root.glob("*_2d-label-filt.zip"))
        return _LabelSource(zip_path=zips[0]) if zips else None

    def _make_noise(self, noise_config: object | None, seed: int):
        try:
            from gnesf_ros.data import segmenter_noise
        except ImportError as exc:
            raise DataError(f"semantics 'noise' needs gnesf_ros.data.segmenter_noise: {exc}") from exc
        if noise_config is None:
            cfg_cls = getattr(segmenter_noise, "SegmenterNoiseConfig", None)
            noise_config = cfg_cls() if cfg_cls is not None else None
        return segmenter_noise.SegmenterNoise(noise_config, self.num_classes, seed)

    # -- iteration ---------------------------------------------------------------------------------
    def close(self) -> None:
        if self._sens is not None:
            self._sens.close()

    def __enter__(self) -> "ScanNetScan":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        """Frames in the scan, before `every` and invalid-pose skipping."""
        return len(self._frame_ids)

    def truth_mesh(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(vertices (N, 3), ScanNet-20 labels (N,)) from <scene>_vh_clean_2.labels.ply, or None when absent."""
        return read_labels_ply(self.info.truth_mesh) if self.info.truth_mesh else None

    def _stamp_ns(self, index: int, timestamp_us: int) -> int:
        return int(timestamp_us) * 1000 if timestamp_us > 0 else self.start_ns + index * self.period_ns

    def _raw(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(rgb (Hc, Wc, 3) uint8, depth (Hd, Wd) uint16, T_world_cam (4, 4) float64, timestamp_us)."""
        if self._sens is not None:
            f = self._sens.frame(index)
            return f.rgb, f.depth_raw, f.T_world_cam.astype(np.float64), f.timestamp_color
        rgb = cv2.cvtColor(_imread(self._colors[index], cv2.IMREAD_COLOR, "colour"), cv2.COLOR_BGR2RGB)
        depth = _imread(self._depths[index], cv2.IMREAD_UNCHANGED, "depth")
        if depth.dtype != np.uint16 or depth.ndim != 2:
            raise DataError(f"{self._depths[index]}: depth must be a single-channel uint16 PNG, got {depth.dtype} {depth.shape}")
        return rgb, depth, _read_matrix(self._poses[index], (4, 4)), 0

    def _pose_ok(self, index: int) -> bool:
        if self._sens is not None:
            T = self._sens.pose(index)
        else:
            T = _read_matrix(self._poses[index], (4, 4))
        return bool(np.all(np.isfinite(T)))

    def __iter__(self) -> Iterator[ScanFrame]:
        self.skipped_invalid_pose = 0
        for index in self._frame_ids[:: self.every]:
            if not self._pose_ok(index):
                self.skipped_invalid_pose += 1
                continue
            yield self._make_frame(index)
        if self.skipped_invalid_pose:
            log.info("%s: skipped %d frame(s) with an invalid (non-finite) pose", self.path, self.skipped_invalid_pose)

    def _make_frame(self, index: int) -> ScanFrame:
        where = f"{self.path} frame {index}"
        rgb_c, depth_raw, T, ts = self._raw(index)
        if rgb_c.shape[:2] != tuple(self._color_hw) or depth_raw.shape != tuple(self._depth_hw):
            raise DataError(f"{where}: image sizes {rgb_c.shape[:2]} / {depth_raw.shape} differ from the scan's "
                            f"{self._color_hw} / {self._depth_hw}")
        rgb = _resize(rgb_c, self.out_hw)
        depth_m = self._warp(depth_raw).astype(np.float32) / np.float32(self._depth_shift)
        truth = None
        if self._table is not None and index in self._labels:
            truth = _resize(map_raw_labels(self._labels.read(index), self._table), self.out_hw, nearest=True)
        if self.semantics == "noise":
            if truth is None:
                raise DataError(f"{where}: no label image for the noise model")
            probs = self._noise.apply(truth, truth, depth_m, np.ones(self.out_hw, np.float32), index)
            probs = np.asarray(probs, dtype=np.float32)
        elif self.semantics == "truth":
            if truth is None:
                raise DataError(f"{where}: no label image")
            probs = labels_to_probs(truth, self.num_classes)
        elif self.semantics == "none":
            probs = np.zeros((*self.out_hw, self.num_classes), np.float32)  # unknown everywhere; not written
        else:
            probs = self._read_prediction(index, where)
        frame = Frame(rgb=np.ascontiguousarray(rgb), K=self.K.copy(), T_map_cam=T, probs=probs,
                      stamp_ns=self._stamp_ns(index, ts), depth_m=depth_m, frame_id=self.frame_id)
        return ScanFrame(index=index, frame=frame, truth_labels=truth)

    def _read_prediction(self, index: int, where: str) -> np.ndarray:
        path = self._preds.get(index)
        if path is None:
            raise DataError(f"{where}: no prediction file {index}.png/.npy/.npz in {self.semantics[len('predictions:'):]}")
        if path.suffix.lower() == ".png":
            labels = _imread(path, cv2.IMREAD_UNCHANGED, "prediction")
            if labels.ndim != 2:
                raise DataError(f"{path}: prediction PNG must be single-channel label ids, got shape {labels.shape}")
            return labels_to_probs(_resize(labels, self.out_hw, nearest=True), self.num_classes)
        try:
            arr = np.load(path)
            if isinstance(arr, np.lib.npyio.NpzFile):
                keys = list(arr.keys())
                arr = arr["probs"] if "probs" in keys else arr[keys[0]] if len(keys) == 1 else None
                if arr is None:
                    raise DataError(f"{path}: npz needs a 'probs' array (or exactly one array), has {keys}")
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read prediction {path}: {exc}") from exc
        arr = np.asarray(arr, dtype=np.float32)
        c = self.num_classes
        if arr.ndim == 3 and arr.shape[0] == c and arr.shape[2] != c:
            arr = np.transpose(arr, (1, 2, 0))
        if arr.ndim != 3 or arr.shape[2] != c:
            raise DataError(f"{path}: probabilities must be (H, W, {c}) or ({c}, H, W), got {arr.shape}")
        if arr.shape[:2] != self.out_hw:
            arr = cv2.resize(arr, (self.out_hw[1], self.out_hw[0]), interpolation=cv2.INTER_LINEAR)
        if not np.all(np.isfinite(arr)) or arr.min() < 0:
            raise DataError(f"{path}: probabilities must be finite and non-negative")
        return np.ascontiguousarray(arr)
