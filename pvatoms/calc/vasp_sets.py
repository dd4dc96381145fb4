"""VASP input sets for lead halide perovskites: INCAR tags per job, Γ-centred k-meshes, POTCARs.

The INCAR of every job is the common part (:func:`base_incar`: PBE/PBEsol/HSE06, no +U, ISPIN 1,
LASPH, ENCUT from the settings, Gaussian smearing of 0.05 eV) plus the job's own tags
(:func:`job_incar`) plus, for spin-orbit coupling, :func:`soc_incar`. The user's ``user_incar``
is applied last and wins. pymatgen's :class:`~pymatgen.io.vasp.sets.VaspInputSet` assembles the
files (:class:`HalidePerovskiteSet`), without sorting the atoms, so the POSCAR keeps the order of
the ``ase.Atoms`` given.

POTCARs: Cs_sv, Pb_d, Br (and the table :data:`POTCAR_SYMBOLS` for other elements, else
pymatgen's MPRelaxSet choice). The electron count of a neutral cell comes from the ZVAL of the
POTCAR files (``potcar="auto"``) or, with ``potcar="spec"`` (no POTCAR files on this machine),
from our own table :data:`VALENCE_ELECTRONS` of the valence of each POTCAR (Cs_sv 9, Pb_d 14,
Br 7, ...).

>>> from pvatoms.build import cspbbr3
>>> kpoint_mesh(cspbbr3("cubic"), 3.0)        # 5.95 Å cubic cell: R = (1/2, 1/2, 1/2) is on it
(4, 4, 4)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms import geometry
from pvatoms.errors import InputError, check_choice

FUNCTIONALS = ("PBE", "PBEsol", "HSE06")
POTCAR_MODES = ("auto", "spec")

#: Default k-point density, k-points per Å^-1, the ASE convention also used by the GPAW backend:
#: n_i = ceil(2π |b_i| · density), b_i the reciprocal lattice vectors without 2π. Gives 4x4x4 for
#: the 5.95 Å cubic cell (R on the mesh), 3x2x3 for the PBE Pnma cell, 2x1x2 for its 2x2x2
#: supercell.
DEFAULT_KPOINT_DENSITY = 3.0

#: Cells up to this many atoms use LREAL = False (exact projection); larger ones LREAL = Auto,
#: VASP's advice for large cells. Phonon displacements always use LREAL = False.
LREAL_FALSE_MAX_ATOMS = 20

#: POTCAR choice per element for halide perovskites and their usual neighbours (semicore states
#: of the A and B cations in the valence: Cs_sv, Pb_d, Sn_d ...).
POTCAR_SYMBOLS = {
    "Cs": "Cs_sv", "Rb": "Rb_sv", "K": "K_sv", "Na": "Na_pv", "Li": "Li_sv",
    "Pb": "Pb_d", "Sn": "Sn_d", "Ge": "Ge_d", "Bi": "Bi_d", "Sb": "Sb",
    "Br": "Br", "I": "I", "Cl": "Cl", "F": "F",
    "C": "C", "H": "H", "N": "N", "O": "O", "S": "S", "P": "P", "Se": "Se",
    "Ca": "Ca_sv", "Sr": "Sr_sv", "Ba": "Ba_sv", "Mn": "Mn_pv", "Zn": "Zn", "Cd": "Cd", "Te": "Te",
    "Ag": "Ag", "Cu": "Cu", "In": "In_d", "Ga": "Ga_d",
}

#: Valence electrons (ZVAL) of each POTCAR symbol, written for pvatoms from the valence
#: configurations of the VASP PAW data sets (e.g. Cs_sv 5s2 5p6 6s1 = 9, Pb_d 5d10 6s2 6p2 = 14,
#: Br 4s2 4p5 = 7). Used only with potcar="spec"; with real POTCARs their ZVAL is read instead.
VALENCE_ELECTRONS = {
    "Cs_sv": 9, "Rb_sv": 9, "K_sv": 9, "Na_pv": 7, "Li_sv": 3,
    "Pb_d": 14, "Sn_d": 14, "Ge_d": 14, "Bi_d": 15, "Sb": 5,
    "Br": 7, "I": 7, "Cl": 7, "F": 7,
    "C": 4, "H": 1, "N": 5, "O": 6, "S": 6, "P": 5, "Se": 6,
    "Ca_sv": 10, "Sr_sv": 10, "Ba_sv": 10, "Mn_pv": 13, "Zn": 12, "Cd": 12, "Te": 6,
    "Ag": 11, "Cu": 11, "In_d": 13, "Ga_d": 13,
}

#: Band labels accepted by band-edges: 'vbm', 'cbm', with an optional offset ('vbm-1', 'cbm+2').
BAND_LABEL = re.compile(r"^(vbm|cbm)([+-]\d+)?$")


# ---------------------------------------------------------------- k-points and POTCARs

def kpoint_mesh(atoms: Atoms, density: float = DEFAULT_KPOINT_DENSITY, even: bool = False) -> tuple:
    """Γ-centred mesh (n1, n2, n3) for ``density`` k-points per Å^-1 (see :func:`pvatoms.geometry.kpoint_mesh`)."""
    return geometry.kpoint_mesh(atoms, density, even)


def potcar_symbol(element: str, overrides: dict | None = None) -> str:
    """POTCAR symbol of ``element``: ``overrides``, then :data:`POTCAR_SYMBOLS`, then pymatgen's
    MPRelaxSet choice, then the element itself."""
    if overrides and element in overrides:
        return overrides[element]
    if element in POTCAR_SYMBOLS:
        return POTCAR_SYMBOLS[element]
    from pymatgen.io.vasp.sets import MPRelaxSet
    return MPRelaxSet.CONFIG["POTCAR"].get(element, element)


def psp_directory() -> str | None:
    """The POTCAR root folder pymatgen is configured with: environment variable PMG_VASP_PSP_DIR,
    else PMG_VASP_PSP_DIR in ~/.config/.pmgrc.yaml (pymatgen's SETTINGS)."""
    from pymatgen.core import SETTINGS
    return os.environ.get("PMG_VASP_PSP_DIR") or SETTINGS.get("PMG_VASP_PSP_DIR")


_HOW_TO_CONFIGURE = ("Configure pymatgen once with `pmg config -p <folder with the VASP potpaw "
                     "archives> <psp folder>` and `pmg config --add PMG_VASP_PSP_DIR <psp folder>` "
                     "(or set the environment variable PMG_VASP_PSP_DIR), or prepare the inputs with "
                     "potcar='spec' to write POTCAR.spec (the POTCAR symbols) instead of a POTCAR.")


def potcar_files(symbols, functional: str = "PBE_54") -> list[Path]:
    """Paths of the POTCAR files of ``symbols`` for pymatgen's POTCAR ``functional`` (PBE_54 ...).

    Raises :class:`InputError` saying what is missing (the configuration, the folder of the
    functional, a symbol) and how to configure it.
    """
    from pymatgen.core import SETTINGS
    from pymatgen.io.vasp.inputs import POTCAR_FUNCTIONAL_MAP

    check_choice("POTCAR functional", functional, tuple(POTCAR_FUNCTIONAL_MAP))
    root = psp_directory()
    if not root:
        raise InputError("POTCAR directory not configured: potcar='auto' needs PMG_VASP_PSP_DIR "
                         "(pymatgen's POTCAR folder), which is set neither in the environment nor in "
                         "~/.config/.pmgrc.yaml. " + _HOW_TO_CONFIGURE)
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        raise InputError(f"PMG_VASP_PSP_DIR={root!r} is not a folder. " + _HOW_TO_CONFIGURE)
    sub = (SETTINGS.get("PMG_VASP_PSP_SUB_DIRS") or {}).get(functional, POTCAR_FUNCTIONAL_MAP[functional])
    sub_path = root_path / sub
    if not sub_path.is_dir():
        present = sorted(p.name for p in root_path.iterdir() if p.is_dir()) or ["nothing"]
        raise InputError(f"no POTCAR folder {sub!r} for functional {functional} in PMG_VASP_PSP_DIR="
                         f"{root!r} (it holds: {', '.join(present)}). " + _HOW_TO_CONFIGURE)
    paths = []
    for sym in symbols:
        tried = [sub_path / f"POTCAR.{sym}", sub_path / sym / "POTCAR"]
        found = [p.with_name(p.name + ext) for p in tried for ext in ("", ".gz", ".bz2", ".xz", ".Z")
                 if p.with_name(p.name + ext).is_file()]
        if not found:
            raise InputError(f"no POTCAR for {sym!r} ({functional}) under {sub_path}: tried "
                             f"{', '.join(str(p) for p in tried)}. " + _HOW_TO_CONFIGURE)
        paths.append(found[0])
    return paths


def load_potcar(symbols, functional: str = "PBE_54"):
    """pymatgen :class:`~pymatgen.io.vasp.inputs.Potcar` for ``symbols`` (one per species block)."""
    from pymatgen.io.vasp.inputs import Potcar, PotcarSingle

    potcar = Potcar()
    potcar.extend(PotcarSingle.from_file(str(p)) for p in potcar_files(symbols, functional))
    return potcar


def neutral_electron_count(symbols_per_atom, zval: dict) -> int:
    """Electrons of the neutral cell: Σ ZVAL over the atoms (``symbols_per_atom``: the POTCAR
    symbol of each atom; ``zval``: {POTCAR symbol: valence electrons})."""
    missing = sorted({s for s in symbols_per_atom if s not in zval})
    if missing:
        known = ", ".join(sorted(VALENCE_ELECTRONS))
        raise InputError(f"unknown valence for POTCAR {', '.join(missing)} with potcar='spec' (pvatoms' "
                         f"table knows: {known}); use potcar='auto' with real POTCARs, or give NELECT "
                         "in user_incar")
    total = sum(zval[s] for s in symbols_per_atom)
    return int(round(total))


# ---------------------------------------------------------------- INCAR pieces

def lreal_for(natoms: int):
    """LREAL = False for cells up to :data:`LREAL_FALSE_MAX_ATOMS` atoms, else 'Auto'."""
    return False if natoms <= LREAL_FALSE_MAX_ATOMS else "Auto"


def functional_incar(functional: str) -> dict:
    """Exchange-correlation tags: PBE (GGA = PE), PBEsol (GGA = PS), HSE06 (PBE + 25 % screened
    exact exchange, μ = 0.2 Å^-1; ALGO All, as hybrids need)."""
    check_choice("functional", functional, FUNCTIONALS)
    if functional == "PBE":
        return {"GGA": "PE"}
    if functional == "PBEsol":
        return {"GGA": "PS"}
    return {"GGA": "PE", "LHFCALC": True, "HFSCREEN": 0.2, "AEXX": 0.25, "ALGO": "All"}


def base_incar(functional: str, encut: float, natoms: int, spin: bool = False) -> dict:
    """Tags shared by every job: ENCUT (eV), PREC Accurate, EDIFF 1e-6 eV, Gaussian smearing of
    0.05 eV (the energy reported is energy(sigma→0)), no +U, LASPH, LMAXMIX 4 (d electrons, no f),
    ISPIN 1 (2 with ``spin``), no WAVECAR/CHGCAR unless the job needs them."""
    incar = {
        "PREC": "Accurate", "ENCUT": float(encut), "EDIFF": 1e-6, "NELM": 100, "ALGO": "Normal",
        "ISMEAR": 0, "SIGMA": 0.05, "ISPIN": 2 if spin else 1, "LASPH": True, "LMAXMIX": 4,
        "LREAL": lreal_for(natoms), "LWAVE": False, "LCHARG": False, "LDAU": False,
    }
    incar.update(functional_incar(functional))
    return incar


def relax_incar(relax_cell: bool = True) -> dict:
    """Conjugate-gradient relaxation until every force is below 0.01 eV/Å (EDIFFG < 0): ISIF 3
    (positions, cell shape and volume) or ISIF 2 (positions only, fixed host lattice)."""
    return {"NSW": 200, "IBRION": 2, "ISIF": 3 if relax_cell else 2, "EDIFFG": -0.01}


def static_incar() -> dict:
    """Single point: projected DOS (LORBIT 11), the Hartree potential in LOCPOT (LVHAR, for
    charged-defect corrections) and the CHGCAR."""
    return {"NSW": 0, "IBRION": -1, "LORBIT": 11, "LVHAR": True, "LCHARG": True}


def dielectric_incar() -> dict:
    """Density-functional perturbation theory for the dielectric tensor: LEPSILON (the electronic,
    ion-clamped ε∞ with local-field effects) and IBRION 8 (the force constants and Born effective
    charges at Γ, hence the ionic contribution); EDIFF 1e-8 eV, LREAL False. Not possible with
    hybrid functionals (use IBRION 6 / LCALCEPS there)."""
    return {"NSW": 1, "IBRION": 8, "LEPSILON": True, "EDIFF": 1e-8, "LREAL": False, "ADDGRID": True,
            "LCHARG": False, "LWAVE": False}


def defect_incar() -> dict:
    """Tags of a defect supercell on top of a relax or static: positions only (ISIF 2; the cell
    is the host's), symmetry off (ISYM 0), and the Hartree potential in LOCPOT (LVHAR) for the
    finite-size corrections."""
    return {"ISIF": 2, "ISYM": 0, "LVHAR": True}


def phonon_incar(displacement_id: str | None = None) -> dict:
    """Forces of one displaced supercell for finite-difference phonons: EDIFF 1e-8 eV, PREC
    Accurate, ADDGRID, LREAL False, no ionic steps."""
    incar = {"NSW": 0, "IBRION": -1, "EDIFF": 1e-8, "PREC": "Accurate", "ADDGRID": True,
             "LREAL": False, "LCHARG": False, "LWAVE": False}
    if displacement_id is not None:
        incar["SYSTEM"] = f"phonon displacement {displacement_id}"
    return incar


def neb_incar(n_images: int) -> dict:
    """Climbing-image NEB with the VTST optimisers (IBRION 3, POTIM 0, IOPT 1 = LBFGS; LCLIMB and
    IOPT need VASP compiled with the VTST patches), spring -5 eV/Å², forces below 0.03 eV/Å,
    positions only (ISIF 2), symmetry off (the images have lower symmetry than the endpoints)."""
    return {"IMAGES": int(n_images), "SPRING": -5, "LCLIMB": True, "ICHAIN": 0, "IBRION": 3,
            "POTIM": 0, "IOPT": 1, "NSW": 200, "EDIFFG": -0.03, "ISIF": 2, "ISYM": 0,
            "LCHARG": False, "LWAVE": False}


def band_edges_scf_incar(symmetry_off: bool = False) -> dict:
    """Step 1 of band-edges: a static (see :func:`static_incar`) that also writes the WAVECAR."""
    incar = dict(static_incar(), LWAVE=True)
    if symmetry_off:
        incar["ISYM"] = 0
    return incar


def parchg_incar(bands, kpoints=None, symmetry_off: bool = False) -> dict:
    """Step 2 of band-edges: band-decomposed density of ``bands`` (1-based VASP band indices),
    summed over the bands and k-points (LSEPB, LSEPK False) into one PARCHG, from the WAVECAR of
    step 1 (ISTART 1). ``kpoints``: 1-based indices of the irreducible k-points to use (KPUSE)."""
    incar = {"NSW": 0, "IBRION": -1, "ISTART": 1, "LPARD": True, "IBAND": [int(b) for b in bands],
             "LSEPB": False, "LSEPK": False, "LWAVE": False, "LCHARG": False, "LORBIT": None,
             "LVHAR": None}
    if kpoints:
        incar["KPUSE"] = [int(k) for k in kpoints]
    if symmetry_off:
        incar["ISYM"] = 0
    return incar


def soc_incar(natoms: int, saxis=(0, 0, 1)) -> dict:
    """Spin-orbit coupling (needs vasp_ncl): LSORBIT (sets LNONCOLLINEAR), GGA_COMPAT False (VASP's
    advice for noncollinear gradient corrections), quantisation axis SAXIS, zero initial moments
    (3 per atom), ISYM -1: symmetry fully off, because the ISYM 0 shortcut ψ(-k) = ψ*(k) does not
    hold for spinors."""
    return {"LSORBIT": True, "LNONCOLLINEAR": True, "GGA_COMPAT": False, "SAXIS": list(saxis),
            "ISYM": -1, "ISPIN": None, "MAGMOM": [[0.0, 0.0, 0.0] for _ in range(natoms)]}


# ---------------------------------------------------------------- band-edge groups

def band_index(spec, n_occupied: int) -> int:
    """1-based band index of ``spec``: an int, or 'vbm', 'cbm', 'vbm-1', 'cbm+2' ...
    ``n_occupied``: index of the highest occupied band (the VBM band)."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        index = int(spec)
    else:
        match = BAND_LABEL.match(str(spec).strip().lower())
        if not match:
            raise InputError(f"unknown band {spec!r}; valid: a 1-based band index, 'vbm', 'cbm', or "
                             "an offset such as 'vbm-1' or 'cbm+1'")
        index = n_occupied + (0 if match[1] == "vbm" else 1) + int(match[2] or 0)
    if index < 1:
        raise InputError(f"band {spec!r} gives band index {index}; band indices start at 1")
    return index


def band_groups(bands, n_occupied: int) -> dict:
    """``{label: {"bands": [1-based indices], "kpoints": [...] or None}}``, one PARCHG per label.

    ``bands``: None (VBM and CBM, each its own PARCHG), a list of specs (one PARCHG each, labelled
    by the spec), or a dict ``{label: specs}`` where specs is a list of band specs (summed into
    one PARCHG, e.g. a degenerate CBM) or ``{"bands": [...], "kpoints": [...]}`` (KPUSE).
    """
    if bands is None:
        bands = ("vbm", "cbm")
    if isinstance(bands, (str, int)):
        bands = [bands]
    items = bands.items() if isinstance(bands, dict) else ((str(b) if not isinstance(b, int) else
                                                           f"band{b}", [b]) for b in bands)
    groups = {}
    for label, spec in items:
        label = str(label)
        if not re.fullmatch(r"[A-Za-z0-9_+-]+", label):
            raise InputError(f"band label {label!r} must use letters, digits, _ + - only")
        kpts = None
        if isinstance(spec, dict):
            kpts = spec.get("kpoints")
            spec = spec.get("bands")
        if isinstance(spec, (str, int)):
            spec = [spec]
        if not spec:
            raise InputError(f"band group {label!r} has no bands")
        if kpts is not None and any(int(k) < 1 for k in kpts):
            raise InputError(f"band group {label!r}: k-point indices (KPUSE) start at 1, got {list(kpts)}")
        groups[label] = {"bands": [band_index(s, n_occupied) for s in spec],
                         "kpoints": [int(k) for k in kpts] if kpts is not None else None}
    if not groups:
        raise InputError("band-edges needs at least one band; e.g. bands=('vbm', 'cbm')")
    return groups


def highest_occupied_band(nelect: int, soc: bool) -> int:
    """1-based index of the highest occupied band: NELECT/2 (rounded up for an odd count) without
    SOC, NELECT with SOC (one electron per spinor band)."""
    return int(nelect) if soc else (int(nelect) + 1) // 2


# ---------------------------------------------------------------- the pymatgen input set

def _perovskite_set_class():
    from pymatgen.io.vasp.sets import VaspInputSet

    @dataclass
    class HalidePerovskiteSet(VaspInputSet):
        """pymatgen input set whose INCAR base, POTCAR choice and k-mesh come from pvatoms
        (``config_dict``), with the job's tags as ``user_incar_settings``; atoms are not sorted."""

    return HalidePerovskiteSet


def structure_from_atoms(atoms: Atoms):
    """pymatgen Structure of ``atoms`` in the same atom order, via AseAtomsAdaptor, keeping only
    the geometry and the constraints (selective dynamics); labels stay in the pvatoms metadata."""
    from pymatgen.io.ase import AseAtomsAdaptor

    clean = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
    if atoms.constraints:
        clean.set_constraint([c.copy() for c in atoms.constraints])
    return AseAtomsAdaptor.get_structure(clean)


def input_set(structure, incar_base: dict, incar_job: dict, mesh, potcar_map: dict,
              potcar_functional: str, comment: str = ""):
    """The :class:`HalidePerovskiteSet` of one calculation: ``incar_base`` as the configuration,
    ``incar_job`` (job tags, then the user's) as user settings, a Γ-centred ``mesh``."""
    from pymatgen.io.vasp.inputs import Kpoints

    kpoints = Kpoints.gamma_automatic(tuple(int(n) for n in mesh),
                                      comment=comment or "Gamma-centred mesh (pvatoms)")
    config = {"INCAR": dict(incar_base), "POTCAR_FUNCTIONAL": potcar_functional, "POTCAR": dict(potcar_map)}
    cls = _perovskite_set_class()
    return cls(structure, config_dict=config, user_incar_settings=dict(incar_job),
               user_kpoints_settings=kpoints, sort_structure=False,
               user_potcar_functional=potcar_functional, validate_magmom=False)
