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


@pytest.mark.parametrize("name", ["smoke", "defects", "charged_defects", "neb", "phonons", "band-edges"])
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
    assert relax == {"energy": "CHGNet 0.3.0", "geometry": "CHGNet 0.3.0", "cell": None,        # a builder cell
                     "label": "CHGNet 0.3.0//CHGNet 0.3.0"}
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


CHARGED = {"study": "defects", "name": "c", "backend": "gpaw", "backend_settings": {"kpts": [1, 1, 1], "ecut": 250},
           "host": {"builder": "cspbbr3", "phase": "pnma"}, "relax": {"backend": "chgnet", "cell": True},
           "supercell": [1, 1, 1], "defects": {"vacancies": ["Br", "Pb"], "sites": {"Br": ["8d"]}},
           "competing_phases": ["Pb", "Br2", "CsBr"], "prerelax": "chgnet",
           "dielectric": {"value": 4.2, "source": "test"}}


def test_charged_study_plans_sites_soc_and_prerelaxed_phases(tmp_path):
    graph = plan_study(study_from_dict(CHARGED, folder=tmp_path))
    labels = [s.label for s in graph.steps]
    assert not any(x.startswith("V_Br_4c") for x in labels)           # sites: only the 8d Br
    assert {"V_Br_8d_q+0", "V_Br_8d_q+1", "V_Pb_4b_q-2", "V_Pb_4b_q-1", "V_Pb_4b_q+0"} <= set(labels)
    soc = graph.node("perfect-soc")
    assert soc.job == "static" and soc.job_settings == {"soc": True} and soc.parents == ["perfect"]
    assert graph.analyses[0].roles["soc"] == ["perfect-soc"]
    for name in ("Pb", "Br2", "CsBr"):                                 # MLIP first, then DFT
        pre, dft = graph.node(f"phase-{name}-prerelax"), graph.node(f"phase-{name}")
        assert pre.backend == "chgnet" and dft.parents == [pre.label] and dft.backend == "gpaw"
    assert graph.node("phase-Br2").job_settings["cell"] is False       # a molecule's box is no lattice
    assert graph.node("phase-Br2-prerelax").job_settings["cell"] is False
    assert graph.node("phase-Br2").backend_settings["kpts"] == [1, 1, 1]
    assert graph.node("phase-CsBr").job_settings["cell"] is True
    assert graph.analyses[0].settings["site_counts"] == {"V_Br_8d": 8, "V_Pb_4b": 4}


def test_single_points_on_mlip_geometries_are_one_level_of_theory(tmp_path):
    graph = plan_study(study_from_dict(dict(CHARGED, dft_relax=False), folder=tmp_path))
    q1 = graph.node("V_Br_8d_q+1")
    assert q1.job == "static" and q1.job_settings == {"charge": 1, "defect": True}
    assert q1.parents == ["V_Br_8d-prerelax"]
    assert graph.node("perfect").job == "static" and graph.node("phase-CsBr").job == "static"
    # a static perfect cell gives the SOC band edges itself: no second SCF of it
    assert graph.node("perfect").job_settings == {"soc": True} and "perfect-soc" not in [s.label for s in graph.steps]
    assert graph.analyses[0].roles["soc"] == ["perfect"]
    assert graph.node("host-reference").job == "static" and graph.analyses[0].roles["host"] == ["host-reference"]
    assert "kpts" not in graph.node("host-reference").backend_settings          # the phases' k-point density
    assert graph.node("phase-CsBr").parents == ["phase-CsBr-prerelax"]
    assert any("single points on chgnet geometries" in n for n in graph.notes)
    with pytest.raises(InputError, match="relax the host with the same one"):     # host by another MLIP
        plan_study(study_from_dict(dict(CHARGED, dft_relax=False, relax={"backend": "sevennet"}), folder=tmp_path))
    with pytest.raises(InputError, match="give 'prerelax'"):
        plan_study(study_from_dict(dict(CHARGED, dft_relax=False, prerelax=None), folder=tmp_path))
    with pytest.raises(InputError, match="dft_relax must be true or false, got 'no'"):
        study_from_dict(dict(CHARGED, dft_relax="no"))


def test_sites_that_the_host_does_not_have_are_refused(tmp_path):
    bad = dict(CHARGED, defects={"vacancies": ["Br"], "sites": {"Br": ["4a"]}})
    with pytest.raises(InputError, match=r"defects.sites.Br: \['4a'\] not a site of Br in this host; its sites: 4c, 8d"):
        plan_study(study_from_dict(bad, folder=tmp_path))
    with pytest.raises(InputError, match="no vacancy or antisite on Cs"):
        plan_study(study_from_dict(dict(CHARGED, defects={"vacancies": ["Br"], "sites": {"Cs": ["4c"]}}),
                                   folder=tmp_path))


def test_expected_costs_follow_atoms_cutoff_and_method(tmp_path):
    from pvatoms.studies.cost import graph_costs, step_cost
    graph = plan_study(study_from_dict(dict(CHARGED, supercell=[1, 1, 2]), folder=tmp_path))
    cost = graph_costs(graph)
    # 40-atom perfect cell, 39-atom defect cells, 19 would be [1, 1, 1]: the count follows the transforms
    assert cost["V_Pb_4b_q-2"] == pytest.approx(step_cost("relax", "gpaw", 39, {"kpts": [1, 1, 1], "ecut": 250},
                                                          graph.node("V_Pb_4b_q-2").job_settings))
    assert cost["V_Pb_4b_q-2"] == pytest.approx(1.6 * step_cost("relax", "gpaw", 39, {"kpts": [1, 1, 1], "ecut": 250},
                                                                {"steps": 500}) - 0.6)   # defect cells
    assert cost["V_Pb_4b_q-2"] > 30 * cost["V_Pb_4b-prerelax"]        # DFT >> MLIP on the same cell
    assert step_cost("static", "gpaw", 40, {"ecut": 400, "kpts": [1, 1, 1]}, {}) > \
        step_cost("static", "gpaw", 40, {"ecut": 250, "kpts": [1, 1, 1]}, {}) * 2      # (400/250)^1.5 = 2.02
    assert step_cost("static", "gpaw", 40, {"kpts": [1, 1, 1]}, {}) == pytest.approx(
        4 * step_cost("static", "gpaw", 20, {"kpts": [1, 1, 1]}, {}) - 3 * 1.0, rel=1e-9)   # atoms², + overhead
    assert step_cost("relax", "gpaw", 40, {}, {"steps": 3}) < step_cost("relax", "gpaw", 40, {}, {"steps": 500})


def test_long_chains_start_first_and_the_estimate_follows_the_cost(tmp_path):
    from pvatoms.fw.progress import PRIOR_WEIGHT, estimate
    from pvatoms.fw.workflows import PRIORITY_SCALE, to_workflow
    from pvatoms.studies.cost import critical_path, graph_costs
    graph = plan_study(study_from_dict(CHARGED, folder=tmp_path))
    cost, rank = graph_costs(graph), critical_path(graph)
    # a node's rank is its cost plus the longest chain below it; the analysis closes every chain
    assert rank["formation-energies"] == cost["formation-energies"]
    assert rank["perfect"] == pytest.approx(cost["perfect"] + max(rank["perfect-soc"], rank["formation-energies"]))
    assert rank["V_Pb_4b-prerelax"] == pytest.approx(cost["V_Pb_4b-prerelax"] + max(
        rank[f"V_Pb_4b_q{q:+d}"] for q in (-2, -1, 0)))
    assert rank["host-relax"] == max(rank.values())
    wf = to_workflow(graph)
    prio = {fw.name: fw.spec["_priority"] for fw in wf.fws if "_priority" in fw.spec}
    assert prio["host-relax"] >= 10 * PRIORITY_SCALE                          # its own priority first
    assert prio["V_Pb_4b_q-2"] > prio["phase-CsBr"]                           # DFT defect before a 2-atom phase
    # the estimate: expected seconds left, scaled by how the finished ones went, per launcher
    assert estimate(None, 10, 10) is None
    assert estimate(100.0, 0.0, 0.0) == pytest.approx(100.0)
    assert estimate(100.0, 3 * 1000.0, 1000.0, launchers=2) == pytest.approx(
        100.0 * (3000 + PRIOR_WEIGHT) / (1000 + PRIOR_WEIGHT) / 2)
