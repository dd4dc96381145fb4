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
import os
from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms import __version__

SCHEMA = "pvatoms.result/1"
RESULT_FILE = "result.json"
JOBS = ("relax", "static", "neb", "phonons", "band-edges")
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


def new_document(job: str, backend: dict, atoms: Atoms | None = None, settings: dict | None = None) -> dict:
    """An empty result document in state ``running``."""
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}; valid: {', '.join(JOBS)}")
    return {
        "schema": SCHEMA, "job": job, "status": "running", "reason": None, "backend": backend,
        "input_structure": atoms_to_dict(atoms) if atoms is not None else None,
        "structure": None, "energy": None, "energy_per_atom": None, "forces": None, "stress": None,
        "band_edges": None, "images": None, "data": {}, "files": {}, "wall_time": None,
        "structure_hash": structure_hash(atoms, {"job": job, "backend": backend}) if atoms is not None else None,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "pvatoms_version": __version__,
    }


def to_jsonable(obj):
    """Convert numpy scalars/arrays (recursively) to plain Python for JSON."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json_atomic(path, doc) -> Path:
    """Write JSON to ``path`` atomically: temporary file in the same folder, fsync, rename.
    A reader sees the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(to_jsonable(doc), fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def save(doc: dict, folder) -> Path:
    """Save ``doc`` as ``folder/result.json`` (atomically)."""
    return write_json_atomic(Path(folder) / RESULT_FILE, doc)


def load(folder) -> dict | None:
    """The result document of a job folder, or None if there is none."""
    path = Path(folder) / RESULT_FILE
    if not path.is_file():
        return None
    with open(path) as fh:
        return json.load(fh)


def is_completed(folder) -> bool:
    """True when ``folder/result.json`` exists and says ``completed``."""
    doc = load(folder)
    return bool(doc) and doc.get("status") == "completed"
