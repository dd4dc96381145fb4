"""The report's physics sentences (pvatoms.reports.meaning): every rule on made-up numbers, every
branch, including the ones that must say they cannot tell. The numbers are SYNTHETIC unless said
otherwise; each expectation follows from the physics stated next to it, not from the code."""

from __future__ import annotations

import importlib
import math

import pytest

# the module (pvatoms.reports re-exports its function ``meaning`` under the same name)
m = importlib.import_module("pvatoms.reports.meaning")

BR_POOR, BR_RICH = "Cs4PbBr6-Pb (Cs-rich, Br-poor)", "CsBr3-CsPb2Br5 (Cs-poor, Pb-poor, Br-rich)"
NAMED = {"Br-poor": "Cs4PbBr6-Pb", "Br-rich": "CsBr3-CsPb2Br5"}


def row(defect, poor, rich, q=0, backend="chgnet"):
    return {"defect": defect, "q": q, f"E_f {BR_POOR} (eV)": poor, f"E_f {BR_RICH} (eV)": rich,
            "provenance": f"{backend} CHGNet 0.3.0 (v0.4.2); 20 atoms; neutral, no correction"}


# ---------------------------------------------------------------- formation energies

def test_cheapest_vacancy_names_the_lowest_and_ties():
    assert m.cheapest_vacancy("Br-poor", {}) is None
    assert m.cheapest_vacancy("X", {"V_Br": 0.40, "V_Cs": 1.20}) == (
        "Under the X limit the cheapest neutral vacancy is V_Br (0.40 eV).")
    tie = m.cheapest_vacancy("X", {"V_Br_4c": 0.023, "V_Br_8d": 0.017, "V_Cs": 1.0})
    assert "V_Br_8d and V_Br_4c" in tie and "0.02 eV" in tie and "not told apart" in tie


def test_negative_formation_caveat_depends_on_the_model_and_the_defect():
    assert m.negative_formation([], True) is None
    mlip = m.negative_formation(["V_Pb_4b", "V_Cs_4c", "V_Pb_4b"], charge_free=True)
    assert mlip.startswith("Negative formation energies (V_Cs_4c, V_Pb_4b at some limits)")
    assert "charge-free potential" in mlip
    # DFT (charged states possible) or an anion vacancy: no claim about a charge-free potential
    for names, free in ((["V_Pb_4b"], False), (["V_Br_8d"], True), (["V_Pb_4b"], None)):
        text = m.negative_formation(names, free)
        assert "charge-free" not in text and "larger supercells" in text


def test_vacancy_trend_says_as_expected_only_for_the_poor_limit():
    """ΔH(V_Br) contains +μ_Br: the Br vacancy is cheapest where μ_Br is lowest (Br-poor)."""
    expected = m.vacancy_trend("Br", BR_POOR, {BR_POOR: 0.1, BR_RICH: 1.9}, "Cs4PbBr6-Pb")
    assert "as expected" in expected and "cheapest where Br is scarcest" in expected
    wrong = m.vacancy_trend("Br", BR_RICH, {BR_POOR: 1.9, BR_RICH: 0.1}, "Cs4PbBr6-Pb")
    assert "as expected for" in wrong and "not under the Br-poor limit (Cs4PbBr6-Pb)" in wrong
    assert "check the chemical potentials" in wrong
    # another vertex with the same μ_Br (within TIE) as the Br-poor one: still as expected
    near = m.vacancy_trend("Br", "Y", {BR_POOR: 0.105, "Y": 0.100}, "Cs4PbBr6-Pb")
    assert "as expected" in near and "not under" not in near
    unnamed = m.vacancy_trend("Br", BR_POOR, {BR_POOR: 0.1, BR_RICH: 1.9}, None)
    assert "cannot be told" in unnamed and "as expected" not in unnamed
    missing = m.vacancy_trend("Br", BR_RICH, {BR_RICH: 0.1}, "Cs4PbBr6-Pb")
    assert "cannot be checked" in missing and "as expected" not in missing
    assert m.vacancy_trend("Br", None, {}, "Cs4PbBr6-Pb") is None


def test_formation_statements_from_table_rows():
    rows = [row("V_Br_8d", 0.02, 1.87), row("V_Pb_4b", 2.36, -1.08), row("V_Cs_4c", 1.03, -1.078)]
    text = " ".join(m.formation_statements(rows, NAMED))
    assert f"Under the {BR_POOR} limit the cheapest neutral vacancy is V_Br_8d (0.02 eV)." in text
    assert "V_Pb_4b and V_Cs_4c (-1.08 eV" in text
    assert "charge-free potential" in text and "Br vacancies are cheapest under the " + BR_POOR in text
    assert "as expected" in text
    # the wrong trend (made up: V_Br cheapest under Br-rich) is called out, not called expected
    wrong = [row("V_Br_8d", 1.87, 0.02), row("V_Cs_4c", 1.03, 1.5)]
    text = " ".join(m.formation_statements(wrong, NAMED))
    assert "not under the Br-poor limit" in text and "as expected for a defect that removes Br (" not in text
    # charged rows are not "neutral vacancies"; no columns, nothing to say
    charged = [row("V_Br_8d", 0.5, 2.0, q=1, backend="gpaw")]
    assert not any("cheapest neutral vacancy is" in s for s in m.formation_statements(charged, NAMED))
    assert m.formation_statements([{"defect": "V_Br", "q": 0}], NAMED) == []
    assert m.formation_statements([], NAMED) == []


def test_host_stability():
    assert m.host_stability(None) is None
    assert m.host_stability(0.023) == ("With this model CsPbBr3 is 23 meV/atom above the hull, so no formation "
                                       "energies were computed.")
    odd = m.host_stability(0.0)                  # "unstable" but on the hull: contradictory numbers
    assert "cannot tell" in odd and "above the hull" not in odd


def test_rp_stability_zero_is_stable_not_metastable():
    assert m.rp_stability({}) is None
    zero = m.rp_stability({"Cs2PbBr4": 0.0})
    assert "stable with this model" in zero and "metastable" not in zero and "within 1 meV/atom" in zero
    meta = m.rp_stability({"Cs2PbBr4": 0.011, "Cs3Pb2Br7": 0.0112})
    assert meta.startswith("The Ruddlesden–Popper phases lie 11 meV/atom (Cs2PbBr4) and 11 meV/atom (Cs3Pb2Br7)")
    assert "metastable (below 50 meV/atom)" in meta and "Pb loss" in meta
    far = m.rp_stability({"Cs2PbBr4": 0.120})
    assert "unstable (more than 50 meV/atom)" in far and "metastable" not in far
    mixed = m.rp_stability({"Cs2PbBr4": 0.0004, "Cs3Pb2Br7": 0.03, "X": 0.09})
    assert "Cs2PbBr4 lies on the convex hull" in mixed and "30 meV/atom (Cs3Pb2Br7) above the hull: metastable" in mixed
    assert "90 meV/atom (X) above the hull: unstable" in mixed
    # the bounds belong to the lower class
    assert "metastable" not in m.rp_stability({"A": m.HULL_TOL})
    assert "metastable" in m.rp_stability({"A": m.METASTABLE_MAX}) and "unstable" not in m.rp_stability({"A": m.METASTABLE_MAX})


# ---------------------------------------------------------------- migration, gap, localization

def test_hop_rate_is_arrhenius():
    kt = m.K_B * 300.0
    assert kt == pytest.approx(0.025852, abs=1e-6)             # k_B T at 300 K, eV
    assert m.hop_rate(0.0) == pytest.approx(1e13)
    assert m.hop_rate(0.5) == pytest.approx(1e13 * math.exp(-0.5 / kt))
    assert m.hop_rate(0.5) == pytest.approx(4.0e4, rel=0.02)   # 10^13 e^-19.34
    assert m.hop_rate(0.9) == pytest.approx(7.6e-3, rel=0.02)  # 10^13 e^-34.81


def test_barrier_comparison_needs_a_reference():
    close = m.barrier_comparison("V_Br 8d-4c", "Br", 0.19)
    assert close == ("The Br hop (V_Br 8d-4c) costs 0.19 eV, close to (within 0.08 eV of) the ~0.25 eV "
                     "activation energy measured for Br migration in CsPbBr3.")
    assert ", above the ~0.25 eV" in m.barrier_comparison("p", "Br", 0.60)
    assert ", below the ~0.25 eV" in m.barrier_comparison("p", "Br", 0.10)
    # no measurement for Cs migration here: no comparison with the Br number
    cs = m.barrier_comparison("V_Cs", "Cs", 0.60)
    assert "cannot be told" in cs and "0.25" not in cs
    assert "close to" in m.barrier_comparison("V_Cs", "Cs", 0.61, measured=0.58)
    assert "not converged; cannot tell" in m.barrier_comparison("p", "Br", 0.0)
    assert m.barrier_comparison("p", "Br", None) is None


def test_mobility_only_below_the_stated_threshold():
    fast = m.mobility("Br", 0.19)
    assert fast.startswith("Below 0.5 eV (about 10^10 hops per second at 300 K for a 10^13 Hz attempt "
                           "frequency), bromide ions are mobile at room temperature")
    slow = m.mobility("Br", 0.9)
    assert "not mobile at room temperature" in slow and "0.5 eV or more" in slow and "10^-2 hops" in slow   # 7.6e-3 s^-1
    assert "not mobile" in m.mobility("Cs", m.MOBILE_MAX)     # the threshold itself is not below it
    assert "caesium ions are mobile" in m.mobility("Cs", 0.3)
    assert m.mobility("Br", None) is None and m.mobility("Br", -0.1) is None


def test_gap_and_localization_sentences():
    assert m.band_gap(None) is None
    assert m.band_gap(1.6307) == "The PBE gap of the bulk is 1.63 eV (no SOC)."
    assert "cannot tell" in m.band_gap(0.0)
    assert m.boundary_localization("") is None and m.boundary_localization(None) is None
    assert m.boundary_localization("CBM 56 % on the RP side") == "At the RP/perovskite boundary: CBM 56 % on the RP side."


# ---------------------------------------------------------------- the paragraph

#: facts of a `pvatoms demo --quick` run (CHGNet 0.3.0, GPAW PBE), copied from its summary.json
QUICK_DEMO = {
    "rp_hull": {"Cs2PbBr4": 0.010822296142581678, "Cs3Pb2Br7": 0.011223475138352423},
    "formation": [
        {"defect": "V_Br_4c", "q": 0, "E_f Cs4PbBr6-Pb (Cs-rich, Br-poor) (eV)": 0.023082375526429555,
         "E_f CsPb2Br5-Pb (Pb-rich) (eV)": 0.1523071527481079,
         "E_f CsBr3-CsPb2Br5 (Cs-poor, Pb-poor, Br-rich) (eV)": 1.8720588684082031,
         "E_f Cs4PbBr6-CsBr3 (eV)": 1.7428340911865237, "provenance": "chgnet CHGNet 0.3.0 (v0.4.2)"},
        {"defect": "V_Br_8d", "q": 0, "E_f Cs4PbBr6-Pb (Cs-rich, Br-poor) (eV)": 0.017467141151429555,
         "E_f CsPb2Br5-Pb (Pb-rich) (eV)": 0.1466919183731079,
         "E_f CsBr3-CsPb2Br5 (Cs-poor, Pb-poor, Br-rich) (eV)": 1.8664436340332031,
         "E_f Cs4PbBr6-CsBr3 (eV)": 1.7372188568115237, "provenance": "chgnet CHGNet 0.3.0 (v0.4.2)"},
        {"defect": "V_Cs_4c", "q": 0, "E_f Cs4PbBr6-Pb (Cs-rich, Br-poor) (eV)": 1.0293697118759129,
         "E_f CsPb2Br5-Pb (Pb-rich) (eV)": 0.6416953802108756,
         "E_f CsBr3-CsPb2Br5 (Cs-poor, Pb-poor, Br-rich) (eV)": -1.0780563354492188,
         "E_f Cs4PbBr6-CsBr3 (eV)": -0.6903820037841806, "provenance": "chgnet CHGNet 0.3.0 (v0.4.2)"},
        {"defect": "V_Pb_4b", "q": 0, "E_f Cs4PbBr6-Pb (Cs-rich, Br-poor) (eV)": 2.358933210372925,
         "E_f CsPb2Br5-Pb (Pb-rich) (eV)": 2.358933210372925,
         "E_f CsBr3-CsPb2Br5 (Cs-poor, Pb-poor, Br-rich) (eV)": -1.0805702209472656,
         "E_f Cs4PbBr6-CsBr3 (eV)": -1.080570220947263, "provenance": "chgnet CHGNet 0.3.0 (v0.4.2)"},
    ],
    "limits_named": {"Cs-rich": "Cs4PbBr6-Pb", "Cs-poor": "CsBr3-CsPb2Br5", "Pb-rich": "CsPb2Br5-Pb",
                     "Pb-poor": "CsBr3-CsPb2Br5", "Br-rich": "CsBr3-CsPb2Br5", "Br-poor": "Cs4PbBr6-Pb"},
    "neb": [{"species": "Br", "path": "V_Br-equatorial", "hop (Å)": 4.267213360817853,
             "E_b forward (eV)": 0.19191741943359375, "E_b backward (eV)": 0.19191741943359375,
             "backend": "chgnet CHGNet 0.3.0 (v0.4.2)"}],
    "gap": 1.630670065540202,
    "localization": {"band-edges": "CBM 56 % on the RP side, VBM 92 % on the perovskite side: spatially "
                                   "separated (type-II-like); centroids 15.4 Å apart along the stacking axis"},
}


def test_quick_demo_numbers_read_sensibly():
    head, blank, text, end = m.meaning(QUICK_DEMO)
    assert (head, blank, end) == ("## 5. What this means", "", "")
    for sentence in (
            "cheapest neutral vacancies are V_Br_8d and V_Br_4c (0.02 eV",
            "Br vacancies are cheapest under the Cs4PbBr6-Pb (Cs-rich, Br-poor) limit, as expected",
            "The Ruddlesden–Popper phases lie 11 meV/atom (Cs2PbBr4) and 11 meV/atom (Cs3Pb2Br7) above the hull: metastable",
            "The Br hop (V_Br-equatorial) costs 0.19 eV, close to",
            "bromide ions are mobile at room temperature",
            "The PBE gap of the bulk is 1.63 eV (no SOC).",
            "At the RP/perovskite boundary: CBM 56 % on the RP side"):
        assert sentence in text
    assert "cannot tell" not in text and "cannot be" not in text and "not mobile" not in text


def test_the_three_wrong_sentences_of_the_old_paragraph():
    """Made-up numbers that the old paragraph misread: a Br vacancy cheapest under Br-rich ("as
    expected"), an RP phase on the hull ("metastable" at 0 meV/atom), a 0.9 eV barrier ("mobile")."""
    facts = {"formation": [row("V_Br_8d", 1.9, 0.1), row("V_Cs_4c", 0.8, 1.2)], "limits_named": NAMED,
             "rp_hull": {"Cs2PbBr4": 0.0}, "neb": [{"species": "Br", "path": "p", "E_b forward (eV)": 0.9}]}
    text = m.meaning(facts)[2]
    assert "not under the Br-poor limit" in text and "as expected for a defect that removes Br (" not in text
    assert "stable with this model" in text and "metastable" not in text
    assert "not mobile at room temperature" in text and "are mobile" not in text


def test_nothing_finished_yet():
    assert m.meaning({})[2] == "Not enough finished results yet."
    assert m.meaning({"formation": [], "neb": [], "localization": {}})[2] == "Not enough finished results yet."
