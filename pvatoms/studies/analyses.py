"""The analyses a study graph ends in. Each takes ``(roles, folder, **settings)`` — ``roles`` maps
a role (``bulk``, ``defects``, ``nebs`` ...) to the parents' result summaries (label, folder,
status, energy, structure ...) — writes its files into ``folder`` and returns a JSON-able analysis
document with ``kind``. Unfinished parents are left out and listed (``skipped_unfinished``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvatoms.analysis import ANALYSIS_SCHEMA
from pvatoms.errors import InputError
from pvatoms.schema import atoms_from_dict, read_result



def _done(items) -> list:
    return [r for r in items if r.get("status") == "completed"]


def _skipped(roles: dict) -> list:
    return sorted(r["label"] for items in roles.values() for r in items if r.get("status") != "completed")


def _docs(items) -> list:
    return [read_result(r["folder"], label=r["label"]) for r in _done(items)]


def dielectric_of(spec: dict | None):
    """(ε as a number or 3x3 tensor, its source) from a study's ``dielectric`` entry (see
    :func:`pvatoms.studies.specs.dielectric_value`); ``{from: FOLDER}`` reads the total (electronic +
    ionic) tensor of a dielectric job's result document."""
    if spec is None:
        return None, None
    if "value" in spec:
        return spec["value"], spec.get("source", "spec")
    doc = read_result(spec["from"])
    eps = (doc.get("data") or {}).get("dielectric") or {}
    part = spec.get("part", "total")
    if doc.get("status") != "completed" or not eps:
        raise InputError(f"dielectric from {spec['from']}: not a completed dielectric result")
    if eps.get(part) is None:
        raise InputError(f"dielectric from {spec['from']}: its {part} ε was not computed ({eps.get('method')}); "
                         "give the static ε with its source, or part: electronic to use ε∞ knowingly")
    level = (doc.get("level_of_theory") or {}).get("label")
    return eps[part], f"{spec.get('source')}; {eps.get('method')}, {level}"


def defects_analysis(roles: dict, folder: Path, dielectric=None, site_counts=None, fermi=None, host_on_hull=0.0,
                     **_) -> dict:
    """Chemical-potential limits, formation energies, transition levels, diagrams and tables
    (:func:`pvatoms.analysis.defects.analyse_defects`) from the results by role."""
    from pvatoms.analysis.defects import analyse_defects
    bulk, host = _docs(roles.get("bulk", [])), _docs(roles.get("host", []))
    if not bulk:
        raise InputError("the perfect supercell did not finish: no formation energies")
    eps, source = dielectric_of(dielectric)
    fermi = fermi or {}
    soc = [((d.get("data") or {}).get("band_edges_soc"), d) for d in _docs(roles.get("soc", []))]
    soc = [dict(rec, level_of_theory=(d.get("level_of_theory") or {}).get("label")) for rec, d in soc if rec]
    out = analyse_defects(folder, bulk=bulk[0], defects=_docs(roles.get("defects", [])),
                          phases=_docs(roles.get("phases", [])), host=host[0] if host else None, dielectric=eps,
                          site_counts=site_counts, temperature=fermi.get("temperature"),
                          effective_masses=fermi.get("effective_masses"), quench_temperature=fermi.get("quench_to"),
                          soc_band_edges=soc[0] if soc else None, host_on_hull=float(host_on_hull or 0.0))
    if fermi:
        out["effective_masses_source"] = fermi.get("source")
    return {"kind": "defects", "schema": ANALYSIS_SCHEMA, "skipped_unfinished": _skipped(roles), **out,
            "dielectric": {"value": eps, "source": source}}


def neb_analysis(roles: dict, folder: Path, **_) -> dict:
    """Barrier table (CSV, Markdown, LaTeX) and energy profiles of the finished NEBs."""
    from pvatoms.analysis.neb import analyse_neb
    nebs = _done(roles.get("nebs", []))
    if not nebs:
        raise RuntimeError("no NEB finished: nothing to tabulate")
    nebs = sorted(nebs, key=lambda r: r["label"])
    out = analyse_neb([r["folder"] for r in nebs], folder, labels=[r["label"] for r in nebs])
    return {"kind": "neb", "schema": ANALYSIS_SCHEMA, "skipped_unfinished": _skipped(roles), **out}


def band_edges_analysis(roles: dict, folder: Path, pdos: bool = False, **_) -> dict:
    """Planar averages, region fractions, IPR and the localization statement of the band-edge
    densities; with ``pdos``, the region-projected DOS of each job's wave functions and, where a
    region ``cluster`` exists, its states in the host gap (:func:`pvatoms.analysis.pdos.gap_states`)."""
    from pvatoms.analysis.localization import analyse_band_edges
    edges = sorted(_done(roles.get("band_edges", [])), key=lambda r: r["label"])
    if not edges:
        raise RuntimeError("no band-edges job finished: nothing to analyse")
    out = analyse_band_edges([r["folder"] for r in edges], folder, labels=[r["label"] for r in edges])
    if pdos:
        out["pdos"] = {r["label"]: region_dos_of(r["folder"], Path(folder) / f"pdos-{r['label']}") for r in edges}
    return {"kind": "band-edges", "schema": ANALYSIS_SCHEMA, "skipped_unfinished": _skipped(roles), **out}


def region_dos_of(job_folder, output) -> dict:
    """Region DOS (and metal states in the gap, when the structure has a ``cluster`` region) of a
    GPAW band-edges or static job, from its saved wave functions."""
    from pvatoms.analysis.pdos import analyse_region_dos
    from pvatoms.calc.gpaw_dos import load_calculator, state_weights, write_projections
    doc = read_result(job_folder)
    gpw = (doc.get("files") or {}).get("gpw")
    if not gpw:
        raise InputError(f"{job_folder}: no GPAW wave functions saved (files.gpw): no region DOS")
    labels = (doc["structure"].get("arrays") or {}).get("region")
    if labels is None:
        raise InputError(f"{job_folder}: the structure has no per-atom region labels: no region DOS")
    proj = state_weights(load_calculator(Path(job_folder) / gpw))
    write_projections(Path(output) / "projections.npz", proj)
    edges = doc.get("band_edges") or {}
    metal = "cluster" if "cluster" in [str(x) for x in labels] else None
    return analyse_region_dos(proj, labels, output, reference=edges.get("vbm"), label=Path(output).name, metal=metal)


def phonons_analysis(roles: dict, folder: Path, supercell=None, displacement: float = 0.01, **_) -> dict:
    """Forces of the displacement statics -> force constants, bands, DOS, imaginary modes."""
    from pvatoms.jobs.phonons import phonon_analysis, phonon_displacements
    base = atoms_from_dict(roles["structure"][0]["structure"])
    ph, cells = phonon_displacements(base, supercell, displacement=displacement)
    disp = {r["label"]: r for r in roles.get("displacements", [])}
    forces = []
    for k in range(len(cells)):
        label = f"disp-{k:03d}"
        if label not in disp or disp[label].get("status") != "completed":
            raise RuntimeError(f"phonon displacement {label} did not complete: cannot build force constants")
        f = np.array(read_result(disp[label]["folder"])["forces"])
        forces.append(f - f.mean(axis=0))
    ph.forces = np.array(forces)
    ph.save(str(Path(folder) / "phonopy_params.yaml"), settings={"force_constants": False})
    data = phonon_analysis(ph, folder)
    backend = next(iter(disp.values())).get("backend") if disp else None
    return {"kind": "phonons", "schema": ANALYSIS_SCHEMA, "backend": backend, "n_displacements": len(cells), **data}


def table_analysis(roles: dict, folder: Path, title: str = "Results") -> dict:
    """All parents' energies in one table (CSV, Markdown, LaTeX) with provenance."""
    from pvatoms.analysis.tables import provenance_label, write_table
    rows = [{"calculation": r["label"], "job": r.get("job"), "status": r.get("status"), "E (eV)": r.get("energy"),
             "E/atom (eV)": r.get("energy_per_atom"), "provenance": provenance_label(r)}
            for r in sorted((r for items in roles.values() for r in items), key=lambda r: r["label"])]
    paths = write_table(rows, Path(folder) / "results", caption=title)
    return {"kind": "table", "schema": ANALYSIS_SCHEMA, "rows": rows, "files": {k: str(v) for k, v in paths.items()}}


def boundary_analysis(roles: dict, folder: Path, **settings) -> dict:
    """Band offsets of an RP / perovskite boundary by role (interface, perovskite_bulk, rp_bulk),
    with SOC, region DOS and the convergence table (:func:`pvatoms.studies.boundary_analysis.boundary_analysis`)."""
    from pvatoms.studies.boundary_analysis import boundary_analysis as run
    return run(roles, folder, **settings)


def boundary_structure(roles: dict, folder: Path, **settings) -> dict:
    """A structure derived at run time from the relaxed bulks: an interface or a strained bulk
    (:func:`pvatoms.studies.boundary.structure_node`); children take its ``structure``."""
    from pvatoms.studies.boundary import structure_node
    return structure_node(roles, folder, **settings)


def segregation_analysis(roles: dict, folder: Path, **settings) -> dict:
    """Vacancy segregation energies against distance from the boundary
    (:func:`pvatoms.studies.segregation.segregation_analysis`)."""
    from pvatoms.studies.segregation import segregation_analysis as run
    return run(roles, folder, **settings)


ANALYSES = {"defects": defects_analysis, "neb": neb_analysis, "band-edges": band_edges_analysis,
            "phonons": phonons_analysis, "table": table_analysis, "boundary": boundary_analysis,
            "boundary-structure": boundary_structure, "segregation": segregation_analysis}


def roles_of(kind: str, roles: dict | None, settings: dict, parents: dict) -> dict:
    """Role -> parent summaries. Workflows of the first layout stored no roles: they are read back
    from the labels that layout used (``host-relax``, ``perfect``, ``phase-*``, ``disp-*``)."""
    if roles is not None:
        return {role: [parents.get(x, {"label": x, "status": "missing"}) for x in labels]
                for role, labels in roles.items()}
    labels = sorted(parents)
    by_job = {j: [parents[x] for x in labels if parents[x].get("job") == j] for j in ("neb", "band-edges")}
    if kind == "defects":
        host, bulk = settings.get("host", "host-relax"), settings.get("perfect", "perfect")
        return {"host": [parents[x] for x in (host,) if x in parents], "bulk": [parents[x] for x in (bulk,) if x in parents],
                "phases": [parents[x] for x in labels if x.startswith("phase-")],
                "defects": [parents[x] for x in labels if x not in (host, bulk) and not x.startswith("phase-")]}
    if kind == "neb":
        return {"nebs": by_job["neb"]}
    if kind == "band-edges":
        return {"band_edges": by_job["band-edges"]}
    if kind == "phonons":
        return {"structure": [parents[settings.get("structure_from", "relax")]],
                "displacements": [parents[x] for x in labels if x.startswith("disp-")]}
    return {"results": [parents[x] for x in labels]}
