"""Relaxations cut into chunks, as a queue's wall-time limit cuts a DFT relaxation: steps to
converge when each rerun rebuilds the BFGS Hessian from the trajectory (pvatoms ``relax``),
against the same chunks restarted with a fresh Hessian (ASE's BFGS started anew on the last
frame, as a plain restart does), and against one uninterrupted run (the reference), in the same run.

    OMP_NUM_THREADS=1 python benchmarks/bench_resume.py                 # CHGNet 0.3.0, CPU, ~2 min
    python benchmarks/bench_resume.py --chunk 3 --backend sevennet

Two cases: the 20-atom Pnma cell, rattled (0.05 Å) and strained (+2 % a, -1 % b), relaxed with its
cell (FrechetCellFilter, ``--fmax``, stress to 0.0005 eV/Å^3), and a V_Br in the 160-atom 2x2x2
supercell at fixed cell (positions). Printed and written to ``OUT/bench_resume.json``: for each
case and leg the BFGS steps (energy and force evaluations, which a DFT code pays for) to converge,
the chunks (reruns) used, and the ratio of steps to the uninterrupted run's. The rebuilt leg
follows the uninterrupted path, so its ratio is 1 up to the model's round-off near the minimum;
the fresh leg pays for every cut.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def cases():
    """(name, start structure, relax options): the strained Pnma cell and a V_Br supercell."""
    from pvatoms.build import cspbbr3, defects_supercell
    pnma = cspbbr3()
    cell = pnma.copy()
    cell.rattle(0.05, seed=7)
    cell.set_cell(pnma.cell * [1.02, 0.99, 1.0], scale_atoms=True)
    host = defects_supercell(pnma, supercell=(2, 2, 2))
    vac = host.copy()
    del vac[[a.index for a in vac if a.symbol == "Br"][0]]
    vac.rattle(0.03, seed=8)
    return [("Pnma 20 atoms, cell", cell, {"cell": True, "smax": 0.0005}),
            (f"V_Br {len(vac)} atoms, positions", vac, {"cell": False})]


def uninterrupted(atoms, folder: Path, backend: str, fmax: float, opts: dict, limit: int) -> dict:
    from pvatoms.jobs import relax
    doc = relax(atoms, folder, backend=backend, fmax=fmax, steps=limit, **opts)
    return {"status": doc["status"], "steps": doc["data"]["steps"], "chunks": 1, "energy (eV)": doc["energy"]}


def rebuilt(atoms, folder: Path, backend: str, fmax: float, opts: dict, chunk: int, limit: int) -> dict:
    """pvatoms relax rerun in chunks of ``chunk`` steps in one folder: each rerun continues the trajectory."""
    from pvatoms.jobs import relax
    for n in range(1, limit // chunk + 2):
        doc = relax(atoms, folder, backend=backend, fmax=fmax, steps=chunk, **opts)
        if doc["status"] == "completed":
            break
    return {"status": doc["status"], "steps": doc["data"]["steps"], "chunks": n, "energy (eV)": doc["energy"],
            "hessian_rebuilt_from_steps": doc["data"].get("hessian_rebuilt_from_steps")}


def fresh(atoms, backend: str, fmax: float, opts: dict, chunk: int, limit: int) -> dict:
    """ASE BFGS started anew on the last state for every chunk (positions and cell carried over)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS
    from pvatoms.calc import get_backend
    from pvatoms.jobs.common import stress_above
    work = atoms.copy()
    work.calc = get_backend(backend).calculator(atoms=work)
    steps = 0
    for n in range(1, limit // chunk + 2):
        target = FrechetCellFilter(work, scalar_pressure=0.0) if opts["cell"] else work
        opt = BFGS(target, logfile=None)
        done = opt.run(fmax=fmax, steps=chunk)
        steps += opt.nsteps
        if done and not (opts["cell"] and stress_above(work.get_stress().tolist(), opts["smax"], None)):
            break
    return {"status": "completed" if done else "failed", "steps": steps, "chunks": n,
            "energy (eV)": float(work.get_potential_energy())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench-resume")
    ap.add_argument("--backend", default="chgnet", choices=["chgnet", "sevennet"])
    ap.add_argument("--chunk", type=int, default=5, help="BFGS steps per run (the wall-time cut)")
    ap.add_argument("--fmax", type=float, default=0.01, help="eV/Å")
    ap.add_argument("--limit", type=int, default=400, help="steps at most, per leg")
    args = ap.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    rows = []
    for k, (name, atoms, opts) in enumerate(cases()):
        ref = uninterrupted(atoms, out / f"case{k}" / "uninterrupted", args.backend, args.fmax, opts, args.limit)
        legs = {"uninterrupted (reference)": ref,
                "chunks, Hessian rebuilt (pvatoms)": rebuilt(atoms, out / f"case{k}" / "rebuilt", args.backend,
                                                             args.fmax, opts, args.chunk, args.limit),
                "chunks, fresh Hessian": fresh(atoms, args.backend, args.fmax, opts, args.chunk, args.limit)}
        for leg, r in legs.items():
            r.update({"case": name, "leg": leg, "steps / reference": round(r["steps"] / max(ref["steps"], 1), 2),
                      "energy - reference (meV)": round(1000 * (r["energy (eV)"] - ref["energy (eV)"]), 3)})
            rows.append(r)
            print(f"{name:34s} {leg:36s} {r['status']:9s} steps {r['steps']:4d}  chunks {r['chunks']:3d}  "
                  f"ratio {r['steps / reference']:5.2f}  dE {r['energy - reference (meV)']:+.3f} meV", flush=True)
    (out / "bench_resume.json").write_text(json.dumps({"backend": args.backend, "chunk": args.chunk,
                                                       "fmax": args.fmax, "rows": rows}, indent=1))
    bad = [r for r in rows if r["status"] != "completed"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
