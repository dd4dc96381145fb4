"""Phonons by finite displacements (phonopy): band structure along the standard path (seekpath),
density of states, and a plain report of imaginary modes.

The work splits into three steps so a workflow can fan the displacements out:
:func:`phonon_displacements` -> forces of each displaced supercell -> :func:`phonon_analysis`.
:func:`phonons` does all three in one job folder::

    folder/phonopy_params.yaml   displacements + forces (reload with phonopy.load)
    folder/band.yaml, phonons.png, result.json

``data`` of the result document: ``supercell_matrix``, ``displacement`` (Å), ``n_displacements``,
``band`` (labels, distances, frequencies in THz), ``dos`` (frequency points THz, states),
``imaginary_modes`` (each: q (fractional, primitive reciprocal basis), label of the special point
where there is one, frequency in THz and cm^-1), ``min_frequency`` (THz), ``dynamically_stable``,
``summary`` (one sentence).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms.build.common import supercell_for_min_length
from pvatoms.errors import InputError
from pvatoms.io import check_integer, check_integers, check_number
from pvatoms.jobs.common import check_atoms, check_flag, resolve_backend
from pvatoms.jobs.runner import run_job

THZ_TO_CM = 33.35641
#: Limits of the phonon supercell: repeats per axis, min_length (Å), atoms in the supercell.
MAX_REPEATS, MAX_MIN_LENGTH, MAX_SUPERCELL_ATOMS = 20, 60.0, 5000
#: Frequencies below -IMAGINARY_TOL (THz) count as imaginary (numerical noise near Γ is smaller).
IMAGINARY_TOL = 0.1


def _to_phonopy(atoms: Atoms):
    from phonopy.structure.atoms import PhonopyAtoms
    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=np.array(atoms.cell),
                        scaled_positions=atoms.get_scaled_positions())


def _to_ase(ph_atoms) -> Atoms:
    return Atoms(symbols=ph_atoms.symbols, cell=ph_atoms.cell,
                 scaled_positions=ph_atoms.scaled_positions, pbc=True)


def phonon_displacements(atoms: Atoms, supercell=None, min_length: float = 10.0,
                         displacement: float = 0.01):
    """Phonopy object and the displaced supercells (ase.Atoms) of ``atoms``.

    supercell : diagonal repeats (A, B, C); default: smallest with every cell height >=
        ``min_length`` Å. displacement : Å.
    """
    from phonopy import Phonopy
    check_atoms(atoms)
    check_number("displacement", displacement, 0.001, 0.1, unit="Å")
    if supercell is not None:
        reps = check_integers("phonon supercell", supercell, 3, 1, MAX_REPEATS)
    else:
        check_number("min_length", min_length, 0, MAX_MIN_LENGTH, low_open=True, unit="Å")
        reps = tuple(supercell_for_min_length(atoms, min_length))
    natoms = len(atoms) * int(np.prod(reps))
    if natoms > MAX_SUPERCELL_ATOMS:
        raise InputError(f"phonon supercell {reps} of {len(atoms)} atoms holds {natoms} atoms; at most "
                         f"{MAX_SUPERCELL_ATOMS} (give a smaller supercell or min_length)")
    ph = Phonopy(_to_phonopy(atoms), supercell_matrix=np.diag(reps), primitive_matrix="auto")
    ph.generate_displacements(distance=displacement)
    return ph, [_to_ase(s) for s in ph.supercells_with_displacements]


def phonon_analysis(ph, folder: Path | None = None, npoints: int = 51, mesh: float = 30.0) -> dict:
    """Force constants, band structure, DOS and imaginary modes of a phonopy object whose
    ``forces`` are set. Writes band.yaml and phonons.png into ``folder`` when given.
    ``npoints``: q-points per band segment (2-1000); ``mesh``: DOS mesh density (phonopy's
    length, Å, 1-200)."""
    check_integer("npoints", npoints, 2, 1000)
    check_number("mesh", mesh, 1, 200, unit="Å")
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    ph.auto_band_structure(npoints=npoints, write_yaml=folder is not None,
                           filename=str(Path(folder) / "band.yaml") if folder else "band.yaml")
    bs = ph.get_band_structure_dict()
    labels = [_plain_label(x) for x in (ph.band_structure.labels or [])]
    ph.run_mesh(mesh)
    ph.run_total_dos()
    dos = ph.get_total_dos_dict()
    modes = _imaginary_modes(bs, labels)
    freqs = np.concatenate([np.ravel(f) for f in bs["frequencies"]])
    fmin = float(min(freqs.min(), np.min(ph.mesh.frequencies)))
    stable = fmin > -IMAGINARY_TOL
    if stable:
        summary = f"no imaginary modes (lowest frequency {fmin:.3f} THz): dynamically stable"
    else:
        worst = min(modes, key=lambda m: m["frequency_THz"])
        where = worst["label"] or f"q = {worst['q']}"
        summary = (f"{len(modes)} imaginary mode(s) on the band path; largest {worst['frequency_THz']:.2f} THz "
                   f"({worst['frequency_cm-1']:.0f} cm^-1) at {where}: dynamically unstable there")
    if folder is not None:
        _plot(bs, labels, dos, Path(folder) / "phonons.png")
    return {
        "band": {"labels": labels,
                 "distances": [np.asarray(d).tolist() for d in bs["distances"]],
                 "frequencies": [np.asarray(f).tolist() for f in bs["frequencies"]]},
        "dos": {"frequency_points": np.asarray(dos["frequency_points"]).tolist(),
                "total_dos": np.asarray(dos["total_dos"]).tolist()},
        "imaginary_modes": modes, "min_frequency": fmin, "dynamically_stable": bool(stable),
        "summary": summary,
    }


def _plain_label(label: str) -> str:
    """'$\\mathrm{M}$' -> 'M', '$\\Gamma$' -> 'Γ'."""
    out = label.replace("$", "").replace("\\mathrm{", "").replace("}", "").replace("{", "")
    return out.replace("\\Gamma", "Γ").replace("GAMMA", "Γ").strip()


def _imaginary_modes(bs, labels) -> list[dict]:
    """Imaginary modes on the band path: the lowest branch at each q-point below -IMAGINARY_TOL,
    with the name of the special point where the q-point is one (segment ends, in path order).
    Returns the special points when any is imaginary, else the five lowest q-points."""
    ends = []
    for seg in bs["qpoints"]:
        ends += [tuple(np.round(seg[0], 4)), tuple(np.round(seg[-1], 4))]
    ends = [q for i, q in enumerate(ends) if i == 0 or q != ends[i - 1]]
    name = dict(zip(ends, labels)) if len(labels) == len(ends) else {}
    out, seen = [], set()
    for seg_q, seg_f in zip(bs["qpoints"], bs["frequencies"]):
        for q, f in zip(seg_q, seg_f):
            fq, key = float(np.min(f)), tuple(np.round(q, 4))
            if fq < -IMAGINARY_TOL and key not in seen:
                seen.add(key)
                out.append({"q": [float(x) for x in key], "label": name.get(key),
                            "frequency_THz": fq, "frequency_cm-1": fq * THZ_TO_CM})
    named = [m for m in out if m["label"]]
    return named or sorted(out, key=lambda m: m["frequency_THz"])[:5]


def _plot(bs, labels, dos, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(7, 4), sharey=True, gridspec_kw={"width_ratios": [3, 1]})
    ticks = []
    for d, f in zip(bs["distances"], bs["frequencies"]):
        ax.plot(d, f, color="C0", lw=1)
        ticks += [d[0], d[-1]]
    ticks = sorted(set(np.round(ticks, 6)))
    if len(labels) == len(ticks):
        ax.set_xticks(ticks)
        ax.set_xticklabels(labels)
    for t in ticks:
        ax.axvline(t, color="0.8", lw=0.5)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("frequency (THz)")
    ax.set_xlim(ticks[0], ticks[-1])
    ax2.plot(dos["total_dos"], dos["frequency_points"], color="C1")
    ax2.set_xlabel("DOS")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def phonons(atoms: Atoms, folder, backend="sevennet", supercell=None, min_length: float = 10.0,
            displacement: float = 0.01, force: bool = False, **backend_settings) -> dict:
    """Finite-displacement phonons of ``atoms`` (relax it first) in ``folder``; returns the
    result document (see the module docstring for ``data``)."""
    check_flag("force", force)
    backend = resolve_backend(backend, **backend_settings)
    if backend.name == "vasp":
        raise InputError("phonons with VASP run as a workflow of displacement statics "
                         "(pvatoms.fw phonon study); the single-folder job uses an ASE backend")
    ph, cells = phonon_displacements(atoms, supercell, min_length, displacement)
    settings = {"supercell": [int(x) for x in np.diag(ph.supercell_matrix)], "displacement": displacement,
                "n_displacements": len(cells)}

    def body(doc, folder: Path):
        calc = backend.calculator(directory=folder, charge=0, atoms=cells[0])
        forces = []
        for cell in cells:
            cell.calc = calc
            f = cell.get_forces()
            forces.append(f - f.mean(axis=0))          # remove the drift (sum of forces = 0)
        ph.forces = np.array(forces)
        ph.save(str(folder / "phonopy_params.yaml"), settings={"force_constants": False})
        doc["data"].update(settings)
        doc["data"]["supercell_matrix"] = np.asarray(ph.supercell_matrix).tolist()
        doc["data"].update(phonon_analysis(ph, folder))
        doc["structure"] = doc["input_structure"]
        doc["files"].update({"phonopy_params": "phonopy_params.yaml", "band": "band.yaml",
                             "plot": "phonons.png"})
    return run_job("phonons", folder, atoms, backend, body, settings, force=force)
