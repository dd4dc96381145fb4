"""The ``pvatoms`` command: a thin shell over the Python API.

    pvatoms build bulk --phase pnma -o CsPbBr3.cif --json
    pvatoms build rp --n 1 -o Cs2PbBr4.vasp
    pvatoms build interface --rp-n 1 --rp-layers 1 --perovskite-layers 3 -o boundary.extxyz
    pvatoms build defects CsPbBr3.cif --vacancy Br Pb Cs --supercell 2 2 2 -o defects/
    pvatoms demo -o pvatoms-demo
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pvatoms import __version__
from pvatoms.errors import InputError

EPILOG = """Every build command writes its structure with -o (format from the extension: .cif, .vasp or
POSCAR, .extxyz; only extxyz keeps per-atom labels) and, with --json, prints one JSON report.
Run `pvatoms build KIND --help` for the options of each builder."""


def _supercell(p):
    p.add_argument("--supercell", nargs=3, type=int, metavar=("A", "B", "C"), default=(1, 1, 1),
                   help="repeat the cell A x B x C times (default 1 1 1)")


def _out(p, what="FILE"):
    p.add_argument("-o", "--output", required=True, metavar=what,
                   help="where to write (.cif, .vasp/POSCAR, .extxyz)" if what == "FILE" else "output folder")
    p.add_argument("--json", action="store_true", help="print a JSON report on stdout")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pvatoms", description="Structures and DFT workflows for lead "
                                 "halide perovskites (CsPbBr3, Ruddlesden-Popper phases, their boundaries, defects).",
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"pvatoms {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    b = sub.add_parser("build", help="build a structure (bulk, rp, interface, defects)",
                       description="Build structures. " + EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    bs = b.add_subparsers(dest="kind", metavar="KIND")
    bs.required = True

    p = bs.add_parser("bulk", help="bulk CsPbBr3: Pnma (room temperature), tetragonal, cubic")
    p.add_argument("--phase", default="pnma", help="pnma (default) | tetragonal | cubic")
    p.add_argument("--lattice", default="pbe", help="pbe (default, PBE-relaxed reference) | experiment")
    _supercell(p)
    _out(p)

    p = bs.add_parser("rp", help="Ruddlesden-Popper Cs(n+1)Pb(n)Br(3n+1)")
    p.add_argument("--n", type=int, required=True, help="block thickness in octahedra: 1 (Cs2PbBr4), 2, 3")
    p.add_argument("--tilted", action="store_true", help="blocks from the tilted Pnma framework "
                   "(default: untilted, I4/mmm)")
    p.add_argument("--lattice", default="pbe", help="pbe | experiment (parent perovskite lattice)")
    p.add_argument("--gap", type=float, default=3.5, help="rock-salt CsBr plane spacing, Å (default 3.5)")
    _supercell(p)
    _out(p)

    p = bs.add_parser("interface", help="periodic RP / Pnma CsPbBr3 phase-boundary supercell",
                      description="Coherent RP/orthorhombic CsPbBr3 supercell with two boundaries. "
                      "Atoms are labelled rp / boundary / perovskite (kept in .extxyz). With the tilted "
                      "Pnma framework the total number of octahedral layers, K + M*n, must be even; M "
                      "odd gives an orthogonal cell (M even: an oblique stacking vector).")
    p.add_argument("--rp-n", type=int, default=1, help="RP member n (default 1: Cs2PbBr4)")
    p.add_argument("--rp-layers", type=int, default=1, help="number M of RP blocks (default 1)")
    p.add_argument("--perovskite-layers", type=int, default=3, help="number K of octahedral layers of "
                   "Pnma CsPbBr3 (default 3)")
    p.add_argument("--axis", default="b", help="stacking axis of the Pnma cell: b (default, long axis), "
                   "a or c (the pseudocubic axis in the a-c plane next to it)")
    p.add_argument("--lattice", default="pbe", help="pbe | experiment")
    p.add_argument("--strain-on", default="rp", help="side that adopts the other's in-plane lattice: "
                   "rp (default) | perovskite | shared")
    p.add_argument("--rp-in-plane", type=float, default=None, help="unstrained pseudocubic in-plane "
                   "lattice constant of the RP phase, Å (default: that of the perovskite)")
    p.add_argument("--gap", type=float, default=3.5, help="rock-salt CsBr plane spacing, Å (default 3.5)")
    p.add_argument("--boundary-width", type=float, default=2.5, help="atoms this close (Å) to a "
                   "boundary plane are labelled 'boundary' (default 2.5)")
    p.add_argument("--supercell", nargs=2, type=int, metavar=("A", "B"), default=(1, 1),
                   help="in-plane repeats of the interface cell (default 1 1)")
    _out(p)

    p = bs.add_parser("defects", help="symmetry-distinct point defects of a structure, one file each",
                      description="Enumerate symmetry-distinct defects of INPUT and write one supercell "
                      "per defect, the perfect supercell, and a defects.json index into the output folder.")
    p.add_argument("input", metavar="INPUT", help="host structure file (.cif, .vasp, .extxyz)")
    p.add_argument("--vacancy", nargs="+", default=[], metavar="EL", help="e.g. Br Cs Pb")
    p.add_argument("--interstitial", nargs="+", default=[], metavar="EL", help="e.g. Br Pb Cs")
    p.add_argument("--antisite", nargs="+", default=[], metavar="A_B", help="A on a B site, e.g. Pb_Cs")
    p.add_argument("--complex", nargs="+", default=[], metavar="NAME",
                   help="schottky-PbBr2 | schottky-CsBr")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--supercell", nargs=3, type=int, metavar=("A", "B", "C"), default=None)
    g.add_argument("--min-length", type=float, default=None, metavar="L",
                   help="smallest diagonal supercell with all cell heights >= L Å")
    p.add_argument("--region", default=None, help="only defects in this region (rp | boundary | perovskite)")
    p.add_argument("--max-distance-from-boundary", type=float, default=None, metavar="D",
                   help="only defects within D Å of a boundary plane")
    p.add_argument("--interstitial-sites", type=int, default=3, metavar="N",
                   help="largest N distinct voids used for interstitials (default 3)")
    p.add_argument("--format", default="extxyz", help="file format of the defect cells: extxyz "
                   "(default, keeps labels) | vasp | cif")
    _out(p, "DIR")

    from pvatoms import cli_surfaces
    cli_surfaces.add_build_parsers(bs)
    cli_surfaces.add_top_parsers(sub)

    r = sub.add_parser("run", help="run one calculation job (relax, static, neb, phonons, band-edges)",
                       description="Run one job in the folder given with -o. The folder gets result.json "
                       "(the result document: energies, forces, structure, band edges, files, backend + "
                       "model + settings, wall time, status). A folder whose result says completed is "
                       "not recomputed. Exit code 1 when the calculation failed (the reason is recorded).")
    rs = r.add_subparsers(dest="job", metavar="JOB")
    rs.required = True
    for job, helptext in (("relax", "relax positions (and the cell with --cell)"),
                          ("static", "single point; DFT backends add the band edges"),
                          ("neb", "climbing-image NEB between two endpoints with the same atom order"),
                          ("phonons", "phonopy finite displacements: bands, DOS, imaginary modes"),
                          ("band-edges", "VBM/CBM band-decomposed densities as cube files (gpaw, vasp)")):
        p = rs.add_parser(job, help=helptext)
        if job == "neb":
            p.add_argument("initial", help="initial endpoint structure file")
            p.add_argument("final", help="final endpoint structure file (same atoms, same order)")
            p.add_argument("--images", type=int, default=5, help="intermediate images (default 5)")
            p.add_argument("--no-climb", action="store_true", help="plain NEB, no climbing image")
            p.add_argument("--no-relax-endpoints", action="store_true", help="use the endpoints as given")
            p.add_argument("--fmax", type=float, default=0.05, help="force criterion, eV/Å (default 0.05)")
        else:
            p.add_argument("structure", help="structure file (.cif, .vasp/POSCAR, .extxyz)")
        if job == "relax":
            p.add_argument("--cell", action="store_true", help="also relax the cell (FrechetCellFilter)")
            p.add_argument("--fmax", type=float, default=0.02, help="force criterion, eV/Å (default 0.02)")
        if job in ("relax", "neb"):
            p.add_argument("--steps", type=int, default=None, help="optimiser step limit")
        if job in ("relax", "static", "band-edges"):
            p.add_argument("--charge", type=int, default=0, help="cell charge in e (+1: one electron "
                           "removed); DFT backends only")
        if job == "phonons":
            p.add_argument("--supercell", nargs=3, type=int, metavar=("A", "B", "C"), default=None,
                           help="phonon supercell (default: all heights >= 10 Å)")
            p.add_argument("--displacement", type=float, default=0.01, help="Å (default 0.01)")
        if job == "band-edges":
            p.add_argument("--bands", nargs="+", default=["vbm", "cbm"], help="states to write (default vbm cbm)")
        p.add_argument("--backend", default="sevennet", help="sevennet (default) | chgnet | mlip | gpaw | vasp")
        p.add_argument("--model", default=None, help="model file or name for the MLIP backends")
        p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="backend setting, repeatable (e.g. ecut=500, kpts=[4,4,4], soc=true, "
                       "potcar=spec)")
        p.add_argument("--force", action="store_true", help="recompute even if the folder holds a completed result")
        p.add_argument("-o", "--output", required=True, metavar="DIR", help="job folder")
        p.add_argument("--json", action="store_true", help="print the result document")

    def _lp_args(p):
        p.add_argument("--store", default=None, metavar="PATH", help="embedded LaunchPad folder (default: "
                       "$PVATOMS_STORE or ~/.local/share/pvatoms/store)")
        p.add_argument("--launchpad", default=None, metavar="FILE", help="my_launchpad.yaml of a MongoDB server")

    p = sub.add_parser("submit", help="add a study (workflows/*.yaml) to the LaunchPad")
    p.add_argument("spec", metavar="SPEC.yaml", help="study spec (see workflows/)")
    p.add_argument("--folder", default=None, metavar="DIR", help="run folder (default: the spec's "
                   "'folder', else runs/NAME; relative to the current directory)")
    _lp_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON report")
    p = sub.add_parser("launch", help="run READY fireworks locally until none is left")
    _lp_args(p)
    p.add_argument("--max-jobs", type=int, default=None, metavar="N", help="stop after N fireworks")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p = sub.add_parser("status", help="state of every firework")
    _lp_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object: counts and fireworks")
    p = sub.add_parser("rerun", help="send FIZZLED fireworks (or the given ids) back to READY")
    _lp_args(p)
    p.add_argument("--fizzled", action="store_true", help="all FIZZLED fireworks")
    p.add_argument("fw_ids", nargs="*", type=int, help="firework ids")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("report", help="collect finished results into tables (CSV, Markdown, LaTeX)")
    _lp_args(p)
    p.add_argument("-o", "--output", default="report", metavar="DIR", help="output folder (default ./report)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("qlaunch", help="submit rockets to SLURM/PBS (workflows/queue/*.yaml)")
    _lp_args(p)
    p.add_argument("--queue", required=True, metavar="FILE", help="queue template, e.g. workflows/queue/slurm.yaml")
    p.add_argument("-n", "--njobs", type=int, default=1, help="number of queue jobs (default 1)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("fw", help="run a FireWorks tool (lpad, rlaunch, ...) on the embedded store, safely",
                       description="Run FireWorks' own tool on the embedded store, under its lock, on a "
                       "private copy that replaces the store only if the tool succeeds. Example: "
                       "pvatoms fw lpad get_fws -s COMPLETED")
    p.add_argument("--store", default=None, metavar="PATH", help="embedded store (default as for launch)")
    p.add_argument("tool", help="lpad | rlaunch | qlaunch | mlaunch")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the tool")

    from pvatoms.cli_analysis import add_band_edges_arguments, add_neb_arguments
    a = sub.add_parser("analyse", help="figures and tables from finished results (defects, neb, band-edges)")
    asub = a.add_subparsers(dest="analysis", metavar="WHAT")
    asub.required = True
    add_neb_arguments(asub.add_parser("neb", help="barrier table and energy profiles of NEB results"))
    add_band_edges_arguments(asub.add_parser("band-edges", help="where the VBM/CBM or a defect state live"))
    from pvatoms import cli_analysis_defects
    cli_analysis_defects.add_arguments(asub.add_parser(
        "defects", help="chemical potentials, formation energies, transition levels, diagrams, tables",
        description=cli_analysis_defects.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))

    p = sub.add_parser("demo", help="the main job: the Pb-leakage study end to end on the embedded "
                       "defaults (FireWorks store, SevenNet-0, GPAW), with REPORT.md and report.html")
    p.add_argument("-o", "--output", default="pvatoms-demo", help="run folder (default ./pvatoms-demo)")
    p.add_argument("--quick", action="store_true", help="a first look in a few minutes: CHGNet, unit "
                   "cells, coarse GPAW settings")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "ligands" or getattr(args, "kind", None) in ("slab", "ligands", "nanocrystal"):
            from pvatoms import cli_surfaces
            doc = cli_surfaces.run(args)
        elif args.command == "build":
            from pvatoms import commands
            doc = commands.build(args)
        elif args.command == "run":
            from pvatoms import commands
            doc = commands.run_job_command(args)
        elif args.command == "analyse":
            if args.analysis == "defects":
                from pvatoms import cli_analysis_defects
                doc = cli_analysis_defects.run(args)
            else:
                from pvatoms import cli_analysis
                doc = cli_analysis.run_neb(args) if args.analysis == "neb" else cli_analysis.run_band_edges(args)
        elif args.command == "fw":
            from pvatoms.fw.store import EmbeddedStore
            from pvatoms.fw.tools import run_tool
            return run_tool(EmbeddedStore(args.store), args.tool, args.args)
        elif args.command in ("submit", "launch", "status", "rerun", "report", "qlaunch"):
            doc = _workflow_command(args)
        elif args.command == "demo":
            from pvatoms import demo
            doc = demo.run(Path(args.output), quick=args.quick, as_json=args.json)
        else:  # pragma: no cover - argparse enforces the choices
            raise InputError(f"unknown command {args.command!r}")
    except InputError as exc:
        print(f"pvatoms: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Everything finished is already on disk (atomic result.json, store transactions); a
        # calculation thread may still be inside a C++ library, so leave without interpreter teardown.
        print("\npvatoms: interrupted; finished calculations are saved, run the same command again to "
              "resume", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)
    if getattr(args, "json", False):
        from pvatoms.io import dumps
        print(dumps(doc))
    if args.command == "run" and doc.get("status") != "completed":
        print(f"pvatoms: {args.job} failed: {doc.get('reason')}", file=sys.stderr)
        return 1
    return 0


def _workflow_command(args) -> dict:
    from pvatoms.fw import commands as fwc
    from pvatoms.fw.launchpads import Target
    target = Target(args.store, args.launchpad)
    if args.command == "submit":
        doc = fwc.submit(args.spec, target, args.folder)
        if not args.json:
            print(f"submitted {doc['workflow']}: {doc['n_fireworks']} fireworks (ids {doc['fw_ids'][0]}-"
                  f"{doc['fw_ids'][-1]}) to {doc['launchpad']}; results in {doc['folder']}", file=sys.stderr)
            for note in doc["notes"]:
                print(f"  note: {note}", file=sys.stderr)
    elif args.command == "launch":
        doc = fwc.launch(target, args.max_jobs, quiet=args.quiet)
        if not args.json and not args.quiet:
            print(f"launch finished: {doc}", file=sys.stderr)
    elif args.command == "status":
        doc = fwc.status(target)
        if not args.json:
            fwc.print_status(doc)
    elif args.command == "rerun":
        doc = fwc.rerun(target, args.fizzled, args.fw_ids)
    elif args.command == "report":
        doc = fwc.report(target, args.output)
        if not args.json:
            print(f"{len(doc['rows'])} results -> {doc['files'].get('md')}", file=sys.stderr)
    else:
        doc = fwc.qlaunch(target, args.queue, args.njobs)
        if not args.json:
            print(f"submitted {len(doc['jobs'])} {doc['queue']} job(s): "
                  f"{', '.join(j['job_id'] for j in doc['jobs'])}", file=sys.stderr)
    return doc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
