#!/usr/bin/env python
"""DFT relaxation of a charged vacancy with and without a machine-learned pre-relaxation.

    python benchmarks/bench_prerelax.py [--phase pnma] [--defect Br] [--charge 1] [--supercell 1]
                                        [--mlip sevennet] [--ecut 200] [--fmax 0.05] [--serial]

Same defect, same run. The host's positions are first relaxed by the same DFT (fixed cell,
symmetry kept; common to both legs, not counted): a Γ-only 20-atom Pnma cell at 200 eV has
forces up to 0.27 eV/Å at the PBE reference geometry, and relaxing them away would otherwise
dominate both legs (``--no-host-relax`` skips it). Then (a) GPAW relaxation (defect
conventions: fixed cell, symmetry off) from the unrelaxed vacancy cell cut from that host; (b) the
MLIP relaxes the neutral cell first, then the same GPAW relaxation starts from its geometry. The two legs run side by side, each in its own
process with one thread on its own core (``--serial``: one after the other), so their wall times
compare like for like. Prints the DFT ionic steps and wall times of both, their ratios (goal:
>= 3x fewer DFT steps with the pre-relaxation), the MLIP's own time, and the energy difference of
the two DFT minima (the same minimum within the force criterion, or two different ones).

The DFT settings are those of the demo's quick charged study by default (Γ, 200 eV, SCF converged
to 1e-3 density / 4e-7 eigenstates): a step count depends on the energy surface, not on the last
meV of each SCF; ``--ecut 250 --tight`` gives the full demo's settings.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path


def _one_thread():
    import os
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    import torch
    torch.set_num_threads(1)


def _defect(args):
    from pvatoms.build import cspbbr3, point_defects
    from pvatoms.io import read_structure
    n = args["supercell"]
    host = read_structure(args["host"]) if args.get("host") else cspbbr3(args["phase"])
    return point_defects(host, vacancies=[args["defect"]], supercell=(n, n, n))[0]


def _relax_host(args, out: Path) -> tuple[str, dict]:
    """DFT relaxation of the host's positions at the legs' settings; returns the structure file
    and its figures."""
    _one_thread()
    from pvatoms.build import cspbbr3
    from pvatoms.io import write_structure
    from pvatoms.jobs import relax
    from pvatoms.schema import atoms_from_dict
    t = time.perf_counter()
    doc = relax(cspbbr3(args["phase"]), out / "host", backend=_dft(args), fmax=args["fmax"], steps=args["steps"])
    if doc["status"] != "completed":
        raise SystemExit(f"host relaxation {doc['status']}: {doc.get('reason')}")
    path = write_structure(atoms_from_dict(doc["structure"]), out / "host" / "relaxed.vasp")
    return str(path), {"steps": doc["data"]["steps"], "wall": time.perf_counter() - t}


def _dft(args):
    from pvatoms.calc import get_backend
    gamma = args["supercell"] > 1 or args["phase"] == "pnma"     # Pnma: gap at Γ; cubic unit cell: at R
    settings = {"kpts": (1, 1, 1) if gamma else (2, 2, 2), "ecut": args["ecut"]}
    if not args["tight"]:
        settings["convergence"] = {"density": 1e-3, "eigenstates": 4e-7}
    return get_backend("gpaw", **settings)


def _leg(args: dict, leg: str, out: str) -> dict:
    """One leg: 'direct' (DFT from the unrelaxed cell) or 'mlip' (MLIP, then DFT); returns its
    figures (also written to ``out``/<leg>.json)."""
    _one_thread()
    from pvatoms.jobs import relax
    from pvatoms.schema import atoms_from_dict
    folder = Path(out)
    atoms = _defect(args).atoms
    fig = {"leg": leg}
    if leg == "mlip":
        t = time.perf_counter()
        pre = relax(atoms, folder / "mlip", backend=args["mlip"], fmax=args["fmax"], steps=500)
        fig.update(mlip_steps=pre["data"].get("steps"), mlip_wall=time.perf_counter() - t)
        atoms = atoms_from_dict(pre["structure"])
    t = time.perf_counter()
    doc = relax(atoms, folder / f"dft-{leg}", backend=_dft(args), charge=args["charge"], defect=True,
                fmax=args["fmax"], steps=args["steps"])
    fig.update(status=doc["status"], steps=doc["data"].get("steps"), wall=time.perf_counter() - t,
               energy=doc.get("energy"), fmax=doc["data"].get("fmax"))
    (folder / f"{leg}.json").write_text(json.dumps(fig, indent=1))
    return fig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--defect", default="Br", help="vacancy element (default Br)")
    ap.add_argument("--charge", type=int, default=1, help="charge state (default +1)")
    ap.add_argument("--phase", default="pnma", choices=["pnma", "cubic"], help="CsPbBr3 host (default pnma)")
    ap.add_argument("--supercell", type=int, default=1, help="host cell repeated N x N x N (default 1: the "
                    "20-atom Pnma cell; cubic 2: 40 atoms)")
    ap.add_argument("--mlip", default="sevennet", help="pre-relaxation backend (default sevennet)")
    ap.add_argument("--ecut", type=float, default=200.0, help="plane-wave cut-off, eV (default 200)")
    ap.add_argument("--tight", action="store_true", help="GPAW's default SCF convergence")
    ap.add_argument("--fmax", type=float, default=0.05, help="force criterion, eV/Å (default 0.05)")
    ap.add_argument("--steps", type=int, default=300, help="most DFT ionic steps per leg (default 300)")
    ap.add_argument("--serial", action="store_true", help="run the legs one after the other")
    ap.add_argument("--no-host-relax", dest="host_relax", action="store_false",
                    help="cut the vacancy from the unrelaxed reference host")
    ap.add_argument("--out", help="working folder (default: a new temporary one)")
    args = vars(ap.parse_args(argv))

    out = Path(args["out"] or tempfile.mkdtemp(prefix="bench-prerelax-"))
    out.mkdir(parents=True, exist_ok=True)
    if args["host_relax"]:
        args["host"], host = _relax_host(args, out)
        print(f"host positions relaxed by the same DFT: {host['steps']} steps, {host['wall']:.0f} s (not counted)",
              flush=True)
    d = _defect(args)
    print(f"{d.name} q={args['charge']:+d} in {len(d.atoms)} atoms; GPAW PBE {args['ecut']:g} eV, "
          f"{'default' if args['tight'] else 'loose'} SCF, fmax {args['fmax']} eV/Å; {out}", flush=True)
    t0 = time.perf_counter()
    if args["serial"]:
        figs = [_leg(args, leg, str(out)) for leg in ("direct", "mlip")]
    else:
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            figs = pool.starmap(_leg, [(args, "direct", str(out)), (args, "mlip", str(out))])
    direct, after = figs
    for name, f in (("from the unrelaxed cell", direct), (f"after {args['mlip']}", after)):
        print(f"  DFT {name:<26} {f['status']:<9} {f['steps']} steps, {f['wall']:7.1f} s, "
              f"E = {f['energy']}, final f_max {f['fmax']}")
    print(f"  {args['mlip']} pre-relaxation: {after['mlip_steps']} steps, {after['mlip_wall']:.1f} s")
    if direct["status"] == after["status"] == "completed":
        print(f"  ratio of DFT steps {direct['steps'] / max(after['steps'], 1):.1f}x (goal >= 3x); ratio of DFT "
              f"wall time {direct['wall'] / max(after['wall'], 1e-9):.1f}x; including the MLIP "
              f"{direct['wall'] / (after['wall'] + after['mlip_wall']):.1f}x")
        print(f"  E(after MLIP) - E(direct) = {after['energy'] - direct['energy']:+.4f} eV")
    print(f"  whole benchmark {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
