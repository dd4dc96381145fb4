"""The NEB study: host relax -> one climbing-image NEB per vacancy hop (in parallel) -> barriers."""

from __future__ import annotations

from pvatoms.studies.graph import Analysis, Source, Step, StudyGraph
from pvatoms.studies.relax import relax_step
from pvatoms.studies.specs import NebStudy, as_spec


def plan(study: NebStudy) -> StudyGraph:
    """Hops are chosen on the unrelaxed host (:func:`pvatoms.build.migration.neb_endpoints`); the
    endpoints are cut at run time from the relaxed host, so the band lives in the relaxed cell."""
    from pvatoms.build.migration import neb_endpoints
    host, relax = relax_step(study, study.host, study.relax, "host-relax")
    reps = list(study.supercell)
    settings = {"n_images": study.n_images, "fmax": study.fmax, "steps": study.steps}
    steps, nebs = [relax], []
    for hop in study.hops:
        (pair,) = neb_endpoints(host, hop.element, reps, site=hop.site, to=hop.to)
        label = hop.label or pair["name"]
        ends = {end: Source.from_parent("host-relax", [{"supercell": reps}, {"vacancy_hop": {
            "from": pair["site_from"], "to": pair["site_to"], "endpoint": end}}]) for end in ("initial", "final")}
        steps.append(Step(label, "neb", study.backend, ends, dict(study.backend_settings), dict(settings),
                          parents=["host-relax"]))
        nebs.append(label)
    analysis = Analysis("barriers", "neb", {"nebs": nebs})
    return StudyGraph("neb", study.name, study.run_folder(), steps, [analysis], spec=as_spec(study))
