"""Procedural surface textures of the realistic style, evaluated at ray hits (vectorised numpy).

Each surface part carries one *look*: a texture family, two colours, a scale, an in-plane rotation and
a noise seed. Families (plaster, grain, wood, fabric, tile, stone, paper, print, text) are shared by all
classes and colours are drawn independently of the class, so colour alone does not tell the class.
Patterns are functions of 2D surface coordinates (u, v) in metres, taken from the hit point in the
part's yaw frame on the plane its normal faces (box-projection), and are deterministic per seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAMILIES = ("plaster", "grain", "wood", "fabric", "tile", "stone", "paper", "print", "text")
PLASTER, GRAIN, WOOD, FABRIC, TILE, STONE, PAPER, PRINT, TEXT = range(len(FAMILIES))

# family weights by role; every role can draw every family (class priors shape, never decide, the look)
_ROLE_WEIGHTS = {
    "wall": (5, 2, 1, 1, 1, 1, 3, 2, 0.3),
    "floor": (1, 2, 5, 3, 3, 2, 0.3, 0.5, 0.1),
    "furniture": (2, 2, 4, 3, 1, 2, 1, 2, 0.5),
    "book": (0.3, 0.5, 0.3, 2, 0.1, 0.3, 2, 2, 4),
    "picture": (1, 0.5, 0.5, 0.5, 0.3, 2, 2, 4, 2),
    "clutter": (1, 2, 2, 2, 1, 1, 2, 3, 2),
}


@dataclass
class Look:
    """Per-look appearance arrays (M looks) and the look of each triangle."""

    family: np.ndarray  # (M,) int8 index into FAMILIES
    c1: np.ndarray  # (M, 3) float32 linear albedo, colour 1
    c2: np.ndarray  # (M, 3) float32 linear albedo, colour 2 (pattern, ink, grout, grain)
    scale: np.ndarray  # (M,) float32 frequency multiplier
    angle: np.ndarray  # (M,) float32 in-plane rotation of (u, v), radians
    yaw: np.ndarray  # (M,) float32 yaw of the part's own frame (box faces line up with u, v)
    seed: np.ndarray  # (M,) int64 noise seed
    shininess: np.ndarray  # (M,) float32 in [0, 1]: specular strength and depth-sensor saturation
    tri_look: np.ndarray  # (T,) int32 look of each triangle


def draw_look(rng: np.random.Generator, role: str) -> tuple[int, np.ndarray, np.ndarray, float, float]:
    """(family, c1, c2, scale, shininess) of one part with role `role`; colour independent of the role."""
    w = np.asarray(_ROLE_WEIGHTS[role], np.float64)
    fam = int(rng.choice(len(FAMILIES), p=w / w.sum()))
    # half the parts near-neutral (whites, greys, beiges as in real rooms), half coloured; never by class
    h, v = rng.uniform(0, 1), rng.uniform(0.15, 0.95)
    s = rng.uniform(0.0, 0.12) if rng.random() < 0.5 else rng.beta(1.2, 2.5)
    c1 = _hsv(h, s, v)
    if fam in (TEXT, PRINT) and rng.random() < 0.7:  # ink: dark or a contrasting hue
        c2 = _hsv((h + rng.uniform(0.3, 0.7)) % 1.0, rng.uniform(0, 0.8), rng.uniform(0.03, 0.35))
    else:
        c2 = np.clip(c1 * rng.uniform(0.35, 0.8) + rng.uniform(-0.06, 0.06, size=3), 0.0, 1.0)
    if rng.random() < 0.3:  # light pattern on a dark base
        c1, c2 = c2, c1
    shiny = float(rng.uniform(0.6, 1.0)) if rng.random() < 0.2 else float(rng.uniform(0.0, 0.2))
    # albedos in linear units (sRGB-ish gamma), so mid greys reflect ~20 %
    return fam, (c1 ** 2.2).astype(np.float32), (c2 ** 2.2).astype(np.float32), 1.0, shiny


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# noise

def _hash(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Integer lattice (ix, iy) -> uniform float32 in [0, 1): a 32-bit integer mix, deterministic."""
    h = (ix.astype(np.int64) * 0x27D4EB2D + iy.astype(np.int64) * 0x165667B1 + int(seed) * 0x5BD1E995)
    h = (h & 0xFFFFFFFF).astype(np.uint32)
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x2C1B3C6D)
    h ^= h >> np.uint32(12)
    h *= np.uint32(0x297A2D39)
    h ^= h >> np.uint32(15)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def value_noise(u: np.ndarray, v: np.ndarray, seed: int) -> np.ndarray:
    """Smooth 2D value noise in [0, 1] with unit lattice spacing."""
    iu, iv = np.floor(u), np.floor(v)
    fu, fv = (u - iu).astype(np.float32), (v - iv).astype(np.float32)
    iu, iv = iu.astype(np.int64), iv.astype(np.int64)
    su, sv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    a, b = _hash(iu, iv, seed), _hash(iu + 1, iv, seed)
    c, d = _hash(iu, iv + 1, seed), _hash(iu + 1, iv + 1, seed)
    return (a + (b - a) * su) * (1 - sv) + (c + (d - c) * su) * sv


def fbm(u: np.ndarray, v: np.ndarray, seed: int, octaves: int = 4) -> np.ndarray:
    """Fractal (1/f) noise in about [0, 1]: `octaves` octaves of value noise, each twice as fine."""
    out = np.zeros(u.shape, np.float32)
    amp, norm = 1.0, 0.0
    for k in range(octaves):
        f = float(2 ** k)
        out += np.float32(amp) * value_noise(u * f + 17.3 * k, v * f - 9.1 * k, seed + 101 * k)
        norm += amp
        amp *= 0.5
    return out / np.float32(norm)


# ----------------------------------------------------------------------------------------------
# families: (u, v) metres -> pattern in [0, 1] (0 = colour 1, 1 = colour 2), and a luminance factor

def _pattern(fam: int, u: np.ndarray, v: np.ndarray, s: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    one = np.ones(u.shape, np.float32)
    if fam == PLASTER:
        return 0.5 * fbm(u * 3 * s, v * 3 * s, seed, 5), one
    if fam == GRAIN:
        coarse = fbm(u * 2 * s, v * 2 * s, seed, 3)
        fine = value_noise(u * 120 * s, v * 120 * s, seed + 7)
        return np.clip(0.4 * coarse + 0.7 * (fine > 0.62), 0, 1), one
    if fam == WOOD:
        plank_w = 0.12 / s
        plank = np.floor(v / plank_w)
        off = _hash(plank.astype(np.int64), np.zeros_like(plank, np.int64), seed) * 3.0
        warp = 1.5 * fbm((u + off) * 0.8 * s, v * 4 * s, seed + 3, 3)
        rings = 0.5 + 0.5 * np.sin((v * 40 * s + warp * 6.0) * np.pi)
        streak = value_noise((u + off) * 3 * s, v * 180 * s, seed + 5)
        seam = (np.abs(v / plank_w - plank - 0.5) > 0.48) | (np.abs(((u + off * 0.7) / (1.2 / s)) % 1.0 - 0.5) > 0.495)
        lum = np.where(seam, 0.45, 0.85 + 0.3 * _hash(plank.astype(np.int64), np.ones_like(plank, np.int64), seed))
        return np.clip(0.55 * rings + 0.45 * streak, 0, 1), lum.astype(np.float32)
    if fam == FABRIC:
        f = 90 * s
        weave = 0.5 + 0.25 * (np.sin(u * f * np.pi) * np.sign(np.sin(v * f * np.pi * 0.5))
                              + np.sin(v * f * np.pi) * np.sign(np.sin(u * f * np.pi * 0.5)))
        mottle = fbm(u * 4 * s, v * 4 * s, seed, 3)
        return np.clip(0.6 * weave + 0.6 * (mottle - 0.5), 0, 1), one
    if fam == TILE:
        t = 0.3 / s
        cu, cv = np.floor(u / t), np.floor(v / t)
        grout = (np.minimum(u / t - cu, 1 - (u / t - cu)) < 0.03) | (np.minimum(v / t - cv, 1 - (v / t - cv)) < 0.03)
        tint = _hash(cu.astype(np.int64), cv.astype(np.int64), seed)
        speck = fbm(u * 25 * s, v * 25 * s, seed + 1, 2)
        pat = np.where(grout, 1.0, 0.25 * tint + 0.3 * speck)
        return pat.astype(np.float32), np.where(grout, 0.7, 1.0).astype(np.float32)
    if fam == STONE:
        n = fbm(u * 1.5 * s, v * 1.5 * s, seed, 5)
        veins = np.abs(np.sin((u * 2 * s + 6 * n) * np.pi)) ** 0.25
        speck = value_noise(u * 80 * s, v * 80 * s, seed + 9)
        return np.clip(1.0 - veins + 0.35 * (speck - 0.5) + 0.3 * n, 0, 1), one
    if fam == PAPER:  # wallpaper / printed paper: a repeating motif over paper fibre
        f = 6 * s
        motif = (np.sin(u * f * 2 * np.pi) * np.sin(v * f * 2 * np.pi) > 0.55) | \
                (np.abs(((u * f + 0.5 * np.floor(v * f)) % 1.0) - 0.5) < 0.06)
        fibre = value_noise(u * 200 * s, v * 200 * s, seed + 2)
        return np.clip(0.8 * motif + 0.25 * (fibre - 0.5), 0, 1), one
    if fam == PRINT:  # a picture: colour blobs, edges and a few strokes at several scales
        blobs = fbm(u * 2.5 * s, v * 2.5 * s, seed, 5)
        edges = (np.abs(blobs - 0.5) < 0.03)
        strokes = np.sin((u * 30 * s + 8 * blobs) * np.pi) > 0.8
        return np.clip(1.6 * (blobs - 0.25) + 0.5 * edges + 0.25 * strokes, 0, 1), one
    # TEXT: rows of word-like groups of glyphs made of strokes (book pages, labels, spines, posters)
    line_h = 0.02 / s
    row = np.floor(v / line_h)
    fv = v / line_h - row
    glyph_w = 0.6 * line_h
    col = np.floor(u / glyph_w)
    fu = u / glyph_w - col
    word = np.floor(col / 5.0)
    space = _hash(word.astype(np.int64), row.astype(np.int64), seed) < 0.25
    space |= (col % 5) == 4
    blank_row = _hash(row.astype(np.int64), np.full(row.shape, 3, np.int64), seed) < 0.2
    g = _hash(col.astype(np.int64), row.astype(np.int64), seed + 11)
    stroke = ((np.abs(fu - 0.2 - 0.5 * g) < 0.1) | (np.abs(fv - 0.3 - 0.4 * g) < 0.08)) & (fv > 0.15) & (fv < 0.85) & (fu < 0.8)
    ink = stroke & ~space & ~blank_row
    paper = 0.15 * fbm(u * 20 * s, v * 20 * s, seed + 4, 2)
    return np.clip(ink.astype(np.float32) + paper, 0, 1), one


def surface_uv(pts: np.ndarray, normals: np.ndarray, yaw: np.ndarray, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) hits, (N, 3) normals, per-hit part yaw and in-plane angle -> surface coordinates (u, v) metres.

    The hit and its normal are turned into the part's own frame (yaw about z); the coordinate plane is
    the one the normal faces most (box projection), so box faces get undistorted coordinates.
    """
    c, s = np.cos(yaw).astype(np.float32), np.sin(yaw).astype(np.float32)
    x = c * pts[:, 0] + s * pts[:, 1]
    y = -s * pts[:, 0] + c * pts[:, 1]
    z = pts[:, 2]
    nx = np.abs(c * normals[:, 0] + s * normals[:, 1])
    ny = np.abs(-s * normals[:, 0] + c * normals[:, 1])
    nz = np.abs(normals[:, 2])
    top = (nz >= nx) & (nz >= ny)
    side_x = ~top & (nx >= ny)
    u = np.where(top, x, np.where(side_x, y, x))
    v = np.where(top, y, z)
    ca, sa = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
    return ca * u - sa * v, sa * u + ca * v


def albedo(look: Look, pts: np.ndarray, normals: np.ndarray, tri: np.ndarray, detail: float = 1.0,
           fine_grain: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    """Linear albedo (N, 3) and per-hit look ids (N,) at hits `pts` (N, 3) on triangles `tri` (N,)."""
    ids = look.tri_look[tri]
    u, v = surface_uv(pts, normals, look.yaw[ids], look.angle[ids])
    out = np.empty((len(pts), 3), np.float32)
    order = np.argsort(ids, kind="stable")
    uniq, starts = np.unique(ids[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for m, a, b in zip(uniq, starts, ends):  # one vectorised evaluation per visible look
        sel = order[a:b]
        seed = int(look.seed[m])
        pat, lum = _pattern(int(look.family[m]), u[sel], v[sel], float(look.scale[m]), seed)
        if detail != 1.0:
            pat = 0.5 + (pat - 0.5) * np.float32(detail)
            lum = 1.0 + (lum - 1.0) * np.float32(detail)
        speck = value_noise(u[sel] * 220.0, v[sel] * 220.0, seed + 77) - 0.5
        lum = lum * (1.0 + np.float32(2.0 * fine_grain) * speck)
        col = look.c1[m] * (1.0 - pat[:, None]) + look.c2[m] * pat[:, None]
        out[sel] = col * lum[:, None]
    return np.clip(out, 0.0, 1.0), ids
