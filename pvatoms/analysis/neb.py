"""Migration barriers from NEB result documents: energy profiles and a barrier table.

>>> from pvatoms.analysis.neb import analyse_neb
>>> report = analyse_neb(["runs/V_Br_4c-8d", "runs/V_Cs"], "figures/neb")   # doctest: +SKIP
>>> report["rows"][0]["E_b forward (eV)"]                                   # doctest: +SKIP

Smooth profile. Between two neighbouring images i and i+1 the energy is the cubic polynomial in
the reaction coordinate s (Å, distance along the band) that takes the image energies at both ends
and has the slopes dE/ds = -F_t (eV/Å) there, F_t being the force projected on the band tangent
(``data['forces_along_path']``, positive towards the final image): a piecewise cubic Hermite
curve, continuous with a continuous first derivative, that passes exactly through every image —
ASE's NEB fit, :func:`ase.utils.forcecurve.fit_raw` (20 points per image interval), given the
band as one coordinate. :func:`hermite` evaluates the same curve anywhere
(:class:`scipy.interpolate.CubicHermiteSpline`). Result documents without tangential forces
(e.g. parsed VASP NEBs) get a monotone piecewise cubic (PCHIP, :class:`scipy.interpolate.PchipInterpolator`)
through the energies instead, and say so (``fit`` in each profile).

Barrier table. One row per NEB: ``species`` (the element that moves), ``path`` (a label, by
default the job folder's name), ``hop (Å)`` (straight-line displacement of the moving atom),
``E_b forward (eV)`` and ``E_b backward (eV)`` (highest image minus the initial / final
endpoint, copied from the document, never refitted), ``backend`` (model/functional and version,
:func:`pvatoms.analysis.tables.provenance_label`). Written as CSV, Markdown and LaTeX (booktabs).
The maximum of the smooth curve (sampled at 50 points per image interval) is reported next to it
in the analysis document (``fit_maximum``), as a check on how well the images resolve the saddle;
it does not enter the table.

Analysis document (``neb_analysis.json``, returned by :func:`analyse_neb`): ``kind`` ("neb"),
``schema`` (:data:`pvatoms.analysis.ANALYSIS_SCHEMA`), ``rows`` (the barrier table),
``profiles`` (one per NEB: :func:`neb_profile` plus ``source`` and ``backend``), ``files``,
``skipped``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pvatoms.analysis import ANALYSIS_SCHEMA
from pvatoms.analysis.figures import save_figure
from pvatoms.io import StagedFolder
from pvatoms.errors import InputError
from pvatoms.schema import atoms_from_dict, neb_data, read_result, result_folder, to_jsonable, write_json_atomic

#: columns of the barrier table, in order
COLUMNS = ("species", "path", "hop (Å)", "E_b forward (eV)", "E_b backward (eV)", "backend")
REPORT_FILE = "neb_analysis.json"


# ---------------------------------------------------------------- reading result documents

def check_result(doc: dict, job: str, where: str) -> None:
    """Raise :class:`InputError` unless ``doc`` is a completed ``job`` result."""
    if doc.get("job") != job:
        raise InputError(f"{where} is a {doc.get('job')!r} result, not {job!r}: give the folders of "
                         f"{job} jobs")
    if doc.get("status") != "completed":
        raise InputError(f"{where}: the {job} job is {doc.get('status')!r}, not completed"
                         + (f" (reason: {doc['reason']})" if doc.get("reason") else "")
                         + "; rerun it, or leave it out (skip_failed / --skip-failed)")


def collect(sources, job: str, labels=None, skip_failed: bool = False) -> tuple[list, list]:
    """Read (:func:`pvatoms.schema.read_result`) and check several results:
    ``([(label, doc, folder), ...], [skipped messages])``; ``folder`` is the job folder (absolute)
    or None for a document given as a dict without ``_folder``.

    Labels default to the job folder names (made unique); failed or unfinished results raise
    :class:`InputError` unless ``skip_failed``, which leaves them out and lists why."""
    sources = list(sources)
    if not sources:
        raise InputError(f"no {job} results given")
    if labels is not None and len(labels) != len(sources):
        raise InputError(f"{len(labels)} labels for {len(sources)} results: give one label per result")
    out, skipped = [], []
    for i, src in enumerate(sources):
        doc = read_result(src)
        folder = result_folder(doc)
        where = str(src) if not isinstance(src, dict) else f"result {i + 1}"
        try:
            check_result(doc, job, where)
        except InputError as exc:
            if skip_failed and doc.get("job") == job:
                skipped.append(str(exc))
                continue
            raise
        if labels is not None:
            label = str(labels[i])
        elif folder is not None:
            label = folder.name
        else:
            label = f"{job}-{i + 1}"
        out.append([label, doc, folder])
    if not out:
        raise InputError(f"none of the {job} results completed: " + "; ".join(skipped))
    seen: dict[str, int] = {}
    for item in out:
        seen[item[0]] = seen.get(item[0], 0) + 1
    count: dict[str, int] = {}
    for item in out:
        if seen[item[0]] > 1:
            count[item[0]] = count.get(item[0], 0) + 1
            item[0] = f"{item[0]}-{count[item[0]]}"
    return [tuple(x) for x in out], skipped


def safe_name(label: str) -> str:
    """A file-name-safe version of a label."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", label).strip("_") or "result"


# ---------------------------------------------------------------- the smooth profile

def _check_coordinate(s) -> np.ndarray:
    s = np.asarray(s, float)
    if np.any(np.diff(s) <= 0):
        raise InputError("the reaction coordinate must increase strictly from image to image")
    return s


def hermite(s, energies, slopes, x) -> np.ndarray:
    """Piecewise cubic Hermite curve through ``(s[i], energies[i])`` with derivative ``slopes[i]``
    at each node, evaluated at ``x`` (:class:`scipy.interpolate.CubicHermiteSpline`; values
    outside [s0, sN] use the end segments)."""
    from scipy.interpolate import CubicHermiteSpline

    e = np.asarray(energies, float)
    m = np.asarray(slopes, float)
    if not (len(s) == len(e) == len(m)) or len(s) < 2:
        raise InputError("a profile needs at least two points with one energy and one slope each")
    s = _check_coordinate(s)
    return CubicHermiteSpline(s, e, m, extrapolate=True)(np.asarray(x, float))


def _fine_grid(s, points_per_segment: int) -> np.ndarray:
    return np.unique(np.concatenate([np.linspace(a, b, points_per_segment, endpoint=False)
                                     for a, b in zip(s[:-1], s[1:])] + [s[-1:]]))


def fit_profile(s, energies, forces=None, points_per_segment: int = 50) -> dict:
    """Smooth energy profile through the images.

    ``s``: reaction coordinate (Å); ``energies`` (eV); ``forces``: tangential forces (eV/Å, along
    increasing s) or None. With forces the curve is :func:`ase.utils.forcecurve.fit_raw`'s
    (20 points per image interval); without, PCHIP on ``points_per_segment`` points per interval.
    Returns ``{"s", "energy"}`` (the curve), the ``fit`` method, and the curve's maximum
    (``max_energy`` eV, ``max_s`` Å) on ``points_per_segment`` points per interval."""
    s = _check_coordinate(s)
    e = np.asarray(energies, float)
    x = _fine_grid(s, points_per_segment)
    if forces is not None:
        from ase.utils.forcecurve import fit_raw

        f = np.asarray(forces, float)
        if not (len(s) == len(e) == len(f)) or len(s) < 2:
            raise InputError("a profile needs at least two points with one energy and one force each")
        # the band as one coordinate: image i at (s_i - s_0, 0, 0), its tangential force along +x
        fit = fit_raw(e, [np.array([[f_i, 0.0, 0.0]]) for f_i in f],
                      [np.array([[s_i - s[0], 0.0, 0.0]]) for s_i in s])
        curve_s, curve_e = np.asarray(fit.fit_path) + s[0], np.asarray(fit.fit_energies) + e[0]
        y = hermite(s, e, -f, x)
        method = "cubic Hermite, slopes -F_t"
    else:
        from scipy.interpolate import PchipInterpolator

        y = PchipInterpolator(s, e)(x)
        curve_s, curve_e = x, y
        method = "PCHIP through energies (no tangential forces in the document)"
    k = int(np.argmax(y))
    return {"s": curve_s, "energy": curve_e, "fit": method, "max_energy": float(y[k]), "max_s": float(x[k])}


def _path_geometry(images: list, energies) -> tuple[list[float], float, str]:
    """Reaction coordinate (Å), hop distance (Å) and moving element from the image structures
    (minimum image, :func:`pvatoms.schema.neb_data`), for documents that lack them."""
    d = neb_data([atoms_from_dict(im["structure"]) for im in images], energies)
    return d["reaction_coordinate"], d["hop_distance"], d["moving_element"]


def neb_profile(doc: dict, label: str = "neb", points_per_segment: int = 50) -> dict:
    """Energy profile of one completed NEB document: image coordinates and energies (relative to
    the initial endpoint), tangential forces, the smooth fit, barriers (from the document).
    Raises :class:`InputError` when the document's arrays are missing or inconsistent."""
    data = doc.get("data") or {}
    energies = data.get("energies")
    if energies is None and doc.get("images"):
        energies = [im.get("energy") for im in doc["images"]]
    if not energies or any(e is None for e in energies) or len(energies) < 3:
        raise InputError(f"{label}: the NEB document has no image energies (need the endpoints and at "
                         "least one image)")
    e = np.asarray(energies, float)
    n = len(e)
    coords, hop, element = data.get("reaction_coordinate"), data.get("hop_distance"), data.get("moving_element")
    if coords is None or hop is None or element is None:
        if not doc.get("images") or len(doc["images"]) != n:
            raise InputError(f"{label}: the NEB document has neither a reaction coordinate nor image "
                             f"structures for its {n} energies")
        c2, h2, el2 = _path_geometry(doc["images"], e)
        coords = c2 if coords is None else coords
        hop = h2 if hop is None else hop
        element = el2 if element is None else element
    forces = data.get("forces_along_path")
    for name, arr in (("reaction_coordinate", coords), ("forces_along_path", forces)):
        if arr is not None and len(arr) != n:
            raise InputError(f"{label}: {name} has {len(arr)} entries for {n} image energies")
    s = np.asarray(coords, float)
    if np.any(np.diff(s) <= 0):
        raise InputError(f"{label}: the reaction coordinate does not increase from image to image")
    rel = e - e[0]
    fit = fit_profile(s, rel, forces, points_per_segment)
    fwd = data.get("barrier_forward", float(e.max() - e[0]))
    bwd = data.get("barrier_backward", float(e.max() - e[-1]))
    return {
        "label": label, "species": element, "hop_distance": float(hop),
        "reaction_coordinate": s.tolist(), "energies": e.tolist(), "relative_energies": rel.tolist(),
        "forces_along_path": None if forces is None else [float(f) for f in forces],
        "barrier_forward": float(fwd), "barrier_backward": float(bwd),
        "saddle_image": int(np.argmax(e)), "n_images": n - 2,
        "fit": fit["fit"], "fit_maximum": {"energy": fit["max_energy"], "s": fit["max_s"]},
        "fit_curve": {"s": fit["s"].tolist(), "energy": fit["energy"].tolist()},
    }


def barrier_row(doc: dict, label: str, profile: dict | None = None) -> dict:
    """One row of the barrier table (see the module docstring for the columns)."""
    from pvatoms.analysis.tables import provenance_label

    p = profile or neb_profile(doc, label)
    return {"species": p["species"], "path": label, "hop (Å)": p["hop_distance"],
            "E_b forward (eV)": p["barrier_forward"], "E_b backward (eV)": p["barrier_backward"],
            "backend": provenance_label(doc)}


# ---------------------------------------------------------------- figures

def plot_profiles(profiles: list[dict], stem, title: str | None = None) -> dict:
    """Energy profile figure (images as markers, smooth fit as a line) of one or more NEBs;
    writes ``stem.png`` (300 dpi) and ``stem.pdf``; returns ``{"png": path, "pdf": path}``."""
    from matplotlib.figure import Figure

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(4.6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for k, p in enumerate(profiles):
        color = f"C{k % 10}"
        ax.plot(p["fit_curve"]["s"], p["fit_curve"]["energy"], "-", color=color, lw=1.6,
                label=f"{p['label']} ({p['species']}): $E_b$ = {p['barrier_forward']:.3f} eV")
        ax.plot(p["reaction_coordinate"], p["relative_energies"], "o", color=color, ms=5,
                mec="k", mew=0.6)
    ax.axhline(0.0, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("reaction coordinate (Å)")
    ax.set_ylabel(r"$E - E_\mathrm{initial}$ (eV)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="best")
    return save_figure(fig, stem)


# ---------------------------------------------------------------- the whole analysis

def analyse_neb(sources, output, labels=None, skip_failed: bool = False,
                caption: str = "Migration barriers") -> dict:
    """Barrier table and profile figures of NEB results.

    ``sources``: job folders, ``result.json`` paths or documents. Writes into ``output``:
    ``barriers.{csv,md,tex}``, ``profile_<label>.{png,pdf}`` for each NEB, ``profiles.{png,pdf}``
    (all NEBs in one figure) when there are several, and ``neb_analysis.json`` (the report, which
    is also returned: the analysis document, see the module notes).
    """
    from pvatoms.analysis.tables import write_table

    items, skipped = collect(sources, "neb", labels, skip_failed)
    with StagedFolder(output) as stage:          # every file, or none (see pvatoms.io.StagedFolder)
        out = stage.path

        def named(paths: dict) -> dict:
            return {k: str(stage.final_path(v)) for k, v in paths.items()}
        rows, profiles, files = [], [], {}
        for label, doc, folder in items:
            p = neb_profile(doc, label)
            p["source"] = None if folder is None else str(folder)
            p["backend"] = doc.get("backend")
            rows.append(barrier_row(doc, label, p))
            profiles.append(p)
            model = (doc.get("backend") or {}).get("model")
            paths = plot_profiles([p], out / f"profile_{safe_name(label)}", title=f"{label} ({model})")
            files[f"profile_{label}"] = named(paths)
        if len(profiles) > 1:
            models = sorted({str((p["backend"] or {}).get("model")) for p in profiles})
            title = None if len(models) > 1 else models[0]
            files["profiles"] = named(plot_profiles(profiles, out / "profiles", title))
        files["table"] = named(write_table(rows, out / "barriers", caption=caption, label="tab:barriers"))
        files["report"] = str(stage.final_path(out / REPORT_FILE))
        report = to_jsonable({"kind": "neb", "schema": ANALYSIS_SCHEMA, "rows": rows, "profiles": profiles,
                              "files": files, "skipped": skipped})
        write_json_atomic(out / REPORT_FILE, report)
    return report


__all__ = ["analyse_neb", "neb_profile", "barrier_row", "fit_profile", "hermite", "plot_profiles",
           "check_result", "collect", "safe_name", "COLUMNS", "REPORT_FILE"]
