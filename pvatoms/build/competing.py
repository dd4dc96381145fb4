"""Structures of the competing phases of CsPbBr3 (moved here from ``pvatoms.analysis.chempots``,
which turns their result documents into chemical-potential limits).

Cs (bcc), Pb (fcc), Br2 (a molecule in a box, see :func:`br2_molecule`), CsBr (CsCl type), PbBr2
(PbCl2 type, Pnma), Cs4PbBr6 (R-3c), CsPb2Br5 (I4/mcm), CsBr3 (Pnma) from
``structures/competing/*.cif`` and the Ruddlesden-Popper phases Cs2PbBr4 / Cs3Pb2Br7 from
:func:`pvatoms.build.ruddlesden_popper`. Each carries ``atoms.info["provenance"]`` (source,
status); ``structures/competing/README.md`` lists the sources. The CIF coordinates of PbBr2,
CsPb2Br5, Cs4PbBr6 and CsBr3 are approximate or idealised starting geometries: relax them (cell
and positions) before use.

**Br2 reference.** The standard state of bromine is a liquid. pvatoms uses one Br2 molecule in a
15 Å cubic box (bond 2.281 Å, the gas-phase equilibrium length, Huber & Herzberg 1979): it is
defined for every backend (no van der Waals binding needed), so the Br-rich limit is
μ_Br = E(Br2 molecule)/2 (see :mod:`pvatoms.analysis.chempots`).

>>> phases = competing_phases()                                   # {name: ase.Atoms}
>>> sorted(phases)[:3]
['Br2', 'Cs', 'Cs2PbBr4']
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from pvatoms.errors import InputError

#: Ruddlesden-Popper phases (built, no experimental crystal known).
RP_PHASES = ("Cs2PbBr4", "Cs3Pb2Br7")
#: Phases read from ``structures/competing/<name>.cif``.
CIF_PHASES = ("Cs", "Pb", "CsBr", "PbBr2", "Cs4PbBr6", "CsPb2Br5", "CsBr3")
#: Every competing phase :func:`competing_phases` builds.
#: references that are molecules in a box: relaxed at fixed cell (the box is not a lattice)
MOLECULES = ("Br2",)
COMPETING_PHASES = ("Cs", "Pb", "Br2") + CIF_PHASES[2:] + RP_PHASES
#: Br-Br bond length of the gas-phase molecule (Å), Huber & Herzberg (1979) / NIST CCCBDB.
BR2_BOND = 2.281
#: Edge of the cubic box around the Br2 molecule (Å).
BR2_BOX = 15.0


def br2_molecule(box: float = BR2_BOX, bond: float = BR2_BOND) -> Atoms:
    """One Br2 molecule (bond ``bond`` Å, along x) in a periodic cubic box of edge ``box`` Å."""
    if not box > 2 * bond + 5.0:
        raise InputError(f"Br2 box edge must exceed {2 * bond + 5.0:.1f} Å (molecule plus vacuum), got {box!r}")
    c = box / 2
    atoms = Atoms("Br2", positions=[(c - bond / 2, c, c), (c + bond / 2, c, c)], cell=[box] * 3, pbc=True)
    atoms.info["provenance"] = {
        "builder": "pvatoms.build.competing.br2_molecule", "arguments": {"box": box, "bond": bond},
        "reference": None, "phase": "Br2",
        "source": "gas-phase Br2 equilibrium bond length 2.281 Å (Huber & Herzberg 1979; NIST CCCBDB)",
        "status": "molecule in a box: the Br-rich reference (see pvatoms.analysis.chempots)"}
    return atoms


def _cif_phase(name: str, primitive: bool) -> Atoms:
    from ase.io import read

    from pvatoms.reference import structures_dir

    path = structures_dir() / "competing" / f"{name}.cif"
    if not path.is_file():
        raise InputError(f"competing-phase structure {path} is missing; the repository's "
                         "structures/competing/ folder holds one CIF per phase")
    atoms = read(path)
    if primitive:
        atoms = _primitive(atoms)
    header = [ln[1:].strip() for ln in path.read_text().splitlines() if ln.startswith("#")]
    status = next((h.split(":", 1)[1].strip() for h in header if h.startswith("Status:")), None)
    atoms.info["provenance"] = {"builder": "pvatoms.build.competing.competing_phases",
                                "arguments": {"name": name, "primitive": primitive},
                                "reference": f"structures/competing/{name}.cif", "phase": name,
                                "source": " ".join(h for h in header if not h.startswith("Written by")),
                                "status": status}
    return atoms


def _primitive(atoms: Atoms) -> Atoms:
    import spglib

    cell = (np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers)
    lattice, positions, numbers = spglib.find_primitive(cell, symprec=0.01)
    return Atoms(numbers=numbers, scaled_positions=positions, cell=lattice, pbc=True)


def competing_phases(names=None, primitive: bool = False, rp_tilted: bool = False,
                     rp_lattice: str = "pbe") -> dict[str, Atoms]:
    """Structures of the competing phases of CsPbBr3, ``{name: ase.Atoms}``.

    Parameters
    ----------
    names : subset of :data:`COMPETING_PHASES` (default: all).
    primitive : primitive cells instead of conventional ones (Cs4PbBr6: 22 instead of 66 atoms,
        CsPb2Br5: 16 instead of 32) — cheaper DFT, same energy per atom.
    rp_tilted, rp_lattice : passed to :func:`pvatoms.build.ruddlesden_popper` for Cs2PbBr4 (n=1)
        and Cs3Pb2Br7 (n=2).

    Every structure carries ``info["provenance"]`` with ``source`` and ``status``; relax each one
    (cell and positions) with the host's backend and settings, then pass the result documents to
    :func:`pvatoms.analysis.chempots.chemical_potential_limits`.

    >>> phases = competing_phases(["CsBr", "Br2"])
    >>> {k: len(v) for k, v in phases.items()}
    {'CsBr': 2, 'Br2': 2}
    """
    names = list(COMPETING_PHASES if names is None else names)
    out: dict[str, Atoms] = {}
    for name in names:
        if name not in COMPETING_PHASES:
            raise InputError(f"unknown competing phase {name!r}; valid: {', '.join(COMPETING_PHASES)}")
        if name == "Br2":
            out[name] = br2_molecule()
        elif name in RP_PHASES:
            from pvatoms.build.rp import ruddlesden_popper
            n = 1 if name == "Cs2PbBr4" else 2
            atoms = ruddlesden_popper(n, tilted=rp_tilted, lattice=rp_lattice)
            atoms.info["provenance"] = dict(atoms.info.get("provenance") or {}, phase=name,
                                            source="pvatoms.build.ruddlesden_popper (perovskite blocks, "
                                            "no experimental crystal known)",
                                            status="built starting geometry; relax before use")
            out[name] = atoms
        else:
            out[name] = _cif_phase(name, primitive)
    return out


__all__ = ["competing_phases", "br2_molecule", "COMPETING_PHASES", "MOLECULES", "CIF_PHASES", "RP_PHASES",
           "BR2_BOND", "BR2_BOX"]
