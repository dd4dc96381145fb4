"""Batched machine-learned potentials: many structures per model call on one device (torch-sim).

A small cell does not fill a GPU: SevenNet-0 has a ~50-70 ms floor per call whatever the size, so
relaxing 32 vacancy cells one by one costs 32 floors per optimiser step. :class:`BatchedMLIP` puts
many structures into one model call (a torch-sim ``SimState``) and relaxes them together with
torch-sim's FIRE (ASE's flavour: the same parameters as ``ase.optimize.FIRE``), each structure
keeping its own time step, its own step count and its own convergence; a finished structure leaves
the batch and a waiting one takes its place (in-flight batching).

>>> from pvatoms.build import cspbbr3, point_defects
>>> cells = [d.atoms for d in point_defects(cspbbr3(), vacancies=["Br"], supercell=(2, 2, 2))]
>>> engine = BatchedMLIP("chgnet")                                    # doctest: +SKIP
>>> [o.energy for o in engine.static(cells)]                          # doctest: +SKIP
>>> [o.converged for o in engine.relax(cells, fmax=0.02, steps=300)]  # doctest: +SKIP

Memory. The memory of one call grows with the number of neighbour pairs within the model's cut-off
(edges), not with the atom count alone, and not with the cell's mean density (which is what torch-sim's
own autobatcher uses, and which under-counts a nanocrystal or a slab in vacuum). The batch sizes come
from an estimate per edge (:class:`MemoryModel`, measured on an H100) against a budget (a fraction of
the free GPU memory, or of the available RAM on the CPU). Known pitfalls of estimating by probing to
the limit (a later fluctuation runs out of memory; the caching allocator keeps the probe's memory) are
avoided by never probing: a call that runs out of memory anyway is split in halves and retried (the
cache emptied first), and the budget shrinks to what worked. On the GPU every call's measured peak
refines the estimate. A structure too large for the budget on its own goes to the domain-decomposed
calculator (:mod:`pvatoms.calc.domains`, SevenNet) and is relaxed by ASE's FIRE with the same
parameters.

Failures are per structure: a structure whose call fails (an element the model does not know, a
non-finite force, out of memory even alone) is recorded with its reason and the others go on.
Progress and an ETA go to stderr (and to an optional callback).

Numbers: energies eV, forces eV/Å, stress eV/Å^3 in Voigt order xx yy zz yz xz xy with ASE's sign
(positive = tensile). SevenNet runs in float32 (as in its ASE calculator); CHGNet's optimiser state
is kept in float64 (the model itself is float32).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from pvatoms.calc.memory import (MemoryModel, count_edges, free_cached_memory, is_out_of_memory,  # noqa: F401
                                 memory_budget)
from pvatoms.calc.torchsim_models import model_cutoff, model_kind, torchsim_model, unknown_elements
from pvatoms.errors import InputError

#: on the CPU, batching gains little beyond this many atoms per call
CPU_BATCH_ATOMS = 4000


@dataclass
class Outcome:
    """What became of one structure. ``atoms``: the final structure (a copy of the input, its labels
    kept) with its results attached; ``stress`` None unless the cell is periodic in all directions;
    ``route``: ``batch`` (torch-sim), ``domains`` (domain-decomposed ASE calculator) or ``alone`` (ASE
    calculator); ``seconds``: this structure's share of the wall time (by atoms per model call)."""
    index: int
    atoms: Atoms | None = None
    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    converged: bool | None = None
    steps: int = 0
    fmax: float | None = None
    error: str | None = None
    route: str = "batch"
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class Progress:
    """Counts finished structures and prints one line with an ETA at most every ``every`` seconds
    (to stderr); ``callback(dict)`` gets the same numbers."""

    def __init__(self, total: int, label: str = "batch", enabled: bool = True, every: float = 10.0,
                 callback=None):
        self.total, self.label, self.enabled, self.every, self.callback = total, label, enabled, every, callback
        self.done = self.failed = self.running = 0
        self.t0 = self._last = time.perf_counter()

    def update(self, finished: int = 0, failed: int = 0, running: int | None = None, force: bool = False):
        self.done += finished
        self.failed += failed
        self.running = max(0, self.running - finished)
        if running is not None:
            self.running = running
        now = time.perf_counter()
        elapsed = now - self.t0
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        info = {"label": self.label, "done": self.done, "failed": self.failed, "running": self.running,
                "total": self.total, "elapsed": elapsed, "eta": eta}
        if self.callback:
            self.callback(info)
        if self.enabled and (force or now - self._last >= self.every or self.done == self.total):
            self._last = now
            left = "ETA unknown" if eta is None else f"ETA {eta:.0f} s"
            print(f"[{self.label}] {self.done}/{self.total} finished ({self.failed} failed), {self.running} "
                  f"running, {elapsed:.0f} s elapsed, {left}", file=sys.stderr, flush=True)
        return info


class _Recorder:
    """The model as the optimiser sees it, keeping the stress of its last call (positions-only FIRE
    does not keep it, and the result documents record it): one 3x3 array per system, ASE sign."""

    def __init__(self, model):
        self.model, self.device, self.dtype = model, model.device, model.dtype
        self.last, self.peak = None, None          # peak: bytes of the last call (GPU only)

    def __call__(self, state):
        import torch
        cuda = str(self.device).startswith("cuda")
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        out = self.model(state)
        if cuda:
            self.peak = torch.cuda.max_memory_allocated() - base
        s = out.get("stress")
        self.last = None if s is None else s.detach().cpu().double().numpy()
        return out

    def stresses(self, n: int) -> list:
        return list(self.last) if self.last is not None and len(self.last) == n else [None] * n


def _voigt(s3) -> np.ndarray:
    s = np.asarray(s3, dtype=float)
    return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


class BatchedMLIP:
    """Many structures per model call: single points (:meth:`static`) and relaxations
    (:meth:`relax`) of a list of ``ase.Atoms``, each answered by an :class:`Outcome` in input order.

    backend : 'sevennet' (default), 'chgnet', or an :class:`~pvatoms.calc.mlip.MLIPBackend`.
    device : 'cuda' when torch sees a GPU, else 'cpu'.
    memory_gb : the budget of one call (default: :func:`memory_budget`).
    max_batch_atoms : at most this many atoms per call (default: no limit on the GPU,
        :data:`CPU_BATCH_ATOMS` on the CPU).
    progress : print progress lines to stderr; ``on_progress(dict)`` receives them too.
    """

    def __init__(self, backend="sevennet", model: str | None = None, device: str | None = None,
                 memory_gb: float | None = None, max_batch_atoms: int | None = None, progress: bool = True,
                 on_progress=None, label: str = "batch"):
        from pvatoms.calc.mlip import MLIPBackend
        self.backend = backend if isinstance(backend, MLIPBackend) else MLIPBackend(backend, model=model,
                                                                                    device=device)
        self.raw_model, _, _ = self.backend.loaded_model()
        self.kind = model_kind(self.raw_model)
        self.device = self.backend.device
        self.model = torchsim_model(self.raw_model, self.device)
        self.memory = MemoryModel(self.kind, model_cutoff(self.raw_model))
        self.capacity = memory_gb * 2**30 if memory_gb else memory_budget(self.device)
        cuda = str(self.device).startswith("cuda")
        self.max_batch_atoms = max_batch_atoms or (None if cuda else CPU_BATCH_ATOMS)
        self.progress, self.on_progress, self.label = progress, on_progress, label
        self.calls = 0                      # model calls made (batched), for benchmarks

    def info(self) -> dict:
        """How the batches were run (recorded in each result document's ``data``)."""
        from importlib.metadata import version
        return {"engine": f"torch-sim {version('torch-sim-atomistic')}", "device": self.device,
                "capacity_gb": round(self.capacity / 2**30, 2), "max_batch_atoms": self.max_batch_atoms,
                "bytes_per_edge": round(self.memory.bytes_per_edge)}

    # ---------------------------------------------------------------- single points
    def static(self, structures: list, on_result=None) -> list[Outcome]:
        """Energy, forces and stress of every structure, as few calls as the memory allows."""
        structures = list(structures)
        out: list[Outcome | None] = [None] * len(structures)
        prog = Progress(len(structures), f"{self.label} static", self.progress, callback=self.on_progress)
        costs = self._costs(structures)
        batchable, alone = self._routes(structures, costs)
        for group in batchable:
            for bin_ in self._pack(group, costs, [len(a) for a in structures]):
                self._static_bin(structures, bin_, costs, out, prog, on_result)
        for i in alone:
            self._finish(out, self._alone(structures[i], i, relax=None), prog, on_result)
        return out

    def _static_bin(self, structures, bin_, costs, out, prog, on_result):
        import torch_sim as ts
        t0 = time.perf_counter()
        try:
            state = ts.initialize_state([structures[i] for i in bin_], self.model.device, self.model.dtype)
            res = self._call(state, bin_, costs)
        except Exception as exc:                                    # noqa: BLE001 (split, then record)
            for part in self._split_after(exc, bin_, costs):
                if isinstance(part, Outcome):
                    self._finish(out, part, prog, on_result)
                else:
                    self._static_bin(structures, part, costs, out, prog, on_result)
            return
        seconds = self._shares(time.perf_counter() - t0, [len(structures[i]) for i in bin_])
        off = 0
        for k, i in enumerate(bin_):
            n = len(structures[i])
            o = self._outcome(structures[i], i, structures[i].positions, structures[i].cell,
                              res["energy"][k], res["forces"][off:off + n], res["stress"][k])
            o.seconds = seconds[k]
            off += n
            self._finish(out, o, prog, on_result)

    # ---------------------------------------------------------------- relaxations
    def relax(self, structures: list, cell: bool = False, fmax: float = 0.02, steps: int = 500,
              on_result=None, checkpoint=None, checkpoint_every: int = 10) -> list[Outcome]:
        """Relax every structure (positions, or positions and cell with the Frechet cell filter) with
        FIRE until the largest force (and cell force, virial / atoms) is below ``fmax`` eV/Å, at most
        ``steps`` steps each. ``on_result(outcome)`` is called as each one finishes;
        ``checkpoint(index, atoms, step)`` every ``checkpoint_every`` steps of each structure."""
        structures = list(structures)
        if cell and not all(a.pbc.all() for a in structures):
            raise InputError("a cell relaxation needs cells periodic in all three directions")
        out: list[Outcome | None] = [None] * len(structures)
        prog = Progress(len(structures), f"{self.label} relax", self.progress, callback=self.on_progress)
        costs = self._costs(structures)
        batchable, alone = self._routes(structures, costs)
        opts = {"cell": cell, "fmax": float(fmax), "steps": int(steps), "checkpoint": checkpoint,
                "every": max(1, int(checkpoint_every))}
        for group in batchable:
            self._relax_group(structures, group, costs, opts, out, prog, on_result)
        for i in alone:
            self._finish(out, self._alone(structures[i], i, relax=opts), prog, on_result)
        return out

    def _relax_group(self, structures, group, costs, o, out, prog, on_result):
        """In-flight batching: admit waiting structures while the budget allows, step all, let the
        finished ones leave. Every system keeps its own FIRE state (time step, mixing, step count), so
        where it sits in which batch does not change its path. A step that runs out of memory parks
        half of the batch (its state kept) and shrinks the budget; a step that fails otherwise is
        bisected, the halves run on their own, down to the structure that fails."""
        import torch_sim as ts
        from torch_sim.optimizers import fire, frechet_cell_fire
        rec = _Recorder(self.model)
        init_fn, step_fn = (frechet_cell_fire if o["cell"] else fire)(rec)     # ASE's FIRE flavour
        sizes = [len(a) for a in structures]
        waiting = [("new", i) for i in group]        # ("new", i) | ("parked", state, [i...], solo)
        active, idx, solo = None, [], False
        nsteps, spent, stress = dict.fromkeys(group, 0), dict.fromkeys(group, 0.0), {}
        while waiting or idx:
            if not solo:
                active, idx, solo = self._admit(waiting, active, idx, structures, costs, sizes, init_fn,
                                                spent, out, prog, on_result, rec, stress)
            if not idx:
                continue
            done = self._finished(active, idx, nsteps, o)
            for k in sorted(done):
                i = idx[k]
                oc = self._outcome_of(structures[i], i, active, k, done[k], nsteps[i], stress.get(i))
                oc.seconds = spent[i]
                if o["checkpoint"]:
                    o["checkpoint"](i, oc.atoms, nsteps[i])
                self._finish(out, oc, prog, on_result)
            if done:
                keep = [k for k in range(len(idx)) if k not in done]
                active, idx = (active[keep] if keep else None), [idx[k] for k in keep]
                solo = solo and bool(idx)
            prog.update(running=len(idx))
            if not idx:
                continue
            backup = active.clone()
            t0 = time.perf_counter()
            try:
                active = step_fn(active)
                self.calls += 1
            except Exception as exc:                                   # noqa: BLE001 (split, then record)
                oom = is_out_of_memory(exc)
                if oom:
                    free_cached_memory(self.device)
                if len(idx) == 1:
                    why = "out of memory on its own" if oom else f"{type(exc).__name__}: {exc}"
                    self._finish(out, Outcome(idx[0], error=f"{why} (after {nsteps[idx[0]]} steps)",
                                              seconds=spent[idx[0]]), prog, on_result)
                    active, idx, solo = None, [], False
                    continue
                half = len(idx) // 2
                if oom:
                    self.capacity = min(self.capacity, 0.9 * sum(costs[i] for i in idx[:half]))
                parts = [("parked", backup[list(range(half))].to(device="cpu"), idx[:half], not oom),
                         ("parked", backup[list(range(half, len(idx)))].to(device="cpu"), idx[half:], not oom)]
                waiting[:0] = parts
                active, idx, solo = None, [], False
                continue
            for i, s in zip(idx, self._shares(time.perf_counter() - t0, [sizes[i] for i in idx])):
                spent[i] += s
                nsteps[i] += 1
            stress.update(zip(idx, rec.stresses(len(idx))))
            self._measured(rec, idx, costs)
            if o["checkpoint"]:
                for k, i in enumerate(idx):
                    if nsteps[i] % o["every"] == 0:
                        o["checkpoint"](i, self._outcome_of(structures[i], i, active, k, None, nsteps[i]).atoms,
                                        nsteps[i])

    def _admit(self, waiting, active, idx, structures, costs, sizes, init_fn, spent, out, prog, on_result,
               rec, stress):
        """Move waiting structures into the batch while the budget (and the atom cap) allows; always at
        least one when the batch is empty. New ones are initialised in one call (their forces)."""
        import torch_sim as ts
        room = self.capacity - sum(costs[i] for i in idx)
        atoms_room = (self.max_batch_atoms or 1 << 62) - sum(sizes[i] for i in idx)
        new, states, solo = [], [], False
        while waiting:
            entry = waiting[0]
            members = [entry[1]] if entry[0] == "new" else entry[2]
            need, n = sum(costs[i] for i in members), sum(sizes[i] for i in members)
            if entry[0] == "parked" and entry[3]:                      # a bisected half runs alone
                if idx or new or states:
                    break
                waiting.pop(0)
                states.append((entry[1].to(device=self.model.device), members))
                solo = True
                break
            if (idx or new or states) and (need > room or n > atoms_room):
                break
            waiting.pop(0)
            room, atoms_room = room - need, atoms_room - n
            if entry[0] == "new":
                new.append(entry[1])
            else:
                states.append((entry[1].to(device=self.model.device), members))
        if new:
            t0 = time.perf_counter()
            got = self._init_safely(new, structures, costs, init_fn, waiting, out, prog, on_result, rec, stress)
            for i, s in zip(new, self._shares(time.perf_counter() - t0, [sizes[i] for i in new])):
                spent[i] += s
            states += got
        for st, members in states:
            active = st if active is None else ts.concatenate_states([active, st])
            idx = idx + list(members)
        return active, idx, solo

    def _init_safely(self, new, structures, costs, init_fn, waiting, out, prog, on_result, rec, stress) -> list:
        """[(state, indices)] of the new structures that initialised; out of memory: the halves go back
        to the front of the queue (budget shrunk); another error: bisect to the structure that fails."""
        import torch_sim as ts
        try:
            st = init_fn(ts.initialize_state([structures[i] for i in new], self.model.device, self.model.dtype))
            self.calls += 1
            stress.update(zip(new, rec.stresses(len(new))))
            return [(st, list(new))]
        except Exception as exc:                                       # noqa: BLE001
            parts, oom = self._split_after(exc, new, costs), is_out_of_memory(exc)
        got = []
        for part in parts:
            if isinstance(part, Outcome):
                self._finish(out, part, prog, on_result)
            elif oom:
                waiting[:0] = [("new", i) for i in part]
            else:
                got += self._init_safely(part, structures, costs, init_fn, waiting, out, prog, on_result, rec,
                                         stress)
        return got

    def _outcome_of(self, atoms, i, state, k, why, steps, stress=None) -> Outcome:
        """The :class:`Outcome` of system ``k`` of ``state`` (input ``atoms``; ``stress`` 3x3 from the
        last call); ``why`` from :meth:`_finished` (None: an intermediate frame)."""
        m = (state.system_idx == k).cpu().numpy()
        oc = self._outcome(atoms, i, state.positions.detach().cpu().double().numpy()[m],
                           state.row_vector_cell.detach().cpu().double().numpy()[k],
                           float(state.energy[k].detach().cpu()), state.forces.detach().cpu().double().numpy()[m],
                           stress, converged=(why == "converged") if why else None, steps=steps)
        if why == "non-finite":
            oc.error = "non-finite energy or forces during the relaxation"
        return oc

    def _finished(self, state, idx, nsteps, o) -> dict:
        """{position in the batch: 'converged' | 'steps' | 'non-finite'} of the systems that stop now."""
        import torch
        f = state.forces.detach()
        norms = torch.linalg.norm(f, dim=1)
        per = torch.zeros(state.n_systems, dtype=norms.dtype, device=norms.device)
        per = per.scatter_reduce(0, state.system_idx, norms, reduce="amax", include_self=True)
        finite = torch.isfinite(state.energy.detach())
        bad = torch.zeros(state.n_systems, dtype=torch.bool, device=norms.device)
        bad = bad.scatter_reduce(0, state.system_idx, ~torch.isfinite(norms), reduce="amax", include_self=True)
        if o["cell"]:
            cf = torch.linalg.norm(state.cell_forces.detach(), dim=2).max(dim=1).values
            per = torch.maximum(per, cf)
        per, ok = per.cpu().numpy(), (finite & ~bad).cpu().numpy()
        out = {}
        for k, i in enumerate(idx):
            if not ok[k]:
                out[k] = "non-finite"
            elif per[k] < o["fmax"]:
                out[k] = "converged"
            elif nsteps[i] >= o["steps"]:
                out[k] = "steps"
        return out

    # ---------------------------------------------------------------- pieces
    def _costs(self, structures) -> list[float]:
        """Estimated bytes of one call on each structure (its edges kept, for :meth:`_measured`)."""
        self._edges = [self.memory.edges(a) if np.isfinite(a.positions).all() else -1 for a in structures]
        self._sizes = [len(a) for a in structures]
        return [self.memory.cost(a, e) if e >= 0 else float("inf") for a, e in zip(structures, self._edges)]

    def _measured(self, rec, members, costs) -> None:
        """A call's measured peak (GPU) raises the per-edge figure when it was higher than estimated;
        the estimates of every structure follow."""
        if rec.peak is None:
            return
        before = self.memory.bytes_per_edge
        self.memory.learn(rec.peak, sum(self._sizes[i] for i in members), sum(self._edges[i] for i in members))
        if self.memory.bytes_per_edge != before:
            for i, e in enumerate(self._edges):
                if e >= 0:
                    costs[i] = self.memory.bytes_per_atom * self._sizes[i] + self.memory.bytes_per_edge * e

    def _routes(self, structures, costs):
        """Groups of structures that can share a call (same periodicity, all or none), and those that
        run alone: too large for the budget, or periodic in only some directions."""
        groups, alone = {}, []
        for i, a in enumerate(structures):
            if unknown_elements(self.raw_model, a) or costs[i] == float("inf"):
                alone.append(i)                 # fails there at once, saying why
            elif a.pbc.all() != a.pbc.any() or costs[i] > self.capacity:
                alone.append(i)
            else:
                groups.setdefault(bool(a.pbc.all()), []).append(i)
        # largest first: the bins pack better and the long relaxations start early
        return [sorted(g, key=lambda i: -costs[i]) for g in groups.values()], alone

    def _pack(self, group, costs, sizes) -> list[list[int]]:
        """First-fit decreasing bins under the memory budget and the atom cap."""
        cap = self.max_batch_atoms or 1 << 62
        bins, loads = [], []
        for i in group:
            for b, (mem, n) in enumerate(loads):
                if mem + costs[i] <= self.capacity and n + sizes[i] <= cap:
                    bins[b].append(i)
                    loads[b] = (mem + costs[i], n + sizes[i])
                    break
            else:
                bins.append([i])
                loads.append((costs[i], sizes[i]))
        return bins

    def _call(self, state, bin_, costs) -> dict:
        """One model call; on the GPU its measured peak refines the memory model."""
        rec = _Recorder(self.model)
        res = rec(state)
        self.calls += 1
        self._measured(rec, bin_, costs)
        return {"energy": res["energy"].detach().cpu().double().numpy(),
                "forces": res["forces"].detach().cpu().double().numpy(),
                "stress": (res["stress"].detach().cpu().double().numpy() if res.get("stress") is not None
                           else [None] * state.n_systems)}

    def _split_after(self, exc, bin_, costs) -> list:
        """After a failed call on ``bin_``: the halves to retry (out of memory: the budget shrinks to
        what the half needs; another error: bisect to find the structure that fails), or, for a single
        structure, its failure :class:`Outcome`."""
        oom = is_out_of_memory(exc)
        if oom:
            free_cached_memory(self.device)
        if len(bin_) == 1:
            i = bin_[0]
            why = ("out of memory on its own (estimated {:.1f} GiB)".format(costs[i] / 2**30) if oom
                   else f"{type(exc).__name__}: {exc}")
            return [Outcome(i, error=why)]
        half = len(bin_) // 2
        if oom:
            self.capacity = min(self.capacity, 0.9 * sum(costs[i] for i in bin_[:half]))
        return [bin_[:half], bin_[half:]]

    def _outcome(self, atoms, i, positions, cell, energy, forces, stress, converged=None, steps=0) -> Outcome:
        final = atoms.copy()
        final.cell = np.asarray(cell)
        final.positions = np.asarray(positions)
        forces = np.asarray(forces, dtype=float)
        voigt = _voigt(stress) if (stress is not None and final.pbc.all()) else None
        final.calc = SinglePointCalculator(final, energy=float(energy), forces=forces, stress=voigt)
        fmax = float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0
        return Outcome(i, final, float(energy), forces, voigt, converged, int(steps), fmax)

    def _finish(self, out, oc: Outcome, prog, on_result):
        if oc.ok and oc.atoms is not None and not (np.isfinite(oc.energy) and np.isfinite(oc.forces).all()):
            oc.error = "non-finite energy or forces"
        if oc.ok and oc.stress is None and oc.atoms is not None and oc.atoms.pbc.all():
            oc.stress = self._stress_of(oc.atoms)
            oc.atoms.calc.results["stress"] = oc.stress
        out[oc.index] = oc
        prog.update(finished=1, failed=0 if oc.ok else 1)
        if on_result:
            on_result(oc)

    def _stress_of(self, atoms) -> np.ndarray | None:
        """Stress of a relaxed periodic structure (positions-only FIRE does not keep it): one call."""
        import torch_sim as ts
        try:
            res = self.model(ts.initialize_state([atoms], self.model.device, self.model.dtype))
            self.calls += 1
            return _voigt(res["stress"][0].detach().cpu().double().numpy())
        except Exception:                                              # noqa: BLE001
            return None

    @staticmethod
    def _shares(seconds: float, sizes: list[int]) -> list[float]:
        total = float(sum(sizes)) or 1.0
        return [seconds * n / total for n in sizes]

    def _alone(self, atoms, i, relax: dict | None) -> Outcome:
        """One structure through an ASE calculator: the domain-decomposed one (SevenNet) when it is
        too large for the budget, else the backend's own; relaxed with ASE's FIRE."""
        from ase.filters import FrechetCellFilter
        from ase.optimize import FIRE
        t0 = time.perf_counter()
        work = atoms.copy()
        route = "alone"
        unknown = unknown_elements(self.raw_model, atoms)
        if unknown:
            label = self.backend.info()["model"]
            return Outcome(i, error=f"{label} does not know element(s) {', '.join(unknown)}")
        if not np.isfinite(atoms.positions).all() or not np.isfinite(np.asarray(atoms.cell)).all():
            return Outcome(i, error="non-finite positions or cell")
        try:
            if self.kind == "sevennet" and self.memory.cost(atoms) > self.capacity:
                from pvatoms.calc.domains import DomainCalculator
                work.calc = DomainCalculator(self.raw_model, device=self.device, memory=self.memory,
                                             budget=self.capacity)
                route = "domains"
            else:
                work.calc = self.backend.calculator(atoms=work)
            steps, converged = 0, None
            if relax is not None:
                target = FrechetCellFilter(work, scalar_pressure=0.0) if relax["cell"] else work
                opt = FIRE(target, logfile=None)
                if relax["checkpoint"]:
                    opt.attach(lambda: relax["checkpoint"](i, _snapshot(work), opt.nsteps), interval=relax["every"])
                converged = bool(opt.run(fmax=relax["fmax"], steps=relax["steps"]))
                steps = int(opt.nsteps)
            e, f = work.get_potential_energy(), work.get_forces()
            s = work.get_stress(voigt=True) if work.pbc.all() else None
        except Exception as exc:                                       # noqa: BLE001
            why = (f"out of memory on its own ({len(atoms)} atoms)" if is_out_of_memory(exc)
                   else f"{type(exc).__name__}: {exc}")
            free_cached_memory(self.device)
            return Outcome(i, error=why, route=route, seconds=time.perf_counter() - t0)
        oc = self._outcome(atoms, i, work.positions, work.cell, e, f, s, converged, steps)
        oc.route, oc.seconds = route, time.perf_counter() - t0
        if route == "domains":
            oc.atoms.info["domains"] = dict(work.calc.report)
        if relax is not None and relax["checkpoint"]:
            relax["checkpoint"](i, oc.atoms, steps)
        return oc


def _snapshot(atoms) -> Atoms:
    """A copy of ``atoms`` with the energy and forces its calculator last computed."""
    out = atoms.copy()
    res = getattr(atoms.calc, "results", {}) or {}
    if "energy" in res:
        out.calc = SinglePointCalculator(out, energy=res["energy"], forces=res.get("forces"))
    return out


def check_batchable(structures) -> None:
    """Bad input before anything runs: a list of ase.Atoms, each with atoms."""
    if not isinstance(structures, (list, tuple)):
        raise InputError(f"a batch is a list of structures, got {type(structures).__name__}")
    for k, a in enumerate(structures):
        if not isinstance(a, Atoms):
            raise InputError(f"structure {k} of the batch is a {type(a).__name__}, not an ase.Atoms")
        if len(a) == 0:
            raise InputError(f"structure {k} of the batch has no atoms")
