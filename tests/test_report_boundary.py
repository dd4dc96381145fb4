"""The report's band-offset rule and section: the verdict beside both literature readings, never
more than the convergence table carries."""

from __future__ import annotations

import json

from pvatoms.analysis.alignment import classify
from pvatoms.reports.meaning import boundary_alignment


def facts(verdict, spreads=None, untested=(), tolerance=0.05):
    return {"verdict": verdict, "case": "rp2-pv4@k2x2-300eV", "edges": "PBE+SOC", "natoms": 72,
            "spreads": spreads or {}, "tolerance": tolerance, "untested": list(untested)}


# sides (rp, perovskite): VBM, CBM in eV on one common zero
SEED = classify(-0.3, 1.2, 0.0, 1.6, 0.05)          # electrons on the RP, holes on the perovskite: type II
THIND = classify(-0.3, 1.9, 0.0, 1.6, 0.05)         # the RP straddles: both carriers on the perovskite
REVERSED = classify(0.2, 1.9, 0.0, 1.6, 0.05)       # type II the other way round
CLOSE = classify(-0.3, 1.58, 0.0, 1.6, 0.05)        # CBO 0.02 eV: within the uncertainty


def test_each_verdict_is_set_beside_both_literature_readings():
    assert SEED["verdict"] == "type II" and THIND["verdict"] == "type I"
    s = boundary_alignment(facts(SEED, {"thickness": 0.01, "settings": 0.02}))
    assert "type II alignment with electrons on the rp side and holes on the perovskite side" in s
    assert "this model agrees with the seed study" in s
    assert "seed study reports the CBM on the RP side" in s and "Thind et al." in s       # both readings, always
    assert "holds the offsets within 0.05 eV over thickness and settings" in s
    s = boundary_alignment(facts(THIND, {"thickness": 0.0, "settings": 0.0}))
    assert "type I alignment with both electrons and holes on the perovskite side" in s
    assert "agrees with Thind et al. The convergence table" in s and ".." not in s
    assert "agrees with neither" in boundary_alignment(facts(REVERSED, {"thickness": 0.0, "settings": 0.0}))


def test_undecided_unconverged_and_untested_are_said():
    assert CLOSE["verdict"] == "cannot tell"
    s = boundary_alignment(facts(CLOSE, {"thickness": 0.01, "settings": 0.01}))
    assert "cannot tell type I from type II" in s and "decides between neither reading" in s
    s = boundary_alignment(facts(SEED, {"thickness": 0.12, "settings": 0.01}))
    assert "not converged: thickness changes them by 0.12 eV" in s and "provisional" in s
    assert "holds the offsets" not in s
    s = boundary_alignment(facts(SEED, {"settings": 0.01}, untested=["thickness"]))
    assert "Convergence with thickness was not tested (one entry each), so the verdict is provisional." in s
    assert "holds the offsets" not in s
    assert boundary_alignment(None) is None and boundary_alignment({"verdict": None}) is None


def test_boundary_section_renders_the_table_and_feeds_the_rule(tmp_path):
    """A study index with one boundary analysis document: the section prints the strain, the
    convergence table and the statement, and hands the verdict to the rule."""
    from pvatoms.reports import sections
    from pvatoms.reports.index import StudyIndex
    folder = tmp_path / "studies" / "b" / "boundary"
    folder.mkdir(parents=True)
    rows = [{"case": "rp1-pv3@k1x1-200eV", "atoms": 48, "k in-plane": "1x1", "ecut (eV)": 200.0, "VBO (eV)": -0.3,
             "CBO (eV)": -0.4, "lineup ± (eV)": 0.02, "verdict": "type II", "margin (eV)": 0.3,
             "converged (thickness)": "yes"}]
    doc = {"kind": "boundary", "reference_case": "rp1-pv3@k1x1-200eV", "edges": "PBE+SOC", "verdict": SEED,
           "statement": "rp1-pv3@k1x1-200eV (PBE+SOC edges): " + SEED["statement"], "rows": rows,
           "spreads": {"thickness": 0.01}, "tolerance": 0.05,
           "notes": ["convergence with settings not tested (one entry)"],
           "cases": [{"case": "rp1-pv3@k1x1-200eV", "natoms": 48,
                      "in_plane": {"strain": {"rp": {"u": 0.0123, "v": 0.0101}, "perovskite": {"u": 0.0, "v": 0.0}}}}]}
    (folder / "analysis.json").write_text(json.dumps(doc))
    index = {"b": {"study": "boundary", "name": "b", "folder": str(tmp_path / "studies" / "b"), "steps": {},
                   "analyses": {"boundary": {"kind": "boundary", "roles": {}, "folder": str(folder)}}}}
    (tmp_path / "studies.json").write_text(json.dumps(index))
    out = {}
    text = "\n".join(sections.boundary(tmp_path, StudyIndex(tmp_path), out))
    assert "rp +1.23 % / +1.01 %" in text and "perovskite +0.00 % / +0.00 %" in text
    assert "| rp1-pv3@k1x1-200eV | 48 |" in text and "\n*convergence with settings not tested (one entry)*\n" in text
    assert "converged (thickness)" in text and "converged (settings)" not in text and "geometry" not in text
    assert out["boundary"]["untested"] == ["settings"] and out["boundary"]["natoms"] == 48
    s = boundary_alignment(out["boundary"])
    assert "Convergence with settings was not tested" in s and "agrees with the seed study" in s


def test_a_fermi_level_outside_the_gap_is_placed_from_the_nearer_edge():
    from pvatoms.reports.meaning import fermi_statement
    below = fermi_statement("Pb-poor", "equilibrium", 600, -0.91, 2.09, 3e-7, 2e26, [("V_Pb", -1, 2e26)])
    assert "0.91 eV below the VBM (outside the gap" in below and "-0.91" not in below
    above = fermi_statement("Br-poor", "equilibrium", 600, 2.29, 2.09, 1e26, 1e-7, [])
    assert "0.20 eV above the CBM (outside the gap" in above
    inside = fermi_statement("Br-poor", "quenched", 300, 0.24, 2.09, 1e-13, 1e14, [])
    assert "is 0.24 eV above the VBM (in the lower half of the gap: p-type" in inside


def test_the_pbe_reading_and_the_densities_are_set_beside_the_soc_verdict():
    pbe = classify(-0.3, 1.45, 0.0, 1.6, 0.05)          # without SOC: CBO -0.15, type II
    f = dict(facts(THIND, {"thickness": 0.0, "settings": 0.0}), pbe={"verdict": pbe["verdict"], "cbo": pbe["cbo"]},
             f_cbm_rp=0.89, f_vbm_perovskite=0.95)
    s = boundary_alignment(f)
    assert "Without SOC the same lineup gives type II (CBO -0.15 eV against +0.30 eV with SOC)" in s
    assert "put the CBM 89 % on the RP side and the VBM 95 % on the perovskite side" in s
    assert "speak for the PBE edges, not for the SOC ones" in s
    f["pbe"] = {"verdict": "cannot tell", "cbo": -0.04}
    assert "Without SOC the same lineup cannot tell the type (CBO -0.04 eV" in boundary_alignment(f)
    f["edges"] = "PBE"                                   # no SOC run: nothing to set beside
    assert "Without SOC" not in boundary_alignment(f)


def test_an_mlip_geometry_is_said_with_the_dft_load_on_it():
    """Offsets on MLIP geometries name the geometry source and the DFT forces and stacking stress
    on it; a PBE//PBE model gets no such sentence."""
    f = dict(facts(THIND, {"thickness": 0.0, "settings": 0.0}),
             level_of_theory={"energy": "PBE", "geometry": "SevenNet-0", "label": "PBE//SevenNet-0"},
             residual={"max_force": 0.2671, "stress_normal": -0.654})
    s = boundary_alignment(f)
    assert "The geometries are SevenNet-0's, not PBE minima" in s
    assert ("at the statics' k-mesh and cut-off, PBE forces on the model reach 0.27 eV/Å and its stress along the "
            "stacking normal is -0.65 GPa." in s)
    assert "which this run does not measure" in s
    g = dict(f, spreads={"thickness": 0.0, "settings": 0.0, "geometry source": 0.284})
    s = boundary_alignment(g)
    assert "geometry source (the spread over sources, 0.28 eV, is counted in the uncertainty above); at" in s
    assert "geometry source changes them by 0.28 eV" in s and s.count("provisional") == 1
    s = boundary_alignment(dict(g, untested=["thickness"]))
    assert "Convergence with thickness was not tested either (one entry each)." in s and s.count("provisional") == 1
    f["residual"] = {"max_force": 0.05, "stress_normal": None}
    assert "reach 0.05 eV/Å." in boundary_alignment(f) and "stacking normal" not in boundary_alignment(f)
    f["level_of_theory"] = {"energy": "PBE", "geometry": "PBE", "label": "PBE//PBE"}
    assert "not PBE minima" not in boundary_alignment(f) and "forces on the model" not in boundary_alignment(f)


def test_an_interior_tilted_unlike_its_bulk_is_said_with_both_angles():
    """The side whose interior planes bridge more than a degree away from its bulk is named with
    both angles; within a degree, or unmeasured, nothing is said."""
    from pvatoms.reports.meaning import interior_caveat
    fw = {"perovskite": {"planes": 3, "measures": {
              "apical": {"interior": 155.31, "bulk": 159.60, "deviation": -4.35},
              "equatorial": {"interior": 150.62, "bulk": 150.77, "deviation": -0.21},
              "bond_length": {"interior": 3.052, "bulk": 3.052, "deviation": 0.0}}},
          "rp": {"planes": 1, "measures": {"equatorial": {"interior": 152.2, "bulk": 152.2, "deviation": 0.02}}}}
    f = dict(facts(THIND, {"thickness": 0.0, "settings": 0.0}), framework=fw)
    s = boundary_alignment(f)
    assert ("In this model the apical Pb–Br–Pb angles of the perovskite interior (155.3°) lie 4.3° from its bulk's "
            "(159.6°): the octahedra there are tilted unlike the bulk") in s
    assert "equatorial" not in s and "RP interior" not in s
    fw["perovskite"]["measures"]["apical"]["deviation"] = -0.9
    assert interior_caveat(fw) == "" and interior_caveat(None) == "" and interior_caveat({"rp": {}}) == ""


def test_residual_load_reads_the_force_and_the_stress_along_the_stacking_normal():
    """Largest force by atom norm, not by component; the normal stress of a sheared cell (c
    tilted towards b, as rp2-pv4's) is sigma_zz of the a x b normal, converted from eV/Å^3 to GPa."""
    from ase.units import GPa
    from pvatoms.studies.boundary_analysis import residual_load
    cell = [[8.0, 0.0, 0.0], [0.0, 8.5, 0.0], [0.0, -4.2, 46.0]]
    doc = {"forces": [[0.3, 0.4, 0.0], [0.0, 0.0, -0.45]], "stress": [0.001, 0.002, -0.5 * GPa, 0.0, 0.0, 0.003],
           "structure": {"cell": cell}}
    r = residual_load(doc)
    assert abs(r["max_force"] - 0.5) < 1e-12 and abs(r["stress_normal"] + 0.5) < 1e-9
    rot = [[8.0, 0.0, 0.0], [0.0, 0.0, 8.5], [0.0, -46.0, -4.2]]     # the same cell with the normal along y
    doc = {"forces": [[0.0, 0.1, 0.0]], "stress": [0.0, -0.25 * GPa, 0.0, 0.0, 0.0, 0.0], "structure": {"cell": rot}}
    assert abs(residual_load(doc)["stress_normal"] + 0.25) < 1e-9
    assert residual_load({"forces": None}) is None
    assert residual_load({"forces": [[0.1, 0, 0]], "stress": None, "structure": {"cell": cell}})["stress_normal"] is None
