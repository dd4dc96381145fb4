"""Surfaces for ligand placement: periodic neighbour search, plane (``layer``) labels of an
unlabelled slab, outward normals and local frames of surface sites, and the slab's vacuum refit.

Distances in Å. A slab is periodic in its plane only (the vacuum direction is regrown around the
ligands); a dot (``info['surface']['kind'] == 'facets'``) is not periodic.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from pvatoms.build.slab import PLANE_GAP
from pvatoms.errors import InputError


class PeriodicTree:
    """KD-tree over a subset of atoms, periodic along the periodic cell directions of an
    orthogonal-in-plane slab (images within one cell) or plain for finite dots."""

    def __init__(self, atoms: Atoms, idx):
        self.idx = np.asarray(idx, int)
        pos = atoms.positions[self.idx]
        cell = np.asarray(atoms.cell)
        periodic = periodic_axes(atoms)
        rng = [(-1, 0, 1) if p else (0,) for p in periodic]
        self.shifts = np.array([np.array([a, b, c]) @ cell for a in rng[0] for b in rng[1] for c in rng[2]])
        self.pos = (pos[None] + self.shifts[:, None]).reshape(-1, 3)
        self.map = np.tile(self.idx, len(self.shifts))
        self.tree = cKDTree(self.pos) if len(self.pos) else None

    def neighbours(self, p, r, element, sym):
        """Atoms of ``element`` within ``r`` (Å) of point ``p`` (itself excluded): their indices and
        the vectors p -> atom (each periodic image within r counts)."""
        k = self.tree.query_ball_point(p, r)
        k = [j for j in k if sym[self.map[j]] == element and np.linalg.norm(self.pos[j] - p) > 1e-6]
        return [int(self.map[j]) for j in k], [self.pos[j] - p for j in k]

    def within(self, points, r):
        """Sparse pairs (point index, atom index, vector point->atom) closer than r."""
        if self.tree is None:
            return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 3))
        other = cKDTree(np.atleast_2d(points))
        m = other.sparse_distance_matrix(self.tree, r, output_type="ndarray")
        i, j = m["i"], m["j"]
        return i, self.map[j], self.pos[j] - np.atleast_2d(points)[i]


def periodic_axes(atoms: Atoms) -> np.ndarray:
    """Cell directions treated as periodic: in-plane only for slabs (the vacuum direction is grown
    to fit the ligands), none for dots."""
    kind = (atoms.info.get("surface") or {}).get("kind")
    if kind == "slab":
        return np.array([bool(atoms.pbc[0]), bool(atoms.pbc[1]), False])
    if kind == "facets":
        return np.zeros(3, bool)
    return np.asarray(atoms.pbc, bool)


def fit_cell(atoms: Atoms) -> None:
    """Slab: grow/shrink the vacuum direction so that the slab with its ligands keeps the slab's
    vacuum gap to its periodic image, and centre it."""
    s = atoms.info.get("surface") or {}
    if s.get("kind") != "slab" or not atoms.pbc[2]:
        return
    vac = (atoms.info.get("slab") or {}).get("vacuum")
    z = atoms.positions[:, 2]
    if vac is None:
        return
    extent = float(z.max() - z.min())
    cell = np.array(atoms.cell)
    cell[2] = [0.0, 0.0, extent + float(vac)]
    atoms.set_cell(cell, scale_atoms=False)
    atoms.positions[:, 2] += vac / 2 - z.min()
    s = dict(s)
    s["center"] = [0.0, 0.0, float(vac / 2 + extent / 2)]
    atoms.info["surface"] = s


def ensure_layers(atoms: Atoms) -> None:
    """Give an unlabelled slab (vacuum along the third cell vector) ``layer`` labels from heights."""
    if "layer" in atoms.arrays:
        return
    if not atoms.pbc[:2].all():
        raise InputError("this structure has no 'layer' labels (0 = outermost plane); build it with "
                         "pvatoms build slab / nanocrystal, or give an extxyz file that keeps the labels")
    cell = np.asarray(atoms.cell)
    n = np.cross(cell[0], cell[1])
    n /= np.linalg.norm(n)
    h = atoms.positions @ n
    order = np.argsort(h)
    cuts = np.flatnonzero(np.diff(h[order]) > PLANE_GAP) + 1
    groups = np.split(order, cuts)
    height = abs(cell[2] @ n)
    gaps = np.diff([h[g].mean() for g in groups])
    top_gap = height - (h.max() - h.min())
    if top_gap < 5.0 or (len(gaps) and gaps.max() > top_gap):
        raise InputError("could not recognise a slab with vacuum along the third cell vector (no 'layer' "
                         "labels and no vacuum gap >= 5 Å): use a slab from pvatoms build slab")
    layer = np.empty(len(atoms), int)
    for k, g in enumerate(groups):
        layer[g] = min(k, len(groups) - 1 - k)
    atoms.arrays["layer"] = layer
    atoms.info.setdefault("surface", {"kind": "slab", "normal": n.tolist(),
                                      "center": (atoms.positions.mean(axis=0)).tolist()})
    atoms.info.setdefault("slab", {"vacuum": float(top_gap)})


def facet_normals(atoms: Atoms) -> np.ndarray:
    """Unit facet normals stored by the builder (``info['surface']``): a dot's facets, or +-n of a slab."""
    s = atoms.info.get("surface") or {}
    if "normals" in s:
        return np.array(s["normals"], float)
    if "normal" in s:
        n = np.array(s["normal"], float)
        return np.array([n, -n])
    return np.zeros((0, 3))


def site_normals(atoms: Atoms, points, tree: PeriodicTree) -> np.ndarray:
    """Outward unit normal (N, 3) at each point: away from the centroid of the ``tree`` atoms within
    6.5 Å, snapped to the sum of the facet normals within 60 deg of it (edges, corners: diagonals)."""
    points = np.atleast_2d(points)
    if len(points) == 0:
        return np.zeros((0, 3))
    i, _, vec = tree.within(points, 6.5)
    sums = np.zeros((len(points), 3))
    np.add.at(sums, i, vec)
    cnt = np.bincount(i, minlength=len(points)).astype(float)
    geo = -(sums / np.maximum(cnt, 1)[:, None])
    geo /= np.maximum(np.linalg.norm(geo, axis=1), 1e-9)[:, None]
    F = facet_normals(atoms)
    if len(F) == 0:
        return geo
    dots = geo @ F.T
    sel = dots > 0.5
    snapped = sel.astype(float) @ F
    norm = np.linalg.norm(snapped, axis=1)
    ok = norm > 1e-6
    out = geo.copy()
    out[ok] = snapped[ok] / norm[ok, None]
    return out


def site_frame(n, atoms: Atoms) -> np.ndarray:
    """Local frame rows (x, y, z=n): x along the first reference axis not parallel to n."""
    s = atoms.info.get("surface") or {}
    refs = np.array(s.get("axes", np.asarray(atoms.cell)[:2] if atoms.pbc.any() else np.eye(3)), float)
    refs = np.vstack([refs, np.eye(3)])
    for r in refs:
        r = r / max(np.linalg.norm(r), 1e-12)
        if abs(r @ n) < 0.5:
            x = r - (r @ n) * n
            x /= np.linalg.norm(x)
            return np.array([x, np.cross(n, x), n])
    raise InputError("could not build a local frame for a surface site")  # pragma: no cover

