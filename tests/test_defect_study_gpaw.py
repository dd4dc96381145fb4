"""The charged-defect chain with GPAW, end to end in one small study: host relaxation, perfect
cell, MLIP pre-relaxation, DFT relaxation of each charge state with the defect conventions,
competing phases, corrected formation energies, levels, diagrams, tables and the pymatgen export.

The cell is the 5-atom cubic CsPbBr3 (a test of the chain, not a converged number): its
finite-size correction is large, which makes it a sharp check against the point-charge
(Makov–Payne) term computed here by hand.
"""

from __future__ import annotations

import math

import pytest

pytest.importorskip("gpaw")

from pvatoms.errors import InputError  # noqa: E402
from pvatoms.schema import read_result  # noqa: E402
from pvatoms.studies import plan_study, run_local, study_from_dict  # noqa: E402

#: e² / (4π ε0) in eV·Å
COULOMB = 14.399645
#: Madelung constant of the simple cubic lattice of point charges in a neutralising background
MADELUNG_SC = 2.837297

SPEC = {"study": "defects", "name": "gpaw-chain", "backend": "gpaw",
        "backend_settings": {"kpts": [2, 2, 2], "ecut": 250},
        "host": {"builder": "cspbbr3", "phase": "cubic"},
        "relax": {"cell": True, "fmax": 0.05, "backend_settings": {"kpts": [4, 4, 4], "ecut": 250}},
        "supercell": [1, 1, 1], "defects": {"vacancies": ["Br"]}, "charges": "suggested",
        "competing_phases": ["Cs", "Pb", "Br2", "CsBr"], "prerelax": "chgnet",
        "dielectric": {"value": 4.2, "source": "PBE DFPT ε∞ of CsPbBr3 (test value)"},
        "defect_fmax": 0.1, "defect_steps": 15, "phase_fmax": 0.1, "phase_steps": 10,
        "fermi": {"temperature": 600, "quench_to": 300, "effective_masses": [0.2, 0.2], "source": "test values"}}


def test_charged_study_needs_a_dielectric_constant(tmp_path):
    spec = {k: v for k, v in SPEC.items() if k != "dielectric"}
    with pytest.raises(InputError, match="needs 'dielectric'"):
        plan_study(study_from_dict(spec, folder=tmp_path))


def test_dft_study_plans_prerelaxation_and_charge_states(tmp_path):
    graph = plan_study(study_from_dict(SPEC, folder=tmp_path))
    labels = [s.label for s in graph.steps]
    assert "V_Br_3d-prerelax" in labels and {"V_Br_3d_q+0", "V_Br_3d_q+1"} <= set(labels)
    pre = graph.node("V_Br_3d-prerelax")
    assert pre.backend == "chgnet" and pre.job_settings["steps"] == 15
    q1 = graph.node("V_Br_3d_q+1")
    assert q1.parents == ["V_Br_3d-prerelax"] and q1.job_settings == {"fmax": 0.1, "steps": 15, "charge": 1,
                                                                      "defect": True}
    assert graph.node("phase-Pb").backend_settings["kpoint_density"] == 6.0      # a metal
    assert "kpts" not in graph.node("phase-CsBr").backend_settings                # not the cell's Γ mesh
    assert graph.analyses[0].settings["dielectric"]["value"] == 4.2


@pytest.mark.slow
def test_gpaw_charged_vacancy_chain(tmp_path):
    out = run_local(plan_study(study_from_dict(SPEC, folder=tmp_path)))
    assert {k: v["status"] for k, v in out.items() if v["status"] != "completed"} == {}
    doc = out["formation-energies"]["document"]
    assert doc["kind"] == "defects" and doc["status"] == "completed"
    assert doc["level_of_theory"] == "PBE//PBE" and doc["dielectric"]["value"] == 4.2

    q1 = read_result(tmp_path / "V_Br_3d_q+1")
    assert q1["data"]["settings"]["defect"] is True and q1["files"]["potential"] == "potential.npz"
    assert q1["data"]["spin"]["polarised"] is False                          # 36 electrons: even
    q0 = read_result(tmp_path / "V_Br_3d_q+0")
    assert q0["data"]["spin"]["polarised"] is True                           # 37 electrons: odd

    # the Freysoldt lattice term of a point-like charge in a 5.9 Å cubic cell ~ Makov–Payne q²α/(2εL)
    L = q1["structure"]["cell"][0][0]
    makov_payne = MADELUNG_SC * COULOMB / (2 * 4.2 * L)
    from pvatoms.analysis.defects import freysoldt_correction
    fc = freysoldt_correction(q1, read_result(tmp_path / "perfect"), 4.2)
    assert fc["electrostatic"] == pytest.approx(makov_payne, rel=0.15)
    assert doc["corrections"]["V_Br_3d q=+1"] == pytest.approx(fc["correction"], abs=1e-9)

    # two limits: E_f(+1, VBM) differs between them by the difference of Δμ_Br (one Br removed)
    rows = {r["q"]: r for r in doc["formation_energies"]}
    limits = doc["chemical_potentials"]["limits"]
    assert len(limits) >= 2
    cols = [c for c in rows[1] if c.startswith("E_f ")]
    names = list(limits)
    by_col = {c: next(n for n in names if c[4:].startswith(n + " ") or c[4:-5] == n) for c in cols}
    a, b = cols[0], cols[1]
    diff = rows[1][a] - rows[1][b]
    assert diff == pytest.approx(limits[by_col[a]]["Br"] - limits[by_col[b]]["Br"], abs=1e-6)
    for r in rows.values():
        assert all(math.isfinite(r[c]) for c in cols)

    folder = tmp_path / "formation-energies"
    for name in ("formation_energies.csv", "formation_energies.tex", "chempots.json", "summary.json"):
        assert (folder / name).is_file()
    assert any(folder.glob("formation_energy_*.png"))
    assert (folder / doc["files"]["pymatgen_defect_entries"]["V_Br_3d q=+1"]).is_file()

    # self-consistent and frozen-defect Fermi levels at every limit; sites: V_Br 3d of the cubic cell
    assert set(doc["fermi_level"]) == set(limits) and set(doc["fermi_level_quenched"]) == set(limits)
    gap = read_result(tmp_path / "perfect")["band_edges"]["gap"]
    for sol in doc["fermi_level"].values():
        assert -1.0 < sol["fermi_level"] < gap + 1.0 and sol["temperature"] == 600
        assert {c["sites"] for c in sol["concentrations"]} == {3.0}
    assert (folder / "fermi_level.csv").is_file() and doc["effective_masses_source"] == "test values"
