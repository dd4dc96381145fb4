"""Do two MLIP geometries of one boundary model agree once PBE relaxes their atoms?

    OMP_NUM_THREADS=1 python benchmarks/bench_boundary_pbe_positions.py runs/bt-sevennet --model rp1-pv3
    OMP_NUM_THREADS=1 python benchmarks/bench_boundary_pbe_positions.py runs/bt-chgnet   --model rp1-pv3

Reads a ``bench_boundary.py`` output folder (its MLIP-relaxed Pnma bulk, strained RP bulk and
interface model), relaxes the atoms of all three by GPAW PBE (cut-off ECUT; density converged to
1e-4 for the forces; k-points by ``--kpoint-density``, default the boundary study's DFT relaxation
rule, 3 per Å⁻¹ through :func:`pvatoms.studies.boundary.mesh`: 3x2x3 for Pnma, 3x3x1 for the
strained RP and a model), keeping the MLIP cells, then computes the statics at Γ as bench_boundary
does and the PBE and PBE+SOC offsets again (:func:`pvatoms.analysis.alignment.analyse_alignment`)
and the model's octahedra plane by plane before and after
(:func:`pvatoms.studies.boundary_analysis.framework_check`). Level of theory: PBE energies on PBE
positions in cells that the MLIP relaxed (``PBE//PBE (CHGNet 0.3.0 cell)`` in the result documents,
for bench_boundary outputs written from 5bfc9ec on); a step towards PBE//PBE, not PBE//PBE.
Comparing the offsets of two MLIP starts before and after says how much of their spread the
positions carry.

``--pbe-cell FOLDER`` (a completed PBE relaxation of the Pnma bulk's whole cell, same axes, e.g.
at 400 eV) first strains all three MLIP structures by the diagonal strain that takes the MLIP Pnma
lattice to that PBE one: the in-plane lattice becomes PBE's; the stacking length is the MLIP one scaled
by the Pnma b ratio, not relaxed (its PBE stress is printed as the residual). Level of theory
``PBE//PBE (PBE-strained cell)``. Comparing with a run without it says how much the cell carries.

``--kpoint-density 0`` relaxes at Γ, the statics' own sampling. That is not a relaxation to trust:
at Γ the 20-atom Pnma cell relaxes to apical Pb–Br–Pb angles of 141-144° and Pb off-centring up to
0.28 Å, its PBE gap opens by 0.4-0.8 eV (benchmarks/results/boundary_relaxation.md).

Printed and written to ``OUT/pbe_positions_MODEL.json`` (OUT: ``SOURCE/pbe-positions`` by default).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

RELAX_SCF = {"density": 1e-4, "eigenstates": 4e-7}
STATIC_SCF = {"density": 1e-3, "eigenstates": 4e-7, "bands": "CBM+1"}


def _pair(a: dict, b: dict, key: str, digits: int) -> str:
    """``before -> after`` of one plane measure ('-' where a plane has none)."""
    return " -> ".join("-" if r[key] is None else f"{r[key]:.{digits}f}" for r in (a, b))


def pnma_strain(mlip, pbe_doc) -> "numpy.ndarray":
    """Diagonal strain (x, y, z stretch factors) that takes the MLIP Pnma cell to the PBE one of
    ``pbe_doc``, a completed PBE relaxation of the whole cell; both cells axis-aligned."""
    import numpy as np

    from pvatoms.schema import relaxes_whole_cell
    from pvatoms.schema import structure_of
    lot = pbe_doc.get("level_of_theory") or {}
    if pbe_doc.get("status") != "completed" or lot.get("geometry") != "PBE" \
            or not relaxes_whole_cell((pbe_doc.get("data") or {}).get("settings")):
        raise SystemExit(f"--pbe-cell needs a completed PBE relaxation of the whole cell, got {lot.get('label')} "
                         f"({pbe_doc.get('status')})")
    cells = [np.asarray(mlip.cell), np.asarray(structure_of(pbe_doc).cell)]
    for c in cells:
        if np.abs(c - np.diag(np.diag(c))).max() > 1e-3:
            raise SystemExit(f"--pbe-cell: the Pnma cells must be axis-aligned, got {c.round(4).tolist()}")
    return np.diag(cells[1]) / np.diag(cells[0])


def strained(atoms, strain):
    """``atoms`` with cell and positions stretched by ``strain`` along x, y, z; cell method recorded
    as ``PBE-strained``."""
    import numpy as np
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) * strain[None, :], scale_atoms=True)
    out.info["cell_method"] = "PBE-strained"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="a bench_boundary.py output folder")
    ap.add_argument("--model", default="rp1-pv3")
    ap.add_argument("--out", default=None)
    ap.add_argument("--ecut", type=float, default=200.0)
    ap.add_argument("--fmax", type=float, default=0.03, help="eV/Å")
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--pbe-cell", default=None,
                    help="a PBE full-cell relaxation of the Pnma bulk: strain the structures to its lattice first")
    ap.add_argument("--kpoint-density", type=float, default=None,
                    help="k-points per Å⁻¹ of the relaxations (default: the study's rule, 3; 0: Γ)")
    args = ap.parse_args(argv)
    from ase.io import read

    from pvatoms.analysis.alignment import analyse_alignment
    from pvatoms.calc.soc import soc_for_result
    from pvatoms.jobs.relax import relax
    from pvatoms.jobs.static import static
    from pvatoms.schema import read_result, structure_of
    from pvatoms.studies.boundary_analysis import bulk_periods, framework_check, residual_load

    src = Path(args.source).resolve()
    out = Path(args.out).resolve() if args.out else src / "pbe-positions"
    from pvatoms.studies.boundary import RELAX_KPOINT_DENSITY, mesh
    density = RELAX_KPOINT_DENSITY if args.kpoint_density is None else args.kpoint_density
    gpaw = {"backend": "gpaw", "ecut": args.ecut, "kpts": [1, 1, 1]}
    t0 = time.perf_counter()
    report = {"source": str(src), "model": args.model, "ecut": args.ecut, "fmax": args.fmax,
              "kpoint_density": density, "steps": {}}
    folders = {}
    strain = None
    if args.pbe_cell:
        strain = pnma_strain(structure_of(read_result(src / "pv-bulk-relax")), read_result(Path(args.pbe_cell)))
        report["pbe_cell"] = {"source": str(Path(args.pbe_cell).resolve()), "strain": (strain - 1).tolist()}
        print("strain to the PBE lattice (x, y, z):", " ".join(f"{100 * (e - 1):+.2f} %" for e in strain))
    for role, label in (("perovskite_bulk", "pv-bulk-relax"), ("rp_bulk", "rp-strained-relax"),
                        ("interface", f"{args.model}-relax")):
        atoms = structure_of(read_result(src / label))
        if strain is not None:
            atoms = strained(atoms, strain)
        kpts = list(mesh(atoms, 1 / (2 * math.pi * density))) if density > 0 else [1, 1, 1]
        r = relax(atoms, out / f"{label}-pbe", fmax=args.fmax, steps=args.steps, cell=False,
                  convergence=RELAX_SCF, **{**gpaw, "kpts": kpts})
        if r.get("status") != "completed" and not (r.get("structure") and "did not reach" in str(r.get("reason"))):
            raise SystemExit(f"PBE relaxation of {label} failed: {r.get('reason')}")
        s = static(structure_of(r), out / f"{label}-pbe-static", write_gpw=True,
                   convergence=STATIC_SCF, **gpaw)
        if s.get("status") != "completed":
            raise SystemExit(f"static of {label} failed: {s.get('reason')}")
        folders[role] = out / f"{label}-pbe-static"
        data = r.get("data") or {}
        first = read(out / f"{label}-pbe" / "relax.traj", 0)
        report["steps"][label] = {"kpts": kpts, "steps": data.get("steps"), "converged": r.get("status") == "completed",
                                  "wall (s)": r.get("wall_time"), "E start (eV)": first.get_potential_energy(),
                                  "E end (eV)": r.get("energy"), "residual after": residual_load(s)}
        print(f"[{time.perf_counter() - t0:6.0f} s] {label}: {data.get('steps')} PBE steps "
              f"({'converged' if r.get('status') == 'completed' else 'not converged'}), "
              f"F_max {report['steps'][label]['residual after']['max_force']:.3f} eV/Å", flush=True)
    for role in ("perovskite_bulk", "rp_bulk"):
        soc_for_result(folders[role])
    periods = bulk_periods(read_result(folders["perovskite_bulk"]), read_result(folders["rp_bulk"]), "b")
    tag = f"k1x1-{args.ecut:g}eV"
    before = {"interface": src / f"{args.model}-static-{tag}", "perovskite_bulk": src / f"pv-static-{tag}",
              "rp_bulk": src / f"rp-static-{tag}"}
    rows = {}
    for name, f in (("MLIP positions", before), ("PBE positions", folders)):
        if not all((Path(x) / "result.json").is_file() for x in f.values()):
            continue
        for soc in (False, True):
            a = analyse_alignment(f["interface"], f["perovskite_bulk"], f["rp_bulk"], out / f"alignment-{args.model}" /
                                  f"{name.split()[0]}-{'soc' if soc else 'pbe'}", periods=periods, soc=soc)
            rows[f"{name}, {'PBE+SOC' if soc else 'PBE'}"] = {
                "dV": a["potential_step"], "VBO": a["vbo"], "CBO": a["cbo"],
                "lineup ±": a["uncertainty"], "verdict": a["verdict"]["verdict"], "margin": a["verdict"]["margin"]}
    report["offsets"] = rows
    report["framework"] = {}
    mlip = {"interface": src / f"{args.model}-relax", "perovskite_bulk": src / "pv-bulk-relax",
            "rp_bulk": src / "rp-strained-relax"}
    for name, f in (("MLIP positions", mlip), ("PBE positions", folders)):
        docs = {k: read_result(v) for k, v in f.items()}
        fw = framework_check(docs["interface"], docs["perovskite_bulk"], docs["rp_bulk"], "b")
        report["framework"][name] = {"tilt_deviation": fw["tilt_deviation"], "profile": fw["profile"]}
    print("\nPb planes of the model, MLIP -> PBE positions: region | off-centring (Å) | apical | equatorial (°)")
    for a, b in zip(*(report["framework"][n]["profile"] for n in ("MLIP positions", "PBE positions"))):
        print(f"{a['region']:>11} | {_pair(a, b, 'off_centring', 3)} | {_pair(a, b, 'apical', 1)} | "
              f"{_pair(a, b, 'equatorial', 1)}")
    print("\npositions, edges | dV (eV) | VBO (eV) | CBO (eV) | lineup ± | verdict, margin")
    for k, r in rows.items():
        print(f"{k} | {r['dV']:+.3f} | {r['VBO']:+.3f} | {r['CBO']:+.3f} | {r['lineup ±']:.3f} | "
              f"{r['verdict']}, {r['margin']:.2f}")
    report["wall_time_s"] = time.perf_counter() - t0
    (out / f"pbe_positions_{args.model}.json").write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
