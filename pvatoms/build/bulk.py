"""Bulk CsPbBr3: orthorhombic Pnma (room temperature), tetragonal P4/mbm and cubic Pm-3m.

>>> from pvatoms.build import cspbbr3
>>> atoms = cspbbr3("pnma", lattice="experiment")      # 20 atoms, a-b+a- tilts kept
>>> len(atoms), atoms.cell.cellpar()[:3].round(3).tolist()
(20, [8.244, 11.735, 8.198])
"""

from __future__ import annotations

import warnings

import numpy as np
from ase import Atoms
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.cif import CifParser

from pvatoms.build.common import make_supercell, set_provenance, set_regions, sort_species
from pvatoms.errors import InputError, check_choice
from pvatoms.reference import PNMA_CIF, lattice, reference_file

PHASES = ("pnma", "tetragonal", "cubic")
LATTICES = ("pbe", "experiment")

#: Wyckoff site names in Pnma CsPbBr3 (standard setting, b the long axis).
PNMA_SITES = {"Cs1": "Cs(4c)", "Pb1": "Pb(4b)", "Br1": "Br(8d,equatorial)", "Br2": "Br(4c,apical)"}


def cspbbr3(phase: str = "pnma", lattice: str = "pbe", supercell=(1, 1, 1)) -> Atoms:
    """Bulk CsPbBr3.

    Parameters
    ----------
    phase : 'pnma' (orthorhombic, 20-atom cell, a-b+a- octahedral tilts from the reference CIF),
        'tetragonal' (P4/mbm, 10 atoms, a0a0c+ tilt) or 'cubic' (Pm-3m, 5 atoms).
    lattice : 'pbe' (PBE-relaxed reference) or 'experiment' (measured lattice; for Pnma the
        fractional coordinates of the PBE cell are kept, so the tilts are kept).
    supercell : repeats (A, B, C) of the conventional cell.

    Every atom carries ``region='perovskite'`` and a ``site`` label such as ``Br(4c,apical)``.
    """
    check_choice("phase", phase, PHASES)
    check_choice("lattice", lattice, LATTICES)
    builder = {"pnma": _pnma, "tetragonal": _tetragonal, "cubic": _cubic}[phase]
    atoms, reference = builder(lattice)
    atoms = sort_species(atoms)
    set_regions(atoms, "perovskite")
    set_provenance(atoms, "pvatoms.build.cspbbr3",
                   {"phase": phase, "lattice": lattice, "supercell": list(supercell)}, reference)
    return make_supercell(atoms, supercell)


def _pnma(source: str) -> tuple[Atoms, str]:
    cif = reference_file(PNMA_CIF)
    with warnings.catch_warnings():   # the reference CIF has no formula keys; nothing is lost
        warnings.simplefilter("ignore", UserWarning)
        struct = CifParser(str(cif)).parse_structures(primitive=False)[0]
    labels = [PNMA_SITES[s.label] for s in struct]
    if source == "experiment":
        par = lattice("pnma", "experiment")
        struct = Structure(Lattice.orthorhombic(par["a"], par["b"], par["c"]), struct.species,
                           struct.frac_coords)
    atoms = AseAtomsAdaptor.get_atoms(struct)
    atoms.arrays["site"] = np.array(labels, dtype="<U24")
    return atoms, f"structures/{PNMA_CIF}"


def _tetragonal(source: str) -> tuple[Atoms, str]:
    par = lattice("tetragonal", source)
    a, c = par["a"], par["c"]
    # Br(4g) at (x, x+1/2, 0): choose x so that the octahedra are regular (Pb-Br equatorial = c/2).
    disc = 1 - 8 * (0.25 - (c / (2 * a)) ** 2)
    x = 0.25 if disc < 0 else (1 - np.sqrt(disc)) / 4
    struct = Structure.from_spacegroup(
        "P4/mbm", Lattice.tetragonal(a, c), ["Pb", "Cs", "Br", "Br"],
        [[0, 0, 0], [0, 0.5, 0.5], [0, 0, 0.5], [x, x + 0.5, 0]])
    names = {"Pb": "Pb(2a)", "Cs": "Cs(2c)"}
    labels = [names.get(s.specie.symbol) or ("Br(2b,apical)" if abs(s.frac_coords[2] - 0.5) < 1e-6
                                            else "Br(4g,equatorial)") for s in struct]
    atoms = AseAtomsAdaptor.get_atoms(struct)
    atoms.arrays["site"] = np.array(labels, dtype="<U24")
    return atoms, f"structures/lattices.yaml: tetragonal.{source}"


def _cubic(source: str) -> tuple[Atoms, str]:
    a = lattice("cubic", source)["a"]
    atoms = Atoms("CsPbBr3", scaled_positions=[[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0],
                                                 [0, 0, 0.5]], cell=[a, a, a], pbc=True)
    atoms.arrays["site"] = np.array(["Cs(1b)", "Pb(1a)", "Br(3d)", "Br(3d)", "Br(3d)"], dtype="<U24")
    return atoms, f"structures/lattices.yaml: cubic.{source}"


def pseudocubic_lattice(atoms: Atoms, formula_units: int | None = None) -> float:
    """Pseudocubic lattice constant (Å): cube root of the volume per CsPbBr3 unit (per Pb)."""
    n = formula_units or int(np.sum(atoms.numbers == 82))
    if n == 0:
        raise InputError("no Pb in the structure: cannot define a pseudocubic lattice constant")
    return float((atoms.cell.volume / n) ** (1 / 3))
