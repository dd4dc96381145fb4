"""Jobs with the machine-learned potentials: relax, static, NEB, phonons; result documents,
reruns, recorded failures. Real SevenNet-0 / CHGNet calculations on small cells."""

import json

import numpy as np
import pytest

from pvatoms.build import cspbbr3, defects_supercell
from pvatoms.errors import InputError
from pvatoms.jobs import neb, phonons, relax, static, vacancy_hop
from pvatoms.jobs.neb import nearest_vacancy_hops
from pvatoms.schema import RESULT_FILE, SCHEMA, load, structure_of

EXPERIMENT = np.array([8.244, 11.735, 8.198])


def test_sevennet_relaxation_keeps_pnma_near_experiment(tmp_path, pnma):
    doc = relax(pnma, tmp_path / "relax", cell=True, fmax=0.02)      # default backend: SevenNet-0
    assert doc["status"] == "completed", doc["reason"]
    assert doc["backend"]["name"] == "sevennet" and "7net-0" in doc["backend"]["model"]
    assert doc["data"]["spacegroup"]["tight"]["symbol"] == "Pnma"
    abc = np.array([doc["data"]["lattice"][k] for k in "abc"])
    assert np.all(np.abs(abc / EXPERIMENT - 1) < 0.05), abc
    assert doc["data"]["fmax"] < 0.02 and (tmp_path / "relax" / "relax.traj").is_file()
    assert doc["schema"] == SCHEMA and json.loads((tmp_path / "relax" / RESULT_FILE).read_text())["status"] == "completed"


@pytest.fixture(scope="module")
def chgnet_direct():
    """CHGNet 0.3.0 loaded here and called directly (``predict_structure``, no ASE calculator, no
    pvatoms code): energy (eV per cell), forces (eV/Å) and Voigt stress (eV/Å³, ASE sign) of a
    structure. The reference for every CHGNet number the jobs write."""
    from ase.units import GPa
    from chgnet.model import CHGNet
    from pymatgen.io.ase import AseAtomsAdaptor

    model = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)

    def predict(atoms):
        p = model.predict_structure(AseAtomsAdaptor.get_structure(atoms), task="efs")
        s = np.asarray(p["s"], float) * GPa         # GPa, positive = tensile (ASE's sign)
        return (float(p["e"]) * len(atoms), np.asarray(p["f"], float),
                np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]))
    return predict


#: CHGNet runs in float32: a cell energy of ~70 eV is resolved to ~1e-5 eV; the same model on the
#: same structure gives the same number, so the documents must agree to this.
E_TOL = 1e-4


def test_static_document_and_rerun_is_skipped(tmp_path, pnma, chgnet_direct):
    doc = static(pnma, tmp_path / "s", backend="chgnet")
    assert doc["status"] == "completed"
    energy, forces, stress = chgnet_direct(pnma)
    assert doc["energy"] == pytest.approx(energy, abs=E_TOL)
    assert doc["energy_per_atom"] == pytest.approx(energy / 20, abs=E_TOL / 20)
    assert np.asarray(doc["forces"]) == pytest.approx(forces, abs=1e-5)
    assert np.asarray(doc["stress"]) == pytest.approx(stress, abs=1e-7)
    assert -3.6 < doc["energy_per_atom"] < -3.45                   # CHGNet 0.3.0: -3.53 eV/atom
    assert np.array(doc["forces"]).shape == (20, 3) and len(doc["stress"]) == 6
    assert doc["backend"]["model"] == "CHGNet 0.3.0" and doc["wall_time"] > 0
    again = static(pnma, tmp_path / "s", backend="chgnet")
    assert again["created"] == doc["created"] and again["wall_time"] == doc["wall_time"]
    with pytest.raises(InputError, match="different structure or settings"):
        static(cspbbr3("cubic"), tmp_path / "s", backend="chgnet")


def test_failed_relaxation_is_recorded_and_others_go_on(tmp_path, pnma):
    rattled = pnma.copy()
    rattled.rattle(0.1, seed=1)
    docs = [relax(rattled, tmp_path / "short", backend="chgnet", steps=2, fmax=0.001),
            static(rattled, tmp_path / "after", backend="chgnet")]
    assert docs[0]["status"] == "failed" and "within 2 steps" in docs[0]["reason"]
    assert load(tmp_path / "short")["status"] == "failed"
    assert (tmp_path / "short" / "relax.traj").is_file()
    assert docs[1]["status"] == "completed"


def test_a_rerun_continues_the_step_count_of_an_unfinished_relaxation(tmp_path, pnma):
    """Steps are counted along the whole trajectory: a rerun continues the numbering of relax.log,
    does not write its start frame twice, and ends on the structure the last frame holds."""
    from ase.io import read
    rattled = pnma.copy()
    rattled.rattle(0.1, seed=2)
    folder = tmp_path / "r"
    first = relax(rattled, folder, backend="chgnet", steps=2, fmax=0.001)
    assert first["status"] == "failed" and first["data"]["steps"] == 2
    assert "restarted_at_step" not in first["data"]
    again = relax(rattled, folder, backend="chgnet", steps=3, fmax=0.001)
    assert again["status"] == "failed" and "within 3 steps more (5 in all)" in again["reason"]
    d = again["data"]
    assert d["restarted_from_trajectory"] and d["restarted_at_step"] == 2 and d["steps"] == 5
    frames = read(folder / "relax.traj", index=":")
    assert len(frames) == 6                                      # steps 0-5, none twice
    assert not np.allclose(frames[2].positions, frames[3].positions)
    assert np.allclose(structure_of(again).positions, frames[-1].positions)
    logged = [int(line.split()[1]) for line in (folder / "relax.log").read_text().splitlines()
              if line.startswith("BFGS:")]
    assert logged == [0, 1, 2, 3, 4, 5]


def test_an_unfinished_trajectory_is_continued_only_for_its_own_structure(tmp_path, pnma):
    """A folder that holds an unfinished relaxation of another structure of the same atoms (here a
    different rattle) does not continue it: its trajectory is set aside, kept, and the new one
    starts at the new input; force=True also starts afresh."""
    from ase.io import read
    a, b = pnma.copy(), pnma.copy()
    a.rattle(0.1, seed=3)
    b.rattle(0.1, seed=4)
    folder = tmp_path / "r"
    assert relax(a, folder, backend="chgnet", steps=2, fmax=0.001)["status"] == "failed"
    doc = relax(b, folder, backend="chgnet", steps=1, fmax=0.001)
    assert "restarted_from_trajectory" not in doc["data"] and doc["data"]["steps"] == 1
    aside = [p for p in folder.iterdir() if p.name.startswith("relax.traj.set-aside-")]
    assert [p.name for p in aside] == doc["data"]["set_aside"] and len(aside) == 1
    assert np.allclose(read(aside[0], index=0).positions, a.positions)      # a's steps kept
    assert len(read(aside[0], index=":")) == 3
    frames = read(folder / "relax.traj", index=":")
    assert len(frames) == 2 and np.allclose(frames[0].positions, b.positions)
    again = relax(b, folder, backend="chgnet", steps=1, fmax=0.001)          # b's own: continued
    assert again["data"]["restarted_at_step"] == 1 and "set_aside" not in again["data"]
    forced = relax(b, folder, backend="chgnet", steps=1, fmax=0.001, force=True)
    assert "restarted_from_trajectory" not in forced["data"] and forced["data"]["steps"] == 1
    aside = sorted(p.name for p in folder.iterdir() if p.name.startswith("relax.traj.set-aside-"))
    assert len(aside) == 2 and forced["data"]["set_aside"][0] in aside     # none written over


@pytest.mark.parametrize("cell", [False, True], ids=["positions", "cell"])
def test_an_interrupted_bfgs_relaxation_continues_on_the_path_of_an_uninterrupted_one(tmp_path, pnma, cell):
    """Cut short after 2 steps and rerun for 3 more, a BFGS relaxation (positions, or positions and
    cell through FrechetCellFilter) takes the same steps as one run 5 steps straight: the Hessian is
    rebuilt from the trajectory, not reset."""
    from ase.io import read
    start = pnma.copy()
    start.rattle(0.05, seed=5)
    if cell:
        start.set_cell(pnma.cell * [1.02, 0.99, 1.0], scale_atoms=True)
    kw = dict(backend="chgnet", cell=cell, fmax=1e-4, smax=1e-6 if cell else 0.002)
    straight = relax(start, tmp_path / "straight", steps=5, **kw)
    relax(start, tmp_path / "cut", steps=2, **kw)
    resumed = relax(start, tmp_path / "cut", steps=3, **kw)
    assert resumed["data"]["hessian_rebuilt_from_steps"] == 2 and resumed["data"]["steps"] == 5
    a, b = read(tmp_path / "straight" / "relax.traj", ":"), read(tmp_path / "cut" / "relax.traj", ":")
    assert len(a) == len(b) == 6
    assert np.abs(a[2].positions - a[3].positions).max() > 1e-3        # steps 3-5 move the atoms
    for x, y in zip(a[3:], b[3:]):                                       # float32 model: 1e-5 Å
        assert np.abs(x.positions - y.positions).max() < 1e-5
        assert np.abs(x.cell[:] - y.cell[:]).max() < 1e-5
    assert abs(straight["energy"] - resumed["energy"]) < E_TOL


def test_a_trajectory_that_cannot_rebuild_the_hessian_is_still_continued(tmp_path, pnma):
    """Frames without the stress a cell relaxation needs (written by another program, say) cannot
    rebuild the Hessian: the rerun says why and goes on from the last frame with a fresh one."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import Trajectory, read
    start = pnma.copy()
    start.set_cell(pnma.cell * [1.02, 1.0, 1.0], scale_atoms=True)
    folder = tmp_path / "r"
    relax(start, folder, backend="chgnet", cell=True, steps=2, fmax=1e-4, smax=1e-6)
    frames = read(folder / "relax.traj", ":")
    with Trajectory(folder / "relax.traj", "w") as t:
        for f in frames:
            bare = f.copy()
            bare.calc = SinglePointCalculator(bare, energy=f.get_potential_energy(), forces=f.get_forces())
            t.write(bare)
    again = relax(start, folder, backend="chgnet", cell=True, steps=1, fmax=1e-4, smax=1e-6)
    d = again["data"]
    assert d["restarted_at_step"] == 2 and d["steps"] == 3 and "hessian_rebuilt_from_steps" not in d
    assert "stress" in d["hessian_not_rebuilt"].lower()
    assert np.abs(structure_of(again).cell[:] - frames[-1].cell[:]).max() > 1e-6   # the cell moved on


def test_a_rerun_with_other_settings_sets_the_unfinished_trajectory_aside(tmp_path, pnma):
    """A trajectory continues only its own calculation: a rerun with a longer step limit or another
    criterion continues it, one with another optimizer or cell setting starts afresh, the old
    trajectory kept aside."""
    start = pnma.copy()
    start.rattle(0.05, seed=6)
    folder = tmp_path / "r"
    relax(start, folder, backend="chgnet", steps=1, fmax=1e-4)
    more = relax(start, folder, backend="chgnet", steps=1, fmax=2e-4)
    assert more["data"]["restarted_at_step"] == 1 and "set_aside" not in more["data"]
    other = relax(start, folder, backend="chgnet", steps=1, fmax=1e-4, optimizer="fire")
    assert "restarted_from_trajectory" not in other["data"] and len(other["data"]["set_aside"]) == 1
    cell = relax(start, folder, backend="chgnet", steps=1, fmax=1e-4, optimizer="fire", cell=True)
    assert "restarted_from_trajectory" not in cell["data"] and len(cell["data"]["set_aside"]) == 1
    assert len([p for p in folder.iterdir() if p.name.startswith("relax.traj.set-aside-")]) == 2


def test_a_cell_relaxation_meets_its_stress_criterion_on_the_relaxed_components(tmp_path, pnma, chgnet_direct):
    """smax is checked on the final stress: a cell relaxation that reaches fmax with a stress component
    above smax is not converged; with a cell mask only the components that relaxed count."""
    strained = pnma.copy()
    strained.set_cell(pnma.cell * [0.96, 1.0, 1.0], scale_atoms=True)
    strict = relax(strained, tmp_path / "strict", backend="chgnet", cell=True, fmax=0.05, smax=1e-6, steps=200)
    assert strict["status"] == "failed" and strict["data"]["converged"] is False
    assert "reached fmax 0.05 eV/Å but the largest stress component" in strict["reason"]
    assert "above smax 1e-06 eV/Å^3" in strict["reason"]
    worst = np.abs(chgnet_direct(structure_of(strict))[2]).max()
    assert 1e-6 < worst < 0.05 * len(pnma) / pnma.get_volume()        # fmax bounds it (virial / N)
    masked = relax(strained, tmp_path / "masked", backend="chgnet", cell=True, cell_mask=[0, 1, 0, 0, 0, 0],
                   fmax=0.02, steps=200)
    assert masked["status"] == "completed", masked["reason"]
    s = np.abs(masked["stress"])
    assert s[0] > 0.002 and s[1] < 0.002                # xx carries the imposed strain, yy relaxed


def test_charged_request_refused_by_mlip(tmp_path, pnma):
    with pytest.raises(InputError, match="gpaw.*vasp"):
        static(pnma, tmp_path / "q", backend="sevennet", charge=1)


def test_vacancy_hop_endpoints_and_bad_endpoints():
    perfect = defects_supercell(cspbbr3("cubic"), (2, 2, 2))
    br = [i for i, s in enumerate(perfect.get_chemical_symbols()) if s == "Br"][0]
    to, dist = nearest_vacancy_hops(perfect, br)[0]
    assert np.isclose(dist, 5.95 / np.sqrt(2), atol=1e-6)       # octahedron edge
    a, b = vacancy_hop(perfect, br, to)
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    moved = np.flatnonzero(np.linalg.norm(a.positions - b.positions, axis=1) > 1e-9)
    assert len(moved) == 1 and np.isclose(np.linalg.norm(a.positions[moved[0]] - b.positions[moved[0]]), dist)
    with pytest.raises(InputError, match="same atoms"):
        neb(a, b[:-1], "x", backend="chgnet")
    with pytest.raises(InputError, match="different elements"):
        vacancy_hop(perfect, br, 0)


def test_neb_restart_continues_from_saved_band(tmp_path, pnma, chgnet_direct):
    """V_Br hop in the 20-atom Pnma cell between INEQUIVALENT sites (Br 8d -> Br 4c, picked by
    the spglib Wyckoff letters): the relaxed endpoints differ in energy, so forward and backward
    barriers differ. Every barrier is checked against energies computed here by CHGNet called
    directly on the structures the document stores."""
    a, b = _inequivalent_hop(pnma.copy())      # 20-atom cell: a quick V_Br hop for the mechanics
    first = neb(a, b, tmp_path / "neb", backend="chgnet", n_images=3, steps=3, fmax=0.05)
    assert first["status"] == "failed" and "rerun continues" in first["reason"]
    second = neb(a, b, tmp_path / "neb", backend="chgnet", n_images=3, steps=400, fmax=0.05)
    assert second["status"] == "completed", second["reason"]
    d = second["data"]
    assert d["restarted_from_trajectory"]
    assert d["saddle_image"] not in (0, 4)
    from pvatoms.schema import atoms_from_dict
    e = np.array([chgnet_direct(atoms_from_dict(im["structure"]))[0] for im in second["images"]])
    assert d["energies"] == pytest.approx(e, abs=E_TOL)
    for end, k in (("initial", 0), ("final", -1)):  # the endpoints are the relaxed endpoint jobs
        assert load(tmp_path / "neb" / end)["energy"] == pytest.approx(e[k], abs=E_TOL)
    assert d["barrier_forward"] == pytest.approx(e.max() - e[0], abs=2 * E_TOL)
    assert d["barrier_backward"] == pytest.approx(e.max() - e[-1], abs=2 * E_TOL)
    assert d["reaction_energy"] == pytest.approx(e[-1] - e[0], abs=2 * E_TOL)
    assert abs(e[-1] - e[0]) > 10 * E_TOL       # inequivalent endpoints: the direction matters
    assert d["barrier_forward"] > 0.01


def test_an_unfinished_band_of_another_image_count_is_set_aside(tmp_path, pnma):
    """neb.traj continues only its own NEB: a rerun with another number of images starts a fresh
    band and keeps the old one aside; one with only a new step limit continues it."""
    a, b = _inequivalent_hop(pnma.copy())
    folder = tmp_path / "neb"
    assert neb(a, b, folder, backend="chgnet", n_images=3, steps=1, fmax=0.01)["status"] == "failed"
    more = neb(a, b, folder, backend="chgnet", n_images=3, steps=2, fmax=0.01)
    assert more["data"].get("restarted_from_trajectory") and "set_aside" not in more["data"]
    other = neb(a, b, folder, backend="chgnet", n_images=5, steps=1, fmax=0.01)
    assert not other["data"].get("restarted_from_trajectory")
    assert other["data"]["set_aside"][0].startswith("neb.traj.set-aside-") and len(other["images"]) == 7


def _inequivalent_hop(perfect):
    """A V_Br hop between inequivalent sites (Br 8d -> Br 4c): endpoints of different energy."""
    from pvatoms.build.common import symmetry_dataset
    wyckoff = symmetry_dataset(perfect).wyckoffs
    sym = perfect.get_chemical_symbols()
    br = next(i for i, s in enumerate(sym) if s == "Br" and wyckoff[i] == "d")
    to = next(j for j, _ in nearest_vacancy_hops(perfect, br) if wyckoff[j] == "c")
    return vacancy_hop(perfect, br, to)


def test_batched_neb_images_follow_the_band_of_one_calculator_per_image(tmp_path, pnma, chgnet_direct):
    """The same 12 FIRE steps of a 3-image band, once with one CHGNet calculator per image and once
    with the images of each step in one batched call: same band, same energies (CHGNet called
    directly on the stored images), and one model call per band step instead of one per image."""
    a, b = _inequivalent_hop(pnma)
    docs = {mode: neb(a, b, tmp_path / mode, backend="chgnet", n_images=3, steps=12, fmax=1e-4,
                      relax_endpoints=False, evaluation=mode) for mode in ("separate", "batched")}
    sep, bat = docs["separate"], docs["batched"]
    assert sep["status"] == bat["status"] == "failed"              # 12 steps cannot reach 1e-4 eV/Å
    assert sep["data"]["image_evaluation"] == {"mode": "separate", "model_calls": None}
    assert bat["data"]["image_evaluation"]["mode"] == "batched"
    steps = len((tmp_path / "batched" / "neb.log").read_text().splitlines()) - 1     # header + one per step
    assert steps == 13 and bat["data"]["image_evaluation"]["model_calls"] == steps   # not 3 x 13
    from pvatoms.schema import atoms_from_dict
    e = np.array([chgnet_direct(atoms_from_dict(im["structure"]))[0] for im in bat["images"]])
    assert bat["data"]["energies"] == pytest.approx(e, abs=E_TOL)
    assert bat["data"]["energies"] == pytest.approx(sep["data"]["energies"], abs=1e-3)
    for x, y in zip(sep["images"], bat["images"]):
        assert np.abs(np.subtract(x["structure"]["positions"], y["structure"]["positions"])).max() < 1e-3
    assert abs(e[-1] - e[0]) > 10 * E_TOL                          # the two ends differ


def test_neb_evaluation_choices_are_checked(tmp_path, pnma):
    from pvatoms.cli.run import add_job_arguments
    from pvatoms.jobs.neb import EVALUATIONS
    a, b = _inequivalent_hop(pnma)
    with pytest.raises(InputError, match="auto, batched, separate; got 'bached'"):
        neb(a, b, tmp_path / "x", backend="chgnet", evaluation="bached")
    with pytest.raises(InputError, match="needs a SevenNet or CHGNet backend"):
        neb(a, b, tmp_path / "x", backend="gpaw", evaluation="batched")
    import argparse
    p = argparse.ArgumentParser()
    add_job_arguments(p, "neb")
    choices = next(act.choices for act in p._actions if act.dest == "evaluation")
    assert tuple(choices) == EVALUATIONS


@pytest.mark.slow
def test_sevennet_vbr_neb_in_pnma_supercell(tmp_path, pnma):
    """V_Br hop between two equivalent equatorial sites of 2x2x2 Pnma (159 atoms): symmetric
    endpoints, finite barrier (SevenNet-0: ~0.27 eV measured; experiment ~0.25 eV)."""
    perfect = defects_supercell(pnma, (2, 2, 2))
    from pvatoms.build import point_defects
    eq = [d for d in point_defects(pnma, vacancies=["Br"], supercell=(2, 2, 2)) if d.wyckoff == "d"][0]
    site = eq.removed[0]
    # nearest Br that is equivalent (8d) and shares an octahedron edge
    from pvatoms.build.common import symmetry_dataset
    equiv = symmetry_dataset(perfect).equivalent_atoms
    to = next(j for j, d in nearest_vacancy_hops(perfect, site) if equiv[j] == equiv[site])
    a, b = vacancy_hop(perfect, site, to)
    doc = neb(a, b, tmp_path / "neb", n_images=3, fmax=0.1, endpoint_fmax=0.05)
    assert doc["status"] == "completed", doc["reason"]
    d = doc["data"]
    assert abs(d["reaction_energy"]) < 0.05                       # symmetric endpoints
    assert 0.08 < d["barrier_forward"] < 0.8
    assert abs(d["barrier_forward"] - d["barrier_backward"]) < 0.05
    assert d["moving_element"] == "Br" and 4.0 < d["hop_distance"] < 4.6
    assert len(doc["images"]) == 5


def test_cubic_cspbbr3_has_tilt_instabilities_at_m_and_r(tmp_path):
    """Cubic CsPbBr3 is dynamically unstable to octahedral tilts: imaginary modes at M and R."""
    doc = phonons(cspbbr3("cubic"), tmp_path / "ph", supercell=(2, 2, 2))
    assert doc["status"] == "completed", doc["reason"]
    d = doc["data"]
    assert not d["dynamically_stable"]
    labels = {m["label"] for m in d["imaginary_modes"]}
    assert {"M", "R"} <= labels
    assert all(m["frequency_THz"] < -0.1 for m in d["imaginary_modes"])
    assert (tmp_path / "ph" / "band.yaml").is_file() and (tmp_path / "ph" / "phonons.png").is_file()
    assert d["n_displacements"] == 3 and d["band"]["labels"][0] == "Γ"


def test_cli_run_static_and_failure_exit_code(run_cli, tmp_path):
    run_cli("build", "bulk", "-o", "pnma.cif")
    doc = json.loads(run_cli("run", "static", "pnma.cif", "--backend", "chgnet", "-o", "st", "--json").stdout)
    assert doc["status"] == "completed" and doc["job"] == "static"
    assert load(tmp_path / "st")["energy"] == pytest.approx(doc["energy"])
    proc = run_cli("run", "relax", "pnma.cif", "--backend", "chgnet", "--steps", "1", "--option",
                   "threads=1", "-o", "rl", check=False)
    # one BFGS step on the PBE cell does not reach 0.02 eV/Å with CHGNet: recorded failure, exit 1
    assert proc.returncode == 1 and "relax failed" in proc.stderr
    assert load(tmp_path / "rl")["status"] == "failed"
    proc = run_cli("run", "static", "pnma.cif", "--backend", "chgnet", "--charge", "-1", "-o", "q", check=False)
    assert proc.returncode == 2 and "charge -1 needs backend 'gpaw' or 'vasp'" in proc.stderr


def test_cli_relax_smax_decides_a_loose_cell_relaxation(run_cli, tmp_path):
    """At fmax 0.5 eV/Å the cubic cell stops with a stress that --smax 1e-5 refuses and --smax 0.05 accepts."""
    run_cli("build", "bulk", "--phase", "cubic", "-o", "cubic.cif")
    common = ("--backend", "chgnet", "--cell", "--fmax", "0.5", "--steps", "20", "--option", "threads=1")
    proc = run_cli("run", "relax", "cubic.cif", *common, "--smax", "1e-5", "-o", "tight", check=False)
    doc = load(tmp_path / "tight")
    assert proc.returncode == 1 and doc["status"] == "failed" and "above smax" in doc["reason"]
    assert doc["data"]["settings"]["smax"] == 1e-5
    loose = json.loads(run_cli("run", "relax", "cubic.cif", *common, "--smax", "0.05", "-o", "loose", "--json").stdout)
    assert loose["status"] == "completed" and loose["data"]["settings"]["smax"] == 0.05
    assert np.abs(loose["stress"]).max() > 1e-5               # the same stress the tight run refused


def test_level_of_theory_names_a_cell_from_another_method(tmp_path):
    """Positions relaxed by one method in a cell relaxed by another carry both in the label; a
    full cell relaxation makes the cell its own again; a fixed in-plane lattice keeps the input's."""
    from pvatoms.analysis.chempots import check_same_level
    from pvatoms.schema import structure_of
    from pvatoms.studies.transforms import apply_transform
    start = cspbbr3("cubic")
    sn = "SevenNet-0"
    cell = relax(start, tmp_path / "cell", backend="chgnet", cell=True, fmax=0.1, steps=20)
    assert cell["level_of_theory"]["label"] == "CHGNet 0.3.0//CHGNet 0.3.0"
    atoms = structure_of(cell)
    assert (atoms.info["geometry_method"], atoms.info["cell_method"]) == ("CHGNet 0.3.0", "CHGNet 0.3.0")
    pos = relax(atoms, tmp_path / "pos", backend="sevennet", fmax=0.1, steps=20)
    assert pos["level_of_theory"] == {"energy": sn, "geometry": sn, "cell": "CHGNet 0.3.0",
                                      "label": f"{sn}//{sn} (CHGNet 0.3.0 cell)"}
    sp = static(apply_transform(structure_of(pos), [{"supercell": [1, 1, 2]}]), tmp_path / "sp", backend="chgnet")
    assert sp["level_of_theory"]["label"] == f"CHGNet 0.3.0//{sn} (CHGNet 0.3.0 cell)"
    masked = relax(structure_of(pos), tmp_path / "masked", backend="sevennet", cell=True,
                   cell_mask=[0, 0, 1, 0, 0, 0], fmax=0.1, steps=20)
    assert masked["level_of_theory"]["label"] == f"{sn}//{sn} (CHGNet 0.3.0 cell)"
    full = relax(structure_of(pos), tmp_path / "full", backend="sevennet", cell=True, fmax=0.1, steps=20)
    assert full["level_of_theory"] == {"energy": sn, "geometry": sn, "cell": sn, "label": f"{sn}//{sn}"}
    with pytest.raises(InputError, match=r"cannot mix levels of theory.*SevenNet-0 \(CHGNet 0.3.0 cell\)"):
        check_same_level([("full", full), ("pos", pos)])
    assert check_same_level([("pos", pos), ("masked", masked)]) == f"{sn}//{sn} (CHGNet 0.3.0 cell)"
    # a built cell is not known: an MLIP pre-relaxation in it, then another method, names no cell
    pre = relax(start, tmp_path / "pre", backend="sevennet", cell=True, cell_mask=[0, 0, 1, 0, 0, 0],
                fmax=0.1, steps=20)
    after = relax(structure_of(pre), tmp_path / "after", backend="chgnet", fmax=0.1, steps=20)
    assert pre["level_of_theory"]["cell"] is None and "cell_method" not in structure_of(pre).info
    assert after["level_of_theory"]["label"] == "CHGNet 0.3.0//CHGNet 0.3.0"


def test_frames_of_a_relaxation_read_back_name_that_relaxation_as_their_geometry(tmp_path):
    """A static on a frame of another method's relaxation path is labelled with that method: the
    positions of frame k of a SevenNet-0 relaxation started from CHGNet positions are SevenNet-0's,
    and its masked cell stays CHGNet's."""
    from ase.io import read
    from pvatoms.schema import structure_of
    sn = "SevenNet-0"
    cell = relax(cspbbr3("cubic"), tmp_path / "cell", backend="chgnet", cell=True, fmax=0.1, steps=20)
    start = structure_of(cell)
    start.rattle(0.05, seed=1)
    path = relax(start, tmp_path / "path", backend="sevennet", cell=True, cell_mask=[0, 0, 1, 0, 0, 0],
                 fmax=0.01, steps=3)
    assert path["status"] == "failed" and path["data"]["steps"] == 3
    frame = read(tmp_path / "path" / "relax.traj", 2)
    assert (frame.info["geometry_method"], frame.info["cell_method"]) == (sn, "CHGNet 0.3.0")
    sp = static(frame, tmp_path / "sp", backend="chgnet")
    assert sp["level_of_theory"]["label"] == f"CHGNet 0.3.0//{sn} (CHGNet 0.3.0 cell)"
