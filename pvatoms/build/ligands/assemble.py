"""The ligand-capped structure and its report: chosen poses and counter-ions added, replaced atoms
removed, per-atom labels filled (``region='ligand'``, ``layer=-1``, ``molecule``,
``formal_charge``), and the charge compensation of ``neutral=True``."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from pvatoms.build.ligand_library import Ligand
from pvatoms.build.ligands.measure import ligand_geometry
from pvatoms.build.ligands.parameters import BOND
from pvatoms.build.ligands.sites import SiteSet
from pvatoms.errors import InputError


def assemble(atoms: Atoms, lig: Ligand, sites: SiteSet, binding: str, chosen, poses,
             n_env: int) -> tuple[Atoms, dict]:
    """``atoms`` without the atoms the ``chosen`` sites replace, plus one ligand (and counter-ion)
    per chosen site at its pose (``poses[k][0]``: global positions, Å), and the placement report
    (``n_env``: environments optimised; ``anchor_positions`` is for :func:`neutralise`)."""
    n0 = len(atoms)
    remove = sorted({i for k in chosen for i in sites.remove[k]})
    keep = np.setdiff1d(np.arange(n0), remove)
    mol_prev = atoms.arrays.get("molecule")
    next_id = int(mol_prev.max()) + 1 if mol_prev is not None and len(mol_prev) and mol_prev.max() >= 0 else 0
    L = len(lig.atoms)
    counter = lig.counterion if (lig.kind == "quaternary-ammonium" and sites.kind == "pb") else None
    blocks, syms, qs, mols = [], [], [], []
    anchor_pos = []
    for m, k in enumerate(chosen):
        Y = poses[k][0]
        blocks.append(Y)
        syms.extend(lig.atoms.get_chemical_symbols())
        qs.append(lig.atoms.arrays["formal_charge"])
        mols.append(np.full(L, next_id + m))
        anchor_pos.append(Y[lig.anchor_atom])
        if counter:
            br = sites.origin[k] + BOND["Pb-Br"] * sites.u[k]
            blocks.append(br[None])
            syms.append(counter)
            qs.append(np.array([-1]))
            mols.append(np.array([next_id + m]))
    base = atoms[keep]
    if blocks:
        new = Atoms(syms, positions=np.concatenate(blocks))
        nn = len(new)
        for key, arr in base.arrays.items():
            if key in ("numbers", "positions"):
                continue
            if key == "formal_charge":
                fill = np.concatenate(qs)
            elif key == "region":
                fill = np.full(nn, "ligand", dtype=arr.dtype)
            elif key == "layer":
                fill = np.full(nn, -1, dtype=arr.dtype)
            elif key == "site":
                fill = np.full(nn, lig.name, dtype=arr.dtype)
            elif key == "molecule":
                fill = np.concatenate(mols)
            elif arr.dtype.kind == "U":
                fill = np.full((nn,) + arr.shape[1:], "", dtype=arr.dtype)
            elif arr.dtype.kind in "iu":
                fill = np.full((nn,) + arr.shape[1:], -1, dtype=arr.dtype)
            elif arr.dtype.kind == "b":
                fill = np.zeros((nn,) + arr.shape[1:], dtype=bool)
            else:
                fill = np.full((nn,) + arr.shape[1:], np.nan)
            new.arrays[key] = fill
        if "region" not in base.arrays:
            base.arrays["region"] = np.full(len(base), "bulk", dtype="<U16")
            new.arrays["region"] = np.full(nn, "ligand", dtype="<U16")
        if "molecule" not in base.arrays:
            base.arrays["molecule"] = np.full(len(base), -1, dtype=int)
            new.arrays["molecule"] = np.concatenate(mols)
        out = base + new
    else:
        out = base
        if "molecule" not in out.arrays:
            out.arrays["molecule"] = np.full(len(out), -1, dtype=int)
    out.info = dict(atoms.info)
    all_sym = atoms.get_chemical_symbols()
    sym_removed = [all_sym[i] for i in remove]
    report = {"ligand": lig.name, "kind": lig.kind, "ligand_charge": lig.charge,
              "n_ligands": len(chosen), "counterions_added": len(chosen) if counter else 0,
              "removed": {e: sym_removed.count(e) for e in sorted(set(sym_removed))},
              "environments_optimised": n_env,
              "anchor_positions": np.array(anchor_pos).reshape(-1, 3)}
    report.update(ligand_geometry(out, lig_mols=range(next_id, next_id + len(chosen)), lig=lig,
                                  binding=binding, site=sites.kind))
    return out, report


def neutralise(atoms: Atoms, q: int, anchors) -> tuple[Atoms, dict]:
    """Remove |q| surface Cs (q > 0) or surface Br (q < 0) nearest to the ligand anchors."""
    sym = np.array(atoms.get_chemical_symbols())
    region = atoms.arrays.get("region", np.full(len(atoms), "", dtype="<U16"))
    layer = atoms.arrays["layer"]
    el = "Cs" if q > 0 else "Br"
    cand = np.flatnonzero((sym == el) & ~np.isin(region, ("ligand", "cluster")) & (layer >= 0))
    if len(cand) < abs(q):
        raise InputError(f"cannot neutralise a net charge of {q:+d} e: only {len(cand)} {el} left to remove")
    outer = layer[cand].min()
    depth = layer[cand] - outer
    if len(anchors):
        d = cKDTree(np.asarray(anchors)).query(atoms.positions[cand])[0]
    else:
        d = np.zeros(len(cand))
    order = np.lexsort((d, depth))
    gone = cand[order[:abs(q)]]
    keep = np.setdiff1d(np.arange(len(atoms)), gone)
    out = atoms[keep]
    out.info = dict(atoms.info)
    return out, {"removed": {el: int(abs(q))}, "layers": sorted(set(layer[gone].tolist())),
                 "reason": f"net formal charge {q:+d} e compensated by removing the surface {el} "
                           "nearest to the ligands"}
