#!/usr/bin/env python
"""DFT relaxation of a charged vacancy with and without a machine-learned pre-relaxation.

    python benchmarks/bench_prerelax.py [--phase pnma] [--defect Br] [--charge 1] [--supercell 1]
                                        [--mlip sevennet]

Same defect, same run: (a) GPAW relaxation (defect conventions: fixed cell, symmetry off) from
the unrelaxed vacancy cell cut from the host; (b) the MLIP relaxes the neutral cell first, then
the same GPAW relaxation starts from its geometry. Prints the DFT ionic steps and wall times of
both, their ratios (goal: >= 3x fewer DFT steps with the pre-relaxation), the MLIP's own time,
and the energy difference of the two DFT minima (same minimum within the force criterion?).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--defect", default="Br", help="vacancy element (default Br)")
    ap.add_argument("--charge", type=int, default=1, help="charge state (default +1)")
    ap.add_argument("--phase", default="pnma", choices=["pnma", "cubic"], help="CsPbBr3 host (default pnma)")
    ap.add_argument("--supercell", type=int, default=1, help="host cell repeated N x N x N (default 1: the "
                    "20-atom Pnma cell; cubic 2: 40 atoms)")
    ap.add_argument("--mlip", default="sevennet", help="pre-relaxation backend (default sevennet)")
    ap.add_argument("--ecut", type=float, default=250.0)
    ap.add_argument("--fmax", type=float, default=0.05)
    args = ap.parse_args(argv)

    from pvatoms.build import cspbbr3, point_defects
    from pvatoms.calc import get_backend
    from pvatoms.jobs import relax

    host = cspbbr3(args.phase)
    n = args.supercell
    defect = point_defects(host, vacancies=[args.defect], supercell=(n, n, n))[0]
    gamma = n > 1 or args.phase == "pnma"             # Pnma: the gap is at Γ; cubic unit cell: at R
    dft = get_backend("gpaw", kpts=(1, 1, 1) if gamma else (2, 2, 2), ecut=args.ecut)
    out = Path(tempfile.mkdtemp(prefix="bench-prerelax-"))
    print(f"{defect.name} q={args.charge:+d} in {len(defect.atoms)} atoms; GPAW PBE {args.ecut:g} eV; {out}")

    t = time.perf_counter()
    direct = relax(defect.atoms, out / "direct", backend=dft, charge=args.charge, defect=True, fmax=args.fmax,
                   steps=200)
    t_direct = time.perf_counter() - t

    t = time.perf_counter()
    pre = relax(defect.atoms, out / "mlip", backend=args.mlip, fmax=args.fmax, steps=500)
    t_mlip = time.perf_counter() - t
    from pvatoms.schema import atoms_from_dict
    start = atoms_from_dict(pre["structure"])
    t = time.perf_counter()
    after = relax(start, out / "after-mlip", backend=dft, charge=args.charge, defect=True, fmax=args.fmax,
                  steps=200)
    t_after = time.perf_counter() - t

    for name, doc, wall in (("from the unrelaxed cell", direct, t_direct), (f"after {args.mlip}", after, t_after)):
        print(f"  DFT {name:<26} {doc['status']:<9} {doc['data'].get('steps')} steps, {wall:7.1f} s, "
              f"E = {doc.get('energy')}")
    print(f"  {args.mlip} pre-relaxation: {pre['data'].get('steps')} steps, {t_mlip:.1f} s")
    if direct["status"] == after["status"] == "completed":
        ratio = direct["data"]["steps"] / max(after["data"]["steps"], 1)
        print(f"  ratio of DFT steps {ratio:.1f}x (goal >= 3x); ratio of DFT wall time "
              f"{t_direct / max(t_after, 1e-9):.1f}x; ratio incl. the MLIP {t_direct / (t_after + t_mlip):.1f}x")
        print(f"  E(after MLIP) - E(direct) = {after['energy'] - direct['energy']:+.4f} eV")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
