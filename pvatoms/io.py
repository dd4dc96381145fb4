"""Reading and writing structures. The format follows the file extension.

- ``.extxyz`` / ``.xyz``: extended XYZ; keeps per-atom labels (region, site, boundary distance) and
  the provenance (as a JSON string in the comment line).
- ``.cif``: CIF (positions and cell only).
- ``.vasp``, ``POSCAR``, ``CONTCAR``: VASP 5 POSCAR, atom order kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms

from pvatoms.errors import InputError
from pvatoms.geometry import check_no_overlap

FORMATS = {".extxyz": "extxyz", ".xyz": "extxyz", ".cif": "cif", ".vasp": "vasp", ".poscar": "vasp"}
VASP_NAMES = ("POSCAR", "CONTCAR")
_INFO_KEY = "pvatoms_info"
#: bookkeeping that ASE's readers attach and that means nothing downstream
_READER_INFO = ("occupancy", "unit_cell", "spacegroup")
_READER_ARRAYS = ("spacegroup_kinds", "host_index")


def structure_format(path) -> str:
    """ASE format name for ``path`` (from its extension), or :class:`InputError`."""
    p = Path(path)
    if p.name.upper().startswith(VASP_NAMES):
        return "vasp"
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell the structure format of {str(path)!r} from its extension; "
                         f"use one of {', '.join(FORMATS)} or a file named POSCAR/CONTCAR")
    return fmt


def write_structure(atoms: Atoms, path) -> Path:
    """Write ``atoms`` to ``path`` (format from the extension); parent folders are created."""
    path = Path(path)
    fmt = structure_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = atoms.copy()
    if fmt == "extxyz":
        payload = _json_info(atoms.info)
        out.info = {_INFO_KEY: json.dumps(payload, default=_jsonable)} if payload else {}
        for key in list(out.arrays):
            if key not in ("numbers", "positions") and out.arrays[key].dtype.kind == "U":
                out.arrays[key] = np.char.replace(out.arrays[key], " ", "_")
        ase.io.write(path, out, format="extxyz")
    elif fmt == "vasp":
        out.info = {}
        ase.io.write(path, out, format="vasp", direct=True, sort=False)
    else:
        out.info = {}
        ase.io.write(path, out, format=fmt)
    return path


def read_structure(path, check_overlap: bool = True) -> Atoms:
    """Read a structure file; refuse missing files, unknown formats and overlapping atoms."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"structure file {str(path)!r} not found")
    fmt = structure_format(path)
    try:
        atoms = ase.io.read(path, format=fmt)
    except Exception as exc:  # ASE raises many types for malformed files
        raise InputError(f"could not read {str(path)!r} as {fmt}: {exc}") from exc
    if _INFO_KEY in atoms.info:
        atoms.info.update(json.loads(atoms.info.pop(_INFO_KEY)))
    atoms.info = {k: v for k, v in _json_info(atoms.info).items() if k not in _READER_INFO}
    for key in _READER_ARRAYS:
        atoms.arrays.pop(key, None)
    if len(atoms) == 0:
        raise InputError(f"{str(path)!r} holds no atoms")
    if check_overlap:
        check_no_overlap(atoms, what=str(path))
    return atoms


def _json_info(info: dict) -> dict:
    """The entries of ``atoms.info`` that survive JSON (readers add objects such as a Spacegroup)."""
    out = {}
    for k, v in info.items():
        try:
            json.dumps(v, default=_jsonable)
        except TypeError:
            continue
        out[k] = v
    return out


def _jsonable(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


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


def write_text_atomic(path, text: str, sync_folder: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically: temporary file in the same folder (named by host
    and process), fsync, rename; ``sync_folder`` also fsyncs the folder, so the rename itself
    survives a power cut. A reader sees the old file or the new one, never a torn one."""
    import socket
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{socket.gethostname()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    if sync_folder:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def write_json_atomic(path, doc) -> Path:
    """Write ``doc`` as JSON to ``path`` atomically (see :func:`write_text_atomic`)."""
    return write_text_atomic(path, json.dumps(to_jsonable(doc), indent=1))


def read_json(path, what: str | None = None):
    """The JSON content of ``path``; :class:`InputError` naming the file when it is missing or not
    valid JSON (a torn or truncated file)."""
    path = Path(path)
    what = what or str(path)
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError(f"{what}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{what} is not readable JSON ({type(exc).__name__}: {exc}); it may be truncated") from None


def dumps(doc) -> str:
    """JSON text of a report dict (numpy values converted)."""
    return json.dumps(doc, indent=2, default=_jsonable)


def write_defect_set(defects, perfect: Atoms, outdir, fmt: str = "extxyz", extra: dict | None = None) -> dict:
    """Write each defect supercell and the perfect supercell to ``outdir`` and a ``defects.json``
    index (name, kind, site, Wyckoff letter, multiplicity, position, region, distance to the
    nearest boundary, suggested charge states, file). Returns the index."""
    ext = {"extxyz": ".extxyz", "vasp": ".vasp", "cif": ".cif"}.get(fmt)
    if ext is None:
        raise InputError(f"unknown format {fmt!r}; valid choices: extxyz, vasp, cif")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    host_file = write_structure(perfect, outdir / f"perfect{ext}")
    entries = []
    for d in defects:
        f = write_structure(d.atoms, outdir / f"{d.name}{ext}")
        entry = d.as_dict()
        entry["file"] = f.name
        entry["natoms"] = len(d.atoms)
        entries.append(entry)
    index = {"perfect": {"file": host_file.name, "natoms": len(perfect),
                         "formula": perfect.get_chemical_formula(mode="metal")},
             "defects": entries, "provenance": perfect.info.get("provenance")}
    if extra:
        index.update(extra)
    write_json_atomic(outdir / "defects.json", index)
    return index


# ---------------------------------------------------------------- grids: cube files, potentials

def write_cube(path, atoms: Atoms, density: np.ndarray) -> Path:
    """Write ``density`` (electrons/Å³, periodic grid spanning the cell) as a Gaussian cube file
    in electrons/Bohr³, the unit cube readers expect."""
    from ase.units import Bohr
    path = Path(path)
    ase.io.write(str(path), atoms, format="cube", data=np.asarray(density) * Bohr ** 3)
    return path


def read_cube(path) -> tuple[np.ndarray, Atoms]:
    """Read a cube file written by :func:`write_cube`: (density in electrons/Å³, atoms)."""
    from ase.io.cube import read_cube_data
    from ase.units import Bohr
    data, atoms = read_cube_data(str(path))
    return data / Bohr ** 3, atoms


def write_potential(path, potential, cell) -> Path:
    """Save an electrostatic potential (3D array, eV — the potential energy of an electron, as
    in a LOCPOT) and its cell (3x3, Å) as ``.npz`` (for finite-size corrections). For GPAW::

        v, cell = pvatoms.calc.gpaw_calc.electrostatic_potential(calc)
        write_potential(folder / "potential.npz", v, cell); doc["files"]["potential"] = "potential.npz"
    """
    v = np.asarray(potential, dtype=float)
    if v.ndim != 3:
        raise InputError(f"potential must be a 3D grid, got shape {v.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, potential=v, cell=np.asarray(cell, dtype=float))
    return path


def read_potential_file(path) -> tuple[np.ndarray, np.ndarray]:
    """(potential grid in eV, cell in Å) from a file written by :func:`write_potential`."""
    with np.load(path) as data:
        return np.asarray(data["potential"]), np.asarray(data["cell"])
