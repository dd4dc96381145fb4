"""The smoke study: independent calculations (relax or static) of the given structures."""

from __future__ import annotations

from pvatoms.studies.graph import Source, Step, StudyGraph
from pvatoms.studies.specs import SmokeStudy, as_spec
from pvatoms.studies.structures import build_structure


def plan(study: SmokeStudy) -> StudyGraph:
    """One step per structure; no analysis."""
    steps = [Step(label, study.job, study.backend, {"structure": Source.given(build_structure(item, study._base))},
                  dict(study.backend_settings), dict(study.job_settings))
             for label, item in study.structures.items()]
    return StudyGraph("smoke", study.name, study.run_folder(), steps, spec=as_spec(study))
