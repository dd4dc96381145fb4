"""Pieces shared by the jobs: backend resolution, calculator attachment, static properties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import Trajectory

from pvatoms.calc import get_backend
from pvatoms.errors import InputError
from pvatoms.io import check_integer, check_integers, check_number
from pvatoms.schema import atoms_to_dict


def resolve_backend(backend, **settings):
    """A backend object from a name ('sevennet', 'chgnet', 'gpaw', 'vasp', 'mlip') or itself."""
    if isinstance(backend, str):
        return get_backend(backend, **settings)
    if settings:
        raise InputError("backend settings are given with the backend name, not with a backend object")
    return backend


def check_atoms(atoms, what: str = "structure") -> Atoms:
    """A non-empty ase.Atoms with finite positions and cell, else :class:`InputError`."""
    if not isinstance(atoms, Atoms):
        raise InputError(f"{what} must be an ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise InputError(f"{what} holds no atoms")
    if not (np.isfinite(atoms.positions).all() and np.isfinite(np.asarray(atoms.cell)).all()):
        raise InputError(f"{what} has non-finite positions or cell vectors (NaN/Inf)")
    return atoms


def check_fmax(value, name: str = "fmax") -> float:
    """A force criterion: finite, > 0 and at most 10 eV/Å."""
    return check_number(name, value, 0, 10, low_open=True, unit="eV/Å")


def check_steps(value, name: str = "steps") -> int:
    """An optimiser step limit: an integer from 1 to 100000."""
    return check_integer(name, value, 1, 100_000)


def check_flag(name: str, value) -> bool:
    """True or False (not 'no', not 0.5)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be true or false, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_job_settings(settings: dict, where: str = "job_settings") -> dict:
    """Check the numeric and true/false settings a job function takes (fmax, smax, endpoint_fmax,
    steps, charge, n_images, displacement, min_length, supercell, cell, defect, climb,
    relax_endpoints) before anything is queued, e.g. the ``job_settings`` of a study spec;
    unknown keys are left to the job. Returns ``settings``."""
    if not isinstance(settings, dict):
        raise InputError(f"{where} must be a mapping, got {settings!r}")
    checks = {
        "fmax": check_fmax, "endpoint_fmax": check_fmax, "steps": check_steps,
        "smax": lambda v, n: check_number(n, v, 0, 1, low_open=True, unit="eV/Å^3"),
        "charge": lambda v, n: check_integer(n, v, -MAX_CHARGE, MAX_CHARGE),
        "n_images": lambda v, n: check_integer(n, v, 1, 50),
        "displacement": lambda v, n: check_number(n, v, 0.001, 0.1, unit="Å"),
        "min_length": lambda v, n: check_number(n, v, 0, 60, low_open=True, unit="Å"),
        "supercell": lambda v, n: None if v is None else check_integers(n, v, 3, 1, 20),
    }
    for key, value in settings.items():
        name = f"{where}.{key}"
        if key in checks:
            checks[key](value, name)
        elif key in ("cell", "defect", "climb", "relax_endpoints", "write_gpw", "soc"):
            check_flag(name, value)
    return settings


def attach(atoms: Atoms, backend, folder: Path, charge: int = 0, symmetry: bool = True, **extra) -> Atoms:
    """Copy of ``atoms`` with a fresh calculator of ``backend`` (one per structure/image).
    ``symmetry=False``: the DFT calculation may break the cell's symmetry (defect cells); other
    keywords go to the backend's calculator (e.g. GPAW ``smearing``)."""
    out = atoms.copy()
    if not symmetry:
        extra["symmetry"] = False
    out.calc = backend.calculator(directory=folder, charge=charge, atoms=out, **extra)
    return out


def domain_report(calc) -> dict | None:
    """How a domain-decomposed calculator (:class:`pvatoms.calc.domains.DomainCalculator`) cut the
    structure at its last call (domains, grid, receptive field Å, atoms, largest cluster); None for
    any other calculator."""
    from pvatoms.calc.domains import DomainCalculator
    if isinstance(calc, DomainCalculator) and calc.report:
        r = calc.report
        return {"domains": int(r["domains"]), "grid": [int(c) for c in r["grid"]],
                "receptive_field": float(r["receptive_field"]), "atoms": int(r["atoms"]),
                "largest_cluster": int(r["largest_cluster"])}
    return None


def resume_start(atoms: Atoms, folder: Path, doc: dict) -> tuple[Atoms, int]:
    """Where a relaxation in ``folder`` starts: the last frame of ``relax.traj`` when an earlier
    run was cut short and that frame holds the same atoms, else ``atoms``; the input's arrays
    (regions, sites) and info are kept. Returns (start, frames already in the trajectory: 0 when
    it starts afresh). Marks ``doc["data"]["restarted_from_trajectory"]`` on a restart."""
    traj = Path(folder) / "relax.traj"
    if not (traj.is_file() and traj.stat().st_size > 0):
        return atoms, 0
    try:
        with Trajectory(traj) as frames:           # the count and the last frame, not every frame read
            n, last = len(frames), (frames[-1] if len(frames) else None)
    except Exception:                              # noqa: BLE001 (a torn trajectory: start afresh)
        return atoms, 0
    if last is None or len(last) != len(atoms) or not (last.numbers == atoms.numbers).all():
        return atoms, 0
    start = atoms.copy()
    start.positions, start.cell = last.positions, last.cell
    doc["data"]["restarted_from_trajectory"] = True
    return start, n


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
    decomposed = domain_report(atoms.calc)
    if decomposed:
        doc["data"]["domains"] = decomposed
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


def stress_above(stress, smax: float, mask=None) -> str | None:
    """Why a cell relaxation that met its force criterion is not done: the largest stress component
    (``stress``: Voigt, eV/Å^3) above ``smax`` (eV/Å^3); None when it is within or unknown.
    ``mask``: the components that relaxed (six Voigt 0/1 or a 3x3 matrix, as the relaxation's
    ``cell_mask``); the fixed ones carry the imposed strain's stress and are not checked.

    FrechetCellFilter's cell forces are virial / number of atoms, so meeting ``fmax`` bounds the stress
    by about fmax·N/V (0.01 eV/Å → 1.5e-4 eV/Å^3 for these halides, V/N ≈ 65 Å^3): ``smax`` is
    checked after the relaxation, not steered by.
    """
    if stress is None:
        return None
    stress = np.abs(np.asarray(stress, dtype=float))
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        free = m if m.shape == (6,) else m[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        stress = stress[free]
    worst = float(stress.max())
    if worst <= smax:
        return None
    return (f"the largest stress component is {worst:.2e} eV/Å^3 ({worst * 160.2177:.3f} GPa), above smax "
            f"{smax:g} eV/Å^3")


#: Largest |charge| (e) a job accepts: beyond this no perovskite defect cell makes sense.
MAX_CHARGE = 20


def check_charge(backend, charge: int) -> int:
    """The charge as an integer (1.5 is refused, not truncated); charged cells need a DFT
    backend; say so before anything runs."""
    q = check_integer("charge (e)", charge, -MAX_CHARGE, MAX_CHARGE)
    if q and not backend.dft:
        raise InputError(f"backend {backend.name!r} is a machine-learned potential for neutral cells; "
                         f"charge {q:+d} needs backend 'gpaw' or 'vasp'")
    return q
