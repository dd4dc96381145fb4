"""Defect formation energies, charge transition levels, finite-size corrections, Fermi level.

Reads result documents (``result.json`` of relax/static jobs, through
:func:`pvatoms.schema.read_result`) and never runs a calculation. The formation energy of defect
α in charge state q (docs/science.md)::

    ΔH(α, q; E_F) = E(α, q) − E(bulk) − Σ_i n_i μ_i + q (E_VBM + E_F) + E_corr

(eV; see :mod:`~pvatoms.analysis.defects.thermodynamics`). One module per concern:

- :mod:`~pvatoms.analysis.defects.documents`: charge, k-points, VBM and files of a document;
  same-supercell checks, composition change, defect site and name;
- :mod:`~pvatoms.analysis.defects.corrections`: Freysoldt / Kumagai corrections
  (pymatgen-analysis-defects), electrostatic potentials;
- :mod:`~pvatoms.analysis.defects.thermodynamics`: formation energies, transition levels
  (pymatgen-analysis-defects' lower envelope), :class:`DefectThermodynamics`;
- :mod:`~pvatoms.analysis.defects.fermi`: concentrations, self-consistent Fermi level;
- :mod:`~pvatoms.analysis.defects.plots`, :mod:`~pvatoms.analysis.defects.tables`: diagrams and tables;
- :mod:`~pvatoms.analysis.defects.study`: :func:`analyse_defects`, the whole analysis from
  documents given by role, returning the analysis document (``summary.json``);
- :mod:`~pvatoms.analysis.defects.sorting`: :func:`sort_documents`, which document is what from
  the structures alone (loose folders on the command line).

>>> from pvatoms.schema import read_result
>>> from pvatoms.analysis.defects import formation_energy, DefectThermodynamics
>>> bulk, vbr = read_result("runs/bulk"), read_result("runs/V_Br_8d_q+1")        # doctest: +SKIP
>>> mu = limits.mu("Br-poor")                               # {element: μ}       # doctest: +SKIP
>>> formation_energy(vbr, bulk, mu, fermi_level=1.0, correction=0.21)          # doctest: +SKIP
>>> thermo = DefectThermodynamics(bulk, [vbr, ...], limits, dielectric=4.2)     # doctest: +SKIP
>>> thermo.transition_levels("V_Br_8d"); thermo.plot_all("out"); thermo.write_tables("out")  # doctest: +SKIP

Consistency checks (:class:`~pvatoms.errors.InputError`, naming the documents): a missing bulk
document; bulk, defects and competing phases from different backends, models or energy-relevant
settings; different supercells (cell differs by more than ``cell_tol``); defect and bulk differing
by more than ``max_changes`` atoms; different k-point meshes.
"""

from pvatoms.analysis.defects.corrections import (correction_value, dielectric_constant, freysoldt_correction,
                                                  kumagai_correction, read_potential)
from pvatoms.analysis.defects.documents import (CELL_TOL, MAX_CHANGES, check_kpoints, check_supercells,
                                                composition_change, defect_name, defect_site, doc_charge,
                                                doc_label, document_file, document_kpoints, document_vbm,
                                                supercell_text)
from pvatoms.analysis.defects.fermi import KB, NC_300K, concentrations, solve_fermi_level
from pvatoms.analysis.defects.plots import EXPERIMENTAL_GAP, plot_all, plot_formation_energies
from pvatoms.analysis.defects.sorting import is_defect_of, sort_documents
from pvatoms.analysis.defects.study import analyse_defects
from pvatoms.analysis.defects.tables import formation_energy_rows, transition_level_rows, write_tables
from pvatoms.analysis.defects.thermodynamics import (DefectEntry, DefectThermodynamics,
                                                     absolute_chemical_potentials, formation_energy,
                                                     formation_energy_terms, lower_envelope,
                                                     transition_levels_from_lines)

__all__ = ["analyse_defects", "sort_documents", "is_defect_of", "formation_energy", "formation_energy_terms",
           "absolute_chemical_potentials", "lower_envelope", "transition_levels_from_lines",
           "DefectThermodynamics", "DefectEntry", "composition_change", "check_supercells", "check_kpoints",
           "defect_site", "defect_name", "doc_charge", "doc_label", "document_kpoints", "document_vbm",
           "document_file", "supercell_text", "freysoldt_correction", "kumagai_correction", "read_potential",
           "correction_value", "dielectric_constant", "concentrations", "solve_fermi_level",
           "plot_formation_energies", "plot_all", "formation_energy_rows", "transition_level_rows",
           "write_tables", "CELL_TOL", "MAX_CHANGES", "KB", "NC_300K", "EXPERIMENTAL_GAP"]
