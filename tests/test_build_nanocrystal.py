"""Cube-shaped CsPbBr3 dots: size and composition counted by hand, complete octahedra, the AX' shell,
neutrality, the RP inclusion (rock-salt pairs, Cs2PbBr4 layers), the fcc Pb cluster (d(200) = 0.25 nm),
a ligand shell (count = coverage x sites), minimum distances with a KD-tree, bad input, command."""

import json
import subprocess
import time

import numpy as np
import pytest
from scipy.spatial import cKDTree

from pvatoms.build.nanocrystal import nanocrystal
from pvatoms.errors import InputError


def counts(atoms, mask=None):
    sym = np.array(atoms.get_chemical_symbols())
    if mask is not None:
        sym = sym[mask]
    els, n = np.unique(sym, return_counts=True)
    return dict(zip(els.tolist(), n.tolist()))


def pb_coordination(atoms, cutoff=3.6):
    sym = np.array(atoms.get_chemical_symbols())
    inorg = atoms.arrays["region"] != "cluster"
    pb = np.flatnonzero((sym == "Pb") & inorg)
    br = cKDTree(atoms.positions[sym == "Br"])
    return np.array(br.query_ball_point(atoms.positions[pb], cutoff, return_length=True))


@pytest.mark.parametrize("framework", ["pnma", "cubic"])
@pytest.mark.parametrize("edge", [3.0, 4.2])
def test_size_composition_octahedra_and_neutral_shell(framework, edge):
    dot = nanocrystal(edge=edge, framework=framework)
    rep = dot.info["nanocrystal"]
    a = rep["a_pc_A"]
    N = int(round(edge * 10 / a))
    assert rep["octahedra_per_edge"] == N and abs(rep["edge_nm"] - edge) <= a / 20 + 1e-9
    # by hand: N^3 Pb, 3N^2(N+1) Br (complete octahedra), (N+1)^3 A sites minus 3N+1 for neutrality
    c = counts(dot)
    assert c == {"Pb": N ** 3, "Br": 3 * N ** 2 * (N + 1), "Cs": (N + 1) ** 3 - (3 * N + 1)}
    assert c["Cs"] + 2 * c["Pb"] - c["Br"] == 0 == rep["net_formal_charge"]
    assert np.all(pb_coordination(dot) == 6)
    # size: outermost Cs/Br planes ~N a_pc apart along each pseudocubic axis
    axes = np.array(dot.info["surface"]["normals"][:3])
    proj = dot.positions @ axes.T
    span = proj.max(axis=0) - proj.min(axis=0)
    assert np.all(np.abs(span - N * a) < 1.5)
    # shell = the outermost plane on each facet: its atoms lie within ~1 Å of a bounding plane
    shell = dot.arrays["region"] == "shell"
    near = np.any((proj > proj.max(axis=0) - 1.0) | (proj < proj.min(axis=0) + 1.0), axis=1)
    assert np.array_equal(shell, near)
    assert set(dot.arrays["region"]) == {"core", "shell"}
    assert len(cKDTree(dot.positions).query_pairs(2.8)) == 0      # Pb-Br ~3 Å is the shortest contact
    assert not dot.pbc.any()


def test_removed_cs_are_the_least_coordinated():
    full = nanocrystal(edge=3.0, neutral=False)                  # every A site of the AX' shell filled
    dot = nanocrystal(edge=3.0)
    N = 5
    assert counts(full)["Cs"] - counts(dot)["Cs"] == 3 * N + 1 == dot.info["nanocrystal"]["charge_before_balance"]
    shift = full.positions[full.numbers == 82].mean(0) - dot.positions[dot.numbers == 82].mean(0)
    kept = cKDTree(dot.positions[dot.numbers == 55] + shift)
    cs = full.positions[full.numbers == 55]
    removed = kept.query(cs)[0] > 0.1
    nbr = np.array(cKDTree(full.positions[full.numbers == 35]).query_ball_point(cs, 4.7, return_length=True))
    assert removed.sum() == 3 * N + 1
    assert nbr[removed].max() <= nbr[~removed].min()            # corners and edges (fewest Br) went first


def test_rp_inclusion_and_pb_cluster():
    dot = nanocrystal(edge=5.0, rp_inclusion=1.0, pb_cluster=0.8, framework="cubic")
    rep = dot.info["nanocrystal"]
    region = dot.arrays["region"]
    sym = np.array(dot.get_chemical_symbols())
    assert {"core", "shell", "rp", "cluster"} <= set(region)
    assert rep["net_formal_charge"] == 0
    assert np.all(pb_coordination(dot) == 6)
    # the RP slab: its Pb planes are separated by rock-salt CsBr pairs (a Br straight under a Cs at ~3.5 Å)
    rp = region == "rp"
    cs, br = dot.positions[rp & (sym == "Cs")], dot.positions[sym == "Br"]
    d = cs[:, None, :] - br[None]
    vertical = (np.linalg.norm(d[..., :2], axis=-1) < 0.3) & (np.abs(np.abs(d[..., 2]) - 3.5) < 0.2)
    assert vertical.any(axis=1).sum() >= 0.4 * len(cs)
    blocks = rep["rp"]["blocks"]
    pb_z = np.unique(np.round(dot.positions[rp & (sym == "Pb"), 2], 1))
    assert len(pb_z) == blocks
    # fcc Pb cluster: nearest neighbours a/sqrt2 = 3.50 Å, (200) planes 2.475 Å apart (0.25 nm)
    cl = dot.positions[region == "cluster"]
    assert len(cl) == rep["cluster"]["atoms"] > 13
    dd, _ = cKDTree(cl).query(cl, k=2)
    assert np.allclose(dd[:, 1], 4.95 / np.sqrt(2), atol=1e-6)
    x = np.unique(np.round(cl[:, 0], 2))                          # cubic framework: +a facet normal = x
    assert np.allclose(np.diff(x), 2.475, atol=0.011)
    assert abs(rep["cluster"]["d200_nm"] - 0.2475) < 1e-9
    # attached, not overlapping: closest cluster-dot contact ~3.1 Å, on the facet next to the RP slab
    rest = dot.positions[(region != "cluster")]
    gap = cKDTree(rest).query(cl)[0].min()
    assert 2.9 < gap < 3.3
    z_rp = dot.positions[rp, 2].mean()
    assert abs(cl[:, 2].mean() - z_rp) < 2.0
    assert cl[:, 0].min() > rest[:, 0].max() - 1.0                 # outside the +a facet


def test_ligand_shell_counts_and_contacts():
    bare = nanocrystal(edge=4.0, framework="cubic")
    sites = int(np.sum((bare.arrays["region"] == "shell") & (bare.numbers == 55)))
    dot = nanocrystal(edge=4.0, framework="cubic", ligand="butylammonium", coverage=0.4, seed=3)
    rep = dot.info["nanocrystal"]
    sym = np.array(dot.get_chemical_symbols())
    n_lig = int(np.sum(sym == "N"))
    assert n_lig == rep["ligands"]["n_ligands"] == round(0.4 * sites)
    assert np.sum(sym == "Cs") == np.sum(bare.numbers == 55) - n_lig          # ammonium replaced Cs
    assert rep["net_formal_charge"] == 0 and int(dot.arrays["formal_charge"].sum()) == 0
    assert rep["model"]["shell_A"]["ligand"] == n_lig
    # no atom pair closer than a physical minimum outside a molecule
    mol = dot.arrays["molecule"]
    pairs = cKDTree(dot.positions).query_pairs(2.0, output_type="ndarray")
    inter = mol[pairs[:, 0]] != mol[pairs[:, 1]]
    assert not inter.any() or (mol[pairs[inter]] == -1).sum() == 0
    same = (mol[pairs[:, 0]] == mol[pairs[:, 1]]) & (mol[pairs[:, 0]] >= 0)
    assert np.all(same)                     # every contact < 2 Å is a bond inside one ligand
    # chains point outwards: along the normal of the facet the N sits on, the tail C is > 3 Å out
    c0 = dot.positions[dot.arrays["region"] != "ligand"].mean(axis=0)
    normals = np.vstack([np.eye(3), -np.eye(3)])                   # cubic framework: facets along x, y, z
    for m in np.unique(mol[mol >= 0]):
        idx = np.flatnonzero(mol == m)
        n = idx[sym[idx] == "N"][0]
        c = idx[sym[idx] == "C"]
        facet = normals[np.argmax(normals @ (dot.positions[n] - c0))]
        assert ((dot.positions[c] - dot.positions[n]) @ facet).max() > 3.0


def test_107_nm_dot_with_ligands_builds_in_seconds():
    t = time.perf_counter()
    dot = nanocrystal(edge=10.7, ligand="oleylammonium-short", coverage=0.5)
    dt = time.perf_counter() - t
    rep = dot.info["nanocrystal"]
    assert rep["octahedra_per_edge"] == 18 and len(dot) > 50000
    assert set(dot.arrays["region"]) == {"core", "shell", "ligand"}
    assert rep["net_formal_charge"] == 0
    assert dt < 30.0


def test_bad_input():
    with pytest.raises(InputError, match="does not fit"):
        nanocrystal(edge=3.0, pb_cluster=2.0)
    with pytest.raises(InputError, match="does not fit"):
        nanocrystal(edge=3.0, rp_inclusion=5.0)
    with pytest.raises(InputError, match="two octahedra"):
        nanocrystal(edge=0.5)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        nanocrystal(edge=3.0, ligand="oleylammonium", coverage=1.2)
    with pytest.raises(InputError, match="unknown ligand"):
        nanocrystal(edge=3.0, ligand="oleic", coverage=0.5)
    with pytest.raises(InputError, match="pnma, cubic"):
        nanocrystal(edge=3.0, framework="tetragonal")


def test_cli_nanocrystal(tmp_path):
    from conftest import PVATOMS   # the installed pvatoms command
    p = subprocess.run([*PVATOMS, "build", "nanocrystal", "--edge", "4",
                        "--ligand", "methylammonium", "--coverage", "0.5", "--rp-inclusion", "1",
                        "--pb-cluster", "0.6", "-o", "dot.extxyz", "--json"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert set(doc["regions"]) == {"core", "shell", "ligand", "rp", "cluster"}
    nc = doc["nanocrystal"]
    assert nc["net_formal_charge"] == 0 and nc["cluster"]["d200_nm"] == pytest.approx(0.2475)
    from pvatoms.io import read_structure
    back = read_structure(tmp_path / "dot.extxyz", check_overlap=False)
    assert len(back) == doc["natoms"] and "cluster" in set(back.arrays["region"])
    bad = subprocess.run([*PVATOMS, "build", "nanocrystal", "--edge", "3",
                          "--pb-cluster", "5", "-o", "x.extxyz"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "does not fit" in bad.stderr
