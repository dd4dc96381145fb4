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


class TransactionalLaunchPad:
    """Stands in for a LaunchPad: each method call runs in its own store transaction.

    ``checkout_fw`` also records this process as the owner of the launch and ``complete_launch``
    clears that record, in the same transactions."""

    def __init__(self, store: EmbeddedStore):
        self._store = store

    def __getattr__(self, name):
        def call(*args, **kwargs):
            with self._store.launchpad() as lp:
                return getattr(lp, name)(*args, **kwargs)
        return call

    def checkout_fw(self, fworker, launch_dir, fw_id=None, host=None, ip=None, state="RUNNING"):
        with self._store.launchpad() as lp:
            fw, launch_id = lp.checkout_fw(fworker, launch_dir, fw_id=fw_id, host=host, ip=ip, state=state)
            if fw is not None:
                lp.db[OWNERS].insert_one({"launch_id": launch_id, "fw_id": fw.fw_id, "pid": os.getpid(),
                                          "host": socket.gethostname(), "launch_dir": str(launch_dir),
                                          "started": time.time(), "seen": time.time()})
            return fw, launch_id

    def ping_launch(self, launch_id, ptime=None, checkpoint=None):
        with self._store.launchpad() as lp:
            lp.ping_launch(launch_id, ptime=ptime, checkpoint=checkpoint)
            lp.db[OWNERS].update_one({"launch_id": launch_id}, {"$set": {"seen": time.time()}})

    def complete_launch(self, launch_id, action=None, state="COMPLETED"):
        with self._store.launchpad() as lp:
            out = lp.complete_launch(launch_id, action, state)
            lp.db[OWNERS].delete_one({"launch_id": launch_id})
            return out


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
           expiration: float = DEFAULT_EXPIRATION, on_event=None) -> dict:
    """Run READY fireworks until none is left (or ``max_jobs`` ran). Returns
    ``{"ran": n, "completed": [fw_id...], "fizzled": [...], "rerun_lost": [...]}``.

    ``on_event(kind, info)`` is called with ``("start", {"fw_id", "name"})`` and
    ``("end", {"fw_id", "name", "state", "seconds"})``, e.g. for a progress display."""
    from fireworks import FWorker
    from fireworks.core.rocket import Rocket

    fworker = FWorker(name=fworker_name or f"pvatoms@{socket.gethostname()}")
    proxy = TransactionalLaunchPad(store)
    summary = {"ran": 0, "completed": [], "fizzled": [], "rerun_lost": []}
    home = os.getcwd()
    while max_jobs is None or summary["ran"] < max_jobs:
        with store.launchpad() as lp:
            summary["rerun_lost"] += recover_lost_runs(lp, expiration)
            nxt = lp.fireworks.find_one({"state": "READY"}, {"fw_id": 1, "name": 1},
                                        sort=[("spec._priority", -1), ("fw_id", 1)])
        if nxt is None:
            break
        launch_dir = store.launches / f"fw{nxt['fw_id']:05d}_{os.getpid()}_{time.time_ns()}"
        launch_dir.mkdir(parents=True, exist_ok=True)
        if on_event:
            on_event("start", {"fw_id": nxt["fw_id"], "name": nxt.get("name")})
        t0 = time.perf_counter()
        os.chdir(launch_dir)
        try:
            ran = Rocket(proxy, fworker, nxt["fw_id"]).run()
        finally:
            os.chdir(home)
        if not ran:                      # another launcher took it first
            _remove_if_empty(launch_dir)
            continue
        with store.launchpad(write=False) as lp:
            state = lp.fireworks.find_one({"fw_id": nxt["fw_id"]}, {"state": 1})["state"]
        summary["ran"] += 1
        summary["completed" if state == "COMPLETED" else "fizzled"].append(nxt["fw_id"])
        if on_event:
            on_event("end", {"fw_id": nxt["fw_id"], "name": nxt.get("name"), "state": state,
                             "seconds": time.perf_counter() - t0})
    return summary


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
