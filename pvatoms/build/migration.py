"""Vacancy migration endpoints: pairs of cells that hold the same atoms in the same order, with
one atom moved from a lattice site into a neighbouring vacancy — what a NEB needs.

Two vacancy cells of one element built independently are *not* endpoints: their atom orders
differ, so the band would move many atoms at once. :func:`vacancy_hop` builds a consistent pair;
:func:`neb_endpoints` picks the hops of a host supercell.

>>> from pvatoms.build import cspbbr3
>>> hops = neb_endpoints(cspbbr3("pnma"), "Br", supercell=(2, 2, 2), site="8d", to="nearest-equivalent")
>>> hops[0]["name"], round(hops[0]["distance"], 2), len(hops[0]["initial"])      # doctest: +SKIP
('V_Br_8d-8d', 4.21, 159)
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from pvatoms.errors import InputError, check_choice

HOP_TARGETS = ("nearest", "nearest-equivalent")


def vacancy_hop(perfect: Atoms, site_from: int, site_to: int) -> tuple[Atoms, Atoms]:
    """NEB endpoints for a vacancy hopping from ``site_from`` to ``site_to`` (atom indices of the
    perfect supercell, same element): the atom at ``site_to`` moves into ``site_from``.

    Initial: vacancy at ``site_from``. Final: vacancy at ``site_to``. Same atom order in both."""
    sym = perfect.get_chemical_symbols()
    if sym[site_from] != sym[site_to]:
        raise InputError(f"vacancy hop between different elements ({sym[site_from]}{site_from} -> "
                         f"{sym[site_to]}{site_to}); choose two sites of one element")
    if site_from == site_to:
        raise InputError("vacancy hop needs two different sites")
    initial = perfect.copy()
    del initial[site_from]
    final = initial.copy()
    mover = site_to - (site_to > site_from)
    d = perfect.get_distance(site_to, site_from, mic=True, vector=True)
    final.positions[mover] = initial.positions[mover] + d      # continuous path, no wrap jump
    for a in (initial, final):
        a.info["provenance"] = {"builder": "pvatoms.build.migration.vacancy_hop",
                                "arguments": {"site_from": int(site_from), "site_to": int(site_to)},
                                "reference": None, "parent": perfect.info.get("provenance")}
    return initial, final


def nearest_vacancy_hops(perfect: Atoms, site: int, cutoff: float = 5.0) -> list[tuple[int, float]]:
    """Sites of the same element as ``site`` within ``cutoff`` Å: ``[(index, distance Å), ...]``,
    nearest first — candidate vacancy hops."""
    sym = np.array(perfect.get_chemical_symbols())
    same = np.flatnonzero(sym == sym[site])
    same = same[same != site]
    d = perfect.get_distances(site, same, mic=True)
    order = np.argsort(d)
    return [(int(same[k]), float(d[k])) for k in order if d[k] < cutoff]


def neb_endpoints(host: Atoms, element: str, supercell=(2, 2, 2), site: str | None = None,
                  to: str = "nearest", cutoff: float = 5.0) -> list[dict]:
    """NEB endpoint pairs for a vacancy of ``element`` hopping in the ``supercell`` of ``host``.

    ``site``: Wyckoff label of the starting site (e.g. ``8d``; default: the first distinct site);
    ``to``: ``nearest`` (the nearest site of the element) or ``nearest-equivalent`` (the nearest
    symmetry-equivalent one). Returns ``[{"name", "site_from", "site_to" (atom indices of the
    perfect supercell), "distance" (Å), "initial", "final" (ase.Atoms, same atom order)}]`` —
    one entry, or none when no site of the element is within ``cutoff`` Å.
    """
    from pvatoms.build.common import symmetry_dataset
    from pvatoms.build.defects import defects_supercell, point_defects
    check_choice("to", to, HOP_TARGETS)
    reps = tuple(int(x) for x in supercell)
    vacs = {d.name: d for d in point_defects(host, vacancies=[element], supercell=reps)}
    matches = [d for n, d in vacs.items() if site is None or n.endswith(str(site))]
    if not matches:
        raise InputError(f"hop of {element}: no {element} site {site!r}; sites: {', '.join(vacs) or 'none'}")
    perfect = defects_supercell(host, reps)
    i = matches[0].removed[0]
    cands = nearest_vacancy_hops(perfect, i, cutoff)
    if to == "nearest-equivalent":
        equiv = symmetry_dataset(perfect).equivalent_atoms
        cands = [c for c in cands if equiv[c[0]] == equiv[i]]
    if not cands:
        raise InputError(f"hop of {element} from {matches[0].name}: no {'equivalent ' if to != 'nearest' else ''}"
                         f"{element} site within {cutoff} Å")
    j, dist = cands[0]
    wyckoff = matches[0].name.split("_")[-1]
    initial, final = vacancy_hop(perfect, i, j)
    return [{"name": f"V_{element}_{wyckoff}-hop", "site_from": int(i), "site_to": int(j),
             "distance": float(dist), "initial": initial, "final": final}]


__all__ = ["vacancy_hop", "nearest_vacancy_hops", "neb_endpoints", "HOP_TARGETS"]
