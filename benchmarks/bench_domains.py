"""A whole ligand-capped dot relaxed through the domain-decomposed SevenNet-0 calculator, against
the same relaxation with one model call per step (the reference), in the same run.

    OMP_NUM_THREADS=1 python benchmarks/bench_domains.py --grid 2 1 1          # 1.8 nm, 511 atoms, CPU
    python benchmarks/bench_domains.py --edge 10.7 --ligand oleylammonium --device cuda --no-reference

Both legs are the ``relax`` job (positions, BFGS, ``--fmax``) of the same dot (CsPbBr3 core,
``--ligand`` on ``--coverage`` of the A sites, non-periodic) with backend setting ``domains``
``always`` (cut into domains with ghost shells of the receptive field, 25 Å for SevenNet-0; the
cut fixed by ``--grid`` / ``--domain-atoms``, the backend settings ``domain_grid`` /
``domain_atoms``) and ``never``. Printed and written to ``OUT/bench_domains.json``: atoms, steps, wall time, time per
step and its ratio to the reference, the domain grid and the largest cluster, and how far the two
relaxed dots are apart (energy per atom, largest position and final-force difference). The
decomposition is exact, so the two legs follow one path until round-off (~1e-5 eV/Å) sends
BFGS on slightly different steps near the minimum; both must end converged at energies within
1 meV/atom. Below ~10^4 atoms the ghost shells cover most of the dot and the decomposed leg is
slower per step: the CPU run proves the path, the GPU run (``--no-reference`` beyond one call's
memory) measures the scale.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def run_leg(dot, out: Path, how: str, args) -> dict:
    from pvatoms.calc import get_backend
    from pvatoms.jobs import relax
    cut = {"domain_grid": args.grid, "domain_atoms": args.domain_atoms} if how == "always" else {}
    backend = get_backend("sevennet", device=args.device, domains=how, **cut)
    t = time.perf_counter()
    doc = relax(dot, out / how, backend=backend, fmax=args.fmax, steps=args.steps)
    wall = time.perf_counter() - t
    data = doc.get("data") or {}
    ran = (data.get("steps") or 0) - (data.get("restarted_at_step") or 0)   # this run's steps, not a resumed run's
    return {"domains": how, "status": doc["status"], "steps": data.get("steps"), "wall (s)": round(wall, 1),
            "s per step": round(wall / max(1, ran), 3), "fmax (eV/Å)": data.get("fmax"),
            "energy (eV)": doc.get("energy"), "decomposition": data.get("domains"), "document": doc}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench-domains")
    ap.add_argument("--edge", type=float, default=1.8, help="dot edge, nm")
    ap.add_argument("--ligand", default="methylammonium")
    ap.add_argument("--coverage", type=float, default=1.0)
    ap.add_argument("--fmax", type=float, default=0.05, help="eV/Å")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--grid", type=int, nargs=3, default=None, metavar=("NA", "NB", "NC"),
                    help="fixed domain grid (default: from the memory budget; on a CPU a small dot fits one domain)")
    ap.add_argument("--domain-atoms", type=int, default=None, help="cap on the atoms of one cluster")
    ap.add_argument("--no-reference", action="store_true", help="skip the one-call leg (beyond its memory)")
    args = ap.parse_args(argv)
    from pvatoms.build import nanocrystal
    from pvatoms.schema import atoms_from_dict
    out = Path(args.out).resolve()
    dot = nanocrystal(args.edge, ligand=args.ligand, coverage=args.coverage)
    legs = [run_leg(dot, out, "always", args)]
    if not args.no_reference:
        legs.append(run_leg(dot, out, "never", args))
    report = {"atoms": len(dot), "edge (nm)": args.edge, "ligand": args.ligand, "coverage": args.coverage,
              "fmax": args.fmax, "device": args.device,
              "legs": [{k: v for k, v in leg.items() if k != "document"} for leg in legs]}
    print(f"{len(dot)} atoms, {args.edge} nm dot, {args.ligand} on {args.coverage:.0%} of the A sites")
    for leg in report["legs"]:
        print(f"domains={leg['domains']:6s} {leg['status']:9s} {leg['steps']} steps {leg['wall (s)']} s "
              f"({leg['s per step']} s/step) fmax {leg['fmax (eV/Å)']} E {leg['energy (eV)']}")
    if len(legs) == 2:
        a, b = (leg["document"] for leg in legs)
        pa, pb = (atoms_from_dict(d["structure"]).positions for d in (a, b))
        report["comparison"] = {
            "time per step ratio (domains / one call)": round(legs[0]["s per step"] / legs[1]["s per step"], 2),
            "dE (meV/atom)": round(1e3 * (a["energy"] - b["energy"]) / len(dot), 4),
            "max |dr| (Å)": float(np.abs(pa - pb).max()),
            "max |dF| (eV/Å)": float(np.abs(np.asarray(a["forces"]) - np.asarray(b["forces"])).max())}
        print(report["comparison"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_domains.json").write_text(json.dumps(report, indent=1, default=str))
    ok = all(leg["status"] == "completed" for leg in legs)
    if len(legs) == 2:
        ok = ok and abs(report["comparison"]["dE (meV/atom)"]) <= 1.0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
