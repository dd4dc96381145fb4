"""Defect concentrations and the self-consistent Fermi level of a
:class:`~pvatoms.analysis.defects.thermodynamics.DefectThermodynamics`.

Dilute limit, Boltzmann statistics, parabolic bands: concentrations in cm^-3, energies in eV,
temperatures in K, effective masses in units of the electron mass m_e.
"""

from __future__ import annotations

import math
from collections import Counter

from pvatoms.errors import InputError

#: Boltzmann constant, eV/K.
KB = 8.617333262e-5
#: Effective density of states prefactor, cm^-3, for m* = m_e at 300 K: 2 (2π m_e k T / h²)^{3/2}.
NC_300K = 2.5094e19


def site_count(thermo, entry, site_counts: dict | None = None) -> float:
    """Equivalent sites per supercell of ``entry``: ``site_counts[name]`` (the Wyckoff
    multiplicity of the site per host cell × host cells per supercell; a defect study passes
    it) when given, else the number of bulk atoms of the removed element — an upper bound when
    that element has inequivalent sites (Br 4c/8d in Pnma), said in the analysis — and 1 for
    interstitials."""
    if site_counts and entry.name in site_counts:
        return float(site_counts[entry.name])
    removed = [el for el, n in entry.change.items() if n < 0]
    if removed:
        return float(Counter(thermo.bulk_atoms.get_chemical_symbols())[removed[0]])
    return 1.0


def spin_degeneracy(entry) -> int:
    """2 for a cell with an odd number of electrons (a doublet: one unpaired electron), else 1 (the
    closed-shell or low-spin state)."""
    return 2 if entry.odd_electrons else 1


def concentrations(thermo, limit: str, fermi_level: float, temperature: float,
                   site_counts: dict | None = None) -> list[dict]:
    """Dilute-limit concentrations (cm^-3) of every defect charge state:
    c = N_sites / V_supercell · exp(−ΔH / k_B T). ``site_counts`` {name: equivalent sites per
    supercell}; default: see :func:`site_count`. Each item: ``defect``, ``charge``,
    ``formation_energy`` (eV), ``concentration``."""
    if temperature <= 0:
        raise InputError(f"temperature must be > 0 K, got {temperature!r}")
    volume_cm3 = thermo.bulk_atoms.get_volume() * 1e-24
    out = []
    for e in thermo.entries:
        dh = thermo.intercept(e, limit) + e.charge * fermi_level
        g = spin_degeneracy(e)
        # in log space, so that a very negative formation energy gives a huge but finite number
        # (exp(700) alone times ~1e22 sites per cm^3 would overflow to inf)
        prefactor = g * site_count(thermo, e, site_counts) / volume_cm3
        c = math.exp(min(math.log(prefactor) - dh / (KB * temperature), 700.0)) if prefactor > 0 else 0.0
        out.append({"defect": e.name, "charge": e.charge, "formation_energy": dh, "degeneracy": g,
                    "sites": site_count(thermo, e, site_counts), "concentration": c})
    return out


def _carriers(thermo, temperature: float, electron_mass: float, hole_mass: float):
    if thermo.band_gap is None:
        raise InputError("the self-consistent Fermi level needs the band gap (bulk band_edges.gap or band_gap=)")
    if not (electron_mass > 0 and hole_mass > 0):
        raise InputError(f"effective masses must be > 0 (units of m_e), got {electron_mass!r}, {hole_mass!r}")
    if not temperature > 0:
        raise InputError(f"temperature must be > 0 K, got {temperature!r}")
    kt = KB * temperature
    nc = NC_300K * electron_mass ** 1.5 * (temperature / 300.0) ** 1.5
    nv = NC_300K * hole_mass ** 1.5 * (temperature / 300.0) ** 1.5
    gap = thermo.band_gap
    return (lambda ef: nc * math.exp(-(gap - ef) / kt)), (lambda ef: nv * math.exp(-ef / kt))


def solve_frozen_fermi_level(thermo, limit: str, growth_temperature: float, temperature: float,
                             electron_mass: float, hole_mass: float, site_counts: dict | None = None) -> dict:
    """Fermi level (eV above the VBM) after a quench: each defect's total concentration (all
    charge states) is fixed at ``growth_temperature`` (its self-consistent equilibrium) and only
    shared out among its charge states at ``temperature`` (Boltzmann), with free carriers at
    ``temperature``; charge neutrality fixes E_F. Returns ``limit``, both temperatures,
    ``fermi_level``, ``electrons``, ``holes`` (cm^-3), the growth equilibrium and the
    ``concentrations`` after the quench."""
    from scipy.optimize import brentq
    growth = solve_fermi_level(thermo, limit, growth_temperature, electron_mass, hole_mass, site_counts)
    totals: dict = {}
    for c in growth["concentrations"]:
        totals[c["defect"]] = totals.get(c["defect"], 0.0) + c["concentration"]
    n, p = _carriers(thermo, temperature, electron_mass, hole_mass)

    def shared(ef):
        raw = concentrations(thermo, limit, ef, temperature, site_counts)
        out = []
        for name, total in totals.items():
            mine = [c for c in raw if c["defect"] == name]
            z = sum(c["concentration"] for c in mine)
            weights = [c["concentration"] / z if z > 0 else 1.0 / len(mine) for c in mine]
            out += [dict(c, concentration=total * w) for c, w in zip(mine, weights)]
        return out

    def net_charge(ef):
        return sum(c["charge"] * c["concentration"] for c in shared(ef)) + p(ef) - n(ef)

    ef = brentq(net_charge, -1.0, thermo.band_gap + 1.0, xtol=1e-6)
    return {"limit": limit, "growth_temperature": growth_temperature, "temperature": temperature,
            "fermi_level": ef, "electrons": n(ef), "holes": p(ef), "growth": growth, "concentrations": shared(ef)}


def solve_fermi_level(thermo, limit: str, temperature: float, electron_mass: float, hole_mass: float,
                      site_counts: dict | None = None) -> dict:
    """Self-consistent Fermi level (eV above the VBM) from charge neutrality,
    Σ q c_q + p − n = 0, with Boltzmann statistics for parabolic bands of effective masses
    ``electron_mass``/``hole_mass`` (units of m_e): n = N_c exp(−(E_g − E_F)/kT),
    p = N_v exp(−E_F/kT), N = 2.509e19 (m*)^{3/2} (T/300)^{3/2} cm^-3. Needs the gap.
    Returns ``limit``, ``temperature``, ``fermi_level``, ``electrons``, ``holes`` (cm^-3) and the
    ``concentrations`` there."""
    from scipy.optimize import brentq
    n, p = _carriers(thermo, temperature, electron_mass, hole_mass)

    def net_charge(ef):
        q = sum(c["charge"] * c["concentration"] for c in concentrations(thermo, limit, ef, temperature, site_counts))
        return q + p(ef) - n(ef)

    ef = brentq(net_charge, -1.0, thermo.band_gap + 1.0, xtol=1e-6)
    return {"limit": limit, "temperature": temperature, "fermi_level": ef, "electrons": n(ef), "holes": p(ef),
            "concentrations": concentrations(thermo, limit, ef, temperature, site_counts)}


__all__ = ["KB", "NC_300K", "site_count", "spin_degeneracy", "concentrations", "solve_fermi_level",
           "solve_frozen_fermi_level"]
