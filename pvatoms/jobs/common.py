"""Pieces shared by the jobs: backend resolution, calculator attachment, static properties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms.calc import get_backend
from pvatoms.errors import InputError
from pvatoms.schema import atoms_to_dict


def resolve_backend(backend, **settings):
    """A backend object from a name ('sevennet', 'chgnet', 'gpaw', 'vasp', 'mlip') or itself."""
    if isinstance(backend, str):
        return get_backend(backend, **settings)
    if settings:
        raise InputError("backend settings are given with the backend name, not with a backend object")
    return backend


def attach(atoms: Atoms, backend, folder: Path, charge: int = 0, symmetry: bool = True) -> Atoms:
    """Copy of ``atoms`` with a fresh calculator of ``backend`` (one per structure/image).
    ``symmetry=False``: the DFT calculation may break the cell's symmetry (defect cells)."""
    out = atoms.copy()
    extra = {} if symmetry else {"symmetry": False}
    out.calc = backend.calculator(directory=folder, charge=charge, atoms=out, **extra)
    return out


def fill_static(doc: dict, atoms: Atoms, backend, folder: Path | None = None) -> None:
    """Energy (eV), forces (eV/Å), stress (eV/Å^3, Voigt) and, for DFT, band edges of ``atoms``
    (which carries its calculator) into the result document. For GPAW also the electron count,
    the spin state actually used and, when ``folder`` is given, the electrostatic potential
    (``potential.npz``, for finite-size corrections)."""
    energy = float(atoms.get_potential_energy())
    doc["energy"] = energy
    doc["energy_per_atom"] = energy / len(atoms)
    doc["forces"] = np.asarray(atoms.get_forces()).tolist()
    doc["stress"] = _stress(atoms)
    doc["structure"] = atoms_to_dict(atoms)
    if backend.dft and backend.name == "gpaw":
        from pvatoms.calc.gpaw_calc import band_edges, electrostatic_potential
        from pvatoms.io import write_potential
        calc = atoms.calc
        try:
            doc["band_edges"] = band_edges(calc)
        except RuntimeError as exc:          # a metal (Cs, Pb references): no gap, no band edges
            doc["band_edges"] = None
            doc["data"]["band_edges_note"] = str(exc)
        doc["data"]["nelect"] = float(calc.get_number_of_electrons())
        polarised = calc.get_number_of_spins() == 2
        doc["data"]["spin"] = {"polarised": polarised,
                               "magnetic_moment": float(calc.get_magnetic_moment()) if polarised else 0.0}
        if folder is not None:
            write_potential(Path(folder) / "potential.npz", *electrostatic_potential(calc))
            doc["files"]["potential"] = "potential.npz"


def _stress(atoms: Atoms):
    if not atoms.pbc.all():
        return None
    try:
        return np.asarray(atoms.get_stress(voigt=True)).tolist()
    except Exception:  # some calculators (or charged cells) have no stress
        return None


def max_force(atoms: Atoms) -> float:
    """Largest atomic force (eV/Å)."""
    return float(np.linalg.norm(atoms.get_forces(), axis=1).max())


def check_charge(backend, charge: int) -> int:
    """Charged cells need a DFT backend; say so before anything runs."""
    q = int(charge)
    if q and not backend.dft:
        raise InputError(f"backend {backend.name!r} is a machine-learned potential for neutral cells; "
                         f"charge {q:+d} needs backend 'gpaw' or 'vasp'")
    return q
