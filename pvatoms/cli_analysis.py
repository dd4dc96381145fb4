"""``pvatoms analyse neb|band-edges``: argument definitions and runners (a shell over
:mod:`pvatoms.analysis.neb` and :mod:`pvatoms.analysis.localization`).

    pvatoms analyse neb runs/V_Br_hop runs/V_Cs_hop -o figures/neb
    pvatoms analyse band-edges runs/boundary-edges -o figures/edges
    pvatoms analyse band-edges runs/V_Br-edges -o figures/vbr --defect-site 1.70 0.38 6.50 \
        --reference runs/perfect-edges

Both take result folders (or ``result.json`` paths) of finished jobs, write figures and tables
into ``-o DIR``, and return a JSON-able report. Heavy modules are imported only when a runner
runs, so building the parser stays fast.
"""

from __future__ import annotations

import sys

_RESULTS_HELP = "job folders (or result.json files) of finished {job} jobs"


def _common(parser, job: str) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULT", help=_RESULTS_HELP.format(job=job))
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--labels", nargs="+", default=None, metavar="LABEL",
                        help="one label per result for tables and file names (default: folder names)")
    parser.add_argument("--skip-failed", action="store_true",
                        help="leave out failed or unfinished results (listed in the report) instead of stopping")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def add_neb_arguments(parser) -> None:
    """Arguments of ``pvatoms analyse neb``."""
    parser.description = ("Migration barriers from NEB results: energy profile per NEB (images and a "
                          "piecewise cubic Hermite fit with slopes from the tangential forces) as PNG/PDF, "
                          "and a barrier table (species, path, hop length, forward/backward barrier, "
                          "backend) as CSV, Markdown and LaTeX (booktabs).")
    _common(parser, "neb")
    parser.add_argument("--caption", default="Migration barriers", help="caption of the LaTeX table")


def add_band_edges_arguments(parser) -> None:
    """Arguments of ``pvatoms analyse band-edges``."""
    parser.description = ("Band-edge localization from band-edges results (cube files): planar averages "
                          "of each state along the stacking axis with the RP / boundary / perovskite "
                          "regions shaded (PNG/PDF/CSV), the fraction of each state in each region, the "
                          "inverse participation ratio, the VBM-CBM centroid offset and a plain statement; "
                          "with --defect-site, the share of each state near the defect and whether it is "
                          "localized.")
    _common(parser, "band-edges")
    parser.add_argument("--states", nargs="+", default=None, metavar="STATE",
                        help="states (cube files of the result) to analyse (default: all, e.g. vbm cbm)")
    parser.add_argument("--stacking-vector", type=int, choices=(1, 2, 3), default=3,
                        help="the cell vector that crosses the layers; planes spanned by the other two "
                        "are averaged (default 3, as `pvatoms build interface` writes cells)")
    parser.add_argument("--defect-site", nargs=3, type=float, default=None, metavar=("X", "Y", "Z"),
                        help="defect (e.g. vacancy) site, Cartesian Å: report each state's share within "
                        "--radius of it")
    parser.add_argument("--radius", type=float, default=4.0, help="sphere radius around the defect site, "
                        "Å (default 4.0)")
    parser.add_argument("--reference", default=None, metavar="RESULT",
                        help="band-edges result of a bulk-like cell (e.g. the perfect supercell) whose "
                        "smallest IPR is the reference for calling a state localized (default: the other "
                        "states of the same result)")
    parser.add_argument("--threshold", type=float, default=3.0,
                        help="localized when IPR / reference IPR exceeds this (default 3)")


def run_neb(args) -> dict:
    """``pvatoms analyse neb``: returns the report of :func:`pvatoms.analysis.neb.analyse_neb`."""
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
    """``pvatoms analyse band-edges``: returns the report of
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


def _skipped(report: dict) -> None:
    for msg in report.get("skipped") or []:
        print(f"skipped: {msg}", file=sys.stderr)


__all__ = ["add_neb_arguments", "add_band_edges_arguments", "run_neb", "run_band_edges"]
