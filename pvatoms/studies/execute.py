"""Execute one node of a study graph: a step (one job in its folder, or a batch of relaxations or
single points, one folder per member: :func:`run_batch`) or an analysis.

Both executors take the node's parameters (:meth:`Step.params` / :meth:`Analysis.params`, the
same mappings FireWorks stores) and the summaries of the parents' results by label
(:func:`summary_of`), so the local runner and the FireWorks tasks run identical code.
"""

from __future__ import annotations

from pathlib import Path

from pvatoms.schema import atoms_from_dict, structure_of
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
        parent = parents.get(label) or member_summary(parents, label)
        if parent is None:
            raise ValueError(f"no parent result labelled {label!r} (have: {sorted(parents)})")
        if parent.get("status", "completed") != "completed":      # a member of a batch that failed
            raise StepFailed(f"parent {label} did not finish: {parent.get('reason')}")
        atoms = structure_of(parent)                 # with where its positions and cell were relaxed
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
    if job in BATCH_JOBS:
        return run_batch(params, parents, backend)
    if job == "neb":
        doc = jobs.neb(step_structure(params, parents, "initial"), step_structure(params, parents, "final"),
                       folder, backend=backend, **settings)
    else:
        func = {"relax": jobs.relax, "static": jobs.static, "phonons": jobs.phonons,
                "band-edges": run_band_edges, "dielectric": jobs.dielectric}[job]
        doc = func(step_structure(params, parents), folder, backend=backend, **settings)
    if doc["status"] != "completed":
        raise StepFailed(f"{params['label']}: {job} failed: {doc['reason']} (see {folder}/result.json)")
    return doc


#: batch steps (one firework for many structures; see :func:`pvatoms.studies.graph.batch_steps`)
BATCH_JOBS = {"relax-batch": "relax", "static-batch": "static"}


def member_summary(parents: dict, label: str) -> dict | None:
    """The summary of ``label`` when it is a member of one of the parents' batches, else None."""
    for p in parents.values():
        member = (p.get("members") or {}).get(label)
        if member is not None:
            return member
    return None


def with_members(parents: dict) -> dict:
    """The parents' summaries with every batch member's summary under its own label too."""
    out = dict(parents)
    for p in parents.values():
        for label, member in (p.get("members") or {}).items():
            out.setdefault(label, member)
    return out


def run_batch(params: dict, parents: dict, backend) -> dict:
    """Run a batch step: the members' structures (each given or from a parent, then transformed)
    through :func:`pvatoms.jobs.relax_batch` / :func:`~pvatoms.jobs.static_batch`, one result folder
    per member. Returns the batch document (also ``batch.json`` in the step's folder): ``members``
    maps each member's label to its summary (status ``failed`` with the reason for those that
    failed). Raises :class:`StepFailed` only when no member finished."""
    from pvatoms.io import write_json_atomic
    from pvatoms.jobs.batch import relax_batch, static_batch
    settings = dict(params.get("job_settings") or {})
    members = settings.pop("members")
    summaries, structures, folders, labels = {}, [], [], []
    for m in members:
        try:
            structures.append(step_structure(m, parents))
        except (StepFailed, ValueError) as exc:
            summaries[m["label"]] = {"label": m["label"], "folder": m["folder"], "status": "failed",
                                     "reason": str(exc)}
            continue
        folders.append(m["folder"])
        labels.append(m["label"])
    func = relax_batch if BATCH_JOBS[params["job"]] == "relax" else static_batch
    docs = func(structures, folders, backend=backend, **settings) if structures else []
    for doc, label, folder in zip(docs, labels, folders):
        summaries[label] = summary_of(trimmed(doc), label, folder)
    ordered = {m["label"]: summaries[m["label"]] for m in members}
    done = sum(1 for s in ordered.values() if s["status"] == "completed")
    batch = {"job": params["job"], "label": params["label"], "status": "completed" if done else "failed",
             "reason": None if done else "no member of the batch finished", "backend": backend.info(),
             "members": ordered, "energy": None, "structure": None,
             "data": {"members": len(members), "completed": done, "failed": len(members) - done}}
    folder = Path(params["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "batch.json", batch)
    if not done:
        raise StepFailed(f"{params['label']}: no member of the batch finished (see {folder}/batch.json)")
    return batch


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
            "structure_hash": doc.get("structure_hash"),
            **({"members": doc["members"]} if doc.get("members") is not None else {})}


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
    parents = with_members(parents)
    roles = roles_of(kind, params.get("roles"), params.get("settings") or {}, parents)
    doc = ANALYSES[kind](roles, folder, **(params.get("settings") or {}))
    write_json_atomic(folder / "analysis.json", doc)
    return doc


def analysis_summary(doc: dict, label: str, folder, kind: str) -> dict:
    """What children of an analysis receive (its scalar keys)."""
    return {"label": label, "folder": str(folder), "job": f"join:{kind}",
            "status": doc.get("status", "completed"), "structure": doc.get("structure"),
            "level_of_theory": doc.get("level_of_theory"),
            "data": {k: v for k, v in doc.items() if isinstance(v, (int, float, str, bool))}}
