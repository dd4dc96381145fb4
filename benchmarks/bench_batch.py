"""Batched MLIP execution and domain decomposition: what they cost against the plain way, same run.

1. Single points: N structures in few batched calls (pvatoms.calc.batched) against one ASE
   calculator call per structure, for small cells (20-atom rattled Pnma) and 2x2x2 vacancy cells
   (159 atoms): ratio sequential / batched.
2. Relaxations: pvatoms.jobs.relax_batch against pvatoms.jobs.relax (FIRE, the same path), one
   result folder per structure either way: ratio sequential / batched.
2b. NEB: a climbing-image band (V_Br hop between inequivalent sites of 20-atom Pnma, 5 images) with
   the images of each band step in one batched call against one calculator per image, same number
   of FIRE steps: ratio separate / batched.
3. Domain decomposition (pvatoms.calc.domains): measured time of the decomposed forces against one
   call at a few sizes (SevenNet-0), and, for larger nanocrystals, the plan only: domains, atoms
   evaluated (ghosts included) per atom, and the largest domain's memory estimate against the
   budgets of an H200, an H100 and this machine.

Run: .venv/bin/python benchmarks/bench_batch.py [--models chgnet sevennet] [--small 16] [--quick]
On a GPU the same script measures the batching gain and where decomposition starts to pay.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def small_cells(n, amplitude=0.05):
    from pvatoms.build import cspbbr3
    out = []
    for k in range(n):
        a = cspbbr3()
        a.rattle(amplitude, seed=k)
        out.append(a)
    return out


def vacancy_cells():
    from pvatoms.build import cspbbr3, point_defects
    return [d.atoms for d in point_defects(cspbbr3(), vacancies=["Br", "Pb", "Cs"], supercell=(2, 2, 2))]


def statics(model, sets):
    from pvatoms.calc.batched import BatchedMLIP
    engine = BatchedMLIP(model, progress=False)
    backend = engine.backend
    rows = []
    engine.static(sets[0][1][:2])                              # warm-up: load, first graphs
    warm = sets[0][1][0].copy()
    warm.calc = backend.calculator()
    warm.get_forces()
    for name, cells in sets:
        def one_by_one():
            for a in cells:
                x = a.copy()
                x.calc = backend.calculator()
                x.get_forces()
        t_seq, _ = timed(one_by_one)
        calls0 = engine.calls
        t_bat, _ = timed(lambda: engine.static(cells))
        rows.append((model, f"static {name}", len(cells), t_seq, t_bat, engine.calls - calls0))
    return rows


def relaxations(model, cells, fmax=0.05, steps=200):
    from pvatoms.calc.batched import BatchedMLIP
    from pvatoms.jobs import relax, relax_batch
    engine = BatchedMLIP(model, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t_seq, seq = timed(lambda: [relax(a, tmp / "s" / str(k), backend=engine.backend, fmax=fmax, steps=steps,
                                          optimizer="fire") for k, a in enumerate(cells)])
        calls0 = engine.calls
        t_bat, bat = timed(lambda: relax_batch(cells, [tmp / "b" / str(k) for k in range(len(cells))], fmax=fmax,
                                               steps=steps, engine=engine, progress=False))
    worst = max(abs(a["energy_per_atom"] - b["energy_per_atom"]) for a, b in zip(seq, bat)) * 1e3
    steps_total = sum(d["data"]["steps"] for d in seq)
    return [(model, f"relax rattled 20-atom (FIRE, {steps_total} steps in all; |dE| <= {worst:.4f} meV/atom)",
             len(cells), t_seq, t_bat, engine.calls - calls0)]


def nebs(model, steps=40, n_images=5):
    import numpy as np

    from pvatoms.build import cspbbr3
    from pvatoms.build.common import symmetry_dataset
    from pvatoms.calc.batched import BatchedMLIP
    from pvatoms.jobs import nearest_vacancy_hops, neb, vacancy_hop
    perfect = cspbbr3("pnma", "pbe")
    wyckoff, sym = symmetry_dataset(perfect).wyckoffs, perfect.get_chemical_symbols()
    br = next(i for i, s in enumerate(sym) if s == "Br" and wyckoff[i] == "d")
    to = next(j for j, _ in nearest_vacancy_hops(perfect, br) if wyckoff[j] == "c")
    a, b = vacancy_hop(perfect, br, to)
    backend = BatchedMLIP(model, progress=False).backend          # loads the model before the clocks
    with tempfile.TemporaryDirectory() as tmp:
        run = {mode: timed(lambda mode=mode: neb(a, b, Path(tmp) / mode, backend=backend, n_images=n_images,
                                                 steps=steps, fmax=1e-4, relax_endpoints=False, evaluation=mode))
               for mode in ("separate", "batched")}
    (t_seq, seq), (t_bat, bat) = run["separate"], run["batched"]
    de = np.abs(np.subtract(seq["data"]["energies"], bat["data"]["energies"])).max() * 1e3
    return [(model, f"NEB {n_images} images x {steps} FIRE steps, 19 atoms (|dE| <= {de:.3f} meV per image)",
             n_images, t_seq, t_bat, bat["data"]["image_evaluation"]["model_calls"])]


def domains_measured(sizes):
    import numpy as np

    from pvatoms.build import nanocrystal
    from pvatoms.calc import get_backend
    from pvatoms.calc.domains import DomainCalculator
    backend = get_backend("sevennet", domains="never")
    model, _, _ = backend.loaded_model()
    rows = []
    for edge, counts in sizes:
        dot = nanocrystal(edge)
        one = dot.copy()
        one.calc = backend.calculator()
        t1, f1 = timed(one.get_forces)
        cut = dot.copy()
        cut.calc = DomainCalculator(model, device=backend.device, counts=counts)
        t2, f2 = timed(cut.get_forces)
        rep = cut.calc.report
        rows.append((len(dot), "x".join(map(str, counts)), rep["domains"], rep["largest_cluster"], t1, t2,
                     float(np.abs(f1 - f2).max())))
    return rows


def domains_planned(edges):
    from pvatoms.build import nanocrystal
    from pvatoms.calc.domains import choose_counts, plan_domains
    from pvatoms.calc.memory import MemoryModel, memory_budget
    memory = MemoryModel("sevennet", 5.0)
    budgets = {"H200 (0.8 x 141 GB)": 0.8 * 141e9, "H100 (0.8 x 80 GB)": 0.8 * 80e9,
               "this machine": memory_budget("cpu")}
    rows = []
    for edge in edges:
        dot = nanocrystal(edge)
        per_atom = memory.cost(dot) / len(dot)
        for name, budget in budgets.items():
            try:
                counts = choose_counts(dot, 25.0, lambda n: n * per_atom <= budget)
            except Exception as exc:             # noqa: BLE001 (reported in the table)
                rows.append((len(dot), name, per_atom * len(dot) / 1e9, str(exc)[:60], "", "", ""))
                continue
            sizes = [len(d.index) for d in plan_domains(dot, 25.0, counts)]
            rows.append((len(dot), name, per_atom * len(dot) / 1e9, "x".join(map(str, counts)), len(sizes),
                         sum(sizes) / len(dot), max(sizes) * per_atom / 1e9))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["chgnet", "sevennet"])
    ap.add_argument("--small", type=int, default=16, help="number of 20-atom cells")
    ap.add_argument("--relax", type=int, default=6, help="number of cells relaxed")
    ap.add_argument("--quick", action="store_true", help="skip the vacancy cells and the measured domains")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (2 cores shared here: 1)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import torch
    torch.set_num_threads(args.threads)
    from pvatoms.calc.mlip import default_device
    print(f"device {default_device()}, torch threads {torch.get_num_threads()}")
    rows = []
    for model in args.models:
        sets = [("rattled 20-atom", small_cells(args.small))]
        if not args.quick:
            sets.append(("2x2x2 vacancy cells, 159 atoms", vacancy_cells()))
        rows += statics(model, sets)
        rows += relaxations(model, small_cells(args.relax, amplitude=0.08))
        rows += nebs(model)
    print("\n1-2. batched against one by one (same run)")
    print(f"{'model':9s} {'what':78s} {'N':>3s} {'one by one s':>12s} {'batched s':>10s} {'ratio':>6s} {'calls':>6s}")
    for model, what, n, t_seq, t_bat, calls in rows:
        print(f"{model:9s} {what:78s} {n:3d} {t_seq:12.2f} {t_bat:10.2f} {t_seq / t_bat:6.2f} {calls:6d}")
    if not args.quick:
        print("\n3a. SevenNet-0 forces by domains (25 Å ghost shells) against one call, bare nanocrystals")
        print(f"{'atoms':>6s} {'grid':>6s} {'domains':>8s} {'largest':>8s} {'one call s':>10s} {'domains s':>10s} "
              f"{'ratio':>6s} {'max |dF| eV/Å':>14s}")
        for n, grid, nd, largest, t1, t2, df in domains_measured([(1.8, (2, 1, 1)), (3.6, (2, 1, 1))]):
            print(f"{n:6d} {grid:>6s} {nd:8d} {largest:8d} {t1:10.2f} {t2:10.2f} {t2 / t1:6.2f} {df:14.2e}")
    print("\n3b. plans for larger nanocrystals (SevenNet-0, memory estimate per call)")
    print(f"{'atoms':>7s} {'budget':22s} {'one call GB':>11s} {'grid':>8s} {'domains':>7s} {'evaluated/atom':>14s} "
          f"{'largest GB':>10s}")
    for n, name, single, grid, nd, work, largest in domains_planned([8.0, 12.0, 16.0]):
        if nd == "":
            print(f"{n:7d} {name:22s} {single:11.1f} {grid}")
        else:
            print(f"{n:7d} {name:22s} {single:11.1f} {grid:>8s} {nd:7d} {work:14.2f} {largest:10.1f}")


if __name__ == "__main__":
    main()
