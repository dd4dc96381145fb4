"""The whole defect analysis of a study, from documents given by role: chemical-potential limits,
formation energies, transition levels, Fermi level, diagrams and tables, and the analysis
document that a report is built from.

>>> from pvatoms.schema import read_result
>>> doc = analyse_defects("out", bulk=read_result("runs/perfect"),                  # doctest: +SKIP
...                       defects=[read_result("runs/V_Br_q+1"), read_result("runs/V_Br_q0")],
...                       phases=[read_result(f"runs/phase-{p}") for p in ("Cs", "Pb", "Br2", "CsBr")],
...                       host=read_result("runs/host-relax"), dielectric=4.96)
>>> doc["transition_levels"][0]["level"]                                              # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvatoms.analysis import ANALYSIS_SCHEMA
from pvatoms.analysis.chempots import (ChemicalPotentialLimits, chemical_potential_limits, chempot_table_rows,
                                       plot_stability_region, write_chempot_tables)
from pvatoms.analysis.defects.documents import MAX_CHANGES
from pvatoms.analysis.defects.thermodynamics import DefectThermodynamics
from pvatoms.errors import InputError
from pvatoms.io import StagedFolder, to_jsonable, write_json_atomic

#: The analysis document, in the output folder.
SUMMARY_FILE = "summary.json"


def host_elements(host_doc: dict) -> list[str]:
    """Elements of the host document's reduced formula, in formula order (``["Cs", "Pb", "Br"]``)."""
    from pymatgen.core import Composition

    from pvatoms.analysis.defects.sorting import reduced_formula
    return [str(el) for el in Composition(reduced_formula(host_doc)).elements]


def _limits(chempots) -> ChemicalPotentialLimits:
    if isinstance(chempots, ChemicalPotentialLimits):
        return chempots
    try:
        return ChemicalPotentialLimits.from_dict(chempots)
    except (TypeError, KeyError, AttributeError) as exc:
        raise InputError(f"chempots must be a ChemicalPotentialLimits or the content of a chempots.json "
                         f"({type(exc).__name__}: {exc})") from None


def analyse_defects(output, bulk: dict, defects, phases=(), host: dict | None = None, chempots=None,
                    dielectric=None, correction: str = "freysoldt", vbm: float | None = None,
                    band_gap: float | None = None, fermi_level: float = 0.0, temperature: float | None = None,
                    effective_masses=None, max_changes: int = MAX_CHANGES, elements=None,
                    site_counts: dict | None = None, quench_temperature: float | None = None,
                    soc_band_edges: dict | None = None, host_on_hull: float = 0.0) -> dict:
    """Chemical potentials, formation energies, transition levels, diagrams and tables.

    Parameters (documents as :func:`pvatoms.schema.read_result` returns them; labels from ``_label``)
    ----------
    output : folder for every file written.
    bulk : result document of the perfect supercell the defects were made in.
    defects : list of defect result documents (same supercell, backend and settings).
    phases : list of competing-phase result documents (Cs, Pb, Br2, CsBr, ...); not needed when
        ``chempots`` is given.
    host : host reference of the phase diagram (e.g. the converged unit cell); default ``bulk``.
    chempots : chemical-potential limits of an earlier analysis (a
        :class:`~pvatoms.analysis.chempots.ChemicalPotentialLimits` or a ``chempots.json`` dict)
        instead of ``phases``.
    dielectric : ε for charged defects (number, 3 diagonal values or 3x3).
    correction : 'freysoldt' | 'kumagai' | 'none'.
    vbm, band_gap : eV; default from the bulk document.
    fermi_level : E_F above the VBM (eV) of the formation-energy table.
    temperature : K; also solve the self-consistent Fermi level, which needs
        ``effective_masses`` (electron, hole; units of m_e).
    max_changes : most atoms a defect adds plus removes.
    elements : the chemical space (default: the host's elements in formula order).
    site_counts : {defect name: equivalent sites per supercell} for the concentrations (a defect
        study passes Wyckoff multiplicity × host cells); default: every atom of the removed
        element (an upper bound, said in ``notes``).
    quench_temperature : K; also the frozen-defect Fermi level: totals fixed at ``temperature``
        (growth), charge states and carriers at ``quench_temperature`` (e.g. 300 K).
    soc_band_edges : the PBE+SOC band-edge record of the bulk (``data.band_edges_soc`` of a GPAW
        static, :func:`pvatoms.calc.soc.soc_band_edges`): adds ``band_edges`` (PBE and PBE+SOC
        edges, the shifts) and, per transition level, its depth below the CBM with the PBE and
        with the PBE+SOC band edges (the level itself held fixed: see :func:`soc_level_rows`).
    host_on_hull : eV/atom; a host above the hull by at most this much is lowered onto it to
        define the limits (:func:`pvatoms.analysis.chempots.chemical_potential_limits`,
        ``shift_to_hull``); the shift is in ``chemical_potentials.host_shift``.

    Writes into ``output``: ``chempots.json``, ``chemical_potentials.{csv,md,tex}``,
    ``competing_phases.{csv,md,tex}``, ``stability_region.{png,pdf}``,
    ``formation_energy_<limit>.{png,pdf}``, ``formation_energies.{csv,md,tex}``,
    ``transition_levels.{csv,md,tex}`` and ``summary.json``: the returned analysis document with
    ``kind`` ("defects"), ``schema``, ``status`` ("completed" | "host unstable", with a
    ``message``), ``backend``, the labels of ``bulk``, ``host``, ``defects`` and ``phases``,
    ``files`` (names in ``output``), ``tables`` (the rows of every table written:
    ``chemical_potentials``, ``competing_phases``, ``formation_energies``, ``transition_levels``),
    ``chemical_potentials`` (``stable``, ``e_above_hull``
    eV/atom, ``named``, ``limits`` {vertex: {element: Δμ eV}}, ``rp_phases_e_above_hull``) and,
    when the host is stable, ``transition_levels`` (eV above the VBM), ``formation_energies``
    (table rows, eV), ``corrections`` (eV per defect and charge), ``dielectric`` (the ε used),
    ``level_of_theory`` (e.g. ``PBE//PBE``), ``files.pymatgen_defect_entries`` (every defect as a
    pymatgen-analysis-defects ``DefectEntry`` JSON, see :mod:`.interop`) and, with ``temperature``,
    ``fermi_level`` (per limit).

    Nothing is written unless the whole analysis succeeds: the files are made in a staging
    folder next to ``output`` and moved into it at the end (:class:`pvatoms.io.StagedFolder`), so
    a refusal (backends that may not be mixed, say) leaves ``output`` as it was.
    """
    options = dict(locals())                  # every parameter but the output folder, by name
    del options["output"]
    with StagedFolder(output) as stage:
        return _analyse_into(stage.path, **options)


def _analyse_into(outdir: Path, bulk, defects, phases, host, chempots, dielectric, correction, vbm, band_gap,
                  fermi_level, temperature, effective_masses, max_changes, elements, site_counts=None,
                  quench_temperature=None, soc_band_edges=None, host_on_hull=0.0) -> dict:
    """:func:`analyse_defects` writing into ``outdir`` (the staging folder)."""
    if bulk is None:
        raise InputError("missing bulk reference: give the result document of the perfect supercell")
    defects = list(defects or [])
    phases = list(phases or [])
    if not defects:
        raise InputError("no defect documents given")
    if temperature is not None and not effective_masses:
        raise InputError("the self-consistent Fermi level at a temperature needs effective_masses "
                         "(electron, hole; units of m_e)")
    host = bulk if host is None else host

    doc = {"kind": "defects", "schema": ANALYSIS_SCHEMA, "backend": bulk.get("backend"),
           "bulk": bulk.get("_label"), "host": host.get("_label"),
           "defects": [d.get("_label") for d in defects], "phases": [d.get("_label") for d in phases],
           "files": {}}
    if chempots is not None:
        limits = _limits(chempots)
    else:
        if not phases:
            raise InputError("no competing-phase documents (Cs, Pb, Br2, CsBr, PbBr2, Cs4PbBr6, CsPb2Br5, "
                             "CsBr3, RP phases) and no chempots: the chemical potentials cannot be bounded")
        limits = chemical_potential_limits(host, {d.get("_label") or f"phase {i}": d for i, d in enumerate(phases)},
                                           elements=list(elements) if elements else host_elements(host),
                                           shift_to_hull=host_on_hull)
    outdir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(outdir / "chempots.json", limits.as_dict())
    doc["files"]["chempots"] = "chempots.json"
    for key, p in write_chempot_tables(limits, outdir).items():
        doc["files"][key] = [x.name for x in p.values()]
    doc["tables"] = chempot_table_rows(limits)
    doc["chemical_potentials"] = {"stable": limits.stable, "e_above_hull": limits.e_above_hull,
                                  "named": limits.named, "limits": limits.limits,
                                  "rp_phases_e_above_hull": limits.rp_phases, "host_shift": limits.host_shift}
    if not limits.stable:
        doc["status"] = "host unstable"
        doc["message"] = (f"{limits.host} is {limits.e_above_hull:.4f} eV/atom above the convex hull with "
                          f"these phases (decomposes to {', '.join(limits.decomposition)}): no "
                          "chemical-potential limits, no formation energies")
        doc = to_jsonable(doc)
        write_json_atomic(outdir / SUMMARY_FILE, doc)
        return doc
    paths = plot_stability_region(limits, outdir / "stability_region")
    doc["files"]["stability_region"] = [p.name for p in paths.values()]

    thermo = DefectThermodynamics(bulk, defects, limits, vbm=vbm, band_gap=band_gap, dielectric=dielectric,
                                  correction=correction, max_changes=max_changes)
    for limit, p in thermo.plot_all(outdir).items():
        doc["files"][f"diagram {limit}"] = [x.name for x in p.values()]
    for key, p in thermo.write_tables(outdir, fermi_level).items():
        doc["files"][key] = [x.name for x in p.values()]
    doc["transition_levels"] = thermo.transition_levels()
    doc["formation_energies"] = thermo.table_rows(fermi_level)
    doc["tables"]["formation_energies"] = doc["formation_energies"]
    doc["tables"]["transition_levels"] = thermo.transition_rows()
    if thermo.vbm is not None and thermo.band_gap is not None:
        doc["band_edges"] = {"pbe": {"vbm": thermo.vbm, "cbm": thermo.vbm + thermo.band_gap, "gap": thermo.band_gap},
                             "soc": soc_band_edges}
    if soc_band_edges is not None and thermo.band_gap is not None:
        doc["tables"]["band_edges"], doc["tables"]["transition_levels"] = soc_level_rows(
            thermo.band_gap, soc_band_edges, doc["tables"]["transition_levels"])
        from pvatoms.analysis.tables import write_table
        for key, caption in (("band_edges", "Bulk band edges with and without spin-orbit coupling"),
                             ("transition_levels", "Thermodynamic charge transition levels")):
            paths = write_table(doc["tables"][key], outdir / key, caption=caption, label=f"tab:{key.replace('_', '-')}")
            doc["files"][key] = [x.name for x in paths.values()]
    doc["corrections"] = {f"{e.name} q={e.charge:+d}": e.correction_energy for e in thermo.entries}
    doc["correction_terms"] = correction_terms(thermo.entries)
    doc["dielectric"] = dielectric
    doc["level_of_theory"] = (bulk.get("level_of_theory") or {}).get("label")
    from pvatoms.analysis.defects.interop import write_pymatgen_entries
    doc["files"]["pymatgen_defect_entries"], doc["notes"] = write_pymatgen_entries(thermo, defects, outdir)
    if temperature is not None:
        doc["fermi_level"] = {limit: thermo.solve_fermi_level(limit, temperature, *effective_masses,
                                                              site_counts=site_counts)
                              for limit in thermo.limits}
        doc["tables"]["fermi_level"] = fermi_rows(thermo, doc["fermi_level"], "equilibrium")
        if quench_temperature is not None:
            doc["fermi_level_quenched"] = {limit: thermo.solve_frozen_fermi_level(
                limit, temperature, quench_temperature, *effective_masses, site_counts=site_counts)
                for limit in thermo.limits}
            doc["tables"]["fermi_level"] += fermi_rows(thermo, doc["fermi_level_quenched"], "quenched")
        from pvatoms.analysis.tables import write_table
        paths = write_table(doc["tables"]["fermi_level"], outdir / "fermi_level",
                            caption="Self-consistent Fermi level, carriers and defect concentrations",
                            label="tab:fermi-level")
        doc["files"]["fermi_level"] = [x.name for x in paths.values()]
        doc["effective_masses"] = list(effective_masses)
    if site_counts is None:
        doc["notes"].append("concentrations count every atom of the removed element as a site (no site "
                            "multiplicities given): an upper bound where the element has inequivalent sites")
    doc["status"] = "completed"
    doc = to_jsonable(doc)
    write_json_atomic(outdir / SUMMARY_FILE, doc)
    return doc


def correction_terms(entries) -> list[dict]:
    """Per charged defect: the correction's lattice (electrostatic) term, its alignment term q·ΔV
    and the alignment ΔV along each lattice direction (V), when the correction computed them. A
    spread of ΔV between directions, or a large ΔV, means no plateau far from the defect: the
    cell is too small for the correction to be trusted (see :func:`pvatoms.reports.meaning`)."""
    rows = []
    for e in entries:
        c = e.correction if isinstance(e.correction, dict) else {}
        if not e.charge or "electrostatic" not in c:
            continue
        dv = [float(v) for v in (c.get("alignments") or {}).values()]
        rows.append({"defect": e.name, "q": e.charge, "method": c.get("method"), "E_corr (eV)": e.correction_energy,
                     "lattice (eV)": float(c["electrostatic"]), "alignment q·ΔV (eV)": float(c.get("potential_alignment", 0.0)),
                     "ΔV mean (V)": float(np.mean(dv)) if dv else None,
                     "ΔV spread (V)": float(np.ptp(dv)) if dv else None})
    return rows


def soc_level_rows(gap: float, soc: dict, levels: list[dict]) -> tuple[list[dict], list[dict]]:
    """Band-edge rows (PBE, PBE+SOC: VBM and CBM relative to the PBE VBM, gap, eV) and the
    transition-level rows with two more columns: depth below the CBM with the PBE edges
    (``gap - level``) and with the PBE+SOC edges (``gap + Δ_CBM - level``; the level measured
    from the PBE VBM held fixed, as if it did not move with SOC).

    Holding the level fixed is exact for neither kind of level: a level made of Pb 6p states
    (V_Br-like) moves down with the CBM, one made of Br 4p states hardly moves. The two columns
    bracket what a PBE+SOC defect calculation would give; they are not that calculation."""
    dv, dc = float(soc["shift"]["vbm"]), float(soc["shift"]["cbm"])
    edges = [{"band edges": "PBE", "VBM (eV)": 0.0, "CBM (eV)": gap, "gap (eV)": gap,
              "provenance": "same supercell and settings as the defects"},
             {"band edges": "PBE+SOC", "VBM (eV)": dv, "CBM (eV)": gap + dc, "gap (eV)": gap + dc - dv,
              "provenance": f"non-self-consistent SOC ({soc['method'].get('code')}, {soc['method'].get('bands')} bands)"
                            + (f", {soc['level_of_theory']}" if soc.get("level_of_theory") else "")}]
    rows = []
    for r in levels:
        lv = float(r["level above VBM (eV)"])
        rows.append({**{k: v for k, v in r.items() if k != "provenance"},
                     "below CBM, PBE (eV)": gap - lv, "below CBM, PBE+SOC edges (eV)": gap + dc - lv,
                     "provenance": r.get("provenance")})
    return edges, rows


def fermi_rows(thermo, solutions: dict, kind: str) -> list[dict]:
    """One row per limit and defect charge state at the self-consistent Fermi level: E_F (eV above
    the VBM), T (K), carriers and the defect's formation energy and concentration (cm^-3)."""
    rows = []
    for limit, sol in solutions.items():
        for c in sol["concentrations"]:
            rows.append({"limit": thermo.limit_labels.get(limit, limit), "state": kind,
                         "T (K)": sol["temperature"], "E_F (eV)": sol["fermi_level"],
                         "n (cm^-3)": sol["electrons"], "p (cm^-3)": sol["holes"], "defect": c["defect"],
                         "q": c["charge"], "E_f at E_F (eV)": c["formation_energy"], "g": c.get("degeneracy"),
                         "c (cm^-3)": c["concentration"], "provenance": thermo.provenance()})
    return rows


__all__ = ["analyse_defects", "host_elements", "fermi_rows", "soc_level_rows", "SUMMARY_FILE"]
