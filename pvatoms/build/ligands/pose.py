"""Rigid-body poses of a ligand template at a surface site (local frame: site at the origin,
outward normal +z; lengths in Å, angles in radians).

A pose is a parameter vector ``g`` of seven numbers:

- ``g[0:3]``: anchor offset. ``a-site``: added to the base position; ``mono``: tips the anchor
  on the sphere of the bond length around Pb (``g[2]`` unused); ``bi``: moves the O-O midpoint
  sideways (``g[2]`` unused).
- ``g[3:6]``: orientation. ``a-site``/``mono``: R = Rz(g4) Ry(g3) Rz(g5 - g4), i.e. the chain
  tilted by g3 from the normal towards azimuth g4 and spun by g5; ``bi``: R = R(z -> u) Rz(g3)
  Rx(g4), spin g3 about the anchor direction u and lean g4 about the O-O axis (``g[5]`` unused).
- ``g[6]``: angle of the NH3 rotor (the three N-H turned about the C-N axis), ammonium only.

The rotation matrices are written out here (:func:`rz`, :func:`ry`, :func:`rx`, the rotor's
Rodrigues formula; :func:`~pvatoms.build.ligand_library.rotation_between`) rather than taken
from :class:`scipy.spatial.transform.Rotation`, which builds them through quaternions and so
differs in the last bits (~1e-16). The pose search takes discrete decisions on exact comparisons
(argsort/argmin among symmetry-equivalent poses, accept/reject in the random search, clash
thresholds), and those last bits change them: with scipy's Euler matrices, oleate on the
Br-vacancy sites of a 2x2 CsBr slab (coverage 0.5, seed 0) comes out placed differently (atoms
moved by up to 11.9 Å). ``tests/test_build_ligands.py`` checks these helpers against scipy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pvatoms.build.ligand_library import rotation_between

_Z = np.array([0.0, 0.0, 1.0])


def rz(a):
    """Rotation matrices (N, 3, 3) about z by the angles ``a`` (rad, array of N)."""
    a = np.atleast_1d(a)
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def ry(a):
    """Rotation matrices (N, 3, 3) about y by the angles ``a`` (rad)."""
    a = np.atleast_1d(a)
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rx(a):
    """Rotation matrices (N, 3, 3) about x by the angles ``a`` (rad)."""
    a = np.atleast_1d(a)
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


@dataclass
class Mode:
    """Pose optimisation problem of one site environment (local frame: site at 0, normal +z)."""

    name: str                       # 'a-site', 'mono', 'bi'
    X: np.ndarray                   # template coordinates (anchor or O-O midpoint at origin)
    head: np.ndarray                # indices of head atoms
    el: np.ndarray                  # element symbols of the template
    base: np.ndarray                # base translation of the anchor (local frame)
    E: np.ndarray = None            # environment positions (local)
    Eel: np.ndarray = None
    lim: np.ndarray = None          # (head x env) contact minima
    nh: tuple = ()                  # N-H hydrogens (ammonium)
    anchor: int = 0
    anchor_nb: int = -1             # heavy neighbour of the anchor (angle term)
    angle_window: tuple | None = None
    u_local: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    rotor: tuple | None = None      # (N position, unit C->N axis, H indices): the NH3 rotor
    axis: np.ndarray | None = None  # unit chain axis of the template (anchor -> heavy-atom centroid)
    length: float = 0.0             # ligand length (Å): weight of the tilt penalty


class Pose:
    """A ligand pose in a site's local frame: parameters, rotation, translation, score (None: not
    refined yet)."""

    def __init__(self, m, p, score, X=None):
        self.m, self.p, self.score = m, np.asarray(p, float), score
        self.X = X
        R, t = placement(m, self.p)
        self.R, self.t = R[0], t[0]


def translation(m: Mode, g):
    """Anchor translation per pose: a-site: base + (dx, dy, dz); mono: the anchor on the sphere of
    the bond length around Pb, along u tipped by (dx, dy); bidentate: O-O midpoint moved by (dx, dy)."""
    g = np.atleast_2d(g)
    if m.name == "mono":
        d = m.base[None] + np.column_stack([g[:, 0], g[:, 1], np.zeros(len(g))]) * np.linalg.norm(m.base)
        return d * (np.linalg.norm(m.base) / np.linalg.norm(d, axis=1))[:, None]
    if m.name == "bi":
        return m.base[None] + np.column_stack([g[:, 0], g[:, 1], np.zeros(len(g))])
    return m.base[None] + g[:, :3]


def template(m: Mode, g, sel=None):
    """Template coordinates per pose (P, L, 3): the NH3 hydrogens turned by the rotor angle."""
    g = np.atleast_2d(g)
    sel = np.arange(len(m.X)) if sel is None else np.asarray(sel)
    X = np.repeat(m.X[sel][None], len(g), axis=0)
    if m.rotor is None:
        return X
    n0, k, hs = m.rotor
    cols = [int(np.flatnonzero(sel == h)[0]) for h in hs if h in sel]
    if not cols:
        return X
    hsel = [h for h in hs if h in sel]
    v = m.X[hsel] - n0                                     # (3, 3)
    w = g[:, 6][:, None, None]                             # Rodrigues: turn v about k by w
    kv = np.cross(k, v)
    rot = v[None] * np.cos(w) + kv[None] * np.sin(w) + (v @ k)[None, :, None] * k * (1 - np.cos(w))
    X[:, cols] = n0 + rot
    return X


def placement(m: Mode, g):
    """Rotations (P, 3, 3) and anchor translations (P, 3) of the poses ``g`` (P, 7)."""
    g = np.atleast_2d(g)
    if m.name == "bi":
        R = rotation_between(_Z, m.u_local)[None] @ rz(g[:, 3]) @ rx(g[:, 4])
    else:
        R = rz(g[:, 4]) @ ry(g[:, 3]) @ rz(g[:, 5] - g[:, 4])
    return R, translation(m, g)
