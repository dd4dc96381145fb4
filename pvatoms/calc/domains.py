"""Spatial domain decomposition: one structure beyond a model call's memory, with the same energy,
forces and stress as a single call (SevenNet).

A message-passing model with L interaction layers of cut-off r_c gives every atom an energy e_j that
depends only on the atoms within its receptive field R = L r_c (SevenNet-0: 5 x 5 Å = 25 Å; read from
the model). The structure is cut into domains; each domain is evaluated as a cluster made of the atoms
it owns plus a ghost shell R thick (periodic images included, explicitly), and only the owned atoms'
energies are summed: E_D = Σ_{j owned} e_j is then exact, and so is its gradient with respect to every
cluster atom, owned or ghost. The total energy is Σ_D E_D, the force on an atom is the sum over domains
of -∂E_D/∂r of all its copies (owned or ghost), and the virial is the sum of the domains' edge virials
(Σ r_ij ⊗ ∂E_D/∂r_ij), so nothing is approximated: the numbers differ from one call only by float32
round-off in a different summation order (~1e-5 eV/Å).

Directions that are periodic and not cut stay periodic in the clusters (no ghosts needed); cut
directions are open, with explicit ghosts. Domains are a grid of fractional-coordinate slabs of the
cell (a non-periodic structure: of its box). The grid grows along the widest domain side until the
largest cluster fits the memory budget (`pvatoms.calc.memory`); the ghost shell makes a domain
cost at least ~(2R)^3 of material, so decomposition pays only for structures well beyond that
(SevenNet-0: ~10^4 atoms of CsPbBr3).

>>> from pvatoms.build import nanocrystal
>>> from pvatoms.calc import get_backend
>>> dot = nanocrystal(10.7, ligand="oleylammonium", coverage=0.5)          # doctest: +SKIP
>>> model, _, _ = get_backend("sevennet").loaded_model()                    # doctest: +SKIP
>>> dot.calc = DomainCalculator(model)                                      # doctest: +SKIP
>>> dot.get_forces(); dot.calc.report                                       # doctest: +SKIP

Relaxations use it without asking: ``MLIPBackend.calculator(atoms=...)`` returns it when the structure
is too large for one SevenNet call (backend setting ``domains``: "auto", "always", "never").
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from pvatoms.errors import InputError

#: a domain side below this (Å) is not cut further: the ghost shell dominates
MIN_DOMAIN_WIDTH = 4.0
MAX_DOMAINS = 4096


def interaction_layers(model) -> int:
    """Number of message-passing (convolution) layers of a SevenNet model."""
    n = sum(1 for m in model.modules() if type(m).__name__ == "IrrepsConvolution")
    if n == 0:
        raise InputError(f"cannot find the interaction layers of a {type(model).__name__} model "
                         "(domain decomposition supports SevenNet models)")
    return n


def receptive_field(model) -> float:
    """How far (Å) an atom's energy sees: interaction layers x cut-off (SevenNet-0: 5 x 5.0 Å)."""
    return interaction_layers(model) * float(model.cutoff)


@dataclass
class Domain:
    """One domain: ``owned`` (indices into the structure), the cluster's atoms (``index``: the
    structure's index of every cluster atom, the owned ones first; ``positions`` Å) and which cell
    directions stay periodic in the cluster (``pbc``)."""
    owned: np.ndarray
    index: np.ndarray
    positions: np.ndarray
    pbc: tuple

    def cluster(self, atoms: Atoms) -> Atoms:
        """The cluster as ase.Atoms (the structure's cell, for its periodic directions)."""
        return Atoms(numbers=atoms.numbers[self.index], positions=self.positions, cell=atoms.cell, pbc=self.pbc)


def _frame(atoms: Atoms):
    """(cell, origin, fractional coordinates): the cell, or for a structure without a full cell its
    bounding box."""
    cell = np.asarray(atoms.cell, dtype=float)
    origin = np.zeros(3)
    if abs(np.linalg.det(cell)) < 1e-9:
        if atoms.pbc.any():
            raise InputError("a periodic structure needs a cell of nonzero volume")
        lo, hi = atoms.positions.min(axis=0), atoms.positions.max(axis=0)
        origin, cell = lo - 1.0, np.diag(hi - lo + 2.0)
    frac = (atoms.positions - origin) @ np.linalg.inv(cell)
    for i in range(3):
        if atoms.pbc[i]:
            frac[:, i] %= 1.0
    return cell, origin, frac


def _spacing(cell) -> np.ndarray:
    """Distance (Å) between lattice planes of constant fractional coordinate, per direction."""
    vol = abs(np.linalg.det(cell))
    return np.array([vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)])


def plan_domains(atoms: Atoms, field: float, counts) -> list[Domain]:
    """The domains of a ``counts`` = (n_a, n_b, n_c) grid with ghost shells ``field`` Å thick. Atoms
    are sorted into the grid's cells once; a domain looks only at the cells its shell can reach
    (periodic images by the wrapped cell index), so planning costs about the atoms it returns."""
    counts = tuple(int(n) for n in counts)
    cell, origin, frac = _frame(atoms)
    pad = field / _spacing(cell)
    pbc = np.asarray(atoms.pbc, bool)
    edges, owner = [], np.zeros((len(atoms), 3), int)
    for i in range(3):
        lo, hi = (0.0, 1.0) if pbc[i] else (frac[:, i].min(), frac[:, i].max() + 1e-9)
        e = np.linspace(lo, hi, counts[i] + 1)
        edges.append(e)
        owner[:, i] = np.clip(np.searchsorted(e, frac[:, i], side="right") - 1, 0, counts[i] - 1)
    cluster_pbc = tuple(bool(pbc[i] and counts[i] == 1) for i in range(3))
    flat = np.ravel_multi_index(owner.T, counts)
    order = np.argsort(flat, kind="stable")               # atoms by grid cell, index order kept inside
    bounds = np.searchsorted(flat[order], np.arange(int(np.prod(counts)) + 1))
    reach = [0 if counts[i] == 1 else int(np.ceil(pad[i] * counts[i] / (edges[i][-1] - edges[i][0])))
             for i in range(3)]
    out = []
    for c in np.ndindex(*counts):
        cid = int(np.ravel_multi_index(c, counts))
        if bounds[cid] == bounds[cid + 1]:
            continue
        idx_parts, shift_parts = [], []
        for delta in itertools.product(*(range(-r, r + 1) for r in reach)):
            nb, shift = list(c), np.zeros(3)
            for i in range(3):
                if counts[i] == 1:
                    continue
                j = c[i] + delta[i]
                if pbc[i]:
                    shift[i], j = j // counts[i], j % counts[i]
                elif not 0 <= j < counts[i]:
                    break
                nb[i] = j
            else:
                b = int(np.ravel_multi_index(nb, counts))
                members = order[bounds[b]:bounds[b + 1]]
                f = frac[members] + shift
                keep = np.ones(len(members), bool)
                for i in range(3):
                    if counts[i] > 1:
                        keep &= (f[:, i] >= edges[i][c[i]] - pad[i]) & (f[:, i] < edges[i][c[i] + 1] + pad[i])
                idx_parts.append(members[keep])
                shift_parts.append(np.repeat(shift[None], int(keep.sum()), axis=0))
        idx, shift = np.concatenate(idx_parts), np.concatenate(shift_parts)
        own = (flat[idx] == cid) & ~shift.any(axis=1)
        first = np.concatenate([np.flatnonzero(own), np.flatnonzero(~own)])
        idx, shift = idx[first], shift[first]
        out.append(Domain(owned=idx[:int(own.sum())].copy(), index=idx, positions=(frac[idx] + shift) @ cell + origin,
                          pbc=cluster_pbc))
    return out


def choose_counts(atoms: Atoms, field: float, fits) -> tuple:
    """The smallest grid (cutting the widest domain side first) whose every cluster ``fits(n_atoms)``;
    raises :class:`InputError` when even domains :data:`MIN_DOMAIN_WIDTH` wide do not fit."""
    cell, _, frac = _frame(atoms)
    spacing = _spacing(cell)
    extent = np.array([spacing[i] if atoms.pbc[i] else max(np.ptp(frac[:, i]) * spacing[i], 1e-6)
                       for i in range(3)])
    counts = [1, 1, 1]
    while True:
        sizes = [len(d.index) for d in plan_domains(atoms, field, counts)]
        if all(fits(n) for n in sizes):
            return tuple(counts)
        widths = extent / np.asarray(counts)
        axis = int(np.argmax(widths))
        if widths[axis] / 2 < MIN_DOMAIN_WIDTH or np.prod(counts) * 2 > MAX_DOMAINS:
            raise InputError(f"{len(atoms)} atoms: even cut into {counts} domains the largest, with its "
                             f"{field:.0f} Å ghost shell, holds {max(sizes)} atoms, beyond the memory budget; "
                             "give the model more memory (PVATOMS_MLIP_MEMORY_GB) or use a smaller structure")
        counts[axis] += 1


def evaluate_owned(model, cluster: Atoms, n_owned: int, device: str = "cpu"):
    """SevenNet on a cluster counting only the energies of its first ``n_owned`` atoms: (that energy
    eV, forces on every cluster atom eV/Å of it, edge virial Σ r ⊗ ∂E/∂r in eV as xx yy zz xy yz zx,
    per-atom energies of the owned atoms eV)."""
    import sevenn._keys as KEY
    import torch
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.nn.linear import AtomReduce
    from sevenn.train.dataload import unlabeled_atoms_to_graph
    data = AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(cluster, float(model.cutoff)))
    data[KEY.CELL_VOLUME] = torch.tensor(1.0, dtype=data[KEY.POS].dtype)    # the force module then gives -virial
    data.to(device)
    model.set_is_batch_data(False)          # the shared model, as its ASE calculators use it
    data = model._preprocess(data)
    owned_energies = None
    for module in model:
        if isinstance(module, AtomReduce) and module.key_output == KEY.PRED_TOTAL_ENERGY:
            atomic = data[module.key_input]
            mask = torch.zeros_like(atomic)
            mask[:n_owned] = 1.0
            owned_energies = atomic[:n_owned].detach().reshape(-1).cpu().double().numpy()
            data[module.key_input] = atomic * mask
        data = module(data)
    energy = float(data[KEY.PRED_TOTAL_ENERGY].detach().cpu().double())
    forces = data[KEY.PRED_FORCE].detach().cpu().double().numpy()
    virial = -data[KEY.PRED_STRESS].detach().cpu().double().numpy().reshape(6)
    return energy, forces, virial, owned_energies


def needs_domains(atoms: Atoms, model, device: str = "cpu", budget: float | None = None) -> bool:
    """True when one SevenNet call on ``atoms`` would not fit the memory budget."""
    from pvatoms.calc.memory import MemoryModel, memory_budget
    memory = MemoryModel("sevennet", float(model.cutoff))
    budget = memory_budget(device) if budget is None else budget
    if len(atoms) * (memory.bytes_per_atom + memory.bytes_per_edge * 80) < budget:
        return False                                         # small: no neighbour list needed to tell
    return memory.cost(atoms) > budget


class DomainCalculator(Calculator):
    """ASE calculator: SevenNet energy, forces, stress (periodic cells) and per-atom energies of a
    structure of any size, cut into domains with ghost shells one receptive field thick when one call
    would not fit the memory budget (else one call).

    model : a loaded SevenNet model (``get_backend("sevennet").loaded_model()[0]``).
    memory, budget : a :class:`~pvatoms.calc.memory.MemoryModel` and the bytes one call may use
        (default: the device's, :func:`~pvatoms.calc.memory.memory_budget`).
    max_domain_atoms : cut so that no cluster holds more atoms (instead of the memory estimate).
    counts : a fixed domain grid (n_a, n_b, n_c).

    After a calculation, ``report`` says how: domains, grid, receptive field, largest cluster.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model, device: str = "cpu", memory=None, budget: float | None = None,
                 max_domain_atoms: int | None = None, counts=None, **kwargs):
        super().__init__(**kwargs)
        from pvatoms.calc.memory import MemoryModel
        self.model, self.device = model, str(device)
        self.field = receptive_field(model)
        self.memory = memory or MemoryModel("sevennet", float(model.cutoff))
        self.budget, self.max_domain_atoms = budget, max_domain_atoms
        self.counts = tuple(counts) if counts is not None else None
        self.report: dict = {}

    def _fits(self, atoms: Atoms):
        if self.max_domain_atoms is not None:
            return lambda n: n <= self.max_domain_atoms
        from pvatoms.calc.memory import memory_budget
        budget = memory_budget(self.device) if self.budget is None else self.budget
        per_atom = self.memory.bytes_per_atom + self.memory.bytes_per_edge * self.memory.edges(atoms) / len(atoms)
        return lambda n: n * per_atom <= budget

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)
        atoms = self.atoms
        counts = self.counts or choose_counts(atoms, self.field, self._fits(atoms))
        domains = plan_domains(atoms, self.field, counts)
        energy, forces = 0.0, np.zeros((len(atoms), 3))
        virial, energies = np.zeros(6), np.zeros(len(atoms))
        for d in domains:
            cluster = d.cluster(atoms) if counts != (1, 1, 1) else atoms
            e, f, w, owned_e = evaluate_owned(self.model, cluster, len(d.owned), self.device)
            energy += e
            np.add.at(forces, d.index, f)
            virial += w
            energies[d.index[:len(d.owned)]] = owned_e
        self.results = {"energy": energy, "free_energy": energy, "forces": forces, "energies": energies}
        if atoms.pbc.all():
            s = virial / atoms.cell.volume             # xx yy zz xy yz zx -> Voigt xx yy zz yz xz xy (ASE sign)
            self.results["stress"] = np.array([s[0], s[1], s[2], s[4], s[5], s[3]])
        self.report = {"domains": len(domains), "grid": list(counts), "receptive_field": self.field,
                       "atoms": len(atoms), "largest_cluster": max(len(d.index) for d in domains)}
