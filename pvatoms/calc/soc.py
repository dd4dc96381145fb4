"""Spin-orbit coupling band edges: GPAW's non-self-consistent SOC on a scalar-relativistic ground state.

>>> from pvatoms.calc.soc import soc_band_edges, soc_for_result
>>> rec = soc_band_edges("runs/cubic-static/static.gpw")     # doctest: +SKIP
>>> rec["gap"], rec["shift"]["cbm"]                           # doctest: +SKIP
>>> soc_for_result("runs/cubic-static")                       # doctest: +SKIP  (records it in result.json)

How it is computed (and recorded in ``method``): the Kohn-Sham states of a converged collinear
PBE calculation (GPAW PAW setups are scalar-relativistic) are the basis of a second-variation
Hamiltonian ``H = diag(ε_nk) ⊗ 1_spin + Σ_a Σ_ij |p̃_ai> ξ^a_ij L·S <p̃_aj|`` built by
:func:`gpaw.spinorbit.soc_eigenstates` from the radial derivative of each atom's all-electron
potential inside its PAW sphere; it is diagonalised at every k-point of the full Brillouin zone
of the SCF mesh. The density and the electrostatic potential stay those of the PBE ground state
(so a potential lineup is unchanged). The spinor bands are filled with the valence electrons, one
each: ``VBM`` is the highest of the lowest ``N_valence`` spinor bands, ``CBM`` the next.

Convergence: the basis is the bands of the SCF; more empty bands lower the CBM further (cubic
CsPbBr3, PBE 300 eV, 2x2x2: shift of the gap -1.35 eV with 26 bands, -1.42 with 40, -1.44 with
60), so the number of bands and of empty bands used are recorded. Whether the empty bands above
the CBM are SCF-converged hardly matters (``convergence={'bands': ...}`` 'occupied', 'CBM+1',
'CBM+3', 'all': the same shift within 0.1 meV), but the PBE CBM itself needs at least 'CBM+1'.

VASP: ``pvatoms.calc.vasp`` writes LSORBIT inputs (``soc=True``), a self-consistent alternative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvatoms.errors import InputError

#: Key of the record in a result document's ``data``.
DATA_KEY = "band_edges_soc"


def soc_band_edges(source, theta: float = 0.0, phi: float = 0.0, scale: float = 1.0,
                   nbands: int | None = None) -> dict:
    """PBE+SOC band edges of a converged GPAW calculation (a calculator or a ``.gpw`` file with
    wave functions; see the module docstring).

    ``theta``, ``phi``: spin quantisation axis (degrees); ``scale``: factor on the SOC strength
    (1: physical); ``nbands``: use only the lowest ``nbands`` scalar-relativistic bands (default
    all). Returns ``vbm``, ``cbm``, ``gap``, ``direct_gap`` (eV), ``k_vbm``/``k_cbm`` (fractional,
    full BZ), ``pbe`` (the ground state's edges), ``shift`` (SOC - PBE of vbm, cbm, gap, eV) and
    ``method`` (how it was computed).
    """
    import gpaw
    from gpaw.spinorbit import soc_eigenstates

    from pvatoms.calc.gpaw_calc import band_edges
    from pvatoms.calc.gpaw_dos import load_calculator

    calc = load_calculator(source)
    pbe = band_edges(calc)
    nb_total = int(calc.get_number_of_bands())
    nb = nb_total if nbands is None else int(nbands)
    if not 0 < nb <= nb_total:
        raise InputError(f"nbands must be in 1..{nb_total} (the bands of the calculation), got {nbands!r}")
    nvalence = float(calc.get_number_of_electrons())
    nocc = int(round(nvalence))
    if abs(nocc - nvalence) > 1e-6:
        raise InputError(f"non-integer electron count {nvalence}: SOC band edges need an integer filling")
    if 2 * nb <= nocc:
        raise InputError(f"{nb} bands hold {2 * nb} spinor states for {nocc} electrons: no empty band; "
                         "raise nbands in the SCF")
    wfs = soc_eigenstates(calc, n2=nb, theta=theta, phi=phi, scale=scale)
    eig = np.asarray(wfs.eigenvalues())             # [k (full BZ), spinor band]
    top, bottom = eig[:, nocc - 1], eig[:, nocc]
    kv, kc = int(np.argmax(top)), int(np.argmin(bottom))
    vbm, cbm = float(top[kv]), float(bottom[kc])
    try:
        bz = np.asarray(calc.wfs.kd.bzk_kc)
        k_vbm, k_cbm = np.round(bz[kv], 6).tolist(), np.round(bz[kc], 6).tolist()
    except AttributeError:
        k_vbm = k_cbm = None
    params = calc.parameters if hasattr(calc, "parameters") else {}
    xc = params.get("xc", "PBE") if hasattr(params, "get") else "PBE"
    empty = nb - int(max(pbe["occupied_bands"]))
    rec = {
        "vbm": vbm, "cbm": cbm, "gap": max(cbm - vbm, 0.0),
        "direct_gap": max(float(np.min(bottom - top)), 0.0),
        "k_vbm": k_vbm, "k_cbm": k_cbm,
        "pbe": {"vbm": pbe["vbm"], "cbm": pbe["cbm"], "gap": pbe["gap"]},
        "shift": {"vbm": vbm - pbe["vbm"], "cbm": cbm - pbe["cbm"], "gap": max(cbm - vbm, 0.0) - pbe["gap"]},
        "method": {
            "code": f"GPAW {gpaw.__version__}", "function": "gpaw.spinorbit.soc_eigenstates",
            "self_consistent": False,
            "ground_state": f"{xc} collinear, scalar-relativistic PAW setups",
            "bands": nb, "empty_bands": empty, "spinor_states": 2 * nb, "electrons": nocc,
            "k_points": f"full Brillouin zone of the SCF mesh ({len(eig)} points)",
            "theta": float(theta), "phi": float(phi), "scale": float(scale),
            "potential": "unchanged (PBE); band edges only",
        },
    }
    if empty < 8:
        rec["method"]["note"] = (f"only {empty} empty bands in the SOC basis: the CBM is not converged "
                                 "with respect to the basis (more empty bands lower it further)")
    return rec


def record_soc(doc: dict, rec: dict) -> dict:
    """Put a :func:`soc_band_edges` record into a result document (``data.band_edges_soc``)."""
    doc.setdefault("data", {})[DATA_KEY] = rec
    return doc


def soc_for_result(folder, gpw: str | None = None, force: bool = False, **settings) -> dict:
    """SOC band edges of a completed GPAW job in ``folder`` from its ``.gpw`` file (``files.gpw``
    of the result, e.g. a static with ``write_gpw=True``), recorded in that job's ``result.json``
    under ``data.band_edges_soc``; a record already there with the same settings is returned
    without recomputing (unless ``force``)."""
    from pvatoms.schema import load, save

    folder = Path(folder)
    doc = load(folder)
    if not doc or doc.get("status") != "completed":
        raise InputError(f"{folder}: no completed result to add SOC band edges to")
    name = gpw or (doc.get("files") or {}).get("gpw")
    if not name or not (folder / name).is_file():
        raise InputError(f"{folder}: no GPAW restart file with wave functions (run the static with write_gpw=True)")
    old = (doc.get("data") or {}).get(DATA_KEY)
    want = {k: float(settings.get(k, d)) for k, d in (("theta", 0.0), ("phi", 0.0), ("scale", 1.0))}
    if old and not force and all(old["method"].get(k) == v for k, v in want.items()) and \
            settings.get("nbands") in (None, old["method"].get("bands")):
        return old
    rec = soc_band_edges(folder / name, **settings)
    rec["method"]["source"] = str(name)
    save(record_soc(doc, rec), folder)
    return rec


__all__ = ["soc_band_edges", "record_soc", "soc_for_result", "DATA_KEY"]
