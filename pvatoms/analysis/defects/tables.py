"""Paper tables of a :class:`~pvatoms.analysis.defects.thermodynamics.DefectThermodynamics`:
formation energies (eV) per defect, charge state and chemical-potential limit, and transition
levels (eV above the VBM), each with a provenance column; written as CSV, Markdown and LaTeX
(:func:`pvatoms.analysis.tables.write_table`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvatoms.analysis.defects.documents import supercell_text


def charge_text(q: int) -> str:
    """``+1``, ``0``, ``-2``."""
    return f"{q:+d}" if q else "0"


def dielectric_text(eps) -> str:
    """ε for a table: ``4.2``, ``4.1/4.2/4.3`` (diagonal), ``?`` when unknown."""
    if eps is None:
        return "?"
    a = np.asarray(eps, dtype=float)
    if a.ndim == 0:
        return f"{float(a):g}"
    d = np.diag(a) if a.ndim == 2 else a
    return "/".join(f"{v:g}" for v in d)


def provenance(thermo, entry=None) -> str:
    """Provenance text of the bulk document (backend, model, supercell) and, for ``entry``, of its
    correction."""
    from pvatoms.analysis.tables import provenance_label

    corr = None
    if entry is not None:
        method = entry.correction.get("method", "")
        if method == "freysoldt":
            corr = f"Freysoldt (eps={dielectric_text(entry.correction.get('dielectric'))})"
        elif method == "kumagai":
            corr = f"Kumagai (eps={dielectric_text(entry.correction.get('dielectric'))})"
        elif method == "given":
            corr = "correction given"
        elif method == "none":
            corr = "uncorrected"
        else:
            corr = "neutral, no correction"
    return provenance_label(thermo.bulk_doc, supercell=supercell_text(thermo.bulk_atoms), correction=corr)


def formation_energy_rows(thermo, fermi_level: float = 0.0) -> list[dict]:
    """One row per defect and charge state: n_i, E_corr and ΔH at ``fermi_level`` (eV above the
    VBM) under every limit, plus a provenance column."""
    rows = []
    for e in thermo.entries:
        row = {"defect": e.name, "q": e.charge,
               "n_i": " ".join(f"{el}{n:+d}" for el, n in e.change.items()),
               "E_corr (eV)": e.correction_energy}
        for limit in thermo.limits:
            row[f"E_f {thermo.limit_labels[limit]} (eV)"] = thermo.intercept(e, limit) + e.charge * fermi_level
        row["provenance"] = provenance(thermo, e)
        rows.append(row)
    return rows


def transition_level_rows(thermo) -> list[dict]:
    """One row per transition level: defect, ``(q1/q2)``, level above the VBM (eV), in gap."""
    rows = []
    for t in thermo.transition_levels():
        rows.append({"defect": t["defect"], "transition": f"({charge_text(t['q1'])}/{charge_text(t['q2'])})",
                     "level above VBM (eV)": t["level"], "in gap": t["in_gap"],
                     "provenance": provenance(thermo)})
    return rows


def write_tables(thermo, outdir, fermi_level: float = 0.0) -> dict:
    """``formation_energies.{csv,md,tex}`` and ``transition_levels.{csv,md,tex}`` (when there are
    transition levels) in ``outdir``; returns {table: {format: path}}."""
    from pvatoms.analysis.tables import write_table

    outdir = Path(outdir)
    where = "the VBM" if fermi_level == 0 else f"E_F = VBM + {fermi_level:g} eV"
    paths = {"formation_energies": write_table(
        formation_energy_rows(thermo, fermi_level), outdir / "formation_energies",
        caption=f"Defect formation energies at {where} under each chemical-potential limit",
        label="tab:defect-formation-energies")}
    trows = transition_level_rows(thermo)
    if trows:
        paths["transition_levels"] = write_table(trows, outdir / "transition_levels",
                                                 caption="Thermodynamic charge transition levels",
                                                 label="tab:transition-levels")
    return paths


__all__ = ["provenance", "formation_energy_rows", "transition_level_rows", "write_tables", "charge_text",
           "dielectric_text"]
