"""The result document: one schema for every backend and every job.

A result document is a plain JSON-able dict (so FireWorks can carry it in a spec or in
``stored_data``), saved atomically as ``result.json`` in the job folder:

=================  ==========================================================================
key                meaning (units)
=================  ==========================================================================
schema             ``"pvatoms.result/1"``
job                ``relax`` | ``static`` | ``neb`` | ``phonons`` | ``band-edges``
status             ``completed`` | ``failed`` | ``running``
reason             why it failed (None otherwise)
backend            ``{"name", "model", "version", "settings", "device"}``: what produced the numbers
input_structure    structure dict (see :func:`atoms_to_dict`) the job started from
structure          final structure dict (relaxed geometry, or the input for a static)
energy             total energy, eV (None where the job has none)
energy_per_atom    eV/atom
forces             eV/Å, one row per atom
stress             eV/Å^3, Voigt order xx yy zz yz xz xy
level_of_theory    ``{"energy", "geometry", "cell", "label"}``: e.g. ``PBE//SevenNet-0`` for a DFT single
                   point on an MLIP geometry, ``PBE//PBE (SevenNet-0 cell)`` for PBE positions in an
                   MLIP cell (see :func:`level_of_theory`, :func:`geometry_of`)
band_edges         ``{"vbm", "cbm", "gap" (eV), "direct" (bool), "k_vbm", "k_cbm" (fractional),
                   "fermi" (eV)}`` for DFT backends, else None
images             NEB: list of ``{"structure", "energy"}``; else None
data               job-specific results (barrier, phonon modes, ...), documented per job
files              ``{label: path relative to the job folder}``
wall_time          seconds spent in the job
structure_hash     hash of the input structure and the settings (duplicate detection)
created            ISO time stamp (UTC); ``pvatoms_version``
=================  ==========================================================================
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms import __version__
from pvatoms.errors import InputError
from pvatoms.io import to_jsonable, write_json_atomic  # noqa: F401  (part of the schema API)

SCHEMA = "pvatoms.result/1"
RESULT_FILE = "result.json"
JOBS = ("relax", "static", "neb", "phonons", "band-edges", "dielectric")
STATUSES = ("completed", "failed", "running")


def atoms_to_dict(atoms: Atoms) -> dict:
    """JSON-able dict of a structure: symbols, positions (Å), cell (Å), pbc, per-atom string/number
    arrays (region labels ...) and the provenance."""
    arrays = {}
    for key, val in atoms.arrays.items():
        if key in ("numbers", "positions"):
            continue
        arrays[key] = np.asarray(val).tolist()
    return {
        "symbols": atoms.get_chemical_symbols(),
        "positions": np.round(atoms.positions, 8).tolist(),
        "cell": np.round(np.asarray(atoms.cell), 8).tolist(),
        "pbc": [bool(x) for x in atoms.pbc],
        "arrays": arrays,
        "provenance": atoms.info.get("provenance"),
    }


def atoms_from_dict(d: dict) -> Atoms:
    """Inverse of :func:`atoms_to_dict`."""
    atoms = Atoms(symbols=d["symbols"], positions=d["positions"], cell=d["cell"], pbc=d["pbc"])
    for key, val in (d.get("arrays") or {}).items():
        atoms.arrays[key] = np.array(val)
    if d.get("provenance") is not None:
        atoms.info["provenance"] = d["provenance"]
    return atoms


def structure_hash(atoms: Atoms, settings: dict | None = None, decimals: int = 4) -> str:
    """Stable hash of a structure (numbers, positions and cell rounded to ``decimals`` Å) and of
    the calculation settings: equal inputs give equal hashes."""
    h = hashlib.sha256()
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(np.round(atoms.positions, decimals).astype(np.float64).tobytes())
    h.update(np.round(np.asarray(atoms.cell), decimals).astype(np.float64).tobytes())
    h.update(json.dumps(settings or {}, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def method_of(backend: dict | None) -> str:
    """Short name of what produced an energy: the functional for DFT (``PBE``, ``PBE+SOC``,
    ``HSE06``), the model for machine-learned potentials (``SevenNet-0``, ``CHGNet 0.3.0``)."""
    b = backend or {}
    st = b.get("settings") or {}
    if b.get("name") == "gpaw":
        return str(st.get("xc") or "PBE")
    if b.get("name") == "vasp":
        return str(st.get("functional") or "PBE") + ("+SOC" if st.get("soc") else "")
    model = str(b.get("model") or b.get("name") or "unknown")
    return "SevenNet-0" if model in ("SevenNet 7net-0", "SevenNet-0") else model


def level_of_theory(energy_backend: dict | None, geometry: str | None, cell: str | None = None) -> dict:
    """``{"energy", "geometry", "cell", "label"}``: the method of the energy, the method the
    atomic positions were relaxed with (``input`` when not known), the method the cell was relaxed
    with (None when not known) and the usual ``E//G`` label (``PBE//PBE``, ``PBE//SevenNet-0``).
    A cell from another method than the positions is named in the label, as in
    ``PBE//PBE (SevenNet-0 cell)`` for PBE positions relaxed in a SevenNet-0 cell."""
    energy = method_of(energy_backend)
    geometry = geometry or "input"
    label = f"{energy}//{geometry}"
    if cell not in (None, "input", geometry):
        label += f" ({cell} cell)"
    return {"energy": energy, "geometry": geometry, "cell": cell, "label": label}


def geometry_of(job: str, backend: dict | None, atoms: Atoms | None, settings: dict | None = None) -> tuple:
    """(positions method, cell method) of what ``job`` reports on ``atoms``. A relaxation's
    positions are its own method's; its cell is its own only when it relaxed every cell component
    (``cell`` without ``cell_mask``), else the input's (a positions-only relaxation, a NEB, an
    interface with its in-plane lattice fixed). Other jobs report the input's geometry. The input's
    methods are ``atoms.info['geometry_method']`` and ``['cell_method']``, None where not known
    (a built structure, a document written before cells were recorded): an unknown cell is never
    named in the label."""
    info = atoms.info if atoms is not None else {}
    given, given_cell = info.get("geometry_method"), info.get("cell_method")
    if job not in RELAXING_JOBS:
        return given, given_cell
    own = method_of(backend)
    return own, own if relaxes_whole_cell(settings) else given_cell


def relaxes_whole_cell(settings: dict | None) -> bool:
    """Whether a relaxation with these job settings relaxed every cell component (``cell``
    without ``cell_mask``): then its cell is its own method's."""
    s = settings or {}
    return bool(s.get("cell")) and s.get("cell_mask") is None


def structure_of(doc: dict) -> Atoms:
    """The final structure of a result document, carrying where its positions and cell were
    relaxed (``info['geometry_method']``, ``info['cell_method']``) for the jobs that start from it."""
    atoms = atoms_from_dict(doc["structure"])
    label_methods(atoms, doc.get("level_of_theory") or {})
    return atoms


def label_methods(atoms: Atoms, level: dict) -> Atoms:
    """Write the positions and cell methods of a :func:`level_of_theory` into ``atoms.info``
    (``geometry_method``, ``cell_method``); one that is not known (None, ``input``) is removed."""
    for key, name in (("geometry", "geometry_method"), ("cell", "cell_method")):
        if level.get(key) not in (None, "input"):
            atoms.info[name] = level[key]
        else:
            atoms.info.pop(name, None)
    return atoms


#: jobs that relax the geometry they report (their geometry is their own method's)
RELAXING_JOBS = ("relax", "neb")

#: Settings of a DFT run that are read back from the run itself (its INCAR / vasprun parameters)
#: and then replace the planned ones in the provenance.
RUN_SETTINGS = ("functional", "soc", "encut")


def apply_run_settings(doc: dict, actual: dict | None) -> dict:
    """Make the provenance of ``doc`` that of the run actually done: the settings in
    :data:`RUN_SETTINGS` read from the run (``actual``, e.g. ``data.run_settings`` of a parsed
    VASP run) replace the planned ones in ``doc['backend']['settings']`` (VASP: the model is the
    functional again), ``backend.settings_from`` says ``"run"``, planned values that differ are
    kept in ``data.planned_settings_differ`` ({key: {"planned", "run"}}) and the level of theory
    is recomputed (a parsed HSE06 run is HSE06, whatever was planned). Returns ``doc``."""
    if not actual:
        return doc
    backend = dict(doc.get("backend") or {})
    settings = dict(backend.get("settings") or {})
    differ = {}
    for key in RUN_SETTINGS:
        value = actual.get(key)
        if value is None:
            continue
        if settings.get(key) != value:
            differ[key] = {"planned": settings.get(key), "run": value}
        settings[key] = value
    backend["settings"] = settings
    backend["settings_from"] = "run"
    if backend.get("name") == "vasp":
        backend["model"] = method_of(backend)
    doc["backend"] = backend
    if differ:
        doc.setdefault("data", {})["planned_settings_differ"] = differ
    old = doc.get("level_of_theory") or {}
    geometry = method_of(backend) if doc.get("job") in RELAXING_JOBS else old.get("geometry")
    cell = old.get("cell")
    if doc.get("job") in RELAXING_JOBS and relaxes_whole_cell((doc.get("data") or {}).get("settings")):
        cell = geometry                       # a full cell relaxation's cell is its own method's
    doc["level_of_theory"] = level_of_theory(backend, geometry, cell)
    return doc


def new_document(job: str, backend: dict, atoms: Atoms | None = None, settings: dict | None = None) -> dict:
    """An empty result document in state ``running``."""
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}; valid: {', '.join(JOBS)}")
    return {
        "schema": SCHEMA, "job": job, "status": "running", "reason": None, "backend": backend,
        "input_structure": atoms_to_dict(atoms) if atoms is not None else None,
        "structure": None, "energy": None, "energy_per_atom": None, "forces": None, "stress": None,
        "band_edges": None, "images": None, "data": {}, "files": {}, "wall_time": None,
        "level_of_theory": level_of_theory(backend, *geometry_of(job, backend, atoms, settings)),
        "structure_hash": structure_hash(atoms, {"job": job, "backend": backend}) if atoms is not None else None,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "pvatoms_version": __version__,
    }


def save(doc: dict, folder) -> Path:
    """Save ``doc`` as ``folder/result.json`` (atomically)."""
    return write_json_atomic(Path(folder) / RESULT_FILE, doc)


def load(folder) -> dict | None:
    """The result document of a job folder, or None if there is none. A damaged ``result.json``
    (torn, truncated, not an object) raises :class:`InputError` naming the file."""
    path = Path(folder) / RESULT_FILE
    if not path.is_file():
        return None
    from pvatoms.io import read_json
    doc = read_json(path, f"result document {path}")
    if not isinstance(doc, dict):
        raise InputError(f"{path} does not hold a result document (a JSON object)")
    return doc


def is_completed(folder) -> bool:
    """True when ``folder/result.json`` exists and says ``completed``."""
    try:
        doc = load(folder)
    except InputError:
        return False
    return bool(doc) and doc.get("status") == "completed"


#: Keys of ``data`` that every backend writes for a completed job of each kind (one key set).
DATA_KEYS = {
    "relax": (), "static": (), "phonons": (), "band-edges": (), "dielectric": ("dielectric",),
    "neb": ("energies", "relative_energies", "barrier_forward", "barrier_backward", "reaction_energy",
            "saddle_image", "n_images", "hop_distance", "moving_atom", "moving_element",
            "reaction_coordinate", "path_length"),
}


def neb_data(images, energies, forces=None, climb: bool | None = None) -> dict:
    """The NEB part of ``data``, the same for every backend: image energies (eV) and energies
    relative to the initial endpoint, forward (max − first) and backward (max − last) barriers,
    reaction energy, the saddle image index, the moving atom and its hop (Å, minimum image),
    the reaction coordinate (cumulative image-to-image distance, Å) and, when ``forces`` (eV/Å,
    one array per image) are given, the force along the path tangent at each image (None when two
    neighbouring images coincide: no tangent there). A path of zero length raises
    :class:`InputError`.

    ``images``: ase.Atoms from the initial to the final endpoint."""
    from pvatoms.geometry import minimum_image
    e = np.asarray(energies, dtype=float)
    first, cell, pbc = images[0], images[0].cell, images[0].pbc
    disp, lengths = minimum_image(images[-1].positions - first.positions, cell, pbc)
    mover = int(np.argmax(lengths))
    coords = [0.0]
    for a, b in zip(images[:-1], images[1:]):
        _, d = minimum_image(b.positions - a.positions, cell, pbc)
        coords.append(coords[-1] + float(np.linalg.norm(d)))
    out = {
        "energies": e.tolist(), "relative_energies": (e - e[0]).tolist(),
        "barrier_forward": float(e.max() - e[0]), "barrier_backward": float(e.max() - e[-1]),
        "reaction_energy": float(e[-1] - e[0]), "saddle_image": int(np.argmax(e)),
        "n_images": len(images) - 2, "hop_distance": float(lengths[mover]), "moving_atom": mover,
        "moving_element": first.get_chemical_symbols()[mover],
        "reaction_coordinate": coords, "path_length": coords[-1], "forces_along_path": None,
        "climb": None if climb is None else bool(climb),
    }
    if not coords[-1] > 1e-6:
        raise InputError("the NEB path has zero length: every image is the initial structure (identical "
                         "endpoints?); there is no hop and no barrier")
    if forces is not None:
        tang = []
        for k in range(len(images)):
            lo, hi = images[max(k - 1, 0)], images[min(k + 1, len(images) - 1)]
            t, _ = minimum_image(hi.positions - lo.positions, cell, pbc)
            norm = float(np.linalg.norm(t))
            if not norm > 1e-8:               # two images on top of each other: no tangent
                tang = None
                break
            tang.append(float(np.sum(np.asarray(forces[k]) * t / norm)))
        out["forces_along_path"] = tang
    return out


def validate(doc: dict, where: str = "result document") -> dict:
    """Check that ``doc`` is a pvatoms result document (schema, job, status) and, when completed,
    that it carries its job kind's keys (:data:`DATA_KEYS`); returns it. Raises
    :class:`InputError` naming what is missing."""
    if not isinstance(doc, dict) or "job" not in doc or "status" not in doc:
        raise InputError(f"{where} is not a pvatoms result document (no 'job' / 'status')")
    if doc["job"] not in JOBS:
        raise InputError(f"{where}: unknown job {doc['job']!r}; valid: {', '.join(JOBS)}")
    if doc["status"] not in STATUSES:
        raise InputError(f"{where}: unknown status {doc['status']!r}; valid: {', '.join(STATUSES)}")
    if doc["status"] == "completed":
        data = doc.get("data") or {}
        missing = [k for k in DATA_KEYS[doc["job"]] if k not in data]
        if missing:
            raise InputError(f"{where}: completed {doc['job']} result lacks data keys {missing}")
    return doc


def read_result(source, label: str | None = None) -> dict:
    """The one reader of result documents: a job folder (holding ``result.json``), a result JSON
    file, or a document dict. The document remembers where it came from — ``_folder`` (for its
    files: LOCPOT, potential.npz, cubes) and ``_label`` (default: the folder name) — neither is
    written back. Raises :class:`InputError` naming the path when there is no readable document."""
    if isinstance(source, dict):
        doc = validate(source, f"result {label or ''}".strip())
        if label is not None:
            doc["_label"] = label
        return doc
    from pvatoms.io import read_json
    path = Path(source)
    if path.is_dir():
        folder, file = path, path / RESULT_FILE
        if not file.is_file():
            raise InputError(f"no {RESULT_FILE} in {path}: not a pvatoms job folder (or the job has not started)")
    elif path.is_file():
        folder, file = path.parent, path
    else:
        raise InputError(f"no such result folder or file: {path} (expected a job folder holding "
                         f"{RESULT_FILE} or the path of a result JSON file)")
    doc = read_json(file, f"result document {file}")
    doc = validate(doc, str(file))
    doc["_folder"] = str(folder.resolve())
    named = path.is_dir() or path.name == RESULT_FILE          # a job folder, or its result.json
    doc["_label"] = label or doc.get("_label") or (folder.name if named else path.stem)
    return doc


def result_folder(doc: dict) -> Path | None:
    """The job folder a document was read from (see :func:`read_result`), or None."""
    return Path(doc["_folder"]) if doc.get("_folder") else None
