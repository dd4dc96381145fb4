"""The electronic dielectric constant ε∞ from GPAW: the random-phase approximation on PBE
states (``gpaw.response``), with local-field effects, in the optical limit q → 0.

What is computed, precisely: ε∞_ii (i = x, y, z: the diagonal of the ion-clamped tensor) from a
ground state with ``nbands`` bands diagonalised in full, response cut-off ``ecut_response`` (eV),
broadening ``eta`` (eV), at ω = 0. The ionic contribution (Born effective charges with the Γ
phonons) is NOT computed here; for relaxed charged defects the static ε (electronic + ionic) is
the one that screens, so give it explicitly (with its source) or use a VASP DFPT dielectric job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DIRECTIONS = ("x", "y", "z")


def electronic_dielectric(calc, folder, nbands: int | None = None, ecut_response: float = 50.0,
                          eta: float = 0.1) -> dict:
    """ε∞ (3x3, diagonal) of the converged GPAW calculation ``calc``; writes ``folder/response-gs.gpw``
    and ``folder/response.txt``. Returns ``electronic``, ``electronic_no_local_fields`` (both 3x3)
    and the ``method`` and its parameters."""
    from gpaw.response.df import DielectricFunction
    folder = Path(folder)
    nbands = int(nbands or 4 * calc.get_number_of_bands())
    calc.diagonalize_full_hamiltonian(nbands=nbands)
    gpw = folder / "response-gs.gpw"
    calc.write(str(gpw), mode="all")
    lf, nlf = np.zeros((3, 3)), np.zeros((3, 3))
    for i, d in enumerate(DIRECTIONS):
        df = DielectricFunction(calc=str(gpw), frequencies=[0.0], ecut=float(ecut_response), eta=float(eta),
                                nbands=nbands, hilbert=False, txt=str(folder / "response.txt"))
        no_lf, with_lf = df.get_macroscopic_dielectric_constant(direction=d)
        lf[i, i], nlf[i, i] = float(with_lf), float(no_lf)
    gpw.unlink(missing_ok=True)                  # large; the numbers are in the document
    return {"electronic": lf.tolist(), "electronic_no_local_fields": nlf.tolist(), "ionic": None, "total": None,
            "method": (f"GPAW RPA (PBE states, local-field effects, q -> 0, omega = 0; {nbands} bands, response "
                       f"cut-off {ecut_response:g} eV, eta {eta:g} eV); ionic part not computed"),
            "files": {"log": "response.txt"}}
