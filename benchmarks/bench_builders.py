"""Builder speed and memory, as ratios against a reference run in the same process.

1. All distinct point defects of Pnma CsPbBr3 (vacancies, interstitials and antisites of Cs, Pb,
   Br) enumerated and built in a 2x2x2 supercell: pvatoms.point_defects vs
   pymatgen-analysis-defects' generators (VacancyGenerator, VoronoiInterstitialGenerator,
   AntiSiteGenerator) + get_supercell_structure on the same input.
2. A ~10,000-atom RP/perovskite interface: pvatoms.rp_interface (labels, checks) vs the nearest
   plain equivalent, ase.build.stack of a Pnma block and a tilted RP block followed by a repeat
   (no labels, no checks).

Run: .venv/bin/python benchmarks/bench_builders.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np


def measure(fn, repeat):
    """Best wall time (s) over ``repeat`` runs and peak traced memory (MiB) of one run."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return min(times), peak, out


def defects_pvatoms(pnma):
    from pvatoms.build import point_defects
    el = ["Cs", "Pb", "Br"]
    anti = [f"{a}_{b}" for a in el for b in el if a != b]
    return point_defects(pnma, vacancies=el, interstitials=el, antisites=anti, supercell=(2, 2, 2))


def defects_pymatgen(structure):
    from pymatgen.analysis.defects.generators import (AntiSiteGenerator, VacancyGenerator,
                                                      VoronoiInterstitialGenerator)
    defects = VacancyGenerator().get_defects(structure)
    defects += list(VoronoiInterstitialGenerator().get_defects(structure, insert_species={"Cs", "Pb", "Br"}))
    defects += AntiSiteGenerator().get_defects(structure)
    sc = np.diag([2, 2, 2])
    return [d.get_supercell_structure(sc_mat=sc) for d in defects]


def interface_pvatoms():
    from pvatoms.build import rp_interface
    return rp_interface(rp_n=1, rp_layers=5, perovskite_layers=9, supercell=(8, 8))


def interface_ase_stack(pv_block, rp_block):
    from ase.build import stack
    return stack(pv_block, rp_block, axis=2, maxstrain=None).repeat((8, 8, 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from pymatgen.io.ase import AseAtomsAdaptor

    from pvatoms.build import cspbbr3, ruddlesden_popper

    pnma = cspbbr3("pnma")
    structure = AseAtomsAdaptor.get_structure(pnma)
    t_ours, m_ours, ours = measure(lambda: defects_pvatoms(pnma), args.repeat)
    t_ref, m_ref, ref = measure(lambda: defects_pymatgen(structure), args.repeat)
    print("point defects of Pnma CsPbBr3 in a 2x2x2 supercell (vacancies + interstitials + antisites)")
    print(f"  pvatoms.point_defects           {t_ours:8.3f} s  {m_ours:7.1f} MiB  {len(ours)} defects")
    print(f"  pymatgen-analysis-defects       {t_ref:8.3f} s  {m_ref:7.1f} MiB  {len(ref)} defects")
    print(f"  ratio pvatoms / reference       time {t_ours / t_ref:.3f}   memory {m_ours / m_ref:.3f}")

    # reference blocks with the same in-plane lattice: Pnma cell with b along z, tilted RP n=1
    pv = cspbbr3("pnma")
    pv.set_cell(np.array(pv.cell)[[2, 0, 1]], scale_atoms=False)
    pv = pv.repeat((1, 1, 5))                          # 10 octahedral layers
    rp = ruddlesden_popper(1, tilted=True)
    rp = rp.repeat((1, 1, 3))
    t_ours, m_ours, ours = measure(interface_pvatoms, args.repeat)
    t_ref, m_ref, ref = measure(lambda: interface_ase_stack(pv, rp), args.repeat)
    print("\nRP/perovskite interface, ~10,000 atoms")
    print(f"  pvatoms.rp_interface            {t_ours:8.3f} s  {m_ours:7.1f} MiB  {len(ours)} atoms")
    print(f"  ase.build.stack + repeat        {t_ref:8.3f} s  {m_ref:7.1f} MiB  {len(ref)} atoms")
    print(f"  ratio pvatoms / reference       time {t_ours / t_ref:.3f}   memory {m_ours / m_ref:.3f}")
    print(f"  per atom                        time {(t_ours / len(ours)) / (t_ref / len(ref)):.3f}   "
          f"memory {(m_ours / len(ours)) / (m_ref / len(ref)):.3f}")


if __name__ == "__main__":
    main()
