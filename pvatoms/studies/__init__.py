"""Studies: typed definitions that plan a plain graph of steps and analyses, runnable without FireWorks.

>>> from pvatoms.studies import load_study, plan_study, run_local
>>> graph = plan_study(load_study("workflows/smoke.yaml"))       # doctest: +SKIP
>>> results = run_local(graph)                                   # doctest: +SKIP

``pvatoms.fw`` turns the same graph into a FireWorks workflow (``pvatoms submit``).
"""

from __future__ import annotations

from pvatoms.studies.graph import Analysis, Source, Step, StudyGraph
from pvatoms.studies.specs import STUDIES, Study, load_study, study_from_dict


def plan_study(study) -> StudyGraph:
    """The step graph of a study (a typed :class:`Study`, or a spec mapping); with ``batch: N``
    its MLIP relaxations and single points run in batches of up to N (:func:`graph.batch_steps`)."""
    from pvatoms.studies import band_edges, boundary, defects, neb, phonons, segregation, smoke
    if isinstance(study, dict):
        study = study_from_dict(study)
    planner = {"smoke": smoke, "defects": defects, "neb": neb, "phonons": phonons, "band-edges": band_edges,
               "boundary": boundary, "segregation": segregation}
    graph = planner[study.study].plan(study)
    if study.batch:
        from pvatoms.studies.graph import batch_steps
        graph = batch_steps(graph, size=study.batch)
    return graph


def run_local(graph: StudyGraph, on_event=None) -> dict:
    """Run every step and analysis of ``graph`` in this process (see :mod:`pvatoms.studies.local`)."""
    from pvatoms.studies.local import run_graph
    return run_graph(graph, on_event=on_event)


__all__ = ["Analysis", "Source", "Step", "StudyGraph", "STUDIES", "Study", "load_study", "study_from_dict",
           "plan_study", "run_local"]
