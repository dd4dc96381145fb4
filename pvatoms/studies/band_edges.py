"""The band-edge study: relax -> [static ->] band-edge densities -> localization analysis."""

from __future__ import annotations

from pvatoms.studies.graph import Analysis, Source, Step, StudyGraph
from pvatoms.studies.relax import relax_step
from pvatoms.studies.specs import BandEdgeStudy, as_spec


def plan(study: BandEdgeStudy) -> StudyGraph:
    """The band-edges job runs its own SCF (energy, band edges, densities); ``static: true`` adds
    a separate single point first."""
    _, relax = relax_step(study, study.structure, study.relax, "relax")
    steps, parents = [relax], ["relax"]
    if study.static:
        steps.append(Step("static", "static", study.backend, {"structure": Source.from_parent("relax")},
                          dict(study.backend_settings), {}, parents=["relax"]))
        parents.append("static")
    steps.append(Step("band-edges", "band-edges", study.backend, {"structure": Source.from_parent("relax")},
                      dict(study.backend_settings), {"bands": list(study.bands)}, parents=parents))
    analysis = Analysis("localization", "band-edges", {"band_edges": ["band-edges"]},
                        {"pdos": True} if study.pdos else {})
    return StudyGraph("band-edges", study.name, study.run_folder(), steps, [analysis], spec=as_spec(study))
