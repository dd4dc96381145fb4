"""Kohn-Sham states of a GPAW calculation projected onto atoms: the input of region-projected DOS.

>>> from pvatoms.calc.gpaw_dos import state_weights, write_projections
>>> proj = state_weights("runs/b/interface-static/static.gpw")          # doctest: +SKIP
>>> write_projections("runs/b/pdos/projections.npz", proj)               # doctest: +SKIP

Two ways to split a state |ψ_nk> over the atoms (``method``):

* ``partition`` (default): a PAW-exact partition of the norm. The norm of a PAW state is
  ``<ψ̃|ψ̃> + Σ_a Σ_ij P*_ai ΔS^a_ij P_aj = 1``; atom a receives the pseudo density |ψ̃|² on the
  grid points nearest to it (periodic images included, no radii: the partition of
  :func:`pvatoms.geometry.nearest_atom`, as in the band-edge fractions) plus its own augmentation
  term. The weights of a state sum to one up to the SCF's orthonormality (about 1e-10), so region
  DOS built from them add up to the total DOS. A weight can be slightly negative or above one
  where the augmentation outweighs the pseudo part (semicore states).
* ``projector``: GPAW's PDOS convention, ``Σ_i |P_ai|²`` over the bound-state projectors of atom a
  (:func:`gpaw.dos.get_projector_numbers`), also per angular momentum (``l_weights``). These
  cover the atomic spheres only: their sum over atoms is below one (``coverage``).

The states are those of the irreducible k-points with their weights. The weight of one atom is
then that of its symmetry orbit's representative; sums over a set of atoms that the crystal
symmetry maps onto itself (a region) are exact.

Arrays returned (and written by :func:`write_projections`, read back by
:func:`pvatoms.analysis.pdos.read_projections`): ``eigenvalues`` [s, k, n] (eV),
``occupations`` [s, k, n] (0..1, without k weight and spin degeneracy), ``k_weights`` [k]
(sum 1), ``weights`` [s, k, n, a], ``degeneracy`` (2 / number of spins), ``fermi_level`` (eV),
``method``, ``symbols`` and ``positions``/``cell`` (Å) of the atoms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvatoms.errors import check_choice
from pvatoms.geometry import nearest_atom

METHODS = ("partition", "projector")
#: Bands transformed to the real-space grid at once (memory: chunk x grid points x 16 bytes).
CHUNK = 16


def load_calculator(source):
    """A converged GPAW calculator: ``source`` itself, or the calculator of a ``.gpw`` file written
    with the wave functions (``mode='all'``)."""
    if isinstance(source, (str, Path)):
        from gpaw import GPAW
        path = Path(source)
        if not path.is_file():
            from pvatoms.errors import InputError
            raise InputError(f"no GPAW restart file {path}")
        source = GPAW(str(path), txt=None)
    dft = source.dft
    if hasattr(dft.ibzwfs, "make_sure_wfs_are_read_from_gpw_file"):
        dft.ibzwfs.make_sure_wfs_are_read_from_gpw_file()
    return source


def _eigs_occs(calc):
    from pvatoms.calc.gpaw_calc import _eigenvalues_and_fillings
    return _eigenvalues_and_fillings(calc)


def state_weights(source, method: str = "partition", l_max: int = 3) -> dict:
    """Eigenvalues and per-atom weights of every Kohn-Sham state of a GPAW calculation (a
    calculator or a ``.gpw`` file with wave functions); see the module docstring."""
    check_choice("method", method, METHODS)
    calc = load_calculator(source)
    dft = calc.dft
    atoms = calc.get_atoms()
    natoms = len(atoms)
    eig, occ = _eigs_occs(calc)
    nspins, nk, nbands = eig.shape
    weights = np.zeros((nspins, nk, nbands, natoms))
    l_weights = np.zeros((nspins, nk, nbands, natoms, l_max + 1)) if method == "projector" else None
    setups = dft.setups
    owner = None
    if method == "partition":
        grid = dft.density.nt_sR.desc
        owner = nearest_atom(atoms, tuple(grid.size_c)).ravel()
    for wfs in dft.ibzwfs:
        s, k = wfs.spin, wfs.k
        P_ani = wfs.P_ani
        if method == "partition":
            for a, P_ni in P_ani.items():
                P = np.asarray(P_ni)
                weights[s, k, :, a] += np.einsum("ni,ij,nj->n", P.conj(), setups[a].dO_ii, P).real
            desc = grid.new(kpt=wfs.kpt_c, dtype=wfs.dtype)
            for n1 in range(0, nbands, CHUNK):
                n2 = min(n1 + CHUNK, nbands)
                psit_nR = desc.zeros(n2 - n1)
                wfs.psit_nX[n1:n2].ifft(out=psit_nR)
                dens = np.abs(psit_nR.data.reshape(n2 - n1, -1)) ** 2 * desc.dv
                for j in range(n2 - n1):
                    weights[s, k, n1 + j] += np.bincount(owner, weights=dens[j], minlength=natoms)
        else:
            from gpaw.dos import get_projector_numbers
            for a, P_ni in P_ani.items():
                P = np.asarray(P_ni)
                for ell in range(l_max + 1):
                    idx = get_projector_numbers(setups[a], ell)
                    if idx:
                        w = (np.abs(P[:, idx]) ** 2).sum(axis=1)
                        l_weights[s, k, :, a, ell] = w
                        weights[s, k, :, a] += w
    try:
        fermi = float(calc.get_fermi_level())
    except (ValueError, AttributeError):
        fermi = None
    out = {"eigenvalues": eig, "occupations": occ, "k_weights": np.asarray(calc.get_k_point_weights(), float),
           "weights": weights, "degeneracy": 2.0 / nspins, "fermi_level": fermi, "method": method,
           "symbols": atoms.get_chemical_symbols(), "positions": atoms.positions.copy(),
           "cell": np.asarray(atoms.cell).copy()}
    if l_weights is not None:
        out["l_weights"] = l_weights
    out["coverage"] = weights.sum(axis=-1)
    return out


def write_projections(path, proj: dict) -> Path:
    """Save :func:`state_weights` as ``.npz`` (read with :func:`pvatoms.analysis.pdos.read_projections`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in proj.items() if v is not None and k not in ("method", "symbols")}
    np.savez_compressed(path, method=np.array(proj["method"]), symbols=np.array(proj["symbols"]),
                        fermi_level=np.array(np.nan if proj.get("fermi_level") is None else proj["fermi_level"]),
                        **{k: v for k, v in arrays.items() if k != "fermi_level"})
    return path


__all__ = ["state_weights", "write_projections", "load_calculator", "METHODS"]
