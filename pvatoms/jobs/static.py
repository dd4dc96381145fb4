"""Single-point calculation: energy, forces, stress; for DFT backends also the band edges (VBM,
CBM, gap and the k-points where they sit).

>>> from pvatoms.build import cspbbr3
>>> from pvatoms.jobs import static
>>> doc = static(cspbbr3("cubic"), "runs/static-cubic", backend="gpaw")   # doctest: +SKIP
>>> doc["band_edges"]["gap"]                                             # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from pvatoms.jobs.common import attach, check_atoms, check_charge, check_flag, fill_static, resolve_backend
from pvatoms.jobs.runner import run_job


def static(atoms: Atoms, folder, backend="sevennet", charge: int = 0, force: bool = False,
           write_gpw: bool = False, defect: bool = False, soc: bool = False, **backend_settings) -> dict:
    """Single point of ``atoms`` in ``folder``; returns the result document. ``charge`` in e
    (+1: one electron removed), DFT backends only. ``write_gpw``: keep GPAW's wavefunctions.
    ``defect``: a defect supercell (DFT symmetry off; VASP writes the LOCPOT). DFT statics save
    the electrostatic potential (GPAW ``potential.npz``, VASP LOCPOT) for finite-size corrections.
    ``soc`` (GPAW): also the PBE+SOC band edges, non-self-consistent on this ground state
    (:func:`pvatoms.calc.soc.soc_band_edges`), in ``data.band_edges_soc``; for VASP, spin-orbit
    coupling is a backend setting (``soc: true``: LSORBIT, self-consistent)."""
    check_atoms(atoms)
    for name, flag in (("force", force), ("write_gpw", write_gpw), ("defect", defect), ("soc", soc)):
        check_flag(name, flag)
    backend = resolve_backend(backend, **backend_settings)
    charge = check_charge(backend, charge)
    settings = {"charge": charge}
    if defect and backend.dft:
        settings["defect"] = True
    if soc:
        from pvatoms.errors import InputError
        if backend.name != "gpaw":
            raise InputError(f"soc=True on a static is GPAW's non-self-consistent spin-orbit step; backend "
                             f"{backend.name!r}: " + ("give VASP the backend setting soc: true (LSORBIT)"
                                                      if backend.name == "vasp" else "a machine-learned "
                                                      "potential has no band structure"))
        settings["soc"] = True
    if backend.name == "vasp":
        from pvatoms.jobs.vasp_jobs import vasp_body
        body = vasp_body("static", atoms, backend, charge=charge, defect=defect)
    else:
        def body(doc, folder: Path):
            work = attach(atoms, backend, folder, charge, symmetry=not defect)
            fill_static(doc, work, backend, folder)
            if soc:
                from pvatoms.calc.soc import record_soc, soc_band_edges
                record_soc(doc, soc_band_edges(work.calc))
            if backend.name == "gpaw" and write_gpw:
                from pvatoms.calc.gpaw_calc import write_gpw as _write
                _write(work.calc, folder / "static.gpw")
                doc["files"]["gpw"] = "static.gpw"
    return run_job("static", folder, atoms, backend, body, settings, force=force)
