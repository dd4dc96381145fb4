"""Is the perovskite side of a relaxed boundary model the bulk that the lineup references?

    OMP_NUM_THREADS=1 python benchmarks/bench_boundary_interior.py --out runs/interior --relax sevennet
    python benchmarks/bench_boundary_interior.py --out runs/interior --relax chgnet --model 3x5 --ecut 200

For one MLIP, this relaxes the boundary study's bulks and one model (the study's own steps,
:mod:`pvatoms.studies.boundary`, at its defaults), then

1. prints the octahedra plane by plane (:func:`pvatoms.analysis.octahedra.plane_profile`) and each
   side's interior against its bulk (:func:`pvatoms.studies.boundary_analysis.framework_check`);
2. cuts two interior Pb planes of the perovskite side into a 20-atom cell (the interface's
   in-plane vectors, twice the mean plane spacing along the normal): the interior as a bulk;
3. relaxes a copy of that cell by the same MLIP (positions and the stacking length, in-plane
   fixed), to see whether the interior's tilt is a minimum of the bulk or is held by the boundary;
4. computes GPAW PBE statics of the relaxed Pnma bulk and of the cut (Γ, ECUT, the benchmark's
   loose SCF) and their band edges against their own average electrostatic potential
   (:func:`pvatoms.analysis.alignment.bulk_reference`): the difference is how far the lineup's
   perovskite reference is from the interior it stands for (eV; a PBE number on MLIP geometries).

Printed and written to ``OUT/interior.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np


def cut_interior(atoms, normal, profile, region="perovskite"):
    """The two most central interior ``region`` planes of ``atoms`` as a periodic cell: atoms with
    heights in [h0 - s/4, h0 + 7s/4) (h0 the lower Pb plane, s its spacing to the upper; the CsBr
    planes lie half-way, well inside), the in-plane cell vectors of ``atoms``, and 2s along ``normal``."""
    from ase import Atoms

    from pvatoms.analysis.octahedra import interior_planes
    rows = interior_planes(profile, region)
    if len(rows) < 2:
        raise SystemExit(f"the model has {len(rows)} interior {region} plane(s): two are needed (a thicker model)")
    k = len(rows) // 2 - 1 if len(rows) % 2 == 0 else len(rows) // 2 - (len(rows) > 2)
    h0, h1 = rows[k]["height"], rows[k + 1]["height"]
    s = h1 - h0
    n = np.asarray(normal, float)
    h = atoms.positions @ n
    period = abs(atoms.cell[2] @ n)
    rel = (h - h0 + s / 4) % period
    keep = rel < 2 * s
    cell = np.array([atoms.cell[0], atoms.cell[1], 2 * s * n])
    pos = atoms.positions[keep] - np.outer(h[keep] - (rel[keep] + h0 - s / 4), n)
    cut = Atoms(np.asarray(atoms.get_chemical_symbols())[keep], positions=pos, cell=cell, pbc=True)
    cut.wrap()
    return cut, {"planes": [h0, h1], "spacing": s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/boundary-interior")
    ap.add_argument("--relax", default="sevennet", choices=("sevennet", "chgnet"))
    ap.add_argument("--model", default="3x5", help="MxK as in bench_boundary (default 3x5, 96 atoms)")
    ap.add_argument("--ecut", type=float, default=200.0)
    args = ap.parse_args(argv)
    from ase.geometry import get_distances

    from pvatoms.analysis.alignment import bulk_reference, potential_of
    from pvatoms.analysis.octahedra import framework_summary, plane_profile
    from pvatoms.jobs.relax import relax
    from pvatoms.jobs.static import static
    from pvatoms.schema import atoms_from_dict, read_result
    from pvatoms.studies import plan_study, run_local
    from pvatoms.studies.boundary import cell_mask, normal_of
    from pvatoms.studies.boundary_analysis import framework_check
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_boundary import parse_model

    out = Path(args.out).resolve()
    model = parse_model(args.model)
    label = f"rp{model['rp_layers']}-pv{model['perovskite_layers']}"
    spec = {"study": "boundary", "name": "interior", "backend": "gpaw", "folder": str(out / "study"),
            "relax": {"backend": args.relax}, "models": [model],
            "settings": [{"kpts_in_plane": [1, 1], "ecut": args.ecut}]}
    g = plan_study(spec)
    g = dataclasses.replace(g, steps=[s for s in g.steps if s.job == "relax"],
                            analyses=[a for a in g.analyses if a.kind == "boundary-structure"])
    t0 = time.perf_counter()
    res = run_local(g)
    bad = {k: v.get("reason") for k, v in res.items() if v["status"] != "completed"}
    if bad:
        raise SystemExit(f"relaxations failed: {bad}")
    doc = {s: read_result(out / "study" / s) for s in (f"{label}-relax", "pv-bulk-relax", "rp-strained-relax")}
    check = framework_check(doc[f"{label}-relax"], doc["pv-bulk-relax"], doc["rp-strained-relax"], "b")
    iface = atoms_from_dict(doc[f"{label}-relax"]["structure"])
    n = normal_of(iface.cell[0], iface.cell[1])
    print(f"{label} // {args.relax}: planes (height Å, region, Pb–Br Å, off-centring Å, equatorial °, apical °)")
    for r in check["profile"]:
        print("  " + " | ".join("-" if r[k] is None else (f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]))
                                for k in ("height", "region", "bond_length", "off_centring", "equatorial", "apical")))
    for side in ("perovskite", "rp"):
        print(f"  {side} interior ({check[side]['planes']} planes) against its bulk:",
              {k: {x: round(y, 3) for x, y in m.items()} for k, m in check[side]["measures"].items()})
    cut, where = cut_interior(iface, n, check["profile"])
    _, d = get_distances(cut.positions, cell=cut.cell, pbc=True)
    closest = float(np.min(d[np.triu_indices(len(cut), 1)]))
    if cut.get_chemical_formula() != "Br12Cs4Pb4" or closest < 2.5:
        raise SystemExit(f"the cut is {cut.get_chemical_formula()} with atoms {closest:.2f} Å apart: not a Pnma cell")
    pv = atoms_from_dict(doc["pv-bulk-relax"]["structure"])
    cells = {"bulk": (pv, [0, 1, 0]), "interior": (cut, n)}
    mask = cell_mask(n)
    relaxed = relax(cut.copy(), out / "interior-relax", backend=args.relax, fmax=0.01, steps=500, cell=True,
                    cell_mask=mask)
    cells["interior, relaxed alone"] = (atoms_from_dict(relaxed["structure"]), n)
    report = {"model": label, "relax": args.relax, "ecut": args.ecut, "cut": where, "closest (Å)": closest,
              "framework": {k: check[k] for k in ("perovskite", "rp", "tilt_deviation")}, "cells": {}}
    for name, (atoms, normal) in cells.items():
        s = framework_summary(atoms, normal=normal)
        folder = out / ("static-" + name.replace(", ", "-").replace(" ", "-"))
        sdoc = static(atoms, folder, backend="gpaw", ecut=args.ecut, kpts=[1, 1, 1],
                      convergence={"density": 1e-3, "eigenstates": 4e-7, "bands": "CBM+1"})
        if sdoc.get("status") != "completed":
            raise SystemExit(f"static {name} failed: {sdoc.get('reason')}")
        sdoc["_folder"] = str(folder)
        v, _ = potential_of(sdoc)
        ref = bulk_reference(v, sdoc["band_edges"])
        report["cells"][name] = {**{k: s[k] for k in ("apical", "equatorial", "bond_length")},
                                 **{k: ref[k] for k in ("vbm_minus_v", "cbm_minus_v", "gap")},
                                 "energy_per_atom": sdoc["energy"] / len(atoms), "wall (s)": sdoc.get("wall_time")}
    b = report["cells"]["bulk"]
    print("\ncell | apical ° | equatorial ° | Pb–Br Å | VBM − V̄ (eV) | CBM − V̄ (eV) | gap (eV) "
          "| ΔE PBE (meV/atom)")
    for name, c in report["cells"].items():
        print(f"{name} | {c['apical']:.2f} | {c['equatorial']:.2f} | {c['bond_length']:.3f} | {c['vbm_minus_v']:.3f} | "
              f"{c['cbm_minus_v']:.3f} | {c['gap']:.3f} | {1000 * (c['energy_per_atom'] - b['energy_per_atom']):+.1f}")
    i = report["cells"]["interior"]
    report["reference_shift"] = {"vbm": i["vbm_minus_v"] - b["vbm_minus_v"], "cbm": i["cbm_minus_v"] - b["cbm_minus_v"]}
    print("\nthe interior's edges minus the bulk reference's (eV): "
          f"VBM {report['reference_shift']['vbm']:+.3f}, CBM {report['reference_shift']['cbm']:+.3f}")
    report["wall_time_s"] = time.perf_counter() - t0
    (out / "interior.json").write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
