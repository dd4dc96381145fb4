"""Chemical potentials of Cs, Pb and Br from the competing phases of the Cs-Pb-Br system.

Reads result documents and never runs a calculation: :func:`chemical_potential_limits` turns the
result documents of the host and of its competing phases into the stability region of CsPbBr3 in
(Δμ_Cs, Δμ_Pb, Δμ_Br) space with pymatgen's :class:`~pymatgen.analysis.phase_diagram.PhaseDiagram`,
and names its vertices. The structures to compute (same backend and settings as the host) come
from :func:`pvatoms.build.competing.competing_phases`.

**Br2 reference.** The standard state of bromine is a liquid. pvatoms uses one Br2 molecule in a
15 Å cubic box (bond 2.281 Å, the gas-phase equilibrium length, Huber & Herzberg 1979): it is
defined for every backend (no van der Waals binding needed), so the Br-rich limit is
μ_Br = E(Br2 molecule)/2. The condensed phase would lower μ_Br by its cohesive energy (experiment:
enthalpy of vaporisation 30.9 kJ/mol ≈ 0.16 eV per Br atom); a computed solid-Br2 document, if
given, simply takes over as the elemental reference because it is lower in energy.

Conventions (eV): μ_i = E_i + Δμ_i, with E_i the energy per atom of the lowest elemental document
of element i and Δμ_i ≤ 0. In the stability region of CsPbBr3 (ΔH_f per formula unit):
Δμ_Cs + Δμ_Pb + 3 Δμ_Br = ΔH_f(CsPbBr3), and Σ_i n_i Δμ_i ≤ ΔH_f(phase) for every other phase.

>>> from pvatoms.analysis.chempots import chemical_potential_limits
>>> limits = chemical_potential_limits(host_doc, phase_docs)      # doctest: +SKIP
>>> limits.named["Br-rich"]                                         # doctest: +SKIP
'CsBr3-CsPb2Br5'
>>> limits.deltas("Br-rich"), limits.mu("Br-rich")                # Δμ_i and μ_i = E_i + Δμ_i  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from pvatoms.analysis.figures import save_figure
from pvatoms.errors import InputError

#: Elements of the system and the host.
ELEMENTS = ("Cs", "Pb", "Br")
HOST = "CsPbBr3"
#: Ruddlesden-Popper phases whose distance from the hull is always reported (the same names as
#: :data:`pvatoms.build.competing.RP_PHASES`; analysis does not import build).
RP_PHASES = ("Cs2PbBr4", "Cs3Pb2Br7")
#: Energies (eV/atom) closer than this count as on the hull / as equal.
TOL = 1e-6


# ---------------------------------------------------------------- documents

def doc_structure(doc: dict, what: str = "document") -> Atoms:
    """Final structure of a result document (its input structure when there is no final one)."""
    from pvatoms.schema import atoms_from_dict

    if not isinstance(doc, dict):
        raise InputError(f"{what} is a {type(doc).__name__}, not a result document (dict from result.json)")
    d = doc.get("structure") or doc.get("input_structure")
    if not d:
        raise InputError(f"{what} holds no structure ('structure' and 'input_structure' are empty)")
    return atoms_from_dict(d)


def doc_energy(doc: dict, what: str = "document") -> float:
    """Total energy (eV) of a completed result document."""
    status = doc.get("status", "completed")
    if status != "completed":
        raise InputError(f"{what} has status {status!r} ({doc.get('reason')}); only completed "
                         "calculations enter a formation energy")
    energy = doc.get("energy")
    if energy is None:
        raise InputError(f"{what} has no total energy (job {doc.get('job')!r}); use a relax or static result")
    return float(energy)


#: Backend settings that change total energies (compared between documents that are subtracted).
ENERGY_SETTINGS = {"vasp": ("functional", "soc", "encut", "potcar_functional", "potcar_symbols"),
                   "gpaw": ("xc", "ecut", "mode")}


def backend_signature(doc: dict) -> dict:
    """What must agree between documents whose energies are subtracted: backend name, model and
    the energy-relevant settings (:data:`ENERGY_SETTINGS`)."""
    b = doc.get("backend") or {}
    settings = b.get("settings") or {}
    keys = ENERGY_SETTINGS.get(b.get("name"), ())
    return {"name": b.get("name"), "model": b.get("model"),
            **{k: settings.get(k) for k in keys}}


def _describe(sig: dict) -> str:
    extra = ", ".join(f"{k}={v!r}" for k, v in sig.items() if k not in ("name", "model"))
    return f"{sig['name']} / {sig['model']}" + (f" ({extra})" if extra else "")


def check_same_backend(labelled_docs) -> dict:
    """Raise :class:`InputError` unless every ``(label, doc)`` pair was computed with the same
    backend, model and energy-relevant settings; returns the common signature."""
    ref_label, ref_sig = None, None
    for label, doc in labelled_docs:
        sig = backend_signature(doc)
        if sig["name"] is None:
            raise InputError(f"{label} has no backend description; cannot check that its energy "
                             "comes from the same backend and model as the others")
        if ref_sig is None:
            ref_label, ref_sig = label, sig
        elif sig != ref_sig:
            raise InputError(f"cannot mix backends/models in one formation energy: {ref_label} was "
                             f"computed with {_describe(ref_sig)}, {label} with {_describe(sig)}; "
                             "recompute one of them with the other's backend and settings")
    check_same_level(labelled_docs)
    return ref_sig or {}


def check_same_level(labelled_docs) -> str | None:
    """Raise :class:`InputError` unless every document that records its level of theory (energy
    method // geometry method, e.g. ``PBE//PBE``) records the same one; returns it."""
    ref_label, ref = None, None
    for label, doc in labelled_docs:
        level = (doc.get("level_of_theory") or {}).get("label")
        if level is None:
            continue
        if ref is None:
            ref_label, ref = label, level
        elif level != ref:
            raise InputError(f"cannot mix levels of theory in one formation energy: {ref_label} is {ref}, "
                             f"{label} is {level}; relax both with the same method (or compute both as "
                             "single points on geometries of one method)")
    return ref


def _labelled(docs, what: str) -> list[tuple[str, dict]]:
    """[(label, doc)] from a list of documents or a {label: doc} mapping. Labels of listed
    documents: their ``_label`` (set by :func:`pvatoms.schema.read_result`) or
    ``"<what> <i>"``."""
    if docs is None:
        return []
    if isinstance(docs, dict) and not _is_document(docs):
        return [(str(k), v) for k, v in docs.items()]
    if isinstance(docs, dict):
        docs = [docs]
    out = []
    for i, d in enumerate(docs):
        label = (d.get("_label") if isinstance(d, dict) else None) or f"{what} {i}"
        out.append((label, d))
    for label, d in out:
        if not isinstance(d, dict):
            raise InputError(f"{label}: a result document is a mapping (read it with pvatoms.schema.read_result), "
                             f"got {type(d).__name__}")
    return out


def _is_document(d: dict) -> bool:
    return any(k in d for k in ("schema", "energy", "structure", "backend"))



# ---------------------------------------------------------------- the limits

@dataclass
class ChemicalPotentialLimits:
    """The stability region of the host and its vertices (all energies in eV).

    ``limits``: {vertex name: {element: Δμ}} (relative to ``elemental_energies``); a vertex is
    named by the phases in equilibrium with the host there, e.g. ``"CsPb2Br5-Br2"``. ``named``:
    {"Br-rich", "Br-poor", "Pb-rich", "Pb-poor", "Cs-rich", "Cs-poor": vertex name}. Empty when
    the host is not stable (``stable`` False, ``e_above_hull`` > 0).
    """

    host: str
    stable: bool
    e_above_hull: float
    formation_energy: float
    elemental_energies: dict
    limits: dict = field(default_factory=dict)
    named: dict = field(default_factory=dict)
    phases: dict = field(default_factory=dict)
    rp_phases: dict = field(default_factory=dict)
    decomposition: dict = field(default_factory=dict)
    backend: dict = field(default_factory=dict)
    #: eV/atom the host energy was lowered to put it on the hull (0: not shifted)
    host_shift: float = 0.0

    def deltas(self, limit: str) -> dict:
        """{element: Δμ} at ``limit`` (a vertex name or a tag such as ``"Br-rich"``)."""
        return dict(self.limits[self._resolve(limit)])

    def mu(self, limit: str) -> dict:
        """Absolute chemical potentials {element: μ = E_i + Δμ_i} at ``limit``."""
        d = self.deltas(limit)
        return {el: self.elemental_energies[el] + d[el] for el in d}

    def absolute(self) -> dict:
        """{vertex name: {element: μ}} for every vertex."""
        return {name: self.mu(name) for name in self.limits}

    def tags(self, name: str) -> list[str]:
        """Tags ("Br-rich", ...) of vertex ``name``."""
        return [t for t, v in self.named.items() if v == name]

    def label(self, name: str) -> str:
        """Vertex name with its tags, e.g. ``"CsPb2Br5-Br2 (Br-rich, Pb-poor)"``."""
        tags = self.tags(name)
        return f"{name} ({', '.join(tags)})" if tags else name

    def _resolve(self, limit: str) -> str:
        if not self.stable:
            raise InputError(f"{self.host} is not stable with these documents (e_above_hull = "
                             f"{self.e_above_hull:.4f} eV/atom): there are no chemical-potential limits")
        if limit in self.limits:
            return limit
        if limit in self.named:
            return self.named[limit]
        raise InputError(f"unknown chemical-potential limit {limit!r}; valid: "
                         f"{', '.join(list(self.named) + list(self.limits))}")

    def as_dict(self) -> dict:
        from pvatoms.schema import to_jsonable
        return to_jsonable({"host": self.host, "stable": self.stable, "e_above_hull": self.e_above_hull,
                            "formation_energy": self.formation_energy,
                            "elemental_energies": self.elemental_energies, "limits": self.limits,
                            "named": self.named, "phases": self.phases, "rp_phases": self.rp_phases,
                            "decomposition": self.decomposition, "backend": self.backend,
                            "host_shift": self.host_shift})

    @classmethod
    def from_dict(cls, d: dict) -> "ChemicalPotentialLimits":
        return cls(**{k: d[k] for k in ("host", "stable", "e_above_hull", "formation_energy",
                                        "elemental_energies", "limits", "named", "phases", "rp_phases",
                                        "decomposition", "backend", "host_shift") if k in d})


def chemical_potential_limits(host_doc: dict, phase_docs, elements=ELEMENTS,
                              tol: float = 1e-4, shift_to_hull: float = 0.0) -> ChemicalPotentialLimits:
    """Stability region of the host from result documents (energies only; nothing is computed).

    Parameters
    ----------
    host_doc : result document of the host (CsPbBr3 unit cell or the perfect defect supercell).
    phase_docs : result documents of the competing phases: a list, or {label: doc}. Every element
        needs at least one elemental document (its lowest energy per atom is E_i). More
        polymorphs of one formula are fine: the phase diagram keeps the lowest.
    elements : elements of the chemical space (default Cs, Pb, Br).
    tol : eV; vertices closer than this in Δμ are one vertex, and tags ("Br-rich") are shared
        by vertices within ``tol`` of the extreme value.
    shift_to_hull : eV/atom; a host above the hull by at most this much has its energy lowered
        onto the hull (by its distance plus :data:`HULL_MARGIN`) so that limits exist: the usual
        remedy when a small error of the level of theory, not the physics, puts it above. The
        shift is recorded (``host_shift``, eV/atom; ``e_above_hull`` keeps the computed distance).
        0 (default): a host above the hull has no limits.

    Every document must come from the same backend, model and energy-relevant settings
    (:class:`InputError` naming both otherwise). Returns a :class:`ChemicalPotentialLimits`; when
    the host is above the hull its ``e_above_hull`` and decomposition are reported and there are
    no limits. The RP phases' distance from the hull (eV/atom) is in ``rp_phases``.
    """
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition, Element

    if host_doc is None:
        raise InputError("no host document: give the result document of the CsPbBr3 bulk calculation")
    phases = _labelled(phase_docs, "phase")
    if not phases:
        raise InputError("no competing-phase documents: give the results of Cs, Pb, Br2, CsBr, PbBr2, "
                         "Cs4PbBr6, CsPb2Br5, CsBr3 (see pvatoms.build.competing.competing_phases())")
    labelled = [("host", host_doc)] + phases
    signature = check_same_backend(labelled)

    elements = tuple(elements)
    entries, host_entry = [], None
    for label, doc in labelled:
        atoms = doc_structure(doc, label)
        energy = doc_energy(doc, label)
        counts = Counter(atoms.get_chemical_symbols())
        foreign = sorted(set(counts) - set(elements))
        if foreign:
            raise InputError(f"{label} contains {', '.join(foreign)}, outside the chemical space "
                             f"{'-'.join(elements)}")
        comp = Composition(dict(counts))
        name = _phase_name(comp)
        entry = PDEntry(comp, energy, name=name, attribute={"label": label})
        entries.append(entry)
        if label == "host":
            host_entry = entry
    present = {el for e in entries if len(e.composition.elements) == 1 for el in map(str, e.composition.elements)}
    missing = [el for el in elements if el not in present]
    if missing:
        raise InputError(f"no elemental reference for {', '.join(missing)}: add a document of "
                         f"{' and '.join(missing)} (e.g. {', '.join('Br2 molecule' if m == 'Br' else m + ' metal' for m in missing)})"
                         " computed with the same backend")

    pd = PhaseDiagram(entries, elements=[Element(e) for e in elements])
    el_refs = {str(el): float(e.energy_per_atom) for el, e in pd.el_refs.items()}
    host_formula = host_entry.composition.reduced_formula
    decomp, e_hull = pd.get_decomp_and_e_above_hull(host_entry, allow_negative=True)
    e_hull = float(e_hull)
    formation = float(pd.get_form_energy(host_entry) / host_entry.composition.get_reduced_composition_and_factor()[1])

    phase_table = {}
    for (label, _), e in zip(labelled, entries):
        key = f"{e.name} (host)" if label == "host" else (label if not label.startswith("phase ") else e.name)
        while key in phase_table:
            key += "'"
        eh = float(pd.get_e_above_hull(e, allow_negative=True) or 0.0)
        phase_table[key] = {"formula": e.name, "energy_per_atom": float(e.energy_per_atom),
                            "formation_energy_per_atom": float(pd.get_form_energy_per_atom(e)),
                            "e_above_hull": eh, "stable": eh <= TOL}
    rp = {}
    for e in entries:
        if e.name in RP_PHASES:
            eh = float(pd.get_e_above_hull(e, allow_negative=True) or 0.0)
            rp[e.name] = min(eh, rp.get(e.name, np.inf))
    result = ChemicalPotentialLimits(
        host=host_formula, stable=e_hull <= TOL, e_above_hull=max(e_hull, 0.0), formation_energy=formation,
        elemental_energies=el_refs, phases=phase_table, rp_phases=rp,
        decomposition={d.name: float(x) for d, x in decomp.items()}, backend=signature)
    if not result.stable and e_hull <= float(shift_to_hull):
        shift = e_hull + HULL_MARGIN
        n = host_entry.composition.num_atoms
        lowered = PDEntry(host_entry.composition, host_entry.energy - shift * n, name=host_entry.name,
                          attribute=host_entry.attribute)
        entries[entries.index(host_entry)] = host_entry = lowered
        pd = PhaseDiagram(entries, elements=[Element(e) for e in elements])
        result.stable, result.host_shift = True, shift
    if not result.stable:
        return result

    vertices: dict[str, dict] = {}
    for facet, mus in pd.get_all_chempots(host_entry.composition).items():
        delta = {str(el): float(mu) - el_refs[str(el)] for el, mu in mus.items()}
        others = [p for p in facet.split("-") if p != host_formula]
        name = "-".join(_order_phases(others))
        if any(max(abs(delta[el] - v[el]) for el in elements) < tol for v in vertices.values()):
            continue
        while name in vertices:
            name += "'"
        vertices[name] = {el: delta[el] for el in elements}
    result.limits = vertices
    result.named = _name_vertices(vertices, elements, tol)
    return result


#: eV/atom below the hull that a host shifted onto it is put (so that it is a vertex, not a point
#: on a facet of its decomposition products)
HULL_MARGIN = 0.001

#: Elements whose elemental phase is named as the molecule (Br2, not Br).
DIATOMIC = ("H", "N", "O", "F", "Cl", "Br", "I")


def _phase_name(comp) -> str:
    if len(comp.elements) == 1 and str(comp.elements[0]) in DIATOMIC:
        return f"{comp.elements[0]}2"
    return comp.reduced_formula


def _order_phases(names) -> list[str]:
    """Phases in a vertex name: Cs-richest first, elements last (reads like 'Cs4PbBr6-Pb')."""
    from pymatgen.core import Composition

    def key(n):
        c = Composition(n)
        return (len(c.elements) == 1, -c.get_atomic_fraction("Cs") if "Cs" in c else 0.0, n)
    return sorted(names, key=key)


def _name_vertices(vertices: dict, elements, tol: float) -> dict:
    """{"X-rich": vertex, "X-poor": vertex} for every element X. Ties within ``tol`` go to the
    vertex farthest out in the other chemical potentials (most negative sum): the most extreme
    condition of that kind."""
    named = {}
    for el in elements:
        for tag, sign in ((f"{el}-rich", 1), (f"{el}-poor", -1)):
            best = max(sign * v[el] for v in vertices.values())
            ties = [n for n, v in vertices.items() if sign * v[el] >= best - tol]
            named[tag] = min(ties, key=lambda n: (sum(vertices[n][e] for e in elements if e != el), n))
    return named


def _provenance(limits: ChemicalPotentialLimits) -> str:
    b = limits.backend or {}
    extra = ", ".join(f"{k}={v}" for k, v in b.items() if k not in ("name", "model") and v not in (None, {}, []))
    return f"{b.get('name')} {b.get('model')}" + (f" ({extra})" if extra else "")


def chempot_table_rows(limits: ChemicalPotentialLimits) -> dict:
    """Rows of the two chemical-potential tables: ``chemical_potentials`` (one row per vertex: Δμ
    of each element in eV, the phases in equilibrium, tags; only when the host is stable) and
    ``competing_phases`` (formation energy and distance from the hull of every phase, eV/atom, RP
    phases included), each with a provenance column."""
    prov = _provenance(limits)
    tables = {}
    if limits.limits:
        tables["chemical_potentials"] = [{"limit": name, "conditions": ", ".join(limits.tags(name)) or None,
                                          **{f"dmu_{el} (eV)": v[el] for el in v}, "provenance": prov}
                                         for name, v in limits.limits.items()]
    tables["competing_phases"] = [{"phase": name, "formula": d["formula"],
                                   "E_form (eV/atom)": d["formation_energy_per_atom"],
                                   "E_above_hull (eV/atom)": d["e_above_hull"], "stable": d["stable"],
                                   "provenance": prov} for name, d in limits.phases.items()]
    return tables


def write_chempot_tables(limits: ChemicalPotentialLimits, outdir) -> dict:
    """``chemical_potentials.{csv,md,tex}`` and ``competing_phases.{csv,md,tex}`` (see
    :func:`chempot_table_rows`) in ``outdir``; returns {table: {format: path}}."""
    from pathlib import Path

    from pvatoms.analysis.tables import write_table

    outdir = Path(outdir)
    tables = chempot_table_rows(limits)
    paths = {}
    if "chemical_potentials" in tables:
        paths["chemical_potentials"] = write_table(
            tables["chemical_potentials"], outdir / "chemical_potentials", label="tab:chemical-potentials",
            caption=f"Chemical-potential limits of {limits.host} (relative to the elemental references)")
    paths["competing_phases"] = write_table(tables["competing_phases"], outdir / "competing_phases",
                                            label="tab:competing-phases",
                                            caption=f"Competing phases of {limits.host}: formation energies "
                                            "and distances from the convex hull")
    return paths


def stability_region_polygon(limits: ChemicalPotentialLimits, x: str = "Pb", y: str = "Br") -> list[tuple]:
    """Vertices (Δμ_x, Δμ_y, name) of the host's stability region, ordered around the polygon."""
    if not limits.limits:
        return []
    pts = [(v[x], v[y], n) for n, v in limits.limits.items()]
    cx, cy = np.mean([p[0] for p in pts]), np.mean([p[1] for p in pts])
    return sorted(pts, key=lambda p: np.arctan2(p[1] - cy, p[0] - cx))


def plot_stability_region(limits: ChemicalPotentialLimits, stem, x: str = "Pb", y: str = "Br") -> dict:
    """The stability region of the host in the (Δμ_x, Δμ_y) plane with its named vertices, as
    ``stem.png`` and ``stem.pdf``. Returns the paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    poly = stability_region_polygon(limits, x, y)
    if not poly:
        raise InputError(f"{limits.host} is not stable (e_above_hull = {limits.e_above_hull:.4f} eV/atom): "
                         "no stability region to plot")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    xs = [p[0] for p in poly] + [poly[0][0]]
    ys = [p[1] for p in poly] + [poly[0][1]]
    ax.fill(xs, ys, color="tab:blue", alpha=0.25, lw=0)
    ax.plot(xs, ys, color="tab:blue", lw=1.5)
    for px, py, name in poly:
        ax.plot(px, py, "o", color="k", ms=4)
        ax.annotate(limits.label(name), (px, py), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.margins(x=0.35, y=0.12)
    ax.set_xlabel(rf"$\Delta\mu_{{\mathrm{{{x}}}}}$ (eV)")
    ax.set_ylabel(rf"$\Delta\mu_{{\mathrm{{{y}}}}}$ (eV)")
    ax.set_title(f"{limits.host} stability region ({limits.backend.get('name')} {limits.backend.get('model')})",
                 fontsize=8)
    fig.tight_layout()
    paths = save_figure(fig, stem, dpi=200)
    plt.close(fig)
    return paths


__all__ = ["ELEMENTS", "HOST", "RP_PHASES", "chemical_potential_limits", "ChemicalPotentialLimits", "check_same_backend",
           "backend_signature", "doc_structure", "doc_energy", "plot_stability_region",
           "stability_region_polygon", "write_chempot_tables", "chempot_table_rows"]
