"""Formation energies and charge transition levels of defect calculations.

The formation energy of defect α in charge state q (docs/science.md)::

    ΔH(α, q; E_F) = E(α, q) − E(bulk) − Σ_i n_i μ_i + q (E_VBM + E_F) + E_corr

with n_i the atoms of element i added (> 0) or removed (< 0) — read from the two structures —,
μ_i = E_i + Δμ_i the absolute chemical potentials (eV/atom, see
:mod:`pvatoms.analysis.chempots`), E_VBM the valence-band maximum of the bulk supercell, E_F the
Fermi level above the VBM and E_corr the finite-size correction of the charged cell
(:mod:`pvatoms.analysis.defects.corrections`). Each charge state is a line in E_F of slope q;
the lower envelope of a defect's lines and its kinks (the thermodynamic transition levels) come
from pymatgen-analysis-defects (``pymatgen.analysis.defects.thermo.get_lower_envelope`` and
``get_transitions``).

:class:`DefectThermodynamics` holds a set of defect calculations against one bulk supercell; its
concentrations and Fermi level (:mod:`~pvatoms.analysis.defects.fermi`), diagrams
(:mod:`~pvatoms.analysis.defects.plots`) and tables (:mod:`~pvatoms.analysis.defects.tables`)
live in their own modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pvatoms.analysis.chempots import ChemicalPotentialLimits, check_same_backend, doc_energy, doc_structure
from pvatoms.analysis.defects.corrections import (correction_value, dielectric_constant,
                                                  freysoldt_correction, kumagai_correction)
from pvatoms.analysis.defects.documents import (CELL_TOL, MAX_CHANGES, check_kpoints, composition_change,
                                                defect_name, defect_site, doc_charge, doc_label,
                                                document_vbm, supercell_text)
from pvatoms.errors import InputError


# ---------------------------------------------------------------- one formation energy

def absolute_chemical_potentials(chempots, change: dict) -> dict:
    """{element: μ (eV/atom)} of the elements in ``change`` from ``chempots`` (absolute chemical
    potentials at one limit); :class:`InputError` naming what is missing."""
    if isinstance(chempots, ChemicalPotentialLimits):
        raise InputError("chempots must be absolute chemical potentials {element: μ} at one limit: "
                         "use limits.mu('Br-rich') (or another vertex name)")
    if not isinstance(chempots, dict):
        raise InputError(f"chempots must be a dict {{element: μ (eV/atom)}}, got {type(chempots).__name__}")
    missing = [el for el in change if el not in chempots]
    if missing:
        raise InputError(f"no chemical potential for {', '.join(missing)} (given: {', '.join(chempots) or 'none'}); "
                         "the defect exchanges these atoms with their reservoirs")
    return {el: float(chempots[el]) for el in change}


def formation_energy(defect_doc: dict, bulk_doc: dict, chempots: dict, fermi_level: float = 0.0,
                     charge: int | None = None, vbm: float | None = None, correction=0.0,
                     max_changes: int = MAX_CHANGES, cell_tol: float = CELL_TOL) -> float:
    """Formation energy ΔH (eV) of one defect calculation.

    Parameters
    ----------
    defect_doc, bulk_doc : result documents of the defect and of the perfect supercell (same
        supercell, backend, model, settings and k-mesh; :class:`InputError` otherwise).
    chempots : absolute chemical potentials {element: μ_i = E_i + Δμ_i} (eV/atom), e.g.
        ``limits.mu("Br-poor")`` from :func:`pvatoms.analysis.chempots.chemical_potential_limits`.
    fermi_level : E_F above the VBM (eV).
    charge : q in e; default from the defect document.
    vbm : E_VBM (eV); default the bulk document's ``band_edges.vbm``.
    correction : E_corr (eV), or a correction dict such as
        :func:`~pvatoms.analysis.defects.corrections.freysoldt_correction` returns.

    >>> formation_energy(vbr, bulk, {"Br": -1.6}, fermi_level=0.5, correction=0.2)  # doctest: +SKIP
    """
    return formation_energy_terms(defect_doc, bulk_doc, chempots, fermi_level, charge, vbm, correction,
                                  max_changes, cell_tol)["formation_energy"]


def formation_energy_terms(defect_doc: dict, bulk_doc: dict, chempots: dict, fermi_level: float = 0.0,
                           charge: int | None = None, vbm: float | None = None, correction=0.0,
                           max_changes: int = MAX_CHANGES, cell_tol: float = CELL_TOL) -> dict:
    """:func:`formation_energy` with its terms (eV): ``energy_difference`` (E_def − E_bulk),
    ``chemical_potential_term`` (−Σ n_i μ_i), ``charge_term`` (q (E_VBM + E_F)), ``correction``,
    ``formation_energy``, ``n`` ({element: n_i}), ``charge``."""
    what = doc_label(defect_doc or {}, "defect")
    if bulk_doc is None:
        raise InputError(f"missing bulk reference for {what}: give the result document of the perfect "
                         "supercell the defect was made in")
    if defect_doc is None:
        raise InputError("missing defect document")
    check_same_backend([(f"bulk {doc_label(bulk_doc, 'bulk')}", bulk_doc), (what, defect_doc)])
    check_kpoints(defect_doc, bulk_doc, what)
    change = composition_change(doc_structure(defect_doc, what), doc_structure(bulk_doc, "bulk"), what,
                                max_changes, cell_tol)
    mu = absolute_chemical_potentials(chempots, change)
    q = doc_charge(defect_doc, what) if charge is None else int(charge)
    e_vbm = document_vbm(bulk_doc, vbm)
    if e_vbm is None:
        if q != 0:
            raise InputError(f"{what} has charge {q:+d}: its formation energy needs the bulk VBM, which the "
                             "bulk document does not have (band_edges.vbm); give vbm=")
        e_vbm = 0.0
    ediff = doc_energy(defect_doc, what) - doc_energy(bulk_doc, "bulk")
    mu_term = -sum(n * mu[el] for el, n in change.items())
    q_term = q * (e_vbm + float(fermi_level))
    corr = correction_value(correction)
    return {"energy_difference": ediff, "chemical_potential_term": mu_term, "charge_term": q_term,
            "correction": corr, "formation_energy": ediff + mu_term + q_term + corr, "n": change, "charge": q}


# ---------------------------------------------------------------- lines and transition levels

def lower_envelope(lines: dict) -> list[int]:
    """Charge states on the lower envelope of the lines {q: ΔH at E_F = 0} over all E_F, from the
    most positive (stable at low E_F) down (``pymatgen.analysis.defects.thermo.get_lower_envelope``).
    A state that only touches the envelope at one point (e.g. negative-U) is not on it."""
    from pymatgen.analysis.defects.thermo import get_lower_envelope
    from scipy.spatial import QhullError

    pairs = [(float(q), float(b)) for q, b in lines.items()]
    try:
        envelope = get_lower_envelope(pairs)
    except QhullError:
        # every line crosses the others in one point (collinear dual points): only the two
        # extreme charge states are ever the most stable
        pairs = [min(pairs), max(pairs)]
        envelope = get_lower_envelope(pairs)
    return sorted((int(round(m)) for m, _ in envelope), reverse=True)


def transition_levels_from_lines(lines: dict) -> list[dict]:
    """Thermodynamic transition levels of one defect from its lines {q: ΔH at E_F = 0}: the kinks
    of the lower envelope over all E_F, from the most positive charge state down
    (``pymatgen.analysis.defects.thermo.get_transitions`` on :func:`lower_envelope`).
    Each item: ``q1`` (stable below), ``q2`` (stable above), ``level`` (E_F of the crossing,
    eV above the VBM), ``formation_energy`` (eV) at the crossing. ε(q1/q2) = (b_q2 − b_q1)/(q1 − q2).

    >>> transition_levels_from_lines({1: 0.5, 0: 1.0, -1: 2.5})
    [{'q1': 1, 'q2': 0, 'level': 0.5, 'formation_energy': 1.0}, {'q1': 0, 'q2': -1, 'level': 1.5, 'formation_energy': 1.0}]
    """
    from pymatgen.analysis.defects.thermo import get_transitions

    if len(lines) < 2:
        return []
    qs = lower_envelope(lines)
    inf = float("inf")
    # unbounded E_F range: the first and last points are the (unused) ends at ±inf
    kinks = get_transitions([(float(q), float(lines[q])) for q in qs], -inf, inf)[1:-1]
    return [{"q1": q1, "q2": q2, "level": float(x), "formation_energy": float(y)}
            for q1, q2, (x, y) in zip(qs[:-1], qs[1:], kinks)]


# ---------------------------------------------------------------- the analysis object

@dataclass
class DefectEntry:
    """One defect calculation: name, charge (e), composition change, E_def − E_bulk (eV),
    correction (dict, eV)."""

    name: str
    charge: int
    change: dict
    energy_difference: float
    correction: dict
    label: str
    natoms: int
    site: list = field(default_factory=list)
    kind: str = ""
    odd_electrons: bool = False    # Σ Z − q odd (closed-shell cores): a doublet, spin degeneracy 2

    @property
    def correction_energy(self) -> float:
        return correction_value(self.correction)


class DefectThermodynamics:
    """Formation energies of a set of defect calculations against one bulk supercell.

    Parameters
    ----------
    bulk_doc : result document of the perfect supercell (gives E_bulk, the VBM and the gap).
    defect_docs : list of defect result documents, or {label: doc}. Each (name, charge) once.
    chempots : :class:`~pvatoms.analysis.chempots.ChemicalPotentialLimits` (all its vertices), or
        {limit name: {element: μ (absolute, eV/atom)}}.
    vbm, band_gap : override the bulk document's band edges (eV). The gap bounds the plots and
        the "in gap" flag of transition levels.
    dielectric : ε for the corrections of charged defects.
    correction : 'freysoldt' (default), 'kumagai' or 'none' (uncorrected, said in the table).
    corrections : {defect label or (name, q): eV or correction dict} overriding the computed ones.
    max_changes, cell_tol : see :func:`~pvatoms.analysis.defects.documents.composition_change`.
    energy_cutoff : eV, for the Freysoldt sums.

    Every document (and the chemical potentials' backend) must share one backend and model.
    """

    def __init__(self, bulk_doc: dict, defect_docs, chempots, *, vbm: float | None = None,
                 band_gap: float | None = None, dielectric=None, correction: str = "freysoldt",
                 corrections: dict | None = None, max_changes: int = MAX_CHANGES,
                 cell_tol: float = CELL_TOL, energy_cutoff: float = 520.0):
        from pvatoms.analysis.chempots import _labelled

        if bulk_doc is None:
            raise InputError("missing bulk reference: give the result document of the perfect supercell")
        if correction not in ("freysoldt", "kumagai", "none"):
            raise InputError(f"unknown correction {correction!r}; valid choices: freysoldt, kumagai, none")
        defects = _labelled(defect_docs, "defect")
        if not defects:
            raise InputError("no defect documents given")
        self.bulk_doc = bulk_doc
        self.bulk_atoms = doc_structure(bulk_doc, "bulk")
        self.bulk_energy = doc_energy(bulk_doc, "bulk")
        self.signature = check_same_backend([(f"bulk {doc_label(bulk_doc, 'bulk')}", bulk_doc)] + defects)
        self._set_chempots(chempots)
        edges = bulk_doc.get("band_edges") or {}
        self.vbm = document_vbm(bulk_doc, vbm)
        self.band_gap = float(band_gap) if band_gap is not None else (
            float(edges["gap"]) if edges.get("gap") is not None else None)
        self.correction_method = correction
        self.dielectric = dielectric
        corrections = dict(corrections or {})
        self.entries: list[DefectEntry] = []
        seen = {}
        for label, doc in defects:
            atoms = doc_structure(doc, label)
            check_kpoints(doc, bulk_doc, label)
            change = composition_change(atoms, self.bulk_atoms, label, max_changes, cell_tol)
            q = doc_charge(doc, label)
            name = defect_name(doc, change, label)
            if (name, q) in seen:
                raise InputError(f"two documents for {name} in charge state {q:+d}: {seen[(name, q)]} and "
                                 f"{label}; keep one (e.g. the lower-energy relaxation)")
            seen[(name, q)] = label
            if q != 0 and self.vbm is None:
                raise InputError(f"{label} has charge {q:+d} but the bulk document has no VBM "
                                 "(band_edges.vbm); give vbm=")
            site, kind = defect_site(atoms, self.bulk_atoms)
            corr = corrections.get(label, corrections.get((name, q)))
            if corr is None:
                corr = self._correction(doc, bulk_doc, q, site, energy_cutoff, label)
            elif not isinstance(corr, dict):
                corr = {"method": "given", "correction": float(corr)}
            odd = bool((int(atoms.numbers.sum()) - q) % 2)
            self.entries.append(DefectEntry(name, q, change, doc_energy(doc, label) - self.bulk_energy,
                                            corr, label, len(atoms), site.tolist(), kind, odd))
        self.entries.sort(key=lambda e: (e.name, -e.charge))

    # ------------------------------------------------------------ set-up

    def _set_chempots(self, chempots) -> None:
        if isinstance(chempots, ChemicalPotentialLimits):
            if not chempots.stable:
                raise InputError(f"{chempots.host} is not stable with the competing phases given "
                                 f"(e_above_hull = {chempots.e_above_hull:.4f} eV/atom): no chemical-potential "
                                 "limits exist; report the instability instead of formation energies")
            if chempots.backend and chempots.backend != self.signature:
                from pvatoms.analysis.chempots import _describe
                raise InputError("cannot mix backends/models in one formation energy: the chemical potentials "
                                 f"come from {_describe(chempots.backend)}, the defects from "
                                 f"{_describe(self.signature)}")
            self.limits = chempots.absolute()
            self.limit_labels = {n: chempots.label(n) for n in self.limits}
            self.chempot_limits = chempots
        elif isinstance(chempots, dict) and chempots and all(isinstance(v, dict) for v in chempots.values()):
            self.limits = {str(k): {el: float(m) for el, m in v.items()} for k, v in chempots.items()}
            self.limit_labels = {n: n for n in self.limits}
            self.chempot_limits = None
        else:
            raise InputError("chempots must be a ChemicalPotentialLimits or {limit name: {element: μ}}")

    def _correction(self, doc, bulk_doc, q, site, energy_cutoff, label) -> dict:
        if q == 0:
            return {"method": "none (neutral)", "correction": 0.0}
        if self.correction_method == "none":
            return {"method": "none", "correction": 0.0}
        if self.correction_method == "kumagai":
            return kumagai_correction(doc, bulk_doc, self.dielectric, q)
        if self.dielectric is None:
            dielectric_constant(None)
        return freysoldt_correction(doc, bulk_doc, self.dielectric, q, site, energy_cutoff)

    # ------------------------------------------------------------ numbers

    @property
    def names(self) -> list[str]:
        return sorted({e.name for e in self.entries})

    def _entries(self, name: str) -> list[DefectEntry]:
        out = [e for e in self.entries if e.name == name]
        if not out:
            raise InputError(f"unknown defect {name!r}; valid: {', '.join(self.names)}")
        return out

    def _mu(self, limit: str) -> dict:
        if self.chempot_limits is not None and limit not in self.limits:
            limit = self.chempot_limits._resolve(limit)
        if limit not in self.limits:
            raise InputError(f"unknown chemical-potential limit {limit!r}; valid: {', '.join(self.limits)}")
        return self.limits[limit]

    def intercept(self, entry: DefectEntry, limit: str) -> float:
        """ΔH (eV) of ``entry`` at E_F = 0 (the VBM) under ``limit``."""
        mu = self._mu(limit)
        missing = [el for el in entry.change if el not in mu]
        if missing:
            raise InputError(f"no chemical potential for {', '.join(missing)} at limit {limit!r}")
        vbm = self.vbm if self.vbm is not None else 0.0
        return (entry.energy_difference - sum(n * mu[el] for el, n in entry.change.items())
                + entry.charge * vbm + entry.correction_energy)

    def formation_energy(self, name: str, charge: int, limit: str, fermi_level: float = 0.0) -> float:
        """ΔH (eV) of defect ``name`` in charge state ``charge`` under ``limit`` at E_F above the VBM."""
        for e in self._entries(name):
            if e.charge == int(charge):
                return self.intercept(e, limit) + e.charge * float(fermi_level)
        raise InputError(f"{name} has no charge state {charge:+d}; computed: "
                         f"{', '.join(f'{e.charge:+d}' for e in self._entries(name))}")

    def lines(self, limit: str) -> dict:
        """{defect name: {q: ΔH at E_F = 0}} under ``limit`` (slope q)."""
        return {n: {e.charge: self.intercept(e, limit) for e in self._entries(n)} for n in self.names}

    def transition_levels(self, name: str | None = None) -> list[dict]:
        """Thermodynamic transition levels ε(q1/q2) (eV above the VBM); independent of the chemical
        potentials. Each: ``defect``, ``q1``, ``q2``, ``level``, ``in_gap``."""
        names = [name] if name else self.names
        limit = next(iter(self.limits))
        out = []
        for n in names:
            lines = {e.charge: self.intercept(e, limit) for e in self._entries(n)}
            for t in transition_levels_from_lines(lines):
                in_gap = None if self.band_gap is None else bool(0.0 <= t["level"] <= self.band_gap)
                out.append({"defect": n, "q1": t["q1"], "q2": t["q2"], "level": t["level"], "in_gap": in_gap})
        return out

    def lowest(self, name: str, limit: str, fermi_level: float) -> tuple[int, float]:
        """(stable charge state, ΔH in eV) of ``name`` at ``fermi_level``."""
        lines = self.lines(limit)[name]
        q = min(lines, key=lambda c: (lines[c] + c * fermi_level, -c))
        return q, lines[q] + q * fermi_level

    # ------------------------------------------------------------ concentrations, Fermi level, outputs

    def concentrations(self, limit: str, fermi_level: float, temperature: float,
                       site_counts: dict | None = None) -> list[dict]:
        """See :func:`pvatoms.analysis.defects.fermi.concentrations`."""
        from pvatoms.analysis.defects.fermi import concentrations
        return concentrations(self, limit, fermi_level, temperature, site_counts)

    def solve_fermi_level(self, limit: str, temperature: float, electron_mass: float, hole_mass: float,
                          site_counts: dict | None = None) -> dict:
        """See :func:`pvatoms.analysis.defects.fermi.solve_fermi_level`."""
        from pvatoms.analysis.defects.fermi import solve_fermi_level
        return solve_fermi_level(self, limit, temperature, electron_mass, hole_mass, site_counts)

    def solve_frozen_fermi_level(self, limit: str, growth_temperature: float, temperature: float,
                                 electron_mass: float, hole_mass: float, site_counts: dict | None = None) -> dict:
        """See :func:`pvatoms.analysis.defects.fermi.solve_frozen_fermi_level`."""
        from pvatoms.analysis.defects.fermi import solve_frozen_fermi_level
        return solve_frozen_fermi_level(self, limit, growth_temperature, temperature, electron_mass, hole_mass,
                                        site_counts)

    def provenance(self, entry: DefectEntry | None = None) -> str:
        """See :func:`pvatoms.analysis.defects.tables.provenance`."""
        from pvatoms.analysis.defects.tables import provenance
        return provenance(self, entry)

    def table_rows(self, fermi_level: float = 0.0) -> list[dict]:
        """See :func:`pvatoms.analysis.defects.tables.formation_energy_rows`."""
        from pvatoms.analysis.defects.tables import formation_energy_rows
        return formation_energy_rows(self, fermi_level)

    def transition_rows(self) -> list[dict]:
        """See :func:`pvatoms.analysis.defects.tables.transition_level_rows`."""
        from pvatoms.analysis.defects.tables import transition_level_rows
        return transition_level_rows(self)

    def write_tables(self, outdir, fermi_level: float = 0.0) -> dict:
        """See :func:`pvatoms.analysis.defects.tables.write_tables`."""
        from pvatoms.analysis.defects.tables import write_tables
        return write_tables(self, outdir, fermi_level)

    def plot(self, limit: str, stem, emin: float | None = None, emax: float | None = None,
             names=None) -> dict:
        """See :func:`pvatoms.analysis.defects.plots.plot_formation_energies`."""
        from pvatoms.analysis.defects.plots import plot_formation_energies
        return plot_formation_energies(self, limit, stem, emin, emax, names)

    def plot_all(self, outdir, prefix: str = "formation_energy") -> dict:
        """See :func:`pvatoms.analysis.defects.plots.plot_all`."""
        from pvatoms.analysis.defects.plots import plot_all
        return plot_all(self, outdir, prefix)

    def as_dict(self) -> dict:
        """JSON-able summary: backend, supercell, band edges, correction, limits, entries, lines
        and transition levels (eV)."""
        from pvatoms.schema import to_jsonable
        return to_jsonable({
            "backend": self.bulk_doc.get("backend"), "supercell": supercell_text(self.bulk_atoms),
            "vbm": self.vbm, "band_gap": self.band_gap, "correction": self.correction_method,
            "dielectric": self.dielectric, "limits": self.limits, "limit_labels": self.limit_labels,
            "entries": [{"name": e.name, "charge": e.charge, "n": e.change, "label": e.label, "kind": e.kind,
                         "site": e.site, "energy_difference": e.energy_difference,
                         "correction": e.correction} for e in self.entries],
            "lines": {lim: self.lines(lim) for lim in self.limits},
            "transition_levels": self.transition_levels()})


__all__ = ["absolute_chemical_potentials", "formation_energy", "formation_energy_terms", "lower_envelope",
           "transition_levels_from_lines", "DefectEntry", "DefectThermodynamics"]
