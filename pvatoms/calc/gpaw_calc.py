"""GPAW plane-wave DFT (PBE by default): the open-source DFT backend.

>>> from pvatoms.build import cspbbr3
>>> from pvatoms.calc import get_backend
>>> atoms = cspbbr3("cubic")
>>> backend = get_backend("gpaw")                    # PBE, 400 eV, 3.0 k-points per Å^-1
>>> atoms.calc = backend.calculator("run", atoms=atoms)   # 4x4x4 Γ-centred mesh
>>> atoms.get_potential_energy()                     # doctest: +SKIP
>>> band_edges(atoms.calc)["gap"]                    # doctest: +SKIP  (1.47 eV, direct at R)

The k-mesh is always Γ-centred. A Monkhorst-Pack mesh that misses Γ (Pnma gap) or R (cubic gap)
silently gives a gap of ~3 eV instead of ~1.5-1.9 eV. Note that the R point (1/2, 1/2, 1/2) of
the 5-atom cubic cell is on a Γ-centred mesh only when the mesh is even: the default density
gives 4x4x4 there.

Charged cells: ``charge=q`` (in units of e, +1 = one electron removed); GPAW adds the uniform
compensating background. Finite-size corrections are not applied here.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms import geometry
from pvatoms.calc import check_spin, spin_polarised
from pvatoms.errors import InputError, check_choice
from pvatoms.io import check_integer, check_integers, check_number

#: Default k-point density, k-points per Å^-1 (ASE convention: n_i = ceil(2π |b_i| · density),
#: b_i the reciprocal vectors without 2π). Gives 4x4x4 for the 5.95 Å cubic cell, 3x2x3 for the
#: PBE Pnma cell (8.45 x 11.88 x 8.10 Å); pass ``kpts=(2, 2, 2)`` to get the cheaper 2x2x2
#: (115 s, gap 1.91 eV at Γ on 2 cores).
DEFAULT_KPOINT_DENSITY = 3.0

#: GPAW's plane-wave eigensolvers by name
EIGENSOLVERS = ("davidson", "rmm-diis", "ppcg")

#: Tolerance (eV) for calling a gap direct: the smallest vertical gap equals the gap.
DIRECT_TOL = 1e-3

#: Upper limits of the numeric settings (beyond them a calculation cannot run on any machine):
#: cut-off (eV), k-points per axis, k-point density (per Å^-1).
MAX_ECUT, MAX_KPOINTS, MAX_KPOINT_DENSITY = 5000.0, 100, 100.0


def kpoint_mesh(atoms: Atoms, density: float = DEFAULT_KPOINT_DENSITY) -> tuple:
    """Γ-centred mesh (n1, n2, n3) for ``density`` k-points per Å^-1 (see :func:`pvatoms.geometry.kpoint_mesh`)."""
    return geometry.kpoint_mesh(atoms, density)


class GPAWBackend:
    """GPAW in plane-wave mode.

    Parameters
    ----------
    ecut : plane-wave cut-off, eV.
    xc : exchange-correlation functional name (GPAW/libxc), e.g. 'PBE', 'PBEsol'.
    kpoint_density : k-points per Å^-1 used to size the mesh from the cell (see
        :data:`DEFAULT_KPOINT_DENSITY`).
    kpts : explicit mesh (n1, n2, n3); overrides ``kpoint_density``. Always Γ-centred.
    spin : collinear spin polarisation: True, False, or ``"auto"`` (default): spin-polarised exactly
        when the cell holds an odd number of electrons (V_Br⁰, V_Cs⁰ ...), starting from a total
        moment of 1 μB (the doublet) spread over the atoms unless the atoms carry initial
        moments; the moment then relaxes in the SCF.
    symmetry : use the cell's symmetry (k-point reduction, symmetrised density and forces);
        defect relaxations switch it off (``calculator(..., symmetry=False)``) so that a
        symmetric start may distort.
    maxiter : maximum number of SCF iterations; a calculation that does not converge raises
        (and a job records it as failed).
    convergence : GPAW convergence dict, e.g. ``{"energy": 1e-5}`` (eV/valence electron); None
        keeps GPAW's defaults.
    mode : 'pw' (plane waves; the only mode this backend is tested with).
    txt : name of the GPAW text log, written into the job folder.
    nbands : number of bands; None keeps GPAW's default (enough empty bands for the CBM).
    eigensolver : ``davidson``, ``rmm-diis`` or ``ppcg``; None keeps GPAW's default (PPCG in 26.7).
    mixer : density mixer, e.g. ``{"name": "pulay", "beta": 0.05, "nmaxold": 5, "weight": 50}``
        (names ``pulay``, ``msr1``; numbers as GPAW takes them); None keeps GPAW's default (MSR1 in
        26.7). Long cells may need a gentler mixer: the 120-atom rp4-pv6 boundary model (78 Å along
        the stacking axis, Γ, 200 eV) diverged from the second SCF iteration with the defaults, with
        PPCG and with Davidson.
        The eigensolver and the mixer change the path to the SCF solution, not the solution: they
        are recorded in the backend info but not among the ``settings`` that identify a result.
    """

    name = "gpaw"
    dft = True

    def __init__(self, ecut: float = 400.0, xc: str = "PBE",
                 kpoint_density: float = DEFAULT_KPOINT_DENSITY, kpts=None, spin="auto",
                 maxiter: int = 333, convergence: dict | None = None, mode: str = "pw",
                 txt: str | None = "gpaw.txt", nbands: int | None = None, eigensolver: str | None = None,
                 mixer: dict | None = None):
        if mode != "pw":
            raise InputError(f"GPAW mode {mode!r} is not supported; valid choices: pw")
        # every number is checked here: a NaN cut-off would make GPAW loop for ever
        check_number("ecut", ecut, 0, MAX_ECUT, low_open=True, unit="eV")
        if kpts is not None:
            kpts = check_integers("kpts", kpts, 3, 1, MAX_KPOINTS)
        check_number("kpoint_density", kpoint_density, 0, MAX_KPOINT_DENSITY, low_open=True,
                     unit="k-points per Å^-1")
        maxiter = check_integer("maxiter", maxiter, 1, 100_000)
        if nbands is not None and not (isinstance(nbands, str) and nbands.endswith("%")):
            nbands = check_integer("nbands", nbands, 1, 1_000_000)
        if not isinstance(xc, str) or not xc.strip():
            raise InputError(f"xc must be the name of a functional (e.g. 'PBE'), got {xc!r}")
        if convergence is not None:
            if not isinstance(convergence, dict):
                raise InputError(f"convergence must be a dict such as {{'energy': 1e-5}}, got {convergence!r}")
            for key, value in convergence.items():
                if isinstance(value, numbers.Real) or value is None:
                    if value is not None:
                        check_number(f"convergence[{key!r}]", value, 0, low_open=True)
        if txt is not None and not isinstance(txt, str):
            raise InputError(f"txt must be a file name or None, got {txt!r}")
        self.ecut = float(ecut)
        self.xc = xc
        self.kpoint_density = float(kpoint_density)
        self.kpts = kpts
        self.spin = check_spin(spin)
        self.maxiter = int(maxiter)
        self.convergence = dict(convergence) if convergence else None
        self.mode = mode
        self.txt = txt
        self.nbands = nbands
        if eigensolver is not None:
            check_choice("eigensolver", eigensolver, EIGENSOLVERS)
        self.eigensolver = eigensolver
        self.mixer = _check_mixer(mixer)

    def mesh(self, atoms: Atoms | None = None) -> tuple | None:
        """The k-mesh used for ``atoms``: explicit ``kpts``, else sized from the cell; None when
        neither is known (GPAW then sizes it from the density itself)."""
        if self.kpts is not None:
            return self.kpts
        if atoms is not None:
            return kpoint_mesh(atoms, self.kpoint_density)
        return None

    def calculator(self, directory=None, charge: int = 0, atoms: Atoms | None = None, symmetry: bool = True,
                   smearing: float | None = None, **_):
        """A new GPAW calculator. Give ``atoms`` to size the Γ-centred mesh from its cell
        (otherwise GPAW applies the same density rule when the calculation starts).
        ``charge``: net charge of the cell in e (+1 = one electron fewer). ``smearing``: Fermi–Dirac
        width in eV instead of GPAW's default (the response functions need an insulator's
        occupations: a narrow width). The text log goes to ``directory/txt``."""
        from gpaw import GPAW, PW

        charge = check_integer("charge (e)", charge, -50, 50)
        mesh = self.mesh(atoms)
        kpts = ({"size": mesh, "gamma": True} if mesh is not None
                else {"density": self.kpoint_density, "gamma": True})
        txt = self.txt
        if txt is not None and directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
            txt = str(Path(directory) / txt)
        spinpol = spin_polarised(self.spin, atoms, charge) if self.spin == "auto" else self.spin
        params = dict(mode=PW(self.ecut), xc=self.xc, kpts=kpts, charge=float(charge),
                      spinpol=spinpol, maxiter=self.maxiter, txt=txt)
        if self.spin == "auto" and spinpol and not atoms.get_initial_magnetic_moments().any():
            atoms.set_initial_magnetic_moments([1.0 / len(atoms)] * len(atoms))
        if not symmetry:
            params["symmetry"] = "off"
        if smearing is not None:
            from gpaw import FermiDirac
            params["occupations"] = FermiDirac(float(smearing))
        if self.convergence:
            params["convergence"] = self.convergence
        if self.nbands is not None:
            params["nbands"] = self.nbands
        if self.eigensolver is not None:
            params["eigensolver"] = self.eigensolver
        if self.mixer is not None:
            params["mixer"] = dict(self.mixer)
        return GPAW(**params)

    def model(self) -> str:
        """Short description, e.g. 'PBE PW 400 eV'."""
        return f"{self.xc} PW {self.ecut:g} eV" + (" spin-polarised" if self.spin is True else "")

    def info(self) -> dict:
        import gpaw
        return {"name": self.name, "model": self.model(), "version": gpaw.__version__, "device": "cpu",
                "settings": {"ecut": self.ecut, "xc": self.xc, "kpts": self.kpts,
                             "kpoint_density": self.kpoint_density, "gamma_centred": True,
                             "spin": self.spin, "mode": self.mode, "maxiter": self.maxiter,
                             "convergence": self.convergence, "nbands": self.nbands},
                **({"eigensolver": self.eigensolver} if self.eigensolver else {}),
                **({"mixer": dict(self.mixer)} if self.mixer else {})}


#: GPAW density mixers by name, and the numbers each takes
MIXERS = {"pulay": ("beta", "nmaxold", "weight"), "msr1": ("beta", "nmaxold", "weight")}


def _check_mixer(mixer) -> dict | None:
    """A mixer dict GPAW accepts: a known ``name`` and positive numbers (``nmaxold`` an integer)."""
    if mixer is None:
        return None
    if not isinstance(mixer, dict) or "name" not in mixer:
        raise InputError(f"mixer must be a dict with a name ({', '.join(MIXERS)}), e.g. "
                         f"{{'name': 'pulay', 'beta': 0.05}}, got {mixer!r}")
    check_choice("mixer name", mixer["name"], tuple(MIXERS))
    out = {"name": mixer["name"]}
    for key, value in mixer.items():
        if key == "name":
            continue
        if key not in MIXERS[mixer["name"]]:
            raise InputError(f"mixer {mixer['name']!r} takes {', '.join(MIXERS[mixer['name']])}, not {key!r}")
        out[key] = (check_integer(f"mixer {key}", value, 1, 100) if key == "nmaxold"
                    else check_number(f"mixer {key}", value, 0, 1000, low_open=True))
    return out


def _eigenvalues_and_fillings(calc):
    """Eigenvalues e[s, k, n] (eV) and fillings f[s, k, n] in 0..1 (occupation without the
    k-point weight and spin degeneracy).

    GPAW 26.7's ``get_occupation_numbers()`` multiplies the stored occupations by the k-point
    weight *in place*: every call corrupts them (and a .gpw written afterwards). The new-code
    calculator's ``eigenvalues()``/``occupations()`` return copies and are used instead.
    """
    if getattr(calc, "old", True) is False and hasattr(calc, "occupations"):
        return np.asarray(calc.eigenvalues()), np.asarray(calc.occupations())
    nspins = calc.get_number_of_spins()
    weights = np.asarray(calc.get_k_point_weights())
    eig, fill = [], []
    for s in range(nspins):
        eig.append([calc.get_eigenvalues(kpt=k, spin=s) for k in range(len(weights))])
        fill.append([np.asarray(calc.get_occupation_numbers(kpt=k, spin=s)) / (w * 2 / nspins)
                     for k, w in enumerate(weights)])
    return np.array(eig), np.array(fill)


def occupied_bands(calc) -> list[int]:
    """Number of (partly) occupied bands in each spin channel: the electron count of the channel
    (sum of the fillings with k-point weights) rounded up, so a band with holes (a hole-doped or
    charged cell) still counts as a valence band."""
    _, fill = _eigenvalues_and_fillings(calc)
    weights = np.asarray(calc.get_k_point_weights())
    electrons = np.einsum("skn,k->s", fill, weights)
    return [int(np.ceil(n - 0.01)) for n in electrons]


def band_edges(calc) -> dict:
    """Valence-band maximum and conduction-band minimum of a converged GPAW calculation.

    Bands are counted, not thresholded: in each spin channel the lowest ``occupied_bands(calc)``
    bands are the valence bands (a partly emptied band of a charged cell included), the next one
    is the lowest conduction band. The Fermi level then tells whether there are free carriers
    (``fermi < vbm``: holes; ``fermi > cbm``: electrons).

    Returns ``vbm``, ``cbm``, ``gap`` (eV, 0 when the edges overlap), ``direct`` (the smallest
    vertical gap equals the gap within 1 meV), ``k_vbm``/``k_cbm`` (fractional coordinates of the
    IBZ k-point), ``fermi`` (eV), and for the band-density step ``band_vbm``/``band_cbm`` (0-based
    band index), ``spin_vbm``/``spin_cbm``, ``spin_edges`` ([vbm, cbm] per spin channel, eV),
    ``occupied_bands``, ``direct_gap`` (eV) and ``nspins``.
    """
    eig, _ = _eigenvalues_and_fillings(calc)
    nspins, nkpts, nbands = eig.shape
    nocc = occupied_bands(calc)
    if max(nocc) >= nbands:
        raise RuntimeError(f"no empty band: {max(nocc)} of the {nbands} bands are occupied; "
                           "raise nbands to see the conduction band")
    if max(nocc) == 0:
        raise RuntimeError("no occupied band")
    top = np.full((nspins, nkpts), -np.inf)      # highest valence band, per spin and k
    bottom = np.full((nspins, nkpts), np.inf)    # lowest conduction band
    for s, n in enumerate(nocc):
        if n > 0:
            top[s] = eig[s, :, n - 1]
        bottom[s] = eig[s, :, n]
    sv, kv = np.unravel_index(np.argmax(top), top.shape)
    sc, kc = np.unravel_index(np.argmin(bottom), bottom.shape)
    vbm, cbm = float(top[sv, kv]), float(bottom[sc, kc])
    gap = max(cbm - vbm, 0.0)
    direct_gap = max(float(np.min(bottom.min(axis=0) - top.max(axis=0))), 0.0)
    kpts = np.asarray(calc.get_ibz_k_points())
    try:
        fermi = float(calc.get_fermi_level())
    except (ValueError, AttributeError):   # two Fermi levels (fixed magnetic moment)
        fermi = None
    return {"vbm": vbm, "cbm": cbm, "gap": gap, "direct": bool(abs(direct_gap - gap) < DIRECT_TOL),
            "k_vbm": np.round(kpts[kv], 6).tolist(), "k_cbm": np.round(kpts[kc], 6).tolist(),
            "fermi": fermi, "band_vbm": nocc[sv] - 1, "band_cbm": nocc[sc],
            "spin_vbm": int(sv), "spin_cbm": int(sc),
            "spin_edges": [[float(top[s].max()), float(bottom[s].min())] for s in range(nspins)],
            "occupied_bands": nocc, "direct_gap": direct_gap, "nspins": int(nspins)}


def electrostatic_potential(calc) -> tuple[np.ndarray, np.ndarray]:
    """Electrostatic (Hartree + ionic pseudo) potential in eV on GPAW's fine real-space grid, and
    the cell (3x3, Å). Use it for planar averages and potential alignment of charged cells."""
    v = np.asarray(calc.get_electrostatic_potential())
    return v, np.asarray(calc.get_atoms().cell)


def write_gpw(calc, path, mode: str = "all") -> Path:
    """Write a GPAW restart file; ``mode='all'`` includes the wave functions (needed to redo the
    band-edge densities later, e.g. serially after an MPI run)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    calc.write(str(path), mode=mode)
    return path


__all__ = ["GPAWBackend", "kpoint_mesh", "band_edges", "occupied_bands", "electrostatic_potential", "write_gpw",
           "DEFAULT_KPOINT_DENSITY"]
