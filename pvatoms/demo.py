"""``pvatoms demo``: the main job on embedded defaults.

Builds the structures of the Pb-leakage study into a run folder and prints a summary:

    RUN/structures/   bulk CsPbBr3 (Pnma, PBE and experimental lattice; tetragonal; cubic),
                      RP Cs2PbBr4 (untilted I4/mmm and tilted), Cs3Pb2Br7, the RP/perovskite
                      boundary supercell (.extxyz with region labels, and .vasp)
    RUN/defects/bulk/      V_Br (apical, equatorial), V_Pb, V_Cs in a 2x2x2 Pnma supercell + defects.json
    RUN/defects/boundary/  vacancies within 3 Å of the RP/perovskite boundary + defects.json
    RUN/summary.json  the JSON report of every structure
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pvatoms import build as B
from pvatoms.build.common import summary
from pvatoms.io import dumps, write_defect_set, write_structure


def run(outdir: Path, as_json: bool = False) -> dict:
    """Build the study's structures into ``outdir``; return (and print) the summary."""
    t0 = time.perf_counter()
    outdir = Path(outdir)
    sdir = outdir / "structures"
    say = (lambda *a: None) if as_json else (lambda msg: print(msg, file=sys.stderr))
    say(f"pvatoms demo: building the Pb-leakage study structures into {outdir}/")
    items = [
        ("CsPbBr3_Pnma_pbe.cif", B.cspbbr3("pnma", "pbe")),
        ("CsPbBr3_Pnma_experiment.cif", B.cspbbr3("pnma", "experiment")),
        ("CsPbBr3_P4mbm_experiment.cif", B.cspbbr3("tetragonal", "experiment")),
        ("CsPbBr3_Pm-3m_experiment.cif", B.cspbbr3("cubic", "experiment")),
        ("Cs2PbBr4_I4mmm.vasp", B.ruddlesden_popper(1)),
        ("Cs2PbBr4_tilted.vasp", B.ruddlesden_popper(1, tilted=True)),
        ("Cs3Pb2Br7_I4mmm.vasp", B.ruddlesden_popper(2)),
    ]
    interface = B.rp_interface(rp_n=1, rp_layers=1, perovskite_layers=3)
    items += [("RP1_CsPbBr3_boundary.extxyz", interface), ("RP1_CsPbBr3_boundary.vasp", interface)]
    docs = {}
    for name, atoms in items:
        path = write_structure(atoms, sdir / name)
        extra = {"interface": atoms.info["interface"]} if "interface" in atoms.info else None
        docs[name] = summary(atoms, outputs=[path], extra=extra)

    pnma = B.cspbbr3("pnma", "pbe")
    bulk_defects = B.point_defects(pnma, vacancies=["Br", "Pb", "Cs"], supercell=(2, 2, 2))
    write_defect_set(bulk_defects, B.defects_supercell(pnma, (2, 2, 2)), outdir / "defects" / "bulk")
    boundary_defects = B.point_defects(interface, vacancies=["Br", "Pb", "Cs"],
                                       max_distance_from_boundary=3.0)
    write_defect_set(boundary_defects, interface, outdir / "defects" / "boundary")
    doc = {
        "run_folder": str(outdir),
        "structures": docs,
        "defects": {
            "bulk_pnma_2x2x2": [d.as_dict() for d in bulk_defects],
            "boundary": [d.as_dict() for d in boundary_defects],
        },
        "wall_time_s": round(time.perf_counter() - t0, 3),
    }
    (outdir / "summary.json").write_text(dumps(doc))
    if not as_json:
        say(f"\n{'structure':<32} {'formula':<16} {'atoms':>6}  {'space group':<12} regions")
        for name, d in docs.items():
            sg = (d["spacegroup"] or {}).get("symbol", "-")
            regs = ", ".join(f"{k}:{sum(v.values())}" for k, v in d["regions"].items())
            say(f"{name:<32} {d['reduced_formula']:<16} {d['natoms']:>6}  {sg:<12} {regs}")
        iface = interface.info["interface"]
        say(f"\nboundary planes {iface['boundary_separation']['perovskite_side']:.2f} Å apart across the "
            f"perovskite, {iface['boundary_separation']['rp_side']:.2f} Å across the RP side; in-plane "
            f"strain on RP: {iface['in_plane_strain']['rp']}")
        say("\ndistinct vacancies in 2x2x2 Pnma CsPbBr3 (159 atoms each):")
        for d in bulk_defects:
            say(f"  {d.name:<10} {d.site:<20} multiplicity {d.multiplicity}, charge states {d.charges}")
        say(f"distinct vacancies within 3 Å of the RP/perovskite boundary: "
            f"{', '.join(d.name for d in boundary_defects)}")
        say(f"\nwrote {outdir}/summary.json in {doc['wall_time_s']:.1f} s")
    return doc
