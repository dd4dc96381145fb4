"""``pvatoms demo``: the Pb-leakage study end to end on the embedded defaults.

1. Builds Pnma CsPbBr3, RP Cs2PbBr4, an RP/perovskite boundary supercell, the distinct vacancies
   and (when the nanocrystal builder is present) a degraded nanocrystal; saves them and pictures.
2. Submits the study as FireWorks workflows to an embedded LaunchPad in the run folder and
   launches them locally (two launchers side by side on two cores), with a progress line whose
   estimate comes from each step's expected cost (:mod:`pvatoms.studies.cost`).
3. Charged vacancies by DFT (GPAW PBE single points on MLIP geometries): V_Br (+1, 0), V_Pb (-2, -1,
   0) and V_Cs (-1, 0) in a 40-atom Pnma supercell (20 with ``--quick``), DFT chemical-potential
   limits, Freysoldt corrections, diagrams, transition levels with PBE and PBE+SOC band edges, the
   self-consistent and the quenched Fermi level with concentrations.
4. Default MLIP (SevenNet-0; CHGNet with ``--quick``): neutral-vacancy screening (titled so: not
   formation energies), the RP phases' distance from the hull, and the V_Br migration barrier
   (climbing-image NEB).
5. The RP/perovskite boundary by GPAW PBE: the full demo runs a boundary study of the 72-atom rp2-pv4
   model, the largest that fits its budget and not a converged one (benchmarks/results/boundary_relaxation.md:
   the offsets move with thickness and with the MLIP of the geometries) (bulks relaxed, each side strained against its own relaxed bulk, potential lineup, PBE+SOC band
   offsets and their verdict, region DOS, band-edge fractions; one model and one setting, which the
   report says); ``--quick`` computes the VBM/CBM densities of the 48-atom rp1-pv3 model only. The bulk gap is
   that of the charged study's perfect cell.
6. Writes ``REPORT.md`` and ``report.html`` (see :mod:`pvatoms.reports`) from the analysis
   documents, found through the run's study index (``studies.json``).

A second run finds every calculation finished and only rewrites the report; an interrupted run
(Ctrl-C, kill) resumes where it stopped, and what failed before is tried once more. Layout of the run folder: see the README.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pvatoms import build as B
from pvatoms.build.common import summary
from pvatoms.io import dumps, write_defect_set, write_structure


#: GPAW SCF convergence of the quick demo's charged cells: 10x looser density and eigenstates
#: than GPAW's defaults (about a quarter fewer SCF iterations; total energies to ~1 meV)
QUICK_SCF = {"density": 1e-3, "eigenstates": 4e-7}


def study_specs(quick: bool) -> list[dict]:
    """The demo's study specs. Full: SevenNet-0, 2x2x2 supercells, charged vacancies by GPAW in a
    40-atom Pnma cell (whose perfect cell gives the bulk gap); quick: CHGNet, unit cells, coarser
    GPAW settings and a 20-atom cell (a first look in a few minutes).

    The charged-defect study puts PBE single points on the MLIP geometries (``dft_relax: false``,
    level of theory PBE//<MLIP> for every energy in it): DFT relaxations of 40-atom cells do not fit
    the demo's time budget on two cores (one ionic step costs about a minute); the same spec with
    ``dft_relax: true`` is the paper-grade route (``workflows/charged_defects.yaml``)."""
    mlip = "chgnet" if quick else "sevennet"
    reps = [1, 1, 1] if quick else [2, 2, 2]
    phases = ["Cs", "Pb", "Br2", "CsBr", "PbBr2", "Cs4PbBr6", "CsPb2Br5", "CsBr3", "Cs2PbBr4", "Cs3Pb2Br7"]
    charged = {
        "study": "defects", "name": "charged-vacancies", "backend": "gpaw", "folder": "charged-defects",
        "backend_settings": dict({"kpts": [1, 1, 1], "ecut": 200 if quick else 250},  # Γ: the Pnma edges
                                 **({"convergence": QUICK_SCF} if quick else {})),
        "host": {"builder": "cspbbr3", "phase": "pnma"}, "relax": {"backend": mlip, "cell": True, "fmax": 0.02},
        "supercell": [1, 1, 1] if quick else [1, 1, 2],                               # 20 / 40 atoms
        "defects": {"vacancies": ["Br", "Pb", "Cs"], "sites": {"Br": ["8d"]}}, "charges": "suggested",
        "competing_phases": ["Cs", "Pb", "Br2", "CsBr", "PbBr2"] + ([] if quick else ["Cs4PbBr6", "CsPb2Br5"]),
        "prerelax": mlip, "dft_relax": False,
        # PBE//MLIP at these settings may put CsPbBr3 a little above CsPb2Br5 + Cs4PbBr6: lower it
        # onto the hull (said in the report) rather than drop the phases that bound it
        "host_on_hull": 0.03,
        # phases and the host reference: k-point density 1.5 per Å^-1 (the metals get 6)
        "phase_backend_settings": {"kpoint_density": 1.5},
        "dielectric": {"value": 4.2, "source": "PBE DFPT ε∞ of Pnma CsPbBr3: the ions of these single points do "
                                               "not relax, so the supercell screens the charge electronically only"},
        "fermi": {"temperature": 600, "quench_to": 300, "effective_masses": [0.15, 0.14],
                  "source": "assumed m_e* = 0.15, m_h* = 0.14 (typical of reported CsPbBr3 values; not computed here)"},
    }
    return [
        charged,
        {"study": "defects", "name": "vacancies", "backend": mlip, "folder": "defects",
         "host": {"builder": "cspbbr3", "phase": "pnma"}, "relax": {"cell": True, "fmax": 0.02},
         "supercell": reps, "defects": {"vacancies": ["Br", "Pb", "Cs"]}, "charges": "neutral",
         "competing_phases": phases, "defect_fmax": 0.05},
        {"study": "neb", "name": "vbr-migration", "backend": mlip, "folder": "neb",
         "host": {"builder": "cspbbr3", "phase": "pnma"}, "relax": {"cell": True, "fmax": 0.02},
         "supercell": reps, "n_images": 3, "fmax": 0.1 if quick else 0.05,
         "hops": [{"element": "Br", "site": "8d", "to": "nearest" if quick else "nearest-equivalent",
                   "label": "V_Br-equatorial"}]},
        {"study": "band-edges", "name": "boundary-band-edges", "backend": "gpaw", "folder": "band-edges",
         "backend_settings": {"kpts": [1, 1, 1], "ecut": 200},                    # Γ: the Pnma edges
         "structure": {"builder": "rp_interface", "rp_n": 1, "rp_layers": 1, "perovskite_layers": 3},
         "relax": {"backend": mlip, "backend_settings": {}, "cell": False, "fmax": 0.05}} if quick else
        # the boundary study: both bulks relaxed, the RP strained to the perovskite's in-plane
        # lattice, the model relaxed along the stacking axis, GPAW statics of all three at one k
        # spacing (in-plane Γ), potential lineup, PBE+SOC offsets, region DOS, fractions
        {"study": "boundary", "name": "rp-boundary", "backend": "gpaw", "folder": "boundary",
         "backend_settings": {"ecut": 250}, "relax": {"backend": mlip},   # bulks to 0.005 eV/Å
         # rp2-pv4 (72 atoms), the largest model in budget; benchmarks/results/boundary_relaxation.md: with
         # interfaces relaxed to 0.01 eV/Å its offsets are 0.04-0.11 eV from the 96-atom model's and
         # SevenNet-0 and CHGNet geometries differ by 0.2-0.3 eV (type II against type I), so the
         # model is computed on CHGNet geometries too and that spread enters the verdict's uncertainty
         "models": [{"rp_layers": 2, "perovskite_layers": 4}], "settings": [{"kpts_in_plane": [1, 1]}],
         "geometries": ["chgnet"]},
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


#: (study, step) of the bulk gap: the perfect supercell of the charged-defect study (Pnma, Γ,
#: the defects' settings: the gap the diagrams span)
BULK_GAP = ("charged-vacancies", "perfect")


def _helper_launcher(store_path: str, log: str) -> None:
    """A second launcher on the demo's store (a separate process: GPAW's plane-wave mode uses one
    core per calculation), logging to ``log``; it waits while the main launcher runs parents."""
    import contextlib
    import os

    import fireworks.core.rocket as rocket_module

    from pvatoms.fw.launcher import launch
    from pvatoms.fw.store import EmbeddedStore
    one_thread()
    _exit_with_parent()
    rocket_module.ROCKET_STREAM_LOGLEVEL = "WARNING"
    with open(log, "a") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        launch(EmbeddedStore(store_path), wait=2.0)


def _exit_with_parent(poll: float = 1.0) -> None:
    """End this helper process as soon as the demo that started it is gone (killed, or left
    through ``os._exit`` on Ctrl-C): an orphaned launcher would go on computing unseen. What it was
    running stays RUNNING in the store and is rerun on resume, as for any killed launcher."""
    import os
    import threading
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)
    threading.Thread(target=watch, name="pvatoms-parent-watch", daemon=True).start()


def one_thread() -> None:
    """One thread for the BLAS and torch of this process: with one launcher per core, more
    threads only fight over the cores (OpenBLAS threads spin while they wait)."""
    import os
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"                       # for anything started from here
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass


def start_helpers(store_path: Path, n: int, log_dir: Path) -> list:
    """Start ``n`` helper launcher processes (spawned, not forked: torch and GPAW are not
    fork-safe); returns them (join them when the main launcher is done)."""
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for i in range(n):
        p = ctx.Process(target=_helper_launcher, args=(str(store_path), str(log_dir / f"launcher-{i + 2}.log")),
                        daemon=True)
        p.start()
        procs.append(p)
    return procs


def default_launchers() -> int:
    """Launchers the demo runs side by side: one per core, at most 2 (its DFT steps come in
    pairs at most of similar cost; more would only share the same cores)."""
    import os
    return max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def run(outdir: Path, quick: bool = False, as_json: bool = False, launchers: int | None = None) -> dict:
    """Run (or resume) the demo in ``outdir`` with ``launchers`` launchers side by side (default
    :func:`default_launchers`); returns the summary (also in summary.json)."""
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
    submitted, retried = [], []
    for graph in graphs:
        wf = to_workflow(graph)
        with store.launchpad() as lp:
            if lp.workflows.find_one({"name": wf.name}) is None:
                lp.add_wf(wf)
                submitted.append(wf.name)
        for n in graph.notes:
            say(f"  note: {n}")
    say(f"  workflows submitted: {', '.join(submitted) or 'none new (resuming)'}")
    with store.launchpad() as lp:                # a resumed run tries what failed before once more
        for fw in list(lp.fireworks.find({"state": "FIZZLED"}, {"fw_id": 1, "name": 1})):
            lp.rerun_fw(fw["fw_id"])
            retried.append(fw["name"])
    if retried:
        say(f"  failed before, run again: {', '.join(retried)}")
    rocket_module.ROCKET_STREAM_LOGLEVEL = "WARNING"
    n = default_launchers() if launchers is None else launchers
    helpers = start_helpers(outdir / "store", n - 1, outdir) if n > 1 else []
    if helpers:
        one_thread()
        say(f"  {n} launchers side by side (the others log to {outdir}/launcher-*.log)")
    try:
        with contextlib.redirect_stdout(sys.stderr):
            launched = launch(store, on_event=Progress(quiet=as_json, launchers=n), wait=2.0)
    except BaseException:                        # Ctrl-C, kill: the helpers stop with this launcher
        for p in helpers:
            p.terminate()
        raise
    for p in helpers:
        p.join()
    elapsed = time.perf_counter() - t0
    doc = write_report(outdir, structures=structures, wall_time=elapsed, quick=quick, launched=launched,
                       bulk_gap=BULK_GAP, launchers=n)
    (outdir / "summary.json").write_text(dumps(doc))
    say(f"\n{doc['headline']}\nreport: {outdir / 'REPORT.md'} and {outdir / 'report.html'} "
        f"({elapsed:.0f} s; pipeline overhead {doc['overhead']['fraction'] * 100:.1f} %)")
    return doc
