"""Ruddlesden-Popper Cs(n+1)Pb(n)Br(3n+1): n = 1 (Cs2PbBr4), 2 (Cs3Pb2Br7), 3 (Cs4Pb3Br10).

>>> from pvatoms.build import ruddlesden_popper
>>> rp = ruddlesden_popper(n=1)                 # untilted, K2NiF4 type, I4/mmm, 14 atoms
>>> rp.get_chemical_formula()
'Br8Cs4Pb2'
"""

from __future__ import annotations

from ase import Atoms

from pvatoms.build.bulk import LATTICES, cspbbr3
from pvatoms.build.common import (check_framework_distances, make_supercell, pb_coordination,
                                  set_provenance)
from pvatoms.build.stacking import ROCKSALT_GAP, Block, cubic_framework, pnma_framework, stack_blocks
from pvatoms.errors import InputError, check_choice
from pvatoms.reference import PNMA_CIF
from pvatoms.reference import lattice as reference_lattice

#: RP members that pvatoms builds (n > 3 is not expected to be stable).
RP_N = (1, 2, 3)


def ruddlesden_popper(n: int = 1, tilted: bool = False, lattice: str = "pbe", supercell=(1, 1, 1),
                      gap: float = ROCKSALT_GAP) -> Atoms:
    """Ruddlesden-Popper Cs(n+1)Pb(n)Br(3n+1), two blocks per cell along c.

    Parameters
    ----------
    n : perovskite block thickness in octahedra (1, 2 or 3).
    tilted : False builds the blocks from cubic CsPbBr3 (the ``lattice`` cubic constant; n = 1 is
        I4/mmm, K2NiF4 type); True builds them from the tilted Pnma framework stacked along its b
        axis (in-plane the Pnma c and a axes), keeping the octahedral tilts.
    lattice : 'pbe' or 'experiment' reference lattice of the parent perovskite.
    supercell : repeats of the RP cell.
    gap : spacing (Å) of the two CsBr planes of the rock-salt layer between blocks.

    Adjacent blocks are shifted in-plane by (1/2, 1/2) pseudocubic. Region label: ``rp``.
    """
    if n not in RP_N:
        raise InputError(f"RP n must be one of {', '.join(map(str, RP_N))} (Cs(n+1)Pb(n)Br(3n+1); "
                         f"n > 3 is not expected to be stable), got {n!r}")
    check_choice("lattice", lattice, LATTICES)
    if not gap > 0:
        raise InputError(f"rock-salt gap must be positive (Å), got {gap!r}")
    if tilted:
        fw = pnma_framework(cspbbr3("pnma", lattice), "b")
        reference = f"structures/{PNMA_CIF}"
    else:
        fw = cubic_framework(reference_lattice("cubic", lattice)["a"])
        reference = f"structures/lattices.yaml: cubic.{lattice}"
    atoms = stack_blocks(fw, [Block(n, "rp"), Block(n, "rp")], gap=gap)
    check_framework_distances(atoms)
    _check_octahedra(atoms)
    set_provenance(atoms, "pvatoms.build.ruddlesden_popper",
                   {"n": n, "tilted": tilted, "lattice": lattice, "supercell": list(supercell),
                    "gap": gap}, reference)
    return make_supercell(atoms, supercell)


def _check_octahedra(atoms: Atoms) -> None:
    cn = pb_coordination(atoms)
    if (cn != 6).any():
        raise InputError(f"built structure has Pb with {sorted(set(cn.tolist()))} Br neighbours "
                         "(expected 6): the requested geometry is not physical")
