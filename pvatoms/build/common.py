"""Shared pieces of the builders: labels, provenance, symmetry, distance checks, supercells.

Structures are :class:`ase.Atoms`. Builders attach
- ``atoms.arrays['region']``: per-atom region label (``perovskite``, ``rp``, ``boundary``, ...);
- ``atoms.info['provenance']``: dict with ``builder``, ``arguments`` and ``reference`` (file or None).
Both survive :func:`ase.Atoms.repeat`, slicing and extxyz output.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import spglib
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

from pvatoms.errors import InputError
from pvatoms.geometry import check_no_overlap, min_distance, shortest_distances  # noqa: F401

#: Species order used by every builder (A site, B site, halide, then anything else).
SPECIES_ORDER = ("Cs", "Pb", "Br")
#: Smallest physical distance (Å) between two atoms of a built lead-bromide framework. The shortest
#: real contact is Pb-Br (~2.9-3.1 Å); anything below this is a construction error.
MIN_FRAMEWORK_DISTANCE = 2.5


def set_regions(atoms: Atoms, regions) -> Atoms:
    """Attach per-atom region labels (a single string or one per atom)."""
    if isinstance(regions, str):
        regions = [regions] * len(atoms)
    atoms.arrays["region"] = np.array(regions, dtype="<U16")
    return atoms


def regions_of(atoms: Atoms) -> np.ndarray:
    """Per-atom region labels (``'bulk'`` where none were attached)."""
    if "region" in atoms.arrays:
        return atoms.arrays["region"]
    return np.array(["bulk"] * len(atoms), dtype="<U16")


def set_provenance(atoms: Atoms, builder: str, arguments: dict, reference: str | None = None,
                   parent: dict | None = None) -> Atoms:
    """Record how a structure was made: builder name, its arguments, the reference file used."""
    prov = {"builder": builder, "arguments": dict(arguments), "reference": reference}
    if parent:
        prov["parent"] = parent
    atoms.info["provenance"] = prov
    return atoms


def sort_species(atoms: Atoms, order=SPECIES_ORDER) -> Atoms:
    """Stable reorder: Cs, Pb, Br first (in that order), other elements after, original order kept
    within each element. Per-atom arrays and info travel along."""
    rank = {s: i for i, s in enumerate(order)}
    keys = [(rank.get(s, len(order)), s if s not in rank else "") for s in atoms.get_chemical_symbols()]
    idx = sorted(range(len(atoms)), key=lambda i: keys[i])
    out = atoms[idx]
    out.info = dict(atoms.info)
    return out


def make_supercell(atoms: Atoms, repeats) -> Atoms:
    """Diagonal supercell (A, B, C repeats) keeping labels and provenance; atom order is
    species-sorted so that POSCAR blocks stay contiguous."""
    reps = tuple(int(r) for r in repeats)
    if len(reps) != 3 or any(r < 1 for r in reps):
        raise InputError(f"supercell must be three integers >= 1, got {tuple(repeats)!r}")
    if reps == (1, 1, 1):
        return atoms.copy()
    out = sort_species(atoms.repeat(reps))
    prov = dict(out.info.get("provenance", {}))
    prov["supercell"] = list(reps)
    out.info["provenance"] = prov
    return out


def supercell_for_min_length(atoms: Atoms, min_length: float) -> tuple[int, int, int]:
    """Smallest diagonal repeats such that every cell height (distance between opposite faces)
    is at least ``min_length`` Å, so periodic images of a defect are that far apart."""
    if not min_length > 0:
        raise InputError(f"min-length must be positive (Å), got {min_length!r}")
    cell = atoms.cell
    heights = cell.volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    return tuple(int(np.ceil(min_length / h - 1e-9)) for h in heights)


def spacegroup(atoms: Atoms, symprec: float = 0.01) -> dict:
    """International symbol and number from spglib (``symprec`` in Å)."""
    ds = spglib.get_symmetry_dataset(_spg_cell(atoms), symprec=symprec)
    if ds is None:
        return {"symbol": "P1", "number": 1, "symprec": symprec}
    return {"symbol": ds.international, "number": int(ds.number), "symprec": symprec}


def _spg_cell(atoms: Atoms):
    return (np.asarray(atoms.cell), atoms.get_scaled_positions(wrap=True), atoms.numbers)


def symmetry_dataset(atoms: Atoms, symprec: float = 0.01):
    """spglib dataset (equivalent atoms, Wyckoff letters, operations) or None for P1."""
    return spglib.get_symmetry_dataset(_spg_cell(atoms), symprec=symprec)


def check_framework_distances(atoms: Atoms, minimum: float = MIN_FRAMEWORK_DISTANCE) -> float:
    """Assert no two atoms of a built framework are closer than ``minimum`` Å; return the shortest."""
    d, i, j = min_distance(atoms, cutoff=minimum + 1.5)
    if d < minimum:
        sym = atoms.get_chemical_symbols()
        raise InputError(f"built structure has {sym[i]}{i}-{sym[j]}{j} at {d:.2f} Å < {minimum} Å: "
                         "the requested geometry is not physical")
    return d


def pb_coordination(atoms: Atoms, cutoff: float = 3.6) -> np.ndarray:
    """Number of Br within ``cutoff`` Å of each Pb (6 for a PbBr6 octahedron), in Pb index order."""
    i, j = neighbor_list("ij", atoms, cutoff)
    sym = np.array(atoms.get_chemical_symbols())
    pb = np.flatnonzero(sym == "Pb")
    mask = (sym[i] == "Pb") & (sym[j] == "Br")
    counts = Counter(i[mask])
    return np.array([counts.get(p, 0) for p in pb], dtype=int)


def region_counts(atoms: Atoms) -> dict:
    """Atom counts per region and element, e.g. ``{'rp': {'Cs': 8, ...}, ...}``."""
    out: dict[str, dict[str, int]] = {}
    for reg, sym in zip(regions_of(atoms), atoms.get_chemical_symbols()):
        out.setdefault(str(reg), Counter())[sym] += 1
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


def summary(atoms: Atoms, outputs=(), symprec: float = 0.01, extra: dict | None = None) -> dict:
    """The JSON report every build command prints: formula, atoms, cell (Å), space group,
    per-region counts, provenance, output paths, plus builder-specific ``extra`` entries."""
    cellpar = atoms.cell.cellpar()
    doc = {
        "formula": atoms.get_chemical_formula(mode="metal"),
        "reduced_formula": atoms.get_chemical_formula(mode="metal", empirical=True),
        "natoms": len(atoms),
        "cell": np.round(np.asarray(atoms.cell), 6).tolist(),
        "lattice": dict(zip(["a", "b", "c", "alpha", "beta", "gamma"], np.round(cellpar, 4).tolist())),
        "volume": round(float(atoms.cell.volume), 4),
        "spacegroup": spacegroup(atoms, symprec) if len(atoms) <= 20000 else None,
        "regions": region_counts(atoms),
        "provenance": atoms.info.get("provenance"),
        "outputs": [str(o) for o in outputs],
    }
    if extra:
        doc.update(extra)
    return doc
