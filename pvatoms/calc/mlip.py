"""Machine-learned interatomic potentials: SevenNet-0 (default), CHGNet, or a user's model file.

One model is loaded per (backend, model, device) and shared by every calculator made from it, so
an NEB with one calculator per image holds the weights once. The device is CUDA when torch sees a
GPU, else the CPU (override with ``device=``).

Why SevenNet-0 is the default for lead bromides: CHGNet's three-body (angle) cutoff is 3.0 Å while
the Pb-Br bonds of CsPbBr3 are 3.01 Å long, so its angle terms all but vanish for this material;
its V_Br migration barrier comes out at 0.15 eV against 0.27 eV for SevenNet-0 and ~0.25 eV in
experiment. CHGNet stays as the fast option (3-4x faster on CPU).

These models know neither charge nor spin: a charged request is refused.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os
import sys
import warnings
from pathlib import Path

from pvatoms.errors import InputError, check_choice
from pvatoms.io import check_integer

DEFAULT_MODELS = {"sevennet": "7net-0", "chgnet": "0.3.0"}


def default_device() -> str:
    """'cuda' when torch sees a GPU, else 'cpu'."""
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def _quiet():
    """Model libraries print progress on stdout; send it to stderr so stdout stays JSON-clean."""
    return contextlib.redirect_stdout(sys.stderr)


@functools.lru_cache(maxsize=8)
def _load(kind: str, model: str, device: str):
    """Load a model once per process; returns (shared model object, human-readable name, version)."""
    with _quiet():
        return _load_model(kind, model, device)


def _sevennet_calculator(device: str, **kwargs):
    """A SevenNetCalculator; on the CPU without its note about GPU tensor-product accelerators
    (cuEquivariance, FlashTP), which only apply on CUDA."""
    from sevenn.calculator import SevenNetCalculator
    with warnings.catch_warnings():
        if device == "cpu":
            warnings.filterwarnings("ignore", message="No tensor product accelerator")
        return SevenNetCalculator(device=device, **kwargs)


def _load_model(kind: str, model: str, device: str):
    if kind == "sevennet":
        import sevenn
        calc = _sevennet_calculator(device, model=model)
        return calc.model, f"SevenNet {model}", sevenn.__version__
    if kind == "chgnet":
        import chgnet
        from chgnet.model import CHGNet
        if Path(model).is_file():
            m = CHGNet.from_file(model)
        else:
            m = CHGNet.load(model_name=model, use_device=device, verbose=False)
        return m, f"CHGNet {model if not Path(model).is_file() else Path(model).name}", chgnet.__version__
    raise InputError(f"unknown MLIP kind {kind!r}")


class MLIPBackend:
    """A machine-learned potential. ``name``: 'sevennet', 'chgnet' or 'mlip'.

    For 'mlip', ``model`` is one of: a SevenNet checkpoint (``*.pth``), a MACE model
    (``*.model``, needs mace-torch), or ``python:module:function`` returning an ASE calculator
    (called with ``device=``). For 'sevennet'/'chgnet', ``model`` may name another checkpoint.
    """

    dft = False

    def __init__(self, name: str = "sevennet", model: str | None = None, device: str | None = None,
                 threads: int | None = None, domains: str = "auto", domain_atoms: int | None = None,
                 domain_grid=None):
        self.name = name
        # "auto": a SevenNet structure too large for one call's memory goes through the domain-
        # decomposed calculator (pvatoms.calc.domains; same numbers); "never" / "always".
        # domain_atoms: cut so that no cluster (owned atoms + ghost shell) holds more atoms than
        # this, instead of the device's memory estimate; domain_grid: a fixed grid (n_a, n_b, n_c)
        check_choice("domains", domains, ("auto", "always", "never"))
        self.domains = domains
        self.domain_atoms = None if domain_atoms is None else check_integer("domain_atoms", domain_atoms, 1, 10**9)
        if domain_grid is not None:
            if (not isinstance(domain_grid, (list, tuple)) or len(domain_grid) != 3
                    or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in domain_grid)):
                raise InputError(f"domain_grid must be three positive integers (n_a, n_b, n_c), got {domain_grid!r}")
            domain_grid = tuple(domain_grid)
        self.domain_grid = domain_grid
        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise InputError(f"model must be a file name or model name, got {model!r}")
        model = str(model) if model is not None else None
        if device is not None and (not isinstance(device, str) or
                                   not (device in ("cpu", "cuda", "mps") or device.startswith("cuda:"))):
            raise InputError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
        if threads is not None:
            threads = check_integer("threads", threads, 1, 4096)
        if name == "mlip" and not model:
            raise InputError("backend 'mlip' needs model=PATH (a SevenNet .pth checkpoint, a MACE "
                             ".model file, or python:module:function returning an ASE calculator)")
        self.model = model or DEFAULT_MODELS.get(name)
        if name == "mlip" and not self.model.startswith("python:") and not Path(self.model).is_file():
            raise InputError(f"model file {self.model!r} not found")
        self.device = device or default_device()
        self.threads = threads
        if threads:
            import torch
            torch.set_num_threads(int(threads))

    def _kind(self) -> str:
        if self.name != "mlip":
            return self.name
        if self.model.startswith("python:"):
            return "python"
        if self.model.endswith(".pth"):
            return "sevennet"
        if self.model.endswith(".model"):
            return "mace"
        raise InputError(f"cannot tell the kind of model file {self.model!r}: use a SevenNet .pth, "
                         "a MACE .model, or python:module:function")

    def loaded_model(self):
        """(model object, label, version) of the one loaded SevenNet or CHGNet model that every
        calculator of this backend shares (for batched and domain-decomposed execution)."""
        kind = self._kind()
        if kind not in ("sevennet", "chgnet"):
            raise InputError(f"backend {self.name!r} with model {self.model!r} has no loaded model to share "
                             "(batched execution supports SevenNet and CHGNet)")
        return _load(kind, self.model, self.device)

    def calculator(self, directory=None, charge: int = 0, atoms=None, **_):
        """A new ASE calculator sharing the loaded model. ``charge`` must be 0. Given ``atoms`` too
        large for one SevenNet call's memory, the domain-decomposed calculator (``domains``)."""
        if charge:
            raise InputError(f"{self.name} is a machine-learned potential for neutral cells; it cannot "
                             f"compute charge {charge:+d}. Use backend 'gpaw' or 'vasp' for charged defects.")
        kind = self._kind()
        if kind == "sevennet":
            model, _, _ = _load("sevennet", self.model, self.device)
            if self.domains != "never" and atoms is not None:
                from pvatoms.calc.domains import DomainCalculator, needs_domains
                if self.domains == "always" or needs_domains(atoms, model, self.device):
                    return DomainCalculator(model, device=self.device, max_domain_atoms=self.domain_atoms,
                                            counts=self.domain_grid)
            return _sevennet_calculator(self.device, model=model, file_type="model_instance")
        if kind == "chgnet":
            from chgnet.model import CHGNetCalculator
            model, _, _ = _load("chgnet", self.model, self.device)
            with contextlib.redirect_stdout(io.StringIO()):   # "CHGNet will run on cpu", per calculator
                return CHGNetCalculator(model=model, use_device=self.device)
        if kind == "mace":
            try:
                from mace.calculators import MACECalculator
            except ImportError as exc:
                raise InputError("a MACE model needs mace-torch (pip install mace-torch; note it pins "
                                 "e3nn 0.4.4, which breaks sevenn: use a separate environment)") from exc
            return MACECalculator(model_paths=self.model, device=self.device)
        _, module, func = self.model.split(":", 2)
        factory = getattr(importlib.import_module(module), func)
        return factory(device=self.device)

    def info(self) -> dict:
        kind = self._kind()
        if kind in ("sevennet", "chgnet"):
            _, label, version = _load(kind, self.model, self.device)
        else:
            label, version = f"{kind} {self.model}", None
        # threads change speed, not numbers: kept outside "settings" (which enter the result hash)
        return {"name": self.name, "model": label, "version": version, "device": self.device,
                "threads": self.threads or int(os.environ.get("OMP_NUM_THREADS", 0)) or None,
                "settings": {"model": self.model}}
