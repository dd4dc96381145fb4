"""The embedded LaunchPad under real processes: kill -9 of a launcher, two launchers at once, a
submission while a launcher runs, readers during writes. Uses workflows/smoke.yaml (six CHGNet
relaxations of 1-10 s each)."""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import bson.json_util
import pytest

from conftest import PVATOMS
from pvatoms.fw.operations import status
from pvatoms.fw.launchpads import Target
from pvatoms.fw.store import EmbeddedStore

SMOKE = Path(__file__).resolve().parents[1] / "workflows" / "smoke.yaml"
pytestmark = pytest.mark.slow


def states(store):
    """name -> (state, number of launches including the archived ones of reruns)."""
    return {f["name"]: (f["state"], f["launches"] + f["reruns"]) for f in status(Target(store))["fireworks"]}


def wait_for(pred, timeout=240, step=0.2):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def cli(*args, cwd, **kw):
    return subprocess.run(PVATOMS + [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, **kw)


def start_launcher(store, cwd):
    return subprocess.Popen(PVATOMS + ["launch", "--store", str(store), "--quiet"], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_kill_9_loses_no_finished_firework_and_the_interrupted_one_reruns(tmp_path):
    store = tmp_path / "store"
    assert cli("submit", SMOKE, "--store", store, cwd=tmp_path).returncode == 0
    proc = start_launcher(store, tmp_path)
    count = lambda s: sum(1 for st, _ in states(store).values() if st == s)  # noqa: E731
    wait_for(lambda: count("COMPLETED") >= 2 and count("RUNNING") == 1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after_kill = states(store)
    done_before = {n for n, (st, _) in after_kill.items() if st == "COMPLETED"}
    interrupted = [n for n, (st, _) in after_kill.items() if st == "RUNNING"]
    assert len(done_before) >= 2 and len(interrupted) == 1
    assert cli("launch", "--store", store, "--quiet", cwd=tmp_path).returncode == 0
    final = states(store)
    assert all(st == "COMPLETED" for st, _ in final.values())
    for name in done_before:
        assert final[name][1] == 1, f"{name} was finished before the kill and must not rerun"
    assert final[interrupted[0]][1] == 2                         # rerun once
    for name in final:
        assert (tmp_path / "runs" / "smoke" / name / "result.json").is_file()


def test_two_launchers_run_every_firework_exactly_once_and_readers_never_see_torn_files(tmp_path):
    store = tmp_path / "store"
    assert cli("submit", SMOKE, "--store", store, cwd=tmp_path).returncode == 0
    reads, errors, stop = [0], [], threading.Event()

    def reader():
        f = store / "launchpad.json"                 # the snapshot; the journal holds the rest
        while not stop.is_set():
            try:
                bson.json_util.loads(f.read_text())
                assert EmbeddedStore(store).read()["pvatoms"]["fireworks"]["documents"]
                reads[0] += 1
            except Exception as exc:  # a torn file would land here
                errors.append(repr(exc))
            time.sleep(0.01)

    t = threading.Thread(target=reader)
    t.start()
    procs = [start_launcher(store, tmp_path) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=600) == 0
    stop.set()
    t.join()
    final = states(store)
    assert len(final) == 6
    assert all(st == "COMPLETED" and n == 1 for st, n in final.values()), final
    with Target(store).launchpad(write=False) as lp:
        assert lp.launches.count_documents({}) == 6
    assert not errors and reads[0] > 20


def test_workflow_submitted_while_a_launcher_runs_is_not_lost(tmp_path):
    store = tmp_path / "store"
    assert cli("submit", SMOKE, "--store", store, cwd=tmp_path).returncode == 0
    proc = start_launcher(store, tmp_path)
    wait_for(lambda: any(st == "RUNNING" for st, _ in states(store).values()))
    extra = tmp_path / "extra.yaml"
    extra.write_text("study: smoke\nname: extra\nbackend: chgnet\njob: static\nstructures:\n"
                     "  cubic: {builder: cspbbr3, phase: cubic}\n  rp1: {builder: ruddlesden_popper, n: 1}\n")
    assert cli("submit", extra, "--store", store, cwd=tmp_path).returncode == 0
    assert proc.wait(timeout=600) == 0
    fws = status(Target(store))["fireworks"]
    assert len(fws) == 8 and all(f["state"] == "COMPLETED" for f in fws)
