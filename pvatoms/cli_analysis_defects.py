"""``pvatoms analyse defects RESULTS... -o DIR``: chemical potentials, formation energies,
transition levels, diagrams and tables from result documents (nothing is computed).

RESULTS are job folders (holding ``result.json``) or result JSON files, in any order. They are
sorted by their structures:

- the **bulk supercell**: the largest document with the host's composition (``--host``,
  default CsPbBr3), or ``--bulk``;
- **defects**: documents in the bulk supercell's cell that differ from it by a few atoms;
- the **host reference** for the phase diagram: another host-composition document if given (e.g.
  the converged unit cell), else the bulk supercell;
- **competing phases**: everything else (Cs, Pb, Br2, CsBr, PbBr2, Cs4PbBr6, CsPb2Br5, CsBr3, the
  RP phases ...); or ``--chempots chempots.json`` from an earlier run.

Writes into DIR: ``chempots.json``, ``chemical_potentials.{csv,md,tex}``,
``competing_phases.{csv,md,tex}`` (distances from the hull, RP phases included),
``stability_region.{png,pdf}``,
``formation_energy_<limit>.{png,pdf}`` per chemical-potential limit,
``formation_energies.{csv,md,tex}``, ``transition_levels.{csv,md,tex}`` and ``summary.json``.
When the host is not stable with the given phases it says so (``e_above_hull``) and writes no
formation energies.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from pvatoms.errors import InputError


def add_arguments(parser) -> None:
    """Arguments of ``pvatoms analyse defects``."""
    parser.add_argument("results", nargs="+", metavar="RESULTS",
                        help="job folders (with result.json) or result JSON files: bulk supercell, defects, "
                        "host and competing phases")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--bulk", default=None, metavar="RESULT", help="the perfect supercell (default: the "
                        "largest RESULT with the host composition)")
    parser.add_argument("--host", default="CsPbBr3", help="host formula (default CsPbBr3)")
    parser.add_argument("--chempots", default=None, metavar="JSON", help="chemical-potential limits from an "
                        "earlier run (chempots.json) instead of competing-phase RESULTS")
    parser.add_argument("--dielectric", nargs="+", type=float, default=None, metavar="EPS",
                        help="dielectric constant for charged defects: 1, 3 (diagonal) or 9 values")
    parser.add_argument("--correction", default="freysoldt", help="freysoldt (default) | kumagai | none")
    parser.add_argument("--vbm", type=float, default=None, help="VBM (eV), default from the bulk result")
    parser.add_argument("--band-gap", type=float, default=None, help="band gap (eV), default from the bulk result")
    parser.add_argument("--fermi-level", type=float, default=0.0, help="E_F above the VBM for the table (eV, default 0)")
    parser.add_argument("--temperature", type=float, default=None, metavar="K",
                        help="also solve the self-consistent Fermi level at this temperature (needs --effective-masses)")
    parser.add_argument("--effective-masses", nargs=2, type=float, default=None, metavar=("ME", "MH"),
                        help="electron and hole effective masses (m_e) for the Fermi level")
    parser.add_argument("--max-changes", type=int, default=4, help="largest number of atoms a defect adds or "
                        "removes (default 4)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _dielectric(values):
    if values is None:
        return None
    if len(values) == 1:
        return values[0]
    if len(values) == 3:
        return list(values)
    if len(values) == 9:
        return [list(values[0:3]), list(values[3:6]), list(values[6:9])]
    raise InputError(f"--dielectric takes 1, 3 or 9 numbers, got {len(values)}")


def _formula(doc: dict) -> str:
    from pymatgen.core import Composition

    from pvatoms.analysis.chempots import doc_structure
    atoms = doc_structure(doc, doc.get("_label", "document"))
    return Composition(dict(Counter(atoms.get_chemical_symbols()))).reduced_formula


def sort_documents(docs: list[dict], host: str = "CsPbBr3", bulk: dict | None = None,
                   max_changes: int = 4) -> dict:
    """{"bulk", "host", "defects", "phases"} from a list of result documents (see the module notes)."""
    from pvatoms.analysis.chempots import doc_energy, doc_structure

    from pymatgen.core import Composition
    try:
        host = Composition(host).reduced_formula
    except Exception:
        raise InputError(f"--host {host!r} is not a chemical formula") from None
    formulas = [_formula(d) for d in docs]
    if bulk is None:
        candidates = [d for d, f in zip(docs, formulas) if f == host]
        if not candidates:
            raise InputError(f"missing bulk reference: none of the RESULTS is a {host} calculation (the perfect "
                             f"supercell the defects were made in); found {', '.join(sorted(set(formulas)))}")
        # the perfect supercell: the host document that most other documents are defects of
        bulk = max(candidates, key=lambda c: (sum(_is_defect_of(d, c, max_changes) for d in docs if d is not c),
                                              len(doc_structure(c))))
    out = {"bulk": bulk, "host": None, "defects": [], "phases": []}
    hosts = []
    for d, f in zip(docs, formulas):
        if d is bulk:
            continue
        if f == host:
            hosts.append(d)
        elif _is_defect_of(d, bulk, max_changes):
            out["defects"].append(d)
        else:
            out["phases"].append(d)
    out["host"] = (min(hosts, key=lambda d: doc_energy(d, d.get("_label", "host")) / len(doc_structure(d)))
                   if hosts else bulk)
    return out


def _is_defect_of(doc: dict, bulk: dict, max_changes: int) -> bool:
    import numpy as np

    from pvatoms.analysis.chempots import doc_structure
    from pvatoms.analysis.defects import CELL_TOL
    a, b = doc_structure(doc), doc_structure(bulk)
    cb = np.asarray(b.cell)
    if np.abs(np.asarray(a.cell) - cb).max() > CELL_TOL * np.abs(cb).max():
        return False
    ca, cbn = Counter(a.get_chemical_symbols()), Counter(b.get_chemical_symbols())
    diff = sum(((ca - cbn) + (cbn - ca)).values())
    return 0 < diff <= max_changes


def run(args) -> dict:
    """Run ``pvatoms analyse defects``; returns the summary (also written to DIR/summary.json)."""
    from pvatoms.analysis.chempots import (ChemicalPotentialLimits, chemical_potential_limits,
                                           plot_stability_region, write_chempot_tables)
    from pvatoms.analysis.defects import DefectThermodynamics, read_result, supercell_text
    from pvatoms.results import to_jsonable, write_json_atomic

    outdir = Path(args.output)
    docs = [read_result(p) for p in args.results]
    bulk = None
    if args.bulk:
        bulk = read_result(args.bulk)
        docs = [d for d in docs if d["_folder"] != bulk["_folder"] or d.get("_label") != bulk.get("_label")]
    groups = sort_documents(docs, args.host, bulk, args.max_changes)
    if not groups["defects"]:
        raise InputError(f"no defect among the RESULTS: none is in the bulk supercell "
                         f"({supercell_text(read_bulk_atoms(groups['bulk']))}) with a few atoms added or removed")

    summary = {"bulk": groups["bulk"].get("_label"), "host": groups["host"].get("_label"),
               "defects": [d.get("_label") for d in groups["defects"]],
               "phases": [d.get("_label") for d in groups["phases"]], "files": {}}
    if args.chempots:
        try:
            limits = ChemicalPotentialLimits.from_dict(json.loads(Path(args.chempots).read_text()))
        except (OSError, json.JSONDecodeError, TypeError, KeyError) as exc:
            raise InputError(f"--chempots {args.chempots}: not a chempots.json written by this command ({exc})") from None
    else:
        if not groups["phases"]:
            raise InputError("no competing-phase RESULTS (Cs, Pb, Br2, CsBr, PbBr2, Cs4PbBr6, CsPb2Br5, CsBr3, "
                             "RP phases) and no --chempots: the chemical potentials cannot be bounded")
        from pymatgen.core import Composition
        elements = [str(el) for el in Composition(args.host).elements]
        limits = chemical_potential_limits(groups["host"], {d.get("_label") or f"phase {i}": d
                                                            for i, d in enumerate(groups["phases"])},
                                           elements=elements)
    outdir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(outdir / "chempots.json", limits.as_dict())
    summary["files"]["chempots"] = "chempots.json"
    for key, p in write_chempot_tables(limits, outdir).items():
        summary["files"][key] = [x.name for x in p.values()]
    summary["chemical_potentials"] = {"stable": limits.stable, "e_above_hull": limits.e_above_hull,
                                      "named": limits.named, "limits": limits.limits,
                                      "rp_phases_e_above_hull": limits.rp_phases}
    if not limits.stable:
        summary["status"] = "host unstable"
        summary["message"] = (f"{limits.host} is {limits.e_above_hull:.4f} eV/atom above the convex hull with "
                              f"these phases (decomposes to {', '.join(limits.decomposition)}): no "
                              "chemical-potential limits, no formation energies")
        print(f"pvatoms: {summary['message']}", file=sys.stderr)
        write_json_atomic(outdir / "summary.json", summary)
        return summary
    paths = plot_stability_region(limits, outdir / "stability_region")
    summary["files"]["stability_region"] = [p.name for p in paths.values()]

    thermo = DefectThermodynamics(groups["bulk"], groups["defects"], limits, vbm=args.vbm,
                                  band_gap=args.band_gap, dielectric=_dielectric(args.dielectric),
                                  correction=args.correction, max_changes=args.max_changes)
    for limit, p in thermo.plot_all(outdir).items():
        summary["files"][f"diagram {limit}"] = [x.name for x in p.values()]
    for key, p in thermo.write_tables(outdir, args.fermi_level).items():
        summary["files"][key] = [x.name for x in p.values()]
    summary["transition_levels"] = thermo.transition_levels()
    summary["formation_energies"] = thermo.table_rows(args.fermi_level)
    summary["corrections"] = {f"{e.name} q={e.charge:+d}": e.correction_energy for e in thermo.entries}
    if args.temperature is not None:
        if not args.effective_masses:
            raise InputError("--temperature needs --effective-masses ME MH (units of m_e)")
        summary["fermi_level"] = {limit: thermo.solve_fermi_level(limit, args.temperature, *args.effective_masses)
                                  for limit in thermo.limits}
    summary["status"] = "completed"
    summary = to_jsonable(summary)
    write_json_atomic(outdir / "summary.json", summary)
    if not getattr(args, "json", False):
        for row in thermo.transition_levels():
            print(f"{row['defect']:<16} ({row['q1']:+d}/{row['q2']:+d}) {row['level']:7.3f} eV", file=sys.stderr)
        print(f"pvatoms: tables and diagrams in {outdir}", file=sys.stderr)
    return summary


def read_bulk_atoms(doc):
    from pvatoms.analysis.chempots import doc_structure
    return doc_structure(doc, "bulk")


__all__ = ["add_arguments", "run", "sort_documents"]
