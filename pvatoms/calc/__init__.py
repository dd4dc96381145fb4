"""Calculation backends behind one interface.

=========  ==================================================================================
name       what
=========  ==================================================================================
sevennet   SevenNet-0 machine-learned potential (default; neutral cells only)
chgnet     CHGNet 0.3.0 (fast option; its 3.0 Å three-body cutoff misses the 3.01 Å Pb-Br bonds)
mlip       any other ASE-compatible model file the user owns (``model=PATH``)
gpaw       GPAW plane-wave PBE, Γ-centred k-mesh, charged cells (``pvatoms.calc.gpaw_calc``)
vasp       VASP through pymatgen input sets and custodian (``pvatoms.calc.vasp``)
=========  ==================================================================================

>>> from pvatoms.calc import get_backend
>>> backend = get_backend("chgnet")
>>> calc = backend.calculator()          # an ASE calculator sharing the one loaded model
>>> backend.info()["model"]
'CHGNet 0.3.0'
"""

from __future__ import annotations

from pvatoms.errors import InputError, check_choice

BACKENDS = ("sevennet", "chgnet", "mlip", "gpaw", "vasp")
MLIP_BACKENDS = ("sevennet", "chgnet", "mlip")
DFT_BACKENDS = ("gpaw", "vasp")
DEFAULT_BACKEND = "sevennet"


def odd_electrons(atoms, charge: int = 0) -> bool:
    """True when ``atoms`` with net ``charge`` (e) hold an odd number of electrons. PAW and
    pseudopotential cores are closed shells (an even number of core electrons), so the parity of
    the valence count is that of Σ Z − q, whatever the code."""
    return bool((int(sum(int(z) for z in atoms.numbers)) - int(charge)) % 2)


def spin_polarised(spin, atoms, charge: int = 0) -> bool:
    """Whether a calculation runs spin-polarised: ``spin`` True/False as given; ``"auto"`` (the
    default of the DFT backends): exactly when the cell holds an odd number of electrons."""
    if spin == "auto":
        return atoms is not None and odd_electrons(atoms, charge)
    return bool(spin)


def check_spin(spin):
    """``spin`` must be True, False or "auto"."""
    if spin not in (True, False, "auto"):
        raise InputError(f"spin must be true, false or 'auto' (spin-polarise odd-electron cells), got {spin!r}")
    return spin


def get_backend(name: str = DEFAULT_BACKEND, **settings):
    """Backend object for ``name`` with its ``settings``.

    Every backend has ``name``, ``dft`` (bool), ``info()`` (name, model, version, settings,
    device: recorded in every result document) and, except VASP, ``calculator(directory=None,
    charge=0)`` returning an ASE calculator.
    """
    check_choice("backend", name, BACKENDS)
    if name in MLIP_BACKENDS:
        from pvatoms.calc.mlip import MLIPBackend
        return MLIPBackend(name, **settings)
    if name == "gpaw":
        from pvatoms.calc.gpaw_calc import GPAWBackend
        return GPAWBackend(**settings)
    from pvatoms.calc.vasp import VaspBackend
    return VaspBackend(**settings)


__all__ = ["get_backend", "odd_electrons", "spin_polarised", "check_spin", "BACKENDS", "MLIP_BACKENDS", "DFT_BACKENDS", "DEFAULT_BACKEND", "InputError"]
