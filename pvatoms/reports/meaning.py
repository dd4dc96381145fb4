"""The "what this means" paragraph, composed from the computed numbers (the ``facts`` that the
sections collected)."""

from __future__ import annotations


def meaning(facts: dict) -> list[str]:
    """The 'what this means' paragraph, composed from the computed numbers."""
    lines = []
    rows = facts.get("formation") or []
    limits = [k for k in (rows[0].keys() if rows else []) if k.startswith("E_f ")]
    if rows and limits:
        for lim in limits:
            best = min(rows, key=lambda r: r[lim])
            lines.append(f"Under the {lim[4:-5]} limit the cheapest neutral vacancy is {best['defect']} "
                         f"({best[lim]:.2f} eV).")
        negative = sorted({r["defect"] for r in rows for k in limits if r[k] < 0})
        if negative:
            lines.append(f"Negative formation energies ({', '.join(negative)} at some limits) mean that, with this "
                         "model and cell, the host would lose those atoms spontaneously there; neutral cation "
                         "vacancies carry holes that a charge-free potential cannot describe, so treat them as "
                         "qualitative and check with a DFT backend and larger supercells.")
        vbr = [r for r in rows if r["defect"].startswith("V_Br")]
        if vbr and len(limits) >= 2:
            lo = min(limits, key=lambda k: min(r[k] for r in vbr))
            lines.append(f"Br vacancies are cheapest under the {lo[4:-5]} limit, as expected for a defect that "
                         "removes Br.")
    if facts.get("host_unstable") is not None:
        lines.append(f"With this model CsPbBr3 is {facts['host_unstable'] * 1000:.0f} meV/atom above the hull, "
                     "so no formation energies were computed.")
    rp = facts.get("rp_hull") or {}
    if rp:
        lines.append("The Ruddlesden–Popper phases lie " + " and ".join(f"{v * 1000:.0f} meV/atom ({k})" for k, v in rp.items())
                     + " above the hull: metastable, so their formation inside a dot needs the Pb loss that "
                     "the leakage provides.")
    for r in facts.get("neb") or []:
        eb = r.get("E_b forward (eV)")
        if eb is not None:
            comp = "close to" if abs(eb - 0.25) < 0.08 else ("above" if eb > 0.25 else "below")
            lines.append(f"The V_Br hop ({r.get('path')}) costs {eb:.2f} eV, {comp} the ~0.25 eV activation "
                         "energy measured for Br migration in CsPbBr3: bromide ions are mobile at room temperature.")
    if facts.get("gap") is not None:
        lines.append(f"The PBE gap of the bulk is {facts['gap']:.2f} eV (no SOC).")
    for label, s in (facts.get("localization") or {}).items():
        lines.append(f"At the RP/perovskite boundary: {s}.")
    return ["## 5. What this means", "", " ".join(lines) if lines else "Not enough finished results yet.", ""]
