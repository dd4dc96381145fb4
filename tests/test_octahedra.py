"""Octahedral geometry per Pb plane (pvatoms.analysis.octahedra), checked against ASE's own
distances and angles and against structures whose answer is known by construction."""

import numpy as np
import pytest
from ase import Atoms

from pvatoms.analysis.octahedra import bridges, framework_summary, metal_planes, octahedra, plane_profile
from pvatoms.errors import InputError


def cubic(a=5.87, reps=(1, 1, 1)):
    at = Atoms("CsPbBr3", scaled_positions=[(0, 0, 0), (.5, .5, .5), (0, .5, .5), (.5, 0, .5), (.5, .5, 0)],
               cell=[a, a, a], pbc=True)
    return at.repeat(reps)


def test_cubic_aristotype_is_untilted_and_centred():
    at = cubic(reps=(1, 1, 3))
    octs = octahedra(at)
    assert [o["bonds"] for o in octs] == [6, 6, 6]
    assert all(o["bond_length"] == pytest.approx(5.87 / 2) and o["off_centring"] < 1e-9 for o in octs)
    br = bridges(at)
    assert len(br) == 9 and all(b["angle"] == pytest.approx(180.0) for b in br)
    assert sorted(b["kind"] for b in br).count("apical") == 3                 # the Br between planes along c
    planes = metal_planes(at)
    assert [len(p["members"]) for p in planes] == [1, 1, 1]
    assert np.diff([p["height"] for p in planes]) == pytest.approx([5.87, 5.87])


def test_off_centring_is_the_displacement_of_pb():
    at = cubic()
    pb = at.get_chemical_symbols().index("Pb")
    at.positions[pb, 2] += 0.15
    (o,) = octahedra(at)
    assert o["off_centring"] == pytest.approx(0.15)
    # bonds 2.785, 3.085 along c and four of sqrt(2.935^2 + 0.15^2) in-plane
    d = np.array([2.935 - 0.15, 2.935 + 0.15] + [np.hypot(2.935, 0.15)] * 4)
    assert o["bond_length"] == pytest.approx(d.mean(), abs=1e-3)
    assert o["distortion"] == pytest.approx(np.mean(np.abs(d - d.mean())) / d.mean(), abs=1e-4)


def test_pnma_angles_and_bonds_agree_with_ase():
    from pvatoms.build import cspbbr3
    at = cspbbr3("pnma")
    br = bridges(at, normal=[0, 1, 0])
    assert len(br) == 12                                # every Br of Pnma bridges two Pb
    for b in br:
        p, q = b["metals"]
        assert b["angle"] == pytest.approx(at.get_angle(p, b["index"], q, mic=True), abs=1e-6)
        assert b["angle"] < 175                          # the a-b+a- tilts
    assert sum(b["kind"] == "apical" for b in br) == 4   # 4 Pb, one apical Br above each along b
    for o in octahedra(at):
        ds = [at.get_distance(o["index"], k, mic=True) for k in range(len(at))
              if at[k].symbol == "Br" and at.get_distance(o["index"], k, mic=True) < 3.8]
        assert o["bonds"] == 6 and o["bond_length"] == pytest.approx(np.mean(ds))
    s = framework_summary(at, normal=[0, 1, 0])
    assert 140 < s["apical"] < 175 and 140 < s["equatorial"] < 175


def test_ruddlesden_popper_terminal_br_bridge_nothing():
    from pvatoms.build import ruddlesden_popper
    at = ruddlesden_popper(n=1)
    br = bridges(at)
    octs = octahedra(at)
    n_pb = at.get_chemical_symbols().count("Pb")
    assert all(o["bonds"] == 6 for o in octs) and len(octs) == n_pb
    assert len(br) == 2 * n_pb and all(b["kind"] == "equatorial" for b in br)
    rows = plane_profile(at)
    assert all(r["apical"] is None and r["equatorial"] is not None for r in rows)


def test_profile_labels_regions_and_splits_planes_across_the_cell_edge():
    at = cubic(reps=(2, 2, 4))
    at.positions += [0, 0, -5.87 / 2 + 0.2]              # a Pb plane straddles z = 0
    at.positions[[k for k, p in enumerate(at.positions) if p[2] < 0.3 and at[k].symbol == "Pb"][0], 2] -= 0.4
    at.wrap()
    at.arrays["region"] = np.where(at.positions[:, 2] < 2 * 5.87, "rp", "perovskite")
    rows = plane_profile(at)
    assert [r["metals"] for r in rows] == [4, 4, 4, 4]
    assert [r["region"] for r in rows].count("rp") == 2


def test_a_structure_without_the_metal_is_refused_by_name():
    at = Atoms("Cs2", positions=[(0, 0, 0), (2, 2, 2)], cell=[4, 4, 4], pbc=True)
    with pytest.raises(InputError, match="Pb–Br.*Cs"):
        octahedra(at)
