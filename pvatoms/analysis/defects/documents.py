"""What a defect analysis reads from result documents: charge, k-point mesh, VBM, files, and the
comparison of a defect supercell with the bulk supercell (same cell, which atoms changed, where
the defect sits, its name).

Documents come from :func:`pvatoms.schema.read_result` (folder, JSON file or dict; ``_folder``
and ``_label`` say where they came from). Lengths in Å, energies in eV, charges in e.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms.errors import InputError
from pvatoms.geometry import minimum_image, minimum_image_fractional

#: Defect and bulk cells may differ by this fraction of the largest cell component.
CELL_TOL = 0.01
#: Largest number of atoms added + removed for one defect (Schottky PbBr2 = 3).
MAX_CHANGES = 4


# ---------------------------------------------------------------- one document

def doc_label(doc: dict, default: str = "document") -> str:
    """The document's label (``_label``, set by :func:`pvatoms.schema.read_result`) or ``default``."""
    return str(doc.get("_label") or default)


def doc_charge(doc: dict, what: str = "document") -> int:
    """Cell charge (e) of a result document: ``data.charge`` (VASP, from NELECT) or
    ``data.settings.charge`` (the charge the job was run with)."""
    data = doc.get("data") or {}
    for q in (data.get("charge"), (data.get("settings") or {}).get("charge")):
        if q is not None:
            return int(q)
    raise InputError(f"{what}: its charge state is not recorded (data.charge / data.settings.charge); "
                     "give charge= explicitly")


def document_kpoints(doc: dict):
    """The k-point mesh (n1, n2, n3) of a document when recorded (VASP: parsed KPOINTS; GPAW:
    explicit kpts), else None."""
    data = doc.get("data") or {}
    mesh = (data.get("kpoints") or {}).get("mesh") if isinstance(data.get("kpoints"), dict) else None
    if mesh is None:
        settings = (doc.get("backend") or {}).get("settings") or {}
        mesh = settings.get("kpts") or settings.get("kpoints")
    return tuple(int(n) for n in mesh) if mesh else None


def document_vbm(bulk_doc: dict, vbm=None) -> float | None:
    """E_VBM (eV): ``vbm`` when given, else the bulk document's ``band_edges.vbm``, else None."""
    if vbm is not None:
        return float(vbm)
    edges = bulk_doc.get("band_edges") or {}
    return float(edges["vbm"]) if edges.get("vbm") is not None else None


def document_file(doc: dict, key: str, what: str) -> Path | None:
    """Absolute path of the document's file ``files[key]`` (relative paths are relative to the job
    folder ``_folder``); None when the document lists no such file. :class:`InputError` when it is
    listed but missing."""
    rel = (doc.get("files") or {}).get(key)
    if not rel:
        return None
    path = Path(rel)
    if not path.is_absolute():
        folder = doc.get("_folder")
        if folder is None:
            raise InputError(f"{what}: its {key} file {rel!r} is relative to the job folder, which is not "
                             "known; load the document with pvatoms.schema.read_result(folder)")
        path = Path(folder) / path
    if not path.is_file():
        raise InputError(f"{what}: {key} file {path} is missing")
    return path


def supercell_text(atoms: Atoms) -> str:
    """e.g. ``"63 atoms (13.1x13.1x13.1 Å)"``."""
    a, b, c = atoms.cell.lengths()
    return f"{len(atoms)} atoms ({a:.1f}x{b:.1f}x{c:.1f} Å)"


# ---------------------------------------------------------------- defect vs bulk

def check_supercells(defect_atoms: Atoms, bulk_atoms: Atoms, what: str = "defect",
                     cell_tol: float = CELL_TOL) -> None:
    """Raise :class:`InputError` unless the two cells agree within ``cell_tol`` (fraction of the
    largest cell component): a defect energy only means something against the same supercell."""
    dc, bc = np.asarray(defect_atoms.cell), np.asarray(bulk_atoms.cell)
    scale = max(np.abs(bc).max(), 1e-9)
    if np.abs(dc - bc).max() / scale > cell_tol:
        dl, bl = defect_atoms.cell.cellpar().round(3), bulk_atoms.cell.cellpar().round(3)
        raise InputError(f"{what}: its supercell differs from the bulk supercell (a, b, c, α, β, γ = "
                         f"{dl.tolist()} vs {bl.tolist()}); defect and bulk must be computed in the same "
                         f"supercell (relax defects at fixed cell; tolerance {cell_tol:.0%})")


def check_kpoints(defect_doc: dict, bulk_doc: dict, what: str) -> None:
    """Raise :class:`InputError` when both documents record k-point meshes and they differ."""
    md, mb = document_kpoints(defect_doc), document_kpoints(bulk_doc)
    if md is not None and mb is not None and md != mb:
        raise InputError(f"{what} was computed with a {md} k-point mesh, the bulk supercell with {mb}; "
                         "defect and bulk supercells need the same mesh")


def composition_change(defect_atoms: Atoms, bulk_atoms: Atoms, what: str = "defect",
                       max_changes: int = MAX_CHANGES, cell_tol: float = CELL_TOL) -> dict:
    """{element: n_i}: atoms added (> 0) or removed (< 0) going from the bulk to the defect
    supercell, after checking that both are the same supercell and differ by at most
    ``max_changes`` atoms (:class:`InputError` otherwise).

    >>> from ase.build import bulk
    >>> host = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    >>> composition_change(host[1:], host)
    {'Na': -1}
    """
    check_supercells(defect_atoms, bulk_atoms, what, cell_tol)
    d, b = Counter(defect_atoms.get_chemical_symbols()), Counter(bulk_atoms.get_chemical_symbols())
    change = {el: d[el] - b[el] for el in sorted(set(d) | set(b)) if d[el] != b[el]}
    total = sum(abs(n) for n in change.values())
    if total == 0:
        raise InputError(f"{what} has the same atoms as the bulk supercell ({defect_atoms.get_chemical_formula()}): "
                         "it is not a defect (is it the bulk itself?)")
    if total > max_changes:
        raise InputError(f"{what} ({len(defect_atoms)} atoms, {defect_atoms.get_chemical_formula()}) and the "
                         f"bulk ({len(bulk_atoms)} atoms, {bulk_atoms.get_chemical_formula()}) differ by {total} "
                         f"atoms ({change}); a point defect changes at most {max_changes}: mismatched atom "
                         "counts — is this the right bulk supercell?")
    return change


def defect_site(defect_atoms: Atoms, bulk_atoms: Atoms) -> tuple[np.ndarray, str]:
    """Fractional position of the defect in the defect cell, and its kind ('vacancy',
    'interstitial', 'substitution', 'complex').

    Atoms of each element are paired between bulk and defect by a minimum-image assignment
    (distances from :func:`pvatoms.geometry.minimum_image`); the unpaired atoms are the defect:
    added atoms where there are any (interstitial, substituting atom), else the removed bulk
    sites. Several are averaged (nearest periodic images of the first one).
    """
    from scipy.optimize import linear_sum_assignment

    cell, pbc = np.asarray(bulk_atoms.cell), bulk_atoms.pbc
    fd = defect_atoms.get_scaled_positions(wrap=True)
    fb = bulk_atoms.get_scaled_positions(wrap=True)
    sd, sb = np.array(defect_atoms.get_chemical_symbols()), np.array(bulk_atoms.get_chemical_symbols())
    added, removed = [], []
    for el in sorted(set(sd) | set(sb)):
        di, bi = np.where(sd == el)[0], np.where(sb == el)[0]
        if len(di) == 0 or len(bi) == 0:
            added += list(fd[di]); removed += list(fb[bi])
            continue
        diff = fd[di][:, None, :] - fb[bi][None, :, :]
        _, dist = minimum_image(diff @ cell, cell, pbc)
        r, c = linear_sum_assignment(dist)
        added += [fd[di[i]] for i in set(range(len(di))) - set(r)]
        removed += [fb[bi[j]] for j in set(range(len(bi))) - set(c)]
    kind = ("vacancy" if removed and not added else "interstitial" if added and not removed
            else "substitution" if len(added) == 1 and len(removed) == 1 else "complex")
    pts = np.array(added if added else removed)
    ref = pts[0]
    pts = ref + minimum_image_fractional(pts - ref)
    return np.mod(pts.mean(axis=0), 1.0), kind


def defect_name(doc: dict, change: dict, label: str | None = None) -> str:
    """Name of a defect: the builder's name in the structure provenance (``V_Br_8d``), else one
    made from the composition change (``V_Br``, ``Br_i``, ``Pb_Cs``), else ``label``."""
    for key in ("structure", "input_structure"):
        prov = (doc.get(key) or {}).get("provenance") or {}
        name = (prov.get("arguments") or {}).get("defect")
        if name:
            return str(name)
    removed = [el for el, n in change.items() for _ in range(-n) if n < 0]
    added = [el for el, n in change.items() for _ in range(n) if n > 0]
    if len(removed) == 1 and not added:
        return f"V_{removed[0]}"
    if len(added) == 1 and not removed:
        return f"{added[0]}_i"
    if len(added) == 1 and len(removed) == 1:
        return f"{added[0]}_{removed[0]}"
    return label or "+".join([f"V_{r}" for r in removed] + [f"{a}_i" for a in added])


__all__ = ["CELL_TOL", "MAX_CHANGES", "doc_label", "doc_charge", "document_kpoints", "document_vbm",
           "document_file", "supercell_text", "check_supercells", "check_kpoints", "composition_change",
           "defect_site", "defect_name"]
