"""Run a study graph in this process, without FireWorks (tests, notebooks, small studies).

Steps run in dependency order; a step whose parent failed is skipped (recorded as such); an
analysis goes on with the parents that finished, as the FireWorks adapter does. Finished steps
are not recomputed: each job sees its completed ``result.json`` and returns it.
"""

from __future__ import annotations

from pvatoms.studies.execute import StepFailed, analysis_summary, run_analysis, run_step, summary_of
from pvatoms.studies.graph import Analysis, StudyGraph


def run_graph(graph: StudyGraph, on_event=None) -> dict:
    """Execute ``graph``; returns ``{label: {"status", "summary" | "document" | "reason"}}``.
    ``on_event(kind, info)`` is called with ``running`` / ``completed`` / ``failed`` / ``skipped``."""
    say = on_event or (lambda kind, info: None)
    summaries, out = {}, {}
    for node in graph.order():
        params = node.params(graph.folder)
        is_analysis = isinstance(node, Analysis)
        parents = {p: summaries[p] for p in node.parents if p in summaries}
        lost = [p for p in node.parents if p not in summaries or summaries[p].get("status") != "completed"]
        if lost and not is_analysis:
            out[node.label] = {"status": "skipped", "reason": f"parent(s) {lost} did not finish"}
            say("skipped", {"label": node.label, "reason": out[node.label]["reason"]})
            continue
        say("running", {"label": node.label})
        try:
            if is_analysis:
                doc = run_analysis(params, parents)
                summaries[node.label] = analysis_summary(doc, node.label, params["folder"], node.kind)
                out[node.label] = {"status": "completed", "document": doc}
            else:
                doc = run_step(params, parents)
                summaries[node.label] = summary_of(doc, node.label, params["folder"])
                out[node.label] = {"status": "completed", "summary": summaries[node.label]}
        except (StepFailed, RuntimeError) as exc:
            summaries[node.label] = {"label": node.label, "status": "failed", "reason": str(exc),
                                     "folder": params["folder"]}
            out[node.label] = {"status": "failed", "reason": str(exc)}
            say("failed", {"label": node.label, "reason": str(exc)})
            continue
        say("completed", {"label": node.label})
    return out
