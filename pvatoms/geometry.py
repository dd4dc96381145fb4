"""Periodic geometry shared by every layer: minimum-image vectors, Γ-centred k-point meshes,
overlap checks and the nearest atom of every grid point.

Lengths are in Å, k-point densities in k-points per Å^-1 (ASE's convention).

>>> from ase.build import bulk
>>> kpoint_mesh(bulk("Cu", cubic=True), 3.0)      # a = 3.61 Å: ceil(2π · 3.0 / 3.61) = 6
(6, 6, 6)
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.geometry import find_mic
from ase.neighborlist import neighbor_list

from pvatoms.errors import InputError


def minimum_image(vectors, cell, pbc=True) -> tuple[np.ndarray, np.ndarray]:
    """Shortest periodic images of Cartesian ``vectors`` (Å, shape (..., 3)) in ``cell``:
    ``(vectors, lengths)``. Exact for any cell shape (:func:`ase.geometry.find_mic`)."""
    v = np.asarray(vectors, dtype=float)
    flat = v.reshape(-1, 3)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    if not pbc.any():
        return v.copy(), np.linalg.norm(v, axis=-1)
    mic, lengths = find_mic(flat, np.asarray(cell, dtype=float), pbc)
    return mic.reshape(v.shape), np.asarray(lengths).reshape(v.shape[:-1])


def plane_distance(heights, planes, period: float) -> np.ndarray:
    """Distance (Å) from each height (along a stacking normal, Å) to the nearest of the periodic
    ``planes`` (heights of planes repeated every ``period`` Å): min over planes of the shortest
    periodic separation. Same shape as ``heights``.

    >>> plane_distance([0.5, 9.5, 5.0], [0.0], 10.0).tolist()
    [0.5, 0.5, 5.0]
    """
    h = np.asarray(heights, dtype=float)[..., None]
    d = np.abs((h - np.asarray(planes, dtype=float) + period / 2) % period - period / 2)
    return d.min(axis=-1)


def minimum_image_fractional(dfrac) -> np.ndarray:
    """Fractional differences wrapped into [-0.5, 0.5) (the nearest lattice translate; use
    :func:`minimum_image` for Cartesian distances in skewed cells)."""
    d = np.asarray(dfrac, dtype=float)
    return d - np.rint(d)


def kpoint_mesh(atoms: Atoms, density: float, even: bool = False) -> tuple[int, int, int]:
    """Γ-centred mesh (n1, n2, n3) for ``density`` k-points per Å^-1 (1 along non-periodic axes).

    ``even=True`` raises every odd n > 1 by one so that zone-boundary points (X, M, R of the cubic
    cell) lie on the mesh; n = 1 (Γ only, large supercells) stays 1.
    """
    from ase.calculators.calculator import kptdensity2monkhorstpack

    try:
        density = float(density)
    except (TypeError, ValueError):
        raise InputError(f"kpoint_density must be a number of k-points per Å^-1, got {density!r}") from None
    if not np.isfinite(density) or density <= 0:
        raise InputError(f"kpoint_density must be > 0 k-points per Å^-1, got {density!r}")
    mesh = [int(n) for n in kptdensity2monkhorstpack(atoms, density, even=False)]
    if even:
        mesh = [n + 1 if n > 1 and n % 2 else n for n in mesh]
    return tuple(mesh)


def shortest_distances(atoms: Atoms, cutoff: float = 4.0):
    """All pairs closer than ``cutoff`` (Å), periodic images included: arrays i, j, d."""
    if len(atoms) < 2 and not atoms.pbc.any():
        return np.array([], int), np.array([], int), np.array([])
    return neighbor_list("ijd", atoms, cutoff)


def min_distance(atoms: Atoms, cutoff: float = 4.0) -> tuple[float, int, int]:
    """Shortest interatomic distance (Å) and the pair (periodic images included)."""
    i, j, d = shortest_distances(atoms, cutoff)
    if len(d) == 0:
        return float("inf"), -1, -1
    k = int(np.argmin(d))
    return float(d[k]), int(i[k]), int(j[k])


def check_no_overlap(atoms: Atoms, factor: float = 0.6, what: str = "structure") -> None:
    """Raise :class:`InputError` when two atoms are closer than ``factor`` x the sum of their
    covalent radii (overlapping or duplicated atoms), naming the pair and the distance."""
    radii = covalent_radii[atoms.numbers]
    cutoff = 2 * factor * radii.max() + 1e-6
    i, j, d = shortest_distances(atoms, cutoff)
    if len(d) == 0:
        return
    limit = factor * (radii[i] + radii[j])
    bad = np.flatnonzero(d < limit)
    if len(bad):
        k = bad[np.argmin(d[bad])]
        sym = atoms.get_chemical_symbols()
        raise InputError(
            f"overlapping atoms in {what}: {sym[i[k]]}{i[k]} and {sym[j[k]]}{j[k]} are {d[k]:.3f} Å apart "
            f"(minimum allowed {limit[k]:.2f} Å = {factor} x sum of covalent radii); "
            f"{len(bad) // 2 or 1} such pair(s)"
        )


def grid_points(atoms: Atoms, shape) -> np.ndarray:
    """Fractional coordinates of a periodic grid of ``shape`` spanning the cell, shape (*shape, 3);
    point (i, j, k) sits at (i/n1, j/n2, k/n3)."""
    return np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), axis=-1)


def nearest_atom(atoms: Atoms, shape) -> np.ndarray:
    """Index of the nearest atom (periodic images included) for every point of a grid of
    ``shape`` spanning the cell (see :func:`grid_points`)."""
    from scipy.spatial import cKDTree

    cell = np.asarray(atoms.cell)
    points = grid_points(atoms, shape).reshape(-1, 3) @ cell
    shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    spos = atoms.get_scaled_positions(wrap=True)
    images = (spos[None, :, :] + shifts[:, None, :]).reshape(-1, 3) @ cell
    _, idx = cKDTree(images).query(points)
    return (idx % len(atoms)).reshape(tuple(shape))


def density_integral(density: np.ndarray, cell) -> float:
    """∫ density dV over the cell: density (e.g. electrons/Å³) on a periodic grid, cell in Å."""
    return float(np.asarray(density).mean() * abs(np.linalg.det(np.asarray(cell))))


__all__ = ["minimum_image", "minimum_image_fractional", "kpoint_mesh", "shortest_distances", "min_distance",
           "check_no_overlap", "grid_points", "nearest_atom", "density_integral"]
