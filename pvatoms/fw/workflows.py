"""FireWorks adapter: a study graph (:mod:`pvatoms.studies`) -> a FireWorks ``Workflow``.

Every step becomes one firework running :class:`~pvatoms.fw.tasks.PvatomsJob` with the step's
parameters; every analysis one firework running :class:`~pvatoms.fw.tasks.PvatomsJoin` that may
run with fizzled parents. Fireworks carry a hash of structure + job + backend + settings, so a
resubmitted study reuses finished launches (:class:`~pvatoms.fw.tasks.PvatomsDupeFinder`), and
their expected cost in seconds (``spec._pvatoms_cost``, :mod:`pvatoms.studies.cost`) for the
progress estimate. A firework's ``_priority`` is the expected length of its longest chain of
descendants (:func:`pvatoms.studies.cost.critical_path`): with several launchers, the long
chains start first.
No study logic lives here: what to run is decided by the study's planner.
"""

from __future__ import annotations

from pathlib import Path

from fireworks import Firework, Workflow

from pvatoms.errors import InputError
from pvatoms.fw.tasks import HASH_KEY, PvatomsDupeFinder, PvatomsJob, PvatomsJoin
from pvatoms.studies import StudyGraph, plan_study, study_from_dict
from pvatoms.studies.specs import load_study


#: firework spec key of the expected cost (s), read by the progress line
COST_KEY = "_pvatoms_cost"
#: a step's own priority outranks any critical-path length (s) below it
PRIORITY_SCALE = 10**8


def load_spec(path, folder=None) -> dict:
    """Read a study spec file (YAML) into a mapping (``_base``: the spec's folder, for structure
    files). Checked: unknown keys and bad values stop here with a message."""
    import yaml
    study = load_study(path, folder)        # validates
    spec = yaml.safe_load(Path(path).read_text())
    spec["_base"] = study._base
    if folder is not None:
        spec["folder"] = str(folder)
    return spec


def to_workflow(graph: StudyGraph) -> Workflow:
    """The FireWorks workflow of a study graph (fw_ids assigned on submission)."""
    from pvatoms.studies.cost import critical_path, graph_costs
    fws: dict[str, Firework] = {}
    costs = graph_costs(graph)
    rank = critical_path(graph, costs)
    for node in graph.order():
        parents = [fws[p] for p in node.parents]
        params = node.params(graph.folder)
        if hasattr(node, "job"):
            spec = {HASH_KEY: node.fingerprint(graph.folder), "_dupefinder": PvatomsDupeFinder(),
                    "_priority": node.priority * PRIORITY_SCALE + int(round(rank[node.label])),
                    COST_KEY: round(costs[node.label], 1)}
            fws[node.label] = Firework(PvatomsJob(**params), spec=spec, name=node.label, parents=parents or None)
        else:
            fws[node.label] = Firework(PvatomsJoin(**params), spec={"_allow_fizzled_parents": True,
                                                                 COST_KEY: round(costs[node.label], 1)},
                                       name=node.label, parents=parents or None)
    return Workflow(list(fws.values()), name=f"{graph.study}:{graph.name}",
                    metadata={"pvatoms_study": graph.study, "folder": str(graph.folder), "spec": graph.spec})


def build_workflow(spec: dict) -> tuple[Workflow, list[str]]:
    """The workflow of a study spec mapping and notes for the user (e.g. charge states skipped)."""
    if not isinstance(spec, dict):
        raise InputError(f"a study spec is a mapping, got {type(spec).__name__}")
    graph = plan_study(study_from_dict(spec))
    return to_workflow(graph), list(graph.notes)
