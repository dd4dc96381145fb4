"""torch-sim models of the loaded SevenNet and CHGNet models (for :mod:`pvatoms.calc.batched`).

SevenNet: torch-sim's own wrapper, around a private copy of the loaded model (the wrapper switches it
to batch mode, which the ASE calculators sharing the loaded model must not see), with a one-line shim
for sevenn >= 0.13. CHGNet: torch-sim has no CHGNet model in the versions installable on Python 3.11,
so a small one here: one graph per system, one model call for all.
"""

from __future__ import annotations

import copy
import functools

from pvatoms.errors import InputError


def model_kind(model) -> str:
    """'sevennet' or 'chgnet' for a loaded model object."""
    name = type(model).__name__
    if name == "AtomGraphSequential":
        return "sevennet"
    if name == "CHGNet":
        return "chgnet"
    raise InputError(f"batched execution supports SevenNet and CHGNet models, not {name}")


def model_cutoff(model) -> float:
    """The neighbour cut-off (Å) of a SevenNet or CHGNet model."""
    if model_kind(model) == "sevennet":
        return float(model.cutoff)
    return float(model.graph_converter.atom_graph_cutoff)


def torchsim_model(model, device: str):
    """A torch-sim model of a loaded SevenNet or CHGNet model. SevenNet: torch-sim's wrapper around a
    private copy (it switches the model to batch mode, which the ASE calculators sharing the loaded
    model must not see), with the shim for sevenn >= 0.13 (``torch_script_type`` was removed)."""
    import torch
    if model_kind(model) == "sevennet":
        import sevenn.calculator as sc
        if not hasattr(sc, "torch_script_type"):
            sc.torch_script_type = torch.jit.ScriptModule      # shim: sevenn 0.13 dropped it
        from torch_sim.models.sevennet import SevenNetModel
        return SevenNetModel(copy.deepcopy(model), device=torch.device(device))
    return _chgnet_class()(model, device)


@functools.lru_cache(maxsize=1)
def _chgnet_class():
    """torch-sim has no CHGNet model in the versions installable here: a small one (defined lazily so
    that importing this module needs no torch-sim)."""
    import torch
    from ase.units import GPa
    from pymatgen.core import Lattice, Structure
    from torch_sim.models.interface import ModelInterface

    class CHGNetTorchSim(ModelInterface):
        """CHGNet on a torch-sim state: one graph per system, one model call for all; energy eV
        (CHGNet predicts eV/atom), forces eV/Å, stress eV/Å^3 (ASE sign, as CHGNetCalculator)."""

        def __init__(self, model, device):
            super().__init__()
            self.model = model.eval()           # CHGNet.load leaves it in training mode (slower grads)
            self._device, self._dtype = torch.device(device), torch.float64
            self._compute_stress, self._compute_forces = True, True

        def forward(self, state, **_):
            n_sys = int(state.system_idx.max().item()) + 1
            pos = state.positions.detach().cpu().double().numpy()
            cells = state.row_vector_cell.detach().cpu().double().numpy()
            z = state.atomic_numbers.detach().cpu().numpy()
            sys_idx = state.system_idx.detach().cpu().numpy()
            graphs, counts = [], []
            for b in range(n_sys):
                m = sys_idx == b
                st = Structure(Lattice(cells[b]), z[m].tolist(), pos[m], coords_are_cartesian=True)
                graphs.append(self.model.graph_converter(st).to(self._device))
                counts.append(int(m.sum()))
            out = self.model(graphs, task="efs")
            n = torch.tensor(counts, dtype=torch.float64, device=self._device)
            e = torch.as_tensor(out["e"]).reshape(-1).double() * (n if self.model.is_intensive else 1)
            f = torch.cat([torch.as_tensor(x).reshape(-1, 3) for x in out["f"]]).double()
            s = torch.stack([torch.as_tensor(x).reshape(3, 3) for x in out["s"]]).double() * GPa
            return {"energy": e.detach(), "forces": f.detach(), "stress": s.detach()}

    return CHGNetTorchSim


def unknown_elements(model, atoms) -> list[str]:
    """Chemical symbols of ``atoms`` the model was not trained on (SevenNet: its type map; CHGNet:
    Z <= 94)."""
    from ase.data import chemical_symbols
    zs = sorted(set(int(z) for z in atoms.numbers))
    if model_kind(model) == "sevennet":
        known = set(model.type_map or {})
        bad = [z for z in zs if z not in known]
    else:
        bad = [z for z in zs if not 1 <= z <= 94]
    return [chemical_symbols[z] for z in bad]
