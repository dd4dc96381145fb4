"""Real queue submission: `pvatoms qlaunch` through FireWorks' CommonAdapter to a single-node SLURM
started on this machine (scripts/slurm_localhost.sh, Debian's slurm-wlm + munge). The job must
reach COMPLETED and its result must be visible to a new process reading the LaunchPad."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PVATOMS

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm():
    if shutil.which("sinfo") and subprocess.run(["sinfo", "-h"], capture_output=True).returncode == 0:
        return
    if os.geteuid() != 0:
        pytest.skip("SLURM is not running and starting it needs root (scripts/slurm_localhost.sh setup)")
    proc = subprocess.run([str(REPO / "scripts" / "slurm_localhost.sh"), "setup"], capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"SLURM could not be started here: {proc.stderr.strip().splitlines()[-1:]}")


def test_qlaunch_runs_a_firework_through_slurm(slurm, tmp_path):
    spec = tmp_path / "one.yaml"
    spec.write_text("study: smoke\nname: queue\nbackend: chgnet\njob: static\nstructures:\n"
                    "  cubic: {builder: cspbbr3, phase: cubic}\n")
    store = tmp_path / "store"
    run = lambda *a: subprocess.run(PVATOMS + [str(x) for x in a], cwd=tmp_path, capture_output=True,  # noqa: E731
                                    text=True, timeout=300)
    assert run("submit", spec, "--store", store).returncode == 0
    out = run("qlaunch", "--store", store, "--queue", REPO / "workflows" / "queue" / "slurm.yaml", "--json")
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)["jobs"][0]
    job_id = job["job_id"]
    t0 = time.time()
    while subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True).stdout.strip():
        assert time.time() - t0 < 300, "SLURM job did not finish within 300 s"
        time.sleep(1)
    info = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
    assert "JobState=COMPLETED" in info, info + "".join(p.read_text() for p in Path(job["folder"]).glob("*.error"))
    status = json.loads(run("status", "--store", store, "--json").stdout)
    assert status["counts"] == {"COMPLETED": 1}
    result = json.loads((tmp_path / "runs" / "queue" / "cubic" / "result.json").read_text())
    assert result["status"] == "completed" and result["backend"]["name"] == "chgnet"
