"""SIGTERM (a batch system's time limit, ``kill``) during a job: the job is recorded as interrupted,
its trajectory is kept, the command exits 143, and the next run continues from the trajectory."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest
from ase.build import bulk
from ase.io import read, write

from conftest import PVATOMS
from pvatoms.jobs.interrupts import Terminated, reason, sigterm_interrupts


def test_sigterm_raises_terminated_in_the_main_thread_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    assert before is signal.SIG_DFL
    with pytest.raises(Terminated) as err:
        with sigterm_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)                              # the handler runs before this returns
    assert reason(err.value) == "interrupted (SIGTERM)" and err.value.exit_status == 143
    assert isinstance(err.value, KeyboardInterrupt)
    assert reason(KeyboardInterrupt()) == "interrupted (KeyboardInterrupt)"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_handler_the_program_installed_is_left_alone():
    seen = []
    old = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with sigterm_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old)


def test_outside_the_main_thread_nothing_is_installed():
    handlers = []

    def job():
        with sigterm_interrupts():
            handlers.append(signal.getsignal(signal.SIGTERM))

    t = threading.Thread(target=job)
    t.start()
    t.join()
    assert handlers == [signal.SIG_DFL]


@pytest.mark.slow
def test_a_gpaw_relaxation_killed_by_sigterm_records_why_and_resumes(tmp_path):
    atoms = bulk("CsBr", "rocksalt", a=6.9)            # a squeezed cell: forces on the rattled atoms
    atoms.rattle(0.08, seed=3)
    write(tmp_path / "POSCAR", atoms, format="vasp")
    folder = tmp_path / "relax"
    cmd = PVATOMS + ["run", "relax", str(tmp_path / "POSCAR"), "--backend", "gpaw", "--option", "ecut=150",
                     "--option", "kpts=[2,2,2]", "--fmax", "0.0001", "-o", str(folder)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd + ["--steps", "200"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    traj = folder / "relax.traj"
    t0 = time.time()
    while not (traj.is_file() and traj.stat().st_size > 0):
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.time() - t0 < 300
        time.sleep(0.2)
    assert json.loads((folder / "result.json").read_text())["status"] == "running"
    proc.send_signal(signal.SIGTERM)                     # as SLURM does at the time limit
    proc.wait(timeout=60)
    assert proc.returncode == 143, proc.stderr.read()[-2000:]
    doc = json.loads((folder / "result.json").read_text())
    assert doc["status"] == "failed" and doc["reason"] == "interrupted (SIGTERM)"
    assert doc["wall_time"] > 0
    frames = len(read(traj, index=":"))
    assert frames >= 1                                   # the steps done are kept

    again = subprocess.run(cmd + ["--steps", "2", "--json"], env=env, capture_output=True, text=True, timeout=600)
    doc = json.loads(again.stdout)
    assert doc["data"]["restarted_from_trajectory"] is True
    assert doc["reason"] != "interrupted (SIGTERM)"
    assert len(read(traj, index=":")) > frames
