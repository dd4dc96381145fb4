"""A Pb cluster at the RP / perovskite boundary: the model, the count of metal states in the host
gap, and the band-edges study's region DOS from real GPAW wave functions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from pvatoms.analysis.pdos import gap_states
from pvatoms.build import rp_interface_pb
from pvatoms.errors import InputError

FORMAL = {"Cs": 1, "Pb": 2, "Br": -1}


def test_pb_cluster_model_is_a_neutral_host_plus_a_13_atom_fcc_cluster_on_the_boundary():
    atoms = rp_interface_pb(rp_n=1, rp_layers=1, perovskite_layers=3)       # 2x2 in-plane by default
    region = atoms.arrays["region"]
    cl = region == "cluster"
    assert cl.sum() == 13 and set(atoms[cl].get_chemical_symbols()) == {"Pb"}
    host = atoms[~cl]
    assert sum(FORMAL[s] for s in host.get_chemical_symbols()) == 0            # Pb2+ host kept neutral
    # the 2x2 model has 4 x 48 atoms; what was cut is neutral too (the cavity plus the balance)
    removed = atoms.info["pb_cluster"]["removed"]
    assert sum(removed.values()) + len(host) == 4 * 48
    assert sum(FORMAL[k] * v for k, v in removed.items()) == 0
    # the cuboctahedron: 12 nearest neighbours at a/sqrt(2) around the centre atom
    pos = atoms.positions[cl]
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    centre = int(np.argmin(d.sum(axis=1)))
    assert np.allclose(np.sort(d[centre])[1:], 4.95 / np.sqrt(2), atol=1e-9)
    # every host atom at least the contact distance from the cluster (through the images)
    from ase.geometry import get_distances
    _, dist = get_distances(pos, atoms.positions[~cl], cell=atoms.cell, pbc=True)
    assert dist.min() >= 3.1 - 1e-9
    assert dist.min() == pytest.approx(atoms.info["pb_cluster"]["closest_host_distance"], abs=1e-6)
    # in contact with the boundary: the centre atom lies on the first boundary plane
    n = np.asarray(atoms.info["interface"]["stacking_normal"])
    plane = atoms.info["interface"]["boundary_planes"][0]
    assert (pos[centre] @ n - plane) % atoms.info["interface"]["period_along_normal"] == pytest.approx(0, abs=1e-6)
    assert atoms.arrays["boundary_distance"][cl][centre] == pytest.approx(0.0, abs=1e-6)
    assert Counter(region)["cluster"] == 13 and atoms.info["provenance"]["builder"] == "pvatoms.build.rp_interface_pb"


def test_pb_cluster_model_refuses_what_does_not_fit_naming_the_fix():
    with pytest.raises(InputError, match="does not fit.*larger in-plane supercell"):
        rp_interface_pb(supercell=(1, 1), rp_n=1, rp_layers=1, perovskite_layers=3)
    with pytest.raises(InputError, match="radius is in Å"):
        rp_interface_pb(radius=36.0)
    with pytest.raises(InputError, match="contact"):
        rp_interface_pb(contact=1.0)


def _proj(energies, occupations, cluster_weight, natoms=4):
    """One spin, one k-point, degeneracy 2; the last atom is the cluster, which holds
    ``cluster_weight`` of each state, the rest spread over the host atoms."""
    e = np.asarray(energies, float)[None, None, :]
    w = np.zeros(e.shape + (natoms,))
    cw = np.asarray(cluster_weight, float)
    w[..., -1] = cw
    w[..., :-1] = ((1 - cw) / (natoms - 1))[None, None, :, None]
    return {"eigenvalues": e, "occupations": np.asarray(occupations, float)[None, None, :],
            "k_weights": np.array([1.0]), "weights": w, "degeneracy": 2.0, "fermi_level": -0.2,
            "method": "partition", "symbols": ["Cs", "Pb", "Br", "Pb"]}


LABELS = ["perovskite", "perovskite", "boundary", "cluster"]


def test_gap_states_count_the_metal_states_between_the_host_edges():
    # host VB at -2, -1; cluster states at -0.5 (filled) and +0.3 (empty); host CB at 1.5, 2.0
    proj = _proj([-2.0, -1.0, -0.5, 0.3, 1.5, 2.0], [1, 1, 1, 0, 0, 0], [0.1, 0.1, 0.9, 0.8, 0.05, 0.05])
    out = gap_states(proj, LABELS)
    assert out["host_vbm"] == -1.0 and out["host_cbm"] == 1.5 and out["host_gap"] == 2.5
    assert out["states_in_gap"] == pytest.approx(4.0)                  # 2 states x spin degeneracy 2
    assert out["metal_states_in_gap"] == pytest.approx(2 * (0.9 + 0.8))
    assert out["metal_fraction_in_gap"] == pytest.approx(0.85)
    assert out["lowest_above_vbm"] == pytest.approx(0.5) and out["highest_below_cbm"] == pytest.approx(1.2)
    assert out["metal_in_gap"] is True and "3.4 states per cell on the cluster" in out["statement"]
    assert out["fermi"] == -0.2


def test_region_dos_of_a_cluster_model_is_drawn_from_the_host_vbm(tmp_path, monkeypatch):
    """With a metal region the DOS document carries the gap states, and the figure takes the host
    VBM (not the cell's highest filled state, a cluster state here) as its zero, shades the host
    gap and marks the Fermi level."""
    from pvatoms.analysis import pdos
    proj = _proj([-2.0, -1.0, -0.5, 0.3, 1.5, 2.0], [1, 1, 1, 0, 0, 0], [0.1, 0.1, 0.9, 0.8, 0.05, 0.05])
    seen = {}
    real = pdos.plot_region_dos
    monkeypatch.setattr(pdos, "plot_region_dos", lambda *a, **k: seen.update(k) or real(*a, **k))
    doc = pdos.analyse_region_dos(proj, LABELS, tmp_path / "pdos", reference=-0.5, metal="cluster")
    assert doc["gap_states"] == gap_states(proj, LABELS)
    assert seen["reference"] == -1.0 and seen["host_gap"] == (-1.0, 1.5) and seen["fermi"] == -0.2
    assert seen["reference_name"] == "the host VBM" and (tmp_path / "pdos" / "pdos.png").is_file()
    seen.clear()
    plain = pdos.analyse_region_dos(proj, LABELS, tmp_path / "plain", reference=-0.5)
    assert "gap_states" not in plain and seen["reference"] == -0.5 and "host_gap" not in seen


def test_gap_states_say_none_when_the_gap_is_clean_or_the_states_are_host_like():
    clean = _proj([-2.0, -1.0, 1.5, 2.0], [1, 1, 0, 0], [0.9, 0.1, 0.05, 0.9])      # cluster states inside bands
    out = gap_states(clean, LABELS)
    assert out["states_in_gap"] == 0 and out["metal_in_gap"] is False and out["lowest_above_vbm"] is None
    assert "no metal states in the gap" in out["statement"]
    # a host-like state (0.3 on the cluster) moves the edge itself: no gap state is invented
    host_like = _proj([-2.0, -1.0, -0.5, 1.5], [1, 1, 1, 0], [0.1, 0.1, 0.3, 0.1])
    out = gap_states(host_like, LABELS)
    assert out["host_vbm"] == -0.5 and out["states_in_gap"] == 0
    # one cluster state (0.6 on the cluster, 2 x 0.6 = 1.2 states per cell there): counted, and
    # below a threshold of 2 states per cell not called metal states in the gap
    one = _proj([-1.0, 0.0, 1.5], [1, 0, 0], [0.1, 0.6, 0.1])
    assert gap_states(one, LABELS)["metal_states_in_gap"] == pytest.approx(1.2)
    assert gap_states(one, LABELS)["metal_in_gap"] is True
    assert gap_states(one, LABELS, min_states=2.0)["metal_in_gap"] is False
    with pytest.raises(InputError, match="no atoms of region 'cluster'"):
        gap_states(clean, ["perovskite"] * 4)
    with pytest.raises(InputError, match="no host-like occupied or empty states"):
        gap_states(_proj([-1.0, 0.0], [1, 1], [0.1, 0.1]), LABELS)


@pytest.mark.slow
def test_band_edge_study_with_region_dos_from_real_gpaw_wave_functions(tmp_path):
    """Cubic CsPbBr3 doubled along c, its halves labelled as two regions: the region DOS of the
    band-edges job sums to the total and each half carries half of every band-edge state."""
    from pvatoms.build import cspbbr3
    from pvatoms.io import write_structure
    from pvatoms.studies import plan_study, run_local
    atoms = cspbbr3("cubic").repeat((1, 1, 2))
    z = atoms.get_scaled_positions()[:, 2]
    atoms.arrays["region"] = np.where(z < 0.5 - 1e-6, "perovskite", "rp").astype("<U16")
    write_structure(atoms, tmp_path / "double.extxyz")
    spec = {"study": "band-edges", "name": "be", "backend": "gpaw", "folder": str(tmp_path / "run"),
            "backend_settings": {"ecut": 200, "kpts": [2, 2, 1]}, "pdos": True,
            "structure": {"file": str(tmp_path / "double.extxyz")}, "relax": {"backend": "chgnet", "cell": False,
                                                                               "fmax": 0.5, "steps": 1}}
    out = run_local(plan_study(spec))
    assert out["localization"]["status"] == "completed", out["localization"]
    pdos = out["localization"]["document"]["pdos"]["band-edges"]
    assert pdos["sum_rule"]["holds"]
    edges = pdos["local_edges"]
    # the two halves are equivalent by a lattice translation: the same local edges on both
    assert edges["rp"]["vbm"] == pytest.approx(edges["perovskite"]["vbm"], abs=1e-6)
    assert edges["rp"]["cbm"] == pytest.approx(edges["perovskite"]["cbm"], abs=1e-6)
    assert "gap_states" not in pdos                                 # no cluster region, no metal count


def test_band_edge_study_refuses_region_dos_without_gpaw():
    from pvatoms.studies import study_from_dict
    with pytest.raises(InputError, match="pdos.*GPAW wave functions.*'chgnet'"):
        study_from_dict({"study": "band-edges", "name": "x", "backend": "chgnet", "pdos": True,
                         "structure": {"builder": "rp_interface"}})


def test_pb_boundary_workflow_file_plans_the_cluster_model_with_region_dos():
    from pathlib import Path

    from pvatoms.studies import load_study, plan_study
    graph = plan_study(load_study(Path(__file__).resolve().parents[1] / "workflows" / "pb-boundary.yaml"))
    relax = graph.node("relax")
    assert relax.backend == "sevennet" and relax.job_settings["cell"] is False
    assert relax.inputs["structure"].structure["symbols"].count("Pb") == 4 * 8 - 4 + 13
    assert graph.node("localization").settings == {"pdos": True}
