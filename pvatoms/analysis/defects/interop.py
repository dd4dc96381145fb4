"""Every corrected defect as a pymatgen-analysis-defects ``DefectEntry`` (MSONable JSON), so that
pymatgen and doped scripts and plots read pvatoms results.

>>> from monty.serialization import loadfn
>>> entry = loadfn("analysis/defect_entries/V_Br_8d_q+1.json")     # doctest: +SKIP
>>> entry.corrected_energy                                          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvatoms.analysis.chempots import doc_structure
from pvatoms.errors import InputError

ENTRY_FOLDER = "defect_entries"


def _pmg(atoms):
    from pymatgen.io.ase import AseAtomsAdaptor
    structure = AseAtomsAdaptor.get_structure(atoms)
    structure.remove_oxidation_states()
    for key in list(structure.site_properties):
        structure.remove_site_property(key)
    return structure


def _defect_object(entry, bulk_structure, defect_structure):
    """The pymatgen ``Defect`` of one entry: the bulk site nearest to the defect position (vacancy,
    antisite) or the added atom (interstitial). Complexes have no single-site object: None."""
    from pymatgen.analysis.defects.core import Interstitial, Substitution, Vacancy
    from pymatgen.core import PeriodicSite
    frac = np.asarray(entry.site, dtype=float)
    removed = [el for el, n in entry.change.items() if n < 0]
    added = [el for el, n in entry.change.items() if n > 0]

    def nearest(structure, element):
        sites = [s for s in structure if s.specie.symbol == element]
        return min(sites, key=lambda s: s.distance_and_image_from_frac_coords(frac)[0])

    if entry.kind == "vacancy" and len(removed) == 1 and entry.change[removed[0]] == -1:
        return Vacancy(bulk_structure, nearest(bulk_structure, removed[0]))
    if entry.kind == "substitution" and len(removed) == len(added) == 1:
        site = nearest(bulk_structure, removed[0])
        return Substitution(bulk_structure, PeriodicSite(added[0], site.frac_coords, bulk_structure.lattice))
    if entry.kind == "interstitial" and len(added) == 1 and entry.change[added[0]] == 1:
        site = nearest(defect_structure, added[0])
        return Interstitial(bulk_structure, PeriodicSite(added[0], site.frac_coords, bulk_structure.lattice))
    return None


def pymatgen_entries(thermo, defect_docs) -> tuple[list, list[str]]:
    """``([(pvatoms entry, pymatgen DefectEntry)], notes)``: one pymatgen-analysis-defects entry per defect and charge
    state of ``thermo`` (:class:`~pvatoms.analysis.defects.thermodynamics.DefectThermodynamics`)
    with its supercell energy, the bulk entry and the finite-size correction (``corrections``:
    ``{"freysoldt" | "kumagai" | ...: eV}``). ``defect_docs``: the documents the thermodynamics was
    built from (by label)."""
    from pymatgen.analysis.defects.thermo import DefectEntry
    from pymatgen.entries.computed_entries import ComputedStructureEntry
    docs = {d.get("_label"): d for d in defect_docs}
    bulk_structure = _pmg(thermo.bulk_atoms)
    bulk_entry = ComputedStructureEntry(bulk_structure, thermo.bulk_energy)
    out, notes = [], []
    for e in thermo.entries:
        doc = docs.get(e.label)
        if doc is None:
            raise InputError(f"no document labelled {e.label!r} for the pymatgen export")
        structure = _pmg(doc_structure(doc, e.label))
        defect = _defect_object(e, bulk_structure, structure)
        if defect is None:
            notes.append(f"{e.name} q={e.charge:+d}: a {e.kind or 'complex'} has no single-site pymatgen "
                         "Defect object; not exported")
            continue
        method = str(e.correction.get("method", "correction")).split(" ")[0]
        corrections = {method: e.correction_energy} if e.correction_energy else {}
        out.append((e, DefectEntry(defect=defect, charge_state=int(e.charge),
                                   sc_entry=ComputedStructureEntry(structure, thermo.bulk_energy + e.energy_difference),
                                   sc_defect_frac_coords=np.asarray(e.site, dtype=float), corrections=corrections,
                                   bulk_entry=bulk_entry)))
    return out, notes


def write_pymatgen_entries(thermo, defect_docs, outdir) -> tuple[dict, list[str]]:
    """Write each entry as ``outdir/defect_entries/<name>_q<q>.json`` (monty JSON); returns
    ({"<name> q=<q>": file name relative to outdir}, notes)."""
    from monty.serialization import dumpfn
    entries, notes = pymatgen_entries(thermo, defect_docs)
    folder = Path(outdir) / ENTRY_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for source, entry in entries:
        name = f"{source.name}_q{source.charge:+d}"
        dumpfn(entry, folder / f"{name}.json")
        files[f"{source.name} q={source.charge:+d}"] = f"{ENTRY_FOLDER}/{name}.json"
    return files, notes


__all__ = ["pymatgen_entries", "write_pymatgen_entries", "ENTRY_FOLDER"]
