"""The segregation study: distinct sites of a boundary model, segregation energies, their checks,
the spec's refusals, and the study end to end (CHGNet screening; GPAW charged pair, slow)."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pvatoms.analysis import segregation as S
from pvatoms.build.interface import boundary_sites, rp_interface
from pvatoms.errors import InputError
from pvatoms.studies import plan_study, run_local, study_from_dict


def _site(label, element, distance, energy, level="M//M", region="perovskite"):
    return {"label": label, "element": element, "distance": distance, "energy": energy, "level": level,
            "region": region}


# ---------------------------------------------------------------- sites of the model

def test_distinct_sites_cover_every_atom_once_with_signed_distances():
    atoms = rp_interface(rp_n=1, rp_layers=1, perovskite_layers=3)           # Cs12Pb8Br28
    sites = boundary_sites(atoms, ["Br", "Pb", "Cs"])
    count = Counter(atoms.get_chemical_symbols())
    for el in ("Br", "Pb", "Cs"):
        assert sum(s["multiplicity"] for s in sites if s["element"] == el) == count[el]
    for s in sites:
        i = s["index"]
        assert atoms[i].symbol == s["element"]
        assert abs(s["distance"]) == pytest.approx(atoms.arrays["boundary_distance"][i], abs=1e-4)
        # + in the perovskite block (block 0), - on the RP side
        assert (s["distance"] > 0) == (atoms.arrays["block"][i] == 0)
        assert s["region"] == atoms.arrays["region"][i]
    # the model's centre Pb layer: the middle one of three octahedral layers, one octahedral
    # spacing (~ a/sqrt(2) ... a) deeper than the two next to the rock-salt layers
    pb = sorted(s["distance"] for s in sites if s["element"] == "Pb" and s["distance"] > 0)
    assert len(pb) == 2 and 5.0 < pb[1] - pb[0] < 6.5
    # a vacancy profile needs sites on both sides of the boundary
    assert min(s["distance"] for s in sites) < 0 < max(s["distance"] for s in sites)


def test_distinct_sites_refuse_a_structure_without_boundary_labels_and_unknown_elements():
    from pvatoms.build import cspbbr3
    with pytest.raises(InputError, match="boundary model"):
        boundary_sites(cspbbr3(), ["Br"])
    with pytest.raises(InputError, match="no 'I'.*Br, Cs, Pb"):
        boundary_sites(rp_interface(rp_n=1, rp_layers=1, perovskite_layers=1), ["I"])


# ---------------------------------------------------------------- segregation energies

def test_segregation_energy_is_referenced_to_the_deepest_perovskite_site_of_each_element():
    rows = S.segregation_rows([
        _site("Br_rp", "Br", -4.3, -100.30, region="rp"), _site("Br_b", "Br", 1.75, -100.45, region="boundary"),
        _site("Br_deep", "Br", 10.3, -100.10), _site("Br_mid", "Br", 7.7, -100.12),
        _site("Pb_b", "Pb", 4.7, -95.0), _site("Pb_deep", "Pb", 10.7, -96.0)])
    e = {r["site"]: r["E_seg (eV)"] for r in rows}
    assert e["Br_deep"] == 0.0 and e["Pb_deep"] == 0.0
    assert e["Br_b"] == pytest.approx(-0.35, abs=1e-12)
    assert e["Br_rp"] == pytest.approx(-0.20, abs=1e-12)
    assert e["Pb_b"] == pytest.approx(1.0, abs=1e-12)
    assert {r["reference"] for r in rows if r["element"] == "Br"} == {"Br_deep"}
    # rows go from the RP side to the perovskite interior
    assert [r["site"] for r in rows if r["element"] == "Br"] == ["Br_rp", "Br_b", "Br_mid", "Br_deep"]


def test_segregation_refuses_mixed_levels_of_theory_and_bad_energies():
    with pytest.raises(InputError, match="different levels of theory"):
        S.segregation_rows([_site("a", "Br", 1.0, -1.0, "PBE//PBE"), _site("b", "Br", 5.0, -1.2, "PBE//SevenNet-0")])
    with pytest.raises(InputError, match="not finite"):
        S.segregation_rows([_site("a", "Br", 1.0, math.nan)])
    with pytest.raises(InputError, match="lacks 'energy'"):
        S.segregation_rows([_site("a", "Br", 1.0, None)])


def test_interior_check_and_statements_cover_every_branch():
    tol = 0.05
    flat = S.segregation_rows([_site("b", "Br", 1.7, -10.40, region="boundary"), _site("m", "Br", 7.7, -10.02),
                               _site("d", "Br", 10.3, -10.00)])
    steep = S.segregation_rows([_site("b", "Pb", 4.7, -20.0), _site("d", "Pb", 10.7, -20.3)])
    lone = S.segregation_rows([_site("b", "Cs", -1.7, -5.0, region="boundary"), _site("d", "Cs", 7.7, -5.01)])
    close = S.segregation_rows([_site("x", "Br", 9.8, -1.0), _site("d", "Br", 10.3, -1.0)])
    check = S.interior_check(flat + steep + lone, tolerance=tol)
    assert check["Br"]["bulk_like"] is True and check["Br"]["difference (eV)"] == pytest.approx(-0.02)
    assert check["Pb"]["bulk_like"] is False and check["Pb"]["difference (eV)"] == pytest.approx(0.3)
    assert check["Cs"]["bulk_like"] is None                     # one perovskite-side site only
    assert S.interior_check(close, tolerance=tol)["Br"]["bulk_like"] is None   # 0.5 Å apart: too close
    text = S.summary(flat + steep + lone, check, tolerance=tol)
    assert "V_Br is 0.40 eV lower at b (+1.7 Å" in text["Br"]["statement"]
    assert "not bulk-like" not in text["Br"]["statement"]
    # Pb: the reference is the lowest, but the interior is not converged: said, not hidden
    assert text["Pb"]["statement"].startswith("no V_Pb site is more than 0.05 eV below")
    assert "not bulk-like" in text["Pb"]["statement"] and "+0.30 eV" in text["Pb"]["statement"]
    assert "too few interior sites" in text["Cs"]["statement"]
    # 0.04 eV lower is within the tolerance: no segregation claimed
    small = S.segregation_rows([_site("b", "Br", 1.7, -1.04), _site("m", "Br", 7.0, -1.0), _site("d", "Br", 10.3, -1.0)])
    assert "no V_Br site" in S.summary(small, S.interior_check(small, tol), tol)["Br"]["statement"]


# ---------------------------------------------------------------- the spec

BASE = {"study": "segregation", "name": "seg", "backend": "chgnet",
        "structure": {"builder": "rp_interface", "rp_n": 1, "rp_layers": 1, "perovskite_layers": 3}}


@pytest.mark.parametrize("change, match", [
    ({"backend": "gpaw"}, "screening over every site runs on an MLIP.*'dft'"),
    ({"structure": {"builder": "cspbbr3"}}, "must be rp_interface"),
    ({"vacancies": ["Xx"]}, "'Xx' is not an element symbol"),
    ({"vacancies": []}, "vacancies must be a list"),
    ({"dft": {"backend": "chgnet"}}, "dft.backend.*chgnet"),
    ({"dft": {"charges": {"I": [1]}}}, "'I' is not in vacancies"),
    ({"dft": {"charges": {"Br": [0.5]}}}, "dft.charges.Br must be an integer"),
    ({"dft": {"kpts": [1, 1, 1]}}, "unknown key.*'kpts'.*backend_settings"),
])
def test_segregation_spec_refuses_bad_input_naming_the_fix(change, match):
    with pytest.raises(InputError, match=match):
        study_from_dict(dict(BASE, **change))


def test_plan_has_one_vacancy_per_distinct_site_and_the_dft_pair_per_element():
    spec = dict(BASE, dft={"backend": "gpaw", "backend_settings": {"ecut": 200}, "charges": {"Br": [1, 0]}})
    graph = plan_study(spec)
    atoms = rp_interface(rp_n=1, rp_layers=1, perovskite_layers=3)
    sites = boundary_sites(atoms, ["Br", "Pb", "Cs"])
    labels = [s.label for s in graph.steps]
    assert labels[0] == "interface-relax"
    assert sorted(labels[1:1 + len(sites)]) == sorted(f"V_{s['element']}_{s['index']}" for s in sites)
    relax = graph.node("interface-relax")
    assert relax.job_settings["cell"] is False                  # positions only by default
    v = graph.node(f"V_Br_{sites[0]['index']}")
    assert v.inputs["structure"].transform[0] == {"delete": [sites[0]["index"]]}
    charged = {s.label: s for s in graph.steps if "_q" in s.label}
    # Br: the boundary site nearest a plane (perovskite side on a tie) and the deepest Br, at +1 and 0;
    # Pb and Cs: their fully ionised vacancy only (-2, -1)
    br = [s for s in sites if s["element"] == "Br"]
    near = min(br, key=lambda s: (abs(s["distance"]), -s["distance"]))
    # its reference: the deepest site of its class (a terminal rock-salt Br: the deepest apical one)
    assert near["class"] == "terminal"
    deep = max((s for s in br if s["class"] == "apical"), key=lambda s: s["distance"])
    assert {f"V_Br_{near['index']}_q+1", f"V_Br_{deep['index']}_q+1", f"V_Br_{near['index']}_q+0",
            f"V_Br_{deep['index']}_q+0"} <= set(charged)
    assert {k.rsplit("_q", 1)[1] for k in charged if k.startswith("V_Pb")} == {"-2"}
    assert {k.rsplit("_q", 1)[1] for k in charged if k.startswith("V_Cs")} == {"-1"}
    q = charged[f"V_Br_{near['index']}_q+1"]
    assert q.job == "static" and q.backend == "gpaw" and q.job_settings == {"charge": 1, "defect": True}
    assert q.parents == [f"V_Br_{near['index']}"]


# ---------------------------------------------------------------- end to end

def test_segregation_study_end_to_end_with_chgnet(tmp_path):
    """Cs vacancies of the 48-atom model by CHGNet: the analysis's differences equal the result
    documents' energies, the reference site is the deepest, and the outputs are written."""
    from pvatoms.schema import read_result
    spec = dict(BASE, folder=str(tmp_path / "seg"), vacancies=["Cs"], relax={"fmax": 0.1, "steps": 60},
                defect_fmax=0.1, defect_steps=60)
    graph = plan_study(spec)
    results = run_local(graph)
    assert results["segregation"]["status"] == "completed", results["segregation"]
    doc = results["segregation"]["document"]
    assert doc["kind"] == "segregation" and not doc["skipped_unfinished"]
    rows = {r["site"]: r for r in doc["rows"]}
    energies = {k: read_result(tmp_path / "seg" / k)["energy"] for k in rows}
    deep = max(rows, key=lambda k: rows[k]["distance (Å)"])
    for k, r in rows.items():
        assert r["E_seg (eV)"] == pytest.approx(energies[k] - energies[deep], abs=1e-9)
        assert r["reference"] == deep
        assert r["level of theory"].startswith("CHGNet") and "//" in r["level of theory"]
    assert len(rows) == 3 and rows[deep]["E_seg (eV)"] == 0.0
    # every vacancy cell has one Cs fewer than the model, the rest untouched
    for k in rows:
        n = read_result(tmp_path / "seg" / k)["structure"]["symbols"].count("Cs")
        assert n == 11
    assert "not defect formation energies" in doc["what"]
    assert set(doc["summary"]) == {"Cs"}
    files = doc["files"]
    for path in (*files["table"].values(), *files["profile"].values()):
        assert Path(path).is_file() and Path(path).parent == tmp_path / "seg" / "segregation"
    assert "not formation energies" in Path(files["table"]["tex"]).read_text()
    assert json.loads(json.dumps(doc)) == doc


@pytest.mark.slow
def test_segregation_charged_pair_by_gpaw(tmp_path):
    """V_Br +1 at the boundary site and the reference site of the 28-atom model by GPAW single
    points on CHGNet geometries: E_seg(q) is the difference of the two DFT energies, at one level."""
    from pvatoms.schema import read_result
    spec = {"study": "segregation", "name": "segq", "backend": "chgnet", "folder": str(tmp_path / "s"),
            "structure": {"builder": "rp_interface", "rp_n": 1, "rp_layers": 1, "perovskite_layers": 1},
            "vacancies": ["Br"], "relax": {"fmax": 0.1, "steps": 40}, "defect_fmax": 0.1, "defect_steps": 40,
            "dft": {"backend": "gpaw", "charges": {"Br": [1]},
                    "backend_settings": {"ecut": 150, "kpts": [1, 1, 1], "convergence": {"density": 1e-3}}}}
    results = run_local(plan_study(spec))
    assert results["segregation"]["status"] == "completed", results["segregation"]
    doc = results["segregation"]["document"]
    assert len(doc["dft_rows"]) == 1
    row = doc["dft_rows"][0]
    e = {k: read_result(tmp_path / "s" / f"{k}_q+1")["energy"] for k in (row["site"], row["reference"])}
    assert row["E_seg (eV)"] == pytest.approx(e[row["site"]] - e[row["reference"]], abs=1e-9)
    assert row["charge"] == 1 and row["level of theory"].startswith("PBE//CHGNet")
    doc_q = read_result(tmp_path / "s" / f"{row['site']}_q+1")
    assert np.isclose(sum(doc_q["structure"]["symbols"].count(x) for x in ("Br",)), 15)
    assert row["E_seg MLIP q=0 (eV)"] is not None
    assert "dft_table" in doc["files"]



def test_segregation_workflow_file_builds_a_fireworks_workflow_with_batched_vacancies():
    from pvatoms.fw.workflows import build_workflow, load_spec
    spec = load_spec(Path(__file__).resolve().parents[1] / "workflows" / "segregation.yaml")
    wf, _ = build_workflow(spec)
    atoms = rp_interface(rp_n=1, rp_layers=2, perovskite_layers=4)
    n_sites = len(boundary_sites(atoms, ["Br", "Pb", "Cs"]))
    names = [fw.name for fw in wf.fws]
    batches = [n for n in names if n.startswith("relax-batch")]
    assert len(batches) == -(-n_sites // 16)                 # the vacancy relaxations, 16 per batch
    charged = [n for n in names if "_q" in n]
    assert len(charged) == 2 * 3                              # Br, Pb, Cs: boundary + reference site
    assert "interface-relax" in names and "segregation" in names
    assert len(names) == 1 + len(batches) + len(charged) + 1


def test_bromide_classes_follow_the_bond_count_of_the_octahedra():
    """8 Pb with six Br each make 48 Pb-Br bonds over 28 Br: 20 bridge two Pb, 8 end at one (the
    rock-salt layers); the PbBr2 layers hold two equatorial Br per Pb (16), the rest bridge
    along the stacking normal (4 apical)."""
    atoms = rp_interface(rp_n=1, rp_layers=1, perovskite_layers=3)
    count = Counter()
    for s in boundary_sites(atoms, ["Br"]):
        count[s["class"]] += s["multiplicity"]
    assert count == {"equatorial": 16, "apical": 4, "terminal": 8}
    assert all(s["class"] == s["element"] for s in boundary_sites(atoms, ["Cs", "Pb"]))


def test_each_bromide_class_has_its_own_reference_and_terminal_sites_use_the_apical_one():
    sites = [dict(_site("eq_deep", "Br", 11.0, -10.10), **{"class": "equatorial"}),
             dict(_site("eq_mid", "Br", 5.1, -10.05), **{"class": "equatorial"}),
             dict(_site("ap_deep", "Br", 13.6, -10.20), **{"class": "apical"}),
             dict(_site("ap_mid", "Br", 7.7, -10.19), **{"class": "apical"}),
             dict(_site("term", "Br", 1.75, -10.35, region="boundary"), **{"class": "terminal"})]
    rows = {r["site"]: r for r in S.segregation_rows(sites)}
    assert rows["eq_mid"]["reference"] == "eq_deep" and rows["eq_mid"]["E_seg (eV)"] == pytest.approx(0.05)
    assert rows["ap_mid"]["reference"] == "ap_deep" and rows["ap_mid"]["E_seg (eV)"] == pytest.approx(0.01)
    assert rows["term"]["reference"] == "ap_deep" and rows["term"]["E_seg (eV)"] == pytest.approx(-0.15)
    check = S.interior_check(list(rows.values()))
    assert set(check) == {"Br equatorial", "Br apical"}
    assert check["Br apical"]["bulk_like"] is True and check["Br equatorial"]["bulk_like"] is True
    text = S.summary(list(rows.values()), check)["Br"]["statement"]
    assert text.startswith("V_Br is 0.15 eV lower at term terminal (+1.8 Å from the boundary, boundary) than at "
                           "the deepest perovskite apical site")


def test_profile_curves_never_join_sites_measured_from_different_references(tmp_path):
    sites = [dict(_site("eq_deep", "Br", 11.0, -10.10), **{"class": "equatorial"}),
             dict(_site("eq_mid", "Br", 5.1, -10.05), **{"class": "equatorial"}),
             dict(_site("ap_deep", "Br", 13.6, -10.20), **{"class": "apical"}),
             dict(_site("term", "Br", -1.75, -10.35, region="boundary"), **{"class": "terminal"}),
             dict(_site("cs_deep", "Cs", 13.6, -9.0), **{"class": "Cs"}),
             dict(_site("cs_rp", "Cs", -7.7, -9.2, region="rp"), **{"class": "Cs"})]
    rows = S.segregation_rows(sites)
    eq_mid = next(r for r in rows if r["site"] == "eq_mid")
    series = S.profile_series(rows + [dict(eq_mid, charge=1, **{"E_seg (eV)": 0.3})])
    # one curve per (element, class, charge), points in distance order, values as in the rows
    assert list(series) == [("Br", "apical", 0), ("Br", "equatorial", 0), ("Br", "equatorial", 1),
                            ("Br", "terminal", 0), ("Cs", "Cs", 0)]
    assert series[("Br", "equatorial", 0)] == [(5.1, pytest.approx(0.05)), (11.0, 0.0)]
    assert series[("Br", "equatorial", 1)] == [(5.1, 0.3)]
    assert series[("Br", "terminal", 0)] == [(-1.75, pytest.approx(-0.15))]
    assert series[("Cs", "Cs", 0)] == [(-7.7, pytest.approx(-0.2)), (13.6, 0.0)]
    assert S.series_label("Br", "terminal", 0) == "V$_{Br}$ (terminal vs apical)"
    assert S.series_label("Br", "equatorial", 1) == "V$_{Br}$ (equatorial) q=+1"
    assert S.series_label("Cs", "Cs", -1) == "V$_{Cs}$ q=-1"
    files = S.plot_profile(rows, tmp_path / "profile", title="t", boundary_width=1.0)
    assert Path(files["png"]).stat().st_size > 1000 and Path(files["pdf"]).is_file()
