"""Run-time structure operations of a study step, applied in order to a parent's final structure.

Each operation is a one-key mapping (JSON-able, so that FireWorks can carry it):

=======================  =========================================================================
``{"supercell": [a,b,c]}``  repeat the cell
``{"delete": [i, ...]}``    remove atoms (vacancies, Schottky complexes)
``{"substitute": {i: el}}`` change the element of atom i (antisites)
``{"insert": [{"index", "symbol", "frac"}]}``  add an atom at fractional coordinates (interstitials)
``{"phonon_displacement": {"index", "supercell", "displacement"}}``  the k-th phonopy displaced cell
``{"vacancy_hop": {"from", "to", "endpoint"}}``  an NEB endpoint (``initial`` / ``final``)
``{"provenance": {...}}``   record what the operations made (e.g. the defect's name)
=======================  =========================================================================
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from pvatoms.errors import InputError

OPERATIONS = ("supercell", "delete", "substitute", "insert", "phonon_displacement", "vacancy_hop", "provenance")


def apply_transform(atoms: Atoms, transform: list | None) -> Atoms:
    """``atoms`` after the operations of ``transform`` (see the module docstring)."""
    from pvatoms.build.common import make_supercell
    where = {k: atoms.info[k] for k in ("geometry_method", "cell_method") if atoms.info.get(k) is not None}
    for step in transform or []:
        if not isinstance(step, dict) or len(step) != 1:
            raise InputError(f"a transform step is a one-key mapping, got {step!r}")
        (kind, arg), = step.items()
        if kind == "supercell":
            atoms = make_supercell(atoms, arg)
        elif kind == "delete":
            atoms = atoms.copy()
            del atoms[sorted(int(i) for i in arg)]
        elif kind == "substitute":
            atoms = atoms.copy()
            for i, el in arg.items():
                atoms.symbols[int(i)] = el
        elif kind == "insert":
            atoms = _insert(atoms, arg)
        elif kind == "phonon_displacement":
            from pvatoms.jobs.phonons import phonon_displacements
            _, cells = phonon_displacements(atoms, arg["supercell"], displacement=arg["displacement"])
            atoms = cells[int(arg["index"])]
        elif kind == "provenance":
            atoms.info["provenance"] = dict(arg, parent=atoms.info.get("provenance"))
        elif kind == "vacancy_hop":
            from pvatoms.build.migration import vacancy_hop
            initial, final = vacancy_hop(atoms, int(arg["from"]), int(arg["to"]))
            atoms = initial if arg["endpoint"] == "initial" else final
        else:
            raise InputError(f"unknown transform {kind!r}; valid: {', '.join(OPERATIONS)}")
    atoms.info.update(where)                          # where the geometry came from survives the operations
    return atoms


def _insert(atoms: Atoms, items) -> Atoms:
    atoms = atoms.copy()
    for item in items:
        new = Atoms(item["symbol"], scaled_positions=[item["frac"]], cell=atoms.cell, pbc=True)
        for key in atoms.arrays:
            if key not in ("numbers", "positions"):
                new.arrays[key] = np.array([atoms.arrays[key][0]], dtype=atoms.arrays[key].dtype)
        k = int(item["index"])
        info = dict(atoms.info)
        atoms = atoms[:k] + new + atoms[k:]
        atoms.info = info
    return atoms
