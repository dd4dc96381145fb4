"""Nanocrystal builder speed and memory, as ratios against references measured in the same run.

For 5, 10.7 and 15 nm CsPbBr3 dots capped with a ligand shell (default: oleylammonium on 50 % of
the A sites, the [CsPbBr3](PbBr2){AX'} model) it measures build time (best of --repeat) and peak
traced memory (tracemalloc, one run), and prints
- time and memory per atom relative to the 5 nm dot (the scaling: ~1 means linear in atoms);
- the cost of the bare core built by pvatoms (no ligands) and by a plain reference, a cube cut
  from an ASE supercell of Pnma CsPbBr3 (``atoms.repeat`` + a numpy mask: no labels, no
  octahedra check, no charge balance), so the ratio says what the model and the ligands cost.

Run: .venv/bin/python benchmarks/bench_nanocrystal.py [--repeat N] [--ligand NAME] [--coverage F]
     [--edges 5 10.7 15] [--framework pnma|cubic]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np


def measure(fn, repeat):
    """Best wall time (s) over ``repeat`` runs and peak traced memory (MiB) of one extra run."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return min(times), peak, out


def ase_cube(pnma, edge_nm):
    """Reference: repeat the 20-atom Pnma cell and keep the atoms inside a cube (plain numpy)."""
    a, b, c = pnma.cell.lengths()
    L = edge_nm * 10.0
    reps = (int(np.ceil(L / a)) + 1, int(np.ceil(L / b)) + 1, int(np.ceil(L / c)) + 1)
    big = pnma.repeat(reps)
    p = big.positions - big.positions.mean(axis=0)
    return big[np.all(np.abs(p) <= L / 2, axis=1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--ligand", default="oleylammonium")
    ap.add_argument("--coverage", type=float, default=0.5)
    ap.add_argument("--edges", type=float, nargs="+", default=[5.0, 10.7, 15.0])
    ap.add_argument("--framework", default="pnma")
    args = ap.parse_args()

    from pvatoms.build.bulk import cspbbr3
    from pvatoms.build.ligand_library import get_ligand
    from pvatoms.build.nanocrystal import nanocrystal

    get_ligand(args.ligand)                      # the RDKit template is made once per process
    pnma = cspbbr3("pnma")
    print(f"CsPbBr3 nanocrystals, {args.framework} framework, {args.ligand} on {args.coverage:.0%} of the "
          f"available sites (best of {args.repeat}; memory: tracemalloc peak)")
    print(f"{'edge':>6} {'atoms':>8} {'ligands':>8} {'time s':>8} {'MiB':>8} {'us/atom':>8} "
          f"{'t/atom vs 5nm':>13} {'MiB/atom vs 5nm':>15} {'bare s':>7} {'ase cube s':>10} "
          f"{'capped/bare':>11} {'bare/ase':>8}")
    ref = None
    for edge in args.edges:
        t, m, dot = measure(lambda: nanocrystal(edge=edge, ligand=args.ligand, coverage=args.coverage,
                                                framework=args.framework), args.repeat)
        tb, mb, bare = measure(lambda: nanocrystal(edge=edge, framework=args.framework), args.repeat)
        ta, ma, cube = measure(lambda: ase_cube(pnma, edge), args.repeat)
        n = len(dot)
        per_t, per_m = t / n, m / n
        if ref is None:
            ref = (per_t, per_m)
        nlig = dot.info["nanocrystal"]["ligands"]["n_ligands"]
        print(f"{edge:6.1f} {n:8d} {nlig:8d} {t:8.2f} {m:8.1f} {per_t * 1e6:8.1f} {per_t / ref[0]:13.2f} "
              f"{per_m / ref[1]:15.2f} {tb:7.2f} {ta:10.2f} {t / tb:11.1f} {tb / ta:8.2f}")
        print(f"{'':6} bare dot {len(bare)} atoms ({mb:.0f} MiB), ase cube {len(cube)} atoms ({ma:.0f} MiB)")


if __name__ == "__main__":
    main()
