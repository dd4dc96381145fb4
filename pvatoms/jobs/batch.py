"""Batched jobs: many relaxations or single points of a machine-learned potential together, many
structures per model call (:mod:`pvatoms.calc.batched`), each written as THE SAME result document as
:func:`pvatoms.jobs.relax` / :func:`pvatoms.jobs.static` would write, in its own folder.

>>> from pvatoms.build import cspbbr3, point_defects
>>> from pvatoms.jobs import relax_batch
>>> defects = point_defects(cspbbr3(), vacancies=["Br", "Pb", "Cs"], supercell=(2, 2, 2))
>>> docs = relax_batch([d.atoms for d in defects], [f"runs/{d.name}" for d in defects],
...                    backend="sevennet", fmax=0.02)                          # doctest: +SKIP
>>> [d["status"] for d in docs]                                                # doctest: +SKIP

The life cycle is that of every job (:mod:`pvatoms.jobs.runner`): a folder holding a completed
result of the same input and settings is returned as it is (a different one refuses the batch before
anything runs, unless ``force``); the others are marked ``running``, and each is saved ``completed`` or
``failed`` (with its reason) as soon as its own calculation ends, so one structure that fails does not
lose the others and an interrupted batch keeps what finished. Relaxations use FIRE (ASE's parameters;
``optimizer`` must be ``fire``: BFGS is not batched), keep ``relax.traj`` (every ``checkpoint_every``
steps and the final frame; a rerun of the same structure and settings starts from its last frame, FIRE
at rest; another structure or settings set it aside: :func:`pvatoms.jobs.runner.previous_result`) and ``relax.log``; settings enter the
structure hash exactly as in :func:`pvatoms.jobs.relax`, so ``relax(..., optimizer="fire")`` and
``relax_batch`` treat each other's finished folders as their own. ``wall_time`` of each document is its
share of the batch's time (by atoms per model call), so the shares add up to the time spent;
``data["batch"]`` says how it ran (batch size, route: ``batch``, ``domains`` or ``alone``, engine).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ase.io import Trajectory

from pvatoms import schema
from pvatoms.build.common import spacegroup
from pvatoms.calc.batched import BatchedMLIP, check_batchable
from pvatoms.errors import InputError
from pvatoms.io import check_integer, check_number
from pvatoms.jobs.common import (check_atoms, check_charge, check_flag, check_fmax, check_steps, resolve_backend,
                                 resume_start, stress_above)
from pvatoms.jobs.interrupts import reason as interrupt_reason, sigterm_interrupts
from pvatoms.jobs.runner import _hash_backend, finite_or_failed, previous_result


def relax_batch(structures, folders, backend="sevennet", cell: bool = False, fmax: float = 0.02,
                smax: float = 0.002, steps: int = 500, charge: int = 0, optimizer: str = "fire",
                force: bool = False, defect: bool = False, progress: bool = True, engine: BatchedMLIP | None = None,
                checkpoint_every: int = 10, **backend_settings) -> list[dict]:
    """Relax every structure in its folder; returns the result documents in input order.

    fmax : force criterion, eV/Å (cell relaxations: also the cell force, virial / number of atoms,
        as ASE's FrechetCellFilter). smax : checked on the final stress as in :func:`pvatoms.jobs.relax` (eV/Å^3).
    cell : also relax the cell (periodic cells). defect : a defect supercell (positions only).
    engine : a :class:`~pvatoms.calc.batched.BatchedMLIP` to reuse (its backend is used).
    """
    if optimizer != "fire":
        raise InputError(f"batched relaxations use FIRE (optimizer 'fire'); {optimizer!r} is not batched: "
                         "run pvatoms.jobs.relax per structure for it")
    cell, defect = check_flag("cell", cell), check_flag("defect", defect)
    check_fmax(fmax), check_steps(steps)                 # validated; the values given are recorded
    check_number("smax", smax, 0, 1, low_open=True, unit="eV/Å^3")
    checkpoint_every = check_integer("checkpoint_every", checkpoint_every, 1)
    if defect and cell:
        raise InputError("a defect relaxation keeps the host's cell: use cell=False with defect=True")
    settings = {"cell": cell, "fmax": fmax, "smax": smax if cell else None, "steps": steps,
                "charge": charge, "optimizer": optimizer}
    return _run_batch("relax", structures, folders, backend, settings, force, progress, engine,
                      {"cell": cell, "fmax": fmax, "smax": smax, "steps": steps, "checkpoint_every": checkpoint_every},
                      backend_settings)


def static_batch(structures, folders, backend="sevennet", charge: int = 0, force: bool = False,
                 defect: bool = False, progress: bool = True, engine: BatchedMLIP | None = None,
                 **backend_settings) -> list[dict]:
    """Single point (energy eV, forces eV/Å, stress eV/Å^3) of every structure in its folder; returns
    the result documents in input order (as :func:`pvatoms.jobs.static`)."""
    return _run_batch("static", structures, folders, backend, {"charge": charge}, force, progress, engine,
                      None, backend_settings)


def _run_batch(job, structures, folders, backend, settings, force, progress, engine, relax, backend_settings):
    check_batchable(structures)
    structures, folders = list(structures), [Path(f) for f in folders]
    for k, atoms in enumerate(structures):
        check_atoms(atoms, f"structure {k} of the batch")
    force = check_flag("force", force)
    if len(folders) != len(structures):
        raise InputError(f"{len(structures)} structures but {len(folders)} folders: one folder per structure")
    if len({f.resolve() for f in folders}) != len(folders):
        raise InputError("two structures of the batch share a folder: one folder per structure")
    if engine is not None and backend_settings:
        raise InputError("backend settings are given with the backend name, not with an engine")
    backend = engine.backend if engine is not None else resolve_backend(backend, **backend_settings)
    if backend.dft:
        raise InputError(f"batched execution is for the machine-learned potentials; {backend.name} runs one "
                         "job per structure (pvatoms.jobs.relax / static)")
    settings["charge"] = check_charge(backend, settings["charge"])      # an int, as the sequential jobs record
    info = backend.info()
    docs: list[dict | None] = [None] * len(structures)
    todo, starts = [], []
    for k, (atoms, folder) in enumerate(zip(structures, folders)):
        doc = schema.new_document(job, info, atoms, settings)
        doc["structure_hash"] = schema.structure_hash(atoms, {"job": job, "backend": _hash_backend(info),
                                                               "settings": settings})
        doc["data"]["settings"] = dict(settings)
        old = previous_result(folder, doc, force, ("relax.traj",) if relax else ())
        if old is not None:
            docs[k] = old
            continue
        folder.mkdir(parents=True, exist_ok=True)
        docs[k] = doc
        todo.append(k)
        starts.append(resume_start(atoms, folder, doc)[0] if relax else atoms)
    if not todo:
        return docs
    for k in todo:
        schema.save(docs[k], folders[k])
    engine = engine or BatchedMLIP(backend, progress=progress, label=f"{job}-batch")
    batch_info = dict(engine.info(), size=len(todo))

    def on_result(oc):
        k = todo[oc.index]
        _record(docs[k], folders[k], oc, batch_info, relax)
        docs[k] = finite_or_failed(docs[k])
        schema.save(docs[k], folders[k])

    t0 = time.perf_counter()
    try:
        with sigterm_interrupts():
            if relax:
                for j, k in enumerate(todo):
                    _frame(folders[k], starts[j])
                engine.relax(starts, cell=relax["cell"], fmax=relax["fmax"], steps=relax["steps"], on_result=on_result,
                             checkpoint=lambda i, atoms, step: _checkpoint(folders[todo[i]], atoms, step),
                             checkpoint_every=relax["checkpoint_every"])
            else:
                engine.static(starts, on_result=on_result)
    except KeyboardInterrupt as exc:               # Ctrl-C, or SIGTERM (interrupts.Terminated)
        _fail_unfinished(docs, folders, todo, interrupt_reason(exc), time.perf_counter() - t0)
        raise
    except Exception as exc:                       # noqa: BLE001 (a crash is recorded, not raised)
        _fail_unfinished(docs, folders, todo, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)
    return docs


def _frame(folder: Path, atoms) -> None:
    """Append a frame (numbers, positions, cell and, when known, energy/forces/stress) to relax.traj."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    if atoms.calc is not None and getattr(atoms.calc, "results", None):
        keep = {k: v for k, v in atoms.calc.results.items() if k in ("energy", "forces", "stress") and v is not None}
        frame.calc = SinglePointCalculator(frame, **keep)
    with Trajectory(folder / "relax.traj", "a") as traj:
        traj.write(frame)


def _checkpoint(folder: Path, atoms, step: int) -> None:
    _frame(folder, atoms)
    e = atoms.calc.results.get("energy") if atoms.calc is not None else None
    f = atoms.calc.results.get("forces") if atoms.calc is not None else None
    fmax = float(np.linalg.norm(f, axis=1).max()) if f is not None and len(f) else float("nan")
    with open(folder / "relax.log", "a") as log:
        if step == 0 or log.tell() == 0:
            log.write("FIRE (batched, torch-sim; ASE parameters)\n      step        energy (eV)   fmax (eV/Å)\n")
        log.write(f"{step:10d} {e if e is not None else float('nan'):18.6f} {fmax:13.4f}\n")


def _record(doc: dict, folder: Path, oc, batch_info: dict, relax) -> None:
    """Fill a result document from one structure's outcome, as the sequential jobs do."""
    doc["wall_time"] = oc.seconds
    doc["data"]["batch"] = dict(batch_info, route=oc.route)
    if oc.route == "domains" and oc.atoms is not None:
        doc["data"]["domains"] = oc.atoms.info.pop("domains", None)
    if oc.error is not None and oc.atoms is None:
        doc["status"], doc["reason"] = "failed", oc.error
        return
    atoms = oc.atoms
    doc["energy"] = float(oc.energy)
    doc["energy_per_atom"] = float(oc.energy) / len(atoms)
    doc["forces"] = np.asarray(oc.forces).tolist()
    doc["stress"] = None if oc.stress is None else np.asarray(oc.stress).tolist()
    doc["structure"] = schema.atoms_to_dict(atoms)
    doc["status"] = "completed"
    if relax:
        cellpar = atoms.cell.cellpar()
        doc["files"]["trajectory"] = "relax.traj"
        doc["files"]["log"] = "relax.log"
        doc["data"].update({
            "converged": bool(oc.converged), "steps": int(oc.steps), "fmax": float(oc.fmax),
            "lattice": dict(zip(["a", "b", "c", "alpha", "beta", "gamma"], np.round(cellpar, 5).tolist())),
            "volume": float(atoms.cell.volume),
            "spacegroup": {"tight": spacegroup(atoms, 0.01), "loose": spacegroup(atoms, 0.1)},
        })
        if not oc.converged:
            doc["status"] = "failed"
            doc["reason"] = (f"NotConverged: relaxation did not reach fmax {relax['fmax']} eV/Å within "
                             f"{relax['steps']} steps (max force now {oc.fmax:.3f} eV/Å); trajectory kept in relax.traj")
        elif relax["cell"] and (left := stress_above(doc["stress"], relax["smax"])):
            doc["data"]["converged"] = False
            doc["status"] = "failed"
            doc["reason"] = f"NotConverged: relaxation reached fmax {relax['fmax']} eV/Å but {left}; trajectory kept in relax.traj"
    if oc.error is not None:
        doc["status"], doc["reason"] = "failed", oc.error


def _fail_unfinished(docs, folders, todo, reason: str, seconds: float) -> None:
    for k in todo:
        if docs[k]["status"] == "running":
            docs[k]["status"], docs[k]["reason"] = "failed", reason
            docs[k]["wall_time"] = seconds
            schema.save(docs[k], folders[k])
