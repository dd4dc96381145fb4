"""The phonon study: relax -> one static per phonopy displacement (in parallel) -> phonons."""

from __future__ import annotations

from pvatoms.studies.graph import Analysis, Source, Step, StudyGraph
from pvatoms.studies.relax import relax_step
from pvatoms.studies.specs import PhononStudy, as_spec


def plan(study: PhononStudy) -> StudyGraph:
    from pvatoms.jobs.phonons import phonon_displacements
    atoms, relax = relax_step(study, study.structure, study.relax, "relax")
    reps = list(study.supercell)
    _, cells = phonon_displacements(atoms, reps, displacement=study.displacement)
    steps = [relax]
    for k in range(len(cells)):
        move = {"phonon_displacement": {"index": k, "supercell": reps, "displacement": study.displacement}}
        steps.append(Step(f"disp-{k:03d}", "static", study.backend, {"structure": Source.from_parent("relax", [move])},
                          dict(study.backend_settings), {}, parents=["relax"]))
    analysis = Analysis("phonons", "phonons", {"structure": ["relax"], "displacements": [s.label for s in steps[1:]]},
                        {"supercell": reps, "displacement": study.displacement})
    return StudyGraph("phonons", study.name, study.run_folder(), steps, [analysis], spec=as_spec(study))
