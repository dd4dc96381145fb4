"""MLIP cost per NEB image per force call, and the job layer's overhead, as ratios in one run.

1. NEB force calls for CHGNet and SevenNet-0 at 160 and 360 atoms (2x2x2 and 3x2x3 Pnma
   CsPbBr3 with one Br vacancy): wall time of one band force evaluation divided by the number of
   images (one calculator per image, shared model), against one bare calculator call on one cell.
2. Job-layer overhead: pvatoms.jobs.static / pvatoms.jobs.relax (fixed number of steps) against
   the same bare ASE calls in the same process.

Run: .venv/bin/python benchmarks/bench_mlip.py [--models chgnet sevennet] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path



def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def neb_case(backend, reps, n_images, repeat):
    from ase.mep import NEB

    from pvatoms.build import cspbbr3, defects_supercell
    from pvatoms.jobs import nearest_vacancy_hops, vacancy_hop
    perfect = defects_supercell(cspbbr3(), reps)
    br = perfect.get_chemical_symbols().index("Br")
    a, b = vacancy_hop(perfect, br, nearest_vacancy_hops(perfect, br)[0][0])
    images = [a.copy() for _ in range(n_images + 1)] + [b.copy()]
    NEB(images, method="improvedtangent").interpolate(mic=True)
    for im in images:
        im.calc = backend.calculator()
    band = NEB(images, climb=True, allow_shared_calculator=False, method="improvedtangent")

    def band_call():
        for im in images[1:-1]:
            im.positions += 1e-5          # invalidate the cached results
        band.get_forces()

    single = a.copy()
    single.calc = backend.calculator()

    def bare_call():
        single.positions += 1e-5
        single.get_forces()

    band_call()
    bare_call()                           # warm-up (model load, graph compile)
    t_band = best(band_call, repeat) / n_images
    t_bare = best(bare_call, repeat)
    return len(a), t_band, t_bare


def overhead_case(backend, repeat):
    from ase.optimize import BFGS

    from pvatoms.build import cspbbr3
    from pvatoms.jobs import relax, static
    atoms = cspbbr3()
    atoms.rattle(0.05, seed=3)
    tmp = Path(tempfile.mkdtemp())

    def bare_static():
        x = atoms.copy()
        x.calc = backend.calculator()
        x.get_potential_energy(), x.get_forces(), x.get_stress()

    counter = iter(range(10**6))

    def job_static():
        static(atoms, tmp / f"s{next(counter)}", backend=backend)

    def bare_relax():
        x = atoms.copy()
        x.calc = backend.calculator()
        BFGS(x, logfile=None).run(fmax=1e-6, steps=10)

    def job_relax():
        relax(atoms, tmp / f"r{next(counter)}", backend=backend, fmax=1e-6, steps=10)

    bare_static()
    job_static()
    return (best(bare_static, repeat), best(job_static, repeat),
            best(bare_relax, repeat), best(job_relax, repeat))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["chgnet", "sevennet"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--images", type=int, default=3)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    from pvatoms.calc import get_backend
    print(f"torch threads: {torch.get_num_threads()}, device: {get_backend(args.models[0]).device}")
    print(f"{'model':<10} {'atoms':>6} {'NEB s/image/call':>18} {'bare s/call':>12} {'ratio':>7}")
    for name in args.models:
        backend = get_backend(name)
        for reps in ((2, 2, 2), (3, 2, 3)):
            n, t_band, t_bare = neb_case(backend, reps, args.images, args.repeat)
            print(f"{name:<10} {n:>6} {t_band:>18.3f} {t_bare:>12.3f} {t_band / t_bare:>7.2f}")
    print("\njob-layer overhead (20-atom Pnma): pvatoms job / bare ASE, same process")
    for name in args.models:
        bs, js, br, jr = overhead_case(get_backend(name), args.repeat)
        print(f"{name:<10} static {js:.3f} s / {bs:.3f} s = {js / bs:.3f}   "
              f"relax(10 steps) {jr:.3f} s / {br:.3f} s = {jr / br:.3f}")


if __name__ == "__main__":
    main()
