"""Symmetric slabs: plane sequence and stoichiometry counted by hand from the atom heights, labels,
octahedra, vacuum, charge; RP slabs; Miller settings; bad input; the command."""

import json
import subprocess

import numpy as np
import pytest

from geometry import min_pair_distance, pb_br_bonds
from pvatoms.build import cspbbr3, ruddlesden_popper
from pvatoms.build.slab import slab
from pvatoms.errors import InputError


def planes(atoms, tol=1.0):
    """Atomic planes along z (plain numpy): list of (mean height, {element: count}, indices)."""
    z = atoms.positions[:, 2]
    order = np.argsort(z)
    cuts = np.flatnonzero(np.diff(z[order]) > tol) + 1
    sym = np.array(atoms.get_chemical_symbols())
    out = []
    for g in np.split(order, cuts):
        els, n = np.unique(sym[g], return_counts=True)
        out.append((z[g].mean(), dict(zip(els.tolist(), n.tolist())), g))
    return out


def kind(comp):
    if comp.get("Pb") and not comp.get("Cs") and comp.get("Br") == 2 * comp["Pb"]:
        return "PbBr2"
    if comp.get("Cs") and not comp.get("Pb") and comp.get("Br") == comp["Cs"]:
        return "CsBr"
    return "other"


@pytest.mark.parametrize("miller,per_plane", [((0, 1, 0), 2), ((1, 0, 1), 4), ((1, 0, -1), 4)])
@pytest.mark.parametrize("termination,layers", [("CsBr", 2), ("CsBr", 3), ("PbBr2", 2), ("PbBr2", 4)])
def test_pnma_terminations_by_plane_counts(pnma, miller, per_plane, termination, layers):
    s = slab(pnma, miller=miller, layers=layers, termination=termination, vacuum=12)
    pl = planes(s)
    kinds = [kind(c) for _, c, _ in pl]
    assert "other" not in kinds
    # alternating planes, same termination on both sides, `layers` PbBr2 planes
    assert all(a != b for a, b in zip(kinds, kinds[1:]))
    assert kinds[0] == kinds[-1] == termination
    assert kinds.count("PbBr2") == layers
    # each plane holds per_plane formula units (plane area / pseudocubic area)
    for _, c, _ in pl:
        assert max(c.get("Cs", 0), c.get("Pb", 0)) == per_plane
    n_cs = kinds.count("CsBr") * per_plane
    n_pb = layers * per_plane
    comp = dict(zip(*np.unique(s.get_chemical_symbols(), return_counts=True)))
    assert comp == {"Cs": n_cs, "Pb": n_pb, "Br": n_cs + 2 * n_pb}
    rep = s.info["slab"]
    if termination == "CsBr":          # one CsBr plane more than PbBr2 planes: excess CsBr
        assert n_cs - n_pb == per_plane and rep["excess"] == {"CsBr": per_plane, "PbBr2": 0}
    else:
        assert n_pb - n_cs == per_plane and rep["excess"] == {"CsBr": 0, "PbBr2": per_plane}
    q = comp["Cs"] + 2 * comp["Pb"] - comp["Br"]
    assert q == 0 == rep["net_formal_charge"] == int(s.arrays["formal_charge"].sum())


def test_layer_and_region_labels_follow_the_planes(pnma):
    s = slab(pnma, layers=3, termination="PbBr2", supercell=(2, 1), surface_depth=1)
    pl = planes(s)
    layer = s.arrays["layer"]
    for k, (_, _, idx) in enumerate(pl):
        assert set(layer[idx]) == {min(k, len(pl) - 1 - k)}
    assert set(s.arrays["region"][layer == 0]) == {"surface"}
    assert set(s.arrays["region"][layer > 0]) == {"bulk"}
    ok = slab(pnma, layers=3, surface_depth=2)
    assert set(ok.arrays["region"][ok.arrays["layer"] <= 1]) == {"surface"}


def test_octahedra_vacuum_and_distances(pnma):
    s = slab(pnma, layers=3, termination="CsBr", vacuum=14)
    assert all(len(b) == 6 for b in pb_br_bonds(s))           # CsBr termination: all octahedra whole
    assert min_pair_distance(s) > 2.9
    z = s.positions[:, 2]
    assert s.cell[2, 2] - (z.max() - z.min()) == pytest.approx(14.0)
    assert np.allclose(s.cell[2, :2], 0) and np.allclose(s.cell[:2, 2], 0)   # normal along z
    p = slab(pnma, layers=3, termination="PbBr2")
    cn = np.array([len(b) for b in pb_br_bonds(p)])
    outer = p.arrays["layer"][p.numbers == 82] == 0
    assert set(cn[outer]) == {5} and set(cn[~outer]) == {6}   # outer Pb lack their outer apical Br


def test_tilts_are_kept(pnma):
    from geometry import pb_br_pb_angles
    s = slab(pnma, layers=4, termination="CsBr")
    ang = pb_br_pb_angles(s)
    assert len(ang) and ang.max() < 165


@pytest.mark.parametrize("tilted", [False, True])
def test_rp_slabs(tilted):
    rp = ruddlesden_popper(1, tilted=tilted)
    cs = slab(rp, layers=2, termination="CsBr")
    kinds = [kind(c) for _, c, _ in planes(cs)]
    # whole Cs2PbBr4 blocks: CsBr PbBr2 CsBr | CsBr PbBr2 CsBr (rock-salt pair in between)
    assert kinds == ["CsBr", "PbBr2", "CsBr", "CsBr", "PbBr2", "CsBr"]
    assert cs.get_chemical_formula(mode="metal", empirical=True) == "Cs2PbBr4"
    assert cs.info["slab"]["excess"] == {"CsBr": 0, "PbBr2": 0}
    pb = slab(rp, layers=2, termination="PbBr2")
    kinds = [kind(c) for _, c, _ in planes(pb)]
    assert kinds == ["PbBr2", "CsBr", "CsBr", "PbBr2"]
    n = pb.info["slab"]["excess"]["PbBr2"]
    assert n == len(pb) // 10 and n > 0                        # one PbBr2 per surface cell in excess


def test_pseudocubic_setting_maps_to_pnma_indices(pnma):
    a = slab(pnma, miller=(1, 0, 0), setting="pseudocubic", layers=2)
    b = slab(pnma, miller=(1, 0, 1), layers=2)
    assert a.info["slab"]["miller"] == [1, 0, 1] and b.info["slab"]["miller_pseudocubic"] == [1, 0, 0]
    assert np.allclose(a.cell.cellpar(), b.cell.cellpar())
    c = slab(pnma, miller=(0, 0, 1), setting="pseudocubic", layers=2)
    assert c.info["slab"]["miller"] == [0, 1, 0]
    cubic = slab(cspbbr3("cubic"), layers=2, termination="PbBr2")
    assert [kind(x) for _, x, _ in planes(cubic)] == ["PbBr2", "CsBr", "PbBr2"]


def test_bad_input_is_refused_with_the_choices(pnma):
    with pytest.raises(InputError, match=r"\(0 1 0\), \(1 0 1\) and \(1 0 -1\)"):
        slab(pnma, miller=(0, 0, 1))                          # pseudocubic {110}: CsPbBr / Br2 planes
    with pytest.raises(InputError, match="at least 2 PbBr2 layers"):
        slab(pnma, layers=1, termination="PbBr2")
    with pytest.raises(InputError, match="CsBr, PbBr2"):
        slab(pnma, termination="Cs")
    with pytest.raises(InputError, match="vacuum"):
        slab(pnma, vacuum=0)
    with pytest.raises(InputError, match="valid layer counts"):
        slab(ruddlesden_popper(2), layers=3, termination="CsBr")


def cli(*args, cwd):
    from conftest import PVATOMS   # the installed pvatoms command
    return subprocess.run([*PVATOMS, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_slab_json_and_error(tmp_path, pnma):
    from pvatoms.io import write_structure
    write_structure(pnma, tmp_path / "bulk.cif")
    p = cli("build", "slab", "bulk.cif", "--miller", "0", "1", "0", "--layers", "3", "--termination", "PbBr2",
            "--vacuum", "20", "-o", "s.extxyz", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["slab"]["termination"] == "PbBr2" and doc["slab"]["excess"]["PbBr2"] == 2
    assert doc["slab"]["net_formal_charge"] == 0 and doc["natoms"] == 26
    assert set(doc["regions"]) == {"surface", "bulk"}
    from pvatoms.io import read_structure
    back = read_structure(tmp_path / "s.extxyz")
    assert sorted(set(back.arrays["layer"].tolist())) == [0, 1, 2]
    bad = cli("build", "slab", "bulk.cif", "--miller", "0", "0", "1", "-o", "x.extxyz", cwd=tmp_path)
    assert bad.returncode == 2 and "pseudocubic" in bad.stderr
