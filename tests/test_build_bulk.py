"""Bulk CsPbBr3: space groups, Wyckoff sites, Pb-Br bonds and tilts, checked independently."""

import numpy as np
import pytest
import spglib

from geometry import pb_br_bonds, pb_br_pb_angles
from pvatoms.build import cspbbr3
from pvatoms.errors import InputError


def dataset(atoms):
    return spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers),
                                       symprec=0.01)


def test_pnma_space_group_and_wyckoff_sites(pnma):
    ds = dataset(pnma)
    assert ds.number == 62 and ds.international == "Pnma"
    sites = {}
    for sym, w, eq in zip(pnma.get_chemical_symbols(), ds.wyckoffs, ds.equivalent_atoms):
        sites.setdefault((sym, w), set()).add(eq)
    mult = {k: int(np.sum([s == k[0] and w == k[1] for s, w in zip(pnma.get_chemical_symbols(), ds.wyckoffs)]))
            for k in sites}
    assert mult == {("Cs", "c"): 4, ("Pb", "b"): 4, ("Br", "d"): 8, ("Br", "c"): 4}
    assert pnma.get_chemical_formula(mode="metal", empirical=True) == "CsPbBr3"


def test_pnma_octahedra_and_tilts(pnma):
    bonds = pb_br_bonds(pnma)
    assert all(len(b) == 6 for b in bonds)
    allb = np.concatenate(bonds)
    assert 2.95 < allb.min() and allb.max() < 3.10
    angles = pb_br_pb_angles(pnma)
    assert len(angles) == 12                       # every Br bridges two Pb
    assert angles.max() < 165 and angles.min() > 140   # a-b+a- tilts kept


def test_experimental_lattice_keeps_fractional_coordinates(pnma):
    exp = cspbbr3("pnma", "experiment")
    assert np.allclose(exp.cell.cellpar(), [8.244, 11.735, 8.198, 90, 90, 90])
    assert np.allclose(exp.get_scaled_positions(), pnma.get_scaled_positions())
    assert dataset(exp).number == 62


@pytest.mark.parametrize("phase,number,natoms", [("tetragonal", 127, 10), ("cubic", 221, 5)])
def test_high_temperature_phases(phase, number, natoms):
    atoms = cspbbr3(phase, "experiment")
    assert len(atoms) == natoms and dataset(atoms).number == number
    bonds = np.concatenate(pb_br_bonds(atoms))
    assert np.all(np.abs(bonds - bonds.mean()) < 0.01)      # regular octahedra
    if phase == "cubic":
        assert np.allclose(pb_br_pb_angles(atoms), 180.0)
        assert np.isclose(atoms.cell[0, 0], 5.874)


def test_supercell_keeps_symmetry_labels_and_provenance(pnma):
    sc = cspbbr3("pnma", supercell=(2, 2, 2))
    assert len(sc) == 160 and dataset(sc).number == 62
    assert set(sc.arrays["region"]) == {"perovskite"}
    prov = sc.info["provenance"]
    assert prov["builder"] == "pvatoms.build.cspbbr3" and prov["supercell"] == [2, 2, 2]
    assert prov["reference"].endswith("CsPbBr3_Pnma_mp-567629_PBE.cif")
    # species come in contiguous blocks Cs, Pb, Br (POSCAR friendly)
    sym = sc.get_chemical_symbols()
    assert sym == sorted(sym, key=["Cs", "Pb", "Br"].index)


@pytest.mark.parametrize("kwargs,words", [
    ({"phase": "rhombohedral"}, ["rhombohedral", "pnma", "tetragonal", "cubic"]),
    ({"lattice": "hse"}, ["hse", "pbe", "experiment"]),
    ({"supercell": (2, 0, 1)}, ["supercell", "(2, 0, 1)"]),
])
def test_bad_input_names_value_and_choices(kwargs, words):
    with pytest.raises(InputError) as err:
        cspbbr3(**kwargs)
    for w in words:
        assert w in str(err.value)
