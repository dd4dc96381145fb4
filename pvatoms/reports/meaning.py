"""The "what this means" paragraph, composed from the computed numbers (the ``facts`` that the
sections collected).

Every statement comes from one small rule: numbers in, a sentence (or None when the numbers say
nothing) out. A rule that cannot decide says so instead of guessing. The thresholds are named
constants here, and each sentence that uses one states it.
"""

from __future__ import annotations

import math

#: eV/atom: a phase within this distance of the convex hull is on it (stable with this model)
HULL_TOL = 0.001
#: eV/atom: above the hull but below this, metastable (a common bound for phases that are made
#: in practice); above it, unstable
METASTABLE_MAX = 0.050
#: eV: a hop below this barrier is fast at room temperature (see :func:`hop_rate`)
MOBILE_MAX = 0.5
#: K, for the hop rates
ROOM_TEMPERATURE = 300.0
#: Hz, the attempt frequency of a hop (a typical optical-phonon frequency)
ATTEMPT_FREQUENCY = 1e13
#: eV: measured activation energies of ion migration, by moving species (CsPbBr3, Br: ~0.25 eV)
MEASURED_BARRIERS = {"Br": 0.25}
#: eV: a computed barrier this close to the measured one is "close to" it
BARRIER_AGREEMENT = 0.08
#: eV: two formation energies closer than this are not told apart
TIE = 0.01
#: backends whose potentials know neither charge nor spin
CHARGE_FREE_BACKENDS = ("sevennet", "chgnet", "mlip")
#: Boltzmann constant, eV/K
K_B = 8.617333262e-5


# ---------------------------------------------------------------- helpers

def limit_columns(rows: list[dict]) -> list[str]:
    """The formation-energy columns ``E_f <limit label> (eV)`` of the table rows."""
    return [k for k in (rows[0] if rows else {}) if k.startswith("E_f ") and k.endswith(" (eV)")]


def limit_label(column: str) -> str:
    """``"E_f Cs4PbBr6-Pb (Cs-rich, Br-poor) (eV)"`` -> ``"Cs4PbBr6-Pb (Cs-rich, Br-poor)"``."""
    return column[len("E_f "):-len(" (eV)")]


def vertex_name(label: str) -> str:
    """``"Cs4PbBr6-Pb (Cs-rich, Br-poor)"`` -> ``"Cs4PbBr6-Pb"``."""
    return label.split(" (")[0]


def vacancy_element(name: str) -> str | None:
    """``"V_Br_8d"`` -> ``"Br"``; None for a defect that is not a vacancy."""
    parts = str(name).split("_")
    return parts[1] if len(parts) >= 2 and parts[0] == "V" else None


def hop_rate(barrier: float, temperature: float = ROOM_TEMPERATURE,
             attempt: float = ATTEMPT_FREQUENCY) -> float:
    """Hops per second ν exp(−E_b / k_B T) (E_b in eV, T in K, ν in Hz)."""
    return attempt * math.exp(-barrier / (K_B * temperature))


def _power_of_ten(x: float) -> str:
    """``x`` > 0 to the nearest power of ten, e.g. 4.0e4 -> ``"10^5"``, 7.6e-3 -> ``"10^-2"``."""
    return f"10^{round(math.log10(x))}"


# ---------------------------------------------------------------- rules: formation energies

def cheapest_vacancy(label: str, energies: dict) -> str | None:
    """``energies``: {defect name: E_f (eV)} of the neutral vacancies under limit ``label``."""
    if not energies:
        return None
    ranked = sorted(energies.items(), key=lambda kv: kv[1])
    best, e_best = ranked[0]
    ties = [n for n, e in ranked[1:] if e - e_best < TIE]
    if ties:
        names = " and ".join([best] + ties)
        return (f"Under the {label} limit the cheapest neutral vacancies are {names} ({e_best:.2f} eV, "
                f"within {TIE:.2f} eV of each other: not told apart).")
    return f"Under the {label} limit the cheapest neutral vacancy is {best} ({e_best:.2f} eV)."


def negative_formation(names: list[str], charge_free: bool | None) -> str | None:
    """Defects with a negative formation energy at some limit; ``charge_free``: the model knows
    neither charge nor spin (an MLIP), None when unknown."""
    if not names:
        return None
    names = sorted(set(names))
    text = (f"Negative formation energies ({', '.join(names)} at some limits) mean that, with this model and "
            "cell, the host would lose those atoms spontaneously there")
    cations = [n for n in names if vacancy_element(n) in ("Cs", "Pb")]
    if charge_free and cations:
        return (text + "; neutral cation vacancies carry holes that a charge-free potential cannot describe, "
                "so treat them as qualitative and check with a DFT backend and larger supercells.")
    return text + "; check them with larger supercells and charged states before reading them as real."


def vacancy_trend(element: str, cheapest_label: str | None, energies: dict, poor_vertex: str | None) -> str | None:
    """Where vacancies of ``element`` are cheapest, against the expectation: ΔH(V_X) contains +μ_X,
    so a vacancy of X is cheapest where X is scarcest, the X-poor limit. ``energies``: {limit
    label: lowest E_f (eV) of the X vacancies}; ``poor_vertex``: the vertex named X-poor (None
    when no limit is named so)."""
    if not energies or cheapest_label is None:
        return None
    head = f"{element} vacancies are cheapest under the {cheapest_label} limit"
    if poor_vertex is None:
        return head + f"; no limit is named {element}-poor, so whether that is the expected one cannot be told."
    poor = [lab for lab in energies if vertex_name(lab) == poor_vertex]
    if not poor:
        return head + f"; the {element}-poor limit ({poor_vertex}) is not in the table, so the trend cannot be checked."
    if energies[poor[0]] - energies[cheapest_label] < TIE:
        return head + f", as expected for a defect that removes {element} (cheapest where {element} is scarcest)."
    return (head + f", not under the {element}-poor limit ({poor_vertex}) as expected for a defect that removes "
            f"{element}: check the chemical potentials and the defect energies.")


def host_stability(e_above_hull: float | None) -> str | None:
    """The host's distance from the hull (eV/atom) when the defect analysis stopped on it."""
    if e_above_hull is None:
        return None
    if e_above_hull > HULL_TOL:
        return (f"With this model CsPbBr3 is {e_above_hull * 1000:.0f} meV/atom above the hull, so no formation "
                "energies were computed.")
    return (f"The defect analysis reported CsPbBr3 unstable, yet it lies within {HULL_TOL * 1000:.0f} meV/atom of "
            f"the hull ({e_above_hull * 1000:.1f} meV/atom): cannot tell why; see the defect analysis document.")


def rp_stability(e_above_hull: dict) -> str | None:
    """Ruddlesden–Popper phases {name: eV/atom above the hull}: on the hull (≤ HULL_TOL): stable;
    up to METASTABLE_MAX: metastable; beyond: unstable."""
    if not e_above_hull:
        return None
    classes = {"stable": {}, "metastable": {}, "unstable": {}}
    for name, e in e_above_hull.items():
        kind = "stable" if e <= HULL_TOL else ("metastable" if e <= METASTABLE_MAX else "unstable")
        classes[kind][name] = e
    tails = {
        "stable": (f"on the convex hull (within {HULL_TOL * 1000:.0f} meV/atom): stable with this model, so "
                   "they can form without any Pb loss"),
        "metastable": (f"above the hull: metastable (below {METASTABLE_MAX * 1000:.0f} meV/atom), so their "
                       "formation inside a dot needs the Pb loss that the leakage provides"),
        "unstable": (f"above the hull: unstable (more than {METASTABLE_MAX * 1000:.0f} meV/atom), not expected "
                     "to form"),
    }
    clauses = []
    for kind, group in classes.items():
        if not group:
            continue
        if kind == "stable":
            one = len(group) == 1
            tail = tails[kind].replace("they can", "it can") if one else tails[kind]
            clauses.append(f"{' and '.join(group)} {'lies' if one else 'lie'} {tail}")
        else:
            amounts = " and ".join(f"{e * 1000:.0f} meV/atom ({name})" for name, e in group.items())
            clauses.append(f"{amounts} {tails[kind]}")
    if len(clauses) == 1 and not classes["stable"]:
        return f"The Ruddlesden–Popper phases lie {clauses[0]}."
    return "Of the Ruddlesden–Popper phases: " + "; ".join(clauses) + "."


# ---------------------------------------------------------------- rules: migration, gap, localization

def barrier_comparison(path: str, species: str | None, barrier: float | None,
                       measured: float | None = None) -> str | None:
    """How a computed hop barrier (eV) compares with the measured activation energy of the moving
    ``species`` (:data:`MEASURED_BARRIERS`, or ``measured``); "cannot tell" without a reference."""
    if barrier is None:
        return None
    ref = measured if measured is not None else MEASURED_BARRIERS.get(str(species))
    head = f"The {species or 'ion'} hop ({path}) costs {barrier:.2f} eV"
    if barrier <= 0:
        return head + ": a barrier of zero or less means the band or its endpoints are not converged; cannot tell."
    if ref is None:
        return head + f"; there is no measured barrier for {species or 'this'} migration to compare with, so how it compares cannot be told."
    if abs(barrier - ref) < BARRIER_AGREEMENT:
        comp = f"close to (within {BARRIER_AGREEMENT:.2f} eV of)"
    else:
        comp = "above" if barrier > ref else "below"
    return head + f", {comp} the ~{ref:.2f} eV activation energy measured for {species} migration in CsPbBr3."


def mobility(species: str | None, barrier: float | None) -> str | None:
    """Mobile at room temperature exactly when the barrier is below :data:`MOBILE_MAX`."""
    if barrier is None or barrier <= 0:
        return None
    rate = hop_rate(barrier)
    rate_text = (f"about {_power_of_ten(rate)} hops per second at {ROOM_TEMPERATURE:.0f} K for a "
                 f"{_power_of_ten(ATTEMPT_FREQUENCY)} Hz attempt frequency")
    ion = {"Br": "bromide ions", "Cs": "caesium ions", "Pb": "lead ions"}.get(str(species), f"{species} ions")
    if barrier < MOBILE_MAX:
        return f"Below {MOBILE_MAX:.1f} eV ({rate_text}), {ion} are mobile at room temperature."
    return (f"At {MOBILE_MAX:.1f} eV or more ({rate_text}), {ion} are not mobile at room temperature on the time "
            "scale of a device.")


def band_gap(gap: float | None) -> str | None:
    """The bulk gap (eV) of the GPAW PBE calculation without spin–orbit coupling."""
    if gap is None:
        return None
    if gap <= 0:
        return "The bulk calculation has no gap (a metal with this setup): cannot tell the band gap."
    return f"The PBE gap of the bulk is {gap:.2f} eV (no SOC)."


def boundary_localization(statement: str | None) -> str | None:
    """The band-edge statement of the RP/perovskite boundary analysis."""
    return f"At the RP/perovskite boundary: {statement}." if statement else None


# ---------------------------------------------------------------- the paragraph

def _charge_free(rows: list[dict]) -> bool | None:
    names = [str(r.get("provenance") or "").split(" ")[0] for r in rows]
    if not any(names):
        return None
    return all(n in CHARGE_FREE_BACKENDS for n in names if n)


def formation_statements(rows: list[dict], limits_named: dict) -> list[str]:
    """The formation-energy sentences of the neutral-vacancy table rows."""
    columns = limit_columns(rows)
    neutral = [r for r in rows if r.get("q", 0) == 0]
    if not columns:
        return []
    out = []
    for col in columns:
        out.append(cheapest_vacancy(limit_label(col), {r["defect"]: r[col] for r in neutral}))
    out.append(negative_formation([r["defect"] for r in rows for c in columns if r[c] < 0], _charge_free(rows)))
    vbr = [r for r in neutral if vacancy_element(r["defect"]) == "Br"]
    if vbr and len(columns) >= 2:
        lowest = {limit_label(c): min(r[c] for r in vbr) for c in columns}
        cheapest = min(lowest, key=lowest.get)
        out.append(vacancy_trend("Br", cheapest, lowest, (limits_named or {}).get("Br-poor")))
    return [s for s in out if s]


def meaning(facts: dict) -> list[str]:
    """The 'what this means' section (Markdown lines), one sentence per rule that has something
    to say about the numbers in ``facts``."""
    lines = formation_statements(facts.get("formation") or [], facts.get("limits_named") or {})
    lines.append(host_stability(facts.get("host_unstable")))
    lines.append(rp_stability(facts.get("rp_hull") or {}))
    for r in facts.get("neb") or []:
        eb, species = r.get("E_b forward (eV)"), r.get("species")
        lines.append(barrier_comparison(r.get("path"), species, eb))
        lines.append(mobility(species, eb))
    lines.append(band_gap(facts.get("gap")))
    for s in (facts.get("localization") or {}).values():
        lines.append(boundary_localization(s))
    lines = [s for s in lines if s]
    return ["## 5. What this means", "", " ".join(lines) if lines else "Not enough finished results yet.", ""]


__all__ = ["meaning", "formation_statements", "cheapest_vacancy", "negative_formation", "vacancy_trend",
           "host_stability", "rp_stability", "barrier_comparison", "mobility", "band_gap",
           "boundary_localization", "hop_rate", "HULL_TOL", "METASTABLE_MAX", "MOBILE_MAX"]
