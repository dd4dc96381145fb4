"""Execute one node of a study graph: a step (one job in its folder) or an analysis.

Both executors take the node's parameters (:meth:`Step.params` / :meth:`Analysis.params`, the
same mappings FireWorks stores) and the summaries of the parents' results by label
(:func:`summary_of`), so the local runner and the FireWorks tasks run identical code.
"""

from __future__ import annotations

from pathlib import Path

from pvatoms.schema import atoms_from_dict
from pvatoms.studies.transforms import apply_transform

#: per-atom arrays and images stay in result.json; summaries and stored data leave them out
BULKY = ("forces", "images", "input_structure")


class StepFailed(RuntimeError):
    """A calculation ended with status failed (its reason is in the message and result.json)."""


def step_structure(params: dict, parents: dict, key: str = "structure"):
    """The structure of input ``key`` (``structure``, ``initial``, ``final``): given, or the
    parent's final structure, then the run-time transform."""
    if params.get(key) is not None:
        atoms = atoms_from_dict(params[key])
    else:
        label = params.get(f"{key}_from")
        if label not in parents:
            raise ValueError(f"no parent result labelled {label!r} (have: {sorted(parents)})")
        parent = parents[label]
        atoms = atoms_from_dict(parent["structure"])
        level = parent.get("level_of_theory") or {}
        if level.get("geometry"):
            atoms.info["geometry_method"] = level["geometry"]    # where this geometry was relaxed
    transform = params.get(f"{key}_transform") if key != "structure" else None
    return apply_transform(atoms, transform or params.get("transform"))


def run_step(params: dict, parents: dict) -> dict:
    """Run the job of a step; returns its result document. Raises :class:`StepFailed` when the
    calculation failed (the failure is recorded in ``result.json`` first)."""
    from pvatoms import jobs
    from pvatoms.calc import get_backend
    from pvatoms.jobs.band_edges import run_band_edges
    backend = get_backend(params["backend"], **(params.get("backend_settings") or {}))
    folder = Path(params["folder"])
    settings = dict(params.get("job_settings") or {})
    job = params["job"]
    if job == "neb":
        doc = jobs.neb(step_structure(params, parents, "initial"), step_structure(params, parents, "final"),
                       folder, backend=backend, **settings)
    else:
        func = {"relax": jobs.relax, "static": jobs.static, "phonons": jobs.phonons,
                "band-edges": run_band_edges}[job]
        doc = func(step_structure(params, parents), folder, backend=backend, **settings)
    if doc["status"] != "completed":
        raise StepFailed(f"{params['label']}: {job} failed: {doc['reason']} (see {folder}/result.json)")
    return doc


def summary_of(doc: dict, label: str, folder) -> dict:
    """What children receive from a step: label, folder, status, energies, final structure,
    backend, band edges and the scalar part of ``data``."""
    raw = doc.get("data") or {}
    data = {k: v for k, v in raw.items() if isinstance(v, (int, float, str, bool))}
    return {"label": label, "folder": str(folder), "job": doc.get("job"), "status": doc.get("status"),
            "reason": doc.get("reason"), "energy": doc.get("energy"),
            "energy_per_atom": doc.get("energy_per_atom"), "structure": doc.get("structure"),
            "backend": doc.get("backend"), "band_edges": doc.get("band_edges"), "data": data,
            "level_of_theory": doc.get("level_of_theory"),
            "structure_hash": doc.get("structure_hash")}


def trimmed(doc: dict) -> dict:
    """The result document without per-atom arrays and images (those stay in result.json)."""
    out = {k: v for k, v in doc.items() if k not in BULKY}
    out["trimmed"] = [k for k in BULKY if doc.get(k) is not None]
    return out


def run_analysis(params: dict, parents: dict) -> dict:
    """Run an analysis over the parents' results; writes ``analysis.json`` in its folder and
    returns the analysis document."""
    from pvatoms.io import write_json_atomic
    from pvatoms.studies.analyses import ANALYSES, roles_of
    folder = Path(params["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    kind = params["kind"]
    roles = roles_of(kind, params.get("roles"), params.get("settings") or {}, parents)
    doc = ANALYSES[kind](roles, folder, **(params.get("settings") or {}))
    write_json_atomic(folder / "analysis.json", doc)
    return doc


def analysis_summary(doc: dict, label: str, folder, kind: str) -> dict:
    """What children of an analysis receive (its scalar keys)."""
    return {"label": label, "folder": str(folder), "job": f"join:{kind}",
            "status": doc.get("status", "completed"), "structure": doc.get("structure"),
            "data": {k: v for k, v in doc.items() if isinstance(v, (int, float, str, bool))}}
