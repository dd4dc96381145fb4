"""Read VASP outputs into the fields of a pvatoms result document.

Units and conventions
---------------------
- ``energy``: energy(sigma→0) in eV, pymatgen's ``Vasprun.final_energy`` (the ``e_0_energy`` of
  the last ionic step, with pymatgen's fix for the VASP bug that printed it wrongly in
  vasprun.xml); the same number as "energy(sigma->0)" in the OUTCAR.
- ``forces``: eV/Å, one row per atom, in the atom order of the POSCAR.
- ``stress``: eV/Å³, Voigt order xx yy zz yz xz xy, in the ASE sign convention (positive =
  tensile: the cell wants to shrink). VASP prints the stress in kBar with the opposite sign
  (positive = compressive, the cell wants to expand), so stress = -0.1 GPa × value in kBar.
- ``band_edges``: a state counts as occupied when its occupation is above 1/2; ``vbm``/``cbm`` are
  the highest occupied / lowest empty Kohn-Sham eigenvalues (eV) over all k-points and spins
  (in a defect supercell they are the defect levels when these lie in the gap); ``direct`` when
  the smallest vertical gap equals the gap within 1 meV; ``k_vbm``/``k_cbm`` fractional.

Missing or unreadable outputs raise :class:`VaspOutputError` naming the file.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
from ase import units

from pvatoms.schema import atoms_from_dict, atoms_to_dict, neb_data

#: Metadata written by ``VaspBackend.prepare`` next to the inputs.
METADATA_FILE = "pvatoms-vasp.json"
#: Compressed variants VASP outputs are found as.
COMPRESSED = ("", ".gz", ".bz2", ".xz", ".Z")
#: kBar → eV/Å³ (1 kBar = 0.1 GPa).
KBAR = 0.1 * units.GPa
#: Tolerance (eV) for calling a gap direct.
DIRECT_TOL = 1e-3

OUTPUT_LABELS = ("vasprun", "OUTCAR", "LOCPOT", "CHGCAR", "PARCHG", "WAVECAR", "CONTCAR")


class VaspOutputError(RuntimeError):
    """A VASP output file is missing or cannot be read."""


# ---------------------------------------------------------------- files

def find_output(folder, name: str, required: bool = True) -> Path | None:
    """``folder/name`` or its compressed variant (.gz, .bz2, .xz, .Z); None or
    :class:`VaspOutputError` when absent."""
    folder = Path(folder)
    for ext in COMPRESSED:
        path = folder / f"{name}{ext}"
        if path.is_file() and path.stat().st_size > 0:
            return path
    if required:
        raise VaspOutputError(f"no {name} (or {name}.gz) in {folder}: the VASP run has not finished "
                              "there, or its outputs were moved")
    return None


def locpot_path(folder) -> Path:
    """Path of the LOCPOT (LVHAR = True: the Hartree potential) in ``folder``."""
    return find_output(folder, "LOCPOT")


def read_locpot(folder):
    """pymatgen :class:`~pymatgen.io.vasp.outputs.Locpot` of ``folder`` (potential in eV on the
    FFT grid), e.g. for Freysoldt corrections of charged defects."""
    from pymatgen.io.vasp.outputs import Locpot

    path = locpot_path(folder)
    try:
        return Locpot.from_file(str(path))
    except Exception as exc:  # truncated or foreign file
        raise VaspOutputError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc


def output_files(folder) -> dict:
    """``{label: path relative to folder}`` of the VASP outputs present (vasprun, OUTCAR, LOCPOT,
    CHGCAR, WAVECAR, CONTCAR, and every PARCHG* as PARCHG or PARCHG.<label>)."""
    folder = Path(folder)
    names = {"vasprun": "vasprun.xml", "OUTCAR": "OUTCAR", "LOCPOT": "LOCPOT", "CHGCAR": "CHGCAR",
             "WAVECAR": "WAVECAR", "CONTCAR": "CONTCAR", "PARCHG": "PARCHG"}
    files = {}
    for label, name in names.items():
        path = find_output(folder, name, required=False)
        if path is not None:
            files[label] = path.name
    for path in sorted(folder.glob("PARCHG.*")):
        label = re.sub(r"(\.gz|\.bz2|\.xz|\.Z)$", "", path.name)
        files[label] = path.name
    return files


def read_metadata(folder) -> dict:
    """The ``pvatoms-vasp.json`` written by prepare, or {} when absent."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return {}
    with open(path) as fh:
        return json.load(fh)


# ---------------------------------------------------------------- readers

def read_vasprun(folder):
    """pymatgen Vasprun of ``folder`` (eigenvalues and DOS, without projections)."""
    from pymatgen.io.vasp.outputs import Vasprun

    path = find_output(folder, "vasprun.xml")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*POTCAR.*")
            return Vasprun(str(path), parse_dos=True, parse_eigen=True, parse_projected_eigen=False,
                           parse_potcar_file=False)
    except Exception as exc:
        raise VaspOutputError(f"cannot read {path} (incomplete or corrupt vasprun.xml?): "
                              f"{type(exc).__name__}: {exc}") from exc


def read_outcar(folder, required: bool = False):
    """pymatgen Outcar of ``folder`` (None when absent and not ``required``)."""
    from pymatgen.io.vasp.outputs import Outcar

    path = find_output(folder, "OUTCAR", required=required)
    if path is None:
        return None
    try:
        return Outcar(str(path))
    except Exception as exc:
        raise VaspOutputError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc


def zval_from_outcar(outcar) -> dict | None:
    """{element: ZVAL} from the POTCAR headers in the OUTCAR, or None."""
    if outcar is None:
        return None
    try:
        outcar.read_pseudo_zval()
        return dict(outcar.zval_dict)
    except Exception:
        return None


# ---------------------------------------------------------------- conversions

def stress_to_voigt(stress_kbar) -> list:
    """VASP stress tensor (3x3, kBar, positive = compressive) → ASE Voigt stress in eV/Å³
    (xx yy zz yz xz xy, positive = tensile)."""
    s = -np.asarray(stress_kbar, dtype=float) * KBAR
    return [float(x) for x in (s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1])]


def band_edges_from_eigenvalues(eigenvalues: dict, kpoints, fermi) -> dict | None:
    """Band edges from pymatgen's ``Vasprun.eigenvalues`` ({Spin: array (nk, nb, 2) of energy,
    occupation}) and the fractional ``kpoints``; see the module notes. None without eigenvalues."""
    if not eigenvalues:
        return None
    data = np.array([np.asarray(v) for v in eigenvalues.values()])  # (nspin, nk, nb, 2)
    eig, occ = data[..., 0], data[..., 1]
    occupied = occ > 0.5
    if not occupied.any():
        return None
    e_occ = np.where(occupied, eig, -np.inf)
    iv = np.unravel_index(np.argmax(e_occ), eig.shape)
    kpts = np.asarray(kpoints, dtype=float)
    edges = {"vbm": float(eig[iv]), "cbm": None, "gap": None, "direct": None,
             "k_vbm": np.round(kpts[iv[1]], 6).tolist(), "k_cbm": None,
             "fermi": float(fermi) if fermi is not None else None}
    if occupied.all():
        return edges  # no empty band computed
    e_emp = np.where(occupied, np.inf, eig)
    ic = np.unravel_index(np.argmin(e_emp), eig.shape)
    gap = max(float(eig[ic]) - edges["vbm"], 0.0)
    vertical = np.min(e_emp.min(axis=(0, 2)) - e_occ.max(axis=(0, 2)))
    edges.update(cbm=float(eig[ic]), gap=gap, direct=bool(abs(max(vertical, 0.0) - gap) < DIRECT_TOL),
                 k_cbm=np.round(kpts[ic[1]], 6).tolist())
    return edges


def kpoints_description(vasprun) -> dict:
    """Mesh style, divisions, shift and the number of irreducible k-points of a run."""
    kp = vasprun.kpoints
    out = {"style": str(getattr(kp.style, "name", kp.style)), "n_irreducible": len(vasprun.actual_kpoints)}
    if kp.kpts and len(kp.kpts) == 1 and len(kp.kpts[0]) == 3 and str(out["style"]).lower() in (
            "gamma", "monkhorst"):
        out["mesh"] = [int(n) for n in kp.kpts[0]]
        out["shift"] = [float(x) for x in (kp.kpts_shift or (0, 0, 0))]
    return out


def final_atoms(structure, metadata: dict):
    """ASE atoms of a final pymatgen ``structure``, with the per-atom labels (region, site ...)
    and provenance of the prepared input carried over when the atoms match one to one."""
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    for key in list(atoms.arrays):
        if key not in ("numbers", "positions"):
            del atoms.arrays[key]
    atoms.info.clear()
    atoms.set_constraint()
    source = metadata.get("input_structure")
    if source and source.get("symbols") == atoms.get_chemical_symbols():
        ref = atoms_from_dict(source)
        for key, val in ref.arrays.items():
            if key not in ("numbers", "positions"):
                atoms.arrays[key] = val
        if ref.info.get("provenance") is not None:
            atoms.info["provenance"] = ref.info["provenance"]
    return atoms


def electron_charge(nelect: float | None, structure, outcar, metadata: dict):
    """(neutral electron count, charge in e) of a run: neutral count from the OUTCAR's ZVAL,
    else from the metadata prepare wrote; charge = neutral − NELECT. (None, None) when unknown."""
    neutral = None
    zval = zval_from_outcar(outcar)
    if zval:
        try:
            neutral = sum(zval[site.specie.symbol] for site in structure)
        except KeyError:
            neutral = None
    if neutral is None:
        neutral = metadata.get("neutral_nelect")
    if neutral is None or nelect is None:
        return neutral, None
    return float(neutral), int(round(float(neutral) - float(nelect)))


# ---------------------------------------------------------------- what the run actually did

_GGA_NAMES = {"PE": "PBE", "PS": "PBESOL", "91": "PW91", "RP": "RPBE", "AM": "AM05", "RE": "revPBE",
              "CA": "LDA", "PZ": "LDA"}
_PRETTY = {"PBESOL": "PBEsol", "REVPBE": "revPBE", "R2SCAN": "r2SCAN"}


def run_functional(parameters: dict, potcar_symbols=()) -> str:
    """Name of the exchange-correlation functional a VASP run used, from its parameters
    (vasprun.xml, defaults included): hybrids by LHFCALC, AEXX and HFSCREEN (HSE06: 25 % exact
    exchange screened at 0.2-0.21 Å^-1; PBE0: unscreened), meta-GGAs by METAGGA, GGAs by GGA
    (``--``: the POTCARs' own, PBE for PAW_PBE). Names follow the backend's (PBE, PBEsol, HSE06)."""
    p = parameters or {}
    gga = str(p.get("GGA") or "--").strip().upper()
    if gga in ("--", "", "NONE"):
        gga = "PE" if any("PBE" in str(s) for s in potcar_symbols) or not potcar_symbols else "CA"
    base = _GGA_NAMES.get(gga, f"GGA={gga}")
    if p.get("LHFCALC"):
        aexx = float(p.get("AEXX") if p.get("AEXX") is not None else 0.25)
        screen = float(p.get("HFSCREEN") or 0.0)
        if abs(aexx - 0.25) < 1e-6 and base == "PBE":
            if 0.19 <= screen <= 0.21:
                return "HSE06"
            if screen == 0.0:
                return "PBE0"
        return f"hybrid {_PRETTY.get(base, base)} (AEXX={aexx:g}, HFSCREEN={screen:g})"
    meta = str(p.get("METAGGA") or "").strip().upper()
    if meta and meta not in ("--", "NONE", "FALSE"):
        return _PRETTY.get(meta, meta)
    return _PRETTY.get(base.upper(), base)


def run_settings(run) -> dict:
    """The settings of the VASP run itself (not of the plan): ``functional`` (see
    :func:`run_functional`), ``soc`` (LSORBIT), ``encut`` (eV, ENCUT of the INCAR, else ENMAX),
    ``spin`` (ISPIN 2), ``kpoints`` (the mesh when the KPOINTS file is one), ``aexx`` /
    ``hfscreen`` (hybrids), ``ldau``."""
    p, incar = run.parameters or {}, run.incar or {}
    encut = incar.get("ENCUT", p.get("ENCUT") or p.get("ENMAX"))
    out = {"functional": run_functional(p, list(run.potcar_symbols or ())),
           "soc": bool(p.get("LSORBIT") or incar.get("LSORBIT")),
           "encut": float(encut) if encut is not None else None,
           "spin": int(p.get("ISPIN") or 1) == 2,
           "kpoints": kpoints_description(run).get("mesh"),
           "ldau": bool(p.get("LDAU") or incar.get("LDAU"))}
    if p.get("LHFCALC"):
        out.update(aexx=float(p.get("AEXX") or 0.25), hfscreen=float(p.get("HFSCREEN") or 0.0))
    return out


# ---------------------------------------------------------------- outputs of this job, not another's

#: How far the run's structure may be from the job's input (Å for positions, relative for cell
#: lengths): a static / band-edges / phonon step computes its input as given; a relaxation
#: moves atoms and the cell (and custodian may restart it from a CONTCAR).
MATCH_TOLERANCE = {"static": (0.1, 0.01), "relax": (1.5, 0.2), "neb": (np.inf, 0.01)}


def _mismatch(expected, structure, job: str) -> str | None:
    """Why the pymatgen ``structure`` is not the job's input ``expected`` (ase.Atoms), or None."""
    got = [site.specie.symbol for site in structure]
    want = expected.get_chemical_symbols()
    if len(got) != len(want):
        return (f"{len(got)} atoms ({structure.composition.formula.replace(' ', '')}) where the job's "
                f"input has {len(want)} ({expected.get_chemical_formula()})")
    if sorted(got) != sorted(want):
        return (f"composition {structure.composition.formula.replace(' ', '')} where the job's input is "
                f"{expected.get_chemical_formula()}")
    if got != want:
        k = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
        return f"another atom order (atom {k} is {got[k]} there, {want[k]} in the input; a sorted POSCAR?)"
    pos_tol, cell_tol = MATCH_TOLERANCE.get(job, MATCH_TOLERANCE["static"])
    a0 = np.linalg.norm(np.asarray(expected.cell), axis=1)
    a1 = np.linalg.norm(structure.lattice.matrix, axis=1)
    rel = float(np.max(np.abs(a1 - a0) / np.where(a0 > 0, a0, 1.0)))
    if rel > cell_tol:
        return (f"another cell (lattice lengths {np.round(a1, 3).tolist()} Å against the input's "
                f"{np.round(a0, 3).tolist()} Å, {100 * rel:.1f} % apart; at most {100 * cell_tol:g} % for a {job})")
    d = structure.frac_coords - expected.get_scaled_positions(wrap=False)
    d -= np.round(d)
    dist = np.linalg.norm(d @ np.asarray(expected.cell), axis=1)
    k = int(np.argmax(dist))
    if dist[k] > pos_tol:
        return (f"other positions (atom {k}, {want[k]}, is {dist[k]:.2f} Å from its input position; at "
                f"most {pos_tol:g} Å for a {job})")
    return None


def check_run_matches(folder, expected, structures, job: str = "static", charge: int | None = None,
                      run_charge: int | None = None, outcar=None) -> None:
    """Refuse (:class:`~pvatoms.errors.InputError`) VASP outputs that are not those of the job:
    the run's structure (any of ``structures``, e.g. its initial and final one) must have the
    composition, the atom order and — within :data:`MATCH_TOLERANCE` — the cell and positions of
    ``expected`` (the job's input atoms); its charge (neutral count − NELECT) must be ``charge``;
    the POTCARs named in the OUTCAR must be of the structure's elements."""
    from pvatoms.errors import InputError
    folder = Path(folder)
    if expected is not None:
        reasons = [_mismatch(expected, st, job) for st in structures]
        if all(reasons):
            raise InputError(f"the VASP outputs in {folder} are not those of this job: the run has "
                             f"{reasons[0]}. Remove them (or use another folder) to compute this "
                             "structure, or give the structure they belong to")
    if outcar is not None and structures:
        zval = zval_from_outcar(outcar)
        elements = {site.specie.symbol for site in structures[0]}
        if zval and set(zval) != elements:
            raise InputError(f"the OUTCAR in {folder} is of another system (POTCARs of "
                             f"{', '.join(sorted(zval))}; the run's structure holds {', '.join(sorted(elements))})")
    if charge is not None:
        if run_charge is None:
            raise InputError(f"cannot tell the charge of the VASP run in {folder} (no OUTCAR ZVAL, no "
                             f"pvatoms-vasp.json, unknown POTCAR valences), so it cannot be checked against "
                             f"the job's charge {int(charge):+d}")
        if int(run_charge) != int(charge):
            raise InputError(f"the VASP run in {folder} is of charge {int(run_charge):+d} (from its NELECT), "
                             f"the job asks for charge {int(charge):+d}: not this job's outputs")


def _valence_from_potcars(potcar_symbols, structure) -> float | None:
    """Neutral electron count from pvatoms' valence table and the run's POTCAR titles
    ('PAW_PBE Cs_sv 08Apr2002'), or None."""
    from pvatoms.calc.vasp_sets import VALENCE_ELECTRONS
    zval = {}
    for title in potcar_symbols or ():
        parts = str(title).split()
        if len(parts) < 2 or parts[1] not in VALENCE_ELECTRONS:
            return None
        zval[parts[1].split("_")[0]] = VALENCE_ELECTRONS[parts[1]]
    try:
        return float(sum(zval[site.specie.symbol] for site in structure))
    except KeyError:
        return None


# ---------------------------------------------------------------- one run, and NEB

def parse_run(folder, expected=None, charge: int | None = None, job: str = "static") -> dict:
    """Result-document fields of the VASP run in ``folder`` (relax, static, phonons, or the SCF
    step of band-edges). With ``expected`` (the job's input atoms) and/or ``charge`` (e), the
    outputs are first checked to be this job's (:func:`check_run_matches`). ``data`` holds
    ``run_settings`` (:func:`run_settings`): what the run did, for the provenance."""
    folder = Path(folder)
    run = read_vasprun(folder)
    outcar = read_outcar(folder)
    meta = read_metadata(folder)
    last = run.ionic_steps[-1] if run.ionic_steps else {}
    if "forces" not in last:
        raise VaspOutputError(f"{find_output(folder, 'vasprun.xml')} has no completed ionic step")
    nelect = run.parameters.get("NELECT")
    neutral, run_charge = electron_charge(nelect, run.final_structure, outcar, meta)
    if run_charge is None and nelect is not None:
        neutral = _valence_from_potcars(run.potcar_symbols, run.final_structure)
        run_charge = int(round(neutral - float(nelect))) if neutral is not None else None
    if expected is not None or charge is not None:
        check_run_matches(folder, expected, [run.initial_structure, run.final_structure],
                          "relax" if job == "relax" else "static", charge, run_charge, outcar)
    charge = run_charge
    atoms = final_atoms(run.final_structure, meta)
    energy = float(run.final_energy)
    fermi = run.efermi if run.efermi is not None else (outcar.efermi if outcar is not None else None)
    data = {
        "nelect": float(nelect) if nelect is not None else None,
        "converged_electronic": bool(run.converged_electronic),
        "converged_ionic": bool(run.converged_ionic),
        "incar": dict(run.incar),
        "kpoints": kpoints_description(run),
        "vasp_version": run.vasp_version,
        "potcar_symbols": list(run.potcar_symbols),
        "ionic_steps": len(run.ionic_steps),
        "run_settings": run_settings(run),
    }
    if charge is not None:
        data["charge"] = charge
        data["neutral_nelect"] = neutral
    for key in ("displacement_id", "bands"):
        if meta.get(key) is not None:
            data[key] = meta[key]
    stress = last.get("stress")
    return {
        "energy": energy,
        "energy_per_atom": energy / len(atoms),
        "forces": np.asarray(last["forces"], dtype=float).tolist(),
        "stress": stress_to_voigt(stress) if stress is not None else None,
        "structure": atoms_to_dict(atoms),
        "band_edges": band_edges_from_eigenvalues(run.eigenvalues, run.actual_kpoints, fermi),
        "files": output_files(folder),
        "data": data,
    }


def image_folders(folder) -> list[Path]:
    """The NEB image folders 00, 01, ..., in order."""
    folder = Path(folder)
    dirs = sorted((p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"\d{2,}", p.name)),
                  key=lambda p: int(p.name))
    if len(dirs) < 3:
        raise VaspOutputError(f"{folder} is not a NEB folder: it needs image folders 00, 01, ..., "
                              f"at least three, found {[p.name for p in dirs] or 'none'}")
    return dirs


def _image_energy(path: Path, endpoint: bool) -> float:
    from pymatgen.io.vasp.outputs import Outcar

    found = find_output(path, "OUTCAR", required=False)
    if found is None:
        hint = (" (endpoints are not computed by the NEB run: pass endpoints=(initial_folder, "
                "final_folder) to prepare, or copy the relaxed endpoint's OUTCAR there)") if endpoint else ""
        raise VaspOutputError(f"no OUTCAR (or OUTCAR.gz) in {path}{hint}")
    try:
        energy = Outcar(str(found)).final_energy
    except Exception as exc:
        raise VaspOutputError(f"cannot read {found}: {type(exc).__name__}: {exc}") from exc
    if energy is None:
        raise VaspOutputError(f"{found} holds no energy(sigma->0): the image did not finish a step")
    return float(energy)


def _image_structure(path: Path):
    from pymatgen.io.vasp.inputs import Poscar

    for name in ("CONTCAR", "POSCAR"):
        found = find_output(path, name, required=False)
        if found is not None:
            try:
                return Poscar.from_file(str(found), check_for_potcar=False).structure
            except Exception:
                continue
    raise VaspOutputError(f"no readable CONTCAR or POSCAR in {path}")


def parse_dielectric(folder) -> dict:
    """The dielectric tensors of a DFPT run (LEPSILON; IBRION 7/8 for the ionic part), 3x3:
    ``electronic`` (ε∞, ion-clamped, with local-field effects), ``ionic`` (None without
    IBRION 7/8) and ``total`` (their sum: the static ε that screens a relaxed charged defect)."""
    run = read_vasprun(folder)
    eps = getattr(run, "epsilon_static", None)       # pymatgen: an array, or [] when absent
    if eps is None or len(eps) == 0:
        raise VaspOutputError(f"{find_output(folder, 'vasprun.xml')} holds no dielectric tensor "
                              "(LEPSILON = True needed)")
    electronic = np.asarray(eps, dtype=float)
    if electronic.shape != (3, 3) or not np.isfinite(electronic).all():
        raise VaspOutputError(f"the dielectric tensor of {find_output(folder, 'vasprun.xml')} is not a finite 3x3 "
                              f"tensor: {electronic.tolist()}")
    ionic = getattr(run, "epsilon_ionic", None)
    ionic = np.asarray(ionic, dtype=float) if ionic is not None and len(ionic) else None
    return {"electronic": electronic.tolist(), "ionic": ionic.tolist() if ionic is not None else None,
            "total": (electronic + ionic).tolist() if ionic is not None else None,
            "method": "VASP DFPT (LEPSILON" + (", IBRION 7/8: Born charges and Γ force constants)" if ionic is not None
                                            else "; no ionic part)")}


def parse_neb(folder, expected=None) -> dict:
    """NEB results: ``images`` [{structure, energy (eV)}], and in ``data`` the energies, the
    energies relative to the initial state, ``barrier_forward`` (max − first, eV),
    ``barrier_backward`` (max − last, eV), ``saddle_image`` and the rest of the NEB key set
    (:func:`pvatoms.schema.neb_data`). Image energies are the
    energy(sigma→0) of each image folder's OUTCAR (endpoints: the copied endpoint OUTCARs).
    ``expected``: the job's (initial, final) endpoints; every image must then hold their atoms in
    their order, the first and last images must be those endpoints (relaxation tolerance) and
    each OUTCAR must be of their elements (:func:`check_run_matches`)."""
    folder = Path(folder)
    meta = read_metadata(folder)
    dirs = image_folders(folder)
    energies, images, frames = [], [], []
    for i, path in enumerate(dirs):
        energy = _image_energy(path, endpoint=i in (0, len(dirs) - 1))
        structure = _image_structure(path)
        if expected is not None:
            ref = expected[0] if i < len(dirs) - 1 else expected[1]
            job = "relax" if i in (0, len(dirs) - 1) else "neb"
            check_run_matches(path, ref, [structure], job,
                              outcar=read_outcar(path) if job != "neb" else None)
        atoms = final_atoms(structure, meta)
        energies.append(energy)
        frames.append(atoms)
        images.append({"structure": atoms_to_dict(atoms), "energy": energy})
    incar = folder / "INCAR"
    climb, settings = None, None
    if incar.is_file():
        from pymatgen.io.vasp import Incar
        tags = Incar.from_file(str(incar))
        climb = bool(tags.get("LCLIMB", False))
        settings = {"functional": run_functional(tags), "soc": bool(tags.get("LSORBIT", False)),
                    "encut": float(tags["ENCUT"]) if tags.get("ENCUT") is not None else None}
    data = neb_data(frames, energies, climb=climb)
    if settings is not None:
        data["run_settings"] = settings
    if meta.get("charge") is not None:
        data["charge"] = meta["charge"]
    files = {f"OUTCAR-{p.name}": str(find_output(p, "OUTCAR").relative_to(folder)) for p in dirs}
    saddle = data["saddle_image"]
    return {"images": images, "data": data, "files": files, "energy": energies[saddle],
            "structure": images[saddle]["structure"]}


__all__ = ["parse_dielectric", "VaspOutputError", "find_output", "locpot_path", "read_locpot", "parse_run", "parse_neb",
           "band_edges_from_eigenvalues", "stress_to_voigt", "output_files", "METADATA_FILE"]
