"""``pvatoms demo``: the Pb-leakage study end to end on the embedded defaults.

1. Builds Pnma CsPbBr3, RP Cs2PbBr4, an RP/perovskite boundary supercell, the distinct vacancies
   and (when the nanocrystal builder is present) a degraded nanocrystal; saves them and pictures.
2. Submits the study as FireWorks workflows to an embedded LaunchPad in the run folder and
   launches them locally, with a progress line.
3. Default MLIP (SevenNet-0; CHGNet with ``--quick``): relaxed host and competing phases,
   chemical-potential limits, neutral vacancy formation energies at every limit, and the V_Br
   migration barrier (climbing-image NEB).
4. GPAW PBE: the bulk gap, and the VBM/CBM densities of a small RP/perovskite boundary model with
   the localization analysis across the boundary.
5. Writes ``REPORT.md`` and ``report.html`` (see :mod:`pvatoms.reports`) from the analysis
   documents, found through the run's study index (``studies.json``).

A second run finds every calculation finished and only rewrites the report; an interrupted run
(Ctrl-C, kill) resumes where it stopped. Layout of the run folder: see the README.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pvatoms import build as B
from pvatoms.build.common import summary
from pvatoms.io import dumps, write_defect_set, write_structure


def study_specs(quick: bool) -> list[dict]:
    """The demo's study specs. Full: SevenNet-0, 2x2x2 supercells, Pnma gap; quick: CHGNet, unit
    cells, cubic gap, coarser GPAW settings (a first look in a few minutes)."""
    mlip = "chgnet" if quick else "sevennet"
    reps = [1, 1, 1] if quick else [2, 2, 2]
    phases = ["Cs", "Pb", "Br2", "CsBr", "PbBr2", "Cs4PbBr6", "CsPb2Br5", "CsBr3", "Cs2PbBr4", "Cs3Pb2Br7"]
    gpaw_bulk = ({"builder": "cspbbr3", "phase": "cubic"}, {"kpts": [4, 4, 4], "ecut": 400}) if quick else \
        ({"builder": "cspbbr3", "phase": "pnma"}, {"kpts": [2, 2, 2], "ecut": 400})
    return [
        {"study": "defects", "name": "vacancies", "backend": mlip, "folder": "defects",
         "host": {"builder": "cspbbr3", "phase": "pnma"}, "relax": {"cell": True, "fmax": 0.02},
         "supercell": reps, "defects": {"vacancies": ["Br", "Pb", "Cs"]}, "charges": "neutral",
         "competing_phases": phases, "defect_fmax": 0.05},
        {"study": "neb", "name": "vbr-migration", "backend": mlip, "folder": "neb",
         "host": {"builder": "cspbbr3", "phase": "pnma"}, "relax": {"cell": True, "fmax": 0.02},
         "supercell": reps, "n_images": 3, "fmax": 0.1 if quick else 0.05,
         "hops": [{"element": "Br", "site": "8d", "to": "nearest" if quick else "nearest-equivalent",
                   "label": "V_Br-equatorial"}]},
        {"study": "smoke", "name": "bulk-gap", "backend": "gpaw", "folder": "bulk-gap", "job": "static",
         "backend_settings": gpaw_bulk[1], "structures": {"bulk-gap": gpaw_bulk[0]}},
        {"study": "band-edges", "name": "boundary-band-edges", "backend": "gpaw", "folder": "band-edges",
         "backend_settings": {"kpts": [1, 1, 1], "ecut": 250 if quick else 300},   # Γ: the Pnma edges
         "structure": {"builder": "rp_interface", "rp_n": 1, "rp_layers": 1, "perovskite_layers": 3},
         "relax": {"backend": mlip, "backend_settings": {}, "cell": False, "fmax": 0.05}},
    ]


def build_structures(outdir: Path) -> dict:
    """Write the study's structures and pictures; return their JSON reports."""
    sdir, fdir = outdir / "structures", outdir / "figures"
    items = [
        ("CsPbBr3_Pnma_pbe.cif", B.cspbbr3("pnma", "pbe")),
        ("CsPbBr3_Pnma_experiment.cif", B.cspbbr3("pnma", "experiment")),
        ("Cs2PbBr4_I4mmm.vasp", B.ruddlesden_popper(1)),
        ("Cs2PbBr4_tilted.vasp", B.ruddlesden_popper(1, tilted=True)),
    ]
    interface = B.rp_interface(rp_n=1, rp_layers=1, perovskite_layers=3)
    items += [("RP1_CsPbBr3_boundary.extxyz", interface), ("RP1_CsPbBr3_boundary.vasp", interface)]
    docs = {}
    for name, atoms in items:
        path = write_structure(atoms, sdir / name)
        extra = {"interface": atoms.info["interface"]} if "interface" in atoms.info else None
        docs[name] = summary(atoms, outputs=[path], extra=extra)
    pnma = B.cspbbr3()
    vac = B.point_defects(pnma, vacancies=["Br", "Pb", "Cs"], supercell=(2, 2, 2))
    write_defect_set(vac, B.defects_supercell(pnma, (2, 2, 2)), sdir / "vacancies")
    docs["vacancies"] = [d.as_dict() for d in vac]
    from pvatoms.reports import picture
    fdir.mkdir(parents=True, exist_ok=True)
    picture(interface.repeat((1, 2, 1)), fdir / "interface.png", by_region=True)   # stacking vertical
    nc = _nanocrystal()
    if nc is not None:
        write_structure(nc, sdir / "nanocrystal_5nm.extxyz")
        docs["nanocrystal_5nm.extxyz"] = summary(nc, outputs=[sdir / "nanocrystal_5nm.extxyz"])
        picture(nc, fdir / "nanocrystal.png", rotation="-20x,30y,0z", by_region=True)
    return docs


def _nanocrystal():
    """A small degraded dot (RP inclusion + Pb cluster + ligands) for the picture, if the
    nanocrystal builder is available."""
    try:
        from pvatoms.build.nanocrystal import nanocrystal
    except ImportError:
        return None
    return nanocrystal(edge=5.0, ligand="butylammonium", coverage=0.5, rp_inclusion=1.2,
                       pb_cluster=0.6, seed=1)


#: (study, step) of the bulk-gap calculation in :func:`study_specs`
BULK_GAP = ("bulk-gap", "bulk-gap")


def run(outdir: Path, quick: bool = False, as_json: bool = False) -> dict:
    """Run (or resume) the demo in ``outdir``; returns the summary (also in summary.json)."""
    import contextlib

    import fireworks.core.rocket as rocket_module

    from pvatoms.fw.launcher import launch
    from pvatoms.fw.progress import Progress
    from pvatoms.fw.store import EmbeddedStore
    from pvatoms.fw.workflows import to_workflow
    from pvatoms.reports import write_index, write_report
    from pvatoms.studies import plan_study, study_from_dict

    t0 = time.perf_counter()
    outdir = Path(outdir).resolve()
    say = (lambda m: None) if as_json else (lambda m: print(m, file=sys.stderr, flush=True))
    say(f"pvatoms demo{' --quick' if quick else ''}: run folder {outdir}")
    structures = build_structures(outdir)
    say(f"  structures and pictures written to {outdir / 'structures'}, {outdir / 'figures'}")
    store = EmbeddedStore(outdir / "store")
    studies = outdir / "studies"
    graphs = [plan_study(study_from_dict(spec, base=outdir, folder=studies / spec["folder"]))
              for spec in study_specs(quick)]
    write_index(outdir, [g.index() for g in graphs])
    submitted = []
    for graph in graphs:
        wf = to_workflow(graph)
        with store.launchpad() as lp:
            if lp.workflows.find_one({"name": wf.name}) is None:
                lp.add_wf(wf)
                submitted.append(wf.name)
        for n in graph.notes:
            say(f"  note: {n}")
    say(f"  workflows submitted: {', '.join(submitted) or 'none new (resuming)'}")
    rocket_module.ROCKET_STREAM_LOGLEVEL = "WARNING"
    with contextlib.redirect_stdout(sys.stderr):
        launched = launch(store, on_event=Progress(quiet=as_json))
    elapsed = time.perf_counter() - t0
    doc = write_report(outdir, structures=structures, wall_time=elapsed, quick=quick, launched=launched,
                       bulk_gap=BULK_GAP)
    (outdir / "summary.json").write_text(dumps(doc))
    say(f"\n{doc['headline']}\nreport: {outdir / 'REPORT.md'} and {outdir / 'report.html'} "
        f"({elapsed:.0f} s; pipeline overhead {doc['overhead']['fraction'] * 100:.1f} %)")
    return doc
