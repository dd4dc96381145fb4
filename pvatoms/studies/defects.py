"""The defect study: host relax -> perfect supercell + defect supercells (x charge states) +
competing phases -> chemical-potential limits and formation energies.

The analysis gets its inputs by role: ``host`` (the relaxed host, when it was relaxed with the
study's own backend; otherwise ``host-reference``, the host cell recomputed by the study's
backend with the competing phases' settings, so that one level of theory and one k-point
density span the phase diagram), ``bulk`` (the perfect supercell, same settings as the defects),
``defects``, ``phases`` (competing phases) and ``soc`` (PBE+SOC band edges of the bulk).
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


def keep_sites(defects: list, sites: dict) -> list:
    """The defects without the vacancies and antisites of an element in ``sites`` ({element:
    [Wyckoff labels]}) on a site not listed; a label the host does not have is refused, naming
    the ones it has."""
    if not sites:
        return defects
    if not isinstance(sites, dict):
        raise InputError(f"defects.sites must map an element to Wyckoff labels, e.g. {{Br: [8d]}}; got {sites!r}")
    on_site = [x for x in defects if x.kind in ("vacancy", "antisite") and x.host_element]
    label = {x.name: x.name.rsplit("_", 1)[-1] for x in on_site}            # V_Br_8d -> 8d
    keep = {}                                     # the spec's mapping is read, never changed
    for el, labels in sites.items():
        have = sorted({label[x.name] for x in on_site if x.host_element == el})
        labels = [labels] if isinstance(labels, str) else list(labels or [])
        if not have:
            raise InputError(f"defects.sites: no vacancy or antisite on {el} is planned (sites apply to those)")
        bad = [w for w in labels if w not in have]
        if bad or not labels:
            raise InputError(f"defects.sites.{el}: {bad or labels!r} not a site of {el} in this host; its sites: "
                             f"{', '.join(have)}")
        keep[el] = labels
    return [x for x in defects if not (x.name in label and x.host_element in keep
                                       and label[x.name] not in keep[x.host_element])]


def plan(study: DefectStudy) -> StudyGraph:
    """The step graph. MLIP studies compute neutral cells only (and say so). DFT studies compute
    every suggested charge state: MLIP pre-relaxation per defect (``prerelax``), then a DFT
    relaxation per charge state at the host's cell with the defect conventions; the perfect
    supercell with the same settings (a fixed-cell DFT relaxation when the host was relaxed by
    another method, so that bulk and defects share one level of theory); with GPAW, the PBE+SOC
    band edges of that supercell (``soc_band_edges``: non-self-consistent, on the perfect cell's
    own static, or on a static of the relaxed perfect cell, ``perfect-soc``); the competing
    phases, each pre-relaxed (cell and positions) by the same MLIP before its DFT relaxation.

    ``dft_relax: false`` (a DFT study with ``prerelax``): DFT single points instead of DFT
    relaxations, on the MLIP geometries — the host, every defect and every phase relaxed by the
    ``prerelax`` potential — so every energy is ``PBE//<MLIP>``, one level of theory. The charged
    states then sit at the (charge-free) MLIP geometry of their defect: their relaxation energy
    is missing, as the notes say."""
    from pvatoms.build import defects_supercell, point_defects
    from pvatoms.build.competing import MOLECULES, competing_phases
    if study.charged and study.dielectric is None:
        raise InputError("a charged-defect study needs 'dielectric' for the finite-size corrections: a number, "
                         "three numbers (diagonal), a 3x3 tensor, or {from: FOLDER} of a dielectric job, with "
                         "'source' (for relaxed charged defects the static, electronic + ionic, ε)")
    host, relax = relax_step(study, study.host, study.relax, "host-relax")
    reps = list(study.supercell)
    d = study.defects
    defects = point_defects(host, vacancies=d.vacancies, interstitials=d.interstitials, antisites=d.antisites,
                            complexes=d.complexes, supercell=reps, max_interstitial_sites=d.interstitial_sites)
    defects = keep_sites(defects, d.sites)
    perfect = defects_supercell(host, reps)
    notes, steps = [], [relax]
    bset = dict(study.backend_settings)
    single_points = study.dft and not study.dft_relax
    if single_points:
        if not study.prerelax or relax.backend != study.prerelax:
            raise InputError(f"dft_relax: false puts DFT single points on MLIP geometries: give 'prerelax' (an MLIP) "
                             f"and relax the host with the same one (relax.backend: {study.prerelax or 'sevennet'}); "
                             f"got prerelax {study.prerelax!r}, host relaxed by {relax.backend!r}")
        notes.append(f"{study.backend} single points on {study.prerelax} geometries (dft_relax: false): one level of "
                     "theory (DFT//MLIP) for every energy; charged states sit at their defect's charge-free MLIP "
                     "geometry (their relaxation energy is not included)")
    same_level = relax.backend == study.backend
    perfect_job, perfect_settings = ("static", {}) if (same_level or not study.dft or single_points) else (
        "relax", {"cell": False, "fmax": study.defect_fmax, "steps": study.defect_steps})
    soc_here = study.dft and study.soc_band_edges and study.backend == "gpaw" and perfect_job == "static"
    if soc_here:                                  # a static perfect cell gives its SOC edges itself
        perfect_settings = {"soc": True}
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
            if single_points:
                js = {"charge": q, "defect": True}
            steps.append(Step(label, "static" if single_points else "relax", study.backend, {"structure": source},
                              bset, js, parents=[parent]))
            labels.append(label)
    host_roles = ["host-relax"]
    if study.dft and not same_level:
        # the phase diagram's host: the host cell with the phases' settings (k-mesh by density, not
        # the supercell's Γ point), at the level of theory of everything else in the study
        job = ("static", {}) if single_points else ("relax", {"cell": False, "fmax": study.phase_fmax,
                                                              "steps": study.phase_steps})
        steps.append(Step("host-reference", job[0], study.backend, {"structure": Source.from_parent("host-relax")},
                          study.phase_settings(None), job[1], parents=["host-relax"]))
        host_roles = ["host-reference"]
    soc_labels = ["perfect"] if soc_here else []
    if study.dft and study.soc_band_edges and study.backend == "gpaw" and not soc_here:
        steps.append(Step("perfect-soc", "static", study.backend, {"structure": Source.from_parent("perfect")},
                          bset, {"soc": True}, parents=["perfect"]))
        soc_labels.append("perfect-soc")
    elif study.dft and study.soc_band_edges and not soc_here:
        notes.append(f"PBE+SOC band edges of the bulk: not planned for {study.backend} (run a static of the perfect "
                     "supercell with backend setting soc: true, LSORBIT)")
    phases = competing_phases(primitive=True) if study.competing_phases else {}    # same E/atom, fewer atoms
    phase_labels = []
    for name in study.competing_phases:
        if name not in phases:
            raise InputError(f"unknown competing phase {name!r}; known: {', '.join(phases)}")
        source, parents = Source.given(phases[name]), []
        cell = name not in MOLECULES                  # a molecule's box is not a lattice
        if study.dft and study.prerelax:
            steps.append(Step(f"phase-{name}-prerelax", "relax", study.prerelax, {"structure": source}, {},
                              {"cell": cell, "fmax": study.prerelax_fmax, "steps": study.phase_steps}))
            source, parents = Source.from_parent(f"phase-{name}-prerelax"), [f"phase-{name}-prerelax"]
        phase_job = ("static", {}) if single_points else (
            "relax", {"cell": cell, "fmax": study.phase_fmax, "steps": study.phase_steps})
        steps.append(Step(f"phase-{name}", phase_job[0], study.backend, {"structure": source},
                          study.phase_settings(name), phase_job[1], parents=parents))
        phase_labels.append(f"phase-{name}")
    cells = reps[0] * reps[1] * reps[2]
    settings = {"supercell": reps, "defects": [x.as_dict() for x in defects],
                "site_counts": {x.name: x.multiplicity * cells for x in defects}}
    if study.dielectric is not None:
        settings["dielectric"] = study.dielectric
    if study.host_on_hull:
        settings["host_on_hull"] = study.host_on_hull
    if study.fermi is not None:
        settings["fermi"] = {"temperature": study.fermi.temperature, "quench_to": study.fermi.quench_to,
                             "effective_masses": study.fermi.effective_masses, "source": study.fermi.source}
    analysis = Analysis("formation-energies", "defects",
                        {"host": host_roles, "bulk": ["perfect"], "defects": labels,
                         "phases": phase_labels,
                         "soc": soc_labels},
                        settings)
    return StudyGraph("defects", study.name, study.run_folder(), steps, [analysis], notes, spec=as_spec(study))
