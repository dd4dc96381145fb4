"""The boundary study: spec, plan (steps, roles, strain groups, cell masks, k-meshes), the
run-time structures built from relaxed bulks, a masked interface relaxation through the local
runner (CHGNet), and the convergence table on synthetic results."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from pvatoms.errors import InputError
from pvatoms.studies import plan_study, study_from_dict
from pvatoms.studies.boundary import relax_spacing

BASE = {"study": "boundary", "name": "b", "backend": "gpaw", "backend_settings": {"ecut": 300}}


def spec(**kw):
    return {**BASE, **kw}


def test_spec_defaults_and_refusals():
    s = study_from_dict(spec())
    assert (s.rp_n, s.axis, s.strain_on, s.convergence, s.soc, s.pdos) == (1, "b", "rp", "scan", True, True)
    assert [m.label for m in s.models] == ["rp2-pv4"] and [x.label for x in s.settings] == ["k2x2-300eV"]
    assert s.relax.cell is True and s.relax.fmax == 0.005 and s.interface_fmax == 0.01
    assert study_from_dict(spec(relax={"fmax": 0.01})).relax.fmax == 0.01
    with pytest.raises(InputError, match="backend gpaw"):
        study_from_dict(spec(backend="chgnet"))
    with pytest.raises(InputError, match="unknown key"):
        study_from_dict(spec(models=[{"rp_layer": 2}]))
    with pytest.raises(InputError, match="used twice"):
        study_from_dict(spec(models=[{"rp_layers": 2}, {"rp_layers": 2}]))
    with pytest.raises(InputError, match="strain_on"):
        study_from_dict(spec(strain_on="both"))


def test_plan_scans_thickness_and_settings_with_consistent_meshes():
    g = plan_study(spec(relax={"backend": "chgnet", "fmax": 0.05},
                        models=[{"rp_layers": 1, "perovskite_layers": 3}, {"rp_layers": 2, "perovskite_layers": 4}],
                        settings=[{"kpts_in_plane": [2, 2]}, {"kpts_in_plane": [3, 3], "ecut": 400}]))
    steps = {s.label: s for s in g.steps}
    assert [s.label for s in g.steps[:2]] == ["rp-bulk-relax", "pv-bulk-relax"]
    bulk_relax = steps["rp-bulk-relax"].job_settings
    assert bulk_relax["cell"] is True and "cell_mask" not in bulk_relax
    # the RP side takes the perovskite's lattice: one strained RP bulk, relaxed along the normal (y)
    assert steps["rp-strained-relax"].job_settings["cell_mask"] == [0, 1, 0, 0, 0, 0]
    assert steps["rp-strained-relax"].inputs["structure"].parent == "rp-strained-structure"
    # the interfaces relax to 0.01 eV/Å by default: at 0.05 they stop half-way (boundary_relaxation.md)
    assert steps["rp2-pv4-relax"].job_settings == {"cell": True, "cell_mask": [0, 1, 0, 0, 0, 0], "fmax": 0.01,
                                                   "steps": 300}
    statics = sorted(x for x in steps if "-static-" in x)
    assert statics == ["pv-static-k2x2-300eV", "pv-static-k3x3-400eV", "rp-static-k2x2-300eV", "rp-static-k3x3-400eV",
                       "rp1-pv3-static-k2x2-300eV", "rp1-pv3-static-k3x3-400eV", "rp2-pv4-static-k2x2-300eV"]
    assert steps["rp2-pv4-static-k2x2-300eV"].backend_settings["kpts"] == [2, 2, 1]
    assert steps["pv-static-k2x2-300eV"].backend_settings["kpts"] == [2, 2, 2]          # same spacing
    assert steps["rp-static-k3x3-400eV"].backend_settings["kpts"][:2] == [3, 3]
    assert steps["rp1-pv3-static-k3x3-400eV"].backend_settings["ecut"] == 400
    assert all(steps[x].job_settings == {"write_gpw": True} for x in statics)
    assert steps["rp-static-k2x2-300eV"].parents == ["rp-strained-relax"]
    assert steps["pv-static-k2x2-300eV"].parents == ["pv-bulk-relax"]
    a = g.analysis("boundary")
    assert [c["case"] for c in a.settings["cases"]] == ["rp1-pv3@k2x2-300eV", "rp2-pv4@k2x2-300eV",
                                                        "rp1-pv3@k3x3-400eV"]
    assert sorted(a.roles) == ["interface", "perovskite_bulk", "rp_bulk", "structures"]
    assert g.notes and "GPAW//chgnet" in g.notes[0]
    grid = plan_study(spec(models=[{"rp_layers": 1, "perovskite_layers": 3}, {"rp_layers": 2, "perovskite_layers": 4}],
                           settings=[{"kpts_in_plane": [2, 2]}, {"kpts_in_plane": [3, 3]}], convergence="grid"))
    assert len(grid.analysis("boundary").settings["cases"]) == 4


def test_other_geometry_sources_relax_and_compute_the_reference_case_beside_the_studys_own():
    """geometries: [chgnet] beside SevenNet-0: the thickest model at the first setting gets its own
    CHGNet chain (both bulks, the strained RP, the interface; no prerelax) and its own statics,
    labelled with the source; the thinner model and the other settings do not."""
    g = plan_study(spec(relax={"backend": "sevennet", "fmax": 0.02}, geometries=["chgnet"],
                        models=[{"rp_layers": 1, "perovskite_layers": 3}, {"rp_layers": 2, "perovskite_layers": 4}],
                        settings=[{"kpts_in_plane": [1, 1]}, {"kpts_in_plane": [2, 2]}]))
    assert any("bulk relaxations to 0.02 eV/Å: the Pnma tilt mode is flat" in n for n in g.notes)
    assert not any("tilt mode" in n for n in plan_study(spec(relax={"backend": "sevennet"})).notes)
    steps = {s.label: s for s in g.steps}
    extra = sorted(x for x in steps if x.endswith("-chgnet"))
    assert extra == ["pv-bulk-relax-chgnet", "pv-static-k1x1-300eV-chgnet", "rp-bulk-relax-chgnet",
                     "rp-static-k1x1-300eV-chgnet", "rp-strained-relax-chgnet", "rp2-pv4-relax-chgnet",
                     "rp2-pv4-static-k1x1-300eV-chgnet"]
    assert {steps[x].backend for x in extra if "-relax" in x} == {"chgnet"}
    assert steps["rp2-pv4-relax"].backend == "sevennet"
    assert steps["rp2-pv4-relax-chgnet"].job_settings == steps["rp2-pv4-relax"].job_settings
    assert steps["rp2-pv4-relax-chgnet"].inputs["structure"].parent == "rp2-pv4-structure-chgnet"
    assert steps["rp-static-k1x1-300eV-chgnet"].parents == ["rp-strained-relax-chgnet"]
    assert steps["rp2-pv4-static-k1x1-300eV-chgnet"].backend_settings == steps["rp2-pv4-static-k1x1-300eV"].backend_settings
    node = next(x for x in g.analyses if x.label == "rp2-pv4-structure-chgnet")
    assert node.roles == {"perovskite_bulk": ["pv-bulk-relax-chgnet"], "rp_bulk": ["rp-bulk-relax-chgnet"]}
    a = g.analysis("boundary")
    cases = {c["case"]: c for c in a.settings["cases"]}
    assert list(cases) == ["rp1-pv3@k1x1-300eV", "rp2-pv4@k1x1-300eV", "rp1-pv3@k2x2-300eV",
                           "rp2-pv4@k1x1-300eV//chgnet"]
    assert cases["rp2-pv4@k1x1-300eV//chgnet"]["geometry_index"] == 1
    assert cases["rp2-pv4@k1x1-300eV"]["geometry_source"] == "sevennet" and a.settings["own_geometry"] is False
    assert "rp2-pv4-static-k1x1-300eV-chgnet" in a.roles["interface"]
    for bad, match in ((["chgnet", "chgnet"], "used twice"), (["sevennet"], "already the relax backend"),
                       (["gpaw"], "geometries"), ("chgnet", "list")):
        with pytest.raises(InputError, match=match):
            study_from_dict(spec(relax={"backend": "sevennet"}, geometries=bad))


def test_dft_relaxations_start_from_mlip_ones_and_feed_the_statics():
    """relax.backend gpaw: each of the five relaxations (two bulks, the strained RP, the interface) is
    MLIP first (prerelax, SevenNet-0 by default), then GPAW from that geometry with the same job
    settings; the statics hang off the GPAW relaxations, so they compute PBE geometries."""
    g = plan_study(spec(relax={"backend": "gpaw", "fmax": 0.05, "backend_settings": {"ecut": 250}},
                        models=[{"rp_layers": 1, "perovskite_layers": 3}], settings=[{"kpts_in_plane": [1, 1]}]))
    steps = {s.label: s for s in g.steps}
    relaxes = ["rp-bulk-relax", "pv-bulk-relax", "rp-strained-relax", "rp1-pv3-relax"]
    assert sorted(x for x in steps if steps[x].job == "relax") == sorted(relaxes + [r + "-prerelax" for r in relaxes])
    for r in relaxes:
        pre, dft = steps[r + "-prerelax"], steps[r]
        assert (pre.backend, dft.backend) == ("sevennet", "gpaw") and pre.backend_settings == {}
        assert dft.parents == [r + "-prerelax"] and dft.inputs["structure"].parent == r + "-prerelax"
        assert pre.job_settings == dft.job_settings and pre.priority == dft.priority
        assert dft.backend_settings["ecut"] == 250 and len(dft.backend_settings["kpts"]) == 3
    assert steps["rp1-pv3-relax-prerelax"].parents == ["rp1-pv3-structure"]
    assert steps["rp-bulk-relax-prerelax"].inputs["structure"].parent is None        # the given bulk
    assert steps["rp1-pv3-static-k1x1-300eV"].parents == ["rp1-pv3-relax"]
    assert steps["rp-static-k1x1-300eV"].parents == ["rp-strained-relax"]
    node = next(a for a in g.analyses if a.label == "rp1-pv3-structure")      # built from the DFT bulks
    assert node.roles == {"perovskite_bulk": ["pv-bulk-relax"], "rp_bulk": ["rp-bulk-relax"]}
    assert any("sevennet first, then by gpaw" in n for n in g.notes)
    # relaxations need converged forces and stresses: never the statics' Γ-only mesh. The spacing is
    # 1 / (2π · 3 k-points per Å⁻¹) = 0.0531 Å⁻¹, finer than the Γ setting's; meshes counted by hand from
    # the cells (n = ceil(1 / (a · 0.0531)) along each orthogonal axis)
    from pvatoms.schema import atoms_from_dict
    assert relax_spacing(study_from_dict(spec(relax={"backend": "gpaw"}, models=[{"rp_layers": 1, "perovskite_layers": 3}],
                                              settings=[{"kpts_in_plane": [1, 1]}]))) == pytest.approx(1 / (6 * np.pi))
    rp = atoms_from_dict(steps["rp-bulk-relax-prerelax"].inputs["structure"].structure)
    expect = [max(1, int(np.ceil(6 * np.pi / L - 0.05))) for L in rp.cell.lengths()]
    assert steps["rp-bulk-relax"].backend_settings["kpts"] == expect == [3, 3, 1]
    assert steps["rp1-pv3-static-k1x1-300eV"].backend_settings["kpts"][:2] == [1, 1]        # the statics keep Γ
    assert any("k spacing of 0.0531" in n and "Γ-only cell relaxation" in n for n in g.notes)
    assert any("cell relaxations at 250 eV, below 520 eV" in n for n in g.notes)
    assert not any("Pulay" in n for n in plan_study(spec(relax={"backend": "gpaw", "backend_settings": {"ecut": 520}},
                                                         models=[{"rp_layers": 1, "perovskite_layers": 1}])).notes)
    # a GPAW relaxation with no cut-off of its own relaxes at 520 eV, where the Pulay stress is < 0.05 GPa
    own = plan_study(spec(relax={"backend": "gpaw", "backend_settings": {}}, models=[{"rp_layers": 1, "perovskite_layers": 1}]))
    assert {s.backend_settings["ecut"] for s in own.steps if s.job == "relax" and s.backend == "gpaw"} == {520.0}
    assert not any("Pulay" in n for n in own.notes)
    # a finer setting sets the spacing: 4x4 in-plane on the 1x1 interface cell
    fine = study_from_dict(spec(relax={"backend": "gpaw"}, models=[{"rp_layers": 1, "perovskite_layers": 3}],
                                settings=[{"kpts_in_plane": [1, 1]}, {"kpts_in_plane": [4, 4]}]))
    assert relax_spacing(fine) < 1 / (6 * np.pi)
    none = plan_study(spec(relax={"backend": "gpaw"}, prerelax=None, models=[{"rp_layers": 1, "perovskite_layers": 1}]))
    assert not any(s.label.endswith("-prerelax") for s in none.steps)
    mlip = plan_study(spec(relax={"backend": "chgnet"}, models=[{"rp_layers": 1, "perovskite_layers": 1}]))
    assert not any(s.label.endswith("-prerelax") for s in mlip.steps)     # auto: nothing before an MLIP
    with pytest.raises(InputError, match="prerelax 'chgnet' goes before a DFT relaxation, but relax.backend is 'sevennet'"):
        study_from_dict(spec(relax={"backend": "sevennet"}, prerelax="chgnet"))
    with pytest.raises(InputError, match="prerelax"):
        study_from_dict(spec(prerelax="gpaw"))


def test_shared_strain_gets_strained_bulks_per_model_and_axis_a_is_rotated():
    g = plan_study(spec(strain_on="shared", models=[{"rp_layers": 1, "perovskite_layers": 3},
                                                    {"rp_layers": 2, "perovskite_layers": 4}]))
    labels = {n.label for n in g.nodes}
    assert {"rp-strained-relax-rp1-pv3", "pv-strained-relax-rp1-pv3", "rp-strained-relax-rp2-pv4"} <= labels
    a = plan_study(spec(axis="a", models=[{"rp_layers": 2, "perovskite_layers": 2}]))
    step = next(s for s in a.steps if s.label == "rp2-pv2-relax")
    assert step.job_settings["cell_mask"] == [0, 0, 1, 0, 0, 0]          # normal rotated onto z
    from pvatoms.schema import atoms_from_dict
    rp = atoms_from_dict(a.steps[0].inputs["structure"].structure)
    c = np.asarray(rp.cell)
    assert abs(c[0, 2]) < 1e-8 and abs(c[1, 2]) < 1e-8                  # in-plane vectors have no z part


def _summary(label, atoms):
    from pvatoms.schema import atoms_to_dict
    return {"label": label, "status": "completed", "structure": atoms_to_dict(atoms), "folder": "."}


def test_structures_are_built_from_the_relaxed_bulks(tmp_path):
    from pvatoms.studies.boundary import bulk_structures, deform, pnma_vectors, structure_node
    study = study_from_dict(spec())
    bulks = bulk_structures(study)
    pv, rp = bulks["perovskite"], bulks["rp"]
    pv = deform(pv, *pnma_vectors(pv, "b")[:2], 1.01, 1.02, 0.99)   # "relaxed" Pnma: a bit larger in-plane
    rp = deform(rp, rp.cell[0], rp.cell[1], 0.97, 0.97, 1.0)        # "relaxed" RP: 3 % smaller in-plane
    roles = {"perovskite_bulk": [_summary("pv-bulk-relax", pv)], "rp_bulk": [_summary("rp-bulk-relax", rp)]}
    model = {"rp_layers": 1, "perovskite_layers": 3, "supercell": [1, 1]}
    doc = structure_node(roles, tmp_path, make="interface", model=model)
    from pvatoms.schema import atoms_from_dict
    atoms = atoms_from_dict(doc["structure"])
    u_pv, v_pv = np.linalg.norm(pnma_vectors(pv, "b")[:2], axis=1)
    assert np.linalg.norm(atoms.cell[0]) == pytest.approx(u_pv) and np.linalg.norm(atoms.cell[1]) == pytest.approx(v_pv)
    strain = doc["in_plane"]["strain"]
    assert strain["perovskite"]["u"] == pytest.approx(0) and strain["rp"]["u"] == pytest.approx(1.01 / 0.97 - 1)
    assert strain["rp"]["v"] == pytest.approx(1.02 / 0.97 - 1)
    assert doc["in_plane"]["stacking_scale"] == pytest.approx(0.99)
    assert set(atoms.arrays["region"]) == {"rp", "boundary", "perovskite"} and doc["natoms"] == 48
    shared = structure_node(roles, tmp_path, make="interface", model=model, strain_on="shared")
    t = shared["in_plane"]["rp_thickness_fraction"]
    assert t == pytest.approx(0.25)
    assert shared["in_plane"]["target"][0] == pytest.approx(0.75 * u_pv + 0.25 * np.linalg.norm(rp.cell[0]))
    sb = structure_node(roles, tmp_path, make="strained", side="rp")
    srp = atoms_from_dict(sb["structure"])
    assert np.linalg.norm(srp.cell[0]) == pytest.approx(u_pv) and srp.cell[2, 1] == pytest.approx(rp.cell[2, 1])
    with pytest.raises(RuntimeError, match="did not finish"):
        structure_node({"perovskite_bulk": [], "rp_bulk": roles["rp_bulk"]}, tmp_path, make="strained", side="rp")


def test_framework_check_compares_each_sides_interior_with_its_own_bulk(tmp_path):
    """Built from the bulks themselves, the interior octahedra are the bulks' (deviation 0); against
    a Pnma bulk stretched 3 % along the stacking axis (straighter apical bridges) the interior reads as
    tilted more than that bulk, by the angle the stretch opened."""
    from pvatoms.analysis.octahedra import framework_summary
    from pvatoms.schema import atoms_to_dict
    from pvatoms.studies.boundary import bulk_structures, deform, pnma_vectors, structure_node
    from pvatoms.studies.boundary_analysis import framework_check
    bulks = bulk_structures(study_from_dict(spec()))
    pv, rp = bulks["perovskite"], bulks["rp"]
    roles = {"perovskite_bulk": [_summary("pv", pv)], "rp_bulk": [_summary("rp", rp)]}
    model = {"rp_layers": 3, "perovskite_layers": 5, "supercell": [1, 1]}
    iface = structure_node(roles, tmp_path, make="interface", model=model)
    strained = structure_node(roles, tmp_path, make="strained", side="rp")
    rp_doc = {"structure": strained["structure"]}
    out = framework_check(iface, {"structure": atoms_to_dict(pv)}, rp_doc, "b")
    assert out["perovskite"]["planes"] == 3 and out["rp"]["planes"] == 1        # planes that see no boundary
    assert [r["region"] for r in out["profile"]].count("rp") == 3
    for side in ("perovskite", "rp"):
        assert all(abs(m["deviation"]) < 0.05 for m in out[side]["measures"].values()), out[side]
    assert set(out["perovskite"]["measures"]) == {"apical", "equatorial", "bond_length"}
    assert set(out["rp"]["measures"]) == {"equatorial", "bond_length"}          # no apical bridge in an RP block
    wide = deform(pv, *pnma_vectors(pv, "b")[:2], 1.0, 1.0, 1.03)
    opened = framework_summary(wide, normal=[0, 1, 0])["apical"] - framework_summary(pv, normal=[0, 1, 0])["apical"]
    assert opened > 0.3
    off = framework_check(iface, {"structure": atoms_to_dict(wide)}, rp_doc, "b")
    assert off["perovskite"]["measures"]["apical"]["deviation"] == pytest.approx(-opened, abs=0.05)
    assert off["tilt_deviation"] == pytest.approx(-opened, abs=0.05)


def test_the_interior_cut_of_a_model_built_from_the_bulk_is_that_bulk(tmp_path):
    """benchmarks/bench_boundary_interior.py cuts two interior perovskite planes into a Pnma cell:
    from a model built from the bulks, that cell holds the bulk's 20 atoms with the bulk's
    octahedra and the same sorted interatomic distances."""
    import sys
    from pathlib import Path

    from ase.geometry import get_distances

    from pvatoms.analysis.octahedra import framework_summary
    from pvatoms.schema import atoms_from_dict
    from pvatoms.studies.boundary import bulk_structures, structure_node
    from pvatoms.studies.boundary_analysis import framework_check
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_boundary_interior import cut_interior
    bulks = bulk_structures(study_from_dict(spec()))
    pv, rp = bulks["perovskite"], bulks["rp"]
    roles = {"perovskite_bulk": [_summary("pv", pv)], "rp_bulk": [_summary("rp", rp)]}
    doc = structure_node(roles, tmp_path, make="interface", model={"rp_layers": 3, "perovskite_layers": 5,
                                                                     "supercell": [1, 1]})
    iface = atoms_from_dict(doc["structure"])
    prof = framework_check(doc, {"structure": _summary("pv", pv)["structure"]},
                           {"structure": structure_node(roles, tmp_path, make="strained", side="rp")["structure"]},
                           "b")["profile"]
    cut, where = cut_interior(iface, [0, 1, 0], prof)
    assert cut.get_chemical_formula() == pv.get_chemical_formula() == "Br12Cs4Pb4"
    assert where["spacing"] == pytest.approx(pv.cell[1, 1] / 2, abs=1e-6)
    assert np.allclose(sorted(cut.cell.lengths()), sorted(pv.cell.lengths()), atol=1e-6)
    a, b = framework_summary(cut, normal=[0, 1, 0]), framework_summary(pv, normal=[0, 1, 0])
    assert all(a[k] == pytest.approx(b[k], abs=1e-6) for k in ("apical", "equatorial", "bond_length"))

    def dists(x):
        return np.sort(get_distances(x.positions, cell=x.cell, pbc=True)[1].ravel())
    assert np.allclose(dists(cut), dists(pv), atol=1e-6)


def test_the_pbe_strain_takes_the_mlip_pnma_cell_to_the_pbe_one_and_names_the_cell(tmp_path):
    """benchmarks/bench_boundary_pbe_positions.py --pbe-cell: the diagonal strain maps the MLIP Pnma
    cell onto the PBE cell exactly, stretches a model's in-plane lattice the same way, and marks the
    cell 'PBE-strained'; a relaxation that is not PBE's whole cell is refused."""
    import sys
    from pathlib import Path

    from pvatoms.jobs import relax
    from pvatoms.schema import atoms_from_dict, atoms_to_dict
    from pvatoms.studies.boundary import bulk_structures, structure_node
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_boundary_pbe_positions import pnma_strain, strained
    bulks = bulk_structures(study_from_dict(spec()))
    pv = bulks["perovskite"]
    target = pv.copy()
    target.set_cell(np.asarray(pv.cell) * [0.985, 1.004, 0.99], scale_atoms=True)
    pbe = {"status": "completed", "structure": atoms_to_dict(target),
           "level_of_theory": {"energy": "PBE", "geometry": "PBE", "cell": "PBE", "label": "PBE//PBE"},
           "data": {"settings": {"cell": True}}}
    f = pnma_strain(pv, pbe)
    assert f == pytest.approx([0.985, 1.004, 0.99], abs=1e-9)
    assert np.allclose(strained(pv, f).cell, target.cell, atol=1e-9)
    roles = {"perovskite_bulk": [_summary("pv", pv)], "rp_bulk": [_summary("rp", bulks["rp"])]}
    iface = atoms_from_dict(structure_node(roles, tmp_path, make="interface",
                                           model={"rp_layers": 1, "perovskite_layers": 3,
                                                  "supercell": [1, 1]})["structure"])
    out = strained(iface, f)
    assert out.info["cell_method"] == "PBE-strained"
    assert np.allclose(out.get_scaled_positions(), iface.get_scaled_positions(), atol=1e-9)
    along = np.argmax(np.abs(np.asarray(iface.cell)[:2]), axis=1)      # the in-plane vectors' axes
    assert out.cell.lengths()[:2] / iface.cell.lengths()[:2] == pytest.approx(f[along], abs=1e-9)
    mlip = relax(pv, tmp_path / "chgnet", backend="chgnet", fmax=0.5, steps=2)
    with pytest.raises(SystemExit, match="needs a completed PBE relaxation of the whole cell"):
        pnma_strain(pv, mlip)
    with pytest.raises(SystemExit, match="needs a completed PBE relaxation of the whole cell"):
        pnma_strain(pv, {**pbe, "data": {"settings": {"cell": True, "cell_mask": [0, 1, 0, 0, 0, 0]}}})


@pytest.mark.timeout(900)
def test_geometry_part_runs_locally_with_a_masked_interface_relaxation(tmp_path):
    """Bulk relaxations -> run-time structures -> masked relaxations through the local runner
    (CHGNet for speed): the interface keeps its in-plane lattice and relaxes its stacking length."""
    from pvatoms.schema import atoms_from_dict
    from pvatoms.studies import run_local
    from pvatoms.studies.graph import StudyGraph
    g = plan_study(spec(folder=str(tmp_path / "run"), relax={"backend": "chgnet", "fmax": 0.2, "smax": 0.01, "steps": 150},
                        interface_fmax=0.2, interface_steps=150, models=[{"rp_layers": 1, "perovskite_layers": 3}]))
    part = StudyGraph(g.study, g.name, g.folder, [s for s in g.steps if s.job == "relax"],
                      [a for a in g.analyses if a.kind == "boundary-structure"])
    out = run_local(part)
    assert all(v["status"] == "completed" for v in out.values()), {k: v.get("reason") for k, v in out.items()}
    start = atoms_from_dict(out["rp1-pv3-structure"]["document"]["structure"])
    end = atoms_from_dict(out["rp1-pv3-relax"]["summary"]["structure"])
    assert np.allclose(end.cell[:2], start.cell[:2], atol=1e-6)            # in-plane fixed
    assert abs(end.cell[2, 1] - start.cell[2, 1]) > 1e-3                    # stacking length relaxed
    assert np.allclose(end.cell[2, [0, 2]], start.cell[2, [0, 2]], atol=1e-6)
    assert list(end.arrays["region"]) == list(start.arrays["region"])
    pv = atoms_from_dict(out["pv-bulk-relax"]["summary"]["structure"])
    assert np.linalg.norm(start.cell[1]) == pytest.approx(pv.cell[0, 0])   # interface v = relaxed Pnma a
    # the in-plane lattice is the CHGNet bulks': a later DFT relaxation in it names that cell
    assert out["rp1-pv3-structure"]["document"]["level_of_theory"]["cell"] == "CHGNet 0.3.0"
    level = out["rp1-pv3-relax"]["summary"]["level_of_theory"]
    assert level == {"energy": "CHGNet 0.3.0", "geometry": "CHGNet 0.3.0", "cell": "CHGNet 0.3.0",
                     "label": "CHGNet 0.3.0//CHGNet 0.3.0"}


def test_relax_refuses_a_cell_mask_without_cell(tmp_path):
    from pvatoms.build import cspbbr3
    from pvatoms.jobs import relax
    with pytest.raises(InputError, match="cell=True"):
        relax(cspbbr3("cubic"), tmp_path / "r", backend="chgnet", cell_mask=[0, 0, 1, 0, 0, 0])
    with pytest.raises(InputError, match="six booleans"):
        relax(cspbbr3("cubic"), tmp_path / "r", backend="chgnet", cell=True, cell_mask=[0, 1])


# ---------------------------------------------------------------- the analysis on synthetic results

def _doc(folder, atoms, v, vbm, cbm):
    from pvatoms.io import write_potential
    from pvatoms.schema import atoms_to_dict, new_document, save
    doc = new_document("static", {"name": "gpaw", "model": "PBE PW 300 eV", "settings": {"ecut": 300, "xc": "PBE"}},
                       atoms)
    doc.update({"status": "completed", "structure": atoms_to_dict(atoms), "energy": 0.0,
                "band_edges": {"vbm": vbm, "cbm": cbm, "gap": cbm - vbm}})
    write_potential(folder / "potential.npz", v, atoms.cell)
    doc["files"]["potential"] = "potential.npz"
    save(doc, folder)
    return {"label": folder.name, "folder": str(folder), "status": "completed"}


def _interface(n_pv, n_rp, step, p_pv=5.9, p_rp=9.4):
    z_pv = np.arange(n_pv) * p_pv
    z_rp = z_pv[-1] + (p_pv + p_rp) / 2 + np.arange(n_rp) * p_rp
    L = z_rp[-1] + (p_rp + p_pv) / 2
    atoms = Atoms(["Pb"] * (n_pv + n_rp), positions=[[0, 0, h] for h in np.concatenate([z_pv, z_rp])],
                  cell=[6, 6, L], pbc=True)
    atoms.arrays["region"] = np.array(["perovskite"] * n_pv + ["rp"] * n_rp, dtype="<U16")
    z = np.arange(int(L / 0.05)) / int(L / 0.05) * L
    e1, e2 = z_pv[-1] + p_pv / 2, z_rp[-1] + p_rp / 2
    v = step * 0.5 * (np.tanh((z - e1) / 0.5) - np.tanh((z - e2) / 0.5))
    v = v + np.where((z > e1) & (z < e2), np.cos(2 * np.pi * (z - z_rp[0]) / p_rp), np.cos(2 * np.pi * z / p_pv))
    return atoms, np.broadcast_to(v, (3, 3, len(z))).copy()


def test_convergence_table_and_verdict_on_synthetic_results(tmp_path):
    from pvatoms.studies.boundary_analysis import analyse_cases
    bulk = Atoms("Pb", cell=[6, 6, 6], pbc=True)
    flat = np.zeros((3, 3, 3))
    by = {}
    for name, vbm, cbm in (("pv", 1.0, 3.0), ("rp", 1.1, 4.4)):
        (tmp_path / name).mkdir()
        by[name] = _doc(tmp_path / name, bulk, flat, vbm, cbm)
    cases = []
    for k, (n_pv, n_rp, step) in enumerate(((3, 2, 0.45), (6, 4, 0.50), (8, 5, 0.51))):
        label = f"m{k}"
        (tmp_path / label).mkdir()
        by[label] = _doc(tmp_path / label, *_interface(n_pv, n_rp, step), 0.0, 1.0)
        cases.append({"case": f"{label}@s0", "model": label, "setting": "s0", "rp_layers": n_rp,
                      "perovskite_layers": n_pv, "kpts_in_plane": [2, 2], "ecut": 300, "interface": label,
                      "perovskite_bulk": "pv", "rp_bulk": "rp", "structure": "none", "model_index": k,
                      "setting_index": 0, "periods": {"perovskite": 5.9, "rp": 9.4}})
    doc = analyse_cases(by, tmp_path / "out", cases, soc=False, pdos=False, tolerance=0.05)
    assert doc["kind"] == "boundary" and doc["reference_case"] == "m2@s0"
    rows = {r["case"]: r for r in doc["rows"]}
    assert rows["m2@s0"]["converged (thickness)"] == "reference"
    assert rows["m1@s0"]["converged (thickness)"] == "yes" and rows["m0@s0"]["converged (thickness)"] == "no"
    assert rows["m2@s0"]["VBO (eV)"] == pytest.approx(0.1 + 0.51, abs=0.03)
    assert doc["verdict"]["verdict"] == "type II" and doc["verdict"]["holes_on"] == "rp"
    assert doc["spreads"]["thickness"] == pytest.approx(0.01, abs=0.02)
    assert "settings" in doc["notes"][0]
    assert (tmp_path / "out" / "convergence.md").is_file()
    missing = analyse_cases(by, tmp_path / "out2", cases + [{**cases[0], "case": "gone", "interface": "nope"}],
                            soc=False, pdos=False)
    assert missing["skipped_unfinished"] == ["nope"]
    # a second geometry source of the thickest model whose step is 0.25 eV smaller: series "geometry
    # source" against the study's own, its spread in the verdict's uncertainty, the reference unchanged
    (tmp_path / "m2g").mkdir()
    by["m2g"] = _doc(tmp_path / "m2g", *_interface(8, 5, 0.26), 0.0, 1.0)
    other = {**cases[2], "case": "m2@s0//chgnet", "interface": "m2g", "geometry_index": 1, "geometry_source": "chgnet"}
    doc = analyse_cases(by, tmp_path / "out3", cases + [other], soc=False, pdos=False, tolerance=0.05,
                        own_geometry=False)
    rows = {r["case"]: r for r in doc["rows"]}
    assert doc["reference_case"] == "m2@s0"
    assert rows["m2@s0"]["converged (geometry source)"] == "reference"
    assert rows["m2@s0//chgnet"]["converged (geometry source)"] == "no"
    assert "converged (thickness)" not in rows["m2@s0//chgnet"]
    assert doc["spreads"]["geometry source"] == pytest.approx(0.25, abs=0.03)
    assert doc["verdict"]["uncertainty_parts"]["convergence"]["geometry source"] == doc["spreads"]["geometry source"]
    assert doc["verdict"]["uncertainty"] >= doc["spreads"]["geometry source"]
    assert not any("geometry source" in n for n in doc["notes"])
    alone = analyse_cases(by, tmp_path / "out4", cases, soc=False, pdos=False, own_geometry=False)
    assert "convergence with geometry source not tested (one entry)" in alone["notes"]


def test_the_boundary_workflow_file_plans_a_dft_relaxed_convergence_scan():
    from pathlib import Path

    from pvatoms.studies import load_study
    g = plan_study(load_study(Path(__file__).resolve().parents[1] / "workflows" / "boundary.yaml"))
    relax = {s.label: s.backend for s in g.steps if s.job == "relax"}
    assert len(relax) == 12 and {relax[x] for x in relax if x.endswith("-prerelax")} == {"sevennet"}
    assert {relax[x] for x in relax if not x.endswith("-prerelax")} == {"gpaw"}
    cases = [c["case"] for c in g.analysis("boundary").settings["cases"]]
    assert cases == ["rp1-pv3@k1x1-300eV", "rp2-pv4@k1x1-300eV", "rp3-pv5@k1x1-300eV", "rp1-pv3@k2x2-300eV",
                     "rp1-pv3@k2x2-400eV"]


def test_rp_bulk_bench_table_projects_the_stress_on_the_cell_axes_of_the_rp_bulk(tmp_path):
    """benchmarks/bench_rp_bulk_pbe.py: the Pnma in-plane lattice of the b stacking is (c, a), and
    the table reads the stress along u, v and the stacking normal of the RP bulk, whose cell vectors
    lie along z, x and y (not the Cartesian xx, yy, zz)."""
    import sys
    from pathlib import Path

    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import Trajectory

    from pvatoms.studies.boundary import bulk_structures
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_rp_bulk_pbe import GPA, pnma_in_plane, table
    assert pnma_in_plane((8.5, 12.0, 8.2)) == pytest.approx((8.2, 8.5))
    bulks = bulk_structures(study_from_dict(spec()))
    rp = bulks["rp"]
    cell = np.asarray(rp.cell)
    assert np.allclose(np.abs(cell[2] / np.linalg.norm(cell[2])), np.abs(bulks["normal"]))
    with Trajectory(tmp_path / "relax.traj", "w") as t:
        for _ in range(2):
            a = rp.copy()
            sigma = np.diag([1.0, 2.0, 3.0]) / GPA          # GPa along x, y, z
            a.calc = SinglePointCalculator(a, energy=-88.0, forces=np.zeros((len(a), 3)),
                                           stress=sigma[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]])
            t.write(a)
    rows = table(tmp_path, (8.5, 12.0, 8.2), every=4)
    assert len(rows) == 2 + 2                                   # header, frame 0 and the last
    want = [float(np.abs(c / np.linalg.norm(c)) @ [1.0, 2.0, 3.0]) for c in cell]   # each axis is Cartesian
    cols = rows[2].split("|")
    assert [float(x) for x in cols[5].split(",")] == pytest.approx(want, abs=0.01)
    u, v = np.linalg.norm(cell[:2], axis=1)
    assert cols[7].strip() == f"{100 * (8.2 / u - 1):+.2f} / {100 * (8.5 / v - 1):+.2f} %"


def test_rp_bulk_bench_start_sits_at_the_pnma_in_plane_lattice_with_its_stacking_relaxed(tmp_path):
    """benchmarks/bench_rp_bulk_pbe.py --in-plane pnma (CHGNet, ~10 s): the start the PBE leg gets has
    the Pnma in-plane lattice exactly, a stacking length the MLIP relaxed along the RP's own normal,
    the mask of that normal only, and names its cell 'PBE-strained'."""
    import sys
    from pathlib import Path

    from pvatoms.schema import read_result
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_rp_bulk_pbe import rp_start
    abc = (8.526, 11.967, 8.180)
    atoms, mask = rp_start(tmp_path, "chgnet", "pnma", abc, steps=300)
    cell = np.asarray(atoms.cell)
    assert np.linalg.norm(cell[:2], axis=1) == pytest.approx([8.180, 8.526], abs=1e-6)
    normal = np.cross(cell[0], cell[1]) / np.linalg.norm(np.cross(cell[0], cell[1]))
    assert [int(round(abs(x))) for x in normal] + [0, 0, 0] == mask
    assert atoms.info["cell_method"] == "PBE-strained"
    own = np.asarray(read_result(tmp_path / "rp-bulk-chgnet")["structure"]["cell"])
    assert abs(np.linalg.norm(cell[2]) - np.linalg.norm(own[2])) > 1e-3       # the stacking length moved
    assert read_result(tmp_path / "rp-pnma-plane-chgnet")["level_of_theory"]["label"] == \
        "CHGNet 0.3.0//CHGNet 0.3.0 (PBE-strained cell)"
