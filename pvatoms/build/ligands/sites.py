"""Binding sites of ligands on a CsPbBr3 surface: which atoms can take a ligand, in which local
frame, along which anchor direction, and which atoms the ligand replaces.

- ``cs``: Cs of the outermost CsBr / AX' plane (an ammonium takes its A site; it is removed).
- ``pb``: outer Pb with five Br (PbBr2 termination); the anchor goes along the missing Pb-Br bond.
- ``br-vacancy``: outer Br bound to one Pb (CsBr termination); it is removed, the anchor takes
  its place along the Pb-Br direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from pvatoms.build.ligand_library import Ligand
from pvatoms.build.ligands.parameters import SITES
from pvatoms.build.ligands.surface import PeriodicTree, ensure_layers, site_frame, site_normals
from pvatoms.errors import InputError, check_choice


@dataclass
class SiteSet:
    """Binding sites of one kind: ``origin`` (site atom or bound Pb), local frames (rows x, y, z =
    outward normal), the anchor target direction ``u`` (unit, global), atoms to remove, bound Pb."""

    kind: str
    origin: np.ndarray
    frames: np.ndarray
    u: np.ndarray
    remove: list
    pb: np.ndarray
    atom: np.ndarray
    excluded: int = 0

    def __len__(self):
        return len(self.origin)


def find_sites(atoms: Atoms, site: str, exclude_near=None, reach: float = 20.0) -> SiteSet:
    """Surface binding sites of kind ``site`` ('cs', 'pb', 'br-vacancy') with their local frames.

    A site's outward normal comes from the geometry (away from the centroid of the atoms within
    6.5 Å), snapped to the facet normals stored in ``atoms.info['surface']`` (sum of the facets it
    lies on: edges and corners of a dot get diagonal normals). ``exclude_near``: spheres
    (center, radius) that a ligand of length ``reach`` (Å) standing on the site must not approach.
    """
    check_choice("site", site, SITES)
    ensure_layers(atoms)
    sym = np.array(atoms.get_chemical_symbols())
    layer = atoms.arrays["layer"]
    region = atoms.arrays.get("region", np.full(len(atoms), "", dtype="<U16"))
    inorg = np.isin(sym, ("Cs", "Pb", "Br")) & ~np.isin(region, ("ligand", "cluster"))
    pos = atoms.positions
    tree = PeriodicTree(atoms, np.flatnonzero(inorg))
    if site == "cs":
        cand = np.flatnonzero(inorg & (sym == "Cs") & (layer == 0))
        origin = pos[cand]
        pb = np.full(len(cand), -1)
        remove = [[int(i)] for i in cand]
        u = None
    else:
        if site == "pb":
            cand0 = np.flatnonzero(inorg & (sym == "Pb") & (layer == 0))
        else:
            cand0 = np.flatnonzero(inorg & (sym == "Br") & (layer == 0))
        cand, origin, pb, remove, ulist = [], [], [], [], []
        for i in cand0:
            nb, vec = tree.neighbours(pos[i], 3.6, "Br" if site == "pb" else "Pb", sym)
            if site == "pb":
                if len(nb) != 5:
                    continue
                cand.append(i)
                pb.append(i)
                origin.append(pos[i])
                remove.append([])
                ulist.append(vec)               # inner Br vectors; direction fixed below
            else:
                if len(nb) != 1:
                    continue
                cand.append(i)
                pb.append(nb[0])
                origin.append(pos[i] + vec[0])  # the Pb (minimum image)
                remove.append([int(i)])
                ulist.append(-vec[0] / np.linalg.norm(vec[0]))   # Pb -> Br direction
        cand = np.array(cand, int)
        origin = np.array(origin).reshape(-1, 3)
        pb = np.array(pb, int)
        u = ulist
    normals = site_normals(atoms, origin if site != "br-vacancy" else pos[cand], tree)
    if site == "pb":
        uu = []
        for n, vecs in zip(normals, u):
            v = np.asarray(vecs)
            d = v / np.linalg.norm(v, axis=1)[:, None]
            k = int(np.argmin(d @ n))             # the inner apical Br: most anti-parallel to n
            uu.append(-d[k] if d[k] @ n < -0.7 else n)
        u = np.array(uu).reshape(-1, 3)
    elif site == "cs":
        u = normals.copy()
    else:
        u = np.array(u).reshape(-1, 3)
    frames = np.array([site_frame(n, atoms) for n in normals]).reshape(-1, 3, 3)
    keep = np.ones(len(cand), bool)
    if exclude_near:
        for center, radius in exclude_near:
            c = np.asarray(center, float)
            t = np.linspace(0, reach, 12)
            pts = origin[:, None, :] + t[None, :, None] * normals[:, None, :]
            d = np.linalg.norm(pts - c, axis=2).min(axis=1)
            keep &= d > radius + 4.0
    sel = np.flatnonzero(keep)
    return SiteSet(site, origin[sel], frames[sel], u[sel], [remove[k] for k in sel], pb[sel], cand[sel],
                   excluded=int(len(cand) - len(sel)))


def default_site(atoms: Atoms, lig: Ligand) -> str:
    """The first of the ligand's sites (library order) that the outermost plane offers."""
    sym = np.array(atoms.get_chemical_symbols())
    layer = atoms.arrays["layer"]
    region = atoms.arrays.get("region", np.full(len(atoms), "", dtype="<U16"))
    outer = (layer == 0) & ~np.isin(region, ("ligand", "cluster"))
    for s in lig.sites:
        if s == "cs" and np.any(outer & (sym == "Cs")):
            return s
        if s != "cs" and np.any(outer & (sym == ("Pb" if s == "pb" else "Br"))) and len(find_sites(atoms, s)):
            return s
    raise InputError(f"no site on this structure suits {lig.name} ({lig.kind}); it binds at "
                     f"{', '.join(lig.sites)} (cs: CsBr termination; pb: PbBr2 termination; "
                     "br-vacancy: CsBr termination)")

