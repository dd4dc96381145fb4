"""The report's physics sentences (pvatoms.reports.meaning): every rule on made-up numbers, every
branch, including the ones that must say they cannot tell. The numbers are SYNTHETIC unless said
otherwise; each expectation follows from the physics stated next to it, not from the code."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest

# the module (pvatoms.reports re-exports its function ``meaning`` under the same name)
m = importlib.import_module("pvatoms.reports.meaning")

BR_POOR, BR_RICH = "Cs4PbBr6-Pb (Cs-rich, Br-poor)", "CsBr3-CsPb2Br5 (Cs-poor, Pb-poor, Br-rich)"
NAMED = {"Br-poor": "Cs4PbBr6-Pb", "Br-rich": "CsBr3-CsPb2Br5"}


def row(defect, poor, rich, q=0, backend="chgnet"):
    return {"defect": defect, "q": q, f"E_f {BR_POOR} (eV)": poor, f"E_f {BR_RICH} (eV)": rich,
            "provenance": f"{backend} CHGNet 0.3.0 (v0.4.2); 20 atoms; neutral, no correction"}


# ---------------------------------------------------------------- formation energies

def test_negative_formation_names_the_defects_once():
    assert m.negative_formation([]) is None
    text = m.negative_formation(["V_Pb_4b", "V_Cs_4c", "V_Pb_4b"])
    assert text.startswith("Negative formation energies at the self-consistent Fermi level (V_Cs_4c, V_Pb_4b at")
    assert "larger supercells" in text and "spontaneously" in text


def test_fermi_position_midgap_halves_and_outside():
    gap = 2.0
    assert "intrinsic-like" in m.fermi_position(1.0 + m.MIDGAP_TOL, gap)          # on the tolerance: midgap
    assert "p-type" in m.fermi_position(1.0 - m.MIDGAP_TOL - 0.01, gap)
    assert "n-type" in m.fermi_position(1.0 + m.MIDGAP_TOL + 0.01, gap)
    assert "outside the gap" in m.fermi_position(-0.05, gap) and "outside the gap" in m.fermi_position(2.1, gap)


def test_fermi_statement_equilibrium_quenched_and_no_gap():
    top = [("V_Br_8d", 1, 3.2e17), ("V_Pb_4b", -2, 1.6e17), ("V_Cs_4c", -1, 1e10)]
    eq = m.fermi_statement("CsBr-Pb (Br-poor)", "equilibrium", 600, 1.42, 2.0, 1e12, 3e8, top)
    assert eq.startswith("Under the CsBr-Pb (Br-poor) limit at 600 K, charge neutrality puts the Fermi level 1.42 eV")
    assert "n-type" in eq and "V_Br_8d (q = +1, 3e+17 cm^-3) and V_Pb_4b (q = -2, 2e+17 cm^-3)" in eq
    assert "V_Cs_4c" not in eq                                            # the two most abundant only
    q = m.fermi_statement("L", "quenched", 300, 0.5, 2.0, 1.0, 1e15, [])
    assert q.startswith("Quenched to 300 K with the defects frozen") and "p-type" in q and "set by" not in q
    assert m.fermi_statement("L", "equilibrium", 600, 0.5, None, 1, 1, top) is None
    assert m.fermi_statement("L", "equilibrium", 600, 0.5, 0.0, 1, 1, top) is None


def test_levels_statement_shallow_deep_none_and_soc():
    gap = 2.0
    assert m.levels_statement([], None) is None
    none = m.levels_statement([{"defect": "V_Br", "transition": "(+1/0)", "level": 2.3}], gap)
    assert none.startswith("No charge-transition level falls inside the PBE gap (2.00 eV)")
    levels = [{"defect": "V_Pb", "transition": "(0/-1)", "level": 0.05},
              {"defect": "V_Br", "transition": "(+1/0)", "level": 1.7},
              {"defect": "V_Cs", "transition": "(0/-1)", "level": 1.0}]
    text = m.levels_statement(levels, gap)
    assert "V_Pb (0/-1) at 0.05 eV (shallow)" in text and "V_Cs (0/-1) at 1.00 eV (deep)" in text
    assert "V_Br (+1/0) at 1.70 eV (deep)" in text                       # 0.30 eV below the CBM
    assert text.index("V_Pb") < text.index("V_Cs") < text.index("V_Br")  # in order of energy
    soc = m.levels_statement(levels, gap, soc_cbm_shift=-0.5)
    assert "CBM is 0.50 eV lower" in soc and "V_Br (+1/0) would lie above it" in soc and "V_Cs (0/-1) would" not in soc
    assert "only a SOC defect calculation can tell" in soc
    stays = m.levels_statement(levels, gap, soc_cbm_shift=-0.2)
    assert "every one of these levels stays below it" in stays


def test_convergence_caveat():
    assert m.convergence_caveat(None, "Γ") is None
    text = m.convergence_caveat(40, "ecut 300, kpts [1, 1, 1]")
    assert "one 40-atom supercell (ecut 300, kpts [1, 1, 1])" in text and "not converged values" in text
    assert "converged to the tolerance" in m.convergence_caveat(160, "x", converged_table=True)


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


def _charged(rows, fermi=(), levels=(), gap=2.0, soc=None):
    return {"rows": rows, "fermi": list(fermi), "levels": list(levels), "gap": gap, "soc_shift": soc,
            "natoms": 40, "settings": "ecut 300, kpts [1, 1, 1]"}


def fermi_row(limit, state, ef, defect, q, c, ef_energy=1.0, T=600):
    return {"limit": limit, "state": state, "T (K)": T, "E_F (eV)": ef, "n (cm^-3)": 1e10, "p (cm^-3)": 1e12,
            "defect": defect, "q": q, "E_f at E_F (eV)": ef_energy, "c (cm^-3)": c}


def test_formation_statements_from_a_charged_table():
    rows = [row("V_Br_8d", 0.3, 1.9, q=1, backend="gpaw"), row("V_Br_8d", 2.3, 3.9, backend="gpaw"),
            row("V_Pb_4b", 4.0, 1.0, q=-2, backend="gpaw")]
    fermi = [fermi_row(BR_POOR, "equilibrium", 1.3, "V_Br_8d", 1, 1e17), fermi_row(BR_POOR, "equilibrium", 1.3, "V_Pb_4b", -2, 5e16),
             fermi_row(BR_POOR, "equilibrium", 1.3, "V_Br_8d", 0, 1e18, ef_energy=-0.2),
             fermi_row(BR_POOR, "quenched", 1.1, "V_Br_8d", 1, 1e17, T=300)]
    levels = [{"defect": "V_Br_8d", "transition": "(+1/0)", "level": 2.0}]
    text = " ".join(m.formation_statements(_charged(rows, fermi, levels), NAMED))
    assert f"Under the {BR_POOR} limit at 600 K, charge neutrality puts the Fermi level 1.30 eV" in text
    assert "set by V_Br_8d (q = +1, 1e+17 cm^-3) and V_Pb_4b (q = -2" in text      # neutral states do not set E_F
    assert "Quenched to 300 K" in text
    assert "Negative formation energies at the self-consistent Fermi level (V_Br_8d" in text
    assert "No charge-transition level falls inside the PBE gap" in text
    assert "Br vacancies are cheapest under the " + BR_POOR + " limit, as expected" in text
    assert "one 40-atom supercell" in text
    # the wrong trend (made up: V_Br cheapest under Br-rich) is called out, not called expected
    wrong = [row("V_Br_8d", 1.87, 0.02, q=1, backend="gpaw"), row("V_Cs_4c", 1.03, 1.5, q=-1, backend="gpaw")]
    text = " ".join(m.formation_statements(_charged(wrong), NAMED))
    assert "not under the Br-poor limit" in text and "as expected for a defect that removes Br (" not in text
    assert m.formation_statements(_charged([{"defect": "V_Br", "q": 0}]), NAMED) == []
    assert m.formation_statements({}, NAMED) == []


def test_a_neutral_mlip_screening_table_gives_no_sentence():
    """The report gives the rules only the charged (DFT) table: facts without one say nothing on
    defects, whatever a screening table held."""
    assert m.meaning({"rp_hull": {}, "screening": [row("V_Pb_4b", 2.36, -1.08)]})[2] == "Not enough finished results yet."


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
    one = m.boundary_localization("CBM 56 % on the RP side", 48, "Γ only, 200 eV, PBE without SOC")
    assert one.startswith("At the RP/perovskite boundary: CBM 56 % on the RP side. This is one 48-atom model (Γ only")
    assert "not a converged result" in one and "cannot tell a type-I from a type-II" in one
    done = m.boundary_localization("CBM 56 % on the RP side", 120, "4x4x1, 300 eV", converged_table=True)
    assert "converged to the tolerance of its convergence table" in done and "first look" not in done


# ---------------------------------------------------------------- the paragraph

#: facts of a `pvatoms demo --quick` run (CHGNet 0.3.0, GPAW PBE 200 eV), its summary.json
QUICK_DEMO = json.loads((Path(__file__).parent / "data" / "quick_demo_facts.json").read_text())


def test_quick_demo_numbers_read_sensibly():
    head, blank, text, end = m.meaning(QUICK_DEMO)
    assert (head, blank, end) == ("## 6. What this means", "", "")
    for sentence in (
            "Under the CsBr-Pb (Cs-rich, Br-poor) limit at 600 K, charge neutrality puts the Fermi level 1.38 eV above "
            "the VBM (in the upper half of the gap: n-type",
            "set by V_Br_8d (q = +1",
            "Quenched to 300 K with the defects frozen",
            "outside the gap (a degenerate carrier gas",          # the Br-rich limits of this coarse cell
            "Transition levels inside the PBE gap: V_Pb_4b (0/-1) at 0.15 eV (deep)",
            "With the PBE+SOC band edges the CBM is 1.19 eV lower",
            "Br vacancies are cheapest under the CsBr-Pb (Cs-rich, Br-poor) limit, as expected",
            "These come from one 20-atom supercell (ecut 200.0, xc PBE, kpts [1, 1, 1])",
            "The Ruddlesden–Popper phases lie 11 meV/atom (Cs2PbBr4) and 11 meV/atom (Cs3Pb2Br7) above the hull: metastable",
            "The Br hop (V_Br-equatorial) costs 0.19 eV, close to",
            "bromide ions are mobile at room temperature",
            "At the RP/perovskite boundary: CBM",
            "This is one 48-atom model (Γ only, 200 eV, PBE without SOC): no thickness"):
        assert sentence in text, sentence
    assert "cheapest neutral vacanc" not in text and "not mobile" not in text
    assert "type-II-like" not in text and "type-I-like" not in text       # densities name no alignment type


def test_the_three_wrong_sentences_of_the_old_paragraph():
    """Made-up numbers that the old paragraph misread: a Br vacancy cheapest under Br-rich ("as
    expected"), an RP phase on the hull ("metastable" at 0 meV/atom), a 0.9 eV barrier ("mobile")."""
    facts = {"charged": _charged([row("V_Br_8d", 1.9, 0.1, q=1, backend="gpaw"), row("V_Cs_4c", 0.8, 1.2, q=-1, backend="gpaw")]),
             "limits_named": NAMED,
             "rp_hull": {"Cs2PbBr4": 0.0}, "neb": [{"species": "Br", "path": "p", "E_b forward (eV)": 0.9}]}
    text = m.meaning(facts)[2]
    assert "not under the Br-poor limit" in text and "as expected for a defect that removes Br (" not in text
    assert "stable with this model" in text and "metastable" not in text
    assert "not mobile at room temperature" in text and "are mobile" not in text


def test_nothing_finished_yet():
    assert m.meaning({})[2] == "Not enough finished results yet."
    assert m.meaning({"charged": {}, "neb": [], "localization": {}})[2] == "Not enough finished results yet."


def test_alignment_caveat_names_the_charge_states_without_a_plateau():
    def t(defect, q, mean, spread):
        return {"defect": defect, "q": q, "ΔV mean (V)": mean, "ΔV spread (V)": spread}
    assert m.alignment_caveat([]) is None
    assert m.alignment_caveat([t("V_Cs_4c", -1, 0.05, 0.1), t("V_Br_8d", 1, None, None)]) is None
    text = m.alignment_caveat([t("V_Pb_4b", -2, 1.01, 0.56), t("V_Cs_4c", -1, 0.05, 0.1),
                               t("V_Br_8d", 1, -0.23, m.ALIGNMENT_SPREAD_MAX + 0.01)])
    assert "V_Pb_4b q = -2 (ΔV +1.01 V, spread 0.56 V)" in text and "V_Br_8d q = +1" in text
    assert "V_Cs_4c" not in text and "too small for these corrections" in text
    # on the thresholds: still a plateau
    assert m.alignment_caveat([t("X", 1, m.ALIGNMENT_MAX, m.ALIGNMENT_SPREAD_MAX)]) is None
