"""Which loose result document is what, from its structure alone — for the command line only
(``pvatoms analyse defects RESULTS...``). Studies and workflows know the role of every
document and call :func:`pvatoms.analysis.defects.study.analyse_defects` directly.

- the **bulk supercell**: the host-composition document that most other documents are defects
  of (ties: the largest), unless given;
- **defects**: documents in the bulk supercell's cell (within
  :data:`~pvatoms.analysis.defects.documents.CELL_TOL`) that differ from it by 1 to
  ``max_changes`` atoms;
- the **host reference** for the phase diagram: the lowest-energy-per-atom other
  host-composition document (e.g. the converged unit cell), else the bulk supercell;
- **competing phases**: everything else.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from pvatoms.analysis.chempots import doc_energy, doc_structure
from pvatoms.analysis.defects.documents import CELL_TOL, MAX_CHANGES
from pvatoms.errors import InputError


def reduced_formula(doc: dict) -> str:
    """pymatgen's reduced formula of a document's structure, e.g. ``"CsPbBr3"``."""
    from pymatgen.core import Composition

    atoms = doc_structure(doc, doc.get("_label", "document"))
    return Composition(dict(Counter(atoms.get_chemical_symbols()))).reduced_formula


def is_defect_of(doc: dict, bulk: dict, max_changes: int = MAX_CHANGES) -> bool:
    """True when ``doc`` is in the cell of ``bulk`` and differs from it by 1 to ``max_changes``
    atoms (added plus removed)."""
    a, b = doc_structure(doc), doc_structure(bulk)
    cb = np.asarray(b.cell)
    if np.abs(np.asarray(a.cell) - cb).max() > CELL_TOL * np.abs(cb).max():
        return False
    ca, cbn = Counter(a.get_chemical_symbols()), Counter(b.get_chemical_symbols())
    diff = sum(((ca - cbn) + (cbn - ca)).values())
    return 0 < diff <= max_changes


def sort_documents(docs: list[dict], host: str = "CsPbBr3", bulk: dict | None = None,
                   max_changes: int = MAX_CHANGES) -> dict:
    """{"bulk", "host", "defects", "phases"} from a list of result documents (see the module
    notes). ``host``: the host formula; ``bulk``: the perfect supercell when known (it is then
    not searched for, and should not be among ``docs``)."""
    from pymatgen.core import Composition
    try:
        host = Composition(host).reduced_formula
    except Exception:
        raise InputError(f"--host {host!r} is not a chemical formula") from None
    formulas = [reduced_formula(d) for d in docs]
    if bulk is None:
        candidates = [d for d, f in zip(docs, formulas) if f == host]
        if not candidates:
            raise InputError(f"missing bulk reference: none of the RESULTS is a {host} calculation (the perfect "
                             f"supercell the defects were made in); found {', '.join(sorted(set(formulas)))}")
        # the perfect supercell: the host document that most other documents are defects of
        bulk = max(candidates, key=lambda c: (sum(is_defect_of(d, c, max_changes) for d in docs if d is not c),
                                              len(doc_structure(c))))
    out = {"bulk": bulk, "host": None, "defects": [], "phases": []}
    hosts = []
    for d, f in zip(docs, formulas):
        if d is bulk:
            continue
        if f == host:
            hosts.append(d)
        elif is_defect_of(d, bulk, max_changes):
            out["defects"].append(d)
        else:
            out["phases"].append(d)
    out["host"] = (min(hosts, key=lambda d: doc_energy(d, d.get("_label", "host")) / len(doc_structure(d)))
                   if hosts else bulk)
    return out


__all__ = ["sort_documents", "is_defect_of", "reduced_formula"]
