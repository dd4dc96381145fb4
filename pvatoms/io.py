"""Reading and writing structures. The format follows the file extension.

- ``.extxyz`` / ``.xyz``: extended XYZ; keeps per-atom labels (region, site, boundary distance) and
  the provenance (as a JSON string in the comment line).
- ``.cif``: CIF (positions and cell only).
- ``.vasp``, ``POSCAR``, ``CONTCAR``: VASP 5 POSCAR, atom order kept.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import shutil
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
    kwargs = {}
    if fmt == "extxyz":
        payload = _json_info(atoms.info)
        out.info = {_INFO_KEY: json.dumps(payload, default=_jsonable)} if payload else {}
        for key in list(out.arrays):
            if key not in ("numbers", "positions") and out.arrays[key].dtype.kind == "U":
                out.arrays[key] = np.char.replace(out.arrays[key], " ", "_")
    elif fmt == "vasp":
        out.info = {}
        kwargs = {"direct": True, "sort": False}
    else:
        out.info = {}
    # written next to its place and renamed: a failed write leaves no torn file behind
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        ase.io.write(str(tmp), out, format=fmt, **kwargs)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
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
    if not (np.isfinite(atoms.positions).all() and np.isfinite(np.asarray(atoms.cell)).all()):
        raise InputError(f"{str(path)!r} holds non-finite coordinates or cell vectors (NaN/Inf)")
    if fmt == "cif":
        _check_cif_sites(path)
    if check_overlap:
        check_no_overlap(atoms, what=str(path))
    return atoms


def _check_cif_sites(path: Path) -> None:
    """Refuse a CIF whose listed sites ASE would silently merge: two sites at the same (or a
    symmetry-equivalent) position — an exact duplicate line, or two elements on one site — and
    partially occupied (disordered) sites. The merged structure would have another composition
    than the file states."""
    from ase.io.cif import parse_cif
    try:
        blocks = [b for b in parse_cif(str(path)) if b.has_structure()]
    except Exception:        # read already succeeded; a block ASE cannot re-parse is not checked
        return
    if not blocks:
        return
    block = blocks[-1]                        # the block ase.io.read returns
    labels = block.get("_atom_site_label") or block.get_symbols()
    raw = block.get_unsymmetrized_structure()
    frac = raw.get_scaled_positions(wrap=False)
    if block.get_cell().rank == 3:
        sg = block.get_spacegroup(True)
        _, kinds = sg.equivalent_sites(frac, onduplicates="keep", symprec=0.001)
        for i in sorted(set(range(len(raw))) - set(int(k) for k in kinds)):
            orbit = sg.equivalent_sites([frac[i]], symprec=0.001)[0]
            j = next((j for j in range(i) for q in orbit
                      if np.allclose(((frac[j] - q) + 0.5) % 1.0 - 0.5, 0.0, atol=1e-3)), None)
            other = (f" as site {labels[j]} (entry {j + 1}, {raw[j].symbol})" if j is not None
                     else " as an earlier site")
            raise InputError(f"{str(path)!r}: site {labels[i]} (entry {i + 1} of the atom-site loop, {raw[i].symbol} at "
                             f"{' '.join(f'{x:g}' for x in frac[i])}) sits at the same position{other}; "
                             "a duplicated atom (or two elements on one site) would be merged into "
                             "another composition than the file lists: remove the duplicate line")
    occupancy = block.get("_atom_site_occupancy")
    if occupancy is not None:
        for label, occ in zip(labels, occupancy):
            if isinstance(occ, numbers.Real) and abs(float(occ) - 1.0) > 1e-3:
                raise InputError(f"{str(path)!r}: site {label} has occupancy {occ:g}; pvatoms needs an "
                                 "ordered structure (every site fully occupied): build an ordered "
                                 "supercell of the disordered phase first")


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


def non_finite_paths(obj, where: str = "") -> list[str]:
    """Key paths (``data.energies[3]``) of the NaN and ±Inf numbers in a JSON-able structure."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += non_finite_paths(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += non_finite_paths(v, f"{where}[{i}]")
    elif isinstance(obj, np.ndarray):
        out += non_finite_paths(obj.tolist(), where)
    elif isinstance(obj, (float, np.floating)) and not math.isfinite(float(obj)):
        out.append(f"{where or 'value'} = {float(obj)}")
    return out


def null_non_finite(obj):
    """Copy of a JSON-able structure with every NaN/±Inf replaced by None (JSON ``null``)."""
    if isinstance(obj, dict):
        return {k: null_non_finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [null_non_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)) and not math.isfinite(float(obj)):
        return None
    return obj


def _strict_json(doc, what: str, indent) -> str:
    """JSON text of ``doc``; :class:`InputError` naming every NaN/Inf (JSON has no such numbers:
    ``json`` would write the non-standard ``NaN`` and the file would no longer be JSON)."""
    doc = to_jsonable(doc)
    bad = non_finite_paths(doc)
    if bad:
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise InputError(f"refusing to write non-finite numbers into {what}: {', '.join(bad[:5])}{more}; "
                         "a NaN/Inf is an undefined result, not a number JSON can hold")
    return json.dumps(doc, indent=indent, allow_nan=False, default=_jsonable)


def write_json_atomic(path, doc) -> Path:
    """Write ``doc`` as JSON to ``path`` atomically (see :func:`write_text_atomic`).

    Non-finite numbers are refused, not encoded: NaN/Inf raise :class:`InputError` naming their key
    paths, so every file written stays valid JSON and an undefined number never passes for a
    result. Writers that can meet one decide what it means first (the job runner records the job
    as failed and writes ``null`` in their place, see :func:`null_non_finite`)."""
    return write_text_atomic(path, _strict_json(doc, str(path), 1))


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


# ---------------------------------------------------------------- numeric arguments

def _range_text(low, high, low_open, high_open) -> str:
    if low is not None and high is not None:
        return (f"between {low:g} and {high:g}" + (" (both excluded)" if low_open and high_open else
                " (lower excluded)" if low_open else " (upper excluded)" if high_open else ""))
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def check_number(name: str, value, low=None, high=None, *, low_open: bool = False, high_open: bool = False,
                 unit: str = "", integer: bool = False):
    """``value`` as a float (``integer``: an int) if it is a finite real number in the range, else
    :class:`InputError` naming ``name``, the value and the valid range. Booleans and strings are
    not numbers; ``integer`` accepts integral floats (2.0) and refuses 1.5 rather than truncate.

    >>> check_number("fmax", 0.05, 0, low_open=True, unit="eV/Å")
    0.05
    """
    kind = "an integer" if integer else "a finite number"
    rng = _range_text(low, high, low_open, high_open)
    what = f"{name} must be {kind}{' ' + rng if rng else ''}{' ' + unit if unit and rng else ''}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputError(f"{what}, got {value!r} ({type(value).__name__})")
    x = float(value)
    if not math.isfinite(x):
        raise InputError(f"{what}, got {value!r}")
    if integer:
        if x != round(x):
            raise InputError(f"{what}, got {value!r} (not a whole number; it is not rounded for you)")
        out = int(round(x))
    else:
        out = x
    if low is not None and (x < low or (low_open and x == low)):
        raise InputError(f"{what}, got {value!r}")
    if high is not None and (x > high or (high_open and x == high)):
        raise InputError(f"{what}, got {value!r}")
    return out


def check_integer(name: str, value, low=None, high=None):
    """``value`` as an int in [low, high] (see :func:`check_number`)."""
    return check_number(name, value, low, high, integer=True)


def check_integers(name: str, values, n: int, low=None, high=None) -> tuple:
    """``n`` integers in [low, high] (a supercell, a k-mesh), as a tuple."""
    try:
        items = list(values)
    except TypeError:
        raise InputError(f"{name} must be {n} integers, got {values!r}") from None
    if isinstance(values, (str, bytes)) or len(items) != n:
        raise InputError(f"{name} must be {n} integers, got {values!r}")
    return tuple(check_integer(f"{name}[{i}]", v, low, high) for i, v in enumerate(items))


# ---------------------------------------------------------------- outputs written at the end

class StagedFolder:
    """Write a command's outputs into a hidden sibling folder (``.NAME.partial-PID``) and move
    them into ``final`` only when the block ends without an error; on an error the partial
    outputs are removed, so a refused or crashed command leaves no half-written folder::

        with StagedFolder(out) as stage:
            write_table(rows, stage.path / "barriers")
            report["table"] = str(stage.final_path(stage.path / "barriers.md"))

    ``path``: where to write; :meth:`final_path`: the name a written file will have. Files of an
    earlier run in ``final`` stay unless a new file of the same name replaces them."""

    def __init__(self, final):
        self.final = Path(final)
        real = self.final.resolve()
        self.path = real.parent / f".{real.name or 'output'}.partial-{os.getpid()}"
        self._created: list[Path] = []

    def __enter__(self) -> "StagedFolder":
        if self.final.exists() and not self.final.is_dir():
            raise InputError(f"output folder {str(self.final)!r} is a file; give a folder")
        p = self.path.parent
        while not p.exists():
            self._created.append(p)
            p = p.parent
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        return self

    def final_path(self, path) -> Path:
        """Where ``path`` (under :attr:`path`) will be once the outputs are moved."""
        return self.final / Path(path).relative_to(self.path)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            _merge_into(self.path, self.final)
            shutil.rmtree(self.path, ignore_errors=True)
            return False
        shutil.rmtree(self.path, ignore_errors=True)
        for d in self._created:                      # parents made only for the stage
            try:
                d.rmdir()
            except OSError:
                break
        return False


def _merge_into(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        target = dest / entry.name
        if entry.is_dir() and target.is_dir():
            _merge_into(entry, target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)


def dumps(doc) -> str:
    """JSON text of a report dict (numpy values converted); NaN/Inf refused as in
    :func:`write_json_atomic`."""
    return _strict_json(doc, "the JSON report", 2)


def write_defect_set(defects, perfect: Atoms, outdir, fmt: str = "extxyz", extra: dict | None = None) -> dict:
    """Write each defect supercell and the perfect supercell to ``outdir`` and a ``defects.json``
    index (name, kind, site, Wyckoff letter, multiplicity, position, region, distance to the
    nearest boundary, suggested charge states, file). Returns the index."""
    ext = {"extxyz": ".extxyz", "vasp": ".vasp", "cif": ".cif"}.get(fmt)
    if ext is None:
        raise InputError(f"unknown format {fmt!r}; valid choices: extxyz, vasp, cif")
    with StagedFolder(outdir) as stage:             # all files or none
        host_file = write_structure(perfect, stage.path / f"perfect{ext}")
        entries = []
        for d in defects:
            f = write_structure(d.atoms, stage.path / f"{d.name}{ext}")
            entry = d.as_dict()
            entry["file"] = f.name
            entry["natoms"] = len(d.atoms)
            entries.append(entry)
        index = {"perfect": {"file": host_file.name, "natoms": len(perfect),
                             "formula": perfect.get_chemical_formula(mode="metal")},
                 "defects": entries, "provenance": perfect.info.get("provenance")}
        if extra:
            index.update(extra)
        write_json_atomic(stage.path / "defects.json", index)
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
