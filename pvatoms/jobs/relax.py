"""Relaxation: positions only, or positions and cell (FrechetCellFilter).

>>> from pvatoms.build import cspbbr3
>>> from pvatoms.jobs import relax
>>> doc = relax(cspbbr3(), "runs/relax-pnma", backend="sevennet", cell=True)   # doctest: +SKIP
>>> doc["status"], doc["data"]["lattice"]                                    # doctest: +SKIP

``data`` of the result document: ``converged`` (bool), ``steps`` (along the whole trajectory,
earlier runs included), ``restarted_at_step`` (on a rerun), ``fmax`` (eV/Å, final),
``lattice`` (a, b, c Å; α, β, γ °), ``volume`` (Å^3), ``spacegroup`` (spglib, 0.01 Å / 0.1 Å),
and the criteria used. The trajectory is kept in ``relax.traj``. A rerun of an unfinished
relaxation of the same structure and settings starts from its last frame, BFGS with its Hessian
rebuilt from the trajectory (``hessian_rebuilt_from_steps``), so the rerun follows the path the
uninterrupted run would have taken; frames that cannot rebuild it (no stresses, say) give a fresh
Hessian and the reason in ``hessian_not_rebuilt``; FIRE restarts at rest. Another structure, or
settings beyond the step limit and criteria, or ``force``, sets the trajectory aside and starts
afresh (:func:`pvatoms.jobs.runner.previous_result`). A relaxation that does not reach ``fmax``
within ``steps`` is recorded as failed, with the trajectory kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.filters import FrechetCellFilter
from ase.io import Trajectory
from ase.optimize import BFGS, FIRE

from pvatoms import schema
from pvatoms.build.common import spacegroup
from pvatoms.errors import InputError, check_choice
from pvatoms.io import check_number
from pvatoms.jobs.common import (attach, check_atoms, check_charge, check_flag, check_fmax, check_steps, fill_static,
                                 max_force, resolve_backend, resume_start, stress_above)
from pvatoms.jobs.runner import run_job

OPTIMIZERS = {"bfgs": BFGS, "fire": FIRE}


class NotConverged(RuntimeError):
    """An optimisation stopped at its step limit."""


def relax(atoms: Atoms, folder, backend="sevennet", cell: bool = False, fmax: float = 0.02,
          smax: float = 0.002, steps: int = 500, charge: int = 0, optimizer: str = "bfgs",
          force: bool = False, defect: bool = False, cell_mask=None, **backend_settings) -> dict:
    """Relax ``atoms`` in ``folder`` with ``backend``; returns the result document.

    fmax : force criterion, eV/Å (cell relaxations: also the cell force, virial / number of atoms,
        as ASE's FrechetCellFilter with ``scalar_pressure`` 0).
    smax : stress criterion of cell relaxations, eV/Å^3 (0.002 eV/Å^3 = 0.32 GPa): checked on the
        final stress (:func:`pvatoms.jobs.common.stress_above`); a relaxation above it is
        not converged. GPAW and MLIP backends; VASP stops on its force criterion (EDIFFG).
    cell : also relax the cell (shape and volume).
    cell_mask : with ``cell``, which strain components relax: six booleans (Voigt order xx, yy,
        zz, yz, xz, xy, Cartesian) or a 3x3 boolean matrix (FrechetCellFilter ``mask``); e.g.
        ``[0, 1, 0, 0, 0, 0]`` relaxes only the length along y (an interface stacked along y,
        in-plane lattice fixed). GPAW/MLIP backends only.
    defect : a defect supercell: positions only at the host's cell, DFT symmetry off (so a
        symmetric start may distort), the electrostatic potential saved for the corrections
        (GPAW ``potential.npz``; VASP LVHAR/LOCPOT, ISYM 0, ISIF 2).
    """
    check_atoms(atoms)
    cell, defect, force = check_flag("cell", cell), check_flag("defect", defect), check_flag("force", force)
    check_fmax(fmax), check_steps(steps)                 # validated; the values given are recorded
    check_number("smax", smax, 0, 1, low_open=True, unit="eV/Å^3")
    check_choice("optimizer", optimizer, tuple(OPTIMIZERS))
    backend = resolve_backend(backend, **backend_settings)
    charge = check_charge(backend, charge)
    if defect and cell:
        raise InputError("a defect relaxation keeps the host's cell: use cell=False with defect=True")
    settings = {"cell": cell, "fmax": fmax, "smax": smax if cell else None, "steps": steps,
                "charge": charge, "optimizer": optimizer}
    if cell_mask is not None:                      # recorded only when given (hashes of other runs unchanged)
        settings["cell_mask"] = _check_cell_mask(cell_mask, cell, backend)
    if defect and backend.dft:
        settings["defect"] = True
    if backend.name == "vasp":
        from pvatoms.jobs.vasp_jobs import vasp_body
        body = vasp_body("relax", atoms, backend, charge=charge, cell=cell, fmax=fmax, defect=defect)
    else:
        body = _relax_body(atoms, backend, settings)
    return run_job("relax", folder, atoms, backend, body, settings, force=force, restart_files=("relax.traj",))


def _check_cell_mask(mask, cell: bool, backend) -> list:
    """A cell mask as a JSON-able list: six 0/1 values (Voigt) or 3x3; needs ``cell=True`` and a
    backend that relaxes through ASE (VASP's ISIF cannot fix single strain components)."""
    if not cell:
        raise InputError("cell_mask needs cell=True (it selects which strain components relax)")
    if backend.name == "vasp":
        raise InputError("cell_mask is not supported with VASP (ISIF relaxes all or no cell components)")
    arr = np.asarray(mask, dtype=object)
    if arr.shape not in ((6,), (3, 3)) or not all(isinstance(x, (bool, np.bool_)) or x in (0, 1)
                                                     for x in arr.ravel()):
        raise InputError(f"cell_mask must be six booleans (xx, yy, zz, yz, xz, xy) or a 3x3 boolean matrix, got {mask!r}")
    out = np.asarray(arr, dtype=bool)
    if not out.any():
        raise InputError("cell_mask fixes every strain component: use cell=False instead")
    return out.astype(int).tolist()


def _cell_filter(atoms: Atoms, s: dict) -> FrechetCellFilter:
    """The filter a cell relaxation optimizes: positions and the strain components of ``cell_mask``, at zero pressure."""
    return FrechetCellFilter(atoms, mask=s.get("cell_mask"), scalar_pressure=0.0)


def _replay_bfgs(opt: BFGS, target, traj: Path, s: dict) -> int:
    """Rebuild the BFGS Hessian of an interrupted relaxation from its trajectory (positions,
    forces and, for a cell relaxation, stresses of every step), so that the rerun takes the steps
    the uninterrupted run would have taken. A cell filter is referred to the cell of the first
    frame, as it was. Returns the number of steps replayed."""
    with Trajectory(traj) as frames:
        frames = list(frames)
    opt.state, previous = None, None
    for frame in frames:
        if s["cell"]:
            view = _cell_filter(frame, s)
            view.orig_cell = frames[0].cell
        else:
            view = frame
        pos, forces = view.get_positions().ravel(), view.get_forces().ravel()
        opt.update(pos, forces, *(previous or (None, None)))    # the first call sets the starting Hessian
        previous = (pos, forces)
    opt.pos0, opt.forces0 = previous
    if s["cell"]:                                  # only once every frame replayed: a failure leaves it as it was
        target.orig_cell = frames[0].cell
    return len(frames) - 1


def _relax_body(atoms, backend, s):
    def body(doc, folder: Path):
        start, frames = resume_start(atoms, folder, doc)   # continue an interrupted relaxation
        done = max(frames - 1, 0)                        # steps taken before: frame 0 is the start
        work = attach(start, backend, folder, s["charge"], symmetry=not s.get("defect"))   # arrays, info kept
        # every frame of relax.traj names this relaxation's methods: a frame read back and computed
        # again (a static on frame 11 of a PBE relaxation) is E//PBE, not the start's method
        schema.label_methods(work, doc["level_of_theory"])
        target = _cell_filter(work, s) if s["cell"] else work
        opt_cls = OPTIMIZERS[s["optimizer"]]
        with Trajectory(folder / "relax.traj", "a", work) as traj:
            opt = opt_cls(target, logfile=str(folder / "relax.log"))
            if done and isinstance(opt, BFGS):
                try:
                    doc["data"]["hessian_rebuilt_from_steps"] = _replay_bfgs(opt, target, folder / "relax.traj", s)
                except Exception as exc:        # noqa: BLE001 (frames without forces or stress: go on afresh)
                    opt.initialize()
                    doc["data"]["hessian_not_rebuilt"] = f"{type(exc).__name__}: {exc}"
            opt.nsteps = done                            # numbering goes on; the start is not written twice
            opt.attach(traj.write, interval=1)
            converged = bool(opt.run(fmax=s["fmax"], steps=s["steps"]))
        fill_static(doc, work, backend, folder)
        stress_left = stress_above(doc["stress"], s["smax"], s.get("cell_mask")) if s["cell"] and converged else None
        converged = converged and stress_left is None
        cellpar = work.cell.cellpar()
        doc["files"]["trajectory"] = "relax.traj"
        doc["files"]["log"] = "relax.log"
        doc["data"].update({
            "converged": converged, "steps": int(opt.nsteps), "fmax": max_force(work),
            **({"restarted_at_step": done} if frames else {}),
            "lattice": dict(zip(["a", "b", "c", "alpha", "beta", "gamma"], np.round(cellpar, 5).tolist())),
            "volume": float(work.cell.volume),
            "spacegroup": {"tight": spacegroup(work, 0.01), "loose": spacegroup(work, 0.1)},
        })
        if stress_left:
            raise NotConverged(f"relaxation reached fmax {s['fmax']} eV/Å but {stress_left}; trajectory kept in relax.traj")
        if not converged:
            more = f" more ({opt.nsteps} in all)" if done else ""
            raise NotConverged(f"relaxation did not reach fmax {s['fmax']} eV/Å within {s['steps']} "
                               f"steps{more} (max force now {max_force(work):.3f} eV/Å); trajectory kept in relax.traj")
    return body
