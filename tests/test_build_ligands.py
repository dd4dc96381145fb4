"""Ligand library and ligand attachment: binding geometry (N-H...Br, Pb-O, Pb-S), coverage x sites,
charge bookkeeping, no clashes, chains away from the surface, reproducibility, bad input, commands.
Distances are measured here with plain numpy (minimum image in the slab plane)."""

import json
import subprocess

import numpy as np
import pytest

from pvatoms.build.ligand_library import get_ligand, ligand_library
from pvatoms.build.ligands import attach_ligands
from pvatoms.build.slab import slab
from pvatoms.errors import InputError


@pytest.fixture(scope="module")
def csbr():
    return slab("pnma", layers=2, termination="CsBr", supercell=(2, 2))


@pytest.fixture(scope="module")
def pbbr2():
    return slab("pnma", layers=3, termination="PbBr2", supercell=(2, 2))


def mic(atoms, i, js):
    """Minimum-image vectors i -> js (in-plane periodic slab)."""
    d = atoms.positions[js] - atoms.positions[i]
    cell = np.asarray(atoms.cell)
    best = None
    for a in (-1, 0, 1):
        for b in (-1, 0, 1):
            v = d + a * cell[0] + b * cell[1]
            best = v if best is None else np.where((np.linalg.norm(v, axis=1) < np.linalg.norm(best, axis=1))[:, None], v, best)
    return best


def outer_plane_atoms(atoms, element):
    """Indices of ``element`` in the top and bottom planes of a slab, found from heights."""
    sym = np.array(atoms.get_chemical_symbols())
    inorg = np.isin(sym, ("Cs", "Pb", "Br"))
    z = atoms.positions[:, 2]
    top, bot = z[inorg].max(), z[inorg].min()
    return np.flatnonzero((sym == element) & ((z > top - 0.8) | (z < bot + 0.8)))


def molecules(atoms):
    mol = atoms.arrays["molecule"]
    return {m: np.flatnonzero(mol == m) for m in np.unique(mol[mol >= 0])}


# ------------------------------------------------------------------------------------------ library

REQUIRED = {"methylammonium": "CH6N", "butylammonium": "C4H12N", "oleylammonium": "C18H38N",
            "oleylammonium-short": "C11H24N", "acetate": "C2H3O2", "oleate": "C18H33O2",
            "oleate-short": "C11H19O2", "ddab": "C26H56N", "phenethylammonium": "C8H12N",
            "thiocyanate": "CNS", "sulfobetaine-18": "C23H49NO3S"}


def test_library_holds_the_ligands_with_geometry_charge_and_anchors():
    lib = ligand_library()
    assert set(REQUIRED) <= set(lib)
    for name, formula in REQUIRED.items():
        lig = get_ligand(name)
        assert lig.atoms.get_chemical_formula() == formula
        # formal charge: from the library, on the atoms, and from counting (C4 N4+ O- ...)
        assert int(lig.atoms.arrays["formal_charge"].sum()) == lig.charge == lib[name].charge
        p = lig.atoms.positions
        d = np.linalg.norm(p[:, None] - p[None], axis=2)
        np.fill_diagonal(d, 9)
        assert d.min() > 0.95                                      # no collapsed atoms
        sym = np.array(lig.atoms.get_chemical_symbols())
        h_nb = (d[sym == "H"] < 1.2).sum(axis=1)
        assert np.all(h_nb == 1)                                   # every H has one partner
        assert np.allclose(p[lig.anchor_atom], 0)                  # anchor at the origin
    assert sum(lib[n].kind == "sulfobetaine" for n in lib) >= 1 and get_ligand("sulfobetaine-18").charge == 0
    ma = get_ligand("methylammonium")
    n = ma.anchors["N"]
    assert len(ma.nh) == 3 and all(0.98 < np.linalg.norm(ma.atoms.positions[h] - ma.atoms.positions[n]) < 1.08
                                   for h in ma.nh)
    ac = get_ligand("acetate")
    c, o1, o2 = (ac.atoms.positions[ac.anchors[k]] for k in ("C", "O1", "O2"))
    assert 1.2 < np.linalg.norm(o1 - c) < 1.32 and 1.2 < np.linalg.norm(o2 - c) < 1.32
    assert get_ligand("MA").name == "methylammonium" and get_ligand("DDAB").counterion == "Br"


def test_rotation_helpers_are_the_rotations_scipy_makes():
    """The pose rotations are written out for bit-for-bit reproducible builds (see
    pvatoms.build.ligands.pose); they agree with scipy's Rotation to round-off."""
    from scipy.spatial.transform import Rotation

    from pvatoms.build.ligand_library import rotation_between
    from pvatoms.build.ligands.pose import Mode, rx, ry, rz, template
    rng = np.random.default_rng(0)
    g = rng.uniform(-7.0, 7.0, (50, 3))
    assert np.allclose(rz(g[:, 0]) @ ry(g[:, 1]) @ rz(g[:, 2]), Rotation.from_euler("ZYZ", g).as_matrix(),
                       atol=1e-12)
    assert np.allclose(rz(g[:, 0]) @ rx(g[:, 1]), Rotation.from_euler("ZX", g[:, :2]).as_matrix(), atol=1e-12)
    for a, b in rng.normal(size=(20, 2, 3)):
        assert np.allclose(rotation_between(a, b), Rotation.align_vectors(b[None], a[None])[0].as_matrix(),
                           atol=1e-12)
    z = np.array([0.0, 0.0, 1.0])
    R = rotation_between(z, -z)                                    # antiparallel: a proper 180 deg turn
    assert np.allclose(R @ z, -z) and np.isclose(np.linalg.det(R), 1.0)
    # NH3 rotor of methylammonium: the three N-H turned about an axis through N by g[6]
    ma = get_ligand("methylammonium")
    X, n = ma.atoms.positions, ma.anchors["N"]
    k = rng.normal(size=3)
    k /= np.linalg.norm(k)
    m = Mode("a-site", X, np.arange(len(X)), np.array(ma.atoms.get_chemical_symbols()), np.zeros(3),
             rotor=(X[n].copy(), k, np.array(ma.nh)))
    w = rng.uniform(-np.pi, np.pi, 5)
    p = np.zeros((5, 7))
    p[:, 6] = w
    turned = template(m, p)[:, list(ma.nh)]
    ref = X[n] + np.einsum("pij,hj->phi", Rotation.from_rotvec(w[:, None] * k).as_matrix(), X[list(ma.nh)] - X[n])
    assert np.allclose(turned, ref, atol=1e-12)


@pytest.mark.parametrize("name,min_len", [("oleylammonium", 15.0), ("oleate", 15.0), ("sulfobetaine-18", 25.0)])
def test_long_chains_are_extended_and_point_along_z(name, min_len):
    lig = get_ligand(name)
    sym = np.array(lig.atoms.get_chemical_symbols())
    z = lig.atoms.positions[sym != "H", 2]
    assert z.max() > min_len and z.min() > -0.1          # tail far out along +z, nothing behind the anchor


# ------------------------------------------------------------------------------------------ ammonium

@pytest.mark.parametrize("name", ["methylammonium", "butylammonium"])
def test_ammonium_in_the_a_site_with_three_nh_br_bonds(csbr, name):
    cs_sites = outer_plane_atoms(csbr, "Cs")
    out = attach_ligands(csbr, name, coverage=0.5, seed=2)
    sym = np.array(out.get_chemical_symbols())
    n_idx = np.flatnonzero(sym == "N")
    assert len(n_idx) == round(0.5 * len(cs_sites)) == len(cs_sites) // 2
    assert np.sum(sym == "Cs") == np.sum(np.array(csbr.get_chemical_symbols()) == "Cs") - len(n_idx)
    # the vacuum direction is refitted around the ligands: align on the (untouched) Pb framework
    shift = out.positions[sym == "Pb"][0] - csbr.positions[csbr.numbers == 82][0]
    cs_pos = csbr.positions[cs_sites] + shift
    cell = np.asarray(out.cell)
    br = np.flatnonzero(sym == "Br")
    h = np.flatnonzero(sym == "H")
    zmid = out.positions[np.isin(sym, ("Pb",)), 2].mean()
    for n in n_idx:
        # N in an A site that lost its Cs (within 1 Å of it)
        d = cs_pos - out.positions[n]
        frac = np.linalg.solve(cell[:2, :2].T, d[:, :2].T).T
        d[:, :2] -= np.rint(frac) @ cell[:2, :2]
        assert np.min(np.linalg.norm(d, axis=1)) < 1.0
        hn = h[np.linalg.norm(mic(out, n, h), axis=1) < 1.1]
        assert len(hn) == 3
        vbr = mic(out, n, br)
        dnb = np.linalg.norm(vbr, axis=1)
        for hh in hn:
            vh = mic(out, n, [hh])[0]                   # N -> H
            w = vbr - vh                                # H -> Br
            ang = np.degrees(np.arccos(np.clip((-vh) @ w.T / np.linalg.norm(vh) / np.linalg.norm(w, axis=1), -1, 1)))
            ok = (dnb > 3.2) & (dnb < 3.7) & (ang > 140)
            assert ok.any(), f"N{n}-H{hh}: no Br with N...Br 3.2-3.7 Å and N-H...Br > 140 deg"
        # chain away from the surface: every C on the outer side of N
        out_dir = np.sign(out.positions[n, 2] - zmid)
        c = np.flatnonzero((sym == "C") & (out.arrays["molecule"] == out.arrays["molecule"][n]))
        assert np.all((out.positions[c, 2] - out.positions[n, 2]) * out_dir > 0.5)
    rep = out.info["ligands"][-1]
    assert rep["hydrogen_bonds"]["n_with_three_hbonds"] == len(n_idx)
    assert rep["net_formal_charge"] == 0 and int(out.arrays["formal_charge"].sum()) == 0


def test_oleylammonium_brush_half_coverage_no_clashes():
    s = slab("pnma", layers=2, termination="CsBr", supercell=(3, 3))
    out = attach_ligands(s, "oleylammonium", coverage=0.5, seed=4)
    rep = out.info["ligands"][-1]
    assert rep["n_ligands"] == round(0.5 * len(outer_plane_atoms(s, "Cs")))
    check_no_clashes(out)
    sym = np.array(out.get_chemical_symbols())
    zmid = out.positions[sym == "Pb", 2].mean()
    for m, idx in molecules(out).items():
        n = idx[sym[idx] == "N"][0]
        c = idx[sym[idx] == "C"]
        rise = (out.positions[c, 2] - out.positions[n, 2]) * np.sign(out.positions[n, 2] - zmid)
        assert rise.min() > 0.5 and rise.max() > 15.0          # tail ~19 Å out along the normal
    assert rep["hydrogen_bonds"]["n_with_three_hbonds"] >= 0.5 * rep["n_ligands"]


def check_no_clashes(atoms, lig_lig=1.9, lig_surf=2.2):
    """No two atoms of different molecules (or ligand and surface) closer than the limits, except
    O/S-Pb anchor bonds (2.3-3.1 Å); brute force with in-plane minimum images."""
    sym = np.array(atoms.get_chemical_symbols())
    mol = atoms.arrays["molecule"]
    lig = np.flatnonzero(mol >= 0)
    for i in lig:
        js = np.arange(len(atoms))
        d = np.linalg.norm(mic(atoms, i, js), axis=1)
        other = (mol != mol[i])
        close = other & (d < lig_surf)
        bond = (sym[i] in ("O", "S")) & (sym == "Pb") & (d > 2.3) & (d < 3.1)
        bad = close & ~bond & ~((mol >= 0) & (d >= lig_lig))
        assert not bad.any(), f"{sym[i]}{i} too close to {[(sym[j], j, round(d[j], 2)) for j in np.flatnonzero(bad)]}"


# ------------------------------------------------------------------------------------------ X-type

@pytest.mark.parametrize("binding,nbond,lo,hi", [("monodentate", 1, 2.4, 2.5), ("bidentate", 2, 2.4, 2.7)])
def test_carboxylate_on_surface_pb(pbbr2, binding, nbond, lo, hi):
    pb_sites = outer_plane_atoms(pbbr2, "Pb")
    out = attach_ligands(pbbr2, "acetate", coverage=0.5, site="pb", binding=binding, seed=1)
    sym = np.array(out.get_chemical_symbols())
    pb = np.flatnonzero(sym == "Pb")
    mols = molecules(out)
    assert len(mols) == round(0.5 * len(pb_sites))
    for m, idx in mols.items():
        o = idx[sym[idx] == "O"]
        dist = np.array([np.linalg.norm(mic(out, oi, pb), axis=1).min() for oi in o])
        assert np.sum((dist > lo - 0.05) & (dist < hi)) == nbond       # Pb-O 2.4-2.7 Å
        if binding == "bidentate":                                     # both O on the same Pb
            near = [pb[np.argmin(np.linalg.norm(mic(out, oi, pb), axis=1))] for oi in o]
            assert near[0] == near[1]
    rep = out.info["ligands"][-1]
    assert rep["net_formal_charge"] == -len(mols)                      # X-type added, nothing removed
    check_no_clashes(out)


def test_carboxylate_fills_br_vacancies_and_neutral_option(csbr, pbbr2):
    n_br = np.sum(np.array(csbr.get_chemical_symbols()) == "Br")
    out = attach_ligands(csbr, "acetate", coverage=0.25, site="br-vacancy", seed=3)
    sym = np.array(out.get_chemical_symbols())
    k = len(molecules(out))
    assert k == round(0.25 * len(outer_plane_atoms(csbr, "Br")))
    assert np.sum(sym == "Br") == n_br - k                               # each O took a Br's place
    pb = np.flatnonzero(sym == "Pb")
    for m, idx in molecules(out).items():
        d = [np.linalg.norm(mic(out, o, pb), axis=1).min() for o in idx[sym[idx] == "O"]]
        assert 2.35 < min(d) < 2.55
    assert out.info["ligands"][-1]["net_formal_charge"] == 0 == int(out.arrays["formal_charge"].sum())
    neu = attach_ligands(pbbr2, "acetate", coverage=0.5, site="pb", seed=1, neutral=True)
    rep = neu.info["ligands"][-1]
    assert rep["net_formal_charge"] == 0 and rep["compensation"]["removed"] == {"Br": rep["n_ligands"]}
    qsum = sum({"Cs": 1, "Pb": 2, "Br": -1}.get(e, 0) for e in neu.get_chemical_symbols()) - rep["n_ligands"]
    assert qsum == 0


def test_thiocyanate_and_ddab_ion_pair(pbbr2):
    scn = attach_ligands(pbbr2, "thiocyanate", coverage=0.25, site="pb", seed=0)
    sym = np.array(scn.get_chemical_symbols())
    pb = np.flatnonzero(sym == "Pb")
    for s_ in np.flatnonzero(sym == "S"):
        assert abs(np.linalg.norm(mic(scn, s_, pb), axis=1).min() - 2.95) < 0.05
    dd = attach_ligands(pbbr2, "ddab", coverage=0.25, site="pb", seed=0)
    sym = np.array(dd.get_chemical_symbols())
    rep = dd.info["ligands"][-1]
    assert rep["counterions_added"] == rep["n_ligands"] > 0 and rep["net_formal_charge"] == 0
    for m, idx in molecules(dd).items():
        br = idx[sym[idx] == "Br"][0]
        n = idx[sym[idx] == "N"][0]
        assert 3.5 < np.linalg.norm(dd.positions[n] - dd.positions[br]) < 4.6      # ion pair
        pbd = np.linalg.norm(mic(dd, br, np.flatnonzero(sym == "Pb")), axis=1).min()
        assert abs(pbd - 2.95) < 0.05                                           # octahedron restored
    check_no_clashes(dd)


def test_seed_reproducible_and_coverage_rounding(csbr):
    a = attach_ligands(csbr, "methylammonium", coverage=0.3, seed=7)
    b = attach_ligands(csbr, "methylammonium", coverage=0.3, seed=7)
    c = attach_ligands(csbr, "methylammonium", coverage=0.3, seed=8)
    assert np.allclose(a.positions, b.positions) and a.get_chemical_symbols() == b.get_chemical_symbols()
    n = round(0.3 * len(outer_plane_atoms(csbr, "Cs")))
    assert a.info["ligands"][-1]["n_ligands"] == n == np.sum(np.array(a.get_chemical_symbols()) == "N")
    assert not np.allclose(np.sort(a.positions[a.numbers == 7][:, 0]), np.sort(c.positions[c.numbers == 7][:, 0]))
    zero = attach_ligands(csbr, "methylammonium", coverage=0.0)
    assert len(zero) == len(csbr)


def test_bad_input(csbr, pbbr2):
    for cov in (-0.1, 1.5):
        with pytest.raises(InputError, match=r"\[0, 1\]"):
            attach_ligands(csbr, "methylammonium", coverage=cov)
    with pytest.raises(InputError, match="unknown ligand 'tributylamine'.*oleylammonium"):
        attach_ligands(csbr, "tributylamine", coverage=0.5)
    with pytest.raises(InputError, match="valid sites for it: cs"):
        attach_ligands(csbr, "butylammonium", coverage=0.5, site="pb")
    with pytest.raises(InputError, match="no available 'pb' sites"):
        attach_ligands(csbr, "acetate", coverage=0.5, site="pb")
    with pytest.raises(InputError, match="bidentate"):
        attach_ligands(csbr, "methylammonium", coverage=0.5, binding="bidentate")


def cli(*args, cwd):
    from conftest import PVATOMS   # the installed pvatoms command
    return subprocess.run([*PVATOMS, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_ligands_list_and_build(tmp_path, csbr):
    p = cli("ligands", "list", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    names = {r["name"]: r for r in json.loads(p.stdout)["ligands"]}
    assert set(REQUIRED) <= set(names) and names["acetate"]["charge"] == -1
    assert "O1" in names["oleate"]["anchors"] and names["ddab"]["counterion"] == "Br"
    p = cli("ligands", "list", cwd=tmp_path)
    assert "oleylammonium" in p.stdout
    from pvatoms.io import write_structure
    write_structure(csbr, tmp_path / "s.extxyz")
    p = cli("build", "ligands", "s.extxyz", "--ligand", "BA", "--coverage", "0.25", "--seed", "1",
            "-o", "c.extxyz", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["ligands"]["n_ligands"] == 4 and doc["ligands"]["net_formal_charge"] == 0
    assert doc["regions"]["ligand"]["N"] == 4 and doc["ligands"]["min_ligand_surface"]["distance"] > 2.2
    bad = cli("build", "ligands", "s.extxyz", "--ligand", "BA", "--coverage", "2", "-o", "x.extxyz", cwd=tmp_path)
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr
