"""Analyses run by :class:`pvatoms.fw.tasks.PvatomsJoin` over the parents' results.

Each join takes ``(results, folder, **settings)`` — ``results`` maps a parent label to its summary
(``folder``, ``status``, ``energy``, ``structure``, ``backend``, ...) — writes its files into
``folder`` and returns a JSON-able document.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvatoms.analysis.tables import provenance_label, write_table
from pvatoms.results import atoms_from_dict, load


def _completed(results: dict, prefix: str = "") -> dict:
    return {k: v for k, v in results.items() if k.startswith(prefix) and v.get("status") == "completed"}


def table_join(results: dict, folder: Path, title: str = "Results") -> dict:
    """All parents' energies in one table (CSV, Markdown, LaTeX) with provenance."""
    rows = []
    for label, r in sorted(results.items()):
        rows.append({"calculation": label, "job": r.get("job"), "status": r.get("status"),
                     "E (eV)": r.get("energy"), "E/atom (eV)": r.get("energy_per_atom"),
                     "provenance": provenance_label(r)})
    paths = write_table(rows, Path(folder) / "results", caption=title)
    return {"kind": "table", "rows": rows, "files": {k: str(v) for k, v in paths.items()}}


def phonon_join(results: dict, folder: Path, structure_from: str | None = None, structure=None,
                supercell=None, displacement: float = 0.01) -> dict:
    """Forces of the displacement statics -> force constants, bands, DOS, imaginary modes."""
    from pvatoms.jobs.phonons import phonon_analysis, phonon_displacements
    base = atoms_from_dict(structure if structure is not None else results[structure_from]["structure"])
    ph, cells = phonon_displacements(base, supercell, displacement=displacement)
    forces = []
    for k in range(len(cells)):
        label = f"disp-{k:03d}"
        if label not in results or results[label].get("status") != "completed":
            raise RuntimeError(f"phonon displacement {label} did not complete: cannot build force constants")
        doc = load(results[label]["folder"])
        f = np.array(doc["forces"])
        forces.append(f - f.mean(axis=0))
    ph.forces = np.array(forces)
    ph.save(str(Path(folder) / "phonopy_params.yaml"), settings={"force_constants": False})
    data = phonon_analysis(ph, folder)
    backend = next(iter(results.values())).get("backend")
    return {"kind": "phonons", "backend": backend, "n_displacements": len(cells), **data}


def neb_join(results: dict, folder: Path) -> dict:
    """Barrier table (CSV, Markdown, LaTeX) and energy profiles of the finished NEB parents."""
    from pvatoms.analysis.neb import analyse_neb
    nebs = {k: v for k, v in _completed(results).items() if v.get("job") == "neb"}
    if not nebs:
        raise RuntimeError("no NEB finished: nothing to tabulate")
    labels = sorted(nebs)
    return {"kind": "neb", **analyse_neb([nebs[k]["folder"] for k in labels], folder, labels=labels)}


def band_edges_join(results: dict, folder: Path) -> dict:
    """Planar averages, region fractions, IPR and the localization statement of the band-edge
    densities of the parent job."""
    from pvatoms.analysis.localization import analyse_band_edges
    edges = {k: v for k, v in _completed(results).items() if v.get("job") == "band-edges"}
    if not edges:
        raise RuntimeError("no band-edges job finished: nothing to analyse")
    labels = sorted(edges)
    return {"kind": "band-edges", **analyse_band_edges([edges[k]["folder"] for k in labels], folder, labels=labels)}


def defects_join(results: dict, folder: Path, **_) -> dict:
    """Chemical-potential limits, formation energies, transition levels, diagrams and tables from
    every finished parent (host, perfect supercell, defects, competing phases): the same analysis
    as ``pvatoms analyse defects``."""
    import argparse

    from pvatoms import cli_analysis_defects
    done = _completed(results)
    skipped = sorted(set(results) - set(done))
    parser = argparse.ArgumentParser()
    cli_analysis_defects.add_arguments(parser)
    perfect = done.get("perfect")
    args = [v["folder"] for v in done.values()] + ["-o", str(folder)]
    if perfect:
        args += ["--bulk", perfect["folder"]]
    summary = cli_analysis_defects.run(parser.parse_args(args))
    return {"kind": "defects", "skipped_unfinished": skipped, **summary}


JOINS = {"table": table_join, "phonons": phonon_join, "neb": neb_join, "band-edges": band_edges_join,
         "defects": defects_join}
