"""The defect study: host relax -> perfect supercell + defect supercells (x charge states) +
competing phases -> chemical-potential limits and formation energies.

The analysis gets its inputs by role: ``host`` (the relaxed host), ``bulk`` (the perfect
supercell, same settings as the defects), ``defects`` and ``phases`` (competing phases).
"""

from __future__ import annotations

import numpy as np

from pvatoms.errors import InputError
from pvatoms.studies.graph import Analysis, Source, Step, StudyGraph
from pvatoms.studies.relax import relax_step
from pvatoms.studies.specs import DefectStudy, as_spec


def defect_transform(defect, perfect) -> list:
    """The run-time operations that turn the perfect supercell into ``defect`` (a
    :class:`pvatoms.build.defects.PointDefect`)."""
    if defect.kind in ("vacancy", "complex"):
        return [{"delete": defect.removed}]
    if defect.kind == "antisite":
        return [{"substitute": {str(defect.removed[0]): defect.element}}]
    frac = (np.asarray(defect.position) @ np.linalg.inv(np.asarray(perfect.cell))).tolist()
    return [{"insert": [{"index": defect.added[0], "symbol": defect.element, "frac": frac}]}]


def plan(study: DefectStudy) -> StudyGraph:
    """The step graph. MLIP studies compute neutral cells only (and say so). DFT studies compute
    every suggested charge state: MLIP pre-relaxation per defect (``prerelax``), then a DFT
    relaxation per charge state at the host's cell with the defect conventions; the perfect
    supercell with the same settings (a fixed-cell DFT relaxation when the host was relaxed by
    another method, so that bulk and defects share one level of theory)."""
    from pvatoms.build import defects_supercell, point_defects
    from pvatoms.build.competing import competing_phases
    if study.charged and study.dielectric is None:
        raise InputError("a charged-defect study needs 'dielectric' for the finite-size corrections: a number, "
                         "three numbers (diagonal), a 3x3 tensor, or {from: FOLDER} of a dielectric job, with "
                         "'source' (for relaxed charged defects the static, electronic + ionic, ε)")
    host, relax = relax_step(study, study.host, study.relax, "host-relax")
    reps = list(study.supercell)
    d = study.defects
    defects = point_defects(host, vacancies=d.vacancies, interstitials=d.interstitials, antisites=d.antisites,
                            complexes=d.complexes, supercell=reps, max_interstitial_sites=d.interstitial_sites)
    perfect = defects_supercell(host, reps)
    notes, steps = [], [relax]
    bset = dict(study.backend_settings)
    same_level = relax.backend == study.backend
    perfect_job, perfect_settings = ("static", {}) if (same_level or not study.dft) else (
        "relax", {"cell": False, "fmax": study.defect_fmax, "steps": study.defect_steps})
    steps.append(Step("perfect", perfect_job, study.backend,
                      {"structure": Source.from_parent("host-relax", [{"supercell": reps}])}, bset, perfect_settings,
                      parents=["host-relax"]))
    defect_settings = {"fmax": study.defect_fmax, "steps": study.defect_steps}
    labels = []
    for dfc in defects:
        charges = dfc.charges if (study.dft and study.charges == "suggested") else [0]
        if not study.dft and len(dfc.charges) > 1:
            notes.append(f"{dfc.name}: backend {study.backend} is a neutral-cell MLIP: only q = 0 is computed "
                         f"(suggested charges {dfc.charges} need gpaw or vasp)")
        transform = [{"supercell": reps}] + defect_transform(dfc, perfect) + [
            {"provenance": {"builder": "pvatoms.build.point_defects", "reference": None,
                            "arguments": {"defect": dfc.name, "supercell": reps, "removed": dfc.removed,
                                          "added": dfc.added}}}]
        source, parent = Source.from_parent("host-relax", transform), "host-relax"
        if study.dft and study.prerelax:
            pre = f"{dfc.name}-prerelax"
            steps.append(Step(pre, "relax", study.prerelax, {"structure": source}, {},
                              {"fmax": study.prerelax_fmax, "steps": study.defect_steps}, parents=["host-relax"]))
            source, parent = Source.from_parent(pre), pre
        for q in charges:
            label = f"{dfc.name}_q{q:+d}"
            js = dict(defect_settings, charge=q, defect=True) if study.dft else dict(defect_settings)
            steps.append(Step(label, "relax", study.backend, {"structure": source}, bset, js, parents=[parent]))
            labels.append(label)
    phases = competing_phases(primitive=True) if study.competing_phases else {}    # same E/atom, fewer atoms
    phase_labels = []
    for name in study.competing_phases:
        if name not in phases:
            raise InputError(f"unknown competing phase {name!r}; known: {', '.join(phases)}")
        steps.append(Step(f"phase-{name}", "relax", study.backend, {"structure": Source.given(phases[name])},
                          study.phase_settings(name), {"cell": True, "fmax": study.phase_fmax, "steps": study.phase_steps}))
        phase_labels.append(f"phase-{name}")
    cells = reps[0] * reps[1] * reps[2]
    settings = {"supercell": reps, "defects": [x.as_dict() for x in defects],
                "site_counts": {x.name: x.multiplicity * cells for x in defects}}
    if study.dielectric is not None:
        settings["dielectric"] = study.dielectric
    if study.fermi is not None:
        settings["fermi"] = {"temperature": study.fermi.temperature, "quench_to": study.fermi.quench_to,
                             "effective_masses": study.fermi.effective_masses, "source": study.fermi.source}
    analysis = Analysis("formation-energies", "defects",
                        {"host": ["host-relax"], "bulk": ["perfect"], "defects": labels, "phases": phase_labels},
                        settings)
    return StudyGraph("defects", study.name, study.run_folder(), steps, [analysis], notes, spec=as_spec(study))
