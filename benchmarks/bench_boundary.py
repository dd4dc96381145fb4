"""The RP / perovskite boundary study run for real: the convergence table of the band offsets
against model thickness and DFT settings, and the cost of each model (atoms, wall time, GPAW array memory).

    OMP_NUM_THREADS=1 python benchmarks/bench_boundary.py --out runs/bench-boundary
    python benchmarks/bench_boundary.py --models 1x3 2x4 --settings 1x1:200 --relax chgnet   # a first look
    python benchmarks/bench_boundary.py --models 1x3 --settings 1x1:200 --relax gpaw:200     # PBE//PBE geometries
    python benchmarks/bench_boundary.py --models 2x4 --settings 1x1:200 --relax sevennet --geometries chgnet

Models are ``MxK`` (M Cs2PbBr4 blocks, K PbBr2 layers of the Pnma side; K + M even for the b
stacking); settings ``AxB:ECUT`` (in-plane k-mesh of the interface cell, cut-off in eV). The
study (:mod:`pvatoms.studies.boundary`) relaxes both bulks (cell and positions) and every model
(positions and the stacking length, in-plane lattice fixed) with the MLIP ``--relax``, then GPAW
PBE statics with the same k spacing for the interface and both bulks, the potential lineup, SOC
band edges, region DOS and the band-edge fractions; the scan computes every model at the first
setting and every setting on the first model. Steps run one after the other in this process;
finished steps are reused when the script is run again with the same ``--out``. ``--relax
gpaw:ECUT`` relaxes every structure by GPAW PBE (k spacing: ``boundary.relax_spacing``, cut-off ECUT)
after a SevenNet-0 pre-relaxation, so the statics see PBE geometries; comparing it with an MLIP
leg of the same model and setting measures what the geometry source does to the offsets.

Printed and written to ``OUT/bench_boundary.json``: per model and setting the wall time of the
interface static and GPAW's account of its wave-function and projector memory (from its text log), the convergence table
(``OUT/boundary/convergence.md``) and the reference case's verdict with its uncertainty.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path


def parse_model(text: str) -> dict:
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m:
        raise SystemExit(f"model {text!r}: give MxK, e.g. 2x4 (RP blocks x PbBr2 layers)")
    return {"rp_layers": int(m.group(1)), "perovskite_layers": int(m.group(2))}


def parse_setting(text: str) -> dict:
    m = re.fullmatch(r"(\d+)x(\d+):(\d+(?:\.\d+)?)", text)
    if not m:
        raise SystemExit(f"setting {text!r}: give AxB:ECUT, e.g. 2x2:300")
    return {"kpts_in_plane": [int(m.group(1)), int(m.group(2))], "ecut": float(m.group(3))}


def parse_relax(text: str, fmax: float | None) -> dict:
    """The study's ``relax`` block: an MLIP name (``fmax`` None: the study's default), or
    ``gpaw[:ECUT]`` (GPAW PBE at cut-off ECUT eV, density converged to 1e-4 for the forces; the
    study puts SevenNet-0 before it)."""
    m = re.fullmatch(r"gpaw(?::(\d+(?:\.\d+)?))?", text)
    if m:
        bs = {"ecut": float(m.group(1) or 300), "convergence": {"density": 1e-4, "eigenstates": 4e-7}}
        return {"backend": "gpaw", "backend_settings": bs, "fmax": 0.05 if fmax is None else fmax}
    if text not in ("chgnet", "sevennet"):
        raise SystemExit(f"--relax {text!r}: give chgnet, sevennet or gpaw[:ECUT]")
    return {"backend": text} if fmax is None else {"backend": text, "fmax": fmax}


def gpaw_memory_mib(folder: Path) -> float | None:
    """GPAW's own account of its largest arrays (the wave functions and projectors of its text
    log's ``Memory:`` block, MiB): a floor of the job's peak memory, one per calculation."""
    best = None
    for txt in folder.rglob("*.txt"):
        text = txt.read_text(errors="replace")
        for block in re.findall(r"^Memory:\n((?:  .*\n)+)", text, re.M):
            total = sum(int(m.replace("_", "")) for m in re.findall(r":\s*([\d_]+) bytes", block))
            best = max(best or 0.0, total / 2 ** 20)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench-boundary")
    ap.add_argument("--models", nargs="+", default=["1x3", "2x4", "3x5"])
    ap.add_argument("--settings", nargs="+", default=["1x1:200", "1x1:300", "2x2:300"])
    ap.add_argument("--relax", default="chgnet",
                    help="backend of the relaxations: an MLIP (chgnet, sevennet) or gpaw[:ECUT] (after SevenNet-0)")
    ap.add_argument("--relax-fmax", type=float, default=None,
                    help="force criterion of the bulk relaxations, eV/Å (default: the study's, 0.005, for an MLIP; "
                         "0.05 for gpaw)")
    ap.add_argument("--interface-fmax", type=float, default=None,
                    help="force criterion of the interface and strained-RP relaxations, eV/Å (default: the "
                         "study's interface_fmax for an MLIP, --relax-fmax for gpaw)")
    ap.add_argument("--interface-steps", type=int, default=None,
                    help="step limit of those relaxations (default: the study's interface_steps)")
    ap.add_argument("--geometries", nargs="+", default=[], metavar="MLIP",
                    help="other MLIPs that make the geometries of the thickest model at the first setting: "
                         "the table's 'geometry source' series")
    ap.add_argument("--scf", choices=("loose", "default"), default="loose",
                    help="loose: GPAW density 1e-3, eigenstates 4e-7 (total energies to ~1 meV)")
    from pvatoms.calc.gpaw_calc import EIGENSOLVERS
    ap.add_argument("--eigensolver", default=None, choices=EIGENSOLVERS,
                    help="GPAW eigensolver of the statics (default GPAW's, PPCG); not part of a result's identity")
    ap.add_argument("--mixer", default=None, type=json.loads,
                    help='GPAW density mixer of the statics as JSON, e.g. \'{"name": "pulay", "beta": 0.05}\'')
    args = ap.parse_args(argv)
    from pvatoms.schema import read_result
    from pvatoms.studies import plan_study, run_local
    out = Path(args.out).resolve()
    # the bands up to CBM + 1 eV stay converged (the study's default, STATIC_CONVERGENCE)
    settings = {"convergence": {"density": 1e-3, "eigenstates": 4e-7, "bands": "CBM+1"}} if args.scf == "loose" else {}
    if args.eigensolver:
        settings["eigensolver"] = args.eigensolver
    if args.mixer:
        settings["mixer"] = args.mixer
    spec = {"study": "boundary", "name": "bench-boundary", "backend": "gpaw", "folder": str(out),
            "backend_settings": settings, "relax": parse_relax(args.relax, args.relax_fmax),
            "models": [parse_model(m) for m in args.models], "settings": [parse_setting(s) for s in args.settings]}
    if args.interface_fmax is not None:
        spec["interface_fmax"] = args.interface_fmax
    elif spec["relax"]["backend"] == "gpaw":
        spec["interface_fmax"] = spec["relax"]["fmax"]
    if args.interface_steps is not None:
        spec["interface_steps"] = args.interface_steps
    if args.geometries:
        spec["geometries"] = list(args.geometries)
    graph = plan_study(spec)
    t0 = time.perf_counter()

    def say(kind, info):
        if kind in ("completed", "failed"):
            print(f"[{time.perf_counter() - t0:7.0f} s] {kind:9s} {info['label']}"
                  + (f": {info.get('reason')}" if kind == "failed" else ""), flush=True)

    results = run_local(graph, on_event=say)
    cost = []
    for s in graph.steps:
        if s.job != "static":
            continue
        folder = out / s.label
        doc = read_result(folder) if (folder / "result.json").is_file() else {}
        cost.append({"step": s.label, "atoms": len((doc.get("structure") or {}).get("symbols") or []),
                     "kpts": s.backend_settings.get("kpts"), "ecut (eV)": s.backend_settings.get("ecut"),
                     "wall (s)": doc.get("wall_time"), "GPAW arrays (MiB)": gpaw_memory_mib(folder),
                     "status": doc.get("status")})
    b = results.get("boundary", {})
    report = {"spec": spec, "wall_time_s": time.perf_counter() - t0, "cost": cost, "status": b.get("status")}
    print("\nstatic | atoms | k | ecut | wall (s) | GPAW arrays (MiB)")
    for c in cost:
        print(f"{c['step']} | {c['atoms']} | {c['kpts']} | {c['ecut (eV)']} | {c['wall (s)']} | {c['GPAW arrays (MiB)']}")
    if b.get("status") == "completed":
        doc = b["document"]
        report.update({k: doc[k] for k in ("rows", "spreads", "verdict", "statement", "reference_case", "notes")})
        print("\n" + Path(doc["files"]["table"]["md"]).read_text())
        print(doc["statement"])
        print("notes:", doc["notes"])
    else:
        print("boundary analysis:", b)
    (out / "bench_boundary.json").write_text(json.dumps(report, indent=1, default=str))
    return 0 if b.get("status") == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
