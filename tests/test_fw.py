"""The FireWorks layer: study specs -> workflows, the embedded store, status/report/rerun, the
MongoDB path without a server, FireWorks' own tools on the store."""

import json
import time
from pathlib import Path

import pytest

from pvatoms.errors import InputError
from pvatoms.fw.operations import launch, report, rerun, status, submit
from pvatoms.fw.launchpads import Target, load_mongo_launchpad
from pvatoms.fw.store import EmbeddedStore
from pvatoms.fw.workflows import build_workflow, load_spec

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"


def write_spec(path, **kw):
    import yaml
    spec = {"study": "smoke", "name": "t", "backend": "chgnet", "job": "static",
            "structures": {"pnma": {"builder": "cspbbr3"}, "cubic": {"builder": "cspbbr3", "phase": "cubic"}}}
    spec.update(kw)
    path.write_text(yaml.safe_dump(spec))
    return path


def test_smoke_spec_has_six_independent_fireworks():
    wf, notes = build_workflow(load_spec(WORKFLOWS / "smoke.yaml"))
    assert len(wf.fws) >= 6 and not notes
    assert all(not wf.links[fw.fw_id] for fw in wf.fws)          # independent
    hashes = {fw.spec["_pvatoms_hash"] for fw in wf.fws}
    assert len(hashes) == len(wf.fws)


def test_neb_and_phonon_studies_fan_out_and_join():
    wf, _ = build_workflow(load_spec(WORKFLOWS / "neb.yaml"))
    names = {fw.fw_id: fw.name for fw in wf.fws}
    relax = next(i for i, n in names.items() if n == "host-relax")
    nebs = [i for i, n in names.items() if "V_Br" in n]
    join = next(i for i, n in names.items() if n == "barriers")
    assert len(nebs) == 2 and set(wf.links[relax]) == set(nebs)
    assert all(wf.links[i] == [join] for i in nebs)
    wf, _ = build_workflow(load_spec(WORKFLOWS / "phonons.yaml"))
    disp = [fw for fw in wf.fws if fw.name.startswith("disp-")]
    assert len(disp) == 3                                         # cubic CsPbBr3: Cs, Pb, Br displaced
    wf, _ = build_workflow(load_spec(WORKFLOWS / "band-edges.yaml"))
    assert [fw.name for fw in sorted(wf.fws, key=lambda f: -f.fw_id)] == ["relax", "static", "band-edges", "localization"]
    spec = load_spec(WORKFLOWS / "band-edges.yaml")
    spec["static"] = False
    wf, _ = build_workflow(spec)
    assert [fw.name for fw in sorted(wf.fws, key=lambda f: -f.fw_id)] == ["relax", "band-edges", "localization"]


def test_bad_specs_fail_clearly(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="valid choices: smoke, defects, neb, phonons, band-edges"):
        build_workflow(load_spec(write_spec(tmp_path / "a.yaml", study="md")))
    with pytest.raises(InputError, match="valid choices: sevennet, chgnet"):
        build_workflow(load_spec(write_spec(tmp_path / "b.yaml", backend="mace")))
    with pytest.raises(InputError, match="builder"):
        build_workflow(load_spec(write_spec(tmp_path / "c.yaml", structures={"x": {"phase": "pnma"}})))


def test_submit_launch_status_report_and_duplicates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = Target(tmp_path / "store")
    spec = write_spec(tmp_path / "s.yaml")
    out = submit(spec, target)
    assert out["n_fireworks"] == 2 and Path(out["folder"]) == tmp_path / "runs" / "t"
    st = status(target)
    assert st["counts"] == {"READY": 2}
    assert {f["name"] for f in st["fireworks"]} == {"pnma", "cubic"}
    summary = launch(target, quiet=True)
    assert sorted(summary["completed"]) == [1, 2] and not summary["fizzled"]
    for name in ("pnma", "cubic"):
        doc = json.loads((tmp_path / "runs" / "t" / name / "result.json").read_text())
        assert doc["status"] == "completed" and doc["backend"]["name"] == "chgnet"
    # the result document also lives in FireWorks (stored_data), without per-atom arrays
    with target.launchpad(write=False) as lp:
        launch_doc = lp.launches.find_one({"fw_id": 1})
        stored = launch_doc["action"]["stored_data"]["result"]
        assert stored["energy"] is not None and "forces" in stored["trimmed"]
    # resubmitting the same study: nothing is recomputed (duplicates take over finished launches)
    submit(spec, target)
    t0 = time.perf_counter()
    again = launch(target, quiet=True)
    assert time.perf_counter() - t0 < 10 and again["ran"] == 0
    st = status(target)
    assert st["counts"] == {"COMPLETED": 4}
    rep = report(target, tmp_path / "report")
    assert len(rep["rows"]) >= 2 and Path(rep["files"]["tex"]).read_text().count("chgnet") >= 2


def test_failed_firework_fizzles_with_reason_and_reruns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = Target(tmp_path / "store")
    spec = write_spec(tmp_path / "f.yaml", job="relax", job_settings={"fmax": 1e-6, "steps": 1},
                      structures={"pnma": {"builder": "cspbbr3", "rattle": 0.1}})
    submit(spec, target)
    out = launch(target, quiet=True)
    assert out["fizzled"] == [1]
    with target.launchpad(write=False) as lp:
        exc = lp.launches.find_one({"fw_id": 1})["action"]["stored_data"]["_exception"]["_stacktrace"]
    assert "relax failed" in exc and "within 1 steps" in exc
    assert rerun(target, fizzled=True)["rerun"] == [1]
    assert status(target)["counts"] == {"READY": 1}
    with pytest.raises(InputError, match="nothing to rerun"):
        rerun(Target(tmp_path / "empty"))


def test_mongodb_unreachable_is_reported_within_seconds(tmp_path):
    lp_file = tmp_path / "my_launchpad.yaml"
    lp_file.write_text("host: 127.0.0.1\nport: 9\nname: fireworks\n")
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"unreachable after \d s"):
        load_mongo_launchpad(lp_file, timeout_ms=1500)
    assert time.perf_counter() - t0 < 8
    with pytest.raises(InputError, match="not found"):
        load_mongo_launchpad(tmp_path / "none.yaml")


def test_cli_status_json_and_fireworks_tools(run_cli, tmp_path):
    spec = write_spec(tmp_path / "s.yaml")
    run_cli("submit", spec, "--store", "store")
    doc = json.loads(run_cli("status", "--store", "store", "--json").stdout)
    assert doc["counts"] == {"READY": 2}
    assert {"fw_id", "name", "state", "launches"} <= set(doc["fireworks"][0])
    # FireWorks' own lpad sees the same LaunchPad (and can change it, safely)
    out = run_cli("fw", "--store", "store", "lpad", "get_fws", "-d", "count").stdout
    assert out.strip().splitlines()[-1] == "2"
    run_cli("fw", "--store", "store", "lpad", "defuse_fws", "-i", "1")
    doc = json.loads(run_cli("status", "--store", "store", "--json").stdout)
    assert doc["counts"] == {"DEFUSED": 1, "READY": 1}
    table = run_cli("status", "--store", "store").stdout
    assert "DEFUSED" in table and "pnma" in table
    # PVATOMS_STORE is the default store
    import os
    import subprocess
    from conftest import PVATOMS
    env = dict(os.environ, PVATOMS_STORE=str(tmp_path / "store"))
    out = subprocess.run(PVATOMS + ["status", "--json"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert json.loads(out.stdout)["counts"] == {"DEFUSED": 1, "READY": 1}


def test_store_file_is_replaced_atomically(tmp_path):
    store = EmbeddedStore(tmp_path / "s")
    store.ensure()
    with store.launchpad() as lp:
        assert lp.fireworks.count_documents({}) == 0
    before = store.file.stat().st_ino
    with pytest.raises(RuntimeError):
        with store.launchpad() as lp:
            lp.fireworks.insert_one({"fw_id": 99})
            raise RuntimeError("crash inside a transaction")
    assert store.file.stat().st_ino == before                      # nothing written
    with store.launchpad(write=False) as lp:
        assert lp.fireworks.count_documents({}) == 0
    assert not list(store.path.glob(".*.tmp"))


def test_phonon_study_fans_out_displacements_and_joins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = Target(tmp_path / "store")
    spec = tmp_path / "ph.yaml"
    spec.write_text("study: phonons\nname: ph\nbackend: chgnet\nstructure: {builder: cspbbr3, phase: cubic}\n"
                    "relax: {cell: true, fmax: 0.01}\nsupercell: [2, 2, 2]\n")
    submit(spec, target)
    out = launch(target, quiet=True)
    assert not out["fizzled"] and out["ran"] == 5                   # relax + 3 displacements + join
    analysis = json.loads((tmp_path / "runs" / "ph" / "phonons" / "analysis.json").read_text())
    assert analysis["n_displacements"] == 3 and analysis["backend"]["name"] == "chgnet"
    assert {"M", "R"} <= {m["label"] for m in analysis["imaginary_modes"]}   # tilt instabilities


@pytest.mark.slow
def test_neb_study_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = Target(tmp_path / "store")
    spec = tmp_path / "neb.yaml"
    spec.write_text("study: neb\nname: hop\nbackend: chgnet\nhost: {builder: cspbbr3}\nrelax: {cell: true}\n"
                    "supercell: [1, 1, 1]\nn_images: 3\nfmax: 0.1\n"
                    "hops: [{element: Br, site: 8d, to: nearest, label: V_Br-hop}]\n")
    submit(spec, target)
    out = launch(target, quiet=True)
    assert not out["fizzled"], status(target)
    barriers = (tmp_path / "runs" / "hop" / "barriers" / "barriers.md").read_text()
    assert "V_Br-hop" in barriers and "chgnet" in barriers
    neb_doc = json.loads((tmp_path / "runs" / "hop" / "V_Br-hop" / "result.json").read_text())
    # the NEB ran on the relaxed host: its endpoints come from host-relax's structure
    host = json.loads((tmp_path / "runs" / "hop" / "host-relax" / "result.json").read_text())
    import numpy as np
    assert np.allclose(neb_doc["images"][0]["structure"]["cell"], host["structure"]["cell"])
    assert (tmp_path / "runs" / "hop" / "barriers" / "profile_V_Br-hop.png").is_file()
