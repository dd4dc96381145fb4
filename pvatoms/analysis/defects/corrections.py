"""Finite-size corrections of charged defect supercells, via pymatgen-analysis-defects.

Freysoldt (FNV), ``pymatgen.analysis.defects.corrections.freysoldt.get_freysoldt_correction``:
both potentials become pymatgen ``Locpot`` objects and their planar averages along the three
lattice vectors are compared far from the defect.

- VASP: the LOCPOT of the static job (LVHAR = True: the electrostatic Hartree + ionic potential,
  eV), found through ``doc["files"]["LOCPOT"]``.
- GPAW: :func:`pvatoms.calc.gpaw_calc.electrostatic_potential` gives the same quantity (eV, on
  the fine real-space grid, the potential energy of an electron, i.e. the sign convention of a
  LOCPOT) and the cell. Save it with :func:`pvatoms.io.write_potential` as ``potential.npz`` next
  to ``result.json`` and record it as ``doc["files"]["potential"]``. :func:`read_potential` wraps
  the array in a ``Locpot`` with the document's structure; the planar average along lattice
  vector i is then the mean over the grid indices of the other two vectors, exactly what
  ``Locpot.get_average_along_axis`` does for VASP.

Bulk and defect grids must be equal (same cut-off and grid settings). Kumagai (eFNV) needs
pydefect/vise (not installed with pvatoms): :func:`kumagai_correction` says so when missing.
Every correction is in eV, to be added to E(α, q).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvatoms.analysis.chempots import doc_structure
from pvatoms.analysis.defects.documents import (check_supercells, defect_site, doc_charge, doc_label,
                                                document_file)
from pvatoms.errors import InputError
from pvatoms.io import read_potential_file


def correction_value(correction) -> float:
    """E_corr (eV) of a correction given as None (0), a number, or a correction dict."""
    if correction is None:
        return 0.0
    if isinstance(correction, dict):
        return float(correction.get("correction", 0.0))
    return float(correction)


def read_potential(doc: dict, what: str = "document"):
    """The electrostatic potential of a document as a pymatgen ``Locpot``: VASP's LOCPOT
    (``files["LOCPOT"]``) or a saved GPAW potential (``files["potential"]``, see
    :func:`pvatoms.io.write_potential`)."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.vasp.outputs import Locpot

    path = document_file(doc, "LOCPOT", what)
    if path is not None:
        try:
            return Locpot.from_file(str(path))
        except Exception as exc:
            raise InputError(f"{what}: cannot read {path}: {type(exc).__name__}: {exc}") from None
    path = document_file(doc, "potential", what)
    if path is None:
        raise InputError(f"{what} has no electrostatic potential: VASP needs a LOCPOT (LVHAR = True; "
                         "pvatoms' static job sets it) in files['LOCPOT']; GPAW needs the potential saved "
                         "with pvatoms.io.write_potential in files['potential']")
    v, cell = read_potential_file(path)
    atoms = doc_structure(doc, what)
    if not np.allclose(cell, np.asarray(atoms.cell), atol=1e-3):
        raise InputError(f"{what}: the cell stored with the potential ({path}) is not the document's cell")
    return Locpot(AseAtomsAdaptor.get_structure(atoms), {"total": v})


def dielectric_constant(dielectric):
    """Checked ε: a positive number, 3 diagonal values or a 3x3 tensor (as float or nested list).
    :class:`InputError` when missing (charged defects need it) or malformed."""
    if dielectric is None:
        raise InputError("a charged defect needs the dielectric constant of the host for the finite-size "
                         "correction (dielectric=ε: a number, 3 diagonal values or a 3x3 tensor; the "
                         "static ε including ionic screening); or use correction='none'")
    eps = np.asarray(dielectric, dtype=float)
    if eps.shape not in ((), (3,), (3, 3)) or not np.all(np.isfinite(eps)):
        raise InputError(f"dielectric must be a number, 3 values or a 3x3 tensor, got {dielectric!r}")
    diag = eps if eps.ndim < 2 else np.linalg.eigvalsh((eps + eps.T) / 2)
    if np.any(np.asarray(diag) <= 0):
        raise InputError(f"dielectric constant must be positive, got {dielectric!r}")
    return float(eps) if eps.ndim == 0 else eps.tolist()


def freysoldt_correction(defect_doc: dict, bulk_doc: dict, dielectric, charge: int | None = None,
                         defect_position=None, energy_cutoff: float = 520.0, defect_potential=None,
                         bulk_potential=None) -> dict:
    """Freysoldt (FNV) finite-size correction (eV, to be added to E(α, q)).

    ``dielectric``: ε (number, diagonal or 3x3). ``defect_position``: fractional coordinates in
    the defect cell (default: :func:`~pvatoms.analysis.defects.documents.defect_site`).
    ``energy_cutoff``: plane-wave cut-off (eV) of the model-charge sums. Potentials default to
    :func:`read_potential` of each document.

    Returns ``correction`` (eV) with ``electrostatic`` (lattice term), ``potential_alignment``
    (q·ΔV), ``alignments`` (ΔV per lattice direction, V), ``charge``, ``dielectric``,
    ``defect_position`` and ``method`` = 'freysoldt'.
    """
    from pymatgen.analysis.defects.corrections.freysoldt import get_freysoldt_correction

    what = doc_label(defect_doc, "defect")
    if bulk_doc is None:
        raise InputError(f"missing bulk reference for the correction of {what}")
    q = doc_charge(defect_doc, what) if charge is None else int(charge)
    eps = dielectric_constant(dielectric) if q != 0 else dielectric
    if q == 0:
        return {"method": "freysoldt", "correction": 0.0, "electrostatic": 0.0, "potential_alignment": 0.0,
                "alignments": {}, "charge": 0, "dielectric": eps, "defect_position": None}
    datoms, batoms = doc_structure(defect_doc, what), doc_structure(bulk_doc, "bulk")
    check_supercells(datoms, batoms, what)
    if defect_position is None:
        defect_position, _ = defect_site(datoms, batoms)
    vd = defect_potential if defect_potential is not None else read_potential(defect_doc, what)
    vb = bulk_potential if bulk_potential is not None else read_potential(bulk_doc, "bulk")
    if tuple(vd.dim) != tuple(vb.dim):
        raise InputError(f"{what}: potential grids differ (defect {tuple(vd.dim)}, bulk {tuple(vb.dim)}); "
                         "compute both with the same cut-off and grid settings")
    res = get_freysoldt_correction(q=q, dielectric=eps, defect_locpot=vd, bulk_locpot=vb,
                                   defect_frac_coords=np.asarray(defect_position, dtype=float),
                                   energy_cutoff=energy_cutoff)
    md = res.metadata
    return {"method": "freysoldt", "correction": float(res.correction_energy),
            "electrostatic": float(md["electrostatic"]), "potential_alignment": float(md["potential"]),
            "alignments": {int(k): float(v) for k, v in md["alignments"].items()}, "charge": q,
            "dielectric": eps, "defect_position": [float(x) for x in defect_position]}


def kumagai_correction(defect_doc: dict, bulk_doc: dict, dielectric, charge: int | None = None) -> dict:
    """Kumagai-Oba (eFNV) correction (eV) from the atomic-site potentials in the VASP OUTCARs, via
    pymatgen-analysis-defects (which needs pydefect and vise; :class:`InputError` when absent)."""
    try:
        from pymatgen.analysis.defects.corrections import kumagai as _kumagai
        _kumagai._check_import_pydefect()
    except (ImportError, ModuleNotFoundError) as exc:
        raise InputError(f"the Kumagai (eFNV) correction needs pydefect and vise, which are not installed "
                         f"({exc}); use correction='freysoldt'") from None
    what = doc_label(defect_doc, "defect")
    q = doc_charge(defect_doc, what) if charge is None else int(charge)
    eps = np.asarray(dielectric_constant(dielectric), dtype=float)
    eps = np.diag([float(eps)] * 3) if eps.ndim == 0 else (np.diag(eps) if eps.ndim == 1 else eps)
    folders = []
    for d, w in ((defect_doc, what), (bulk_doc, "bulk")):
        outcar = document_file(d, "OUTCAR", w)
        if outcar is None:
            raise InputError(f"{w}: the Kumagai correction needs the VASP OUTCAR (site potentials)")
        folders.append(Path(outcar).parent)            # the run folder holds OUTCAR (and vasprun.xml)
    res = _kumagai.get_efnv_correction(q, _kumagai.get_structure_with_pot(folders[0]),
                                       _kumagai.get_structure_with_pot(folders[1]), eps.tolist())
    return {"method": "kumagai", "correction": float(res.correction_energy), "charge": q,
            "dielectric": eps.tolist()}


__all__ = ["correction_value", "read_potential", "dielectric_constant", "freysoldt_correction",
           "kumagai_correction"]
