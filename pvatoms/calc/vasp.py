"""VASP through pymatgen input sets and custodian.

>>> from pvatoms.build import cspbbr3
>>> from pvatoms.calc import get_backend
>>> vasp = get_backend("vasp", potcar="spec")             # PBE, 500 eV, 3.0 k-points per Å^-1
>>> folder = vasp.prepare("relax", cspbbr3("pnma"), "pnma-relax")   # doctest: +SKIP
>>> vasp.execute(folder, "relax")                 # needs PVATOMS_VASP_CMD   doctest: +SKIP
>>> doc_fields = vasp.parse("relax", folder)              # doctest: +SKIP

Three steps, usable separately (prepare here, run on a cluster, parse back here):

- :meth:`VaspBackend.prepare` writes INCAR, KPOINTS (always Γ-centred), POSCAR (atom order kept),
  POTCAR (``potcar="auto"``, from pymatgen's POTCAR configuration) or POTCAR.spec (``"spec"``:
  symbols only) and ``pvatoms-vasp.json`` (job, charge, electron counts, the input structure with
  its labels).
- :meth:`VaspBackend.execute` runs VASP under custodian (error handlers fix and restart).
- :meth:`VaspBackend.parse` reads the outputs into result-document fields (see
  :mod:`pvatoms.calc.vasp_parse` for units and sign conventions).

Jobs and their folder layout
----------------------------
relax        folder/: ISIF 3 (cell and positions) or, with ``relax_cell=False``, ISIF 2.
static       folder/: LVHAR (LOCPOT for charged-defect corrections), LCHARG, LORBIT 11.
phonons      folder/: one displaced supercell, EDIFF 1e-8, ADDGRID, no ionic steps.
neb          folder/INCAR, KPOINTS, POTCAR and folder/00 ... folder/NN+1/POSCAR (VTST CI-NEB).
band-edges   two steps: the SCF (a static that keeps the WAVECAR) in folder/ itself, then one
             subfolder folder/parchg-<label>/ per band group that reads that WAVECAR (LPARD,
             IBAND, LSEPB/LSEPK False, optional KPUSE). :meth:`execute` runs both and copies
             each PARCHG to folder/PARCHG.<label> (PARCHG.vbm, PARCHG.cbm by default), where
             :func:`pvatoms.jobs.band_edges.find_parchg` looks for them. Not with SOC: VASP's
             LPARD does not support noncollinear runs.

Charged cells: NELECT = (electrons of the neutral cell) − charge, the neutral count from the
POTCARs' ZVAL (or pvatoms' valence table with ``potcar="spec"``, see
:data:`pvatoms.calc.vasp_sets.VALENCE_ELECTRONS`). V_Br^+ in the 2x2x2 Pnma supercell
(Cs32Pb32Br95): 32·9 + 32·14 + 95·7 = 1401 electrons neutral, NELECT 1400.
"""

from __future__ import annotations

import os
import shlex
import shutil
import warnings
from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms.calc import check_spin, spin_polarised
from pvatoms.calc import vasp_sets as sets
from pvatoms.calc.vasp_parse import (METADATA_FILE, VaspOutputError, find_output, locpot_path, parse_dielectric,
                                     parse_neb, parse_run, read_locpot, read_metadata)
from pvatoms.errors import InputError, check_choice
from pvatoms.io import check_integer, check_integers, check_number
from pvatoms.schema import JOBS, atoms_to_dict, to_jsonable

ENV_VASP_CMD = "PVATOMS_VASP_CMD"
ENV_VASP_NCL_CMD = "PVATOMS_VASP_NCL_CMD"
PARCHG_PREFIX = "parchg-"


def _pymatgen_version() -> str:
    import pymatgen.core
    return pymatgen.core.__version__


class VaspBackend:
    """VASP with input sets for lead halide perovskites.

    Parameters
    ----------
    functional : 'PBE', 'PBEsol' or 'HSE06'.
    soc : spin-orbit coupling (LSORBIT; run with vasp_ncl, see ``vasp_ncl_cmd``).
    encut : plane-wave cut-off, eV.
    kpoint_density : k-points per Å^-1 (ASE convention, as the GPAW backend); the mesh is always
        Γ-centred.
    kpoints : explicit mesh (n1, n2, n3), overrides ``kpoint_density``; (1, 1, 1) = Γ only.
    even_kpoints : round odd meshes > 1 up to even (zone-boundary points on the mesh).
    spin : collinear spin polarisation: True (ISPIN 2; initial moments from the atoms, else 0.6 μB),
        False, or ``"auto"`` (default): ISPIN 2 with NUPDOWN 1 (the doublet) exactly when the cell
        holds an odd number of electrons, ISPIN 1 otherwise.
    relax_cell : relax jobs change the cell (ISIF 3) or only the positions (ISIF 2).
    potcar : 'auto' (POTCAR from pymatgen's PMG_VASP_PSP_DIR) or 'spec' (POTCAR.spec only).
    potcar_functional : pymatgen's name of the POTCAR set: 'PBE_54' (default), 'PBE_64', 'PBE'.
    potcar_symbols : {element: POTCAR symbol} overriding the defaults (Cs_sv, Pb_d, Br ...).
    user_incar : INCAR tags applied last (they win); ``None`` as a value removes a tag.
    vasp_cmd : command running VASP, e.g. ``"srun vasp_std"``; default: $PVATOMS_VASP_CMD.
    vasp_ncl_cmd : command for SOC runs; default $PVATOMS_VASP_NCL_CMD, else ``vasp_cmd``.
    max_errors : corrections custodian may try before giving up.
    poll_seconds : how often custodian looks at a running VASP (s).
    """

    name = "vasp"
    dft = True

    def __init__(self, functional: str = "PBE", soc: bool = False, encut: float = 500,
                 kpoint_density: float = sets.DEFAULT_KPOINT_DENSITY, kpoints=None,
                 even_kpoints: bool = False, spin="auto", relax_cell: bool = True,
                 vasp_cmd: str | None = None, vasp_ncl_cmd: str | None = None, potcar: str = "auto",
                 potcar_functional: str = "PBE_54", potcar_symbols: dict | None = None,
                 user_incar: dict | None = None, max_errors: int = 5, poll_seconds: float = 10):
        from pymatgen.io.vasp.inputs import POTCAR_FUNCTIONAL_MAP

        check_choice("functional", functional, sets.FUNCTIONALS)
        check_choice("potcar", potcar, sets.POTCAR_MODES)
        check_choice("potcar_functional", potcar_functional, tuple(POTCAR_FUNCTIONAL_MAP))
        check_number("encut", encut, 0, 5000, low_open=True, unit="eV")
        check_number("kpoint_density", kpoint_density, 0, 100, low_open=True, unit="k-points per Å^-1")
        if kpoints is not None:
            kpoints = check_integers("kpoints (a Γ-centred mesh)", kpoints, 3, 1, 100)
        check_integer("max_errors", max_errors, 0, 1000)
        check_number("poll_seconds", poll_seconds, 0, 86400, low_open=True, unit="s")
        for name, flag in (("soc", soc), ("even_kpoints", even_kpoints), ("relax_cell", relax_cell)):
            if not isinstance(flag, (bool, np.bool_)):
                raise InputError(f"{name} must be true or false, got {flag!r}")
        if potcar_symbols is not None and not isinstance(potcar_symbols, dict):
            raise InputError(f"potcar_symbols must be a mapping {{element: POTCAR symbol}}, got {potcar_symbols!r}")
        if user_incar is not None and not isinstance(user_incar, dict):
            raise InputError(f"user_incar must be a mapping {{TAG: value}}, got {user_incar!r}")
        for tag, value in (user_incar or {}).items():
            if isinstance(value, float) and not np.isfinite(value):
                raise InputError(f"user_incar {tag} must be a finite number, got {value!r}")
        self.functional, self.soc, self.encut = functional, bool(soc), float(encut)
        self.kpoint_density, self.kpoints, self.even_kpoints = float(kpoint_density), kpoints, bool(even_kpoints)
        self.spin, self.relax_cell = check_spin(spin), bool(relax_cell)
        self.potcar, self.potcar_functional = potcar, potcar_functional
        self.potcar_symbols = dict(potcar_symbols or {})
        self.user_incar = {str(k).upper(): v for k, v in (user_incar or {}).items()}
        self.vasp_cmd = vasp_cmd or os.environ.get(ENV_VASP_CMD) or None
        self.vasp_ncl_cmd = vasp_ncl_cmd or os.environ.get(ENV_VASP_NCL_CMD) or None
        self.max_errors = int(max_errors)
        self.poll_seconds = float(poll_seconds)

    # ------------------------------------------------------------ description

    def info(self) -> dict:
        """Backend description for the result document; ``settings`` holds everything that
        changes the numbers (not the commands, not where the POTCARs live)."""
        return {"name": self.name, "model": self.functional + ("+SOC" if self.soc else ""),
                "version": _pymatgen_version(), "device": None,
                "settings": {"functional": self.functional, "soc": self.soc, "encut": self.encut,
                             "kpoint_density": self.kpoint_density,
                             "kpoints": list(self.kpoints) if self.kpoints else None,
                             "even_kpoints": self.even_kpoints, "spin": self.spin,
                             "relax_cell": self.relax_cell, "potcar_functional": self.potcar_functional,
                             "potcar_symbols": dict(self.potcar_symbols),
                             "user_incar": to_jsonable(self.user_incar)}}

    def mesh(self, atoms: Atoms) -> tuple:
        """The Γ-centred k-mesh used for ``atoms``."""
        if self.kpoints:
            return self.kpoints
        return sets.kpoint_mesh(atoms, self.kpoint_density, self.even_kpoints)

    # ------------------------------------------------------------ prepare

    def prepare(self, job: str, atoms: Atoms | None, folder, charge: int = 0, images=None, bands=None,
                displacement_id=None, *, relax_cell: bool | None = None, endpoints=None,
                defect: bool = False) -> Path:
        """Write the VASP inputs of ``job`` into ``folder`` (created); returns the folder.

        ``charge`` (e): NELECT = neutral electron count − charge. ``images`` (neb): list of
        ase.Atoms including both endpoints, same atoms in the same order, same cell (``atoms`` is
        not used for neb; pass None). ``endpoints`` (neb):
        (initial folder, final folder) whose OUTCARs are copied into 00 and NN+1. ``bands``
        (band-edges): see :func:`pvatoms.calc.vasp_sets.band_groups`; default VBM and CBM, each
        in its own PARCHG. ``displacement_id`` (phonons): recorded in the INCAR SYSTEM tag and
        in the metadata. ``relax_cell`` (relax): overrides the backend setting. ``defect``
        (relax, static): the conventions of a defect supercell — positions only at the host's
        cell (ISIF 2), symmetry off (ISYM 0) so a symmetric start may distort, and the Hartree
        potential written (LVHAR, the LOCPOT the finite-size corrections need; the site
        potentials of the Kumagai/eFNV correction are in every OUTCAR); user_incar still wins.
        """
        check_choice("job", job, JOBS)
        charge = _check_charge(charge)
        if job == "neb":
            atoms = self._check_images(images)[0]
        if not isinstance(atoms, Atoms) or len(atoms) == 0:
            raise InputError(f"prepare({job!r}) needs a non-empty ase.Atoms, got {type(atoms).__name__}")
        if job == "band-edges" and self.soc:
            raise InputError("band-edges with soc=True is not possible: VASP's band-decomposed "
                             "densities (LPARD) do not support noncollinear runs; use soc=False for "
                             "the densities (and a SOC static for the SOC band edges)")
        folder = Path(folder)
        cell = self._cell_inputs(atoms, charge)   # POTCAR problems raise before anything is written
        self._warn_odd_electrons(cell)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"job": job, "charge": charge, "nelect": cell["nelect"],
                "neutral_nelect": cell["neutral"], "potcar_symbols": cell["symbols"],
                "input_structure": atoms_to_dict(atoms), "backend": self.info()}
        if job == "neb":
            self._write_neb(folder, images, cell, endpoints)
            meta["n_images"] = len(images) - 2
        elif job == "band-edges":
            meta["bands"] = self._write_band_edges(folder, atoms, cell, bands)
        else:
            cell_free = (self.relax_cell if relax_cell is None else relax_cell) and not defect
            updates = {"relax": lambda: sets.relax_incar(cell_free),
                       "static": sets.static_incar,
                       "dielectric": sets.dielectric_incar,
                       "phonons": lambda: sets.phonon_incar(displacement_id)}[job]()
            if defect and job in ("relax", "static"):
                updates.update(sets.defect_incar())
                meta["defect"] = True
            self._write(folder, atoms, cell, updates)
            if displacement_id is not None:
                meta["displacement_id"] = str(displacement_id)
        _write_json(folder / METADATA_FILE, meta)
        return folder

    def _cell_inputs(self, atoms: Atoms, charge: int) -> dict:
        """POTCAR symbols (one per species block of the POSCAR), the POTCAR object ('auto'), the
        neutral electron count and NELECT (None when neutral and not needed)."""
        structure = sets.structure_from_atoms(atoms)
        blocks = _species_blocks(atoms.get_chemical_symbols())
        symbols = [sets.potcar_symbol(el, self.potcar_symbols) for el in blocks]
        potcar, zval = None, dict(sets.VALENCE_ELECTRONS)
        if self.potcar == "auto":
            potcar = sets.load_potcar(symbols, self.potcar_functional)
            zval.update({s: p.nelectrons for s, p in zip(symbols, potcar)})
        per_atom = [sets.potcar_symbol(el, self.potcar_symbols) for el in atoms.get_chemical_symbols()]
        try:
            neutral = sets.neutral_electron_count(per_atom, zval)
        except InputError:
            if charge:
                raise
            neutral = None
        nelect = neutral - charge if (neutral is not None and charge) else None
        if nelect is not None and nelect <= 0:
            raise InputError(f"charge {charge:+d} leaves {nelect} electrons in a cell of {neutral}")
        return {"structure": structure, "symbols": symbols, "potcar": potcar, "neutral": neutral,
                "nelect": nelect, "charge": charge}

    def _incar(self, atoms: Atoms, cell: dict, updates: dict) -> tuple[dict, dict]:
        """(base INCAR, job INCAR incl. NELECT, spin, SOC and the user's tags)."""
        spin = spin_polarised(self.spin, atoms, cell["charge"]) and not self.soc
        base = sets.base_incar(self.functional, self.encut, len(atoms), spin)
        job = dict(updates)
        if cell["nelect"] is not None:
            job["NELECT"] = float(cell["nelect"])
        if self.spin == "auto" and spin:
            job["NUPDOWN"] = 1                  # one unpaired electron: the doublet
        if spin:
            moments = atoms.get_initial_magnetic_moments()
            job["MAGMOM"] = [float(m) for m in moments] if any(moments) else [0.6] * len(atoms)
        if self.soc:
            job.update(sets.soc_incar(len(atoms)))
        job.update(self.user_incar)
        return base, job

    def _warn_odd_electrons(self, cell: dict) -> None:
        electrons = cell["nelect"] if cell["nelect"] is not None else cell["neutral"]
        ispin = self.user_incar.get("ISPIN", 2 if (self.spin is True or self.spin == "auto") else 1)
        if electrons is not None and int(electrons) % 2 and not self.soc and ispin == 1:
            warnings.warn(f"{int(electrons)} electrons (odd) with ISPIN 1: the unpaired electron is "
                          "forced into a half-filled band; use spin=True for this charge state",
                          stacklevel=3)

    def _vasp_input(self, atoms: Atoms, cell: dict, updates: dict):
        """pymatgen VaspInput (INCAR, KPOINTS, POSCAR, POTCAR or its symbols)."""
        from pymatgen.io.vasp.inputs import VaspInput

        base, job = self._incar(atoms, cell, updates)
        magmom = job.pop("MAGMOM", None)   # per atom; pymatgen's user MAGMOM is per species
        potcar_map = {el: sets.potcar_symbol(el, self.potcar_symbols) for el in set(atoms.get_chemical_symbols())}
        mesh = self.mesh(atoms)
        inset = sets.input_set(cell["structure"], base, job, mesh, potcar_map,
                               self.potcar_functional,
                               comment=f"Gamma-centred {mesh[0]}x{mesh[1]}x{mesh[2]} (pvatoms)")
        incar = inset.incar
        if magmom is not None:
            incar["MAGMOM"] = magmom
        spec = self.potcar == "spec"
        potcar = "\n".join(cell["symbols"]) if spec else cell["potcar"]
        return VaspInput(incar=incar, kpoints=inset.kpoints, poscar=inset.poscar, potcar=potcar,
                         potcar_spec=spec)

    def _write(self, folder: Path, atoms: Atoms, cell: dict, updates: dict) -> None:
        _remove_stale_potcar(folder)
        self._vasp_input(atoms, cell, updates).write_input(str(folder))

    def _write_band_edges(self, folder: Path, atoms: Atoms, cell: dict, bands) -> dict:
        electrons = cell["nelect"] if cell["nelect"] is not None else cell["neutral"]
        if electrons is None:
            raise InputError("band-edges needs the electron count to find the VBM/CBM bands; add the "
                             "POTCAR valences (potcar='auto') or give explicit band indices with "
                             "user_incar NELECT")
        electrons = self.user_incar.get("NELECT", electrons)
        groups = sets.band_groups(bands, sets.highest_occupied_band(int(electrons), self.soc))
        symmetry_off = any(g["kpoints"] for g in groups.values())
        self._write(folder, atoms, cell, sets.band_edges_scf_incar(symmetry_off))
        for label, group in groups.items():
            sub = folder / f"{PARCHG_PREFIX}{label}"
            sub.mkdir(exist_ok=True)
            self._write(sub, atoms, cell, sets.parchg_incar(group["bands"], group["kpoints"], symmetry_off))
        return groups

    def _check_images(self, images) -> list:
        if not images or len(images) < 3:
            raise InputError("neb needs images=[initial, image 1, ..., final] (ase.Atoms, endpoints "
                             f"included, at least one intermediate image); got {0 if not images else len(images)}")
        first = images[0]
        for i, im in enumerate(images):
            if not isinstance(im, Atoms):
                raise InputError(f"neb image {i} is a {type(im).__name__}, not an ase.Atoms")
            if im.get_chemical_symbols() != first.get_chemical_symbols():
                raise InputError(f"neb image {i} does not have the atoms of image 0 in the same order "
                                 f"({im.get_chemical_formula()} vs {first.get_chemical_formula()}); "
                                 "every image must list the same atoms in the same order")
            if not np.allclose(np.asarray(im.cell), np.asarray(first.cell), atol=1e-6):
                raise InputError(f"neb image {i} has another cell than image 0; NEB images (ISIF 2) "
                                 "must share one cell")
        return list(images)

    def _write_neb(self, folder: Path, images, cell: dict, endpoints) -> None:
        from pymatgen.io.vasp.inputs import Poscar

        n = len(images) - 2
        vi = self._vasp_input(images[0], cell, sets.neb_incar(n))
        _remove_stale_potcar(folder)
        vi["INCAR"].write_file(str(folder / "INCAR"))
        vi["KPOINTS"].write_file(str(folder / "KPOINTS"))
        if self.potcar == "spec":
            (folder / "POTCAR.spec").write_text("\n".join(cell["symbols"]) + "\n")
        else:
            vi["POTCAR"].write_file(str(folder / "POTCAR"))
        structures = _continuous_path([sets.structure_from_atoms(im) for im in images])
        for i, struct in enumerate(structures):
            sub = folder / f"{i:02d}"
            sub.mkdir(exist_ok=True)
            Poscar(struct).write_file(str(sub / "POSCAR"))
        if endpoints is not None:
            _copy_endpoint_outcars(endpoints, folder / "00", folder / f"{n + 1:02d}")

    # ------------------------------------------------------------ execute

    def execute(self, folder, job: str = "static") -> None:
        """Run VASP in ``folder`` (prepared for ``job``) under custodian. Raises
        :class:`InputError` when no VASP command is configured or the POTCAR is missing; the
        inputs stay on disk. A run custodian cannot rescue raises custodian's error."""
        check_choice("job", job, JOBS)
        folder = Path(folder)
        cmd = self._command(folder)
        steps = _parchg_folders(folder) if job == "band-edges" else []
        for sub in [folder] + steps:
            if not (sub / "POTCAR").is_file():
                hint = (" (only POTCAR.spec is there: the inputs were prepared with potcar='spec'; "
                        "prepare them again with potcar='auto' on a machine with POTCARs)"
                        if (sub / "POTCAR.spec").is_file() else "")
                raise InputError(f"no POTCAR in {sub}{hint}")
        if job == "neb":
            _run_custodian(folder, _neb_job(cmd), _handlers("neb"), [], self)
        elif job == "band-edges":
            self._run_band_edges(folder, cmd)
        else:
            _run_custodian(folder, _vasp_job(cmd), _handlers(job), _validators(), self)

    def _command(self, folder: Path) -> list[str]:
        cmd = self.vasp_cmd or os.environ.get(ENV_VASP_CMD)
        if self.soc:
            cmd = self.vasp_ncl_cmd or os.environ.get(ENV_VASP_NCL_CMD) or cmd
        if not cmd:
            raise InputError(f"VASP command not configured: set {ENV_VASP_CMD} (e.g. "
                             f"export {ENV_VASP_CMD}='srun vasp_std') or pass vasp_cmd= to the backend"
                             f"{f' ({ENV_VASP_NCL_CMD} / vasp_ncl_cmd= for SOC)' if self.soc else ''}; "
                             f"the inputs are in {folder}")
        return shlex.split(cmd)

    def _run_band_edges(self, folder: Path, cmd: list[str]) -> None:
        """SCF in folder, then each parchg-<label> step from its WAVECAR, with the SCF's NBANDS."""
        from pymatgen.io.vasp.inputs import Incar

        _run_custodian(folder, _vasp_job(cmd), _handlers("static"), _validators(), self)
        nbands = _nbands(folder)
        for sub in _parchg_folders(folder):
            incar = Incar.from_file(str(sub / "INCAR"))
            incar["NBANDS"] = nbands
            incar.write_file(str(sub / "INCAR"))
            _link_or_copy(folder / "WAVECAR", sub / "WAVECAR")
            _run_custodian(sub, _vasp_job(cmd), [], [], self)
            parchg = find_output(sub, "PARCHG")
            shutil.copyfile(parchg, folder / f"PARCHG.{sub.name[len(PARCHG_PREFIX):]}")

    # ------------------------------------------------------------ parse

    def parse(self, job: str, folder, expected=None, charge: int | None = None) -> dict:
        """Result-document fields from the outputs in ``folder``: energy (eV, energy(sigma→0)),
        energy_per_atom, forces (eV/Å), stress (eV/Å³, ASE sign), structure, band_edges, files,
        data (nelect, charge, convergence, INCAR, k-points, ``run_settings``: what the run did);
        for neb: images and barriers. Raises :class:`~pvatoms.calc.vasp_parse.VaspOutputError`
        naming a missing file.

        ``expected`` (the job's input atoms; for neb the (initial, final) endpoints) and
        ``charge`` (e): refuse (:class:`InputError`) outputs of another structure, composition,
        atom order or charge (see :func:`pvatoms.calc.vasp_parse.check_run_matches`)."""
        check_choice("job", job, JOBS)
        folder = Path(folder)
        if not folder.is_dir():
            raise VaspOutputError(f"no folder {folder}")
        if job == "neb":
            return parse_neb(folder, expected=expected)
        out = parse_run(folder, expected=expected, charge=charge, job=job)
        if job == "dielectric":
            out["data"]["dielectric"] = parse_dielectric(folder)
        if job == "band-edges":
            for sub in _parchg_folders(folder):
                path = find_output(sub, "PARCHG", required=False)
                if path is not None:
                    out["files"][f"PARCHG-{sub.name[len(PARCHG_PREFIX):]}"] = str(path.relative_to(folder))
        return out


# ---------------------------------------------------------------- helpers

def _check_charge(charge) -> int:
    return check_integer("charge (an integer number of e)", charge, -50, 50)


def _parchg_folders(folder: Path) -> list[Path]:
    """The band-decomposed steps of a band-edges folder, from its metadata (a re-prepared folder
    may hold stale parchg-* folders), else every parchg-* folder."""
    labels = list(read_metadata(folder).get("bands") or {})
    if labels:
        return [folder / f"{PARCHG_PREFIX}{label}" for label in labels]
    return sorted(p for p in folder.glob(f"{PARCHG_PREFIX}*") if p.is_dir())


def _species_blocks(symbols) -> list[str]:
    """Element of each consecutive block of equal symbols (the POSCAR/POTCAR species order)."""
    blocks: list[str] = []
    for s in symbols:
        if not blocks or blocks[-1] != s:
            blocks.append(s)
    return blocks


def _continuous_path(structures):
    """Shift each atom of each image by a lattice vector so it moves by less than half a cell from
    the previous image (an atom wrapped across the boundary would otherwise jump)."""
    out = [structures[0]]
    for s in structures[1:]:
        prev = out[-1]
        frac = s.frac_coords + np.round(prev.frac_coords - s.frac_coords)
        out.append(s.__class__(s.lattice, s.species, frac, site_properties=s.site_properties))
    return out


def _copy_endpoint_outcars(endpoints, first: Path, last: Path) -> None:
    if len(endpoints) != 2:
        raise InputError(f"endpoints must be (initial folder, final folder), got {endpoints!r}")
    for src, dest in zip(endpoints, (first, last)):
        path = find_output(src, "OUTCAR", required=False) if Path(src).is_dir() else None
        if path is None:
            raise InputError(f"no OUTCAR (or OUTCAR.gz) in endpoint folder {src}")
        shutil.copyfile(path, dest / path.name)


def _remove_stale_potcar(folder: Path) -> None:
    """A POTCAR.spec and a POTCAR of different preparations must not sit side by side."""
    for name in ("POTCAR", "POTCAR.spec"):
        if (folder / name).is_file():
            (folder / name).unlink()


def _write_json(path: Path, doc: dict) -> None:
    from pvatoms.io import write_json_atomic          # atomic, and never NaN/Inf
    write_json_atomic(path, doc)


def _nbands(folder: Path) -> int:
    from pymatgen.io.vasp.outputs import Vasprun

    path = find_output(folder, "vasprun.xml")
    return int(Vasprun(str(path), parse_dos=False, parse_eigen=False, parse_potcar_file=False)
               .parameters["NBANDS"])


def _link_or_copy(src: Path, dest: Path) -> None:
    if not src.is_file():
        raise VaspOutputError(f"no {src}: the SCF step of band-edges did not write its WAVECAR")
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def _vasp_job(cmd):
    from custodian.vasp.jobs import VaspJob
    return VaspJob(cmd, auto_npar=False, auto_gamma=False)


def _neb_job(cmd):
    from custodian.vasp.jobs import VaspNEBJob
    return VaspNEBJob(cmd, auto_npar=False, auto_gamma=False, half_kpts=False)


def _handlers(job: str) -> list:
    """custodian error handlers: VASP errors, electronic non-convergence, plus PotimErrorHandler
    for relaxations; NEB: VaspErrorHandler on the NEB log only (the other handlers read files of
    a single run that a NEB folder does not have)."""
    from custodian.vasp.handlers import (FrozenJobErrorHandler, MeshSymmetryErrorHandler,
                                         NonConvergingErrorHandler, PositiveEnergyErrorHandler,
                                         PotimErrorHandler, UnconvergedErrorHandler, VaspErrorHandler)
    if job == "neb":
        return [VaspErrorHandler(output_filename="neb_vasp.out")]
    handlers = [VaspErrorHandler(), MeshSymmetryErrorHandler(), UnconvergedErrorHandler(),
                NonConvergingErrorHandler(), PositiveEnergyErrorHandler(), FrozenJobErrorHandler()]
    if job == "relax":
        handlers.append(PotimErrorHandler())
    return handlers


def _validators() -> list:
    from custodian.vasp.validators import VasprunXMLValidator
    return [VasprunXMLValidator()]


def _run_custodian(folder: Path, job, handlers, validators, backend: VaspBackend) -> None:
    from custodian import Custodian
    Custodian(handlers, [job], validators=validators, max_errors=backend.max_errors,
              polling_time_step=backend.poll_seconds, monitor_freq=30,
              directory=str(folder)).run()


__all__ = ["VaspBackend", "locpot_path", "read_locpot", "read_metadata", "VaspOutputError"]
