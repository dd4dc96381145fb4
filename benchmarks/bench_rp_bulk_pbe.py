"""PBE relaxation of the RP Cs2PbBr4 bulk (28 atoms) from an MLIP-relaxed start, free or at the Pnma in-plane lattice.

    OMP_NUM_THREADS=1 python benchmarks/bench_rp_bulk_pbe.py runs/rp-pbe --start chgnet --in-plane pnma
    OMP_NUM_THREADS=1 python benchmarks/bench_rp_bulk_pbe.py runs/rp-pbe --start sevennet --in-plane free
    python benchmarks/bench_rp_bulk_pbe.py runs/rp-pbe --start chgnet --in-plane pnma --table

The RP bulk is the boundary study's (:func:`pvatoms.studies.boundary.bulk_structures`, b stacking,
n = 1: two Cs2PbBr4 blocks; cell vectors u and v in-plane, the third the stacking period along the
Cartesian normal the study returns). ``--start`` (an MLIP)
relaxes its whole cell first (fmax :data:`pvatoms.studies.boundary_specs.BULK_FMAX`). Then:

- ``--in-plane free``: GPAW PBE relaxes cell and positions (the RP's own lattice);
- ``--in-plane pnma``: the cell is deformed to the Pnma bulk's in-plane lattice (``--pnma-abc``,
  default the GPAW PBE 520 eV Pnma cell of ``benchmarks/results/boundary_relaxation.md``), the
  MLIP relaxes positions and the stacking length there, then GPAW PBE does the same. This is the
  boundary study's ``rp-strained-relax`` leg (``strain_on: rp``) at PBE's Pnma lattice: its final
  in-plane stress is what the perovskite's lattice imposes on the RP side.

GPAW settings: ``--ecut`` (520 eV, the study's cell-relaxation cut-off), ``--kpts`` (3x3x1),
density 1e-5; BFGS on FrechetCellFilter to ``--fmax`` eV/Å and ``--smax`` eV/Å^3 on the strain
components that relax. Every relaxation is :func:`pvatoms.jobs.relax`: a rerun of the same command
continues an interrupted one from ``relax.traj`` (Hessian rebuilt), so a wall-time limit or a
SIGTERM loses no finished step. ``--steps`` caps each run's new steps.

``--table``: one row per ``--every``-th frame of the PBE trajectory and its last: u, v, stacking
(Å), E (eV/cell), largest atomic force (eV/Å), stress along u, v and the stacking normal (GPa, ASE
sign: negative means the cell would expand), mean equatorial Pb–Br–Pb angle (°), the strain the RP carries at the Pnma
in-plane lattice (Pnma / own − 1) and spglib at 0.01 Å.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

GPA = 160.21766        # eV/Å^3 -> GPa
PNMA_520 = (8.526, 11.967, 8.180)   # Å, GPAW PBE 520 eV (boundary_relaxation.md, "PBE cells")


def pnma_cell(abc):
    """An empty Pnma cell a, b, c (Å), for the study's in-plane bookkeeping."""
    from ase import Atoms
    return Atoms(cell=np.diag(abc), pbc=True)


def pnma_in_plane(abc) -> tuple[float, float]:
    """In-plane lengths (u, v) of the b-stacked boundary in a Pnma cell a, b, c (Å): c and a."""
    from pvatoms.studies.boundary import pnma_vectors
    u, v, _ = np.linalg.norm(pnma_vectors(pnma_cell(abc), "b"), axis=1)
    return float(u), float(v)


def rp_start(out: Path, start: str, in_plane: str, abc, steps: int, source: str = "PBE"):
    """The MLIP-relaxed RP bulk (whole cell), and with ``in_plane='pnma'`` that bulk deformed to the
    Pnma in-plane lattice (of the method ``source``, recorded as the cell method
    ``<source>-strained``) with positions and stacking length relaxed by the same MLIP."""
    from pvatoms.jobs import relax
    from pvatoms.schema import structure_of
    from pvatoms.studies.boundary import bulk_structures, cell_mask, deform, in_plane_targets
    from pvatoms.studies import study_from_dict
    from pvatoms.studies.boundary_specs import BULK_FMAX

    def done(doc):
        if doc["status"] != "completed":
            raise SystemExit(f"{doc['job']} in {out}: {doc['status']} ({doc.get('reason')})")
        return structure_of(doc)

    bulks = bulk_structures(study_from_dict({"study": "boundary", "name": "rp-bulk", "backend": "gpaw"}))
    rp = bulks["rp"]
    own = done(relax(rp, out / f"rp-bulk-{start}", backend=start, cell=True, fmax=BULK_FMAX, steps=steps))
    if in_plane == "free":
        return own, None
    cell = np.asarray(own.cell)
    info = in_plane_targets(pnma_cell(abc), own, "b", "rp", 0.0)   # as the study's strained RP bulk
    (tu, tv), (ou, ov) = info["target"], info["own"]["rp"]
    mask = cell_mask(bulks["normal"])               # the stacking length only (the normal is a Cartesian axis)
    strained = deform(own, cell[0], cell[1], tu / ou, tv / ov)
    strained.info["cell_method"] = f"{source}-strained"      # the in-plane lattice is the Pnma bulk's
    doc = relax(strained, out / f"rp-pnma-plane-{start}", backend=start, cell=True, cell_mask=mask,
                fmax=BULK_FMAX, steps=steps)
    atoms = done(doc)
    atoms.info["cell_method"] = f"{source}-strained"         # also when the document predates the label
    return atoms, mask


def table(folder: Path, abc, every: int) -> list[str]:
    """Rows of the PBE trajectory in ``folder`` (see the module docstring)."""
    from ase.io import Trajectory

    from pvatoms.analysis.octahedra import framework_summary
    from pvatoms.build.common import spacegroup
    from pvatoms.studies.boundary import normal_of
    tu, tv = pnma_in_plane(abc)
    with Trajectory(folder / "relax.traj") as t:
        frames = list(t)
    rows = ["| frame | u, v, stacking (Å) | E (eV/cell) | F_max atoms (eV/Å) | stress u, v, normal (GPa) "
            "| equatorial Pb–Br–Pb (°) | strain at Pnma u / v | spglib 0.01 Å |", "|---|---|---|---|---|---|---|---|"]
    for i, f in enumerate(frames):
        if i % every and i != len(frames) - 1:
            continue
        cell = np.asarray(f.cell)
        u, v, w = np.linalg.norm(cell, axis=1)
        axes = [cell[0] / u, cell[1] / v, normal_of(cell[0], cell[1])]
        sigma = f.get_stress(voigt=False) * GPA
        s = [float(e @ sigma @ e) for e in axes]    # along u, v and the stacking normal
        fmax = float(np.linalg.norm(f.get_forces(), axis=1).max())
        eq = framework_summary(f, normal=axes[2])["equatorial"]
        rows.append(f"| {i} | {u:.3f}, {v:.3f}, {w:.3f} | {f.get_potential_energy():.4f} | {fmax:.3f} | "
                    f"{s[0]:+.2f}, {s[1]:+.2f}, {s[2]:+.2f} | {eq:.1f} | {100 * (tu / u - 1):+.2f} / "
                    f"{100 * (tv / v - 1):+.2f} % | {spacegroup(f, 0.01)['symbol']} |")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--start", choices=("chgnet", "sevennet"), required=True, help="MLIP of the starting geometry")
    ap.add_argument("--in-plane", choices=("free", "pnma"), required=True)
    ap.add_argument("--pnma-abc", type=lambda s: tuple(float(x) for x in s.split(",")), default=PNMA_520,
                    help="Pnma a,b,c (Å) whose in-plane lattice (c, a) the RP takes with --in-plane pnma")
    ap.add_argument("--pnma-source", default="PBE",
                    help="method of --pnma-abc, named in the level of theory (cell '<source>-strained')")
    ap.add_argument("--ecut", type=float, default=520.0)
    ap.add_argument("--kpts", type=lambda s: [int(x) for x in s.split(",")], default=[3, 3, 1])
    ap.add_argument("--fmax", type=float, default=0.02)
    ap.add_argument("--smax", type=float, default=0.0005)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--table", action="store_true", help="print the PBE trajectory's rows and stop")
    ap.add_argument("--every", type=int, default=4)
    args = ap.parse_args(argv)
    if len(args.pnma_abc) != 3 or min(args.pnma_abc) <= 0:
        ap.error(f"--pnma-abc needs three positive lengths a,b,c in Å, got {args.pnma_abc}")
    pbe = args.out / f"rp-{args.in_plane}-pbe-{args.start}"
    if args.table:
        print("\n".join(table(pbe, args.pnma_abc, args.every)))
        return 0

    from pvatoms.jobs import relax
    atoms, mask = rp_start(args.out, args.start, args.in_plane, args.pnma_abc, args.steps, args.pnma_source)
    doc = relax(atoms, pbe, backend="gpaw", cell=True, cell_mask=mask, fmax=args.fmax, smax=args.smax,
                steps=args.steps, ecut=args.ecut, kpts=args.kpts, convergence={"density": 1e-5})
    print("\n".join(table(pbe, args.pnma_abc, args.every)))
    print(f"{doc['status']}: {doc.get('reason') or doc['data'].get('steps')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
