"""The host relaxation that the defect, NEB, phonon and band-edge studies start from."""

from __future__ import annotations

from pvatoms.studies.graph import Source, Step
from pvatoms.studies.specs import Relax, Study, Structure
from pvatoms.studies.structures import build_structure


def relax_step(study: Study, item: Structure, relax: Relax, label: str):
    """(the built structure, the relaxation step) — a high priority, since everything waits on it."""
    atoms = build_structure(item, study._base)
    backend, settings = study.relax_backend(relax)
    return atoms, Step(label, "relax", backend, {"structure": Source.given(atoms)}, settings,
                       relax.job_settings(), priority=10)
