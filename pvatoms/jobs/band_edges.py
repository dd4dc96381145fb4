"""Band-edge charge densities: where the holes (VBM) and the electrons (CBM) live.

The density of a band-edge state is the band-decomposed |ψ|² of the VBM (or CBM) band, summed
over all k-points with their weights (VASP's ``PARCHG`` with ``LSEPK = .FALSE.``), normalised to
one electron over the cell. From it the job reports how much of each state sits on each element
(and on each region, for structures with region labels such as an RP / perovskite boundary).

>>> from pvatoms.build import cspbbr3
>>> from pvatoms.calc import get_backend
>>> doc = run_band_edges(cspbbr3("cubic"), "cubic-edges", get_backend("gpaw"))  # doctest: +SKIP
>>> doc["band_edges"]["gap"], doc["data"]["fractions"]["vbm"]["Br"]             # doctest: +SKIP

Files written into the job folder: ``band_edges.gpw`` (GPAW, with wave functions), ``vbm.cube``,
``cbm.cube``. The cube files hold the density in electrons/Bohr³ (the cube-format convention, as
VESTA and GPAW expect); :func:`read_cube` gives it back in electrons/Å³.

Partition: every grid point goes to its nearest atom (periodic images included; a plain Voronoi
partition without atomic radii). Large atoms lose a little to their small neighbours, so read the
fractions as comparisons (VBM vs CBM, one region vs another), not as orbital populations.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import Bohr

from pvatoms.errors import InputError
from pvatoms.io import check_integer
from pvatoms.jobs.common import MAX_CHARGE, check_atoms, check_flag, resolve_backend
from pvatoms.geometry import density_integral, nearest_atom  # noqa: F401  (used below and by callers)
from pvatoms.io import read_cube, write_cube  # noqa: F401
from pvatoms.jobs.runner import run_job

GPW_FILE = "band_edges.gpw"
BANDS = ("vbm", "cbm")


# ---------------------------------------------------------------- densities from GPAW

def _edge_channels(edges: dict, name: str, tol: float = 0.01) -> tuple[int, list[int]]:
    """(band index, spin channels) of band edge ``name``. Spin-polarised: the channel holding the
    edge, plus the other one when its edge lies within ``tol`` eV and has the same band index
    (a non-magnetic cell)."""
    band, spin = edges[f"band_{name}"], edges[f"spin_{name}"]
    if edges["nspins"] == 1:
        return band, [0]
    i = 0 if name == "vbm" else 1
    other = 1 - spin
    same_band = edges["occupied_bands"][other] == edges["occupied_bands"][spin]
    if same_band and abs(edges["spin_edges"][other][i] - edges[name]) < tol:
        return band, [spin, other]
    return band, [spin]


def _symmetrise(calc, density: np.ndarray) -> tuple[np.ndarray, bool]:
    """Apply the crystal symmetry GPAW used to reduce the k-points, so that the sum over the
    irreducible k-points equals the sum over the whole Brillouin zone. Returns (density, done)."""
    try:
        dft = calc.dft
        symmetries = dft.ibzwfs.ibz.symmetries
        grid = dft.density.nt_sR.desc
    except AttributeError:
        return density, False
    if len(symmetries.rotation_scc) == 1:
        return density, True
    if tuple(grid.size_c) != density.shape:
        return density, False
    arr = grid.zeros()
    arr.data[:] = density
    arr.symmetrize(symmetries.rotation_scc, symmetries.translation_sc)
    return np.array(arr.data), True


def band_edge_densities(calc, bands=BANDS, normalise: bool = True, edges: dict | None = None) -> dict:
    """Band-edge densities of a converged GPAW calculation: ``{name: 3D array}`` in electrons/Å³
    on GPAW's (coarse) real-space grid.

    For each band edge, |ψ̃_nk|² of its band n is summed over the irreducible k-points with their
    weights (and over both spin channels of a non-magnetic spin-polarised cell), then symmetrised
    with the crystal symmetry, so the result equals the sum over the full Brillouin zone.

    Symmetrising also averages over degenerate partners: the threefold Pb 6p CBM of cubic
    CsPbBr3 at R (no spin-orbit coupling) comes out as the average of the three states, whatever
    combination the eigensolver returned for the band index.

    Normalisation: these are *pseudo* wave functions (PAW, no augmentation inside the atomic
    spheres), whose norm is not exactly one. With ``normalise=True`` (default) each density is
    scaled to integrate to exactly one electron; for cubic CsPbBr3 (PBE, 400 eV, a = 5.95 Å) the
    pseudo norm was 1.057 (VBM) and 1.061 (CBM), i.e. a correction of about 6 %.
    ``normalise=False`` returns the raw pseudo density (its norm is ``data['pseudo_norm']`` in
    the job's document).
    """
    from pvatoms.calc.gpaw_calc import band_edges as _band_edges

    edges = edges or _band_edges(calc)
    weights = np.asarray(calc.get_k_point_weights())
    cell = np.asarray(calc.get_atoms().cell)
    out = {}
    for name in bands:
        if name not in BANDS:
            raise InputError(f"unknown band edge {name!r}; valid choices: {', '.join(BANDS)}")
        band, spins = _edge_channels(edges, name)
        rho = None
        for s in spins:
            for k, w in enumerate(weights):
                psi = calc.get_pseudo_wave_function(band=band, kpt=k, spin=s)
                term = w * (psi.real ** 2 + psi.imag ** 2) / len(spins)
                rho = term if rho is None else rho + term
        rho, done = _symmetrise(calc, rho)
        if not done:
            warnings.warn(f"{name} density not symmetrised (no GPAW symmetry information for this "
                          "grid): it is the sum over the irreducible k-points only", stacklevel=2)
        if normalise:
            rho = rho / density_integral(rho, cell)
        out[name] = rho
    return out


# ---------------------------------------------------------------- cube files and partition

def fractions(atoms: Atoms, density: np.ndarray, labels=None, owner: np.ndarray | None = None) -> dict:
    """Fraction of ``density`` on each label (default: chemical element), nearest-atom partition.
    ``labels``: one label per atom (e.g. ``atoms.arrays['region']``). Fractions add up to 1."""
    owner = nearest_atom(atoms, density.shape) if owner is None else owner
    per_atom = np.bincount(owner.ravel(), weights=np.asarray(density).ravel(), minlength=len(atoms))
    total = per_atom.sum()
    labels = atoms.get_chemical_symbols() if labels is None else [str(x) for x in labels]
    out: dict = {}
    for lab, q in zip(labels, per_atom):
        out[lab] = out.get(lab, 0.0) + float(q / total)
    return {k: round(v, 6) for k, v in out.items()}


def analyse(atoms: Atoms, densities: dict) -> dict:
    """``integral`` (electrons), ``fractions`` per element and, when the atoms carry region
    labels, ``region_fractions`` for each band-edge density (electrons/Å³)."""
    data = {"integral": {}, "fractions": {}, "partition": "nearest atom (Voronoi, periodic)"}
    regions = atoms.arrays.get("region")
    if regions is not None:
        data["region_fractions"] = {}
    owner = None
    for name, rho in densities.items():
        if owner is None or owner.shape != rho.shape:
            owner = nearest_atom(atoms, rho.shape)
        data["integral"][name] = round(density_integral(rho, atoms.cell), 6)
        data["fractions"][name] = fractions(atoms, rho, owner=owner)
        if regions is not None:
            data["region_fractions"][name] = fractions(atoms, rho, labels=regions, owner=owner)
    return data


def _write_cubes(folder: Path, atoms: Atoms, densities: dict, doc: dict) -> None:
    for name, rho in densities.items():
        write_cube(folder / f"{name}.cube", atoms, rho)
        doc["files"][name] = f"{name}.cube"


# ---------------------------------------------------------------- the job

def run_band_edges(atoms: Atoms, folder, backend, bands=BANDS, force: bool = False,
                   charge: int = 0) -> dict:
    """Band edges and band-edge densities of ``atoms`` in ``folder``; returns the result document.

    GPAW: runs the SCF (charge ``charge`` e), writes ``band_edges.gpw``, fills ``energy`` (eV),
    ``energy_per_atom``, ``band_edges`` and writes ``<band>.cube``; ``bands`` are 'vbm' and/or
    'cbm'. VASP: converts the PARCHG files already in ``folder`` (see :func:`find_parchg`; any
    labels the VASP step used, e.g. ``PARCHG.defect``), and takes energy and band edges from
    the backend's ``parse`` (vasprun.xml) when the SCF outputs are there.

    ``data``: ``bands`` (band index per edge, 0-based), ``integral`` (electrons; 1 after
    normalisation), ``pseudo_norm`` (GPAW, before normalisation), ``fractions`` per element and
    ``region_fractions`` when the atoms have regions (nearest-atom partition), ``direct_gap``,
    ``kpts``, ``nelectrons`` (GPAW); ``parchg`` file names (VASP).

    A completed result in ``folder`` is returned without recomputing (unless ``force``); a failed
    SCF ends as a document with status 'failed' and the reason.
    """
    check_atoms(atoms)
    check_flag("force", force)
    backend = resolve_backend(backend)
    charge = check_integer("charge (e)", charge, -MAX_CHARGE, MAX_CHARGE)
    bands = (bands,) if isinstance(bands, str) else tuple(str(b) for b in bands)
    if not bands:
        raise InputError("band-edges needs at least one band; e.g. bands=('vbm', 'cbm')")
    if backend.name == "gpaw":
        for name in bands:
            if name not in BANDS:
                raise InputError(f"unknown band edge {name!r} for GPAW; valid choices: {', '.join(BANDS)}")

        def body(doc, folder):
            _gpaw_body(doc, folder, atoms, backend, bands, charge)
    elif backend.name == "vasp":
        for name in bands:
            if not re.fullmatch(r"[A-Za-z0-9_+-]+", name):
                raise InputError(f"band label {name!r} must use letters, digits, _ + - only")

        def body(doc, folder):
            _vasp_body(doc, folder, bands, backend, atoms, charge)
    else:
        raise InputError(f"band edges need a DFT backend; got {backend.name!r}; valid choices: gpaw, vasp")
    settings = {"bands": list(bands), "charge": charge}
    return run_job("band-edges", folder, atoms, backend, body, settings, force=force)


SCHEMA_EDGE_KEYS = ("vbm", "cbm", "gap", "direct", "k_vbm", "k_cbm", "fermi")


def _gpaw_body(doc: dict, folder: Path, atoms: Atoms, backend, bands, charge: int) -> None:
    from gpaw import KohnShamConvergenceError

    from pvatoms.calc.gpaw_calc import band_edges, write_gpw
    from pvatoms.schema import atoms_to_dict

    atoms = atoms.copy()
    atoms.calc = backend.calculator(directory=folder, charge=charge, atoms=atoms)
    try:
        energy = atoms.get_potential_energy()
    except KohnShamConvergenceError as exc:
        raise KohnShamConvergenceError(
            f"SCF did not converge within maxiter={backend.maxiter} iterations") from exc
    calc = atoms.calc
    doc["energy"], doc["energy_per_atom"] = float(energy), float(energy) / len(atoms)
    doc["structure"] = atoms_to_dict(atoms)
    write_gpw(calc, folder / GPW_FILE, mode="all")
    doc["files"]["gpw"] = GPW_FILE
    edges = band_edges(calc)
    doc["band_edges"] = {k: edges[k] for k in SCHEMA_EDGE_KEYS}
    raw = band_edge_densities(calc, bands, normalise=False, edges=edges)
    cell = np.asarray(atoms.cell)
    norms = {name: density_integral(rho, cell) for name, rho in raw.items()}
    densities = {name: rho / norms[name] for name, rho in raw.items()}
    _write_cubes(folder, atoms, densities, doc)
    doc["data"].update(analyse(atoms, densities))
    doc["data"]["bands"] = {name: edges[f"band_{name}"] for name in bands}
    doc["data"]["pseudo_norm"] = {name: round(v, 6) for name, v in norms.items()}
    doc["data"]["direct_gap"] = edges["direct_gap"]
    doc["data"]["kpts"] = list(backend.mesh(atoms))
    doc["data"]["nelectrons"] = float(calc.get_number_of_electrons())


# ---------------------------------------------------------------- VASP PARCHG files

def find_parchg(folder, bands=BANDS) -> dict:
    """The PARCHG file of each band edge in ``folder``: ``{name: (path, band index or None)}``.

    Looked for, in order: ``PARCHG.<name>.ALLK`` and ``PARCHG.<name>`` (e.g. ``PARCHG.vbm``);
    VASP's own ``PARCHG.<NNNN>.ALLK`` (LSEPB = .TRUE.) when there are exactly as many of them as
    band edges asked for (the lower band index is the VBM); a plain ``PARCHG`` for a single edge.
    Raises :class:`InputError` naming the expected files when none is found.
    """
    folder = Path(folder)
    found = {}
    for name in bands:
        for cand in (f"PARCHG.{name}.ALLK", f"PARCHG.{name}"):
            if (folder / cand).is_file():
                found[name] = (folder / cand, None)
                break
    missing = [b for b in bands if b not in found]
    if missing:
        numbered = sorted((int(m.group(1)), p) for p in folder.glob("PARCHG.*.ALLK")
                          if (m := re.fullmatch(r"PARCHG\.(\d+)\.ALLK", p.name)))
        ordered = [b for b in BANDS if b in bands]
        if not found and len(numbered) == len(bands) == len(ordered):
            found = {name: (p, idx - 1) for name, (idx, p) in zip(ordered, numbered)}
        elif len(bands) == 1 and (folder / "PARCHG").is_file():
            found = {bands[0]: (folder / "PARCHG", None)}
    missing = [b for b in bands if b not in found]
    if missing:
        expected = ", ".join(f"PARCHG.{b}.ALLK (or PARCHG.{b})" for b in missing)
        raise InputError(f"no band-decomposed charge density for {', '.join(missing)} in {folder}: "
                         f"expected {expected}, VASP's PARCHG.<band index>.ALLK (one per edge), "
                         "or a single PARCHG for a single edge")
    return found


def read_parchg(path) -> tuple[np.ndarray, Atoms]:
    """(density normalised to one electron, in electrons/Å³; atoms) from a VASP PARCHG file,
    which stores density × cell volume."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.vasp import Chgcar

    chg = Chgcar.from_file(str(path))
    data = np.asarray(chg.data["total"], dtype=float)
    atoms = AseAtomsAdaptor.get_atoms(chg.structure)
    total = data.sum() / data.size                    # electrons in the file
    if total <= 0:
        raise InputError(f"{path} holds no charge (integral {total:g} electrons)")
    return data / total / atoms.get_volume(), atoms


def _vasp_body(doc: dict, folder: Path, bands, backend=None, expected: Atoms | None = None,
               charge: int = 0) -> None:
    from pvatoms.calc.vasp_parse import check_run_matches
    from pvatoms.calc.vasp_sets import structure_from_atoms
    files = find_parchg(folder, bands)
    densities, indices, atoms = {}, {}, None
    for name, (path, index) in files.items():
        densities[name], atoms_b = read_parchg(path)
        if expected is not None:          # a PARCHG of another structure is not this job's
            check_run_matches(Path(path).parent, expected, [structure_from_atoms(atoms_b)], "static")
        indices[name] = index
        atoms = atoms_b if atoms is None else atoms
    _copy_regions(doc.get("input_structure"), atoms)
    _write_cubes(folder, atoms, densities, doc)
    doc["data"].update(analyse(atoms, densities))
    doc["data"]["bands"] = indices
    doc["data"]["parchg"] = {name: Path(p).name for name, (p, _) in files.items()}
    _vasp_energy_and_edges(doc, folder, atoms, backend, expected, charge)


def _copy_regions(structure: dict | None, atoms: Atoms) -> None:
    """Give the PARCHG atoms the region labels of the input structure when the atoms are the same
    and in the same order (VASP keeps the POSCAR order)."""
    if not structure:
        return
    labels = (structure.get("arrays") or {}).get("region")
    if labels is not None and structure["symbols"] == atoms.get_chemical_symbols():
        atoms.arrays["region"] = np.array(labels)


def _vasp_energy_and_edges(doc: dict, folder: Path, atoms: Atoms, backend, expected: Atoms | None = None,
                           charge: int = 0) -> None:
    """Energy and band edges of the VASP SCF when its ``vasprun.xml`` (or .gz) is in the folder:
    through the backend's ``parse`` when it has one (checked to be this job's run, provenance
    from the run's INCAR), else read directly with pymatgen."""
    runs = [p for p in (folder / "vasprun.xml", folder / "vasprun.xml.gz") if p.is_file()]
    if not runs:
        return
    if hasattr(backend, "parse"):
        from pvatoms.schema import apply_run_settings
        out = backend.parse("band-edges", folder, expected=expected, charge=charge)
        for key in ("energy", "energy_per_atom", "band_edges", "structure"):
            if out.get(key) is not None:
                doc[key] = out[key]
        for label, path in (out.get("files") or {}).items():
            doc["files"].setdefault(label, path)
        apply_run_settings(doc, (out.get("data") or {}).get("run_settings"))
        return
    from pymatgen.io.vasp import Vasprun

    run = Vasprun(str(runs[0]), parse_dos=False, parse_potcar_file=False)
    gap, cbm, vbm, direct = run.eigenvalue_band_properties
    doc["energy"] = float(run.final_energy)
    doc["energy_per_atom"] = doc["energy"] / len(atoms)
    doc["band_edges"] = {"vbm": float(vbm), "cbm": float(cbm), "gap": float(gap), "direct": bool(direct),
                         "k_vbm": None, "k_cbm": None, "fermi": float(run.efermi)}


__all__ = ["run_band_edges", "band_edge_densities", "write_cube", "read_cube", "density_integral",
           "nearest_atom", "fractions", "analyse", "find_parchg", "read_parchg"]
