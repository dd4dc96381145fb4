"""Distances that say whether a ligand placement is physical (Å, deg): shortest ligand-surface and
ligand-ligand contacts, anchor bonds (Pb-O, Pb-S) and N-H...Br hydrogen bonds of ammonium."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from pvatoms.build.ligand_library import Ligand
from pvatoms.build.ligands.parameters import HBOND_NBR
from pvatoms.build.ligands.surface import PeriodicTree


def ligand_geometry(atoms: Atoms, lig_mols=None, lig: Ligand | None = None, binding: str = "monodentate",
                    site: str = "cs") -> dict:
    """Distances that say whether the placement is physical: shortest ligand-surface and
    ligand-ligand contacts (Å, with the pair; O/S-Pb bonds of the anchors left out of the
    non-bonded one), anchor bonds (Pb-O, Pb-S) and N-H...Br hydrogen bonds of ammonium."""
    sym = np.array(atoms.get_chemical_symbols())
    mol = atoms.arrays.get("molecule", np.full(len(atoms), -1))
    region = atoms.arrays.get("region", np.full(len(atoms), "", dtype="<U16"))
    lig_mask = (region == "ligand") if lig_mols is None else np.isin(mol, list(lig_mols))
    li = np.flatnonzero(lig_mask)
    if len(li) == 0:
        return {"min_ligand_surface": None, "min_ligand_ligand": None}
    other = np.flatnonzero(region != "ligand")
    tree = PeriodicTree(atoms, other)
    i, j, vec = tree.within(atoms.positions[li], 4.0)
    out = {}
    if len(i):
        d = np.linalg.norm(vec, axis=1)
        out["min_ligand_surface"] = _closest(d, np.ones(len(d), bool), li[i], j, sym)
        # anchor bonds: per ligand, its shortest O/S-Pb distance (two shortest for a chelate)
        anch = np.isin(sym[li[i]], ("O", "S")) & (sym[j] == "Pb") & (d < 3.3)
        if anch.any():
            per = {}
            for a, dist in zip(li[i[anch]], d[anch]):
                per.setdefault(mol[a], {}).setdefault(a, dist)
                per[mol[a]][a] = min(per[mol[a]][a], dist)
            nb = 2 if binding == "bidentate" else 1
            bonds = np.concatenate([np.sort(list(v.values()))[:nb] for v in per.values()])
            out["anchor_bonds"] = _stats(bonds, f"{'/'.join(sorted(set(sym[li[i[anch]]])))}-Pb "
                                                f"({'two per ligand' if nb == 2 else 'shortest per ligand'})")
        nonb = ~(anch | ((sym[li[i]] == "Br") & (sym[j] == "Pb")))
        if nonb.any():
            out["min_ligand_surface_nonbonded"] = _closest(d, nonb, li[i], j, sym)
    else:
        out["min_ligand_surface"] = None
    # ligand-ligand between different molecules (periodic images included for slabs)
    ltree = PeriodicTree(atoms, li)
    a, b, v = ltree.within(atoms.positions[li], 3.5)
    dd = np.linalg.norm(v, axis=1)
    diff = mol[li[a]] != mol[b]
    out["min_ligand_ligand"] = _closest(dd, diff, li[a], b, sym) if diff.any() else None
    if lig is not None and lig.kind == "ammonium":
        out["hydrogen_bonds"] = hydrogen_bonds(atoms, li)
    return out


def hydrogen_bonds(atoms: Atoms, idx=None) -> dict:
    """N-H...Br geometry of ammonium groups: for each N-H, the Br with the best bond (N...Br in
    3.0-3.9 Å, largest N-H...Br angle). Returns counts and N...Br / angle statistics."""
    sym = np.array(atoms.get_chemical_symbols())
    idx = np.arange(len(atoms)) if idx is None else np.asarray(idx)
    pos = atoms.positions
    ns = [i for i in idx if sym[i] == "N"]
    hs = np.array([i for i in idx if sym[i] == "H"], int)
    brs = np.flatnonzero(sym == "Br")
    tree = PeriodicTree(atoms, brs)
    htree = cKDTree(pos[hs]) if len(hs) else None
    dists, angles, per_n = [], [], []
    for n in ns:
        hn = hs[htree.query_ball_point(pos[n], 1.2)] if htree is not None else []
        if len(hn) != 3:
            continue
        _, _, vec = tree.within(pos[n][None], 3.9)
        good = 0
        for h in hn:
            vh = pos[n] - pos[h]
            best = None
            for v in vec:
                d = np.linalg.norm(v)
                if d < 3.0:
                    continue
                w = v - (pos[h] - pos[n])
                ang = np.degrees(np.arccos(np.clip(vh @ w / np.linalg.norm(vh) / np.linalg.norm(w), -1, 1)))
                if best is None or ang > best[1]:
                    best = (d, ang)
            if best is not None:
                dists.append(best[0])
                angles.append(best[1])
                good += best[1] > 140 and HBOND_NBR[0] - 0.1 <= best[0] <= HBOND_NBR[1] + 0.1
        per_n.append(good)
    res = {"n_ammonium": len(per_n), "n_with_three_hbonds": int(sum(g == 3 for g in per_n))}
    if dists:
        res["N_Br"] = _stats(np.array(dists), "N...Br")
        res["N_H_Br_angle"] = _stats(np.array(angles), "deg")
    return res


def _closest(d, mask, first, second, sym) -> dict:
    """The shortest of the distances ``d`` (Å) where ``mask``, with its atom pair 'Br12-H40'
    (atoms ``first[k]`` and ``second[k]``)."""
    k = np.flatnonzero(mask)[np.argmin(d[mask])]
    return {"distance": round(float(d[k]), 4),
            "pair": f"{sym[first[k]]}{first[k]}-{sym[second[k]]}{second[k]}"}


def _stats(x, what):
    return {"what": what, "min": round(float(np.min(x)), 3), "mean": round(float(np.mean(x)), 3),
            "max": round(float(np.max(x)), 3), "n": int(len(x))}

