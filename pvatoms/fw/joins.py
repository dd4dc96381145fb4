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
    """Barrier table of all finished NEB parents (CSV, Markdown, LaTeX), with profile plots when
    the NEB analysis module is present."""
    rows = []
    for label, r in sorted(_completed(results).items()):
        if r.get("job") != "neb":
            continue
        d = r["data"]
        rows.append({"species": d.get("moving_element"), "path": label,
                     "hop (Å)": d.get("hop_distance"), "E_b forward (eV)": d.get("barrier_forward"),
                     "E_b backward (eV)": d.get("barrier_backward"), "backend": provenance_label(r)})
    if not rows:
        raise RuntimeError("no NEB finished: nothing to tabulate")
    paths = write_table(rows, Path(folder) / "barriers", caption="Migration barriers")
    return {"kind": "neb", "rows": rows, "files": {k: str(v) for k, v in paths.items()}}


JOINS = {"table": table_join, "phonons": phonon_join, "neb": neb_join}
