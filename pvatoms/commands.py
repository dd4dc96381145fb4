"""What the ``pvatoms build ...`` commands do, kept apart from argument parsing."""

from __future__ import annotations

import sys
from pathlib import Path

from pvatoms import build as B
from pvatoms.build.common import summary
from pvatoms.errors import InputError
from pvatoms.io import read_structure, write_defect_set, write_structure


def build(args) -> dict:
    """Run one ``pvatoms build KIND`` command; return its JSON report."""
    kind = args.kind
    if kind == "defects":
        return _defects(args)
    if kind == "bulk":
        atoms = B.cspbbr3(args.phase, args.lattice, tuple(args.supercell))
        extra = None
    elif kind == "rp":
        atoms = B.ruddlesden_popper(args.n, args.tilted, args.lattice, tuple(args.supercell), gap=args.gap)
        extra = None
    elif kind == "interface":
        atoms = B.rp_interface(args.rp_n, args.rp_layers, args.perovskite_layers, axis=args.axis,
                               lattice=args.lattice, strain_on=args.strain_on,
                               rp_in_plane=args.rp_in_plane, gap=args.gap,
                               boundary_width=args.boundary_width, supercell=tuple(args.supercell))
        extra = {"interface": atoms.info["interface"]}
    else:  # pragma: no cover - argparse enforces the choices
        raise InputError(f"unknown build kind {kind!r}")
    path = write_structure(atoms, args.output)
    doc = summary(atoms, outputs=[path], extra=extra)
    if not args.json:
        sg = doc["spacegroup"] or {}
        print(f"{doc['formula']} ({doc['natoms']} atoms, {sg.get('symbol', '?')}) -> {path}", file=sys.stderr)
    return doc


def _defects(args) -> dict:
    host = read_structure(args.input)
    supercell = tuple(args.supercell) if args.supercell else None
    defects = B.point_defects(host, vacancies=args.vacancy, interstitials=args.interstitial,
                              antisites=args.antisite, complexes=args.complex, supercell=supercell,
                              min_length=args.min_length, region=args.region,
                              max_distance_from_boundary=args.max_distance_from_boundary,
                              max_interstitial_sites=args.interstitial_sites)
    if not defects:
        raise InputError("no defect matched the request (check --region / --max-distance-from-boundary "
                         "and the defect options: give at least one of --vacancy, --interstitial, "
                         "--antisite, --complex)")
    perfect = B.defects_supercell(host, supercell, args.min_length)
    outdir = Path(args.output)
    index = write_defect_set(defects, perfect, outdir, args.format,
                             extra={"input": str(args.input)})
    doc = summary(perfect, outputs=[outdir / "defects.json"],
                  extra={"defects": [{k: d[k] for k in ("name", "site", "wyckoff", "multiplicity",
                                                          "region", "boundary_distance", "charges", "file")}
                                     for d in index["defects"]]})
    if not args.json:
        for d in index["defects"]:
            print(f"{d['name']:<22} {str(d['site']):<34} x{d['multiplicity']:<3} q={d['charges']} "
                  f"-> {outdir / d['file']}", file=sys.stderr)
    return doc


def _backend_settings(args) -> dict:
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


def run_job_command(args) -> dict:
    """``pvatoms run JOB ...``: read the structure(s), run the job, report."""
    from pvatoms import jobs
    from pvatoms.jobs.common import resolve_backend
    try:
        backend = resolve_backend(args.backend, **_backend_settings(args))
    except TypeError as exc:
        raise InputError(f"unknown setting for backend {args.backend!r}: {exc}") from None
    common = {"backend": backend, "force": args.force}
    if args.job == "neb":
        extra = {} if args.steps is None else {"steps": args.steps}
        doc = jobs.neb(read_structure(args.initial), read_structure(args.final), args.output,
                       n_images=args.images, fmax=args.fmax, climb=not args.no_climb,
                       relax_endpoints=not args.no_relax_endpoints, **extra, **common)
    else:
        atoms = read_structure(args.structure)
        if args.job == "relax":
            extra = {} if args.steps is None else {"steps": args.steps}
            doc = jobs.relax(atoms, args.output, cell=args.cell, fmax=args.fmax, charge=args.charge,
                             **extra, **common)
        elif args.job == "static":
            doc = jobs.static(atoms, args.output, charge=args.charge, **common)
        elif args.job == "phonons":
            doc = jobs.phonons(atoms, args.output, supercell=args.supercell,
                               displacement=args.displacement, **common)
        else:
            from pvatoms.jobs.band_edges import run_band_edges
            doc = run_band_edges(atoms, args.output, backend=backend, bands=tuple(args.bands),
                                 force=args.force)
    if not args.json:
        line = f"{args.job} {doc['status']}"
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
        print(f"{line} -> {args.output}/result.json  [{doc['backend'].get('model')}]", file=sys.stderr)
    return doc
