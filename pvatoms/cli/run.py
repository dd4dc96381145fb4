"""``pvatoms run JOB``: one calculation job (relax, static, neb, phonons, band-edges) in a folder.

    pvatoms run relax CsPbBr3.cif --cell --backend chgnet -o relax/
    pvatoms run neb initial.extxyz final.extxyz --images 5 -o neb/
    pvatoms run static CsPbBr3.cif --backend gpaw --option ecut=400 --option kpts=[4,4,4] -o gap/

The folder gets result.json (see :mod:`pvatoms.schema`); exit status 1 when the job failed.
"""

from __future__ import annotations

import sys

from pvatoms.cli.options import CHARGE, FORCE, STEPS, Command, Number, add_json, add_list
from pvatoms.errors import InputError

DESCRIPTION = ("Run one job in the folder given with -o. The folder gets result.json (the result document: "
               "energies, forces, structure, band edges, files, backend + model + settings, wall time, "
               "status). A folder whose result says completed is not recomputed. Exit code 1 when the "
               "calculation failed (the reason is recorded).")

JOBS = {
    "relax": "relax positions (and the cell with --cell)",
    "static": "single point; DFT backends add the band edges",
    "neb": "climbing-image NEB between two endpoints with the same atom order",
    "phonons": "phonopy finite displacements: bands, DOS, imaginary modes",
    "band-edges": "VBM/CBM band-decomposed densities as cube files (gpaw, vasp)",
}
DEFAULT_BANDS = ("vbm", "cbm")


def add_job_arguments(p, job: str) -> None:
    """The arguments of ``pvatoms run JOB``."""
    if job == "neb":
        p.add_argument("initial", help="initial endpoint structure file")
        p.add_argument("final", help="final endpoint structure file (same atoms, same order)")
        p.add_argument("--images", type=Number(1, 50, integer=True), default=5, help="intermediate images (default 5)")
        p.add_argument("--no-climb", action="store_true", help="plain NEB, no climbing image")
        p.add_argument("--no-relax-endpoints", action="store_true", help="use the endpoints as given")
        p.add_argument("--fmax", type=FORCE, default=0.05, help="force criterion, eV/Å (default 0.05)")
        p.add_argument("--evaluation", choices=("auto", "batched", "separate"), default="auto",  # = jobs.neb.EVALUATIONS
                       help="batched: the images of a band step in one model call (SevenNet, CHGNet); "
                            "separate: one calculator per image; auto (default): batched where possible")
    else:
        p.add_argument("structure", help="structure file (.cif, .vasp/POSCAR, .extxyz)")
    if job == "relax":
        p.add_argument("--cell", action="store_true", help="also relax the cell (FrechetCellFilter)")
        p.add_argument("--fmax", type=FORCE, default=0.02, help="force criterion, eV/Å (default 0.02)")
        p.add_argument("--smax", type=Number(0, 1, low_open=True, unit="eV/Å^3"), default=0.002,
                       help="with --cell: stress criterion, eV/Å^3 (default 0.002 = 0.32 GPa), checked "
                            "when fmax is met")
    if job in ("relax", "neb"):
        p.add_argument("--steps", type=STEPS, default=None, help="optimiser step limit")
    if job in ("relax", "static", "band-edges"):
        p.add_argument("--charge", type=CHARGE, default=0, help="cell charge in e (+1: one electron "
                       "removed); DFT backends only")
    if job == "phonons":
        p.add_argument("--supercell", nargs=3, type=Number(1, 20, integer=True), metavar=("A", "B", "C"), default=None,
                       help="phonon supercell (default: all heights >= 10 Å)")
        p.add_argument("--displacement", type=Number(0.001, 0.1, unit="Å"), default=0.01, help="Å (default 0.01)")
    if job == "band-edges":
        add_list(p, "--bands", "STATE", "states to write (default vbm cbm; repeatable)", default=None)
    p.add_argument("--backend", default="sevennet", help="sevennet (default) | chgnet | mlip | gpaw | vasp")
    p.add_argument("--model", default=None, help="model file or name for the MLIP backends")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backend setting, repeatable (e.g. ecut=500, kpts=[4,4,4], soc=true, potcar=spec)")
    p.add_argument("--force", action="store_true",
                   help="recompute from the start even if the folder holds a completed result (an earlier "
                        "trajectory is renamed *.set-aside-<time>, not continued)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="job folder")
    add_json(p, "print the result document")


def backend_settings(args) -> dict:
    """--model and --option KEY=VALUE (values parsed as YAML: numbers, lists, booleans)."""
    import yaml
    settings = {}
    if getattr(args, "model", None):
        settings["model"] = args.model
    for item in args.option:
        if "=" not in item:
            raise InputError(f"--option {item!r} must be KEY=VALUE")
        key, value = item.split("=", 1)
        settings[key.strip()] = yaml.safe_load(value)
    return settings


def run_job(args) -> dict:
    """Read the structure(s), run the job, print one line (unless --json); return the result document."""
    from pvatoms import jobs
    from pvatoms.io import read_structure
    from pvatoms.jobs.common import resolve_backend
    try:
        backend = resolve_backend(args.backend, **backend_settings(args))
    except TypeError as exc:
        raise InputError(f"unknown setting for backend {args.backend!r}: {exc}") from None
    common = {"backend": backend, "force": args.force}
    steps = {} if getattr(args, "steps", None) is None else {"steps": args.steps}
    if args.job == "neb":
        doc = jobs.neb(read_structure(args.initial), read_structure(args.final), args.output,
                       n_images=args.images, fmax=args.fmax, climb=not args.no_climb,
                       relax_endpoints=not args.no_relax_endpoints, evaluation=args.evaluation, **steps, **common)
    else:
        atoms = read_structure(args.structure)
        if args.job == "relax":
            doc = jobs.relax(atoms, args.output, cell=args.cell, fmax=args.fmax, smax=args.smax,
                             charge=args.charge, **steps, **common)
        elif args.job == "static":
            doc = jobs.static(atoms, args.output, charge=args.charge, **common)
        elif args.job == "phonons":
            doc = jobs.phonons(atoms, args.output, supercell=args.supercell,
                               displacement=args.displacement, **common)
        else:
            from pvatoms.jobs.band_edges import run_band_edges
            doc = run_band_edges(atoms, args.output, backend=backend, bands=tuple(args.bands or DEFAULT_BANDS),
                                 force=args.force, charge=args.charge)
    if not args.json:
        print(f"{_summary_line(args.job, doc)} -> {args.output}/result.json  [{doc['backend'].get('model')}]",
              file=sys.stderr)
    return doc


def _summary_line(job: str, doc: dict) -> str:
    line = f"{job} {doc['status']}"
    if doc.get("energy") is not None:
        line += f": E = {doc['energy']:.6f} eV"
    data = doc.get("data") or {}
    if "barrier_forward" in data:
        line += f", barrier {data['barrier_forward']:.3f} eV (back {data['barrier_backward']:.3f} eV)"
    if doc.get("band_edges"):
        be = doc["band_edges"]
        line += f", gap {be['gap']:.3f} eV ({'direct' if be.get('direct') else 'indirect'})"
    if "summary" in data:
        line += f"; {data['summary']}"
    return line


class Run(Command):
    help = "run one calculation job (relax, static, neb, phonons, band-edges)"
    description = DESCRIPTION

    @staticmethod
    def add_arguments(parser):
        sub = parser.add_subparsers(dest="job", metavar="JOB", required=True)
        for job, helptext in JOBS.items():
            add_job_arguments(sub.add_parser(job, help=helptext, description=helptext), job)

    @staticmethod
    def run(args):
        return run_job(args)

    @staticmethod
    def exit_code(args, doc) -> int:
        if doc.get("status") != "completed":
            print(f"pvatoms: {args.job} failed: {doc.get('reason')}", file=sys.stderr)
            return 1
        return 0
