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
#: eV: a self-consistent Fermi level this close to midgap is "intrinsic-like"
MIDGAP_TOL = 0.2
#: eV: a transition level this close to a band edge is shallow
SHALLOW_MAX = 0.1
#: V: largest spread between the lattice directions of the potential alignment ΔV of a plateau
ALIGNMENT_SPREAD_MAX = 0.2
#: V: largest |ΔV| that a correction of a small cell is trusted with
ALIGNMENT_MAX = 0.3
#: degrees: interior Pb–Br–Pb angles this far from the bulk's are said to be another tilt state (a
#: reporting threshold at the precision of an MLIP relaxation in the flat tilt valley: the CHGNet Pnma
#: bulk still moves by 0.6° between 0.005 and 0.001 eV/Å)
INTERIOR_TILT_TOL = 1.0
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

def negative_formation(names: list[str], where: str = "at the self-consistent Fermi level") -> str | None:
    """Defects with a negative formation energy (``where``: at which Fermi level)."""
    if not names:
        return None
    names = sorted(set(names))
    return (f"Negative formation energies {where} ({', '.join(names)} at some limits) would mean the host "
            "loses those atoms spontaneously there; with one small supercell that more likely marks an "
            "unconverged cell or a missing competing phase: check with larger supercells before reading it as real.")


def fermi_position(fermi_level: float, gap: float) -> str:
    """Where ``fermi_level`` (eV above the VBM) sits in a gap of ``gap`` eV: within
    :data:`MIDGAP_TOL` of midgap, in the lower (p-type) or upper (n-type) half, or outside."""
    if fermi_level < 0 or fermi_level > gap:
        return "outside the gap (a degenerate carrier gas: the defect model cannot hold it there)"
    if abs(fermi_level - gap / 2) <= MIDGAP_TOL:
        return f"within {MIDGAP_TOL:.1f} eV of midgap: intrinsic-like"
    return "in the lower half of the gap: p-type" if fermi_level < gap / 2 else "in the upper half of the gap: n-type"


def fermi_statement(limit: str, state: str, temperature: float, fermi_level: float, gap: float | None,
                    electrons: float, holes: float, top: list) -> str | None:
    """The self-consistent Fermi level under one limit. ``state``: 'equilibrium' (defects and
    carriers at ``temperature``) or 'quenched' (defect totals frozen from growth, charges and
    carriers at ``temperature``); ``top``: [(defect, q, concentration cm^-3)] of the most abundant
    charged defects, largest first."""
    if gap is None or gap <= 0:
        return None
    if state == "quenched":
        head = f"Quenched to {temperature:.0f} K with the defects frozen, the Fermi level under the {limit} limit is"
    else:
        head = f"Under the {limit} limit at {temperature:.0f} K, charge neutrality puts the Fermi level"
    where = (f"{-fermi_level:.2f} eV below the VBM" if fermi_level < 0 else
             f"{fermi_level - gap:.2f} eV above the CBM" if fermi_level > gap else f"{fermi_level:.2f} eV above the VBM")
    text = (f"{head} {where} ({fermi_position(fermi_level, gap)}; "
            f"n = {electrons:.0e}, p = {holes:.0e} cm^-3)")
    if top:
        text += ", set by " + " and ".join(f"{d} (q = {q:+d}, {c:.0e} cm^-3)" for d, q, c in top[:2])
    return text + "."


def levels_statement(levels: list[dict], gap: float | None, soc_cbm_shift: float | None = None) -> str | None:
    """The transition levels ({"defect", "transition", "level"} in eV above the VBM) against the
    PBE gap: in the gap, shallow (within :data:`SHALLOW_MAX` of a band edge) or deep; and, with
    the PBE+SOC CBM shift (eV, negative: the CBM moves down), which levels would leave the gap."""
    if gap is None or gap <= 0:
        return None
    inside = [t for t in levels if 0.0 < t["level"] < gap]
    if not inside:
        return (f"No charge-transition level falls inside the PBE gap ({gap:.2f} eV): each vacancy keeps one charge "
                "state for every Fermi level in the gap (shallow or inactive defects in this model).")
    parts = []
    for t in sorted(inside, key=lambda t: t["level"]):
        depth = min(t["level"], gap - t["level"])
        kind = "shallow" if depth <= SHALLOW_MAX else "deep"
        parts.append(f"{t['defect']} {t['transition']} at {t['level']:.2f} eV ({kind})")
    text = "Transition levels inside the PBE gap: " + "; ".join(parts) + f" (shallow: within {SHALLOW_MAX:.1f} eV of a band edge)."
    if soc_cbm_shift is not None and soc_cbm_shift < 0:
        out = [t for t in inside if t["level"] > gap + soc_cbm_shift]
        text += (f" With the PBE+SOC band edges the CBM is {-soc_cbm_shift:.2f} eV lower, so "
                 + (", ".join(f"{t['defect']} {t['transition']}" for t in out) + " would lie above it if the level did not move"
                    if out else "every one of these levels stays below it if the level does not move")
                 + "; Pb-6p-like levels move with the CBM, so only a SOC defect calculation can tell.")
    return text


def alignment_caveat(terms: list[dict]) -> str | None:
    """Charged defects whose potential alignment shows no plateau: ΔV differs by more than
    :data:`ALIGNMENT_SPREAD_MAX` between the lattice directions, or its mean exceeds
    :data:`ALIGNMENT_MAX` (``terms``: rows with "defect", "q", "ΔV mean (V)", "ΔV spread (V)")."""
    bad = []
    for t in terms:
        mean, spread = t.get("ΔV mean (V)"), t.get("ΔV spread (V)")
        if mean is None or spread is None:
            continue
        if spread > ALIGNMENT_SPREAD_MAX or abs(mean) > ALIGNMENT_MAX:
            bad.append(f"{t['defect']} q = {t['q']:+d} (ΔV {mean:+.2f} V, spread {spread:.2f} V)")
    if not bad:
        return None
    return ("The potential far from the defect does not settle to one offset for " + ", ".join(bad)
            + f" (a plateau needs a spread below {ALIGNMENT_SPREAD_MAX:.1f} V and an offset below {ALIGNMENT_MAX:.1f} V):"
            " the cell is too small for these corrections, and the formation energies of these charge states "
            "(and the levels and Fermi levels built on them) are uncertain by about q·ΔV.")


def convergence_caveat(natoms: int | None, settings: str, converged_table: bool = False) -> str | None:
    """The limit of a single-supercell defect table: ``natoms`` in the perfect supercell,
    ``settings`` (k-points, cut-off) as text; ``converged_table``: a supercell/cut-off series
    shows the numbers converged."""
    if natoms is None:
        return None
    if converged_table:
        return f"The {natoms}-atom supercell ({settings}) is converged to the tolerance of the convergence table."
    return (f"These come from one {natoms}-atom supercell ({settings}): no supercell-size or cut-off series was "
            "run, so they show what the chain computes, not converged values for a paper.")


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


def host_shifted(e_above_hull: float | None, shift: float | None) -> str | None:
    """The host was lowered onto the hull (both in eV/atom) to define the limits."""
    if not shift:
        return None
    return (f"At this level of theory CsPbBr3 lies {e_above_hull * 1000:.0f} meV/atom above the hull of the computed "
            f"phases, so the limits rest on lowering it by {shift * 1000:.0f} meV/atom: whether CsPbBr3 is stable "
            "against them is beyond these settings to tell.")


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


def boundary_localization(statement: str | None, natoms: int | None = None, settings: str = "",
                          converged_table: bool = False) -> str | None:
    """The band-edge statement of the RP/perovskite boundary analysis and what it can carry.
    Densities say where each edge sits in this model, not the alignment type: type I or II needs
    the band offsets (bulk edges against the potential step across the boundary). ``natoms``,
    ``settings``: the model; ``converged_table``: a thickness/k-point/cut-off series shows the
    fractions converged."""
    if not statement:
        return None
    text = f"At the RP/perovskite boundary: {statement}."
    if natoms is None:
        return text
    if converged_table:
        return text + f" The {natoms}-atom model ({settings}) is converged to the tolerance of its convergence table."
    return (text + f" This is one {natoms}-atom model ({settings}): no thickness, k-point or cut-off series was run, "
            "so it is a first look, not a converged result; and charge densities alone cannot tell a type-I from a "
            "type-II alignment, which needs the band offsets.")


#: the two published readings of the RP / CsPbBr3 boundary (see docs: science.md, papers.md)
BOUNDARY_CLAIMS = {
    "seed": "the seed study reports the CBM on the RP side and the VBM on the perovskite side (type II)",
    "thind": "Thind et al. (Adv. Mater. 2019) find that stoichiometric RP faults repel both carriers (type I)",
}


def boundary_alignment(boundary: dict | None) -> str | None:
    """The band-offset verdict of a boundary study beside both literature claims, and how far the
    convergence table carries it. ``boundary``: ``verdict`` (:func:`pvatoms.analysis.alignment.classify`
    of the reference case), ``case``, ``edges`` (``PBE+SOC`` or ``PBE``), ``natoms``, ``spreads``
    ({series: eV}), ``tolerance`` (eV) and ``untested`` (series with one entry)."""
    if not boundary or not boundary.get("verdict"):
        return None
    v = boundary["verdict"]
    where = f"the {boundary.get('case')} model ({boundary.get('natoms')} atoms, {boundary.get('edges')} band edges)"
    if v["verdict"] == "cannot tell":
        text = (f"The band offsets of {where} cannot tell {' from '.join(v['candidates'])}: the margin "
                f"({v['margin']:.2f} eV) is within the uncertainty ({v['uncertainty']:.2f} eV)")
        agrees = "so it decides between neither reading"
    else:
        carriers = (f"both electrons and holes on the {v['electrons_on']} side" if v["electrons_on"] == v["holes_on"]
                    else f"electrons on the {v['electrons_on']} side and holes on the {v['holes_on']} side")
        text = (f"The band offsets of {where} give a {v['verdict']} alignment with {carriers} (margin "
                f"{v['margin']:.2f} eV, uncertainty {v['uncertainty']:.2f} eV)")
        if v["verdict"] == "type II" and v["electrons_on"] == "rp" and v["holes_on"] == "perovskite":
            agrees = "this model agrees with the seed study"
        elif v["verdict"] == "type I" and v["electrons_on"] == v["holes_on"] == "perovskite":
            agrees = "this model agrees with Thind et al."
        else:
            agrees = "this model agrees with neither"
    text += f". Of the published readings, {BOUNDARY_CLAIMS['seed']}, and {BOUNDARY_CLAIMS['thind']}: {agrees}"
    text = text if text.endswith(".") else text + "."
    pbe = boundary.get("pbe") or {}
    if boundary.get("edges") == "PBE+SOC" and pbe.get("verdict"):
        reads = "cannot tell the type" if pbe["verdict"] == "cannot tell" else f"gives {pbe['verdict']}"
        text += f" Without SOC the same lineup {reads} (CBO {pbe['cbo']:+.2f} eV against {v['cbo']:+.2f} eV with SOC)"
        f_cbm, f_vbm = boundary.get("f_cbm_rp"), boundary.get("f_vbm_perovskite")
        if f_cbm is not None and f_vbm is not None:
            text += (f"; the band-edge densities, computed without SOC, put the CBM {100 * f_cbm:.0f} % on the RP "
                     f"side and the VBM {100 * f_vbm:.0f} % on the perovskite side, so they speak for the PBE "
                     "edges, not for the SOC ones")
        text += "."
    spreads, tol = boundary.get("spreads") or {}, boundary.get("tolerance")
    untested = boundary.get("untested") or []
    bad = {k: s for k, s in spreads.items() if tol is not None and s > tol}
    if bad:
        text += (" The offsets are not converged: " + ", ".join(f"{k} changes them by {s:.2f} eV" for k, s in bad.items())
                 + f" (tolerance {tol:.2f} eV), so the verdict is provisional.")
    elif spreads and not untested:
        text += f" The convergence table holds the offsets within {tol:.2f} eV over thickness and settings."
    if untested:
        named = " and ".join(untested) if len(untested) < 3 else ", ".join(untested[:-1]) + " and " + untested[-1]
        text += (f" Convergence with {named} was not tested either (one entry each)." if bad else
                 f" Convergence with {named} was not tested (one entry each), so the verdict is provisional.")
    text += geometry_caveat(boundary.get("level_of_theory"), boundary.get("residual"), spreads.get("geometry source"))
    return text + interior_caveat(boundary.get("framework"))


def geometry_caveat(level: dict | None, residual: dict | None, spread: float | None = None) -> str:
    """The sentence on the geometry under the offsets when it is not a minimum of the statics'
    method: which method made it, how far other geometry sources move the offsets (``spread``,
    eV, the convergence table's series ``geometry source``; None: not computed) and how hard the
    statics' method pulls on it (``residual``: ``max_force`` eV/Å, ``stress_normal`` GPa, from
    :func:`pvatoms.studies.boundary_analysis.residual_load`). Empty when the geometry is the statics' own
    (``PBE//PBE``) or unrecorded."""
    if not level or not level.get("geometry") or level.get("geometry") == level.get("energy"):
        return ""
    text = f" The geometries are {level['geometry']}'s, not {level.get('energy')} minima, so the offsets carry "
    text += ("the error of the geometry source, which this run does not measure" if spread is None else
             f"the error of the geometry source (the spread over sources, {spread:.2f} eV, is counted in the "
             "uncertainty above)")
    if residual and residual.get("max_force") is not None:
        text += (f"; at the statics' k-mesh and cut-off, {level.get('energy')} forces on the model reach "
                 f"{residual['max_force']:.2f} eV/Å")
        if residual.get("stress_normal") is not None:
            text += f" and its stress along the stacking normal is {residual['stress_normal']:+.2f} GPa"
    return text + "."


def interior_caveat(framework: dict | None, tolerance: float = INTERIOR_TILT_TOL) -> str:
    """The sentence on a side whose interior octahedra are not those of its bulk reference:
    ``framework`` from :func:`pvatoms.studies.boundary_analysis.framework_check`; said for every side and
    Pb–Br–Pb angle (apical, equatorial) whose interior planes lie more than ``tolerance`` degrees
    from the bulk. Empty when none does or nothing was measured."""
    parts = []
    for side in ("perovskite", "rp"):
        for kind, m in sorted(((framework or {}).get(side) or {}).get("measures", {}).items()):
            if kind != "bond_length" and abs(m["deviation"]) > tolerance:
                name = "RP" if side == "rp" else side
                parts.append(f"the {kind} Pb–Br–Pb angles of the {name} interior ({m['interior']:.1f}°) lie "
                             f"{abs(m['deviation']):.1f}° from its bulk's ({m['bulk']:.1f}°)")
    if not parts:
        return ""
    return (" In this model " + "; ".join(parts) + ": the octahedra there are tilted unlike the bulk that the lineup "
            "takes as that side's reference, so the offsets are not those of bulk-like regions.")


# ---------------------------------------------------------------- the paragraph

def formation_statements(charged: dict, limits_named: dict) -> list[str]:
    """The sentences on a charged-defect (DFT) table. ``charged``: ``rows`` (formation energies at
    the VBM, one per defect and charge, columns per limit), ``levels`` (transition levels),
    ``fermi`` (rows of the Fermi-level table), ``gap`` (eV), ``soc_shift`` ({vbm, cbm} eV or
    None), ``natoms`` and ``settings`` of the supercell. A neutral-MLIP screening table is never
    given here: it carries no formation energy."""
    rows = charged.get("rows") or []
    columns = limit_columns(rows)
    if not columns:
        return []
    out = []
    groups: dict = {}
    for r in charged.get("fermi") or []:
        groups.setdefault((r["limit"], r["state"]), []).append(r)
    negative = []
    for (limit, state), rs in groups.items():
        charged_states = sorted((r for r in rs if r["q"] != 0), key=lambda r: -r["c (cm^-3)"])
        top = [(r["defect"], r["q"], r["c (cm^-3)"]) for r in charged_states]
        r0 = rs[0]
        out.append(fermi_statement(limit, state, r0["T (K)"], r0["E_F (eV)"], charged.get("gap"), r0["n (cm^-3)"],
                                   r0["p (cm^-3)"], top))
        negative += [r["defect"] for r in rs if state == "equilibrium" and r["E_f at E_F (eV)"] < 0]
    out.append(negative_formation(negative))
    shift = (charged.get("soc_shift") or {}).get("cbm")
    out.append(levels_statement(charged.get("levels") or [], charged.get("gap"), shift))
    vbr = [r for r in rows if vacancy_element(r["defect"]) == "Br"]
    if vbr and len(columns) >= 2:
        lowest = {limit_label(c): min(r[c] for r in vbr) for c in columns}
        cheapest = min(lowest, key=lowest.get)
        out.append(vacancy_trend("Br", cheapest, lowest, (limits_named or {}).get("Br-poor")))
    out.append(alignment_caveat(charged.get("corrections") or []))
    out.append(convergence_caveat(charged.get("natoms"), charged.get("settings") or "", bool(charged.get("converged"))))
    return [s for s in out if s]


def meaning(facts: dict) -> list[str]:
    """The 'what this means' section (Markdown lines), one sentence per rule that has something
    to say about the numbers in ``facts``."""
    lines = formation_statements(facts.get("charged") or {}, facts.get("limits_named") or {})
    lines.append(host_stability(facts.get("host_unstable")))
    lines.append(host_shifted(**(facts.get("host_shift") or {"e_above_hull": None, "shift": None})))
    lines.append(rp_stability(facts.get("rp_hull") or {}))
    for r in facts.get("neb") or []:
        eb, species = r.get("E_b forward (eV)"), r.get("species")
        lines.append(barrier_comparison(r.get("path"), species, eb))
        lines.append(mobility(species, eb))
    lines.append(band_gap(facts.get("gap")))
    for s in (facts.get("localization") or {}).values():
        model = s if isinstance(s, dict) else {"statement": s}
        lines.append(boundary_localization(model.get("statement"), model.get("natoms"), model.get("settings") or "",
                                           bool(model.get("converged"))))
    lines.append(boundary_alignment(facts.get("boundary")))
    lines = [s for s in lines if s]
    return ["## 6. What this means", "", " ".join(lines) if lines else "Not enough finished results yet.", ""]


__all__ = ["meaning", "formation_statements", "negative_formation", "vacancy_trend", "fermi_statement",
           "fermi_position", "levels_statement", "convergence_caveat", "alignment_caveat",
           "host_stability", "host_shifted", "rp_stability", "barrier_comparison", "mobility", "band_gap",
           "boundary_localization", "boundary_alignment", "interior_caveat", "geometry_caveat", "hop_rate",
           "HULL_TOL", "METASTABLE_MAX", "MOBILE_MAX", "SHALLOW_MAX", "MIDGAP_TOL", "INTERIOR_TILT_TOL"]
