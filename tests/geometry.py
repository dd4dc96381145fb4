"""Independent geometry helpers for the tests (plain numpy, minimum image), so that facts about
built structures are checked without the builders' own code."""

import numpy as np


def mic_vectors(atoms, i, js):
    """Minimum-image vectors from atom i to atoms js (Å), brute force over neighbouring images."""
    cell = np.asarray(atoms.cell)
    d = atoms.positions[js] - atoms.positions[i]
    shifts = np.array([[a, b, c] for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)]) @ cell
    cand = d[:, None, :] + shifts[None, :, :]
    k = np.argmin(np.linalg.norm(cand, axis=2), axis=1)
    return cand[np.arange(len(js)), k]


def neighbours(atoms, i, element, cutoff, reach=2):
    """Indices, distances (Å) and vectors of every periodic image of an ``element`` atom within
    ``cutoff`` of atom i (images up to ``reach`` cells away; several images of one atom count
    separately, as they do for coordination in small cells)."""
    sym = np.array(atoms.get_chemical_symbols())
    js = np.flatnonzero(sym == element)
    cell = np.asarray(atoms.cell)
    r = range(-reach, reach + 1)
    shifts = np.array([[a, b, c] for a in r for b in r for c in r]) @ cell
    v = (atoms.positions[js] - atoms.positions[i])[:, None, :] + shifts[None, :, :]
    d = np.linalg.norm(v, axis=2)
    m = (d < cutoff) & (d > 1e-8)
    jj, kk = np.nonzero(m)
    return js[jj], d[jj, kk], v[jj, kk]


def pb_br_bonds(atoms, cutoff=3.6):
    """All Pb-Br distances shorter than cutoff, per Pb: list of arrays."""
    sym = np.array(atoms.get_chemical_symbols())
    return [neighbours(atoms, i, "Br", cutoff)[1] for i in np.flatnonzero(sym == "Pb")]


def pb_br_pb_angles(atoms, cutoff=3.6):
    """Pb-Br-Pb angles (degrees) at every Br bridging two Pb."""
    sym = np.array(atoms.get_chemical_symbols())
    out = []
    for i in np.flatnonzero(sym == "Br"):
        _, _, v = neighbours(atoms, i, "Pb", cutoff)
        if len(v) == 2:
            c = v[0] @ v[1] / np.linalg.norm(v[0]) / np.linalg.norm(v[1])
            out.append(np.degrees(np.arccos(np.clip(c, -1, 1))))
    return np.array(out)


def min_pair_distance(atoms):
    """Shortest interatomic distance (Å), periodic images included (brute force)."""
    best = np.inf
    for i in range(len(atoms)):
        js = np.arange(i + 1, len(atoms))
        if len(js):
            best = min(best, np.linalg.norm(mic_vectors(atoms, i, js), axis=1).min())
    cell = np.asarray(atoms.cell)
    best = min(best, np.linalg.norm(cell, axis=1).min())
    return best
