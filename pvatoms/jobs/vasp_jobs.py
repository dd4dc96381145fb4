"""VASP inside the jobs: write inputs (pymatgen sets), run through custodian, parse the outputs.

When the job folder already holds VASP outputs (a vasprun.xml written on a cluster, say), they
are parsed without running anything, so results computed elsewhere enter the same documents.
Without a configured VASP command (``PVATOMS_VASP_CMD``) the inputs are written and the job stops
with a clear message naming the folder.
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms
from ase.mep import NEB

from pvatoms.calc.vasp_parse import find_output
from pvatoms.schema import apply_run_settings


def _has_outputs(folder: Path, job: str) -> bool:
    if job == "neb":
        return (folder / "01").is_dir() and find_output(folder / "01", "OUTCAR", required=False) is not None
    return find_output(folder, "vasprun.xml", required=False) is not None


def merge(doc: dict, fields: dict) -> None:
    """Put parsed fields into the result document; ``data`` and ``files`` are merged, not replaced."""
    for key, value in fields.items():
        if key in ("data", "files") and isinstance(value, dict):
            doc[key].update(value)
        else:
            doc[key] = value


def record_run(doc: dict, fields: dict) -> None:
    """Merge parsed ``fields`` into ``doc`` and make its provenance that of the run actually done
    (:func:`pvatoms.schema.apply_run_settings` with the run's ``data.run_settings``)."""
    merge(doc, fields)
    apply_run_settings(doc, (fields.get("data") or {}).get("run_settings"))


def vasp_body(job: str, atoms: Atoms, backend, charge: int = 0, cell: bool | None = None,
              defect: bool = False, **_):
    """Job body for relax / static / band-edges with the VASP backend (``defect``: the defect
    supercell conventions of :meth:`pvatoms.calc.vasp.VaspBackend.prepare`). Outputs found in
    the folder are checked to be this job's (structure, composition, atom order, charge) before
    they are used; the document records the settings the run used (its INCAR)."""
    def body(doc, folder: Path):
        if not _has_outputs(folder, job):
            extra = {"relax_cell": cell} if job == "relax" and cell is not None else {}
            if defect:
                extra["defect"] = True
            backend.prepare(job, atoms, folder, charge=charge, **extra)
            backend.execute(folder, job)
        else:
            doc["data"]["parsed_existing_outputs"] = True
        record_run(doc, backend.parse(job, folder, expected=atoms, charge=charge))
    return body


def vasp_neb_body(initial: Atoms, final: Atoms, backend, n_images: int):
    """Job body for a VASP NEB: IDPP images between the given (relaxed) endpoints, the standard
    00..NN+1 layout, climbing image (VTST), parsed barriers (image folders checked to hold the
    endpoints' atoms, see :func:`pvatoms.calc.vasp_parse.parse_neb`)."""
    def body(doc, folder: Path):
        if not _has_outputs(folder, "neb"):
            images = [initial.copy()] + [initial.copy() for _ in range(n_images)] + [final.copy()]
            NEB(images, method="improvedtangent").interpolate(method="idpp", mic=True)
            backend.prepare("neb", None, folder, images=images)
            backend.execute(folder, "neb")
        else:
            doc["data"]["parsed_existing_outputs"] = True
        record_run(doc, backend.parse("neb", folder, expected=(initial, final)))
    return body
