"""Nudged elastic band: endpoint relaxation -> IDPP interpolation -> climbing-image NEB.

The two endpoints must hold the same atoms in the same order (e.g. from
:func:`pvatoms.build.migration.vacancy_hop` or :func:`pvatoms.build.migration.neb_endpoints`). Layout of the job folder::

    folder/initial/result.json   relaxed initial endpoint (a relax job, positions only)
    folder/final/result.json     relaxed final endpoint
    folder/neb.traj              every NEB step's band (restart reads the last band)
    folder/neb.log, result.json

``data`` of the result document: ``barrier_forward`` / ``barrier_backward`` (eV, highest image
minus the initial / final endpoint), ``energies`` (eV, per image, endpoints included),
``relative_energies`` (eV, to the initial endpoint), ``hop_distance`` (Å, straight-line
displacement of the atom that moves most), ``moving_atom``, ``path_length`` (Å, along the band,
reaction coordinate per image in ``reaction_coordinate``), ``forces_along_path`` (eV/Å, projected
tangential forces, for a smooth fit), ``converged``, ``n_images``, ``climb``, and
``image_evaluation`` (how the images were computed: ``mode`` batched / separate, ``model_calls``).

With a SevenNet or CHGNet backend the images of each band step are evaluated together, in one
batched model call (:class:`pvatoms.calc.batched_images.ImageGroup`); ``evaluation="separate"`` gives
one calculator per image. Both give the same numbers (same model, same arithmetic), so the mode is
recorded in ``data`` and is not part of the job's settings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import Trajectory, read
from ase.mep import NEB
from ase.optimize import FIRE

from pvatoms.build.migration import nearest_vacancy_hops, vacancy_hop  # noqa: F401  (the endpoints builders)
from pvatoms.errors import InputError
from pvatoms.io import check_integer
from pvatoms.jobs.common import attach, check_atoms, check_flag, check_fmax, check_steps, resolve_backend
from pvatoms.jobs.relax import NotConverged, relax
from pvatoms.jobs.runner import run_job
from pvatoms.schema import atoms_from_dict, atoms_to_dict, neb_data


#: Endpoints whose atoms all move less than this (Å, minimum image) are the same structure.
MIN_HOP = 0.1

#: How the images of a band step are evaluated: ``auto`` = ``batched`` where the backend can batch.
EVALUATIONS = ("auto", "batched", "separate")


def check_endpoints(initial: Atoms, final: Atoms) -> float:
    """Same number, elements and order of atoms, same cell and periodicity, and at least one
    atom that moves by :data:`MIN_HOP` Å or more (identical endpoints have no path and no
    barrier). Returns the largest displacement (Å, minimum image)."""
    from pvatoms.geometry import minimum_image
    check_atoms(initial, "NEB initial endpoint")
    check_atoms(final, "NEB final endpoint")
    if len(initial) != len(final):
        raise InputError(f"NEB endpoints have {len(initial)} and {len(final)} atoms: they must hold "
                         "the same atoms in the same order")
    a, b = initial.get_chemical_symbols(), final.get_chemical_symbols()
    if a != b:
        k = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        raise InputError(f"NEB endpoints differ in atom order: atom {k} is {a[k]} in the initial and "
                         f"{b[k]} in the final endpoint")
    if not np.allclose(initial.cell, final.cell, atol=1e-4):
        raise InputError("NEB endpoints have different cells")
    if list(initial.pbc) != list(final.pbc):
        raise InputError(f"NEB endpoints have different periodicity ({list(initial.pbc)} vs {list(final.pbc)})")
    _, lengths = minimum_image(final.positions - initial.positions, initial.cell, initial.pbc)
    hop = float(np.max(lengths))
    if hop < MIN_HOP:
        raise InputError(f"NEB endpoints are the same structure: no atom moves by {MIN_HOP} Å or more "
                         f"(largest displacement {hop:.4f} Å); give two different minima (e.g. pvatoms "
                         "build neb-endpoints)")
    return hop


def neb(initial: Atoms, final: Atoms, folder, backend="sevennet", n_images: int = 5,
        fmax: float = 0.05, steps: int = 300, climb: bool = True, relax_endpoints: bool = True,
        endpoint_fmax: float = 0.02, force: bool = False, evaluation: str = "auto", **backend_settings) -> dict:
    """Climbing-image NEB between ``initial`` and ``final`` in ``folder``; returns the result document.

    n_images : intermediate images. fmax : NEB force criterion, eV/Å. evaluation : one of
    :data:`EVALUATIONS` (``batched``: the moved images of a band step in one model call; SevenNet and
    CHGNet). Rerunning an unfinished NEB of the same endpoints and settings (a new step limit or
    criterion allowed) continues from the last saved band; another initial or final structure, number
    of images or climbing setting (or ``force``) sets ``neb.traj`` aside and starts afresh.
    """
    check_endpoints(initial, final)
    check_integer("n_images", n_images, 1, 50)
    check_fmax(fmax), check_fmax(endpoint_fmax, "endpoint_fmax"), check_steps(steps)
    for name, flag in (("climb", climb), ("relax_endpoints", relax_endpoints), ("force", force)):
        check_flag(name, flag)
    backend = resolve_backend(backend, **backend_settings)
    mode = image_evaluation(evaluation, backend)
    settings = {"n_images": n_images, "fmax": fmax, "steps": steps, "climb": climb,
                "relax_endpoints": relax_endpoints, "endpoint_fmax": endpoint_fmax,
                "final_structure_hash": _hash(final)}
    if backend.name == "vasp":
        from pvatoms.jobs.vasp_jobs import vasp_neb_body
        body = vasp_neb_body(initial, final, backend, n_images)
    else:
        body = _neb_body(initial, final, backend, settings, mode)
    return run_job("neb", folder, initial, backend, body, settings, force=force, restart_files=("neb.traj",))


def image_evaluation(evaluation: str, backend) -> str:
    """``batched`` or ``separate`` for the requested evaluation and backend, else :class:`InputError`."""
    if evaluation not in EVALUATIONS:
        raise InputError(f"evaluation must be one of {', '.join(EVALUATIONS)}; got {evaluation!r}")
    can = _can_batch(backend)
    if evaluation == "batched" and not can:
        raise InputError(f"evaluation='batched' needs a SevenNet or CHGNet backend (torch-sim); {backend.name} "
                         "computes one image per calculator: use evaluation='separate' or 'auto'")
    return "separate" if evaluation == "separate" or not can else "batched"


def _can_batch(backend) -> bool:
    from pvatoms.calc.mlip import MLIPBackend
    if not isinstance(backend, MLIPBackend) or backend._kind() not in ("sevennet", "chgnet"):
        return False
    try:
        import torch_sim  # noqa: F401
    except ImportError:
        return False
    return True


def _calculators(images, backend, folder: Path, mode: str):
    """The band's images with their calculators, and a function giving the number of model calls."""
    if mode == "separate":
        images = [attach(im, backend, folder) for im in images]
        return images, lambda: None
    from pvatoms.calc.batched import BatchedMLIP
    from pvatoms.calc.batched_images import ImageGroup
    group = ImageGroup(BatchedMLIP(backend, progress=False, label="neb-images"))
    images = [im.copy() for im in images]
    for im, calc in zip(images, group.calculators(images)):
        im.calc = calc
    return images, lambda: group.calls


def _hash(atoms):
    from pvatoms.schema import structure_hash
    return structure_hash(atoms)


def _neb_body(initial, final, backend, s, mode="separate"):
    def body(doc, folder: Path):
        ends = []
        for name, atoms in (("initial", initial), ("final", final)):
            if s["relax_endpoints"]:
                sub = relax(atoms, folder / name, backend=backend, fmax=s["endpoint_fmax"])
                if sub["status"] != "completed":
                    raise NotConverged(f"{name} endpoint relaxation failed: {sub['reason']}")
                ends.append(atoms_from_dict(sub["structure"]))
                doc["files"][f"{name}_endpoint"] = f"{name}/result.json"
            else:
                ends.append(atoms.copy())
        try:
            check_endpoints(*ends)
        except InputError as exc:             # relaxed into one minimum: no hop left to compute
            raise NotConverged(f"after relaxation: {exc}") from None
        traj_path = folder / "neb.traj"
        n_tot = s["n_images"] + 2
        images = None
        if traj_path.is_file() and traj_path.stat().st_size > 0:
            try:
                frames = read(traj_path, index=":")
                if len(frames) >= n_tot:
                    images = [f.copy() for f in frames[-n_tot:]]
                    doc["data"]["restarted_from_trajectory"] = True
            except Exception:
                images = None
        if images is None:
            images = [ends[0].copy()] + [ends[0].copy() for _ in range(s["n_images"])] + [ends[1].copy()]
            NEB(images, method="improvedtangent").interpolate(method="idpp", mic=True)
        images, calls = _calculators(images, backend, folder, mode)
        band = NEB(images, climb=s["climb"], allow_shared_calculator=False, method="improvedtangent")
        with Trajectory(traj_path, "a") as traj:
            opt = FIRE(band, logfile=str(folder / "neb.log"))
            opt.attach(lambda: [traj.write(im) for im in images], interval=1)
            converged = bool(opt.run(fmax=s["fmax"], steps=s["steps"]))
        energies = np.array([im.get_potential_energy() for im in images])
        doc["images"] = [{"structure": atoms_to_dict(im), "energy": float(e)} for im, e in zip(images, energies)]
        doc["data"].update(_profile(images, energies, band))
        doc["data"]["converged"] = converged
        doc["data"]["image_evaluation"] = {"mode": mode, "model_calls": calls()}
        doc["energy"] = float(energies.max())
        doc["structure"] = doc["images"][int(np.argmax(energies))]["structure"]
        doc["files"].update({"trajectory": "neb.traj", "log": "neb.log"})
        if not converged:
            raise NotConverged(f"NEB did not reach fmax {s['fmax']} eV/Å within {s['steps']} steps; "
                               "the band is kept in neb.traj and a rerun continues from it")
    return body


def _profile(images, energies, band) -> dict:
    """Barriers, hop distance, reaction coordinate and tangential forces of a converged band
    (the NEB key set of :func:`pvatoms.schema.neb_data`)."""
    return neb_data(images, energies, forces=[im.get_forces() for im in images], climb=band.climb)
