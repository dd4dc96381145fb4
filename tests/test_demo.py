"""`pvatoms demo --quick` end to end: interrupted, resumed without losing finished calculations,
then rerun in seconds; the report holds every section with provenance and the overhead figure."""

import json
import signal
import subprocess
import time

import pytest

from conftest import PVATOMS
from pvatoms.fw.operations import status
from pvatoms.fw.launchpads import Target

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    from pathlib import Path
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    from pathlib import Path
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _ctrl_c_as_in_a_terminal():
    """In the child before exec: SIGINT back to its default. A suite started in the background
    (``./run.sh test &``) inherits SIGINT ignored, as the shell sets it for background jobs; the demo
    would then not see the Ctrl-C that this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_quick_demo_interrupt_resume_and_rerun(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(PVATOMS + ["demo", "--quick", "-o", str(run)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_ctrl_c_as_in_a_terminal)
    store = run / "store"

    def completed():
        if not (store / "launchpad.json").exists():
            return 0
        return sum(f["state"] == "COMPLETED" for f in status(Target(store))["fireworks"])

    t0 = time.time()
    while completed() < 5:
        assert proc.poll() is None, "demo ended before it could be interrupted"
        assert time.time() - t0 < 600
        time.sleep(0.5)
    helpers = _children(proc.pid)                       # the second launcher
    assert helpers
    proc.send_signal(signal.SIGINT)                     # Ctrl-C
    proc.wait(timeout=120)
    t0 = time.time()                                    # ... which stops with the demo, not orphaned
    while any(_alive(pid) for pid in helpers):
        assert time.time() - t0 < 10, "a helper launcher outlived the interrupted demo"
        time.sleep(0.2)
    before = {f["fw_id"]: f for f in status(Target(store))["fireworks"] if f["state"] == "COMPLETED"}
    assert len(before) >= 5

    out = subprocess.run(PVATOMS + ["demo", "--quick", "-o", str(run), "--json"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    after = {f["fw_id"]: f for f in status(Target(store))["fireworks"]}
    assert all(f["state"] == "COMPLETED" for f in after.values()), after
    for fw_id in before:                                 # nothing finished was lost or redone
        assert after[fw_id]["launches"] == 1 and after[fw_id]["reruns"] == 0
    assert not doc["failed"]
    report = (run / "REPORT.md").read_text()
    for heading in ("## 1. Structures", "## 2. Charged-defect formation energies (DFT)",
                    "## 3. Neutral-vacancy screening", "## 4. V_Br migration", "## 5. Electronic structure",
                    "## 6. What this means"):
        assert heading in report
    assert "not formation energies of charged defects" in report and "PBE//CHGNet 0.3.0" in report
    assert "Not available" not in report
    assert "chgnet CHGNet 0.3.0" in report and "gpaw" in report and "pipeline overhead" in report
    assert (run / "report.html").read_text().count("<table>") >= 4
    assert (run / "figures" / "interface.png").is_file()
    facts = doc["facts"]
    charged = facts["charged"]                          # the charged DFT table feeds the paragraph
    assert {(r["defect"], r["q"]) for r in charged["rows"]} == {
        ("V_Br_8d", 1), ("V_Br_8d", 0), ("V_Pb_4b", -2), ("V_Pb_4b", -1), ("V_Pb_4b", 0), ("V_Cs_4c", -1), ("V_Cs_4c", 0)}
    assert charged["natoms"] == 20 and 1.0 < charged["gap"] < 3.0 and charged["soc_shift"]["cbm"] < -0.5
    assert {r["state"] for r in charged["fermi"]} == {"equilibrium", "quenched"}
    assert "formation" not in facts and "screening" not in facts
    assert facts["neb"][0]["E_b forward (eV)"] > 0.05
    assert 1.2 < facts["gap"] < 2.2
    assert set(facts["localization"])

    t0 = time.time()
    again = subprocess.run(PVATOMS + ["demo", "--quick", "-o", str(run)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and time.time() - t0 < 60
    # the rerun computed nothing; the report keeps the overhead of the invocation that computed
    history = json.loads((run / "invocations.json").read_text())
    assert len(history) == 2 and history[-1]["calculations"] == 0 < history[0]["calculations"]
    totals = json.loads((run / "summary.json").read_text())["overhead_all_runs"]
    assert totals["invocations"] == 1 and totals["wall_time"] == pytest.approx(history[0]["wall_time"])
    assert "Over the 1 invocation(s) that computed" in (run / "REPORT.md").read_text()
