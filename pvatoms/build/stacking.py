"""Layer stacking of perovskite blocks: Ruddlesden-Popper phases and RP/perovskite boundaries.

A perovskite seen along a pseudocubic axis is a sequence of PbBr2 ("B") and CsBr ("A") layers. A
Ruddlesden-Popper phase Cs(n+1)Pb(n)Br(3n+1) is a stack of blocks, each n octahedra thick
(A B A ... B A: n B layers, n+1 A layers); between two blocks the CsBr layers form a rock-salt double
layer and the next block is shifted in-plane by half a pseudocubic face diagonal, (1/2, 1/2).

:class:`Framework` holds a perovskite cell cut so that its third vector runs along the stacking axis,
with every atom assigned to a layer. :func:`stack_blocks` takes consecutive layers of that framework
for each block (so octahedral tilts inside a block are those of the framework), duplicates the top A
layer of each block as the bottom A layer of the next, raises it by the rock-salt gap and shifts it.
The cell closes periodically with stacking vector ``W = (N_B / p) w + G (gap n + s)`` (N_B: B layers,
p: B layers per framework cell, G: blocks, s: the shift), reduced in-plane; when ``G s`` is not a
lattice vector of the framework the stacking vector is oblique, as in a primitive body-centred cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import make_supercell as ase_make_supercell

from pvatoms.build.common import set_regions, sort_species
from pvatoms.errors import InputError
from pvatoms.geometry import plane_distance

#: Spacing (Å) between the two CsBr planes of the rock-salt double layer between RP blocks. A
#: rock-salt Cs-Br contact is ~3.5 Å (half the lattice constant of NaCl-type CsBr, 7.0 Å); the
#: value only sets the starting geometry of a relaxation.
ROCKSALT_GAP = 3.5


@dataclass
class Framework:
    """Perovskite cell prepared for stacking.

    ``atoms.cell[0]``, ``atoms.cell[1]`` are in-plane, ``atoms.cell[2]`` (w) runs along the stacking
    axis and spans ``period`` B layers; ``layer[i]`` is atom i's layer index (even: PbBr2 layer
    2k; odd: CsBr layer above it), all in ``[-1, 2*period - 2]``; ``shift`` is the RP in-plane shift
    (Cartesian, Å); ``name`` says what the framework is cut from.
    """

    atoms: Atoms
    period: int
    layer: np.ndarray
    shift: np.ndarray
    name: str

    @property
    def normal(self) -> np.ndarray:
        u, v = self.atoms.cell[0], self.atoms.cell[1]
        n = np.cross(u, v)
        return n / np.linalg.norm(n)

    @property
    def layer_spacing(self) -> float:
        """Distance (Å) between consecutive B layers (one pseudocubic lattice constant)."""
        return float(abs(self.atoms.cell[2] @ self.normal) / self.period)

    def scaled_in_plane(self, fu: float, fv: float) -> "Framework":
        """Copy with the in-plane vectors scaled by ``fu``, ``fv`` (coherent strain); heights kept."""
        atoms = self.atoms.copy()
        cell = np.array(atoms.cell)
        n = self.normal
        frac = atoms.get_scaled_positions(wrap=False)
        new = cell.copy()
        new[0] *= fu
        new[1] *= fv
        w_perp = (cell[2] @ n) * n
        w_par = cell[2] - w_perp
        # keep the in-plane part of w in the same fractional position of the scaled in-plane cell
        a = np.linalg.lstsq(cell[:2].T, w_par, rcond=None)[0]
        new[2] = w_perp + a[0] * new[0] + a[1] * new[1]
        atoms.set_cell(new, scale_atoms=False)
        atoms.set_scaled_positions(frac)
        sa = np.linalg.lstsq(cell[:2].T, self.shift - (self.shift @ n) * n, rcond=None)[0]
        return Framework(atoms, self.period, self.layer.copy(), sa[0] * new[0] + sa[1] * new[1],
                         self.name)


def assign_layers(atoms: Atoms, period: int) -> np.ndarray:
    """Layer index of each atom (see :class:`Framework`); atoms are wrapped along w to fit."""
    cell = np.array(atoms.cell)
    n = np.cross(cell[0], cell[1])
    n /= np.linalg.norm(n)
    spacing = abs(cell[2] @ n) / period
    pos = atoms.positions
    h = pos @ n
    pb = atoms.numbers == 82
    if not pb.any():
        raise InputError("framework has no Pb: cannot find the PbBr2 layers")
    # reference B plane: the Pb plane lowest above (or at) the bottom of the cell
    h_ref = np.min(np.mod(h[pb] - 0.0, abs(cell[2] @ n)))
    j = np.rint((h - h_ref) / (spacing / 2)).astype(int)
    # residual tells whether the assignment is sensible (layers puckered by less than 1/4 spacing)
    resid = np.abs((h - h_ref) - j * spacing / 2)
    if resid.max() > spacing / 4:
        raise InputError("could not split the framework into flat PbBr2/CsBr layers "
                         f"(an atom is {resid.max():.2f} Å off its layer plane)")
    two_p = 2 * period
    wraps = np.floor_divide(j + 1, two_p)
    j = j - wraps * two_p
    atoms.positions = pos - wraps[:, None] * cell[2]
    if np.any((j % 2 == 0) & ~pb & (atoms.numbers != 35)):
        raise InputError("an A-site cation sits in a PbBr2 layer: framework not a perovskite along this axis")
    return j


def cubic_framework(a: float) -> Framework:
    """Untilted framework: cubic CsPbBr3 with lattice constant ``a`` (Å), stacking along c."""
    atoms = Atoms("CsPbBr3", scaled_positions=[[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0],
                                                 [0, 0, 0.5]], cell=[a, a, a], pbc=True)
    layer = assign_layers(atoms, 1)
    return Framework(atoms, 1, layer, np.array([a / 2, a / 2, 0.0]), f"cubic a={a:.4f}")


#: Pnma cell vectors (rows: multiples of a, b, c) for each stacking choice; the third row is the
#: stacking vector, always along a pseudocubic <001> axis of the perovskite.
PNMA_STACKING = {
    "b": np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]]),     # along b (in-phase tilt axis); in-plane c, a
    "a": np.array([[1, 0, -1], [0, 1, 0], [1, 0, 1]]),    # along (a+c)/2, the pseudocubic axis next to a
    "c": np.array([[0, 1, 0], [1, 0, 1], [1, 0, -1]]),    # along (a-c)/2, the pseudocubic axis next to c
}


def pnma_framework(pnma: Atoms, axis: str = "b") -> Framework:
    """Tilted framework cut from a Pnma CsPbBr3 cell (20 atoms, standard setting).

    ``axis='b'``: stacking along the long b axis (the in-phase tilt axis), in-plane the c and a axes.
    ``axis='a'`` / ``'c'``: stacking along the pseudocubic axis (a+c)/2 or (a-c)/2 that lies in
    the a-c plane (an out-of-phase tilt axis; the two are related by the 2-fold screw axis along a).
    The a and c axes themselves are pseudocubic face diagonals, along which no RP phase stacks.
    """
    if axis not in PNMA_STACKING:
        raise InputError(f"unknown stacking axis {axis!r}; valid choices: a, b, c")
    P = PNMA_STACKING[axis]
    atoms = ase_make_supercell(pnma, P, wrap=True) if axis != "b" else pnma.copy()
    if axis == "b":
        atoms.set_cell(np.array(pnma.cell)[[2, 0, 1]], scale_atoms=False)
        atoms.wrap()
    layer = assign_layers(atoms, 2)
    A, B, C = np.array(pnma.cell)
    if axis == "b":
        shift = A / 2                                   # (1/2,1/2) pseudocubic = half of a
    elif axis == "a":
        shift = B / 4 + (A - C) / 4
    else:
        shift = B / 4 + (A + C) / 4
    return Framework(atoms, 2, layer, shift, f"Pnma stacked along {axis}")


@dataclass
class Block:
    """One perovskite block of ``n`` PbBr2 layers, labelled ``region``."""

    n: int
    region: str


def stack_blocks(fw: Framework, blocks: list[Block], gap: float = ROCKSALT_GAP,
                 boundary_width: float = 2.5) -> Atoms:
    """Stack ``blocks`` of framework ``fw`` into one periodic cell (see the module docstring).

    Atoms get ``region`` from their block; where two neighbouring blocks have different regions,
    the mid-plane of the rock-salt gap between them is a boundary plane, and atoms within
    ``boundary_width`` Å of it are labelled ``boundary``. ``boundary_distance`` (Å, along the
    stacking normal, periodic) is stored per atom when the cell has boundaries, and
    ``atoms.info['boundary_planes']`` holds their heights (Å along the normal from the cell origin).
    """
    if not blocks:
        raise InputError("no blocks to stack")
    total_b = sum(b.n for b in blocks)
    if total_b % fw.period:
        raise InputError(
            f"{fw.name} repeats every {fw.period} PbBr2 layers; the blocks hold {total_b} in all "
            f"({[b.n for b in blocks]}), so the cell cannot close coherently: change one block's "
            "thickness by one layer")
    n_hat = fw.normal
    cell = np.array(fw.atoms.cell)
    two_p = 2 * fw.period
    sym = np.array(fw.atoms.get_chemical_symbols())
    base = fw.atoms.positions
    step = gap * n_hat + fw.shift
    pos_list, sym_list, reg_list, blk_list, top_heights = [], [], [], [], []
    j0 = 0
    for ib, blk in enumerate(blocks):
        offset = ib * step
        for j in range(j0 - 1, j0 + 2 * blk.n):
            jj = (j + 1) % two_p - 1
            m = (j - jj) // two_p
            sel = fw.layer == jj
            pos_list.append(base[sel] + m * cell[2] + offset)
            sym_list.append(sym[sel])
            reg_list.append(np.full(sel.sum(), blk.region, dtype="<U16"))
            blk_list.append(np.full(sel.sum(), ib))
        top_j = j0 + 2 * blk.n - 1
        top_heights.append(ib * gap + top_j * fw.layer_spacing / 2)
        j0 += 2 * blk.n
    W = (total_b // fw.period) * cell[2] + len(blocks) * step
    # reduce the in-plane part of W to the shortest equivalent vector
    coef = np.linalg.lstsq(cell[:2].T, W - (W @ n_hat) * n_hat, rcond=None)[0]
    W = W - np.rint(coef) @ cell[:2]
    out = Atoms(symbols=np.concatenate(sym_list), positions=np.concatenate(pos_list),
                cell=[cell[0], cell[1], W], pbc=True)
    regions = np.concatenate(reg_list)
    block_id = np.concatenate(blk_list)
    out.arrays["block"] = block_id
    period_h = float(W @ n_hat)
    # heights relative to the first PbBr2 plane of the framework
    h_ref = _first_b_height(fw)
    planes = []
    for ib, blk in enumerate(blocks):
        nxt = blocks[(ib + 1) % len(blocks)]
        if nxt.region != blk.region:
            planes.append(h_ref + top_heights[ib] + gap / 2)
    if planes:
        h = out.positions @ n_hat
        d = plane_distance(h, planes, period_h)
        out.arrays["boundary_distance"] = d
        regions = np.where(d <= boundary_width, "boundary", regions)
        out.info["boundary_planes"] = [float(p % period_h) for p in planes]
        out.info["boundary_width"] = boundary_width
    set_regions(out, regions)
    out.info["stacking_normal"] = n_hat.tolist()
    out.wrap()
    return sort_species(out)


def _first_b_height(fw: Framework) -> float:
    sel = fw.layer == 0
    return float(np.mean(fw.atoms.positions[sel & (fw.atoms.numbers == 82)] @ fw.normal))
