"""Symmetry-distinct point defects: vacancies, interstitials, antisites and Schottky pairs.

Sites are told apart with spglib (symprec 0.01 Å) on the host cell given (the conventional cell for
bulk), then each defect is made once in the supercell. Atom order is stable: a vacancy deletes one
atom and keeps the others in order, an interstitial is inserted after the last atom of its element,
an antisite changes one atom's element in place. Two vacancies of the same element therefore have
the same atom order apart from the missing atom, as NEB endpoints need.

>>> from pvatoms.build import cspbbr3, point_defects
>>> defects = point_defects(cspbbr3(), vacancies=["Br", "Pb", "Cs"], supercell=(2, 2, 2))
>>> [d.name for d in defects]
['V_Br_8d', 'V_Br_4c', 'V_Pb_4b', 'V_Cs_4c']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from scipy.spatial import Voronoi, cKDTree

from pvatoms.build.common import (make_supercell, regions_of, set_provenance,
                                  supercell_for_min_length, symmetry_dataset)
from pvatoms.errors import InputError, check_choice
from pvatoms.geometry import minimum_image, plane_distance

#: Formal oxidation states used to suggest charge states.
OXIDATION_STATES = {"Cs": 1, "Rb": 1, "K": 1, "Na": 1, "Pb": 2, "Sn": 2, "Br": -1, "Cl": -1, "I": -1,
                    "F": -1}
COMPLEXES = {"schottky-PbBr2": ("Pb", "Br", 2), "schottky-CsBr": ("Cs", "Br", 1)}


@dataclass
class Defect:
    """One symmetry-distinct defect in its supercell.

    ``position`` is Cartesian (Å) in the supercell; ``multiplicity`` counts equivalent sites per host
    cell (the Wyckoff multiplicity for a conventional bulk cell); ``boundary_distance`` (Å) is the
    distance to the nearest RP/perovskite boundary plane, None without boundaries.
    """

    name: str
    kind: str
    element: str | None
    host_element: str | None
    site: str | None
    wyckoff: str | None
    multiplicity: int
    position: list
    region: str
    boundary_distance: float | None
    charges: list
    removed: list = field(default_factory=list)
    added: list = field(default_factory=list)
    atoms: Atoms | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("atoms")
        return d


def oxidation_state(element: str) -> int:
    """Formal oxidation state of ``element`` in a lead halide perovskite."""
    if element in OXIDATION_STATES:
        return OXIDATION_STATES[element]
    from pymatgen.core import Element
    states = Element(element).common_oxidation_states
    return int(states[0]) if states else 0


def charge_range(q_formal: int) -> list[int]:
    """Charge states from 0 to the fully ionic one, e.g. V_Pb (-2) -> [-2, -1, 0]."""
    lo, hi = min(0, q_formal), max(0, q_formal)
    return list(range(lo, hi + 1))


def _check_element(symbol: str, what: str) -> str:
    if symbol not in atomic_numbers or symbol == "X":
        raise InputError(f"unknown element {symbol!r} in {what}")
    return symbol


def point_defects(host: Atoms, vacancies=(), interstitials=(), antisites=(), complexes=(),
                  supercell=None, min_length: float | None = None, region: str | None = None,
                  max_distance_from_boundary: float | None = None, max_interstitial_sites: int = 3,
                  interstitial_min_distance: float = 2.2, symprec: float = 0.01) -> list[Defect]:
    """Enumerate symmetry-distinct defects of ``host`` and build each in a supercell.

    Parameters
    ----------
    host : the perfect structure (bulk conventional cell, RP cell, or an interface supercell with
        region labels).
    vacancies : elements to remove, e.g. ``["Br", "Pb", "Cs"]``.
    interstitials : elements to add at the largest symmetry-distinct voids (Voronoi vertices at
        least ``interstitial_min_distance`` Å from every atom; the ``max_interstitial_sites`` largest).
    antisites : ``"A_B"`` strings: element A on a B site, e.g. ``"Pb_Cs"``.
    complexes : ``"schottky-PbBr2"`` (V_Pb + its two nearest V_Br) or ``"schottky-CsBr"``.
    supercell : repeats (A, B, C); or ``min_length`` (Å): smallest diagonal supercell whose
        periodic images are that far apart. Neither: the host cell as given.
    region : keep only defects in this region ('rp', 'boundary', 'perovskite').
    max_distance_from_boundary : keep only defects this close (Å) to a boundary plane.

    Returns the defects in input order (vacancies, interstitials, antisites, complexes), each with
    its supercell in ``.atoms``. The perfect supercell is ``defects_supercell(host, ...)``.
    """
    vacancies = [_check_element(v, "--vacancy") for v in vacancies]
    interstitials = [_check_element(v, "--interstitial") for v in interstitials]
    for c in complexes:
        check_choice("complex", c, tuple(COMPLEXES))
    present = sorted(set(host.get_chemical_symbols()))
    for el in vacancies:
        if el not in present:
            raise InputError(f"--vacancy {el}: no {el} in the structure (elements present: {', '.join(present)})")
    parsed_antisites = []
    for a in antisites:
        parts = a.split("_")
        if len(parts) != 2:
            raise InputError(f"antisite {a!r} must be written A_B (element A on a B site), e.g. Pb_Cs")
        sub, site_el = (_check_element(p, f"antisite {a!r}") for p in parts)
        if site_el not in present:
            raise InputError(f"antisite {a}: no {site_el} site in the structure (elements present: {', '.join(present)})")
        if sub == site_el:
            raise InputError(f"antisite {a}: an element on its own site is no defect")
        parsed_antisites.append((sub, site_el))
    if region is not None:
        if "region" not in host.arrays:
            raise InputError("--region needs region labels in the input: build it with "
                             "`pvatoms build interface ... -o FILE.extxyz` (extxyz keeps labels)")
        labels = sorted(set(regions_of(host)))
        check_choice("region", region, labels)
    if max_distance_from_boundary is not None and "boundary_distance" not in host.arrays:
        raise InputError("--max-distance-from-boundary needs an interface structure with boundary "
                         "distances (an extxyz written by `pvatoms build interface`)")

    if supercell is not None and min_length is not None:
        raise InputError("give either supercell repeats or min-length, not both")
    reps = tuple(supercell) if supercell is not None else (
        supercell_for_min_length(host, min_length) if min_length is not None else (1, 1, 1))
    host = host.copy()
    host.arrays["host_index"] = np.arange(len(host))
    sc = make_supercell(host, reps)
    ds = symmetry_dataset(host, symprec)
    equiv = ds.equivalent_atoms if ds is not None else np.arange(len(host))
    wyck = ds.wyckoffs if ds is not None else ["a"] * len(host)
    first_image = _first_image_index(sc)
    ctx = _Context(host, sc, equiv, wyck, first_image, region, max_distance_from_boundary, reps)

    out: list[Defect] = []
    for el in vacancies:
        out += ctx.vacancies(el)
    for el in interstitials:
        out += ctx.interstitials(el, max_interstitial_sites, interstitial_min_distance, ds)
    for sub, site_el in parsed_antisites:
        out += ctx.antisites(sub, site_el)
    for c in complexes:
        out += ctx.complexes(c)
    _unique_names(out)
    for d in out:
        d.atoms.arrays.pop("host_index", None)
        prov = dict(sc.info.get("provenance") or {})
        set_provenance(d.atoms, "pvatoms.build.point_defects",
                       {"defect": d.name, "supercell": list(reps), "removed": d.removed, "added": d.added},
                       prov.get("reference"), parent=prov or None)
    return out


def defects_supercell(host: Atoms, supercell=None, min_length: float | None = None) -> Atoms:
    """The perfect supercell that :func:`point_defects` puts the defects in (same atom order)."""
    reps = tuple(supercell) if supercell is not None else (
        supercell_for_min_length(host, min_length) if min_length is not None else (1, 1, 1))
    sc = make_supercell(host, reps)
    sc.arrays.pop("host_index", None)
    return sc


def _first_image_index(sc: Atoms) -> dict[int, int]:
    """Supercell index of the first image of each host atom."""
    out: dict[int, int] = {}
    for i, h in enumerate(sc.arrays["host_index"]):
        out.setdefault(int(h), i)
    return out


def _unique_names(defects: list[Defect]) -> None:
    seen: dict[str, int] = {}
    for d in defects:
        seen[d.name] = seen.get(d.name, 0) + 1
    count: dict[str, int] = {}
    for d in defects:
        if seen[d.name] > 1:
            count[d.name] = count.get(d.name, 0) + 1
            d.name = f"{d.name}_{count[d.name]}"


class _Context:
    def __init__(self, host, sc, equiv, wyck, first_image, region, max_dist, reps):
        self.host, self.sc, self.equiv, self.wyck = host, sc, equiv, wyck
        self.first = first_image
        self.region, self.max_dist, self.reps = region, max_dist, reps
        self.sym = np.array(host.get_chemical_symbols())
        self.sc_regions = regions_of(sc)
        self.sc_bdist = sc.arrays.get("boundary_distance")
        # interstitial boundary distances need the planes (kept in info by the interface builder)
        self.planes = host.info.get("boundary_planes")
        self.normal = host.info.get("stacking_normal")

    # -- helpers -----------------------------------------------------------------------------
    def _classes(self, element: str):
        """(representative host index, multiplicity) for each distinct site of ``element``."""
        idx = np.flatnonzero(self.sym == element)
        reps: dict[int, list[int]] = {}
        for i in idx:
            reps.setdefault(int(self.equiv[i]), []).append(int(i))
        out = []
        for members in reps.values():
            rep = self._pick(members)
            if rep is not None:
                out.append((rep, len(members)))
        return out

    def _pick(self, members):
        """First member that passes the region / distance filters (None if none does)."""
        for m in members:
            j = self.first[m]
            if self.region is not None and self.sc_regions[j] != self.region:
                continue
            if self.max_dist is not None and self.sc_bdist[j] > self.max_dist:
                continue
            return m
        return None

    def _site_name(self, i: int) -> tuple[str, str]:
        """Readable site label (the builder's ``site`` label where present) and a short tag."""
        el, w = self.sym[i], self.wyck[i]
        mult = int(np.sum(self.equiv == self.equiv[i]))
        label = str(self.host.arrays["site"][i]) if "site" in self.host.arrays else f"{el}({mult}{w})"
        return label, f"{mult}{w}"

    def _bdist(self, j: int):
        return None if self.sc_bdist is None else round(float(self.sc_bdist[j]), 4)

    def _point_bdist(self, pos):
        if not self.planes or self.normal is None:
            return None
        n = np.asarray(self.normal)
        period = float(self.sc.cell[2] @ n)
        h = float(pos @ n)
        return round(float(plane_distance(h, self.planes, period)), 4)

    # -- defect kinds ------------------------------------------------------------------------
    def vacancies(self, el):
        out = []
        q = -oxidation_state(el)
        for rep, mult in self._classes(el):
            j = self.first[rep]
            site, wl = self._site_name(rep)
            atoms = self.sc.copy()
            del atoms[j]
            out.append(Defect(f"V_{el}_{wl}", "vacancy", None, el, site, self.wyck[rep], mult,
                              self.sc.positions[j].round(6).tolist(), str(self.sc_regions[j]),
                              self._bdist(j), charge_range(q), removed=[j], atoms=atoms))
        return out

    def antisites(self, sub, site_el):
        out = []
        q = oxidation_state(sub) - oxidation_state(site_el)
        for rep, mult in self._classes(site_el):
            j = self.first[rep]
            site, wl = self._site_name(rep)
            atoms = self.sc.copy()
            atoms.symbols[j] = sub
            out.append(Defect(f"{sub}_{site_el}_{wl}", "antisite", sub, site_el, site, self.wyck[rep],
                              mult, self.sc.positions[j].round(6).tolist(), str(self.sc_regions[j]),
                              self._bdist(j), charge_range(q), removed=[j], added=[j], atoms=atoms))
        return out

    def complexes(self, name):
        cation, anion, n_anion = COMPLEXES[name]
        out = []
        sc_sym = np.array(self.sc.get_chemical_symbols())
        anions = np.flatnonzero(sc_sym == anion)
        for rep, mult in self._classes(cation):
            j = self.first[rep]
            d = self.sc.get_distances(j, anions, mic=True)
            order = np.lexsort((anions, np.round(d, 3)))
            partners = [int(anions[k]) for k in order[:n_anion]]
            removed = [j] + partners
            atoms = self.sc.copy()
            del atoms[sorted(removed)]
            site, wl = self._site_name(rep)
            out.append(Defect(f"{name}_{wl}", "complex", None, cation, site, self.wyck[rep], mult,
                              self.sc.positions[j].round(6).tolist(), str(self.sc_regions[j]),
                              self._bdist(j), [0], removed=sorted(removed), atoms=atoms))
        return out

    def interstitials(self, el, max_sites, min_dist, ds):
        sites = interstitial_sites(self.host, min_dist, ds)
        out = []
        q = oxidation_state(el)
        insert_at = self._insert_index(el)
        kept = 0
        for rank, (frac_host, dmin, mult) in enumerate(sites, start=1):
            # position of this site in the first image of the supercell
            cart = frac_host @ np.array(self.host.cell)
            region = self._region_at(cart)
            bd = self._point_bdist(cart)
            if self.region is not None and region != self.region:
                continue
            if self.max_dist is not None and (bd is None or bd > self.max_dist):
                continue
            atoms = self.sc.copy()
            new = Atoms(el, positions=[cart], cell=atoms.cell, pbc=True)
            for key in atoms.arrays:
                if key not in ("numbers", "positions"):
                    arr = atoms.arrays[key]
                    fill = region if key == "region" else (bd if key == "boundary_distance" else -1)
                    new.arrays[key] = np.array([fill], dtype=arr.dtype)
            atoms = atoms[:insert_at] + new + atoms[insert_at:]
            atoms.info = dict(self.sc.info)
            out.append(Defect(f"{el}_i_{rank}", "interstitial", el, None,
                              f"void, {dmin:.2f} Å to the nearest atom", None, mult,
                              cart.round(6).tolist(), region, bd, charge_range(q),
                              added=[insert_at], atoms=atoms))
            kept += 1
            if kept >= max_sites:
                break
        return out

    def _insert_index(self, el):
        sym = np.array(self.sc.get_chemical_symbols())
        same = np.flatnonzero(sym == el)
        return int(same[-1] + 1) if len(same) else len(self.sc)

    def _region_at(self, cart):
        """Region of the atom nearest to a point."""
        tmp = self.sc + Atoms("X", positions=[cart])
        dist = tmp.get_distances(len(tmp) - 1, list(range(len(self.sc))), mic=True)
        return str(self.sc_regions[int(np.argmin(dist))])


def interstitial_sites(host: Atoms, min_dist: float = 2.2, ds=None, merge: float = 0.8):
    """Symmetry-distinct void centres of ``host``: ``[(frac, distance to nearest atom Å,
    multiplicity per host cell), ...]``, largest void first. Candidates are Voronoi vertices of the
    periodic structure at least ``min_dist`` Å from every atom, merged within ``merge`` Å."""
    cell = np.array(host.cell)
    frac = host.get_scaled_positions(wrap=True)
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    images = (frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3) @ cell
    vor = Voronoi(images)
    verts = vor.vertices
    vfrac = verts @ np.linalg.inv(cell)
    inside = np.all((vfrac >= -1e-9) & (vfrac < 1 - 1e-9), axis=1)
    verts, vfrac = verts[inside], vfrac[inside]
    tree = cKDTree(images)
    dmin, _ = tree.query(verts)
    keep = dmin >= min_dist
    verts, vfrac, dmin = verts[keep], vfrac[keep], dmin[keep]
    order = np.argsort(-dmin)
    accepted: list[int] = []
    for k in order:
        if all(_mic_dist(vfrac[k], vfrac[a], cell) > merge for a in accepted):
            accepted.append(k)
    ops = [(np.eye(3, dtype=int), np.zeros(3))] if ds is None else list(zip(ds.rotations, ds.translations))
    classes: list[tuple[np.ndarray, float, int]] = []
    used = np.zeros(len(accepted), bool)
    for ai, k in enumerate(accepted):
        if used[ai]:
            continue
        orbit = [np.mod(R @ vfrac[k] + t, 1.0) for R, t in ops]
        uniq: list[np.ndarray] = []
        for p in orbit:
            if all(_mic_dist(p, q, cell) > 0.1 for q in uniq):
                uniq.append(p)
        for bj, k2 in enumerate(accepted):
            if not used[bj] and any(_mic_dist(vfrac[k2], p, cell) < merge for p in uniq):
                used[bj] = True
        classes.append((vfrac[k], float(dmin[k]), len(uniq)))
    return classes


def _mic_dist(f1, f2, cell) -> float:
    _, length = minimum_image((np.asarray(f1) - np.asarray(f2)) @ np.asarray(cell), cell)
    return float(length)
