"""The workflow operations behind ``pvatoms submit|launch|status|rerun|report|qlaunch``.

Each takes a :class:`~pvatoms.fw.launchpads.Target` (embedded store or MongoDB) and returns a
JSON-able dict; none prints a report (the command line does that). Used by the command line and
by :mod:`pvatoms.demo`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from pvatoms.errors import InputError
from pvatoms.fw.launchpads import Target
from pvatoms.fw.progress import Progress

STATES = ("READY", "WAITING", "RESERVED", "RUNNING", "COMPLETED", "FIZZLED", "DEFUSED", "PAUSED", "ARCHIVED")


def submit(spec_path, target: Target, folder=None) -> dict:
    """Add the workflow of a study spec. Fireworks identical to finished ones (same structure,
    job, backend and settings) are not recomputed: they take over the finished launches."""
    from pvatoms.fw.workflows import build_workflow, load_spec
    spec = load_spec(spec_path, folder)
    _check_settings(spec)
    wf, notes = build_workflow(spec)
    with target.launchpad() as lp:
        old_new = lp.add_wf(wf)
    ids = sorted(old_new.values())
    return {"workflow": wf.name, "fw_ids": ids, "n_fireworks": len(ids), "notes": notes,
            "folder": wf.metadata["folder"], "launchpad": target.describe()}


def _check_settings(spec: dict) -> None:
    """Refuse bad job settings and backend settings of a spec at submission, not at run time:
    the job functions' checks (:func:`pvatoms.jobs.common.check_job_settings`) and the backend's
    own (its constructor validates every number)."""
    from pvatoms.jobs.common import check_job_settings
    if isinstance(spec.get("job_settings"), dict):
        check_job_settings(spec["job_settings"])
    settings = spec.get("backend_settings")
    if isinstance(spec.get("backend"), str) and isinstance(settings, dict) and settings:
        from pvatoms.calc import get_backend
        try:
            get_backend(spec["backend"], **settings)
        except TypeError as exc:
            raise InputError(f"backend_settings: unknown setting for backend {spec['backend']!r}: {exc}") from None


def status(target: Target) -> dict:
    """Counts per state and one line per firework."""
    with target.launchpad(write=False) as lp:
        fws = list(lp.fireworks.find({}, {"fw_id": 1, "name": 1, "state": 1, "launches": 1,
                                          "archived_launches": 1, "updated_on": 1}).sort("fw_id", 1))
        wfs = list(lp.workflows.find({}, {"name": 1, "nodes": 1, "state": 1}))
    counts = {s: 0 for s in STATES}
    for fw in fws:
        counts[fw["state"]] = counts.get(fw["state"], 0) + 1
    return {"launchpad": target.describe(),
            "counts": {k: v for k, v in counts.items() if v},
            "workflows": [{"name": w["name"], "state": w.get("state"), "fireworks": len(w["nodes"])} for w in wfs],
            "fireworks": [{"fw_id": fw["fw_id"], "name": fw.get("name"), "state": fw["state"],
                           "launches": len(fw.get("launches") or []),
                           "reruns": len(fw.get("archived_launches") or [])} for fw in fws]}


def launch(target: Target, max_jobs: int | None = None, quiet: bool = False) -> dict:
    """Run READY fireworks locally until none is left; lost runs are rerun first. Returns
    ``{"ran", "completed", "fizzled" (fw ids of this launch), "rerun_lost", "failures"
    ({fw_id: "name: last line of the error"})}``; the command exits non-zero when ``fizzled`` is
    not empty. An OS error of the launcher itself (a full disk, say) is reported as
    :class:`InputError` naming it (finished fireworks stay recorded)."""
    import fireworks.core.rocket as rocket_module
    if max_jobs is not None:
        from pvatoms.io import check_integer
        check_integer("max_jobs", max_jobs, 1)
    rocket_module.ROCKET_STREAM_LOGLEVEL = "WARNING" if quiet else "INFO"   # FireWorks' own knob
    try:
        with contextlib.redirect_stdout(sys.stderr), contextlib.redirect_stderr(_TracebackFilter(sys.stderr)):
            if target.embedded:                           # FireWorks logs on stdout
                from pvatoms.fw.launcher import launch as embedded_launch
                out = embedded_launch(target.store, max_jobs=max_jobs, on_event=Progress(quiet))
            else:
                from fireworks import FWorker
                from fireworks.core.rocket_launcher import rapidfire
                with target.launchpad() as lp:
                    before = _fizzled_ids(lp)
                    lost = lp.detect_lostruns(rerun=True)
                    rapidfire(lp, FWorker(), nlaunches=max_jobs or 0, strm_lvl="INFO")
                    fizzled = sorted(_fizzled_ids(lp) - before)
                out = {"rerun_lost": list(lost[1]), "fizzled": fizzled}
    except OSError as exc:
        raise InputError(f"launch stopped by the system: {exc} (finished fireworks are recorded; free the "
                         "space or fix the cause, then run pvatoms launch again)") from None
    out["failures"] = _failures(target, out.get("fizzled") or [])
    return out


class _TracebackFilter:
    """stderr for the rockets: FireWorks prints the whole traceback of a failed task; the terminal
    gets its last line (the error) and the full traceback stays in the launch record
    (``stored_data._exception``, see ``pvatoms fw lpad get_launchdir`` / ``pvatoms status``)."""

    def __init__(self, stream):
        self.stream, self.skipping = stream, False

    def write(self, text: str) -> int:
        out = []
        for line in text.splitlines(keepends=True):
            if line.startswith("Traceback (most recent call last)"):
                self.skipping = True
            elif self.skipping and (line.startswith((" ", "\t")) or not line.strip()
                                    or line.startswith(("During handling", "The above exception"))):
                pass
            elif self.skipping:
                self.skipping = False
                out.append(f"fizzled: {line}")
            else:
                out.append(line)
        if out:
            self.stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _fizzled_ids(lp) -> set:
    return {fw["fw_id"] for fw in lp.fireworks.find({"state": "FIZZLED"}, {"fw_id": 1})}


def _failures(target: Target, fw_ids) -> dict:
    """{fw_id: "name: the last line of its error"} of fizzled fireworks (from their launches)."""
    if not fw_ids:
        return {}
    out = {}
    with target.launchpad(write=False) as lp:
        for fw_id in fw_ids:
            fw = lp.fireworks.find_one({"fw_id": fw_id}, {"name": 1, "launches": 1}) or {}
            reason = "no error recorded"
            if fw.get("launches"):
                launch = lp.launches.find_one({"launch_id": fw["launches"][-1]}, {"action": 1}) or {}
                trace = ((((launch.get("action") or {}).get("stored_data") or {}).get("_exception") or {})
                         .get("_stacktrace") or "")
                lines = [line for line in trace.strip().splitlines() if line.strip()]
                reason = lines[-1].strip() if lines else reason
            out[int(fw_id)] = f"{fw.get('name')}: {reason}"
    return out


def rerun(target: Target, fizzled: bool = False, fw_ids=()) -> dict:
    """Send FIZZLED fireworks (with ``fizzled``) and the given ids back to READY; returns
    ``{"rerun": ids}`` (empty when ``fizzled`` found none). InputError when neither is given."""
    if not fizzled and not fw_ids:
        raise InputError("nothing to rerun: give --fizzled or fw_ids")
    with target.launchpad() as lp:
        ids = list(fw_ids)
        if fizzled:
            ids += [fw["fw_id"] for fw in lp.fireworks.find({"state": "FIZZLED"}, {"fw_id": 1})]
        done = []
        for i in sorted(set(ids)):
            done += lp.rerun_fw(int(i))
    return {"rerun": sorted(set(done))}


def report(target: Target, outdir) -> dict:
    """Collect finished results into tables (CSV, Markdown, LaTeX) and list the analyses."""
    from pvatoms.analysis.tables import provenance_label, write_table
    outdir = Path(outdir)
    rows, analyses = [], []
    with target.launchpad(write=False) as lp:
        fws = list(lp.fireworks.find({"state": "COMPLETED"}, {"fw_id": 1, "name": 1, "launches": 1,
                                                               "spec": 1}))
        for fw in fws:
            if not fw.get("launches"):
                continue
            launch = lp.launches.find_one({"launch_id": fw["launches"][-1]}, {"action": 1})
            stored = ((launch or {}).get("action") or {}).get("stored_data") or {}
            if "result" in stored:
                r = stored["result"]
                rows.append({"fw_id": fw["fw_id"], "calculation": fw["name"], "job": r.get("job"),
                             "E (eV)": r.get("energy"), "E/atom (eV)": r.get("energy_per_atom"),
                             "gap (eV)": (r.get("band_edges") or {}).get("gap"),
                             "wall time (s)": r.get("wall_time"), "provenance": provenance_label(r)})
            elif "analysis" in stored:
                task = fw["spec"]["_tasks"][0]
                analyses.append({"fw_id": fw["fw_id"], "name": fw["name"], "kind": task.get("kind"),
                                 "folder": task.get("folder")})
    if not rows and not analyses:
        raise InputError(f"no completed results in {target.describe()} yet")
    files = write_table(rows, outdir / "results", caption="Calculations") if rows else {}
    return {"rows": rows, "analyses": analyses, "files": {k: str(v) for k, v in files.items()}}


def qlaunch(target: Target, queue_file, njobs: int = 1, launch_dir=None) -> dict:
    """Submit ``njobs`` queue jobs, each running one rocket on this LaunchPad (SLURM/PBS through
    FireWorks' CommonAdapter). Embedded store: the rocket is ``pvatoms launch --store PATH
    --max-jobs 1``; MongoDB: ``rlaunch -l FILE singleshot``."""
    from fireworks.utilities.fw_serializers import load_object_from_file
    qfile = Path(queue_file)
    if not qfile.is_file():
        raise InputError(f"queue template {str(qfile)!r} not found (see workflows/queue/)")
    qa = load_object_from_file(str(qfile))
    exe = Path(sys.executable).parent / "pvatoms"
    if target.embedded:
        qa["rocket_launch"] = f"{exe} launch --store {target.store.path} --max-jobs 1 --quiet"
    else:
        qa["rocket_launch"] = f"{Path(sys.executable).parent / 'rlaunch'} -l {Path(target.launchpad_file).resolve()} singleshot"
    base = Path(launch_dir or (target.store.path / "queue" if target.embedded else "queue")).resolve()
    jobs = []
    for k in range(njobs):
        d = base / f"block_{time.strftime('%Y%m%d-%H%M%S')}_{os.getpid()}_{k}"
        d.mkdir(parents=True, exist_ok=True)
        script = d / "submit.sh"
        script.write_text(qa.get_script_str(str(d)))
        cwd = os.getcwd()
        os.chdir(d)
        try:
            with contextlib.redirect_stdout(sys.stderr):      # the adapter logs on stdout
                job_id = qa.submit_to_queue(str(script))
        finally:
            os.chdir(cwd)
        if job_id is None:
            raise InputError(f"the queue refused the job ({qa.q_type}); see {d} and the queue's message above")
        jobs.append({"job_id": str(job_id), "folder": str(d)})
    return {"queue": qa.q_type, "jobs": jobs, "rocket_launch": qa["rocket_launch"]}
