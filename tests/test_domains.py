"""Domain decomposition (pvatoms.calc.domains): the same energy, forces and stress as one model call,
for periodic and non-periodic structures, with ghost shells one receptive field thick; chosen by the
backend above the memory budget; a relaxation of a capped nanocrystal through it."""

import copy

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from pvatoms.build import cspbbr3, nanocrystal
from pvatoms.calc import get_backend
from pvatoms.calc.domains import (DomainCalculator, choose_counts, interaction_layers, needs_domains,
                                  plan_domains, receptive_field)
from pvatoms.errors import InputError

F_TOL = 1e-4          # eV/Å


@pytest.fixture(scope="module")
def sevennet0():
    return get_backend("sevennet", device="cpu", domains="never").loaded_model()[0]


@pytest.fixture(scope="module")
def small_sevennet():
    """A SevenNet model of SevenNet-0's own configuration made small (2 interaction layers, 4 Å
    cut-off, 8 channels) with fixed random weights, atomic energies scaled up so that forces are of
    order 0.1-1 eV/Å. The decomposition is exact whatever the weights; this model makes a few thousand
    atoms affordable in a CPU test."""
    from sevenn.model_build import build_E3_equivariant_model
    from sevenn.util import load_checkpoint
    config = copy.deepcopy(load_checkpoint("7net-0").config)
    config.update(channel=8, num_convolution_layer=2, lmax=1, cutoff=4.0, irreps_manual=["8x0e", "8x0e+4x1e", "8x0e"],
                  avg_num_neigh=[10.0, 10.0], conv_denominator=10.0, weight_nn_hidden_neurons=[8],
                  cutoff_function={"cutoff_function_name": "XPLOR", "cutoff_on": 3.5}, device=torch.device("cpu"),
                  is_ddp=False, scale=[1000.0 * s for s in config["scale"]])
    torch.manual_seed(0)
    model = build_E3_equivariant_model(config)
    return model.eval()


def one_call(model, atoms):
    """Energy, forces, stress (periodic) of SevenNet's own ASE calculator: the reference."""
    from sevenn.calculator import SevenNetCalculator
    x = atoms.copy()
    x.calc = SevenNetCalculator(model, file_type="model_instance", device="cpu")
    return x.get_potential_energy(), x.get_forces(), (x.get_stress() if x.pbc.all() else None)


def by_domains(model, atoms, **kw):
    x = atoms.copy()
    x.calc = DomainCalculator(model, **kw)
    out = x.get_potential_energy(), x.get_forces(), (x.get_stress() if x.pbc.all() else None)
    return out, x.calc.report


def test_receptive_field_is_read_from_the_model(sevennet0, small_sevennet):
    assert interaction_layers(sevennet0) == 5 and receptive_field(sevennet0) == pytest.approx(25.0)
    assert interaction_layers(small_sevennet) == 2 and receptive_field(small_sevennet) == pytest.approx(8.0)


@pytest.mark.parametrize("case", ["periodic", "nanocrystal"])
def test_every_atom_is_owned_once_and_its_domain_holds_its_whole_field(case):
    field = 8.0
    if case == "periodic":
        atoms, counts = cspbbr3().repeat((4, 2, 3)), (3, 1, 2)
    else:
        atoms, counts = nanocrystal(3.6), (2, 2, 1)
    domains = plan_domains(atoms, field, counts)
    owned = np.concatenate([d.owned for d in domains])
    assert sorted(owned) == list(range(len(atoms)))
    shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]) \
        if case == "periodic" else np.zeros((1, 3))
    images = (atoms.positions[None] + (shifts @ np.asarray(atoms.cell))[:, None]).reshape(-1, 3)
    for d in domains:
        assert d.pbc == tuple(bool(atoms.pbc[i] and counts[i] == 1) for i in range(3))
        assert (d.index[:len(d.owned)] == d.owned).all()
        cluster = cKDTree(d.positions)
        own = d.positions[:len(d.owned)]
        needed = np.unique(np.concatenate(cKDTree(images).query_ball_point(own, field))).astype(int)
        unwrapped = d.pbc != (False, False, False)
        for point in images[needed]:
            dist, _ = cluster.query(point)
            if dist > 1e-6 and unwrapped:        # periodic in the cluster: an image of a cluster atom
                frac = np.linalg.solve(np.asarray(atoms.cell).T, point)
                for i in range(3):
                    if d.pbc[i]:
                        frac[i] %= 1.0
                dist = min(cluster.query(frac @ np.asarray(atoms.cell))[0],
                           min(cluster.query((frac + s) @ np.asarray(atoms.cell))[0] for s in np.eye(3)[list(d.pbc)]))
            assert dist < 1e-6


def test_sevennet0_domains_of_a_periodic_cell_equal_one_call(sevennet0):
    atoms = cspbbr3().repeat((2, 1, 1))
    atoms.rattle(0.05, seed=1)
    e0, f0, s0 = one_call(sevennet0, atoms)
    (e, f, s), report = by_domains(sevennet0, atoms, counts=(2, 1, 1))
    assert report["domains"] == 2 and report["largest_cluster"] > len(atoms)   # ghosts: periodic images
    assert e == pytest.approx(e0, abs=1e-3) and np.abs(f - f0).max() < F_TOL
    assert np.abs(s - s0).max() < 1e-6                                          # eV/Å^3


@pytest.mark.parametrize("case", ["supercell", "nanocrystal"])
def test_a_few_thousand_atoms_by_domains_equal_one_call(small_sevennet, case):
    if case == "supercell":
        atoms = cspbbr3().repeat((6, 3, 6))                                       # 2160 atoms
        atoms.rattle(0.05, seed=2)
    else:
        atoms = nanocrystal(4.8)                                                  # 2944 atoms
    e0, f0, s0 = one_call(small_sevennet, atoms)
    assert np.abs(f0).max() > 0.05                                              # forces worth comparing
    (e, f, s), report = by_domains(small_sevennet, atoms, max_domain_atoms=len(atoms) // 2)
    assert report["domains"] >= 4 and report["largest_cluster"] <= len(atoms) // 2
    # the model sums float32 atomic energies: the total of ~3000 atoms of ~-16.5 eV is ~5e4 eV, where
    # one float32 step is 3.9e-3 eV (1.3e-6 eV/atom, seen once as the whole difference): 4 steps allowed
    assert e / len(atoms) == pytest.approx(e0 / len(atoms), abs=5e-6)
    assert np.abs(f - f0).max() < F_TOL
    if s0 is not None:
        assert np.abs(s - s0).max() < 1e-6


def test_the_backend_uses_domains_above_the_memory_budget(sevennet0, monkeypatch):
    from sevenn.calculator import SevenNetCalculator
    dot = nanocrystal(4.2)                                                       # 2009 atoms
    monkeypatch.setenv("PVATOMS_MLIP_MEMORY_GB", "0.5")
    assert needs_domains(dot, sevennet0) and not needs_domains(cspbbr3(), sevennet0)
    auto = get_backend("sevennet", device="cpu")
    assert isinstance(auto.calculator(atoms=dot), DomainCalculator)
    assert isinstance(auto.calculator(atoms=cspbbr3()), SevenNetCalculator)
    assert isinstance(auto.calculator(), SevenNetCalculator)
    never = get_backend("sevennet", device="cpu", domains="never")
    assert isinstance(never.calculator(atoms=dot), SevenNetCalculator)
    assert isinstance(get_backend("sevennet", device="cpu", domains="always").calculator(atoms=cspbbr3()),
                      DomainCalculator)
    with pytest.raises(InputError, match="domains"):
        get_backend("sevennet", domains="sometimes")
    # the user's own cut: a fixed grid, or a cap on the cluster size, reaches the calculator
    fixed = get_backend("sevennet", device="cpu", domains="always", domain_grid=[2, 1, 3], domain_atoms=900)
    calc = fixed.calculator(atoms=dot)
    assert calc.counts == (2, 1, 3) and calc.max_domain_atoms == 900
    for bad, match in (({"domain_grid": [2, 0, 1]}, r"domain_grid .*\[2, 0, 1\]"), ({"domain_grid": 2}, "three"),
                       ({"domain_grid": [2.0, 1, 1]}, "positive integers"), ({"domain_atoms": 0}, "domain_atoms")):
        with pytest.raises(InputError, match=match):
            get_backend("sevennet", **bad)
    # a cell whose every domain, ghosts included, is beyond the budget: said plainly
    with pytest.raises(InputError, match="ghost shell"):
        choose_counts(cspbbr3(), 25.0, lambda n: n < 10)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_relaxing_a_capped_nanocrystal_goes_through_the_domain_calculator(tmp_path, sevennet0):
    """SevenNet-0, a CsPbBr3 dot capped with methylammonium (511 atoms, non-periodic): the relax job
    with the domain calculator follows the same path as with SevenNet's own calculator, and cut into
    domains (25 Å ghost shells) the forces are those of one call."""
    from pvatoms.jobs import relax
    dot = nanocrystal(1.8, ligand="methylammonium", coverage=1.0)
    grids = {"always": [2, 1, 1], "never": None}           # a fixed grid: a real cut even within the budget
    docs = {how: relax(dot, tmp_path / how, backend=get_backend("sevennet", device="cpu", domains=how,
                                                                domain_grid=grids[how]),
                       fmax=0.01, steps=2) for how in ("always", "never")}
    for doc in docs.values():
        assert doc["data"]["steps"] == 2 and doc["reason"].startswith("NotConverged")
    # the document says how the structure was cut (no domains for the single call)
    cut = docs["always"]["data"]["domains"]
    # each half of the 3 nm wide dot lies within one 25 Å ghost shell of the other: both clusters are the dot
    assert cut == {"domains": 2, "grid": [2, 1, 1], "receptive_field": pytest.approx(25.0), "atoms": 511,
                   "largest_cluster": 511}
    assert "domains" not in docs["never"]["data"]
    a, b = (np.asarray(docs[h]["structure"]["positions"]) for h in ("always", "never"))
    assert np.abs(a - b).max() < 1e-4
    assert np.abs(np.asarray(docs["always"]["forces"]) - np.asarray(docs["never"]["forces"])).max() < F_TOL
    from pvatoms.schema import atoms_from_dict
    final = atoms_from_dict(docs["never"]["structure"])
    (e, f, _), report = by_domains(sevennet0, final, counts=(2, 1, 1))
    assert report["domains"] == 2
    assert np.abs(f - np.asarray(docs["never"]["forces"])).max() < F_TOL
    assert e == pytest.approx(docs["never"]["energy"], abs=2e-3)
