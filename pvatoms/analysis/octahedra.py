"""Octahedral geometry of a lead halide framework, plane by plane.

Per PbBr6 octahedron: the mean Pb–Br bond length (Å), the bond-length distortion index
(1/n Σ |d − d̄| / d̄, dimensionless) and the off-centring of Pb from the centroid of its halides (Å).
Per bridging halide (bonded to two Pb): the Pb–Br–Pb angle (degrees; 180° in the cubic
aristotype, smaller the more the octahedra tilt), called *apical* when the Pb–Pb vector runs along
the stacking normal and *equatorial* when it lies in the plane. Terminal halides (one Pb, as at
the rock-salt layers of a Ruddlesden–Popper phase) bridge nothing and only count in the bonds.

:func:`plane_profile` averages these per Pb plane along a stacking normal, so that the interior of
each region of a boundary model can be compared with its own bulk (:func:`framework_summary`):
a region whose interior planes do not match their bulk is not the bulk that the band-offset
lineup takes as its reference.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from pvatoms.analysis.localization import stacking_geometry
from pvatoms.errors import InputError

#: Pb–Br bonds are 2.9–3.3 Å; the next Pb–Br shell lies beyond 4.7 Å
BOND_CUTOFF = 3.8
#: |cos| of the Pb–Pb vector with the normal above which a bridge is apical
APICAL_COS = 0.7
#: Pb heights closer than this (Å) along the normal belong to one plane
PLANE_TOLERANCE = 1.0


def _bonds(atoms: Atoms, metal: str, halide: str, cutoff: float):
    """Metal–halide pairs within ``cutoff``: metal indices, halide indices, vectors metal → halide."""
    i, j, D = neighbor_list("ijD", atoms, cutoff)
    sym = np.asarray(atoms.get_chemical_symbols())
    keep = (sym[i] == metal) & (sym[j] == halide)
    if not keep.any():
        raise InputError(f"no {metal}–{halide} bond shorter than {cutoff} Å: give the metal and halide "
                         f"of this structure (it holds {', '.join(sorted(set(sym)))})")
    return i[keep], j[keep], D[keep]


def octahedra(atoms: Atoms, metal: str = "Pb", halide: str = "Br", cutoff: float = BOND_CUTOFF) -> list[dict]:
    """One entry per metal atom: ``index``, ``bonds`` (coordination), ``bond_length`` (mean, Å),
    ``distortion`` (bond-length distortion index) and ``off_centring`` (Å, metal to the centroid of
    its halides)."""
    i, _, D = _bonds(atoms, metal, halide, cutoff)
    out = []
    for m in np.unique(i):
        v = D[i == m]
        d = np.linalg.norm(v, axis=1)
        out.append({"index": int(m), "bonds": int(len(d)), "bond_length": float(d.mean()),
                    "distortion": float(np.mean(np.abs(d - d.mean())) / d.mean()),
                    "off_centring": float(np.linalg.norm(v.mean(axis=0)))})
    return out


def bridges(atoms: Atoms, normal=None, metal: str = "Pb", halide: str = "Br",
            cutoff: float = BOND_CUTOFF) -> list[dict]:
    """One entry per halide bonded to exactly two metal atoms: ``index``, ``metals`` (the two
    indices), ``angle`` (metal–halide–metal, degrees) and ``kind`` (``apical`` or ``equatorial``
    against the stacking ``normal``, default that of :func:`stacking_geometry`)."""
    n = np.asarray(stacking_geometry(atoms, normal)["normal"])
    i, j, D = _bonds(atoms, metal, halide, cutoff)
    out = []
    for x in np.unique(j):
        sel = j == x
        if sel.sum() != 2:
            continue
        a, b = -D[sel]                                   # halide → metal
        cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
        pp = b - a
        kind = "apical" if abs(pp @ n) / np.linalg.norm(pp) > APICAL_COS else "equatorial"
        out.append({"index": int(x), "metals": [int(m) for m in i[sel]],
                    "angle": float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))), "kind": kind})
    return out


def metal_planes(atoms: Atoms, normal=None, metal: str = "Pb", tolerance: float = PLANE_TOLERANCE) -> list[dict]:
    """Metal planes along the stacking normal, bottom to top: ``height`` (Å, periodic mean) and
    ``members`` (atom indices); heights within ``tolerance`` Å of each other form one plane."""
    g = stacking_geometry(atoms, normal)
    n, period = np.asarray(g["normal"]), g["period"]
    idx = np.array([k for k, s in enumerate(atoms.get_chemical_symbols()) if s == metal])
    if len(idx) == 0:
        raise InputError(f"no {metal} atom in the structure")
    h = (atoms.positions[idx] @ n) % period
    order = np.argsort(h)
    h, idx = h[order], idx[order]
    cuts = np.flatnonzero(np.diff(h) > tolerance) + 1
    groups = [list(range(s, e)) for s, e in zip(np.r_[0, cuts], np.r_[cuts, len(h)])]
    if len(groups) > 1 and h[0] + period - h[-1] <= tolerance:      # a plane split by the cell edge
        groups[0] = groups.pop() + groups[0]
    planes = []
    for grp in groups:
        z = h[grp]
        z = np.where(z - z[0] > period / 2, z - period, z)
        z = np.where(z - z[0] < -period / 2, z + period, z)
        planes.append({"height": float(z.mean() % period), "members": [int(idx[k]) for k in grp]})
    return sorted(planes, key=lambda p: p["height"])


def _mean(values):
    return float(np.mean(values)) if len(values) else None


def plane_profile(atoms: Atoms, normal=None, metal: str = "Pb", halide: str = "Br", labels=None,
                  cutoff: float = BOND_CUTOFF) -> list[dict]:
    """One row per metal plane, bottom to top: ``height`` (Å), ``region`` (the majority label of
    its metal atoms in ``labels``, default ``atoms.arrays['region']`` when present), ``metals``,
    mean ``bond_length`` (Å), ``distortion``, ``off_centring`` (Å), mean ``equatorial`` angle of
    the bridges within the plane and mean ``apical`` angle of the bridges from it to a neighbouring
    plane (degrees; None where there are none)."""
    if labels is None and "region" in atoms.arrays:
        labels = atoms.arrays["region"]
    labels = None if labels is None else np.asarray(labels).astype(str)
    octs = {o["index"]: o for o in octahedra(atoms, metal, halide, cutoff)}
    br = bridges(atoms, normal, metal, halide, cutoff)
    rows = []
    for p in metal_planes(atoms, normal, metal):
        mem = set(p["members"])
        o = [octs[m] for m in p["members"] if m in octs]
        eq = [b["angle"] for b in br if b["kind"] == "equatorial" and set(b["metals"]) <= mem]
        ap = [b["angle"] for b in br if b["kind"] == "apical" and set(b["metals"]) & mem]
        region = None
        if labels is not None:
            names, counts = np.unique(labels[p["members"]], return_counts=True)
            region = str(names[np.argmax(counts)])
        rows.append({"height": p["height"], "region": region, "metals": len(p["members"]),
                     "bond_length": _mean([x["bond_length"] for x in o]),
                     "distortion": _mean([x["distortion"] for x in o]),
                     "off_centring": _mean([x["off_centring"] for x in o]),
                     "equatorial": _mean(eq), "apical": _mean(ap)})
    return rows


def framework_summary(atoms: Atoms, normal=None, metal: str = "Pb", halide: str = "Br",
                      cutoff: float = BOND_CUTOFF) -> dict:
    """The same measures averaged over the whole cell (a bulk's reference values)."""
    o = octahedra(atoms, metal, halide, cutoff)
    br = bridges(atoms, normal, metal, halide, cutoff)
    return {"bond_length": _mean([x["bond_length"] for x in o]), "distortion": _mean([x["distortion"] for x in o]),
            "off_centring": _mean([x["off_centring"] for x in o]),
            "equatorial": _mean([b["angle"] for b in br if b["kind"] == "equatorial"]),
            "apical": _mean([b["angle"] for b in br if b["kind"] == "apical"])}


#: the measures compared between a region's interior and its bulk
MEASURES = ("apical", "equatorial", "bond_length")


def interior_planes(profile: list[dict], region: str) -> list[dict]:
    """The rows of a :func:`plane_profile` in ``region`` whose neighbouring planes on both sides
    (periodically) are in ``region`` too: the planes that see no boundary."""
    n = len(profile)
    return [r for k, r in enumerate(profile) if n >= 3 and r["region"] == region
            and profile[k - 1]["region"] == region and profile[(k + 1) % n]["region"] == region]


def interior_against_bulk(profile: list[dict], region: str, bulk: dict) -> dict:
    """How far the interior planes of ``region`` are from ``bulk`` (a :func:`framework_summary`):
    ``planes`` (how many), and per measure of :data:`MEASURES` the ``interior`` mean, the
    ``bulk`` value and the ``deviation`` (the interior plane farthest from the bulk, minus the
    bulk: degrees for the angles, Å for the bond length). Measures either side lacks are left out."""
    rows = interior_planes(profile, region)
    out = {"planes": len(rows), "measures": {}}
    for m in MEASURES:
        vals = [r[m] for r in rows if r[m] is not None]
        if not vals or bulk.get(m) is None:
            continue
        dev = max((v - bulk[m] for v in vals), key=abs)
        out["measures"][m] = {"interior": float(np.mean(vals)), "bulk": bulk[m], "deviation": float(dev)}
    return out


__all__ = ["octahedra", "bridges", "metal_planes", "plane_profile", "framework_summary", "interior_planes",
           "interior_against_bulk", "BOND_CUTOFF", "MEASURES"]
