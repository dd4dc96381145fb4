"""Run fireworks from the embedded store until none is ready.

The launcher hands FireWorks' own Rocket a :class:`TransactionalLaunchPad`: every LaunchPad call the
rocket makes (check out a firework, ping, record its result) is one short locked transaction on the
store, so the store is never held while a calculation runs, and every finished firework is on disk
the moment its result is recorded.

A firework whose launcher died (``kill -9``, a crash, a lost node) is found by the next launcher:
on the same host its process is gone; elsewhere it has not been pinged for ``expiration`` seconds.
It goes back to READY and reruns; its job sees the ``result.json`` of anything it had finished, so
no finished calculation is repeated.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from pvatoms.fw.store import EmbeddedStore

#: Seconds without news after which a launch on another host counts as lost.
DEFAULT_EXPIRATION = 4 * 3600
#: Collection of the embedded store that records which process runs which launch.
OWNERS = "pvatoms_launchers"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: Seconds between two heartbeats written to the store (a short firework writes none; lost runs on
#: this host are found by process id, on other hosts by the age of the last heartbeat).
PING_INTERVAL = 60.0


class TransactionalLaunchPad:
    """Stands in for a LaunchPad: each method call runs in its own store transaction.

    ``checkout_fw`` first sends fireworks of dead launchers back to READY, then checks out and
    records this process as the launch's owner, all in one transaction; ``complete_launch``
    records the result and clears the owner. ``counts`` holds the firework states seen in the
    last transaction (for progress displays) and ``last_state`` the state just recorded."""

    def __init__(self, store: EmbeddedStore, expiration: float = DEFAULT_EXPIRATION):
        self._store = store
        self._expiration = expiration
        self._last_ping = 0.0
        self.counts: dict = {}
        #: expected seconds of the fireworks not yet finished (``spec._pvatoms_cost``), kept only
        #: when ``track_cost`` is set (a progress display asked for it)
        self.pending_cost: float | None = None
        self.track_cost = False
        self.rerun_lost: list = []
        self.checked_out = None
        self.last_state = None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args, **kwargs):
            with self._store.launchpad() as lp:
                return getattr(lp, name)(*args, **kwargs)
        return call

    def get_logdir(self):
        """No log folder (the store's LaunchPad has none): answered without a transaction."""
        return None

    def _count(self, lp) -> None:
        self.counts = state_counts(lp)
        if self.track_cost:
            self.pending_cost = pending_cost(lp)

    def checkout_fw(self, fworker, launch_dir, fw_id=None, host=None, ip=None, state="RUNNING"):
        with self._store.launchpad() as lp:
            self.rerun_lost += recover_lost_runs(lp, self._expiration)
            fw, launch_id = checkout(lp, fworker, launch_dir, fw_id=fw_id, host=host, ip=ip, state=state)
            if fw is not None:
                lp.db[OWNERS].insert_one({"launch_id": launch_id, "fw_id": fw.fw_id, "pid": os.getpid(),
                                          "host": socket.gethostname(), "launch_dir": str(launch_dir),
                                          "started": time.time(), "seen": time.time()})
            self._count(lp)
        self.checked_out = fw
        self._last_ping = time.time()
        return fw, launch_id

    def ping_launch(self, launch_id, ptime=None, checkpoint=None):
        if checkpoint is None and time.time() - self._last_ping < PING_INTERVAL:
            return
        with self._store.launchpad() as lp:
            lp.ping_launch(launch_id, ptime=ptime, checkpoint=checkpoint)
            lp.db[OWNERS].update_one({"launch_id": launch_id}, {"$set": {"seen": time.time()}})
        self._last_ping = time.time()

    def complete_launch(self, launch_id, action=None, state="COMPLETED"):
        with self._store.launchpad() as lp:
            out = lp.complete_launch(launch_id, action, state)
            lp.db[OWNERS].delete_one({"launch_id": launch_id})
            self._count(lp)
        self.last_state = state
        return out


def state_counts(lp) -> dict:
    """Fireworks per state, from the store's index when there is one (no scan)."""
    store = getattr(lp.fireworks, "_store", None)
    counts = store.counts("state") if hasattr(store, "counts") else None
    if counts is None:
        counts = {}
        for fw in lp.fireworks.find({}, {"state": 1}):
            counts[fw["state"]] = counts.get(fw["state"], 0) + 1
    return counts


#: firework states that will not run again without being asked
DONE_STATES = ("COMPLETED", "FIZZLED", "DEFUSED", "ARCHIVED")


def pending_cost(lp) -> float:
    """Sum of the expected seconds (``spec._pvatoms_cost``, set by
    :func:`pvatoms.fw.workflows.to_workflow`) of the fireworks not in :data:`DONE_STATES`, the
    running ones included; fireworks without a cost count 1 s."""
    total = 0.0
    for fw in lp.fireworks.find({"state": {"$nin": list(DONE_STATES)}}, {"spec._pvatoms_cost": 1}):
        total += float((fw.get("spec") or {}).get("_pvatoms_cost") or 1.0)
    return total


def checkout(lp, fworker, launch_dir, fw_id=None, host=None, ip=None, state="RUNNING"):
    """``lp.checkout_fw`` with the firework chosen from the store's queue of READY fireworks.

    FireWorks picks the READY firework matching the worker's query with the highest
    ``spec._priority`` (ties: natural order) by sorting every READY firework; the embedded store
    keeps them in a heap and hands the chosen fw_id to FireWorks, which then does everything else
    as usual. A chosen firework that turns out to duplicate a finished one takes over its launch
    inside ``checkout_fw`` (which then returns nothing): the next one is tried, as FireWorks does.
    Without such a queue (another LaunchPad, FIFO/FILO ordering, odd priorities) FireWorks chooses."""
    from fireworks.core import launchpad as lp_module
    from mongomock.filtering import filter_applies
    from mongomock.helpers import patch_datetime_awareness_in_document
    store = getattr(lp.fireworks, "_store", None)
    queue = store.queue("state", "READY", "spec._priority") if fw_id is None and hasattr(store, "queue") else None
    if queue is None or queue.odd or lp_module.SORT_FWS:
        return lp.checkout_fw(fworker, launch_dir, fw_id=fw_id, host=host, ip=ip, state=state)
    query = dict(fworker.query)
    query["state"] = "READY"
    query = patch_datetime_awareness_in_document(query)
    docs = store._documents
    tried: set = set()
    while True:
        key = queue.best(lambda k: filter_applies(query, docs[k]), skip=tried)
        if key is None:
            return None, None
        tried.add(key)
        fw, launch_id = lp.checkout_fw(fworker, launch_dir, fw_id=docs[key]["fw_id"], host=host, ip=ip,
                                       state=state)
        if fw is not None:
            return fw, launch_id


def recover_lost_runs(lp, expiration: float = DEFAULT_EXPIRATION) -> list[int]:
    """Send fireworks whose launcher is gone back to READY; returns their fw_ids."""
    host = socket.gethostname()
    owners = lp.db[OWNERS]
    rerun = []
    for rec in list(owners.find({})):
        if rec["host"] == host:
            lost = not _pid_alive(rec["pid"])
        else:
            lost = time.time() - rec.get("seen", rec["started"]) > expiration
        if not lost:
            continue
        fw = lp.fireworks.find_one({"fw_id": rec["fw_id"]}, {"state": 1})
        if fw and fw["state"] in ("RUNNING", "RESERVED"):
            lp.rerun_fw(rec["fw_id"])
            rerun.append(rec["fw_id"])
        owners.delete_one({"launch_id": rec["launch_id"]})
    return rerun


def launch(store: EmbeddedStore, max_jobs: int | None = None, fworker_name: str | None = None,
           expiration: float = DEFAULT_EXPIRATION, on_event=None, wait: float | None = None) -> dict:
    """Run READY fireworks until none is left (or ``max_jobs`` ran). Returns
    ``{"ran": n, "completed": [fw_id...], "fizzled": [...], "rerun_lost": [...]}``.

    ``on_event(kind, info)`` is called with ``("start", {"fw_id", "name", "counts"})`` and
    ``("end", {"fw_id", "name", "state", "seconds", "counts"})`` (``counts``: fireworks per state
    in the store), e.g. for a progress display. When ``on_event.track_cost`` is true, both also
    carry ``cost`` (the firework's expected seconds) and ``pending_cost`` (of all unfinished
    fireworks in the store, whoever runs them).

    ``wait`` (s): when nothing is READY but other launchers still run fireworks (whose children
    may become READY), poll every ``wait`` seconds instead of stopping; stop when nothing runs.
    This is how several launchers share one study on one machine."""
    from fireworks import FWorker
    from fireworks.core.rocket import Rocket

    fworker = FWorker(name=fworker_name or f"pvatoms@{socket.gethostname()}")
    proxy = TransactionalLaunchPad(store, expiration)
    proxy.track_cost = bool(getattr(on_event, "track_cost", False))
    if on_event:
        real_checkout = proxy.checkout_fw

        def checkout_and_tell(*args, **kwargs):
            fw, launch_id = real_checkout(*args, **kwargs)
            if fw is not None:
                on_event("start", {"fw_id": fw.fw_id, "name": fw.name, "counts": dict(proxy.counts),
                                   "cost": fw.spec.get("_pvatoms_cost"), "pending_cost": proxy.pending_cost})
            return fw, launch_id
        proxy.checkout_fw = checkout_and_tell
    summary = {"ran": 0, "completed": [], "fizzled": [], "rerun_lost": proxy.rerun_lost}
    home = os.getcwd()
    with store.launchpad(write=False):        # a damaged store is reported before anything is made
        pass
    store.launches.mkdir(parents=True, exist_ok=True)
    while max_jobs is None or summary["ran"] < max_jobs:
        launch_dir = store.launches / f"launch_{os.getpid()}_{time.time_ns()}"
        launch_dir.mkdir()
        proxy.checked_out, proxy.last_state = None, None
        t0 = time.perf_counter()
        os.chdir(launch_dir)
        try:
            ran = _run_rocket(Rocket(proxy, fworker, None))
        finally:
            os.chdir(home)
        fw = proxy.checked_out
        if fw is None:                   # nothing READY
            _remove_if_empty(launch_dir)
            if wait and proxy.counts.get("RUNNING", 0) + proxy.counts.get("RESERVED", 0) > 0:
                time.sleep(float(wait))
                continue
            break
        state = proxy.last_state or ("COMPLETED" if ran else "FIZZLED")
        summary["ran"] += 1
        summary["completed" if state == "COMPLETED" else "fizzled"].append(fw.fw_id)
        if on_event:
            on_event("end", {"fw_id": fw.fw_id, "name": fw.name, "state": state,
                             "seconds": time.perf_counter() - t0, "counts": dict(proxy.counts),
                             "cost": fw.spec.get("_pvatoms_cost"), "pending_cost": proxy.pending_cost})
    return summary


def _run_rocket(rocket) -> bool:
    """Run a rocket in a daemon thread and wait for it. FireWorks' heartbeat thread inherits the
    daemon flag, so Ctrl-C (KeyboardInterrupt in this thread) ends the launcher at once instead of
    waiting an hour for the heartbeat; the interrupted firework is rerun by the next launcher."""
    import threading
    out: dict = {}

    def target():
        try:
            out["ran"] = rocket.run()
        except BaseException as exc:   # handed to the waiting thread
            out["error"] = exc

    worker = threading.Thread(target=target, name="pvatoms-rocket", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if "error" in out:
        raise out["error"]
    return bool(out.get("ran"))


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
