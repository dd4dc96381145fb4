"""Firetasks: thin wrappers that execute one node of a study graph and move its result.

:class:`PvatomsJob` runs a step (:func:`pvatoms.studies.execute.run_step`) with the parents'
result summaries that FireWorks pushed into its spec; the result document is in
``folder/result.json``, a trimmed copy in the launch's ``stored_data``, and a summary is pushed
to the children under ``_pvatoms_results``. A failed calculation fizzles the firework with the
recorded reason. :class:`PvatomsJoin` runs an analysis (:func:`pvatoms.studies.execute.run_analysis`)
with whatever parents finished.
"""

from __future__ import annotations

import json

from fireworks import FiretaskBase, FWAction, explicit_serialize
from fireworks.features.dupefinder import DupeFinderBase

from pvatoms.studies.execute import StepFailed, analysis_summary, run_analysis, run_step, summary_of, trimmed

RESULTS_KEY = "_pvatoms_results"
HASH_KEY = "_pvatoms_hash"
#: kept for code written against the first layout
JobFailed = StepFailed


@explicit_serialize
class PvatomsDupeFinder(DupeFinderBase):
    """Two fireworks are duplicates when their ``_pvatoms_hash`` (structure + job + backend +
    settings) is equal: a resubmitted study reuses finished launches instead of rerunning."""

    _fw_name = "PvatomsDupeFinder"

    def verify(self, spec1, spec2):
        return spec1.get(HASH_KEY) == spec2.get(HASH_KEY)

    def query(self, spec):
        return {f"spec.{HASH_KEY}": spec.get(HASH_KEY)}


def parent_results(fw_spec) -> dict:
    """Parents' result summaries by label."""
    return {r["label"]: r for r in fw_spec.get(RESULTS_KEY, [])}


@explicit_serialize
class PvatomsJob(FiretaskBase):
    """One step of a study graph (parameters: :meth:`pvatoms.studies.graph.Step.params`)."""

    _fw_name = "PvatomsJob"
    required_params = ["job", "folder", "backend", "label"]
    optional_params = ["structure", "structure_from", "transform", "backend_settings", "job_settings",
                       "initial", "initial_from", "initial_transform", "final", "final_from",
                       "final_transform"]

    def run_task(self, fw_spec):
        params = dict(self)
        doc = run_step(params, parent_results(fw_spec))
        return FWAction(stored_data={"result": trimmed(doc)},
                        mod_spec=[{"_push": {RESULTS_KEY: summary_of(doc, params["label"], params["folder"])}}])


@explicit_serialize
class PvatomsJoin(FiretaskBase):
    """One analysis of a study graph (parameters: :meth:`pvatoms.studies.graph.Analysis.params`)."""

    _fw_name = "PvatomsJoin"
    required_params = ["kind", "folder", "label"]
    optional_params = ["settings", "roles"]

    def run_task(self, fw_spec):
        params = dict(self)
        doc = run_analysis(params, parent_results(fw_spec))
        push = analysis_summary(doc, params["label"], params["folder"], params["kind"])
        return FWAction(stored_data={"analysis": _small(doc)}, mod_spec=[{"_push": {RESULTS_KEY: push}}])


def _small(doc: dict, limit: int = 200_000) -> dict:
    text = json.dumps(doc, default=str)
    return doc if len(text) < limit else {"note": "large analysis kept on disk", "keys": sorted(doc)}


__all__ = ["PvatomsJob", "PvatomsJoin", "PvatomsDupeFinder", "parent_results", "RESULTS_KEY", "HASH_KEY"]
