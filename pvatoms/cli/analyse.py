"""``pvatoms analyse defects|neb|band-edges``: figures and tables from finished results.

    pvatoms analyse defects runs/* -o analysis/defects --dielectric 4.8
    pvatoms analyse neb runs/V_Br_hop runs/V_Cs_hop -o figures/neb
    pvatoms analyse band-edges runs/V_Br-edges -o figures/vbr --defect-site 1.70 0.38 6.50 \\
        --reference runs/perfect-edges

Each takes result folders (or result JSON files) of finished jobs, writes figures and tables into
-o DIR and returns the analysis document of :mod:`pvatoms.analysis` (nothing is computed). The
analysis modules are imported only when a runner runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pvatoms.cli.options import (FINITE, POSITIVE, Command, Number, Subcommand, add_json, add_list, add_subcommands,
                                 dispatch, length)
from pvatoms.errors import InputError

DEFECTS_DESCRIPTION = """\
pvatoms analyse defects RESULTS... -o DIR: chemical potentials, formation energies, transition
levels, diagrams and tables from result documents (nothing is computed).

RESULTS are job folders (holding result.json) or result JSON files, in any order. They are
sorted by their structures:

- the bulk supercell: the largest document with the host's composition (--host, default
  CsPbBr3), or --bulk;
- defects: documents in the bulk supercell's cell that differ from it by a few atoms;
- the host reference for the phase diagram: another host-composition document if given (e.g.
  the converged unit cell), else the bulk supercell;
- competing phases: everything else (Cs, Pb, Br2, CsBr, PbBr2, Cs4PbBr6, CsPb2Br5, CsBr3, the
  RP phases ...); or --chempots chempots.json from an earlier run.

Writes into DIR: chempots.json, chemical_potentials.{csv,md,tex}, competing_phases.{csv,md,tex}
(distances from the hull, RP phases included), stability_region.{png,pdf},
formation_energy_<limit>.{png,pdf} per chemical-potential limit, formation_energies.{csv,md,tex},
transition_levels.{csv,md,tex} and summary.json. When the host is not stable with the given
phases it says so (e_above_hull) and writes no formation energies."""

NEB_DESCRIPTION = ("Migration barriers from NEB results: energy profile per NEB (images and a piecewise cubic "
                   "Hermite fit with slopes from the tangential forces) as PNG/PDF, and a barrier table "
                   "(species, path, hop length, forward/backward barrier, backend) as CSV, Markdown and "
                   "LaTeX (booktabs).")

BAND_EDGES_DESCRIPTION = ("Band-edge localization from band-edges results (cube files): planar averages of each "
                          "state along the stacking axis with the RP / boundary / perovskite regions shaded "
                          "(PNG/PDF/CSV), the fraction of each state in each region, the inverse participation "
                          "ratio, the VBM-CBM centroid offset and a plain statement; with --defect-site, the "
                          "share of each state near the defect and whether it is localized.")


# -- defects ---------------------------------------------------------------------------------------

def add_defects_arguments(parser) -> None:
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
    add_list(parser, "--dielectric", "EPS", "dielectric constant for charged defects: 1, 3 (diagonal) or 9 "
             "values", default=None, type=FINITE)
    parser.add_argument("--correction", default="freysoldt", help="freysoldt (default) | kumagai | none")
    parser.add_argument("--vbm", type=FINITE, default=None, help="VBM (eV), default from the bulk result")
    parser.add_argument("--band-gap", type=Number(0, 50, low_open=True, unit="eV"), default=None, help="band gap (eV), default from the bulk result")
    parser.add_argument("--fermi-level", type=Number(-50, 50, unit="eV"), default=0.0, help="E_F above the VBM for the table (eV, default 0)")
    parser.add_argument("--temperature", type=Number(0, 10000, low_open=True, unit="K"), default=None, metavar="K",
                        help="also solve the self-consistent Fermi level at this temperature (needs --effective-masses)")
    parser.add_argument("--effective-masses", nargs=2, type=Number(0, 1000, low_open=True), default=None, metavar=("ME", "MH"),
                        help="electron and hole effective masses (m_e) for the Fermi level")
    parser.add_argument("--max-changes", type=Number(1, 50, integer=True), default=4, help="largest number of atoms a defect adds or "
                        "removes (default 4)")
    add_json(parser, "print the summary as JSON")


def _dielectric(values):
    """--dielectric values -> a number, a diagonal (3) or a 3x3 tensor (9)."""
    if values is None:
        return None
    if len(values) == 1:
        return values[0]
    if len(values) == 3:
        return list(values)
    if len(values) == 9:
        return [list(values[0:3]), list(values[3:6]), list(values[6:9])]
    raise InputError(f"--dielectric takes 1, 3 or 9 numbers, got {len(values)}")


def run_defects(args) -> dict:
    """``pvatoms analyse defects``: read the RESULTS (:func:`pvatoms.schema.read_result`), sort them
    by their structures (:func:`pvatoms.analysis.defects.sort_documents`) and analyse them
    (:func:`pvatoms.analysis.defects.analyse_defects`); returns the analysis document (also
    written to DIR/summary.json)."""
    from pvatoms.analysis.chempots import ChemicalPotentialLimits, doc_structure
    from pvatoms.analysis.defects import analyse_defects, sort_documents, supercell_text
    from pvatoms.schema import read_result

    docs = [read_result(p) for p in args.results]
    bulk = None
    if args.bulk:
        bulk = read_result(args.bulk)
        docs = [d for d in docs if d["_folder"] != bulk["_folder"] or d.get("_label") != bulk.get("_label")]
    groups = sort_documents(docs, args.host, bulk, args.max_changes)
    if not groups["defects"]:
        raise InputError(f"no defect among the RESULTS: none is in the bulk supercell "
                         f"({supercell_text(doc_structure(groups['bulk'], 'bulk'))}) with a few atoms added or removed")
    limits, elements = None, None
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
    if args.temperature is not None and not args.effective_masses:
        raise InputError("--temperature needs --effective-masses ME MH (units of m_e)")

    doc = analyse_defects(args.output, groups["bulk"], groups["defects"], groups["phases"], host=groups["host"],
                          chempots=limits, dielectric=_dielectric(args.dielectric), correction=args.correction,
                          vbm=args.vbm, band_gap=args.band_gap, fermi_level=args.fermi_level,
                          temperature=args.temperature, effective_masses=args.effective_masses,
                          max_changes=args.max_changes, elements=elements)
    if doc["status"] == "host unstable":
        print(f"pvatoms: {doc['message']}", file=sys.stderr)
    elif not getattr(args, "json", False):
        for row in doc["transition_levels"]:
            print(f"{row['defect']:<16} ({row['q1']:+d}/{row['q2']:+d}) {row['level']:7.3f} eV", file=sys.stderr)
        print(f"pvatoms: tables and diagrams in {Path(args.output)}", file=sys.stderr)
    return doc


# -- neb, band-edges --------------------------------------------------------------------------------

def _common(parser, job: str) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULT",
                        help=f"job folders (or result.json files) of finished {job} jobs")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    add_list(parser, "--labels", "LABEL", "one label per result for tables and file names (default: folder "
             "names); may be repeated", default=None)
    parser.add_argument("--skip-failed", action="store_true",
                        help="leave out failed or unfinished results (listed in the report) instead of stopping")
    add_json(parser, "print the report as JSON")


def add_neb_arguments(parser) -> None:
    """Arguments of ``pvatoms analyse neb``."""
    _common(parser, "neb")
    parser.add_argument("--caption", default="Migration barriers", help="caption of the LaTeX table")


def add_band_edges_arguments(parser) -> None:
    """Arguments of ``pvatoms analyse band-edges``."""
    _common(parser, "band-edges")
    add_list(parser, "--states", "STATE", "states (cube files of the result) to analyse (default: all, e.g. "
             "vbm cbm); may be repeated", default=None)
    parser.add_argument("--stacking-vector", type=int, choices=(1, 2, 3), default=3,
                        help="the cell vector that crosses the layers; planes spanned by the other two "
                        "are averaged (default 3, as 'pvatoms build interface' writes cells)")
    parser.add_argument("--defect-site", nargs=3, type=FINITE, default=None, metavar=("X", "Y", "Z"),
                        help="defect (e.g. vacancy) site, Cartesian Å: report each state's share within "
                        "--radius of it")
    parser.add_argument("--radius", type=length(1000), default=4.0, help="sphere radius around the defect site, "
                        "Å (default 4.0)")
    parser.add_argument("--reference", default=None, metavar="RESULT",
                        help="band-edges result of a bulk-like cell (e.g. the perfect supercell) whose "
                        "smallest IPR is the reference for calling a state localized (default: the other "
                        "states of the same result)")
    parser.add_argument("--threshold", type=POSITIVE, default=3.0,
                        help="localized when IPR / reference IPR exceeds this (default 3)")


def _skipped(report: dict) -> None:
    for msg in report.get("skipped") or []:
        print(f"skipped: {msg}", file=sys.stderr)


def run_neb(args) -> dict:
    """``pvatoms analyse neb``: returns the document of :func:`pvatoms.analysis.neb.analyse_neb`."""
    from pvatoms.analysis.neb import analyse_neb

    report = analyse_neb(args.results, args.output, labels=args.labels, skip_failed=args.skip_failed,
                         caption=args.caption)
    if not getattr(args, "json", False):
        for row in report["rows"]:
            print(f"{row['path']:<24} {row['species']:<3} hop {row['hop (Å)']:.2f} Å  "
                  f"E_b {row['E_b forward (eV)']:.3f} eV (back {row['E_b backward (eV)']:.3f} eV)  "
                  f"[{row['backend']}]", file=sys.stderr)
        _skipped(report)
        print(f"-> {report['files']['table']['md']}", file=sys.stderr)
    return report


def run_band_edges(args) -> dict:
    """``pvatoms analyse band-edges``: returns the document of
    :func:`pvatoms.analysis.localization.analyse_band_edges`."""
    from pvatoms.analysis.localization import analyse_band_edges

    report = analyse_band_edges(args.results, args.output, labels=args.labels, states=args.states,
                                axis=args.stacking_vector - 1, site=args.defect_site, radius=args.radius,
                                reference=args.reference, threshold=args.threshold,
                                skip_failed=args.skip_failed)
    if not getattr(args, "json", False):
        for res in report["results"]:
            print(f"{res['label']}: {res['statement']}", file=sys.stderr)
            if args.defect_site is not None or len(res["states"]) != 2 or "vbm" not in res["states"]:
                for st in res["states"].values():
                    print(f"  {st['localization']}", file=sys.stderr)
        _skipped(report)
        print(f"-> {report['files']['table']['md']}", file=sys.stderr)
    return report


ANALYSES = {
    "defects": Subcommand("chemical potentials, formation energies, transition levels, diagrams, tables",
                          add_defects_arguments, run_defects, DEFECTS_DESCRIPTION,
                          argparse.RawDescriptionHelpFormatter),
    "neb": Subcommand("barrier table and energy profiles of NEB results", add_neb_arguments, run_neb,
                      NEB_DESCRIPTION),
    "band-edges": Subcommand("where the VBM/CBM or a defect state live", add_band_edges_arguments,
                             run_band_edges, BAND_EDGES_DESCRIPTION),
}


class Analyse(Command):
    help = "figures and tables from finished results (defects, neb, band-edges)"

    @staticmethod
    def add_arguments(parser):
        add_subcommands(parser, "analysis", "WHAT", ANALYSES)

    @staticmethod
    def run(args):
        return dispatch(args, "analysis", ANALYSES)
