"""The dielectric job: the dielectric tensor that screens charged defects (for the finite-size
corrections), in ``data["dielectric"]``: ``electronic`` (ε∞, ion-clamped), ``ionic``, ``total``
(3x3; None where not computed) and ``method`` (what was computed, precisely).

- VASP: density-functional perturbation theory (LEPSILON, IBRION 8): electronic and ionic parts,
  ``total`` = their sum — the static ε for relaxed charged defects.
- GPAW: ε∞ only (RPA on PBE states with local-field effects, :mod:`pvatoms.calc.gpaw_response`);
  ``total`` is None, so a defect study that reads it must say ``part: electronic`` to use ε∞
  knowingly, or give the static ε with its source.

>>> from pvatoms.build import cspbbr3
>>> doc = dielectric(cspbbr3("cubic"), "runs/eps", backend="gpaw", kpts=(4, 4, 4))   # doctest: +SKIP
>>> doc["data"]["dielectric"]["electronic"][0][0]                                  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from pvatoms.errors import InputError
from pvatoms.jobs.common import attach, fill_static, resolve_backend
from pvatoms.jobs.runner import run_job


def dielectric(atoms: Atoms, folder, backend="gpaw", nbands: int | None = None, ecut_response: float = 50.0,
               eta: float = 0.1, force: bool = False, **backend_settings) -> dict:
    """Dielectric tensor of ``atoms`` (a relaxed bulk cell) in ``folder``; returns the result
    document. GPAW: ``nbands`` (default 4 x the ground state's), ``ecut_response`` (eV), ``eta`` (eV)."""
    backend = resolve_backend(backend, **backend_settings)
    if not backend.dft:
        raise InputError(f"backend {backend.name!r} is a machine-learned potential: the dielectric job needs "
                         "'gpaw' (electronic part) or 'vasp' (DFPT: electronic and ionic)")
    settings = {"nbands": nbands, "ecut_response": float(ecut_response), "eta": float(eta)}
    if backend.name == "vasp":
        from pvatoms.jobs.vasp_jobs import vasp_body
        body = vasp_body("dielectric", atoms, backend)
    else:
        def body(doc, folder: Path):
            from pvatoms.calc.gpaw_response import electronic_dielectric
            work = attach(atoms, backend, folder, smearing=0.01)      # an insulator's occupations
            fill_static(doc, work, backend, folder)
            eps = electronic_dielectric(work.calc, folder, nbands, ecut_response, eta)
            doc["files"]["response"] = eps.pop("files")["log"]
            doc["data"]["dielectric"] = eps
    return run_job("dielectric", folder, atoms, backend, body, settings, force=force)
