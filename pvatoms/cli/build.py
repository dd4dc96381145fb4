"""``pvatoms build KIND``: bulk, rp, interface, defects, neb-endpoints, slab, ligands, nanocrystal.

    pvatoms build bulk --phase pnma -o CsPbBr3.cif --json
    pvatoms build rp --n 1 -o Cs2PbBr4.vasp
    pvatoms build interface --rp-n 1 --rp-layers 1 --perovskite-layers 3 -o boundary.extxyz
    pvatoms build defects CsPbBr3.cif --vacancy Br Pb Cs --supercell 2 2 2 -o defects/
    pvatoms build neb-endpoints CsPbBr3.cif --element Br --site 8d --to nearest-equivalent -o hop/
    pvatoms build slab CsPbBr3.cif --miller 0 1 0 --layers 4 --termination PbBr2 --vacuum 20 -o s.extxyz
    pvatoms build ligands s.extxyz --ligand acetate --coverage 0.5 --site pb --neutral -o capped.extxyz
    pvatoms build nanocrystal --edge 10.7 --ligand oleylammonium --coverage 0.5 -o dot.extxyz

Each runner writes the structure, prints one line on stderr (unless --json) and returns the JSON
report (:func:`pvatoms.build.common.summary`). The builders are imported only when one runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pvatoms.cli.options import (COUNT, FRACTION, INTEGER, NON_NEGATIVE, SEED, Command, Number, Subcommand,
                                 add_json, add_list, add_output_file, add_subcommands, add_supercell, dispatch,
                                 length)
from pvatoms.errors import InputError, check_choice

EPILOG = """Every build command writes its structure with -o (format from the extension: .cif, .vasp or
POSCAR, .extxyz; only extxyz keeps per-atom labels) and, with --json, prints one JSON report.
Run pvatoms build KIND --help for the options of each builder."""

_LABELLED_OUT = "where to write (.extxyz keeps the labels; .cif, .vasp/POSCAR)"


def _write(atoms, path, extra=None, spacegroup=True):
    """Write ``atoms`` to ``path``; return (path written, JSON report)."""
    from pvatoms.build.common import summary
    from pvatoms.io import write_structure
    out = write_structure(atoms, path)
    if not spacegroup:
        extra = dict(extra or {}, spacegroup=None)
    return out, summary(atoms, outputs=[out], extra=extra)


def _report_line(args, doc, path) -> dict:
    if not args.json:
        sg = doc["spacegroup"] or {}
        print(f"{doc['formula']} ({doc['natoms']} atoms, {sg.get('symbol', '?')}) -> {path}", file=sys.stderr)
    return doc


# -- bulk, rp, interface --------------------------------------------------------------------------

def _bulk_arguments(p):
    p.add_argument("--phase", default="pnma", help="pnma (default) | tetragonal | cubic")
    p.add_argument("--lattice", default="pbe", help="pbe (default, PBE-relaxed reference) | experiment")
    add_supercell(p)
    add_output_file(p)


def _bulk(args) -> dict:
    from pvatoms.build import cspbbr3
    path, doc = _write(cspbbr3(args.phase, args.lattice, tuple(args.supercell)), args.output)
    return _report_line(args, doc, path)


def _rp_arguments(p):
    p.add_argument("--n", type=INTEGER, required=True, help="block thickness in octahedra: 1 (Cs2PbBr4), 2, 3")
    p.add_argument("--tilted", action="store_true", help="blocks from the tilted Pnma framework "
                   "(default: untilted, I4/mmm)")
    p.add_argument("--lattice", default="pbe", help="pbe | experiment (parent perovskite lattice)")
    p.add_argument("--gap", type=length(20), default=3.5, help="rock-salt CsBr plane spacing, Å (default 3.5)")
    add_supercell(p)
    add_output_file(p)


def _rp(args) -> dict:
    from pvatoms.build import ruddlesden_popper
    atoms = ruddlesden_popper(args.n, args.tilted, args.lattice, tuple(args.supercell), gap=args.gap)
    path, doc = _write(atoms, args.output)
    return _report_line(args, doc, path)


def _interface_arguments(p):
    p.add_argument("--rp-n", type=COUNT, default=1, help="RP member n (default 1: Cs2PbBr4)")
    p.add_argument("--rp-layers", type=COUNT, default=1, help="number M of RP blocks (default 1)")
    p.add_argument("--perovskite-layers", type=COUNT, default=3, help="number K of octahedral layers of "
                   "Pnma CsPbBr3 (default 3)")
    p.add_argument("--axis", default="b", help="stacking axis of the Pnma cell: b (default, long axis), "
                   "a or c (the pseudocubic axis in the a-c plane next to it)")
    p.add_argument("--lattice", default="pbe", help="pbe | experiment")
    p.add_argument("--strain-on", default="rp", help="side that adopts the other's in-plane lattice: "
                   "rp (default) | perovskite | shared")
    p.add_argument("--rp-in-plane", type=length(20), default=None, help="unstrained pseudocubic in-plane "
                   "lattice constant of the RP phase, Å (default: that of the perovskite)")
    p.add_argument("--gap", type=length(20), default=3.5, help="rock-salt CsBr plane spacing, Å (default 3.5)")
    p.add_argument("--boundary-width", type=length(100, low_open=False), default=2.5, help="atoms this close (Å) to a "
                   "boundary plane are labelled 'boundary' (default 2.5)")
    add_supercell(p, 2, (1, 1), help="in-plane repeats of the interface cell (default 1 1)")
    add_output_file(p)


def _interface(args) -> dict:
    from pvatoms.build import rp_interface
    atoms = rp_interface(args.rp_n, args.rp_layers, args.perovskite_layers, axis=args.axis,
                         lattice=args.lattice, strain_on=args.strain_on, rp_in_plane=args.rp_in_plane,
                         gap=args.gap, boundary_width=args.boundary_width, supercell=tuple(args.supercell))
    path, doc = _write(atoms, args.output, {"interface": atoms.info["interface"]})
    return _report_line(args, doc, path)


# -- defects ---------------------------------------------------------------------------------------

def _defects_arguments(p):
    p.add_argument("input", metavar="INPUT", help="host structure file (.cif, .vasp, .extxyz)")
    add_list(p, "--vacancy", "EL", "e.g. Br Cs Pb (repeatable)")
    add_list(p, "--interstitial", "EL", "e.g. Br Pb Cs (repeatable)")
    add_list(p, "--antisite", "A_B", "A on a B site, e.g. Pb_Cs (repeatable)")
    add_list(p, "--complex", "NAME", "schottky-PbBr2 | schottky-CsBr (repeatable)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--supercell", nargs=3, type=Number(1, 50, integer=True), metavar=("A", "B", "C"), default=None)
    g.add_argument("--min-length", type=length(100), default=None, metavar="L",
                   help="smallest diagonal supercell with all cell heights >= L Å")
    p.add_argument("--region", default=None, help="only defects in this region (rp | boundary | perovskite)")
    p.add_argument("--max-distance-from-boundary", type=NON_NEGATIVE, default=None, metavar="D",
                   help="only defects within D Å of a boundary plane")
    p.add_argument("--interstitial-sites", type=Number(1, 100, integer=True), default=3, metavar="N",
                   help="largest N distinct voids used for interstitials (default 3)")
    p.add_argument("--format", default="extxyz", help="file format of the defect cells: extxyz "
                   "(default, keeps labels) | vasp | cif")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    add_json(p)


def _defects(args) -> dict:
    from pvatoms.build import defects_supercell, point_defects
    from pvatoms.build.common import summary
    from pvatoms.io import read_structure, write_defect_set
    host = read_structure(args.input)
    supercell = tuple(args.supercell) if args.supercell else None
    defects = point_defects(host, vacancies=args.vacancy, interstitials=args.interstitial,
                            antisites=args.antisite, complexes=args.complex, supercell=supercell,
                            min_length=args.min_length, region=args.region,
                            max_distance_from_boundary=args.max_distance_from_boundary,
                            max_interstitial_sites=args.interstitial_sites)
    if not defects:
        raise InputError("no defect matched the request (check --region / --max-distance-from-boundary "
                         "and the defect options: give at least one of --vacancy, --interstitial, "
                         "--antisite, --complex)")
    perfect = defects_supercell(host, supercell, args.min_length)
    outdir = Path(args.output)
    index = write_defect_set(defects, perfect, outdir, args.format, extra={"input": str(args.input)})
    keys = ("name", "site", "wyckoff", "multiplicity", "region", "boundary_distance", "charges", "file")
    doc = summary(perfect, outputs=[outdir / "defects.json"],
                  extra={"defects": [{k: d[k] for k in keys} for d in index["defects"]]})
    if not args.json:
        for d in index["defects"]:
            print(f"{d['name']:<22} {str(d['site']):<34} x{d['multiplicity']:<3} q={d['charges']} "
                  f"-> {outdir / d['file']}", file=sys.stderr)
    return doc


# -- neb-endpoints -----------------------------------------------------------------------------------

NEB_ENDPOINTS_DESCRIPTION = (
    "NEB endpoints for a vacancy hop in a supercell of HOST: DIR/initial.* (vacancy on the starting site) "
    "and DIR/final.* (the neighbouring atom moved into it) hold the same atoms in the same order, so "
    "exactly one atom moves between them, by the hop distance. DIR/endpoints.json records the hop: atom "
    "indices in the perfect supercell (site_from: the vacancy, site_to: the atom that hops), the index of "
    "the moving atom in the endpoint cells, the hop distance in Å and the name. Two vacancy cells built "
    "separately (pvatoms build defects) are not endpoints: their atom orders differ.")

ENDPOINTS_INDEX = "endpoints.json"


def _neb_endpoints_arguments(p):
    p.add_argument("input", metavar="HOST", help="host structure file (.cif, .vasp, .extxyz), e.g. the "
                   "unit cell")
    p.add_argument("--element", required=True, help="element of the vacancy that hops, e.g. Br")
    p.add_argument("--site", default=None, help="Wyckoff label of the starting site, e.g. 8d (default: "
                   "the first distinct site of the element)")
    p.add_argument("--to", default="nearest", help="nearest (default: the nearest site of the element) | "
                   "nearest-equivalent (the nearest symmetry-equivalent site)")
    p.add_argument("--cutoff", type=length(20), default=5.0, help="largest hop length considered, Å (default 5)")
    add_supercell(p, 3, (2, 2, 2))
    p.add_argument("--format", default="extxyz", help="file format of the endpoints: extxyz (default, "
                   "keeps provenance) | vasp")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    add_json(p)


def _neb_endpoints(args) -> dict:
    from pvatoms.build.common import summary
    from pvatoms.build.migration import HOP_TARGETS, neb_endpoints
    from pvatoms.io import StagedFolder, read_structure, write_json_atomic, write_structure
    check_choice("--to", args.to, HOP_TARGETS)
    check_choice("--format", args.format, ("extxyz", "vasp"))
    (hop,) = neb_endpoints(read_structure(args.input), args.element, tuple(args.supercell), site=args.site,
                           to=args.to, cutoff=args.cutoff)
    outdir = Path(args.output)
    moving = hop["site_to"] - (hop["site_to"] > hop["site_from"])
    with StagedFolder(outdir) as stage:          # all three files, or none
        for end in ("initial", "final"):
            write_structure(hop[end], stage.path / f"{end}.{args.format}")
        files = {end: outdir / f"{end}.{args.format}" for end in ("initial", "final")}
        index = {"name": hop["name"], "element": args.element, "site": args.site, "to": args.to,
                 "supercell": list(args.supercell), "site_from": hop["site_from"], "site_to": hop["site_to"],
                 "moving_atom": int(moving), "distance": hop["distance"], "natoms": len(hop["initial"]),
                 "input": str(args.input), "files": {end: path.name for end, path in files.items()}}
        write_json_atomic(stage.path / ENDPOINTS_INDEX, index)
    doc = summary(hop["initial"], outputs=[files["initial"], files["final"], outdir / ENDPOINTS_INDEX],
                  extra={"hop": {k: v for k, v in index.items() if k not in ("files", "input")}})
    if not args.json:
        print(f"{hop['name']}: atom {moving} hops {hop['distance']:.3f} Å ({args.element} site {hop['site_to']} "
              f"-> vacancy at {hop['site_from']} of the perfect supercell), {len(hop['initial'])} atoms "
              f"-> {files['initial']}, {files['final']}", file=sys.stderr)
    return doc


# -- slab, ligands, nanocrystal ----------------------------------------------------------------------

SLAB_DESCRIPTION = (
    "Cut a symmetric slab from INPUT (Pnma/tetragonal/cubic CsPbBr3 or a Ruddlesden-Popper cell). Miller "
    "indices refer to the INPUT cell (--setting cell): for Pnma (b long) the pseudocubic {001} planes are "
    "(0 1 0) [default], (1 0 1) and (1 0 -1); (h k l)_Pnma = (h+k, 2l, h-k)_pc. With --setting pseudocubic "
    "give pseudocubic indices (Pnma or cubic INPUT). --layers counts PbBr2 planes: CsBr termination has "
    "layers+1 CsBr planes (excess CsBr), PbBr2 termination layers-1 (excess PbBr2). Labels: layer (0 = "
    "outermost), region surface/bulk, formal_charge.")


def _slab_arguments(p):
    p.add_argument("input", metavar="INPUT", help="bulk structure file (.cif, .vasp, .extxyz)")
    p.add_argument("--miller", nargs=3, type=Number(-20, 20, integer=True), metavar=("H", "K", "L"), default=None,
                   help="plane (default: the pseudocubic (001): 0 1 0 for Pnma, 0 0 1 otherwise)")
    p.add_argument("--setting", default="cell", help="cell (default: indices of INPUT) | pseudocubic")
    p.add_argument("--layers", type=Number(1, 200, integer=True), default=3, help="number of PbBr2 planes (default 3)")
    p.add_argument("--termination", default="CsBr", help="CsBr (default) | PbBr2, same on both sides")
    p.add_argument("--vacuum", type=length(500, low_open=False), default=15.0,
                   help="total vacuum gap between periodic images, Å (default 15)")
    add_supercell(p, 2, (1, 1), help="in-plane repeats (default 1 1)")
    p.add_argument("--surface-depth", type=COUNT, default=1,
                   help="planes per side labelled region=surface (default 1)")
    add_output_file(p, _LABELLED_OUT)


def _slab(args) -> dict:
    from pvatoms.build.slab import slab
    from pvatoms.io import read_structure
    atoms = slab(read_structure(args.input), miller=args.miller, layers=args.layers,
                 termination=args.termination, vacuum=args.vacuum, supercell=tuple(args.supercell),
                 setting=args.setting, surface_depth=args.surface_depth)
    atoms.info["provenance"]["arguments"]["bulk"] = str(args.input)
    path, doc = _write(atoms, args.output, {"slab": atoms.info["slab"]})
    if not args.json:
        s = atoms.info["slab"]
        print(f"{doc['formula']} ({doc['natoms']} atoms) {s['termination']}-terminated "
              f"({' '.join(map(str, s['miller']))}) slab, {s['n_planes']} planes, excess {s['excess']}, "
              f"charge {s['net_formal_charge']:+d} -> {path}", file=sys.stderr)
    return doc


LIGANDS_DESCRIPTION = (
    "Attach a ligand (see pvatoms ligands list) to a fraction of the surface sites of SLAB (an .extxyz from "
    "pvatoms build slab or nanocrystal, or a slab with vacuum along c). Sites: cs (A site of a CsBr/AX' "
    "plane: ammonium replaces Cs, N-H...Br bonds), pb (outer Pb of a PbBr2 plane: carboxylate, SCN, "
    "sulfonate; DDAB as Br-/DDA+ pair), br-vacancy (an outer Br is replaced by the anchor). The report "
    "gives the sites, count, removed atoms, net formal charge, shortest contacts, anchor bonds and H bonds.")


def _ligands_arguments(p):
    p.add_argument("input", metavar="SLAB", help="slab or nanocrystal file (.extxyz keeps the labels)")
    p.add_argument("--ligand", required=True, help="library name or alias (pvatoms ligands list)")
    p.add_argument("--coverage", type=FRACTION, required=True, help="fraction of the available sites, 0-1")
    p.add_argument("--site", default=None, help="cs | pb | br-vacancy (default: the ligand's first site "
                   "present on the surface)")
    p.add_argument("--binding", default="monodentate", help="monodentate (default) | bidentate (carboxylates)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed of the site choice (default 0)")
    p.add_argument("--neutral", action="store_true", help="remove surface Cs or Br to cancel the charge "
                   "the ligands leave")
    add_output_file(p, _LABELLED_OUT)


def _ligands(args) -> dict:
    from pvatoms.build.ligands import attach_ligands
    from pvatoms.io import read_structure
    atoms = attach_ligands(read_structure(args.input), args.ligand, args.coverage, site=args.site,
                           binding=args.binding, seed=args.seed, neutral=args.neutral)
    rep = atoms.info["ligands"][-1]
    path, doc = _write(atoms, args.output, {"ligands": rep}, spacegroup=len(atoms) <= 2000)
    if not args.json:
        mls = (rep.get("min_ligand_surface_nonbonded") or {}).get("distance")
        mll = (rep.get("min_ligand_ligand") or {}).get("distance")
        comp = rep["compensation"]["removed"] if rep.get("compensation") else {}
        print(f"{rep['n_ligands']} {rep['ligand']} on {rep['n_sites']} {rep['site']} sites "
              f"(coverage {rep['coverage']:.3f}), replaced {rep['removed']}, compensation removed {comp}, "
              f"charge {rep['net_formal_charge']:+d}, closest non-bonded ligand-surface {mls} Å, "
              f"ligand-ligand {mll} Å -> {path}", file=sys.stderr)
    return doc


NANOCRYSTAL_DESCRIPTION = (
    "Cube-shaped CsPbBr3 nanocrystal: complete PbBr6 octahedra, an outer CsBr-like AX' plane, 3N+1 "
    "edge/corner Cs removed for neutrality; optional ligand shell (ammonium replaces shell Cs; X-type "
    "ligands replace shell Br), a Cs2PbBr4 RP slab across the dot and an fcc Pb sphere (a = 4.95 Å) on the "
    "facet next to it. Lengths --edge, --rp-inclusion, --pb-cluster in nm. Labels: core/shell/ligand/rp/cluster.")


def _nanocrystal_arguments(p):
    p.add_argument("--edge", type=length(50, unit="nm"), default=10.7, help="edge length, nm (default 10.7)")
    p.add_argument("--termination", default="CsBr", help="CsBr (AX' shell, default) | PbBr2")
    p.add_argument("--ligand", default=None, help="library ligand for the shell (pvatoms ligands list)")
    p.add_argument("--coverage", type=FRACTION, default=None, help="fraction of the available sites, 0-1")
    p.add_argument("--site", default=None, help="cs | pb | br-vacancy (default: the ligand's first)")
    p.add_argument("--binding", default="monodentate", help="monodentate | bidentate (carboxylates)")
    p.add_argument("--rp-inclusion", type=length(50, unit="nm"), default=None, metavar="THICKNESS",
                   help="Cs2PbBr4 slab across the dot, thickness in nm")
    p.add_argument("--pb-cluster", type=length(50, unit="nm"), default=None, metavar="RADIUS",
                   help="fcc Pb sphere on the facet next to the RP slab, radius in nm")
    p.add_argument("--framework", default="pnma", help="pnma (tilted, default) | cubic")
    p.add_argument("--lattice", default="pbe", help="pbe (default) | experiment")
    p.add_argument("--vacuum", type=length(500, low_open=False), default=10.0, help="space around the dot in its box, Å (default 10)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
    p.add_argument("--charged", action="store_true", help="keep the net charge (no Cs/Br removed)")
    add_output_file(p, _LABELLED_OUT)


def _nanocrystal(args) -> dict:
    from pvatoms.build.nanocrystal import nanocrystal
    if args.ligand is not None and args.coverage is None:
        raise InputError("--ligand needs --coverage (fraction of the available sites, 0-1)")
    atoms = nanocrystal(edge=args.edge, termination=args.termination, ligand=args.ligand,
                        coverage=args.coverage if args.coverage is not None else 0.0, site=args.site,
                        binding=args.binding, rp_inclusion=args.rp_inclusion, pb_cluster=args.pb_cluster,
                        seed=args.seed, framework=args.framework, lattice=args.lattice,
                        vacuum=args.vacuum, neutral=not args.charged)
    info = atoms.info["nanocrystal"]
    path, doc = _write(atoms, args.output, {"nanocrystal": info}, spacegroup=False)
    if not args.json:
        extra = ""
        if info["ligands"]:
            extra += f", {info['ligands']['n_ligands']} {info['ligands']['ligand']}"
        if info["rp"]:
            extra += f", RP {info['rp']['blocks']} block(s)"
        if info["cluster"]:
            extra += f", Pb cluster {info['cluster']['atoms']} atoms"
        print(f"{info['edge_nm']} nm dot, {doc['natoms']} atoms{extra}, charge {info['net_formal_charge']:+d} "
              f"-> {path}", file=sys.stderr)
    return doc


KINDS = {
    "bulk": Subcommand("bulk CsPbBr3: Pnma (room temperature), tetragonal, cubic", _bulk_arguments, _bulk),
    "rp": Subcommand("Ruddlesden-Popper Cs(n+1)Pb(n)Br(3n+1)", _rp_arguments, _rp),
    "interface": Subcommand(
        "periodic RP / Pnma CsPbBr3 phase-boundary supercell", _interface_arguments, _interface,
        "Coherent RP/orthorhombic CsPbBr3 supercell with two boundaries. Atoms are labelled rp / boundary / "
        "perovskite (kept in .extxyz). With the tilted Pnma framework the total number of octahedral layers, "
        "K + M*n, must be even; M odd gives an orthogonal cell (M even: an oblique stacking vector)."),
    "defects": Subcommand(
        "symmetry-distinct point defects of a structure, one file each", _defects_arguments, _defects,
        "Enumerate symmetry-distinct defects of INPUT and write one supercell per defect, the perfect "
        "supercell, and a defects.json index into the output folder. List options may be repeated: "
        "--vacancy Br --vacancy Cs is --vacancy Br Cs."),
    "neb-endpoints": Subcommand("NEB endpoint pair of a vacancy hop (same atoms, same order)",
                                _neb_endpoints_arguments, _neb_endpoints, NEB_ENDPOINTS_DESCRIPTION),
    "slab": Subcommand("symmetric CsBr- or PbBr2-terminated slab (Pnma CsPbBr3 or an RP phase)",
                       _slab_arguments, _slab, SLAB_DESCRIPTION),
    "ligands": Subcommand("put library ligands on a slab or dot surface", _ligands_arguments, _ligands,
                          LIGANDS_DESCRIPTION),
    "nanocrystal": Subcommand("cube-shaped CsPbBr3 dot, [CsPbBr3](PbBr2){AX'} model, optional RP slab and "
                              "Pb cluster", _nanocrystal_arguments, _nanocrystal, NANOCRYSTAL_DESCRIPTION),
}


class Build(Command):
    help = "build a structure (bulk, rp, interface, defects, neb-endpoints, slab, ligands, nanocrystal)"
    description = "Build structures. " + EPILOG
    formatter_class = argparse.RawDescriptionHelpFormatter

    @staticmethod
    def add_arguments(parser):
        add_subcommands(parser, "kind", "KIND", KINDS)

    @staticmethod
    def run(args):
        return dispatch(args, "kind", KINDS)
