"""Firetasks: thin wrappers that run a pvatoms job and move its result document.

:class:`PvatomsJob` runs one job (relax, static, neb, phonons, band-edges) in its own folder. The
structure comes from the task (``structure``) or from a parent's result (``structure_from``: the
label of a parent firework), optionally transformed at run time (``transform``: supercell,
delete, substitute, insert, phonon displacement, vacancy hop), so that e.g. defect cells are cut
from the *relaxed* host. The result document is written to ``folder/result.json`` by the job,
stored (without the bulky arrays) in the launch's ``stored_data``, and a summary is pushed to the
children's spec under ``_pvatoms_results``. A failed calculation fizzles the firework with the
recorded reason; joins that set ``_allow_fizzled_parents`` go on with what finished.

:class:`PvatomsJoin` runs an analysis over the parents' results (phonon forces -> phonons; NEB
barriers -> table; defect energies -> formation energies; band-edge cubes -> localization).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fireworks import FiretaskBase, FWAction, explicit_serialize
from fireworks.features.dupefinder import DupeFinderBase

from pvatoms.results import atoms_from_dict, atoms_to_dict, load, write_json_atomic

RESULTS_KEY = "_pvatoms_results"
HASH_KEY = "_pvatoms_hash"
BULKY = ("forces", "images", "input_structure")


class JobFailed(RuntimeError):
    """A calculation ended with status failed (its reason is in the message and result.json)."""


@explicit_serialize
class PvatomsDupeFinder(DupeFinderBase):
    """Two fireworks are duplicates when their ``_pvatoms_hash`` (structure + job + backend +
    settings) is equal: a resubmitted study reuses finished launches instead of rerunning."""

    _fw_name = "PvatomsDupeFinder"

    def verify(self, spec1, spec2):
        return spec1.get(HASH_KEY) == spec2.get(HASH_KEY)

    def query(self, spec):
        return {f"spec.{HASH_KEY}": spec.get(HASH_KEY)}


def parent_results(fw_spec) -> dict:
    """Parents' result summaries by label."""
    return {r["label"]: r for r in fw_spec.get(RESULTS_KEY, [])}


def apply_transform(atoms, transform: list | None):
    """Apply run-time structure operations in order (see the module docstring)."""
    from pvatoms.build.common import make_supercell
    for step in transform or []:
        (kind, arg), = step.items()
        if kind == "supercell":
            atoms = make_supercell(atoms, arg)
        elif kind == "delete":
            atoms = atoms.copy()
            del atoms[sorted(int(i) for i in arg)]
        elif kind == "substitute":
            atoms = atoms.copy()
            for i, el in arg.items():
                atoms.symbols[int(i)] = el
        elif kind == "insert":
            from ase import Atoms
            atoms = atoms.copy()
            for item in arg:
                new = Atoms(item["symbol"], scaled_positions=[item["frac"]], cell=atoms.cell, pbc=True)
                for key in atoms.arrays:
                    if key not in ("numbers", "positions"):
                        new.arrays[key] = np.array([atoms.arrays[key][0]], dtype=atoms.arrays[key].dtype)
                k = int(item["index"])
                info = dict(atoms.info)
                atoms = atoms[:k] + new + atoms[k:]
                atoms.info = info
        elif kind == "phonon_displacement":
            from pvatoms.jobs.phonons import phonon_displacements
            _, cells = phonon_displacements(atoms, arg["supercell"], displacement=arg["displacement"])
            atoms = cells[int(arg["index"])]
        elif kind == "provenance":                  # name what the transforms made (e.g. the defect)
            atoms.info["provenance"] = dict(arg, parent=atoms.info.get("provenance"))
        elif kind == "vacancy_hop":
            from pvatoms.jobs.neb import vacancy_hop
            initial, final = vacancy_hop(atoms, int(arg["from"]), int(arg["to"]))
            atoms = initial if arg["endpoint"] == "initial" else final
        else:
            raise ValueError(f"unknown transform {kind!r}")
    return atoms


def _structure(params: dict, fw_spec, key: str = "structure"):
    if params.get(key) is not None:
        atoms = atoms_from_dict(params[key])
    else:
        label = params.get(f"{key}_from")
        results = parent_results(fw_spec)
        if label not in results:
            raise ValueError(f"no parent result labelled {label!r} (have: {sorted(results)})")
        atoms = atoms_from_dict(results[label]["structure"])
    return apply_transform(atoms, params.get(f"{key}_transform") or params.get("transform"))


def summary_of(doc: dict, label: str, folder) -> dict:
    """What children receive from a job: label, folder, status, energies, final structure,
    backend, band edges, the scalar part of ``data``."""
    data = {k: v for k, v in (doc.get("data") or {}).items() if isinstance(v, (int, float, str, bool))}
    for key in ("barrier_forward", "barrier_backward", "hop_distance", "moving_element"):
        if key in (doc.get("data") or {}):
            data[key] = doc["data"][key]
    return {"label": label, "folder": str(folder), "job": doc.get("job"), "status": doc.get("status"),
            "reason": doc.get("reason"), "energy": doc.get("energy"),
            "energy_per_atom": doc.get("energy_per_atom"), "structure": doc.get("structure"),
            "backend": doc.get("backend"), "band_edges": doc.get("band_edges"), "data": data,
            "structure_hash": doc.get("structure_hash")}


def trimmed(doc: dict) -> dict:
    """The result document without per-atom arrays and images (those stay in result.json)."""
    out = {k: v for k, v in doc.items() if k not in BULKY}
    out["trimmed"] = [k for k in BULKY if doc.get(k) is not None]
    return out


@explicit_serialize
class PvatomsJob(FiretaskBase):
    """Run one pvatoms job. Parameters: ``job``, ``folder`` (absolute), ``backend``,
    ``backend_settings``, ``job_settings``, ``label``; ``structure`` or ``structure_from`` (+
    ``transform``); for NEB ``initial``/``final`` the same way (``initial_from``,
    ``initial_transform``, ...)."""

    _fw_name = "PvatomsJob"
    required_params = ["job", "folder", "backend", "label"]
    optional_params = ["structure", "structure_from", "transform", "backend_settings", "job_settings",
                       "initial", "initial_from", "initial_transform", "final", "final_from",
                       "final_transform"]

    def run_task(self, fw_spec):
        from pvatoms import jobs
        from pvatoms.calc import get_backend
        from pvatoms.jobs.band_edges import run_band_edges

        params = dict(self)
        backend = get_backend(params["backend"], **(params.get("backend_settings") or {}))
        folder = Path(params["folder"])
        settings = dict(params.get("job_settings") or {})
        job = params["job"]
        if job == "neb":
            doc = jobs.neb(_structure(params, fw_spec, "initial"), _structure(params, fw_spec, "final"),
                           folder, backend=backend, **settings)
        else:
            atoms = _structure(params, fw_spec)
            func = {"relax": jobs.relax, "static": jobs.static, "phonons": jobs.phonons,
                    "band-edges": run_band_edges}[job]
            doc = func(atoms, folder, backend=backend, **settings)
        if doc["status"] != "completed":
            raise JobFailed(f"{params['label']}: {job} failed: {doc['reason']} (see {folder}/result.json)")
        return FWAction(stored_data={"result": trimmed(doc)},
                        mod_spec=[{"_push": {RESULTS_KEY: summary_of(doc, params["label"], folder)}}])


@explicit_serialize
class PvatomsJoin(FiretaskBase):
    """An analysis over the parents' results. ``kind``: 'phonons' (displacement forces ->
    phonons), 'table' (collect all parents' summaries into results.json / a table), or a kind
    registered in :data:`pvatoms.fw.joins.JOINS`. ``folder``: where the analysis writes."""

    _fw_name = "PvatomsJoin"
    required_params = ["kind", "folder", "label"]
    optional_params = ["settings"]

    def run_task(self, fw_spec):
        from pvatoms.fw.joins import JOINS
        folder = Path(self["folder"])
        folder.mkdir(parents=True, exist_ok=True)
        results = parent_results(fw_spec)
        doc = JOINS[self["kind"]](results, folder, **(self.get("settings") or {}))
        write_json_atomic(folder / "analysis.json", doc)
        push = {"label": self["label"], "folder": str(folder), "job": f"join:{self['kind']}",
                "status": doc.get("status", "completed"), "structure": doc.get("structure"),
                "data": {k: v for k, v in doc.items() if isinstance(v, (int, float, str, bool))}}
        return FWAction(stored_data={"analysis": _small(doc)}, mod_spec=[{"_push": {RESULTS_KEY: push}}])


def _small(doc: dict, limit: int = 200_000) -> dict:
    import json
    text = json.dumps(doc, default=str)
    return doc if len(text) < limit else {"note": "large analysis kept on disk", "keys": sorted(doc)}


__all__ = ["PvatomsJob", "PvatomsJoin", "PvatomsDupeFinder", "apply_transform", "load", "atoms_to_dict"]
