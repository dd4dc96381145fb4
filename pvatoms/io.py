"""Reading and writing structures. The format follows the file extension.

- ``.extxyz`` / ``.xyz``: extended XYZ; keeps per-atom labels (region, site, boundary distance) and
  the provenance (as a JSON string in the comment line).
- ``.cif``: CIF (positions and cell only).
- ``.vasp``, ``POSCAR``, ``CONTCAR``: VASP 5 POSCAR, atom order kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms

from pvatoms.build.common import check_no_overlap
from pvatoms.errors import InputError

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
    tmp = outdir / "defects.json.tmp"
    tmp.write_text(dumps(index))
    tmp.replace(outdir / "defects.json")
    return index
