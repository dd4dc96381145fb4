"""Formation-energy diagrams of a :class:`~pvatoms.analysis.defects.thermodynamics.DefectThermodynamics`:
ΔH (eV) against the Fermi level above the VBM (eV), one diagram per chemical-potential limit,
written as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvatoms.analysis.defects.documents import supercell_text
from pvatoms.analysis.defects.thermodynamics import transition_levels_from_lines
from pvatoms.analysis.figures import save_figure
from pvatoms.errors import InputError

#: Room-temperature optical gap of CsPbBr3 (eV, 2.25-2.36 measured): the Fermi-level range of a
#: diagram of neutral defects computed without a band structure (machine-learned potentials).
EXPERIMENTAL_GAP = 2.3


def slug(text: str) -> str:
    """A file-name-safe version of a limit name."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text).strip("_")


def plot_formation_energies(thermo, limit: str, stem, emin: float | None = None, emax: float | None = None,
                            names=None) -> dict:
    """Formation energy vs Fermi level under ``limit``: the lowest-energy charge state of each
    defect (kinks = transition levels, marked), band edges at 0 and the gap. Writes
    ``stem.png`` and ``stem.pdf``; returns the paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nominal = thermo.band_gap is None and emax is None
    if nominal and any(q != 0 for e in thermo.entries for q in [e.charge]):
        raise InputError("plotting charged defects needs the band gap (bulk band_edges.gap, band_gap=) "
                         "or emin and emax")
    lo = 0.0 if emin is None else float(emin)
    # neutral defects only (e.g. an MLIP backend): flat lines; span the experimental gap of CsPbBr3
    hi = (EXPERIMENTAL_GAP if nominal else thermo.band_gap) if emax is None else float(emax)
    names = list(names or thermo.names)
    lines = thermo.lines(limit)
    x = np.linspace(lo, hi, 600)
    fig, ax = plt.subplots(figsize=(5.0, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ymin, ymax = np.inf, -np.inf
    for i, n in enumerate(names):
        ln = lines[n]
        y = np.min([b + q * x for q, b in ln.items()], axis=0)
        c = colors[i % len(colors)]
        ax.plot(x, y, color=c, lw=1.8, label=n)
        ymin, ymax = min(ymin, y.min()), max(ymax, y.max())
        for t in transition_levels_from_lines(ln):
            if lo <= t["level"] <= hi:
                ax.plot(t["level"], t["formation_energy"], "o", color=c, ms=4)
        for q in ln:
            seg = np.isclose(y, ln[q] + q * x)
            if seg.any():
                xm = x[seg][len(x[seg]) // 2]
                ax.annotate(f"{q:+d}" if q else "0", (xm, ln[q] + q * xm), fontsize=7, color=c,
                            xytext=(0, 3), textcoords="offset points", ha="center")
    pad = 0.1 * max(ymax - ymin, 1.0)
    ax.set_ylim(min(ymin - pad, 0.0 - pad), ymax + pad)
    ax.set_xlim(lo, hi)
    if thermo.band_gap is not None:
        ax.axvspan(lo, 0.0, color="0.85") if lo < 0 else None
        ax.axvspan(thermo.band_gap, hi, color="0.85") if hi > thermo.band_gap else None
        ax.axvline(0.0, color="0.5", lw=0.8, ls=":")
        ax.axvline(thermo.band_gap, color="0.5", lw=0.8, ls=":")
    ax.axhline(0.0, color="0.5", lw=0.6)
    ax.set_xlabel(r"Fermi level above the VBM, $E_\mathrm{F}$ (eV)" +
                  (" [range: experimental gap]" if nominal else ""))
    ax.set_ylabel(r"Formation energy $\Delta H$ (eV)")
    b = thermo.bulk_doc.get("backend") or {}
    level = (thermo.bulk_doc.get("level_of_theory") or {}).get("label")
    ax.set_title(f"{thermo.limit_labels.get(limit, limit)}\n{b.get('name')} {b.get('model')}"
                 + (f" ({level})" if level else "") + f", {supercell_text(thermo.bulk_atoms)}", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    paths = save_figure(fig, stem, dpi=200)
    plt.close(fig)
    return paths


def plot_all(thermo, outdir, prefix: str = "formation_energy") -> dict:
    """One diagram per chemical-potential limit: ``outdir/<prefix>_<limit>.{png,pdf}``;
    returns {limit: paths}."""
    return {limit: plot_formation_energies(thermo, limit, Path(outdir) / f"{prefix}_{slug(limit)}")
            for limit in thermo.limits}


__all__ = ["EXPERIMENTAL_GAP", "plot_formation_energies", "plot_all", "slug"]
