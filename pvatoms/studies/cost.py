"""Expected cost of a step, for progress estimates: seconds on one core of a laptop-class machine.

The numbers are orders of magnitude, calibrated on this project's measurements (2-core x86_64,
one core per calculation): a SevenNet-0 force call costs ~1.9 ms per atom, a CHGNet call ~0.55 ms
per atom; a GPAW plane-wave SCF of 19 atoms at Γ and 250 eV ~33 s (a spin-polarised one ~2.2x),
and grows as atoms² × k-points × (cut-off)^1.5; an ionic step after the first SCF costs ~0.35 of it (the density is reused). A
relaxation is charged the steps it is expected to take (DFT ~40, with or without an MLIP
pre-relaxation: ``benchmarks/bench_prerelax.py`` measured the same count both ways for V_Br⁺ in
20-atom Pnma; MLIP ~60), capped at its step limit. The progress line rescales these by the ratio
of measured to expected seconds of the steps already finished, so only *relative* costs matter:
a 40-atom DFT relaxation is expected to take ~10³ times a 5-atom MLIP single point, not the same.

>>> from pvatoms.studies.cost import step_cost
>>> round(step_cost("static", "gpaw", 19, {"ecut": 250, "kpts": [1, 1, 1]}, {}))
31
"""

from __future__ import annotations

import math

#: seconds per atom of one force call
MLIP_PER_ATOM = {"sevennet": 1.9e-3, "chgnet": 5.5e-4, "mace": 2.0e-3, "emt": 2.0e-5}
#: seconds of one SCF: DFT_SCF * atoms² * k-points * (ecut / 300 eV)^1.5 (GPAW, one core: a
#: 19-atom Pnma vacancy cell at Γ and 250 eV takes ~33 s)
DFT_SCF = 0.11
#: defect cells: half of them are odd-electron, spin-polarised cells at ~2.2x the cost
DEFECT_FACTOR = 1.6
#: k-points of a mesh per irreducible point in a symmetric (not a defect) cell, roughly
SYMMETRY_REDUCTION = 6
#: cost of an ionic step after the first SCF, as a fraction of it
DFT_STEP = 0.35
#: fixed cost of any firework (start-up, reading, writing), s
OVERHEAD = 1.0


def _kpoints(settings: dict, natoms: int) -> int:
    kpts = settings.get("kpts")
    if kpts is not None:
        try:
            return max(1, math.prod(int(k) for k in kpts))
        except TypeError:
            return 1
    density = float(settings.get("kpoint_density") or 3.0)
    # a k-point density (points per Å^-1) on a cell of ~natoms * 40 Å^3
    length = (max(natoms, 1) * 40.0) ** (1 / 3)
    return max(1, round(density * 2 * math.pi / length) ** 3 // 2)


#: ionic steps of a DFT relaxation (BFGS, 0.05 eV/Å) of a ~20-40-atom cell
DFT_RELAX_STEPS = 40


def expected_steps(job: str, backend: str, job_settings: dict) -> int:
    """Force evaluations a job is expected to need."""
    limit = int(job_settings.get("steps") or 10**6)
    if job in ("static", "band-edges", "dielectric"):
        return 1
    if backend in MLIP_PER_ATOM:
        return min(limit, 60)
    return min(limit, DFT_RELAX_STEPS)


def step_cost(job: str, backend: str, natoms: int, backend_settings: dict, job_settings: dict,
              images: int = 1) -> float:
    """Expected seconds of one step (see the module docstring)."""
    n = max(int(natoms), 1)
    steps = expected_steps(job, backend, job_settings)
    if backend in MLIP_PER_ATOM:
        return OVERHEAD + MLIP_PER_ATOM[backend] * n * steps * images
    ecut = float(backend_settings.get("ecut") or 400.0)
    nk = _kpoints(backend_settings, n)
    if nk > 1 and not job_settings.get("defect"):
        nk = math.ceil(nk / SYMMETRY_REDUCTION)      # symmetric cells: the irreducible points only
    scf = DFT_SCF * n * n * nk * (ecut / 300.0) ** 1.5
    extra = {"band-edges": 0.5, "dielectric": 6.0}.get(job, 0.0)
    factor = DEFECT_FACTOR if job_settings.get("defect") else 1.0
    return OVERHEAD + images * factor * scf * (1.0 + DFT_STEP * (steps - 1) + extra)


def graph_costs(graph) -> dict:
    """``{label: expected seconds}`` of every step and analysis of a study graph. Atom counts come
    from the given structures and the run-time transforms (supercell repeats, deletions,
    insertions); an analysis costs :data:`OVERHEAD`."""
    natoms: dict = {}
    members = {m.label: m for s in graph.steps for m in s.members}      # batched steps, by member label

    def count(step) -> int:
        if step.label in natoms:
            return natoms[step.label]
        src = step.inputs.get("structure") or step.inputs.get("initial")
        n = 0
        if src is not None:
            if src.structure is not None:
                n = len(src.structure.get("symbols") or src.structure.get("numbers") or [])
            elif src.parent:
                parent = members.get(src.parent) or graph.node(src.parent)
                # a structure made by an analysis (the boundary study's models) says its size
                n = count(parent) if hasattr(parent, "job") else int(parent.settings.get("natoms") or 0)
            for op in src.transform:
                if "supercell" in op:
                    n *= math.prod(int(r) for r in op["supercell"])
                n -= len(op.get("delete") or [])
                n += len(op.get("insert") or [])
        if step.members:
            n = sum(count(m) for m in step.members)
        natoms[step.label] = max(n, 0)
        return natoms[step.label]

    out = {}
    for step in graph.steps:
        images = int(step.job_settings.get("n_images") or 5) if step.job == "neb" else 1
        out[step.label] = step_cost(step.job, step.backend, count(step), step.backend_settings,
                                    step.job_settings, images=images)
    for analysis in graph.analyses:
        out[analysis.label] = OVERHEAD
    return out


def critical_path(graph, costs: dict | None = None) -> dict:
    """``{label: expected seconds from its start to the end of its longest chain of
    descendants}`` (its own cost included): the priority that lets several launchers finish a
    study soonest (the longest chains start first, as in list scheduling)."""
    costs = graph_costs(graph) if costs is None else costs
    children: dict = {n.label: [] for n in graph.nodes}
    for n in graph.nodes:
        for p in graph.parents_of(n):
            children[p].append(n.label)
    rank: dict = {}

    def walk(label: str) -> float:
        if label not in rank:
            rank[label] = costs.get(label, OVERHEAD) + max((walk(c) for c in children[label]), default=0.0)
        return rank[label]

    for n in graph.nodes:
        walk(n.label)
    return rank


__all__ = ["step_cost", "graph_costs", "critical_path", "expected_steps"]
