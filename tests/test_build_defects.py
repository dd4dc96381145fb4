"""Point defects: the distinct sites of Pnma CsPbBr3, stable atom order, charge suggestions,
interstitial clearance, complexes, supercell sizing, region filters, errors."""

import numpy as np
import pytest

from geometry import mic_vectors, neighbours
from pvatoms.build import defects_supercell, point_defects, rp_interface
from pvatoms.build.common import supercell_for_min_length
from pvatoms.errors import InputError


@pytest.fixture(scope="module")
def vacancies(pnma):
    return {d.name: d for d in point_defects(pnma, vacancies=["Br", "Pb", "Cs"], supercell=(2, 2, 2))}


def test_pnma_has_two_br_one_pb_one_cs_vacancy(vacancies):
    assert sorted(vacancies) == ["V_Br_4c", "V_Br_8d", "V_Cs_4c", "V_Pb_4b"]
    assert {k: d.multiplicity for k, d in vacancies.items()} == {"V_Br_4c": 4, "V_Br_8d": 8,
                                                                 "V_Cs_4c": 4, "V_Pb_4b": 4}
    for d in vacancies.values():
        assert len(d.atoms) == 159


def test_apical_and_equatorial_br_told_apart_by_geometry(pnma, vacancies):
    """Apical Br bridges two Pb along b (the long axis); equatorial Br bridges them in the a-c plane."""
    perfect = defects_supercell(pnma, (2, 2, 2))
    for name, axis_along_b in (("V_Br_4c", True), ("V_Br_8d", False)):
        i = vacancies[name].removed[0]
        assert perfect.get_chemical_symbols()[i] == "Br"
        _, d, v = neighbours(perfect, i, "Pb", 3.6)
        assert len(d) == 2
        pb_pb = v[1] - v[0]
        along_b = abs(pb_pb[1]) / np.linalg.norm(pb_pb)
        assert (along_b > 0.9) == axis_along_b
    assert "apical" in vacancies["V_Br_4c"].site and "equatorial" in vacancies["V_Br_8d"].site


def test_atom_order_is_stable_for_neb_endpoints(pnma, vacancies):
    perfect = defects_supercell(pnma, (2, 2, 2))
    for d in vacancies.values():
        keep = np.delete(np.arange(len(perfect)), d.removed)
        assert np.allclose(d.atoms.positions, perfect.positions[keep])
        assert d.atoms.get_chemical_symbols() == [perfect.get_chemical_symbols()[k] for k in keep]
    # two different Br vacancies: same atoms in the same order except the one that hops
    a, b = vacancies["V_Br_4c"], vacancies["V_Br_8d"]
    ia, ib = a.removed[0], b.removed[0]
    common = [k for k in range(len(perfect)) if k not in (ia, ib)]
    ra = [k - (k > ia) for k in common]
    rb = [k - (k > ib) for k in common]
    assert np.allclose(a.atoms.positions[ra], b.atoms.positions[rb])


def test_suggested_charges_from_oxidation_states(vacancies):
    assert vacancies["V_Br_4c"].charges == [0, 1]
    assert vacancies["V_Pb_4b"].charges == [-2, -1, 0]
    assert vacancies["V_Cs_4c"].charges == [-1, 0]


def test_interstitials_antisites_complexes(pnma):
    ds = point_defects(pnma, interstitials=["Br", "Pb"], antisites=["Pb_Cs"],
                       complexes=["schottky-PbBr2", "schottky-CsBr"], supercell=(2, 2, 2),
                       max_interstitial_sites=2)
    by = {d.name: d for d in ds}
    assert {"Br_i_1", "Br_i_2", "Pb_i_1", "Pb_i_2", "Pb_Cs_4c", "schottky-PbBr2_4b",
            "schottky-CsBr_4c"} == set(by)
    for name in ("Br_i_1", "Pb_i_2"):
        d = by[name]
        new = d.added[0]
        others = np.delete(np.arange(len(d.atoms)), new)
        assert np.linalg.norm(mic_vectors(d.atoms, new, others), axis=1).min() >= 2.2
        sym = d.atoms.get_chemical_symbols()
        assert sym[new] == name[:2] and (new + 1 == len(sym) or sym[new + 1] != sym[new])
    assert by["Br_i_1"].charges == [-1, 0] and by["Pb_i_1"].charges == [0, 1, 2]
    assert by["Pb_Cs_4c"].atoms.get_chemical_formula() == "Br96Cs31Pb33"
    assert by["Pb_Cs_4c"].charges == [0, 1]
    perfect = defects_supercell(pnma, (2, 2, 2))
    sch = by["schottky-PbBr2_4b"]
    assert sch.atoms.get_chemical_formula() == "Br94Cs32Pb31" and sch.charges == [0]
    pb = [i for i in sch.removed if perfect.get_chemical_symbols()[i] == "Pb"][0]
    brs = [i for i in sch.removed if i != pb]
    assert np.all(np.linalg.norm(mic_vectors(perfect, pb, brs), axis=1) < 3.1)


def test_min_length_supercell(pnma):
    reps = supercell_for_min_length(pnma, 15.0)
    assert reps == (2, 2, 2)
    for r, length in zip(reps, pnma.cell.lengths()):
        assert r * length >= 15.0 and (r - 1) * length < 15.0
    ds = point_defects(pnma, vacancies=["Cs"], min_length=15.0)
    assert len(ds[0].atoms) == 159


def test_region_and_boundary_distance_filters():
    iface = rp_interface(1, 3, 5)
    near = point_defects(iface, vacancies=["Br", "Cs", "Pb"], max_distance_from_boundary=3.0)
    assert near and all(d.boundary_distance <= 3.0 for d in near)
    assert {d.region for d in near} <= {"boundary", "perovskite", "rp"}
    rp_only = point_defects(iface, vacancies=["Pb"], region="rp")
    assert rp_only and all(d.region == "rp" for d in rp_only)
    allpb = point_defects(iface, vacancies=["Pb"])
    assert {d.region for d in allpb} == {"rp", "perovskite"}
    # distances reported equal the geometry: distance of the removed atom's height to a boundary plane
    n = np.array(iface.info["stacking_normal"])
    period = iface.cell[2] @ n
    for d in near:
        h = np.asarray(d.position) @ n
        ref = min(abs((h - p + period / 2) % period - period / 2) for p in iface.info["boundary_planes"])
        assert np.isclose(d.boundary_distance, ref, atol=1e-3)


@pytest.mark.parametrize("kwargs,match", [
    ({"vacancies": ["Cl"]}, r"no Cl in the structure \(elements present: Br, Cs, Pb\)"),
    ({"vacancies": ["Xx"]}, "unknown element 'Xx'"),
    ({"antisites": ["PbCs"]}, "A_B"),
    ({"antisites": ["Pb_Cl"]}, "no Cl site"),
    ({"complexes": ["frenkel"]}, "schottky-PbBr2, schottky-CsBr"),
    ({"vacancies": ["Br"], "region": "rp"}, "region labels"),
    ({"vacancies": ["Br"], "supercell": (2, 2, 2), "min_length": 10}, "not both"),
])
def test_defect_bad_input(pnma, kwargs, match):
    host = pnma.copy()
    if kwargs.get("region"):
        del host.arrays["region"]
    with pytest.raises(InputError, match=match):
        point_defects(host, **kwargs)


def test_defect_records_provenance_and_bookkeeping(pnma):
    """Hand-checked bookkeeping of one vacancy, one interstitial and one complex in the 20-atom cell:
    the removed index is a host atom of that element, the rest of the cell is the perfect one in
    order; the added atom is the last of its element and carries the per-atom arrays; the complex
    names its cation; provenance keeps the host's reference file and the builder chain."""
    from pvatoms.build.defects import Defect, _unique_names
    perfect = defects_supercell(pnma)
    ds = {d.name: d for d in point_defects(pnma, vacancies=["Br"], interstitials=["I"], complexes=["schottky-CsBr"],
                                           max_interstitial_sites=1)}
    v = ds["V_Br_8d"]
    assert v.kind == "vacancy" and v.element is None and v.host_element == "Br" and len(v.removed) == 1
    j = v.removed[0]
    assert perfect.get_chemical_symbols()[j] == "Br"
    keep = [i for i in range(len(perfect)) if i != j]
    assert np.allclose(v.atoms.positions, perfect.positions[keep]) and v.added == []
    prov = v.atoms.info["provenance"]
    assert prov["builder"] == "pvatoms.build.point_defects" and prov["arguments"]["removed"] == [j]
    assert prov["reference"] == pnma.info["provenance"]["reference"] and prov["reference"].endswith(".cif")
    assert prov["parent"]["builder"] == "pvatoms.build.cspbbr3"
    i = ds["I_i_1"]
    assert i.kind == "interstitial" and i.element == "I" and i.added == [20] and len(i.atoms) == 21
    assert i.atoms.get_chemical_symbols()[-1] == "I" and i.atoms.pbc.all()
    assert len(i.atoms.arrays["region"]) == 21 and np.allclose(i.atoms.positions[:20], perfect.positions)
    c = ds["schottky-CsBr_4c"]
    assert c.kind == "complex" and c.host_element == "Cs" and len(c.removed) == 2
    with pytest.raises(InputError, match="unknown element 'Xx' in --interstitial"):
        point_defects(pnma, interstitials=["Xx"])
    with pytest.raises(InputError, match="unknown complex 'bogus'; valid choices: schottky-PbBr2, schottky-CsBr"):
        point_defects(pnma, complexes=["bogus"])
    same = [Defect(n, "vacancy", None, "Br", None, "a", 1, [0, 0, 0], "bulk", None, [0]) for n in "aaba"]
    _unique_names(same)
    assert [d.name for d in same] == ["a_1", "a_2", "b", "a_3"]


def test_interstitials_near_a_boundary_carry_their_distance_to_the_nearest_plane():
    """Interstitials in the 28-atom rp1-pv1 model: each one's distance to the nearest boundary plane,
    counted here with explicit periodic images of the planes (p + m·period, m = -1, 0, 1) along the
    stacking normal, is the defect's ``boundary_distance`` and the added atom's array value. The
    eight largest voids lie 0 to 2.6 Å from a plane; a 1 Å limit skips the three beyond it and keeps
    the other five."""
    host = rp_interface(rp_n=1, rp_layers=1, perovskite_layers=1)
    normal = np.asarray(host.info["stacking_normal"], float)
    period = float(np.asarray(host.cell)[2] @ normal)

    def by_hand(pos):
        h = float(np.asarray(pos) @ normal)
        return min(abs(h - (p + m * period)) for p in host.info["boundary_planes"] for m in (-1, 0, 1))

    every = point_defects(host, interstitials=["Br"], max_interstitial_sites=8)
    near = point_defects(host, interstitials=["Br"], max_interstitial_sites=8, max_distance_from_boundary=1.0)
    for d in near + every:
        assert d.boundary_distance == pytest.approx(by_hand(d.position), abs=1e-4)
        assert d.atoms.arrays["boundary_distance"][d.added[0]] == pytest.approx(d.boundary_distance, abs=1e-4)
    assert max(by_hand(d.position) for d in every) == pytest.approx(2.5741, abs=1e-3)
    far = {d.name for d in every if by_hand(d.position) > 1.0}
    kept = {d.name for d in every} - far
    assert len(far) == 3 and kept <= {d.name for d in near} and not far & {d.name for d in near}
    assert max(d.boundary_distance for d in near) <= 1.0
