"""The shared life cycle of every job: skip if completed, record, time, fail softly, save atomically.

A job body is a function ``body(doc, folder)`` that fills the result document. :func:`run_job`
writes ``result.json`` with status ``running`` first, then ``completed`` or ``failed`` with the
reason (also on Ctrl-C and SIGTERM, :mod:`pvatoms.jobs.interrupts`). A crashed calculation does not raise: the failure is in the document, so the other jobs of
a study go on. Bad input (:class:`~pvatoms.errors.InputError`) still raises, before anything runs.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Callable

from ase import Atoms

from pvatoms import schema
from pvatoms.errors import InputError
from pvatoms.jobs.interrupts import reason as interrupt_reason, sigterm_interrupts
from pvatoms.io import non_finite_paths, null_non_finite, to_jsonable


def run_job(job: str, folder, atoms: Atoms | None, backend, body: Callable[[dict, Path], None],
            settings: dict | None = None, force: bool = False, restart_files: tuple = ()) -> dict:
    """Run ``body`` for ``job`` in ``folder`` unless a completed result of the same input exists.

    ``settings`` (JSON-able) are recorded under ``doc['data']['settings']`` and enter the
    structure hash, so the same folder with different settings is refused rather than reused.
    A damaged ``result.json`` is reported (:class:`InputError`); with ``force`` it is renamed
    ``result.json.damaged-<time>`` and the job recomputed. NaN/Inf in the finished document are
    written as null and the job recorded as failed, naming where they were. ``restart_files``
    (names in ``folder``, e.g. ``relax.traj``) are what a rerun of an unfinished job continues
    from: see :func:`previous_result`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    settings = dict(settings or {})
    info = backend.info() if backend is not None else {"name": None}
    doc = schema.new_document(job, info, atoms, settings)
    if atoms is not None:
        doc["structure_hash"] = schema.structure_hash(atoms, {"job": job, "backend": _hash_backend(info),
                                                               "settings": settings})
    doc["data"]["settings"] = settings
    old = previous_result(folder, doc, force, restart_files)
    if old is not None:
        return old
    schema.save(doc, folder)
    t0 = time.perf_counter()
    try:
        with sigterm_interrupts():
            body(doc, folder)
        doc["status"] = "completed"
    except InputError as exc:
        doc["status"], doc["reason"] = "failed", f"bad input: {exc}"
        doc["wall_time"] = time.perf_counter() - t0
        schema.save(null_non_finite(doc), folder)
        raise
    except KeyboardInterrupt as exc:                # Ctrl-C, or SIGTERM (interrupts.Terminated)
        doc["status"], doc["reason"] = "failed", interrupt_reason(exc)
        doc["wall_time"] = time.perf_counter() - t0
        schema.save(null_non_finite(doc), folder)
        raise
    except Exception as exc:  # a crashed calculation is recorded, not raised
        doc["status"] = "failed"
        doc["reason"] = f"{type(exc).__name__}: {exc}"
        doc["data"]["traceback"] = traceback.format_exc(limit=8)
    doc["wall_time"] = time.perf_counter() - t0
    doc = finite_or_failed(doc)
    schema.save(doc, folder)
    return doc


def previous_result(folder: Path, doc: dict, force: bool = False, restart_files: tuple = ()) -> dict | None:
    """The completed result in ``folder`` that stands for ``doc`` (same structure and settings),
    or None when the job is to run.

    A damaged ``result.json`` is reported (:class:`InputError`), or with ``force`` kept aside. A
    completed result of another structure or settings is refused unless ``force``. The
    ``restart_files`` of an earlier, unfinished run are continued only when that run was the same
    calculation: the same job, input structure and backend, and settings that differ at most in
    :data:`RESUMABLE_CHANGES` (a longer step limit, other criteria). With ``force``, or after
    another calculation, they are renamed ``NAME.set-aside-<UTC time>`` (nothing deleted;
    recorded in ``doc['data']['set_aside']``) and the job starts afresh.
    """
    try:
        old = schema.load(folder)
    except InputError as exc:                 # torn / truncated / foreign result.json
        if not force:
            raise InputError(f"{exc}. The job folder {folder} is damaged: rerun with --force "
                             "(force=True) to recompute it (the damaged file is kept aside)") from None
        _keep_aside(folder / schema.RESULT_FILE)
        old = None
    if old is not None and not force and old.get("status") == "completed":
        if old.get("structure_hash") not in (None, doc["structure_hash"]):
            raise InputError(f"{folder} already holds a completed {old.get('job')} of a different "
                             "structure or settings; use another folder (or force=True to redo it)")
        return old
    if force or (old is not None and _other_input(old, doc)):
        moved = [p.name for p in (_keep_aside(folder / n, "set-aside") for n in restart_files) if p]
        if moved:
            doc["data"]["set_aside"] = moved
    return None


#: Settings a rerun may change and still continue an unfinished run: the step limit and the criteria.
RESUMABLE_CHANGES = ("steps", "fmax", "smax", "endpoint_fmax")


def _other_input(old: dict, doc: dict) -> bool:
    """Whether an earlier document in the folder is another calculation than ``doc``: another
    job, backend (model, settings), input structure, or settings beyond :data:`RESUMABLE_CHANGES`
    (``doc['data']['settings']``; an earlier document without settings is compared by structure)."""
    if old.get("job") != doc.get("job") or to_jsonable(_hash_backend(old.get("backend") or {})) != to_jsonable(
            _hash_backend(doc.get("backend") or {})):
        return True
    kept = [(old.get("data") or {}).get("settings"), (doc.get("data") or {}).get("settings")]
    if None not in kept:
        a, b = (to_jsonable({k: v for k, v in s.items() if k not in RESUMABLE_CHANGES}) for s in kept)
        if a != b:
            return True
    a, b = old.get("input_structure"), doc.get("input_structure")
    if not a or not b:
        return False
    return schema.structure_hash(schema.atoms_from_dict(a)) != schema.structure_hash(schema.atoms_from_dict(b))


def finite_or_failed(doc: dict) -> dict:
    """NaN/Inf are no result: written as null, and a completed job becomes failed, naming where
    (the first five places); a job that failed already keeps its reason and gets a note."""
    bad = non_finite_paths(doc)
    if not bad:
        return doc
    doc = null_non_finite(doc)
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    note = f"non-finite numbers in the result, written as null: {', '.join(bad[:5])}{more}"
    if doc["status"] == "completed":
        doc["status"], doc["reason"] = "failed", note + " (the calculation diverged or is undefined)"
    else:
        doc["data"]["non_finite"] = note
    return doc


def _keep_aside(path: Path, tag: str = "damaged") -> Path | None:
    """Rename a file to ``NAME.<tag>-<UTC time>`` (nothing is deleted); None if there is none."""
    if not path.is_file():
        return None
    stem = f"{path.name}.{tag}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    dest, n = path.with_name(stem), 1
    while dest.exists():                      # two in one second: never over an earlier one
        dest, n = path.with_name(f"{stem}.{n}"), n + 1
    path.replace(dest)
    return dest


def _hash_backend(info: dict) -> dict:
    """The parts of the backend description that change the numbers (not the device)."""
    return {k: info.get(k) for k in ("name", "model", "settings")}
