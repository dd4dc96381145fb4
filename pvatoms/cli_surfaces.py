"""Command-line pieces for surfaces, ligands and nanocrystals (wired into :mod:`pvatoms.cli`).

    pvatoms build slab CsPbBr3.cif --miller 0 1 0 --layers 4 --termination PbBr2 --vacuum 20 -o s.extxyz
    pvatoms build ligands s.extxyz --ligand acetate --coverage 0.5 --site pb --neutral -o capped.extxyz
    pvatoms build nanocrystal --edge 10.7 --ligand oleylammonium --coverage 0.5 \\
        --rp-inclusion 2 --pb-cluster 1.5 -o dot.extxyz --json
    pvatoms ligands list [--json]

:func:`add_build_parsers` adds the build kinds, :func:`add_top_parsers` the ``ligands`` command,
:func:`run` does the work and returns the JSON report. ``python -m pvatoms.cli_surfaces ...`` runs
the full ``pvatoms`` command with these parts attached (for use before they are wired in).
"""

from __future__ import annotations

import argparse
import sys

from pvatoms.errors import InputError

#: Build kinds handled here.
KINDS = ("slab", "ligands", "nanocrystal")

_OUT_HELP = "where to write (.extxyz keeps the labels; .cif, .vasp/POSCAR)"


def _out(p):
    p.add_argument("-o", "--output", required=True, metavar="FILE", help=_OUT_HELP)
    p.add_argument("--json", action="store_true", help="print a JSON report on stdout")


def add_build_parsers(build_subparsers) -> None:
    """Add ``slab``, ``ligands`` and ``nanocrystal`` to the ``pvatoms build`` sub-commands."""
    p = build_subparsers.add_parser(
        "slab", help="symmetric CsBr- or PbBr2-terminated slab (Pnma CsPbBr3 or an RP phase)",
        description="Cut a symmetric slab from INPUT (Pnma/tetragonal/cubic CsPbBr3 or a Ruddlesden-Popper "
        "cell). Miller indices refer to the INPUT cell (--setting cell): for Pnma (b long) the pseudocubic "
        "{001} planes are (0 1 0) [default], (1 0 1) and (1 0 -1); (h k l)_Pnma = (h+k, 2l, h-k)_pc. "
        "With --setting pseudocubic give pseudocubic indices (Pnma or cubic INPUT). --layers counts PbBr2 "
        "planes: CsBr termination has layers+1 CsBr planes (excess CsBr), PbBr2 termination layers-1 (excess "
        "PbBr2). Labels: layer (0 = outermost), region surface/bulk, formal_charge.")
    p.add_argument("input", metavar="INPUT", help="bulk structure file (.cif, .vasp, .extxyz)")
    p.add_argument("--miller", nargs=3, type=int, metavar=("H", "K", "L"), default=None,
                   help="plane (default: the pseudocubic (001): 0 1 0 for Pnma, 0 0 1 otherwise)")
    p.add_argument("--setting", default="cell", help="cell (default: indices of INPUT) | pseudocubic")
    p.add_argument("--layers", type=int, default=3, help="number of PbBr2 planes (default 3)")
    p.add_argument("--termination", default="CsBr", help="CsBr (default) | PbBr2, same on both sides")
    p.add_argument("--vacuum", type=float, default=15.0,
                   help="total vacuum gap between periodic images, Å (default 15)")
    p.add_argument("--supercell", nargs=2, type=int, metavar=("A", "B"), default=(1, 1),
                   help="in-plane repeats (default 1 1)")
    p.add_argument("--surface-depth", type=int, default=1,
                   help="planes per side labelled region=surface (default 1)")
    _out(p)

    p = build_subparsers.add_parser(
        "ligands", help="put library ligands on a slab or dot surface",
        description="Attach a ligand (see `pvatoms ligands list`) to a fraction of the surface sites of SLAB "
        "(an .extxyz from `pvatoms build slab`/`nanocrystal`, or a slab with vacuum along c). Sites: cs (A site "
        "of a CsBr/AX' plane: ammonium replaces Cs, N-H...Br bonds), pb (outer Pb of a PbBr2 plane: carboxylate, "
        "SCN, sulfonate; DDAB as Br-/DDA+ pair), br-vacancy (an outer Br is replaced by the anchor). The report "
        "gives the sites, count, removed atoms, net formal charge, shortest contacts, anchor bonds and H bonds.")
    p.add_argument("input", metavar="SLAB", help="slab or nanocrystal file (.extxyz keeps the labels)")
    p.add_argument("--ligand", required=True, help="library name or alias (pvatoms ligands list)")
    p.add_argument("--coverage", type=float, required=True, help="fraction of the available sites, 0-1")
    p.add_argument("--site", default=None, help="cs | pb | br-vacancy (default: the ligand's first site "
                   "present on the surface)")
    p.add_argument("--binding", default="monodentate", help="monodentate (default) | bidentate (carboxylates)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the site choice (default 0)")
    p.add_argument("--neutral", action="store_true", help="remove surface Cs or Br to cancel the charge "
                   "the ligands leave")
    _out(p)

    p = build_subparsers.add_parser(
        "nanocrystal", help="cube-shaped CsPbBr3 dot, [CsPbBr3](PbBr2){AX'} model, optional RP slab and Pb cluster",
        description="Cube-shaped CsPbBr3 nanocrystal: complete PbBr6 octahedra, an outer CsBr-like AX' plane, "
        "3N+1 edge/corner Cs removed for neutrality; optional ligand shell (ammonium replaces shell Cs; X-type "
        "ligands replace shell Br), a Cs2PbBr4 RP slab across the dot and an fcc Pb sphere (a = 4.95 Å) on the "
        "facet next to it. Lengths --edge, --rp-inclusion, --pb-cluster in nm. Labels: core/shell/ligand/rp/cluster.")
    p.add_argument("--edge", type=float, default=10.7, help="edge length, nm (default 10.7)")
    p.add_argument("--termination", default="CsBr", help="CsBr (AX' shell, default) | PbBr2")
    p.add_argument("--ligand", default=None, help="library ligand for the shell (pvatoms ligands list)")
    p.add_argument("--coverage", type=float, default=None, help="fraction of the available sites, 0-1")
    p.add_argument("--site", default=None, help="cs | pb | br-vacancy (default: the ligand's first)")
    p.add_argument("--binding", default="monodentate", help="monodentate | bidentate (carboxylates)")
    p.add_argument("--rp-inclusion", type=float, default=None, metavar="THICKNESS",
                   help="Cs2PbBr4 slab across the dot, thickness in nm")
    p.add_argument("--pb-cluster", type=float, default=None, metavar="RADIUS",
                   help="fcc Pb sphere on the facet next to the RP slab, radius in nm")
    p.add_argument("--framework", default="pnma", help="pnma (tilted, default) | cubic")
    p.add_argument("--lattice", default="pbe", help="pbe (default) | experiment")
    p.add_argument("--vacuum", type=float, default=10.0, help="space around the dot in its box, Å (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--charged", action="store_true", help="keep the net charge (no Cs/Br removed)")
    _out(p)


def add_top_parsers(subparsers) -> None:
    """Add ``pvatoms ligands list [--json]``."""
    p = subparsers.add_parser("ligands", help="the ligand library (list)",
                              description="Ligands that `pvatoms build ligands` and `nanocrystal` place.")
    s = p.add_subparsers(dest="action", metavar="ACTION")
    s.required = True
    q = s.add_parser("list", help="name, formula, charge, binding family, anchors, sites")
    q.add_argument("--json", action="store_true", help="print the library as JSON")


def run(args) -> dict:
    """Do ``pvatoms build slab|ligands|nanocrystal`` or ``pvatoms ligands list``; return the report."""
    if getattr(args, "command", None) == "ligands":
        return _ligands_list(args)
    kind = getattr(args, "kind", None)
    if kind == "slab":
        return _slab(args)
    if kind == "ligands":
        return _ligands(args)
    if kind == "nanocrystal":
        return _nanocrystal(args)
    raise InputError(f"unknown command {kind!r}; valid: {', '.join(KINDS)}")  # pragma: no cover


def _write(atoms, path, extra, spacegroup=True):
    from pvatoms.build.common import summary
    from pvatoms.io import write_structure
    out = write_structure(atoms, path)
    if not spacegroup:
        extra = dict(extra, spacegroup=None)
    return out, summary(atoms, outputs=[out], extra=extra)


def _slab(args) -> dict:
    from pvatoms.build.slab import slab
    from pvatoms.io import read_structure
    bulk = read_structure(args.input)
    atoms = slab(bulk, miller=args.miller, layers=args.layers, termination=args.termination,
                 vacuum=args.vacuum, supercell=tuple(args.supercell), setting=args.setting,
                 surface_depth=args.surface_depth)
    atoms.info["provenance"]["arguments"]["bulk"] = str(args.input)
    path, doc = _write(atoms, args.output, {"slab": atoms.info["slab"]})
    if not args.json:
        s = atoms.info["slab"]
        print(f"{doc['formula']} ({doc['natoms']} atoms) {s['termination']}-terminated "
              f"({' '.join(map(str, s['miller']))}) slab, {s['n_planes']} planes, excess {s['excess']}, "
              f"charge {s['net_formal_charge']:+d} -> {path}", file=sys.stderr)
    return doc


def _ligands(args) -> dict:
    from pvatoms.build.ligands import attach_ligands
    from pvatoms.io import read_structure
    host = read_structure(args.input)
    atoms = attach_ligands(host, args.ligand, args.coverage, site=args.site, binding=args.binding,
                           seed=args.seed, neutral=args.neutral)
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


def _ligands_list(args) -> dict:
    from pvatoms.build.ligand_library import library_table
    rows = library_table()
    if not args.json:
        print(f"{'name':<22} {'formula':<12} {'q':>3}  {'kind':<20} {'anchors':<12} {'sites':<16} truncation of")
        for r in rows:
            print(f"{r['name']:<22} {r['formula']:<12} {r['charge']:>+3d}  {r['kind']:<20} "
                  f"{','.join(r['anchors']):<12} {','.join(r['sites']):<16} {r['truncation_of'] or ''}")
    return {"ligands": rows}


# ------------------------------------------------------------------------------------------------
# standalone entry point (before cli.py is wired)


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None  # pragma: no cover


def build_parser() -> argparse.ArgumentParser:
    """The full ``pvatoms`` parser with these commands attached (if cli.py does not have them yet)."""
    from pvatoms.cli import build_parser as base
    ap = base()
    top = _subparsers(ap)
    build = _subparsers(top.choices["build"])
    if "slab" not in build.choices:
        add_build_parsers(build)
    if "ligands" not in top.choices:
        add_top_parsers(top)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.command == "ligands" or getattr(args, "kind", None) in KINDS):
        from pvatoms.cli import main as cli_main
        return cli_main(argv)
    try:
        doc = run(args)
    except InputError as exc:
        print(f"pvatoms: error: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        from pvatoms.io import dumps
        print(dumps(doc))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
