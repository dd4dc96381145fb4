"""Pieces shared by the jobs: backend resolution, calculator attachment, static properties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms.calc import get_backend
from pvatoms.errors import InputError
from pvatoms.results import atoms_to_dict


def resolve_backend(backend, **settings):
    """A backend object from a name ('sevennet', 'chgnet', 'gpaw', 'vasp', 'mlip') or itself."""
    if isinstance(backend, str):
        return get_backend(backend, **settings)
    if settings:
        raise InputError("backend settings are given with the backend name, not with a backend object")
    return backend


def attach(atoms: Atoms, backend, folder: Path, charge: int = 0) -> Atoms:
    """Copy of ``atoms`` with a fresh calculator of ``backend`` (one per structure/image)."""
    out = atoms.copy()
    out.calc = backend.calculator(directory=folder, charge=charge, atoms=out)
    return out


def fill_static(doc: dict, atoms: Atoms, backend) -> None:
    """Energy (eV), forces (eV/Å), stress (eV/Å^3, Voigt) and, for DFT, band edges of ``atoms``
    (which carries its calculator) into the result document."""
    energy = float(atoms.get_potential_energy())
    doc["energy"] = energy
    doc["energy_per_atom"] = energy / len(atoms)
    doc["forces"] = np.asarray(atoms.get_forces()).tolist()
    doc["stress"] = _stress(atoms)
    doc["structure"] = atoms_to_dict(atoms)
    if backend.dft and backend.name == "gpaw":
        from pvatoms.calc.gpaw_calc import band_edges
        doc["band_edges"] = band_edges(atoms.calc)


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
