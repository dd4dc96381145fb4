"""Batched MLIP execution (pvatoms.calc.batched, pvatoms.jobs.batch) and batch steps of studies: the
same documents and numbers as one structure at a time, per-structure failures, splits when a call
runs out of memory, one firework per batch. Real CHGNet / SevenNet-0 calculations on small cells."""

import json

import numpy as np
import pytest
import torch

from pvatoms.build import cspbbr3, point_defects
from pvatoms.calc.batched import BatchedMLIP
from pvatoms.errors import InputError
from pvatoms.jobs import relax, relax_batch, static, static_batch
from pvatoms.schema import load, validate

MEV = 1e-3        # eV


def distortions(n=4, amplitude=0.05):
    """A small distortion set: Pnma cells strained by -1 ... +2 % and rattled (Å)."""
    out = []
    for k in range(n):
        a = cspbbr3()
        a.set_cell(a.cell * (1 + 0.01 * (k - 1)), scale_atoms=True)
        a.rattle(amplitude, seed=k)
        out.append(a)
    return out


@pytest.fixture(scope="module")
def chgnet_engine():
    return BatchedMLIP("chgnet", progress=False)


class SmallDevice:
    """The model on a device that holds at most ``limit`` atoms per call: larger calls raise torch's
    out-of-memory error, as a full GPU does (the first ``grace`` calls are spared, so that a
    relaxation's step, not its start, runs out)."""

    def __init__(self, model, limit, grace=0):
        self.model, self.limit, self.grace = model, limit, grace
        self.device, self.dtype = model.device, model.dtype
        self.sizes = []

    def __call__(self, state):
        self.sizes.append(state.n_atoms)
        if len(self.sizes) > self.grace and state.n_atoms > self.limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate for {state.n_atoms} atoms")
        return self.model(state)


def test_static_batch_writes_the_documents_of_static_and_isolates_a_failure(tmp_path, chgnet_engine):
    cells = distortions(3) + [cspbbr3("cubic"), cspbbr3().repeat((2, 1, 1))]
    bad = cspbbr3("cubic")
    bad[0].symbol = "Am"                        # CHGNet knows Z <= 94
    structures = cells[:2] + [bad] + cells[2:]
    seen = []
    engine = BatchedMLIP("chgnet", progress=False, on_progress=seen.append)
    docs = static_batch(structures, [tmp_path / "b" / str(k) for k in range(len(structures))], engine=engine)
    assert [d["status"] for d in docs] == ["completed"] * 2 + ["failed"] + ["completed"] * 3
    assert "does not know element(s) Am" in docs[2]["reason"] and load(tmp_path / "b" / "2")["status"] == "failed"
    for k, (atoms, doc) in enumerate(zip(structures, docs)):
        if k == 2:
            continue
        ref = static(atoms, tmp_path / "s" / str(k), backend="chgnet")
        validate(doc)
        assert doc["structure_hash"] == ref["structure_hash"] and doc["job"] == "static"
        assert doc["energy"] == pytest.approx(ref["energy"], abs=1e-4)
        assert np.asarray(doc["forces"]) == pytest.approx(np.asarray(ref["forces"]), abs=1e-5)
        assert np.asarray(doc["stress"]) == pytest.approx(np.asarray(ref["stress"]), abs=1e-7)
        assert doc["structure"]["positions"] == ref["structure"]["positions"]
        assert doc["level_of_theory"] == ref["level_of_theory"] and doc["data"]["batch"]["route"] == "batch"
    assert sum(d["wall_time"] for d in docs if d["wall_time"]) > 0
    assert seen[-1]["done"] == len(structures) and seen[-1]["failed"] == 1 and seen[-1]["eta"] == 0
    # finished folders are skipped; a sequential static on a batch's folder reuses it, and back
    created = [load(tmp_path / "b" / str(k))["created"] for k in (0, 1)]
    again = static_batch(structures[:2], [tmp_path / "b" / "0", tmp_path / "b" / "1"], engine=engine)
    assert [d["created"] for d in again] == created
    assert static(structures[0], tmp_path / "b" / "0", backend="chgnet")["created"] == created[0]
    with pytest.raises(InputError, match="different structure or settings"):
        static_batch([structures[1]], [tmp_path / "b" / "0"], engine=engine)
    with pytest.raises(InputError, match="one folder per structure"):
        static_batch(cells[:2], [tmp_path / "x"], engine=engine)
    with pytest.raises(InputError, match="machine-learned potentials"):
        static_batch(cells[:1], [tmp_path / "g"], backend="gpaw")
    with pytest.raises(InputError, match="FIRE"):
        relax_batch(cells[:1], [tmp_path / "r"], backend="chgnet", optimizer="bfgs")


class FailsOn:
    """The model failing (not for lack of memory) on any call that holds a system of ``n`` atoms
    (after the first ``grace`` calls)."""

    def __init__(self, model, n, grace=0):
        self.model, self.n, self.grace, self.device, self.dtype = model, n, grace, model.device, model.dtype
        self.calls = 0

    def __call__(self, state):
        self.calls += 1
        if self.calls > self.grace and self.n in state.n_atoms_per_system.tolist():
            raise RuntimeError(f"the model cannot take a system of {self.n} atoms")
        return self.model(state)


def test_a_structure_that_breaks_a_call_is_found_by_bisection(chgnet_engine):
    big = cspbbr3().repeat((2, 1, 1))
    big.rattle(0.05, seed=7)
    cells = distortions(4) + [big] + distortions(2, amplitude=0.02)
    engine = BatchedMLIP("chgnet", progress=False)
    engine.model = FailsOn(engine.model, 40)
    for out in (engine.static(cells), engine.relax(cells, fmax=0.1, steps=40)):
        assert [o.ok for o in out] == [True] * 4 + [False] + [True] * 2
        assert "cannot take a system of 40 atoms" in out[4].error
    plain = chgnet_engine.relax(cells[:4], fmax=0.1, steps=40)
    assert [o.energy for o in out[:4]] == pytest.approx([o.energy for o in plain], abs=1e-5)
    engine.model = FailsOn(engine.model.model, 40, grace=1)          # now a step fails, not the start
    out = engine.relax(cells, fmax=0.1, steps=40)
    assert [o.ok for o in out] == [True] * 4 + [False] + [True] * 2 and "after 0 steps" in out[4].error
    assert [o.energy for o in out[:4]] == pytest.approx([o.energy for o in plain], abs=1e-5)
    assert [o.steps for o in out[:4]] == [o.steps for o in plain]


def test_out_of_memory_splits_the_batch_and_gives_the_same_numbers(chgnet_engine):
    cells = distortions(4) + [cspbbr3().repeat((3, 1, 1))]          # 4 x 20 atoms + 60 atoms
    plain = chgnet_engine.static(cells)
    engine = BatchedMLIP("chgnet", progress=False, memory_gb=1000)
    engine.model = SmallDevice(engine.model, limit=50)
    out = engine.static(cells)
    assert engine.capacity < 1000 * 2**30                            # the budget shrank to what worked
    assert max(n for n in engine.model.sizes if n <= 50) <= 40
    assert [o.ok for o in out] == [True] * 4 + [False]
    assert "out of memory on its own" in out[4].error
    for a, b in zip(plain[:4], out[:4]):
        assert a.energy == pytest.approx(b.energy, abs=1e-6)
        assert np.abs(a.forces - b.forces).max() < 1e-6


def test_out_of_memory_during_a_relaxation_parks_half_and_each_keeps_its_path(chgnet_engine):
    cells = distortions(3, amplitude=0.08)
    plain = chgnet_engine.relax(cells, fmax=0.1, steps=60)
    engine = BatchedMLIP("chgnet", progress=False, memory_gb=1000)
    engine.model = SmallDevice(engine.model, limit=45, grace=1)      # the start of all three fits
    out = engine.relax(cells, fmax=0.1, steps=60)
    assert 60 in engine.model.sizes and engine.capacity < 1000 * 2**30
    for a, b in zip(plain, out):
        assert b.ok and b.converged and a.steps == b.steps
        assert a.energy == pytest.approx(b.energy, abs=1e-5)
        assert np.abs(a.atoms.positions - b.atoms.positions).max() < 1e-5


@pytest.mark.slow
def test_batched_relaxation_of_the_vacancy_set_equals_sequential(tmp_path):
    """CHGNet, 2x2x2 Pnma: V_Br (2), V_Pb, V_Cs; batched FIRE against one-by-one FIRE (the same
    path: same steps) and against the default BFGS (the same minimum), within 1 meV/atom."""
    defects = point_defects(cspbbr3(), vacancies=["Br", "Pb", "Cs"], supercell=(2, 2, 2))
    cells = [d.atoms for d in defects]
    docs = relax_batch(cells, [tmp_path / "b" / d.name for d in defects], backend="chgnet", fmax=0.05,
                       steps=300, progress=False)
    for d, doc in zip(defects, docs):
        validate(doc)
        assert doc["status"] == "completed", doc["reason"]
        fire = relax(d.atoms, tmp_path / "fire" / d.name, backend="chgnet", fmax=0.05, steps=300, optimizer="fire")
        bfgs = relax(d.atoms, tmp_path / "bfgs" / d.name, backend="chgnet", fmax=0.05, steps=300)
        assert doc["structure_hash"] == fire["structure_hash"]
        assert doc["data"]["steps"] == fire["data"]["steps"] and doc["data"]["fmax"] < 0.05
        assert abs(doc["energy_per_atom"] - fire["energy_per_atom"]) < 0.01 * MEV
        assert abs(doc["energy_per_atom"] - bfgs["energy_per_atom"]) < MEV
        assert set(doc["data"]) >= set(fire["data"]) - {"restarted_from_trajectory"}
        assert (tmp_path / "b" / d.name / "relax.traj").is_file()
    # rerun: every folder finished, nothing recomputed
    again = relax_batch(cells, [tmp_path / "b" / d.name for d in defects], backend="chgnet", fmax=0.05,
                        steps=300, progress=False)
    assert [a["created"] for a in again] == [d["created"] for d in docs]


def test_a_batched_rerun_sets_aside_the_trajectory_of_another_structure(tmp_path, chgnet_engine):
    """As the one-by-one relaxation: an unfinished trajectory in a folder is continued only by a
    rerun of its own structure; another structure in that folder starts afresh, the old steps kept."""
    from ase.io import read
    a, b = distortions(2, amplitude=0.1)
    folder = tmp_path / "x"
    first, = relax_batch([a], [folder], engine=chgnet_engine, fmax=0.001, steps=2, progress=False)
    assert first["status"] == "failed"
    own, = relax_batch([a], [folder], engine=chgnet_engine, fmax=0.001, steps=2, progress=False)
    assert own["data"]["restarted_from_trajectory"] and "set_aside" not in own["data"]
    other, = relax_batch([b], [folder], engine=chgnet_engine, fmax=0.001, steps=2, progress=False)
    assert "restarted_from_trajectory" not in other["data"]
    aside, = [p for p in folder.iterdir() if p.name.startswith("relax.traj.set-aside-")]
    assert other["data"]["set_aside"] == [aside.name]
    assert np.allclose(read(aside, index=-1).positions, own["structure"]["positions"])


@pytest.mark.slow
def test_batched_cell_relaxation_of_a_distortion_set_sevennet(tmp_path):
    """SevenNet-0 (the default), cell and positions, strained and rattled Pnma cells: batched and
    one by one agree within 1 meV/atom; a structure that cannot converge in the steps given is
    recorded as failed without losing the others."""
    cells = distortions(3)
    docs = relax_batch(cells, [tmp_path / "b" / str(k) for k in range(3)], cell=True, fmax=0.05, steps=250,
                       progress=False)
    for k, (atoms, doc) in enumerate(zip(cells, docs)):
        assert doc["status"] == "completed", doc["reason"]
        ref = relax(atoms, tmp_path / "s" / str(k), cell=True, fmax=0.05, steps=250, optimizer="fire")
        assert abs(doc["energy_per_atom"] - ref["energy_per_atom"]) < MEV
        assert doc["backend"]["model"] == ref["backend"]["model"] and "7net-0" in doc["backend"]["model"]
        assert [doc["data"]["lattice"][x] for x in "abc"] == pytest.approx(
            [ref["data"]["lattice"][x] for x in "abc"], abs=0.02)
        assert np.asarray(doc["stress"]) == pytest.approx(np.asarray(ref["stress"]), abs=2e-4)
    short = relax_batch(cells[:2], [tmp_path / "short" / str(k) for k in range(2)], cell=True, fmax=0.05,
                        steps=3, progress=False)
    assert [d["status"] for d in short] == ["failed", "failed"]
    assert all(d["reason"].startswith("NotConverged") and d["energy"] is not None for d in short)


def test_neb_images_are_evaluated_in_one_call_with_the_numbers_of_one_calculator_each(chgnet_engine):
    from ase.mep import NEB

    from pvatoms.build import defects_supercell
    from pvatoms.calc import get_backend
    from pvatoms.calc.batched_images import ImageGroup
    from pvatoms.jobs import nearest_vacancy_hops, vacancy_hop
    perfect = defects_supercell(cspbbr3("cubic"), (2, 2, 2))
    br = perfect.get_chemical_symbols().index("Br")
    a, b = vacancy_hop(perfect, br, nearest_vacancy_hops(perfect, br)[0][0])

    def band(calcs):
        images = [a.copy() for _ in range(4)] + [b.copy()]
        NEB(images, method="improvedtangent").interpolate(mic=True)
        for im, c in zip(images, calcs(images)):
            im.calc = c
        return NEB(images, climb=True, allow_shared_calculator=False, method="improvedtangent")

    backend = get_backend("chgnet")
    ref = band(lambda images: [backend.calculator() for _ in images])
    group = ImageGroup(chgnet_engine)
    batched = band(group.calculators)
    assert np.abs(batched.get_forces() - ref.get_forces()).max() < 1e-5 and group.calls == 1
    assert batched.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-4)
    for neb in (ref, batched):                          # one optimiser step moves the band: one more call
        pos = neb.get_positions()
        neb.set_positions(pos + 0.01 * neb.get_forces())
    assert np.abs(batched.get_forces() - ref.get_forces()).max() < 1e-5 and group.calls == 2


def smoke_spec(folder, job="static", n=4):
    structures = {f"c{k}": {"builder": "cspbbr3", "phase": "cubic" if k % 2 else "pnma"} for k in range(n)}
    return {"study": "smoke", "name": "batch", "backend": "chgnet", "job": job, "folder": str(folder),
            "structures": structures}


def test_batch_steps_make_one_firework_per_batch(tmp_path):
    from pathlib import Path

    from pvatoms.fw.workflows import to_workflow
    from pvatoms.studies import load_study, plan_study, study_from_dict
    from pvatoms.studies.graph import batch_steps
    graph = batch_steps(plan_study(study_from_dict(smoke_spec(tmp_path, n=5))), size=3)
    assert [s.label for s in graph.steps] == ["static-batch-1", "static-batch-2"]
    assert [[m.label for m in s.members] for s in graph.steps] == [["c0", "c1", "c2"], ["c3", "c4"]]
    ix = graph.index()
    assert sorted(ix["steps"]) == ["c0", "c1", "c2", "c3", "c4"] and ix["steps"]["c4"]["job"] == "static"
    assert ix["batches"]["static-batch-2"]["members"] == ["c3", "c4"]
    assert len(to_workflow(graph).fws) == 2
    # a defect study: the vacancy relaxations share one batch, the competing phases another; the
    # analysis still names the defects, and depends on their batch
    workflows = Path(__file__).resolve().parents[1] / "workflows"
    graph = batch_steps(plan_study(load_study(workflows / "defects.yaml", folder=tmp_path)))
    batches = {s.label: s for s in graph.steps if s.members}
    defects = next(s for s in batches.values() if s.members[0].label.startswith("V_"))
    assert sorted(m.label for m in defects.members) == ["V_Br_4c_q+0", "V_Br_8d_q+0", "V_Cs_4c_q+0", "V_Pb_4b_q+0"]
    assert defects.parents == ["host-relax"] and defects.job_settings["optimizer"] == "fire"
    (analysis,) = graph.analyses
    assert sorted(analysis.roles["defects"]) == sorted(m.label for m in defects.members)
    # Br2 (a molecule: fixed box) is relaxed on its own, so it stays a step of its own
    assert set(analysis.parents) == {"host-relax", "perfect", "phase-Br2", *batches}
    wf = to_workflow(graph)
    names = {fw.fw_id: fw.name for fw in wf.fws}
    for fw in wf.fws:
        assert sorted(names[p] for p in wf.links.parent_links.get(fw.fw_id, [])) == sorted(graph.node(fw.name).parents)
    assert any("FIRE" in n for n in graph.notes)
    with pytest.raises(InputError, match="at least 2"):
        batch_steps(graph, size=1)
    # the spec says it: `batch: N` plans the same batches
    spec = dict(smoke_spec(tmp_path, n=5), batch=3)
    assert [[m.label for m in s.members] for s in plan_study(study_from_dict(spec)).steps] == [
        ["c0", "c1", "c2"], ["c3", "c4"]]
    with pytest.raises(InputError, match="batch must be at least 2 structures per batch"):
        study_from_dict(dict(spec, batch=1))


def test_a_batched_study_runs_locally_and_on_fireworks(tmp_path):
    """The same smoke study, batched: locally and as one firework on the embedded store; every
    member's result document is the one the unbatched study writes."""
    from pvatoms.fw.launchpads import Target
    from pvatoms.fw.operations import launch
    from pvatoms.fw.workflows import to_workflow
    from pvatoms.studies import plan_study, run_local, study_from_dict
    from pvatoms.studies.graph import batch_steps
    plain = run_local(plan_study(study_from_dict(smoke_spec(tmp_path / "plain", n=3))))
    assert all(v["status"] == "completed" for v in plain.values())
    graph = batch_steps(plan_study(study_from_dict(smoke_spec(tmp_path / "local", n=3))))
    out = run_local(graph)
    assert out["static-batch-1"]["status"] == "completed"
    members = out["static-batch-1"]["summary"]["members"]
    assert sorted(members) == ["c0", "c1", "c2"]
    for label in members:
        a, b = load(tmp_path / "plain" / label), load(tmp_path / "local" / label)
        assert a["energy"] == pytest.approx(b["energy"], abs=1e-4) and a["structure_hash"] == b["structure_hash"]
    batch_doc = json.loads((tmp_path / "local" / "static-batch-1" / "batch.json").read_text())
    assert batch_doc["data"] == {"members": 3, "completed": 3, "failed": 0}
    target = Target(tmp_path / "store")
    graph = batch_steps(plan_study(study_from_dict(smoke_spec(tmp_path / "fw", n=3))))
    with target.launchpad() as lp:
        lp.add_wf(to_workflow(graph))
    summary = launch(target, quiet=True)
    assert len(summary["completed"]) == 1 and not summary["fizzled"]
    for label in members:
        assert load(tmp_path / "fw" / label)["energy"] == pytest.approx(load(tmp_path / "plain" / label)["energy"],
                                                                        abs=1e-4)


@pytest.mark.slow
def test_a_batched_defect_study_reaches_its_formation_energies(tmp_path):
    """CHGNet: host relax -> perfect cell + vacancies in one batch + competing phases in another ->
    the defect analysis, which reads the members by their labels."""
    from pvatoms.studies import plan_study, run_local, study_from_dict
    from pvatoms.studies.graph import batch_steps
    spec = {"study": "defects", "name": "batched", "backend": "chgnet", "host": {"builder": "cspbbr3"},
            "relax": {"cell": True, "fmax": 0.05}, "supercell": [2, 2, 2], "defects": {"vacancies": ["Br", "Cs"]},
            "defect_fmax": 0.1, "competing_phases": ["Cs", "Pb", "Br2", "CsBr", "PbBr2"], "phase_fmax": 0.05}
    graph = batch_steps(plan_study(study_from_dict(spec, folder=tmp_path)))
    assert sum(1 for s in graph.steps if s.members) == 2
    out = run_local(graph)
    assert all(v["status"] == "completed" for v in out.values()), out
    doc = out["formation-energies"]["document"]
    assert not doc["skipped_unfinished"] and doc["level_of_theory"] == "CHGNet 0.3.0//CHGNet 0.3.0"
    names = {row.get("defect") or row.get("name") for row in doc["formation_energies"]}
    assert {"V_Br_8d", "V_Br_4c", "V_Cs_4c"} <= {str(n).split("_q")[0] for n in names}
    for label in ("V_Br_8d_q+0", "V_Cs_4c_q+0"):
        member = load(tmp_path / label)
        assert member["data"]["settings"]["optimizer"] == "fire" and member["data"]["batch"]["size"] == 3
