"""Defect formation energies, charge transition levels, finite-size corrections, Fermi level.

Reads result documents (``result.json`` of relax/static jobs) and never runs a calculation.
The formation energy of defect α in charge state q (docs/science.md)::

    ΔH(α, q; E_F) = E(α, q) − E(bulk) − Σ_i n_i μ_i + q (E_VBM + E_F) + E_corr

with n_i the atoms of element i added (> 0) or removed (< 0) — read from the two structures —,
μ_i = E_i + Δμ_i the absolute chemical potentials (eV/atom, see
:mod:`pvatoms.analysis.chempots`), E_VBM the valence-band maximum of the bulk supercell, E_F the
Fermi level above the VBM and E_corr the finite-size correction of the charged cell.

>>> from pvatoms.analysis.defects import read_result, formation_energy, DefectThermodynamics
>>> bulk, vbr = read_result("runs/bulk"), read_result("runs/V_Br_8d_q+1")        # doctest: +SKIP
>>> mu = limits.mu("Br-poor")                               # {element: μ}       # doctest: +SKIP
>>> formation_energy(vbr, bulk, mu, fermi_level=1.0, correction=0.21)          # doctest: +SKIP
>>> thermo = DefectThermodynamics(bulk, [vbr, ...], limits, dielectric=4.2)     # doctest: +SKIP
>>> thermo.transition_levels("V_Br_8d"); thermo.plot_all("out"); thermo.write_tables("out")  # doctest: +SKIP

Finite-size corrections
-----------------------
Freysoldt (FNV), via ``pymatgen.analysis.defects.corrections.freysoldt.get_freysoldt_correction``:
both potentials become pymatgen ``Locpot`` objects and their planar averages along the three
lattice vectors are compared far from the defect.

- VASP: the LOCPOT of the static job (LVHAR = True: the electrostatic Hartree + ionic potential,
  eV), found through ``doc["files"]["LOCPOT"]``.
- GPAW: :func:`pvatoms.calc.gpaw_calc.electrostatic_potential` gives the same quantity (eV, on
  the fine real-space grid, the potential energy of an electron, i.e. the sign convention of a
  LOCPOT) and the cell. Save it with :func:`write_potential` as ``potential.npz`` next to
  ``result.json`` and record it as ``doc["files"]["potential"]``. :func:`read_potential` wraps
  the array in a ``Locpot`` with the document's structure; the planar average along lattice
  vector i is then the mean over the grid indices of the other two vectors, exactly what
  ``Locpot.get_average_along_axis`` does for VASP.

Bulk and defect grids must be equal (same cut-off and grid settings). Kumagai (eFNV) needs
pydefect/vise (not installed with pvatoms): :func:`kumagai_correction` says so when missing.

Consistency checks (:class:`~pvatoms.errors.InputError`, naming the documents): a missing bulk
document; bulk, defects and competing phases from different backends, models or energy-relevant
settings; different supercells (cell differs by more than ``cell_tol``); defect and bulk differing
by more than ``max_changes`` atoms; different k-point meshes.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms.analysis.chempots import (ChemicalPotentialLimits, check_same_backend,
                                       doc_energy, doc_structure)
from pvatoms.analysis.figures import save_figure
from pvatoms.errors import InputError

#: Boltzmann constant, eV/K.
KB = 8.617333262e-5
#: Defect and bulk cells may differ by this fraction of the largest cell component.
CELL_TOL = 0.01
#: Largest number of atoms added + removed for one defect (Schottky PbBr2 = 3).
MAX_CHANGES = 4
#: Effective density of states prefactor, cm^-3, for m* = m_e at 300 K: 2 (2π m_e k T / h²)^{3/2}.
NC_300K = 2.5094e19


# ---------------------------------------------------------------- documents

def read_result(path) -> dict:
    """Result document of a job folder (``folder/result.json``) or of a JSON file. The document
    remembers where it came from (``_folder``: for its files, such as LOCPOT; ``_label``: the
    folder name) — neither is written back."""
    from pvatoms import results

    path = Path(path)
    if path.is_dir():
        doc, folder = results.load(path), path
        if doc is None:
            raise InputError(f"no {results.RESULT_FILE} in {path}: not a pvatoms job folder (or the job "
                             "has not started)")
    elif path.is_file():
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not a JSON result document: {exc}") from None
        folder = path.parent
    else:
        raise InputError(f"no such result folder or file: {path}")
    if not isinstance(doc, dict):
        raise InputError(f"{path} does not hold a result document (a JSON object)")
    doc["_folder"] = str(folder.resolve())
    doc.setdefault("_label", folder.name if path.is_dir() else path.stem)
    return doc


def doc_label(doc: dict, default: str = "document") -> str:
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


def kpoint_mesh(doc: dict):
    """The k-point mesh of a document when recorded (VASP: parsed KPOINTS; GPAW: explicit kpts)."""
    data = doc.get("data") or {}
    mesh = (data.get("kpoints") or {}).get("mesh") if isinstance(data.get("kpoints"), dict) else None
    if mesh is None:
        settings = (doc.get("backend") or {}).get("settings") or {}
        mesh = settings.get("kpts") or settings.get("kpoints")
    return tuple(int(n) for n in mesh) if mesh else None


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

    Atoms of each element are paired between bulk and defect by a minimum-image assignment;
    the unpaired atoms are the defect: added atoms where there are any (interstitial,
    substituting atom), else the removed bulk sites. Several are averaged (minimum image).
    """
    from scipy.optimize import linear_sum_assignment

    cell = np.asarray(bulk_atoms.cell)
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
        diff -= np.round(diff)
        dist = np.linalg.norm(diff @ cell, axis=2)
        r, c = linear_sum_assignment(dist)
        added += [fd[di[i]] for i in set(range(len(di))) - set(r)]
        removed += [fb[bi[j]] for j in set(range(len(bi))) - set(c)]
    kind = ("vacancy" if removed and not added else "interstitial" if added and not removed
            else "substitution" if len(added) == 1 and len(removed) == 1 else "complex")
    pts = np.array(added if added else removed)
    ref = pts[0]
    pts = ref + (pts - ref - np.round(pts - ref))
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


def _check_kpoints(defect_doc: dict, bulk_doc: dict, what: str) -> None:
    md, mb = kpoint_mesh(defect_doc), kpoint_mesh(bulk_doc)
    if md is not None and mb is not None and md != mb:
        raise InputError(f"{what} was computed with a {md} k-point mesh, the bulk supercell with {mb}; "
                         "defect and bulk supercells need the same mesh")


def _vbm(bulk_doc: dict, vbm) -> float | None:
    if vbm is not None:
        return float(vbm)
    edges = bulk_doc.get("band_edges") or {}
    return float(edges["vbm"]) if edges.get("vbm") is not None else None


def _correction_value(correction) -> float:
    if correction is None:
        return 0.0
    if isinstance(correction, dict):
        return float(correction.get("correction", 0.0))
    return float(correction)


def _absolute_mu(chempots, change: dict) -> dict:
    if isinstance(chempots, ChemicalPotentialLimits):
        raise InputError("chempots must be absolute chemical potentials {element: μ} at one limit: "
                         "use limits.mu('Br-rich') (or another vertex name)")
    if not isinstance(chempots, dict):
        raise InputError(f"chempots must be a dict {{element: μ (eV/atom)}}, got {type(chempots).__name__}")
    missing = [el for el in change if el not in chempots]
    if missing:
        raise InputError(f"no chemical potential for {', '.join(missing)} (given: {', '.join(chempots) or 'none'}); "
                         "the defect exchanges these atoms with their reservoirs")
    return {el: float(chempots[el]) for el in change}


def formation_energy(defect_doc: dict, bulk_doc: dict, chempots: dict, fermi_level: float = 0.0,
                     charge: int | None = None, vbm: float | None = None, correction=0.0,
                     max_changes: int = MAX_CHANGES, cell_tol: float = CELL_TOL) -> float:
    """Formation energy ΔH (eV) of one defect calculation.

    Parameters
    ----------
    defect_doc, bulk_doc : result documents of the defect and of the perfect supercell (same
        supercell, backend, model, settings and k-mesh; :class:`InputError` otherwise).
    chempots : absolute chemical potentials {element: μ_i = E_i + Δμ_i} (eV/atom), e.g.
        ``limits.mu("Br-poor")`` from :func:`pvatoms.analysis.chempots.chemical_potential_limits`.
    fermi_level : E_F above the VBM (eV).
    charge : q in e; default from the defect document.
    vbm : E_VBM (eV); default the bulk document's ``band_edges.vbm``.
    correction : E_corr (eV), or a correction dict such as :func:`freysoldt_correction` returns.

    >>> formation_energy(vbr, bulk, {"Br": -1.6}, fermi_level=0.5, correction=0.2)  # doctest: +SKIP
    """
    return formation_energy_terms(defect_doc, bulk_doc, chempots, fermi_level, charge, vbm, correction,
                                  max_changes, cell_tol)["formation_energy"]


def formation_energy_terms(defect_doc: dict, bulk_doc: dict, chempots: dict, fermi_level: float = 0.0,
                           charge: int | None = None, vbm: float | None = None, correction=0.0,
                           max_changes: int = MAX_CHANGES, cell_tol: float = CELL_TOL) -> dict:
    """:func:`formation_energy` with its terms: ``energy_difference`` (E_def − E_bulk),
    ``chemical_potential_term`` (−Σ n_i μ_i), ``charge_term`` (q (E_VBM + E_F)), ``correction``,
    ``formation_energy``, ``n`` ({element: n_i}), ``charge``."""
    what = doc_label(defect_doc or {}, "defect")
    if bulk_doc is None:
        raise InputError(f"missing bulk reference for {what}: give the result document of the perfect "
                         "supercell the defect was made in")
    if defect_doc is None:
        raise InputError("missing defect document")
    check_same_backend([(f"bulk {doc_label(bulk_doc, 'bulk')}", bulk_doc), (what, defect_doc)])
    _check_kpoints(defect_doc, bulk_doc, what)
    change = composition_change(doc_structure(defect_doc, what), doc_structure(bulk_doc, "bulk"), what,
                                max_changes, cell_tol)
    mu = _absolute_mu(chempots, change)
    q = doc_charge(defect_doc, what) if charge is None else int(charge)
    e_vbm = _vbm(bulk_doc, vbm)
    if e_vbm is None:
        if q != 0:
            raise InputError(f"{what} has charge {q:+d}: its formation energy needs the bulk VBM, which the "
                             "bulk document does not have (band_edges.vbm); give vbm=")
        e_vbm = 0.0
    ediff = doc_energy(defect_doc, what) - doc_energy(bulk_doc, "bulk")
    mu_term = -sum(n * mu[el] for el, n in change.items())
    q_term = q * (e_vbm + float(fermi_level))
    corr = _correction_value(correction)
    return {"energy_difference": ediff, "chemical_potential_term": mu_term, "charge_term": q_term,
            "correction": corr, "formation_energy": ediff + mu_term + q_term + corr, "n": change, "charge": q}


# ---------------------------------------------------------------- potentials and corrections

#: Room-temperature optical gap of CsPbBr3 (eV, 2.25-2.36 measured): the Fermi-level range of a
#: diagram of neutral defects computed without a band structure (machine-learned potentials).
EXPERIMENTAL_GAP = 2.3


def write_potential(path, potential, cell) -> Path:
    """Save an electrostatic potential (3D array, eV — the potential energy of an electron, as
    in a LOCPOT) and its cell (3x3, Å) as ``.npz`` for :func:`freysoldt_correction`. For GPAW::

        v, cell = pvatoms.calc.gpaw_calc.electrostatic_potential(calc)
        write_potential(folder / "potential.npz", v, cell); doc["files"]["potential"] = "potential.npz"
    """
    v = np.asarray(potential, dtype=float)
    if v.ndim != 3:
        raise InputError(f"potential must be a 3D grid, got shape {v.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, potential=v, cell=np.asarray(cell, dtype=float))
    return path


def _doc_file(doc: dict, key: str, what: str) -> Path | None:
    rel = (doc.get("files") or {}).get(key)
    if not rel:
        return None
    path = Path(rel)
    if not path.is_absolute():
        folder = doc.get("_folder")
        if folder is None:
            raise InputError(f"{what}: its {key} file {rel!r} is relative to the job folder, which is not "
                             "known; load the document with read_result(folder)")
        path = Path(folder) / path
    if not path.is_file():
        raise InputError(f"{what}: {key} file {path} is missing")
    return path


def read_potential(doc: dict, what: str = "document"):
    """The electrostatic potential of a document as a pymatgen ``Locpot``: VASP's LOCPOT
    (``files["LOCPOT"]``) or a saved GPAW potential (``files["potential"]``, see
    :func:`write_potential`)."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.vasp.outputs import Locpot

    path = _doc_file(doc, "LOCPOT", what)
    if path is not None:
        try:
            return Locpot.from_file(str(path))
        except Exception as exc:
            raise InputError(f"{what}: cannot read {path}: {type(exc).__name__}: {exc}") from None
    path = _doc_file(doc, "potential", what)
    if path is None:
        raise InputError(f"{what} has no electrostatic potential: VASP needs a LOCPOT (LVHAR = True; "
                         "pvatoms' static job sets it) in files['LOCPOT']; GPAW needs the potential saved "
                         "with pvatoms.analysis.defects.write_potential in files['potential']")
    with np.load(path) as data:
        v, cell = np.asarray(data["potential"]), np.asarray(data["cell"])
    atoms = doc_structure(doc, what)
    if not np.allclose(cell, np.asarray(atoms.cell), atol=1e-3):
        raise InputError(f"{what}: the cell stored with the potential ({path}) is not the document's cell")
    return Locpot(AseAtomsAdaptor.get_structure(atoms), {"total": v})


def _dielectric(dielectric):
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
    the defect cell (default: :func:`defect_site`). ``energy_cutoff``: plane-wave cut-off (eV)
    of the model-charge sums. Potentials default to :func:`read_potential` of each document.

    Returns ``correction`` (eV) with ``electrostatic`` (lattice term), ``potential_alignment``
    (q·ΔV), ``alignments`` (ΔV per lattice direction, V), ``charge``, ``dielectric``,
    ``defect_position`` and ``method`` = 'freysoldt'.
    """
    from pymatgen.analysis.defects.corrections.freysoldt import get_freysoldt_correction

    what = doc_label(defect_doc, "defect")
    if bulk_doc is None:
        raise InputError(f"missing bulk reference for the correction of {what}")
    q = doc_charge(defect_doc, what) if charge is None else int(charge)
    eps = _dielectric(dielectric) if q != 0 else dielectric
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
    """Kumagai-Oba (eFNV) correction from the atomic-site potentials in the VASP OUTCARs, via
    pymatgen-analysis-defects (which needs pydefect and vise; :class:`InputError` when absent)."""
    try:
        from pymatgen.analysis.defects.corrections import kumagai as _kumagai
        _kumagai._check_import_pydefect()
    except (ImportError, ModuleNotFoundError) as exc:
        raise InputError(f"the Kumagai (eFNV) correction needs pydefect and vise, which are not installed "
                         f"({exc}); use correction='freysoldt'") from None
    what = doc_label(defect_doc, "defect")
    q = doc_charge(defect_doc, what) if charge is None else int(charge)
    eps = np.asarray(_dielectric(dielectric), dtype=float)
    eps = np.diag([float(eps)] * 3) if eps.ndim == 0 else (np.diag(eps) if eps.ndim == 1 else eps)
    folders = []
    for d, w in ((defect_doc, what), (bulk_doc, "bulk")):
        if _doc_file(d, "OUTCAR", w) is None:
            raise InputError(f"{w}: the Kumagai correction needs the VASP OUTCAR (site potentials)")
        folders.append(Path(d["_folder"]))
    res = _kumagai.get_efnv_correction(q, _kumagai.get_structure_with_pot(folders[0]),
                                       _kumagai.get_structure_with_pot(folders[1]), eps.tolist())
    return {"method": "kumagai", "correction": float(res.correction_energy), "charge": q,
            "dielectric": eps.tolist()}


# ---------------------------------------------------------------- lines and transition levels

def transition_levels_from_lines(lines: dict) -> list[dict]:
    """Thermodynamic transition levels of one defect from its lines {q: ΔH at E_F = 0}: the kinks
    of the lower envelope over all E_F, from the most positive charge state down.
    Each item: ``q1`` (stable below), ``q2`` (stable above), ``level`` (E_F of the crossing,
    eV above the VBM), ``formation_energy`` at the crossing. ε(q1/q2) = (b_q2 − b_q1)/(q1 − q2).

    >>> transition_levels_from_lines({1: 0.5, 0: 1.0, -1: 2.5})
    [{'q1': 1, 'q2': 0, 'level': 0.5, 'formation_energy': 1.0}, {'q1': 0, 'q2': -1, 'level': 1.5, 'formation_energy': 1.0}]
    """
    qs = sorted(lines, reverse=True)
    out, q = [], qs[0]
    while True:
        lower = [p for p in qs if p < q]
        if not lower:
            break
        # first crossing as E_F rises; on a tie the lowest charge wins (an intermediate state that
        # is never the most stable is skipped, e.g. negative-U)
        x, p = min(((lines[p] - lines[q]) / (q - p), p) for p in lower)
        out.append({"q1": q, "q2": p, "level": float(x), "formation_energy": float(lines[q] + q * x)})
        q = p
    return out


# ---------------------------------------------------------------- the analysis object

@dataclass
class DefectEntry:
    """One defect calculation: name, charge, composition change, E_def − E_bulk, correction."""

    name: str
    charge: int
    change: dict
    energy_difference: float
    correction: dict
    label: str
    natoms: int
    site: list = field(default_factory=list)
    kind: str = ""

    @property
    def correction_energy(self) -> float:
        return _correction_value(self.correction)


class DefectThermodynamics:
    """Formation energies of a set of defect calculations against one bulk supercell.

    Parameters
    ----------
    bulk_doc : result document of the perfect supercell (gives E_bulk, the VBM and the gap).
    defect_docs : list of defect result documents, or {label: doc}. Each (name, charge) once.
    chempots : :class:`~pvatoms.analysis.chempots.ChemicalPotentialLimits` (all its vertices), or
        {limit name: {element: μ (absolute, eV/atom)}}.
    vbm, band_gap : override the bulk document's band edges (eV). The gap bounds the plots and
        the "in gap" flag of transition levels.
    dielectric : ε for the corrections of charged defects.
    correction : 'freysoldt' (default), 'kumagai' or 'none' (uncorrected, said in the table).
    corrections : {defect label or (name, q): eV or correction dict} overriding the computed ones.
    max_changes, cell_tol : see :func:`composition_change`.
    energy_cutoff : eV, for the Freysoldt sums.

    Every document (and the chemical potentials' backend) must share one backend and model.
    """

    def __init__(self, bulk_doc: dict, defect_docs, chempots, *, vbm: float | None = None,
                 band_gap: float | None = None, dielectric=None, correction: str = "freysoldt",
                 corrections: dict | None = None, max_changes: int = MAX_CHANGES,
                 cell_tol: float = CELL_TOL, energy_cutoff: float = 520.0):
        from pvatoms.analysis.chempots import _labelled

        if bulk_doc is None:
            raise InputError("missing bulk reference: give the result document of the perfect supercell")
        if correction not in ("freysoldt", "kumagai", "none"):
            raise InputError(f"unknown correction {correction!r}; valid choices: freysoldt, kumagai, none")
        defects = _labelled(defect_docs, "defect")
        if not defects:
            raise InputError("no defect documents given")
        self.bulk_doc = bulk_doc
        self.bulk_atoms = doc_structure(bulk_doc, "bulk")
        self.bulk_energy = doc_energy(bulk_doc, "bulk")
        self.signature = check_same_backend([(f"bulk {doc_label(bulk_doc, 'bulk')}", bulk_doc)] + defects)
        self._set_chempots(chempots)
        edges = bulk_doc.get("band_edges") or {}
        self.vbm = _vbm(bulk_doc, vbm)
        self.band_gap = float(band_gap) if band_gap is not None else (
            float(edges["gap"]) if edges.get("gap") is not None else None)
        self.correction_method = correction
        self.dielectric = dielectric
        corrections = dict(corrections or {})
        self.entries: list[DefectEntry] = []
        seen = {}
        for label, doc in defects:
            atoms = doc_structure(doc, label)
            _check_kpoints(doc, bulk_doc, label)
            change = composition_change(atoms, self.bulk_atoms, label, max_changes, cell_tol)
            q = doc_charge(doc, label)
            name = defect_name(doc, change, label)
            if (name, q) in seen:
                raise InputError(f"two documents for {name} in charge state {q:+d}: {seen[(name, q)]} and "
                                 f"{label}; keep one (e.g. the lower-energy relaxation)")
            seen[(name, q)] = label
            if q != 0 and self.vbm is None:
                raise InputError(f"{label} has charge {q:+d} but the bulk document has no VBM "
                                 "(band_edges.vbm); give vbm=")
            site, kind = defect_site(atoms, self.bulk_atoms)
            corr = corrections.get(label, corrections.get((name, q)))
            if corr is None:
                corr = self._correction(doc, bulk_doc, q, site, energy_cutoff, label)
            elif not isinstance(corr, dict):
                corr = {"method": "given", "correction": float(corr)}
            self.entries.append(DefectEntry(name, q, change, doc_energy(doc, label) - self.bulk_energy,
                                            corr, label, len(atoms), site.tolist(), kind))
        self.entries.sort(key=lambda e: (e.name, -e.charge))

    # ------------------------------------------------------------ set-up

    def _set_chempots(self, chempots) -> None:
        if isinstance(chempots, ChemicalPotentialLimits):
            if not chempots.stable:
                raise InputError(f"{chempots.host} is not stable with the competing phases given "
                                 f"(e_above_hull = {chempots.e_above_hull:.4f} eV/atom): no chemical-potential "
                                 "limits exist; report the instability instead of formation energies")
            if chempots.backend and chempots.backend != self.signature:
                from pvatoms.analysis.chempots import _describe
                raise InputError("cannot mix backends/models in one formation energy: the chemical potentials "
                                 f"come from {_describe(chempots.backend)}, the defects from "
                                 f"{_describe(self.signature)}")
            self.limits = chempots.absolute()
            self.limit_labels = {n: chempots.label(n) for n in self.limits}
            self.chempot_limits = chempots
        elif isinstance(chempots, dict) and chempots and all(isinstance(v, dict) for v in chempots.values()):
            self.limits = {str(k): {el: float(m) for el, m in v.items()} for k, v in chempots.items()}
            self.limit_labels = {n: n for n in self.limits}
            self.chempot_limits = None
        else:
            raise InputError("chempots must be a ChemicalPotentialLimits or {limit name: {element: μ}}")

    def _correction(self, doc, bulk_doc, q, site, energy_cutoff, label) -> dict:
        if q == 0:
            return {"method": "none (neutral)", "correction": 0.0}
        if self.correction_method == "none":
            return {"method": "none", "correction": 0.0}
        if self.correction_method == "kumagai":
            return kumagai_correction(doc, bulk_doc, self.dielectric, q)
        if self.dielectric is None:
            _dielectric(None)
        return freysoldt_correction(doc, bulk_doc, self.dielectric, q, site, energy_cutoff)

    # ------------------------------------------------------------ numbers

    @property
    def names(self) -> list[str]:
        return sorted({e.name for e in self.entries})

    def _entries(self, name: str) -> list[DefectEntry]:
        out = [e for e in self.entries if e.name == name]
        if not out:
            raise InputError(f"unknown defect {name!r}; valid: {', '.join(self.names)}")
        return out

    def _mu(self, limit: str) -> dict:
        if self.chempot_limits is not None and limit not in self.limits:
            limit = self.chempot_limits._resolve(limit)
        if limit not in self.limits:
            raise InputError(f"unknown chemical-potential limit {limit!r}; valid: {', '.join(self.limits)}")
        return self.limits[limit]

    def intercept(self, entry: DefectEntry, limit: str) -> float:
        """ΔH of ``entry`` at E_F = 0 (the VBM) under ``limit``."""
        mu = self._mu(limit)
        missing = [el for el in entry.change if el not in mu]
        if missing:
            raise InputError(f"no chemical potential for {', '.join(missing)} at limit {limit!r}")
        vbm = self.vbm if self.vbm is not None else 0.0
        return (entry.energy_difference - sum(n * mu[el] for el, n in entry.change.items())
                + entry.charge * vbm + entry.correction_energy)

    def formation_energy(self, name: str, charge: int, limit: str, fermi_level: float = 0.0) -> float:
        """ΔH (eV) of defect ``name`` in charge state ``charge`` under ``limit`` at E_F above the VBM."""
        for e in self._entries(name):
            if e.charge == int(charge):
                return self.intercept(e, limit) + e.charge * float(fermi_level)
        raise InputError(f"{name} has no charge state {charge:+d}; computed: "
                         f"{', '.join(f'{e.charge:+d}' for e in self._entries(name))}")

    def lines(self, limit: str) -> dict:
        """{defect name: {q: ΔH at E_F = 0}} under ``limit`` (slope q)."""
        return {n: {e.charge: self.intercept(e, limit) for e in self._entries(n)} for n in self.names}

    def transition_levels(self, name: str | None = None) -> list[dict]:
        """Thermodynamic transition levels ε(q1/q2) (eV above the VBM); independent of the chemical
        potentials. Each: ``defect``, ``q1``, ``q2``, ``level``, ``in_gap``."""
        names = [name] if name else self.names
        limit = next(iter(self.limits))
        out = []
        for n in names:
            lines = {e.charge: self.intercept(e, limit) for e in self._entries(n)}
            for t in transition_levels_from_lines(lines):
                in_gap = None if self.band_gap is None else bool(0.0 <= t["level"] <= self.band_gap)
                out.append({"defect": n, "q1": t["q1"], "q2": t["q2"], "level": t["level"], "in_gap": in_gap})
        return out

    def lowest(self, name: str, limit: str, fermi_level: float) -> tuple[int, float]:
        """(stable charge state, ΔH) of ``name`` at ``fermi_level``."""
        lines = self.lines(limit)[name]
        q = min(lines, key=lambda c: (lines[c] + c * fermi_level, -c))
        return q, lines[q] + q * fermi_level

    # ------------------------------------------------------------ concentrations and Fermi level

    def _site_count(self, entry: DefectEntry, site_counts: dict | None) -> float:
        if site_counts and entry.name in site_counts:
            return float(site_counts[entry.name])
        removed = [el for el, n in entry.change.items() if n < 0]
        if removed:
            return float(Counter(self.bulk_atoms.get_chemical_symbols())[removed[0]])
        return 1.0

    def concentrations(self, limit: str, fermi_level: float, temperature: float,
                       site_counts: dict | None = None) -> list[dict]:
        """Dilute-limit concentrations (cm^-3) of every defect charge state:
        c = N_sites / V_supercell · exp(−ΔH / k_B T). ``site_counts`` {name: equivalent sites per
        supercell}; default: the number of bulk atoms of the removed element (an upper bound when
        that element has inequivalent sites, e.g. Br 4c/8d in Pnma), 1 for interstitials."""
        if temperature <= 0:
            raise InputError(f"temperature must be > 0 K, got {temperature!r}")
        volume_cm3 = self.bulk_atoms.get_volume() * 1e-24
        out = []
        for e in self.entries:
            dh = self.intercept(e, limit) + e.charge * fermi_level
            c = self._site_count(e, site_counts) / volume_cm3 * math.exp(min(-dh / (KB * temperature), 700.0))
            out.append({"defect": e.name, "charge": e.charge, "formation_energy": dh, "concentration": c})
        return out

    def solve_fermi_level(self, limit: str, temperature: float, electron_mass: float, hole_mass: float,
                          site_counts: dict | None = None) -> dict:
        """Self-consistent Fermi level (eV above the VBM) from charge neutrality,
        Σ q c_q + p − n = 0, with Boltzmann statistics for parabolic bands of effective masses
        ``electron_mass``/``hole_mass`` (units of m_e): n = N_c exp(−(E_g − E_F)/kT),
        p = N_v exp(−E_F/kT), N = 2.509e19 (m*)^{3/2} (T/300)^{3/2} cm^-3. Needs the gap."""
        from scipy.optimize import brentq

        if self.band_gap is None:
            raise InputError("the self-consistent Fermi level needs the band gap (bulk band_edges.gap or band_gap=)")
        if not (electron_mass > 0 and hole_mass > 0):
            raise InputError(f"effective masses must be > 0 (units of m_e), got {electron_mass!r}, {hole_mass!r}")
        kt = KB * temperature
        nc = NC_300K * electron_mass ** 1.5 * (temperature / 300.0) ** 1.5
        nv = NC_300K * hole_mass ** 1.5 * (temperature / 300.0) ** 1.5
        gap = self.band_gap

        def net_charge(ef):
            q = sum(c["charge"] * c["concentration"] for c in self.concentrations(limit, ef, temperature, site_counts))
            return q + nv * math.exp(-ef / kt) - nc * math.exp(-(gap - ef) / kt)

        lo, hi = -1.0, gap + 1.0
        ef = brentq(net_charge, lo, hi, xtol=1e-6)
        return {"limit": limit, "temperature": temperature, "fermi_level": ef,
                "electrons": nc * math.exp(-(gap - ef) / kt), "holes": nv * math.exp(-ef / kt),
                "concentrations": self.concentrations(limit, ef, temperature, site_counts)}

    # ------------------------------------------------------------ outputs

    def provenance(self, entry: DefectEntry | None = None) -> str:
        from pvatoms.analysis.tables import provenance_label

        corr = None
        if entry is not None:
            method = entry.correction.get("method", "")
            if method == "freysoldt":
                corr = f"Freysoldt (eps={_eps_text(entry.correction.get('dielectric'))})"
            elif method == "kumagai":
                corr = f"Kumagai (eps={_eps_text(entry.correction.get('dielectric'))})"
            elif method == "given":
                corr = "correction given"
            elif method == "none":
                corr = "uncorrected"
            else:
                corr = "neutral, no correction"
        return provenance_label(self.bulk_doc, supercell=supercell_text(self.bulk_atoms), correction=corr)

    def table_rows(self, fermi_level: float = 0.0) -> list[dict]:
        """One row per defect and charge state: n_i, E_corr and ΔH at ``fermi_level`` (above the
        VBM) under every limit, plus a provenance column."""
        rows = []
        for e in self.entries:
            row = {"defect": e.name, "q": e.charge,
                   "n_i": " ".join(f"{el}{n:+d}" for el, n in e.change.items()),
                   "E_corr (eV)": e.correction_energy}
            for limit in self.limits:
                row[f"E_f {self.limit_labels[limit]} (eV)"] = self.intercept(e, limit) + e.charge * fermi_level
            row["provenance"] = self.provenance(e)
            rows.append(row)
        return rows

    def transition_rows(self) -> list[dict]:
        rows = []
        for t in self.transition_levels():
            rows.append({"defect": t["defect"], "transition": f"({_q(t['q1'])}/{_q(t['q2'])})",
                         "level above VBM (eV)": t["level"], "in gap": t["in_gap"],
                         "provenance": self.provenance()})
        return rows

    def write_tables(self, outdir, fermi_level: float = 0.0) -> dict:
        """``formation_energies.{csv,md,tex}`` and ``transition_levels.{csv,md,tex}`` in ``outdir``."""
        from pvatoms.analysis.tables import write_table

        outdir = Path(outdir)
        where = "the VBM" if fermi_level == 0 else f"E_F = VBM + {fermi_level:g} eV"
        paths = {"formation_energies": write_table(
            self.table_rows(fermi_level), outdir / "formation_energies",
            caption=f"Defect formation energies at {where} under each chemical-potential limit",
            label="tab:defect-formation-energies")}
        trows = self.transition_rows()
        if trows:
            paths["transition_levels"] = write_table(trows, outdir / "transition_levels",
                                                     caption="Thermodynamic charge transition levels",
                                                     label="tab:transition-levels")
        return paths

    def plot(self, limit: str, stem, emin: float | None = None, emax: float | None = None,
             names=None) -> dict:
        """Formation energy vs Fermi level under ``limit``: the lowest-energy charge state of each
        defect (kinks = transition levels, marked), band edges at 0 and the gap. Writes
        ``stem.png`` and ``stem.pdf``; returns the paths."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        nominal = self.band_gap is None and emax is None
        if nominal and any(q != 0 for e in self.entries for q in [e.charge]):
            raise InputError("plotting charged defects needs the band gap (bulk band_edges.gap, band_gap=) "
                             "or emin and emax")
        lo = 0.0 if emin is None else float(emin)
        # neutral defects only (e.g. an MLIP backend): flat lines; span the experimental gap of CsPbBr3
        hi = (EXPERIMENTAL_GAP if nominal else self.band_gap) if emax is None else float(emax)
        names = list(names or self.names)
        lines = self.lines(limit)
        x = np.linspace(lo, hi, 600)
        fig, ax = plt.subplots(figsize=(5.0, 4.2))
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        ymin, ymax = np.inf, -np.inf
        for i, n in enumerate(names):
            ln = lines[n]
            y = np.min([b + q * x for q, b in ln.items()], axis=0)
            c = colors[i % len(colors)]
            ax.plot(x, y, color=c, lw=1.8, label=n)
            ymin, ymax = min(ymin, y.min()), max(ymax, y.max())
            for t in transition_levels_from_lines(ln):
                if lo <= t["level"] <= hi:
                    ax.plot(t["level"], t["formation_energy"], "o", color=c, ms=4)
            for q in ln:
                seg = np.isclose(y, ln[q] + q * x)
                if seg.any():
                    xm = x[seg][len(x[seg]) // 2]
                    ax.annotate(f"{q:+d}" if q else "0", (xm, ln[q] + q * xm), fontsize=7, color=c,
                                xytext=(0, 3), textcoords="offset points", ha="center")
        pad = 0.1 * max(ymax - ymin, 1.0)
        ax.set_ylim(min(ymin - pad, 0.0 - pad), ymax + pad)
        ax.set_xlim(lo, hi)
        if self.band_gap is not None:
            ax.axvspan(lo, 0.0, color="0.85") if lo < 0 else None
            ax.axvspan(self.band_gap, hi, color="0.85") if hi > self.band_gap else None
            ax.axvline(0.0, color="0.5", lw=0.8, ls=":")
            ax.axvline(self.band_gap, color="0.5", lw=0.8, ls=":")
        ax.axhline(0.0, color="0.5", lw=0.6)
        ax.set_xlabel(r"Fermi level above the VBM, $E_\mathrm{F}$ (eV)" +
                      (" [range: experimental gap]" if nominal else ""))
        ax.set_ylabel(r"Formation energy $\Delta H$ (eV)")
        b = self.bulk_doc.get("backend") or {}
        ax.set_title(f"{self.limit_labels.get(limit, limit)}\n{b.get('name')} {b.get('model')}, "
                     f"{supercell_text(self.bulk_atoms)}", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
        fig.tight_layout()
        paths = save_figure(fig, stem, dpi=200)
        plt.close(fig)
        return paths

    def plot_all(self, outdir, prefix: str = "formation_energy") -> dict:
        """One diagram per chemical-potential limit: ``outdir/<prefix>_<limit>.{png,pdf}``."""
        return {limit: self.plot(limit, Path(outdir) / f"{prefix}_{_slug(limit)}") for limit in self.limits}

    def as_dict(self) -> dict:
        from pvatoms.results import to_jsonable
        return to_jsonable({
            "backend": self.bulk_doc.get("backend"), "supercell": supercell_text(self.bulk_atoms),
            "vbm": self.vbm, "band_gap": self.band_gap, "correction": self.correction_method,
            "dielectric": self.dielectric, "limits": self.limits, "limit_labels": self.limit_labels,
            "entries": [{"name": e.name, "charge": e.charge, "n": e.change, "label": e.label, "kind": e.kind,
                         "site": e.site, "energy_difference": e.energy_difference,
                         "correction": e.correction} for e in self.entries],
            "lines": {lim: self.lines(lim) for lim in self.limits},
            "transition_levels": self.transition_levels()})


def _q(q: int) -> str:
    return f"{q:+d}" if q else "0"


def _eps_text(eps) -> str:
    if eps is None:
        return "?"
    a = np.asarray(eps, dtype=float)
    if a.ndim == 0:
        return f"{float(a):g}"
    d = np.diag(a) if a.ndim == 2 else a
    return "/".join(f"{v:g}" for v in d)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text).strip("_")


__all__ = ["read_result", "formation_energy", "formation_energy_terms", "composition_change",
           "check_supercells", "defect_site", "defect_name", "freysoldt_correction", "kumagai_correction",
           "read_potential", "write_potential", "transition_levels_from_lines", "DefectThermodynamics",
           "DefectEntry", "doc_charge"]
