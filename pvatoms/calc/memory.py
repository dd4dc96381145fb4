"""Memory of one model call: an estimate from the neighbour pairs within the cut-off, the budget of the
device, and out-of-memory errors told apart from the others (for :mod:`pvatoms.calc.batched` and
:mod:`pvatoms.calc.domains`).

A message-passing potential's activations grow with the number of edges (directed neighbour pairs
within its cut-off), so a structure's cost is estimated from its edges, not from its atom count or
its cell's mean density (which under-counts a nanocrystal or a slab in vacuum, and misses how dense
a ligand shell is). Figures in bytes.
"""

from __future__ import annotations

import gc
import os

import numpy as np
from ase import Atoms

#: bytes per edge (directed neighbour pair within the cut-off) and per atom of one energy + forces +
#: stress call, float32. Measured on one H100: SevenNet-0 28.5 GiB for 19,360 atoms of bulk CsPbBr3
#: (13.2 edges per atom within 5 Å), 58 GiB for 39,200; CHGNet 0.3.0 17 GiB for 19,360 (18.8 edges per
#: atom within 6 Å). Refined on the GPU by every call's measured peak.
BYTES_PER_EDGE = {"sevennet": 1.2e5, "chgnet": 5.0e4}
BYTES_PER_ATOM = {"sevennet": 2.0e4, "chgnet": 2.0e4}
#: fraction of the free memory a batch may use: GPU (this process owns the card) and CPU (shared)
MEMORY_FRACTION = {"cuda": 0.8, "cpu": 0.5}
OOM_SIGNS = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to allocate")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an out-of-memory error of torch (CUDA or CPU allocator), numpy or Python."""
    if isinstance(exc, MemoryError):
        return True
    import torch
    if isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    return isinstance(exc, RuntimeError) and any(s in str(exc).lower() for s in OOM_SIGNS)


def free_cached_memory(device: str) -> None:
    """Give back what the caching allocator holds (after an out-of-memory error or a large call)."""
    gc.collect()
    if str(device).startswith("cuda"):
        import torch
        torch.cuda.empty_cache()


def memory_budget(device: str, fraction: float | None = None) -> float:
    """Bytes one model call may use: ``fraction`` (default :data:`MEMORY_FRACTION`) of the free
    GPU memory, or of the available RAM on the CPU. ``PVATOMS_MLIP_MEMORY_GB`` overrides it."""
    env = os.environ.get("PVATOMS_MLIP_MEMORY_GB")
    if env:
        return float(env) * 2**30
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    frac = MEMORY_FRACTION[kind] if fraction is None else float(fraction)
    if kind == "cuda":
        import torch
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return frac * free
    try:
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: float(line.split()[1]) * 1024 for line in fh}
        avail = info.get("MemAvailable", info.get("MemFree"))
    except OSError:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    return frac * avail


def count_edges(atoms: Atoms, cutoff: float) -> int:
    """Directed neighbour pairs within ``cutoff`` (Å), periodic images included."""
    if len(atoms) == 0:
        return 0
    try:
        from vesin import NeighborList
        box = np.asarray(atoms.cell)
        if not atoms.pbc.any() and abs(np.linalg.det(box)) < 1e-9:
            box = np.zeros((3, 3))
        (i,) = NeighborList(cutoff=float(cutoff), full_list=True).compute(
            atoms.positions, box, [bool(p) for p in atoms.pbc], quantities="i")
        return int(len(i))
    except ImportError:
        from ase.neighborlist import neighbor_list
        return int(len(neighbor_list("i", atoms, float(cutoff))))


class MemoryModel:
    """Bytes of one energy + forces + stress call: ``bytes_per_atom * atoms + bytes_per_edge * edges``
    (edges within ``cutoff`` Å). :meth:`learn` raises the per-edge figure when a measured peak was
    higher; never lowers it."""

    def __init__(self, kind: str, cutoff: float, bytes_per_edge: float | None = None,
                 bytes_per_atom: float | None = None):
        self.kind, self.cutoff = kind, float(cutoff)
        self.bytes_per_edge = float(bytes_per_edge or BYTES_PER_EDGE.get(kind, 1.2e5))
        self.bytes_per_atom = float(bytes_per_atom or BYTES_PER_ATOM.get(kind, 2.0e4))

    def edges(self, atoms: Atoms) -> int:
        return count_edges(atoms, self.cutoff)

    def cost(self, atoms: Atoms, edges: int | None = None) -> float:
        """Estimated bytes of one call on ``atoms``."""
        e = self.edges(atoms) if edges is None else edges
        return self.bytes_per_atom * len(atoms) + self.bytes_per_edge * e

    def learn(self, measured: float, n_atoms: int, n_edges: int) -> None:
        """Take a measured peak (bytes) of a call on ``n_atoms`` atoms with ``n_edges`` edges."""
        if n_edges > 0 and measured > self.bytes_per_atom * n_atoms + self.bytes_per_edge * n_edges:
            self.bytes_per_edge = (measured - self.bytes_per_atom * n_atoms) / n_edges
