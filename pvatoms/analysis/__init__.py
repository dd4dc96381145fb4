"""Analysis of result documents: tables and figures for papers. Never runs a calculation.

Imports only the base modules (:mod:`pvatoms.errors`, :mod:`pvatoms.geometry`, :mod:`pvatoms.io`,
:mod:`pvatoms.schema`, :mod:`pvatoms.reference`) and other analysis modules. Reads result
documents with :func:`pvatoms.schema.read_result`; each whole analysis
(:func:`pvatoms.analysis.defects.analyse_defects`, :func:`pvatoms.analysis.neb.analyse_neb`,
:func:`pvatoms.analysis.localization.analyse_band_edges`) returns a typed analysis document —
``kind`` and ``schema`` (:data:`ANALYSIS_SCHEMA`) keys — and writes it as JSON in its output
folder, so that a report can be built from these documents alone.
"""

#: ``schema`` of every analysis document.
ANALYSIS_SCHEMA = "pvatoms.analysis/1"
