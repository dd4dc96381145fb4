"""Ruddlesden-Popper phases and RP/perovskite boundaries: composition, symmetry, the (1/2,1/2)
shift, octahedra, region labels against geometry, strain bookkeeping."""

import numpy as np
import pytest
import spglib

from geometry import min_pair_distance, pb_br_bonds, pb_br_pb_angles
from pvatoms.build import rp_interface, ruddlesden_popper
from pvatoms.errors import InputError


def sg_number(atoms):
    return spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers),
                                       symprec=0.01).number


@pytest.mark.parametrize("n,formula", [(1, "Cs2PbBr4"), (2, "Cs3Pb2Br7"), (3, "Cs4Pb3Br10")])
def test_untilted_rp_is_body_centred_tetragonal(n, formula):
    rp = ruddlesden_popper(n)
    assert rp.get_chemical_formula(mode="metal", empirical=True) == formula
    assert sg_number(rp) == 139                               # I4/mmm (K2NiF4 type for n = 1)
    assert all(len(b) == 6 for b in pb_br_bonds(rp))
    assert min_pair_distance(rp) > 2.9


def test_adjacent_blocks_shifted_by_half_half():
    rp = ruddlesden_popper(1)
    a = rp.cell[0, 0]
    pb = rp.positions[np.array(rp.get_chemical_symbols()) == "Pb"]
    pb = pb[np.argsort(pb[:, 2])]
    assert len(pb) == 2
    shift = (pb[1, :2] - pb[0, :2]) / a
    assert np.allclose(np.mod(shift, 1.0), [0.5, 0.5], atol=1e-6)
    # the rock-salt double layer: every Cs has one Br straight across the gap at the gap spacing
    sym = np.array(rp.get_chemical_symbols())
    cs, br = rp.positions[sym == "Cs"], rp.positions[sym == "Br"]
    c = rp.cell[2, 2]
    for p in cs:
        d = br - p
        d[:, 2] -= c * np.rint(d[:, 2] / c)
        d[:, :2] -= a * np.rint(d[:, :2] / a)
        vertical = (np.linalg.norm(d[:, :2], axis=1) < 1e-6) & (np.abs(np.abs(d[:, 2]) - 3.5) < 1e-6)
        assert vertical.sum() == 1


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tilted_rp_keeps_pnma_tilts(n):
    rp = ruddlesden_popper(n, tilted=True)
    assert rp.get_chemical_formula(mode="metal", empirical=True) == ruddlesden_popper(n).get_chemical_formula(mode="metal", empirical=True)
    assert all(len(b) == 6 for b in pb_br_bonds(rp))
    ang = pb_br_pb_angles(rp)
    assert ang.max() < 165
    assert min_pair_distance(rp) > 2.9


@pytest.mark.parametrize("bad", [0, 4, -1])
def test_rp_n_out_of_range(bad):
    with pytest.raises(InputError, match=r"1, 2, 3"):
        ruddlesden_popper(bad)


def _planes(values, tol=0.6):
    """Cluster heights (Å) into planes; returns sorted plane heights."""
    v = np.sort(values)
    groups, cur = [], [v[0]]
    for x in v[1:]:
        if x - cur[-1] < tol:
            cur.append(x)
        else:
            groups.append(np.mean(cur))
            cur = [x]
    groups.append(np.mean(cur))
    return np.array(groups)


def test_interface_composition_labels_and_geometry():
    K, M, n = 5, 3, 1
    atoms = rp_interface(rp_n=n, rp_layers=M, perovskite_layers=K)
    sym = np.array(atoms.get_chemical_symbols())
    # each pseudocubic layer of the sqrt2 x sqrt2 cell: PbBr2 layer 2 Pb + 4 Br, CsBr layer 2 Cs + 2 Br
    n_b = K + M * n
    n_a = (K + 1) + M * (n + 1)
    assert (sym == "Pb").sum() == 2 * n_b and (sym == "Cs").sum() == 2 * n_a
    assert (sym == "Br").sum() == 4 * n_b + 2 * n_a
    assert np.allclose(atoms.cell.angles(), 90)              # M odd: orthogonal cell
    assert min_pair_distance(atoms) > 2.5
    assert all(len(b) == 6 for b in pb_br_bonds(atoms))       # every Pb octahedral

    # find the rock-salt gaps independently: consecutive Cs planes ~3.5 Å apart (not ~3 Å)
    normal = np.array(atoms.info["stacking_normal"])
    period = atoms.cell[2] @ normal
    h = np.mod(atoms.positions @ normal, period)
    cs_planes = _planes(h[sym == "Cs"])
    gaps = []
    for i in range(len(cs_planes)):
        nxt = cs_planes[(i + 1) % len(cs_planes)] + (period if i + 1 == len(cs_planes) else 0)
        if abs((nxt - cs_planes[i]) - 3.5) < 0.05:
            gaps.append(((cs_planes[i] + nxt) / 2) % period)
    assert len(gaps) == M + 1
    # count Pb planes between consecutive gaps: the K-thick block is the perovskite
    pb_planes = _planes(h[sym == "Pb"])
    gaps = np.sort(gaps)
    blocks = []
    for i in range(len(gaps)):
        lo, hi = gaps[i], gaps[(i + 1) % len(gaps)] + (period if i + 1 == len(gaps) else 0)
        inside = [p for p in pb_planes if lo < p < hi or lo < p + period < hi]
        blocks.append((lo, hi, len(inside)))
    thick = [b for b in blocks if b[2] == K]
    assert len(thick) == 1 and sorted(b[2] for b in blocks) == sorted([K] + [n] * M)
    lo, hi, _ = thick[0]
    boundaries = [lo % period, hi % period]
    assert np.allclose(sorted(boundaries), sorted(atoms.info["boundary_planes"]), atol=1e-6)
    sep = atoms.info["interface"]["boundary_separation"]
    assert np.isclose(sep["perovskite_side"], hi - lo) and np.isclose(sep["rp_side"], period - (hi - lo))
    # labels match geometry
    reg = atoms.arrays["region"]
    dist = np.min([np.abs((h - b + period / 2) % period - period / 2) for b in boundaries], axis=0)
    assert np.all((reg == "boundary") == (dist <= 2.5 + 1e-9))
    in_pv = ((h - lo) % period) < (hi - lo)
    assert np.all(reg[(reg != "boundary") & in_pv] == "perovskite")
    assert np.all(reg[(reg != "boundary") & ~in_pv] == "rp")
    assert np.allclose(atoms.arrays["boundary_distance"], dist)


@pytest.mark.parametrize("strain_on", ["rp", "perovskite", "shared"])
def test_interface_strain_bookkeeping(strain_on):
    ref = rp_interface(1, 1, 3)
    a_pv = ref.info["interface"]["reference_in_plane_pseudocubic"]["perovskite"]
    atoms = rp_interface(1, 1, 3, strain_on=strain_on, rp_in_plane=1.02 * a_pv)
    s = atoms.info["interface"]["in_plane_strain"]
    f = np.linalg.norm(atoms.cell[0]) / np.linalg.norm(ref.cell[0])   # actual in-plane scaling
    assert np.isclose(s["perovskite"]["u"], f - 1, atol=1e-6)
    assert np.isclose(s["rp"]["u"], f / 1.02 - 1, atol=1e-6)
    expected = {"rp": 1.0, "perovskite": 1.02, "shared": 1 + 0.02 * 1 / 4}[strain_on]
    assert np.isclose(f, expected, atol=1e-9)


@pytest.mark.parametrize("axis", ["a", "c"])
def test_interface_along_other_pseudocubic_axes(axis):
    atoms = rp_interface(1, 1, 3, axis=axis)
    assert set(atoms.arrays["region"]) == {"rp", "boundary", "perovskite"}
    assert all(len(b) == 6 for b in pb_br_bonds(atoms))
    assert min_pair_distance(atoms) > 2.5


def test_even_rp_block_count_gives_oblique_but_closed_cell():
    atoms = rp_interface(1, 2, 4)
    assert not np.allclose(atoms.cell.angles(), 90)
    assert all(len(b) == 6 for b in pb_br_bonds(atoms))      # closure is coherent
    assert min_pair_distance(atoms) > 2.5


@pytest.mark.parametrize("kwargs,match", [
    ({"rp_n": 1, "rp_layers": 1, "perovskite_layers": 2}, "cannot close"),
    ({"rp_layers": 0}, "rp-layers"),
    ({"perovskite_layers": -2}, "perovskite-layers"),
    ({"axis": "x"}, "valid choices: a, b, c"),
    ({"rp_n": 5}, "1, 2, 3"),
    ({"gap": 1.0}, "not physical"),
])
def test_interface_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        rp_interface(**kwargs)
