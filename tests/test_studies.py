"""Study definitions, their step graphs, the local runner (no FireWorks) and the FireWorks adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvatoms.errors import InputError
from pvatoms.schema import read_result
from pvatoms.studies import load_study, plan_study, run_local, study_from_dict

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"


def test_unknown_key_is_refused_with_the_valid_keys():
    with pytest.raises(InputError) as err:
        study_from_dict({"study": "neb", "name": "x", "host": {"builder": "cspbbr3"}, "hops": [{"element": "Br"}],
                         "n_image": 3})
    assert "'n_image'" in str(err.value) and "n_images" in str(err.value)
    with pytest.raises(InputError, match="hops\\[0\\].*'sight'.*valid keys: element, site, to, label"):
        study_from_dict({"study": "neb", "name": "x", "host": {"builder": "cspbbr3"},
                         "hops": [{"element": "Br", "sight": "8d"}]})
    with pytest.raises(InputError, match="defects: unknown key.*'vacancy'.*vacancies"):
        study_from_dict({"study": "defects", "name": "x", "host": {"builder": "cspbbr3"}, "defects": {"vacancy": ["Br"]}})


@pytest.mark.parametrize("key,value,message", [
    ("supercell", [2, 2], "three integers"),
    ("supercell", [2, 2.5, 2], "must be an integer"),
    ("defect_fmax", float("nan"), "must be finite"),
    ("defect_fmax", -0.1, "must be > 0"),
    ("charges", "all", "charges"),
    ("backend", "mace", "backend"),
])
def test_bad_values_are_refused_naming_the_value(key, value, message):
    spec = {"study": "defects", "name": "x", "host": {"builder": "cspbbr3"}, key: value}
    with pytest.raises(InputError, match=message):
        study_from_dict(spec)


def test_defaults_live_in_the_definitions():
    study = study_from_dict({"study": "neb", "name": "x", "host": {"builder": "cspbbr3"}, "hops": [{"element": "Br"}]})
    assert (study.n_images, study.fmax, study.steps, study.supercell) == (5, 0.05, 300, (2, 2, 2))
    assert study.relax.job_settings() == {"cell": True, "fmax": 0.02}


@pytest.mark.parametrize("name", ["smoke", "defects", "neb", "phonons", "band-edges"])
def test_every_shipped_spec_plans_a_consistent_graph(name, tmp_path):
    graph = plan_study(load_study(WORKFLOWS / f"{name}.yaml", folder=tmp_path))
    labels = [n.label for n in graph.order()]
    for n in graph.nodes:                               # parents come first
        assert all(labels.index(p) < labels.index(n.label) for p in n.parents)
    from pvatoms.fw.workflows import to_workflow
    wf = to_workflow(graph)
    names = {fw.fw_id: fw.name for fw in wf.fws}
    assert sorted(names.values()) == sorted(labels)
    for fw in wf.fws:                                   # FireWorks links = graph parents
        parents = sorted(names[p] for p in wf.links.parent_links.get(fw.fw_id, []))
        assert parents == sorted(graph.node(fw.name).parents)


def test_defect_analysis_gets_its_inputs_by_role(tmp_path):
    graph = plan_study(load_study(WORKFLOWS / "defects.yaml", folder=tmp_path))
    (analysis,) = graph.analyses
    assert analysis.roles["host"] == ["host-relax"] and analysis.roles["bulk"] == ["perfect"]
    assert all(x.startswith("phase-") for x in analysis.roles["phases"])
    assert sorted(analysis.roles["defects"]) == ["V_Br_4c_q+0", "V_Br_8d_q+0", "V_Cs_4c_q+0", "V_Pb_4b_q+0"]
    assert graph.notes       # sevennet is a neutral-cell MLIP: charged states skipped, and said so
    # sites per 2x2x2 supercell: Wyckoff multiplicity per Pnma cell x 8 cells (4c: 4, 8d: 8, 4b: 4)
    assert analysis.settings["site_counts"] == {"V_Br_4c": 32, "V_Br_8d": 64, "V_Pb_4b": 32, "V_Cs_4c": 32}


def test_local_runner_runs_a_study_without_fireworks(tmp_path):
    """A smoke study (CHGNet, two small cells) and its graph run in-process; a second run reuses
    every finished result."""
    spec = {"study": "smoke", "name": "local", "backend": "chgnet", "job": "static",
            "structures": {"cubic": {"builder": "cspbbr3", "phase": "cubic"},
                           "rp1": {"builder": "ruddlesden_popper", "n": 1}}}
    graph = plan_study(study_from_dict(spec, folder=tmp_path / "run"))
    out = run_local(graph)
    assert {k: v["status"] for k, v in out.items()} == {"cubic": "completed", "rp1": "completed"}
    doc = read_result(tmp_path / "run" / "cubic")
    assert doc["job"] == "static" and doc["backend"]["name"] == "chgnet" and len(doc["structure"]["symbols"]) == 5
    created = doc["created"]
    run_local(graph)
    assert read_result(tmp_path / "run" / "cubic")["created"] == created


@pytest.mark.slow
def test_local_runner_runs_a_neb_study_and_its_analysis(tmp_path):
    """Host relax -> NEB -> barrier table in-process; a step whose parent failed is skipped."""
    spec = {"study": "neb", "name": "neb-local", "backend": "chgnet", "host": {"builder": "cspbbr3", "phase": "cubic"},
            "relax": {"cell": False, "fmax": 0.1}, "supercell": [2, 2, 2], "n_images": 1, "fmax": 0.2, "steps": 60,
            "hops": [{"element": "Br", "label": "hop"}]}
    graph = plan_study(study_from_dict(spec, folder=tmp_path))
    events = []
    out = run_local(graph, on_event=lambda kind, info: events.append((kind, info["label"])))
    assert out["barriers"]["status"] == "completed", out
    doc = out["barriers"]["document"]
    assert doc["kind"] == "neb" and doc["rows"][0]["species"] == "Br"
    neb = read_result(tmp_path / "hop")
    assert doc["rows"][0]["E_b forward (eV)"] == pytest.approx(neb["data"]["barrier_forward"], abs=1e-3)
    assert ("completed", "host-relax") in events


@pytest.mark.slow
def test_level_of_theory_follows_the_geometry(tmp_path):
    """A GPAW single point on a CHGNet-relaxed cell is PBE//CHGNet; the relaxation itself is
    CHGNet//CHGNet; the band-edge job on the same geometry says so too."""
    pytest.importorskip("gpaw")
    spec = {"study": "band-edges", "name": "lot", "backend": "gpaw", "backend_settings": {"kpts": [2, 2, 2], "ecut": 250},
            "structure": {"builder": "cspbbr3", "phase": "cubic"}, "static": True,
            "relax": {"backend": "chgnet", "cell": False, "fmax": 0.1}}
    out = run_local(plan_study(study_from_dict(spec, folder=tmp_path)))
    assert out["static"]["status"] == "completed", out
    relax, static, edges = (read_result(tmp_path / x)["level_of_theory"] for x in ("relax", "static", "band-edges"))
    assert relax == {"energy": "CHGNet 0.3.0", "geometry": "CHGNet 0.3.0", "label": "CHGNet 0.3.0//CHGNet 0.3.0"}
    assert static["label"] == "PBE//CHGNet 0.3.0" and edges["label"] == "PBE//CHGNet 0.3.0"


@pytest.mark.slow
def test_a_store_of_the_first_layout_resumes(tmp_path):
    """Fireworks submitted by the first layout (task parameters, a join without roles) run to
    completion with the current code."""
    from pvatoms.fw.launcher import launch
    from pvatoms.fw.store import EmbeddedStore
    src = Path(__file__).parent / "data" / "first_layout_store" / "launchpad.json"
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "launchpad.json").write_text(src.read_text().replace("@RUNS@", str(tmp_path / "runs")))
    store = EmbeddedStore(tmp_path / "store")
    out = launch(store)
    assert sorted(out["completed"]) == [1, 2, 3] and not out["fizzled"], out
    doc = read_result(tmp_path / "runs" / "hop")
    analysis = __import__("json").loads((tmp_path / "runs" / "barriers" / "analysis.json").read_text())
    assert analysis["kind"] == "neb" and analysis["rows"][0]["E_b forward (eV)"] == pytest.approx(
        doc["data"]["barrier_forward"], abs=1e-3)
