"""Where band-edge and defect states live: planar averages, region fractions, IPR, centroids.

>>> from pvatoms.analysis.localization import analyse_band_edges
>>> report = analyse_band_edges(["runs/boundary-edges"], "figures/edges")       # doctest: +SKIP
>>> report["results"][0]["statement"]                                           # doctest: +SKIP
'CBM 71 % on the RP side, VBM 64 % on the perovskite side: spatially separated ...'

Input: densities on a periodic grid spanning the cell (electrons/Å³, as
:func:`pvatoms.io.read_cube` returns them); point (i, j, k) sits at fractional
coordinates (i/n1, j/n2, k/n3). Every density is rescaled to one electron before analysis (its
original integral is reported as ``integral``).

Conventions (all choices made here, in one place):

* **Stacking axis.** The layers are spanned by two cell vectors; the normal ``n`` is the direction
  of the reciprocal vector of the third one (default: the third, as :func:`pvatoms.build.rp_interface`
  writes it; ``atoms.info['stacking_normal']`` is used when present and must be such a direction).
  The height of a point along ``n`` is then ``f * L`` with ``f`` its fractional coordinate along
  that vector and ``L = a_axis · n`` the period along the normal, exactly, also for an oblique
  stacking vector. Heights are measured from the cell origin, like ``boundary_planes``.
* **Planar average** ``ρ̄(z)``: mean of the density over the grid points of one plane of constant
  fractional coordinate (electrons/Å³); ``A ∫ ρ̄ dz = 1`` with ``A`` the area of the plane.
* **Regions.** Every grid point belongs to its nearest atom (periodic images included, no atomic
  radii) and takes that atom's ``region`` label (rp / boundary / perovskite): the same partition as
  the band-edge job's ``region_fractions``, and it needs only the per-atom labels, which the result
  document keeps. The shading of the planar-average figure marks, for each plane, the region that
  owns most of its grid points.
* **Fractions** per region sum to one. ``volume_fractions`` are the shares of the grid each region
  owns, i.e. what a uniform density would give; ``enrichment = fraction / volume fraction``.
* **IPR** (dimensionless): ``IPR = N Σ ρ_i² / (Σ ρ_i)²`` over the N grid points, the discrete form
  of ``V ∫ρ² dV / (∫ρ dV)²``. A uniform density has IPR 1; a density spread evenly over a volume
  ``V_eff`` has ``V / V_eff``, so ``effective_volume = V / IPR`` (Å³) is reported next to it. A Bloch
  state's IPR does not grow with the supercell; a localized state's grows with the cell volume.
* **Centroid** along the stacking axis: circular mean of ``ρ̄(z)`` over the period (the cell is
  periodic, a plain mean is not), with ``concentration`` = length of the mean resultant (1: all in
  one plane, 0: no preferred height). The VBM-CBM offset is the shortest periodic signed distance
  ``centroid(CBM) - centroid(VBM)``, in (-L/2, L/2].
* **Statement.** A state *lives* in the region with the largest enrichment when that enrichment is
  at least ``enrichment_threshold`` (default 1.2); otherwise it is *spread* over the regions. VBM
  and CBM living in different regions are *spatially separated*; in the same region, *on the same
  side*; any spread state gives *no clear separation*. Densities do not give the alignment type
  (type I/II needs the band offsets: :mod:`pvatoms.analysis.alignment`), so no statement names one.
* **Defect states.** With a defect (e.g. vacancy) site: ``fraction_within_radius``, the share of
  the state inside a sphere of ``radius`` Å (default 4 Å: the first Pb shell around a Br site)
  around it, next to the sphere's share of the cell volume (``uniform_fraction``). A state is
  called *localized* when its IPR is more than ``threshold`` times (default 3) the IPR of a
  bulk-like reference state: ``reference_ipr`` when given (e.g. from the band edges of the perfect
  supercell, on a grid of the same spacing), otherwise the smallest IPR among the other states of
  the same result (so a result where every state is localized needs an explicit reference).
"""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms.analysis import ANALYSIS_SCHEMA
from pvatoms.analysis.figures import save_figure
from pvatoms.io import StagedFolder
from pvatoms.analysis.neb import collect, safe_name
from pvatoms.errors import InputError
from pvatoms.geometry import grid_points, minimum_image
from pvatoms.schema import atoms_from_dict, to_jsonable, write_json_atomic

REGIONS = ("rp", "boundary", "perovskite")
PHRASE = {"rp": "on the RP side", "boundary": "at the boundary", "perovskite": "on the perovskite side"}
COLORS = {"rp": "#e6862e", "boundary": "0.55", "perovskite": "#3a8fb7", "cluster": "#7b3294"}
STATE_COLORS = {"vbm": "#c0392b", "cbm": "#1f4e9c"}
REPORT_FILE = "band_edges_analysis.json"
ENRICHMENT_THRESHOLD = 1.2
IPR_THRESHOLD = 3.0
DEFECT_RADIUS = 4.0


# ---------------------------------------------------------------- geometry

def stacking_geometry(atoms: Atoms, normal=None, axis: int | None = None) -> dict:
    """Stacking axis of a cell: ``axis`` (index of the cell vector crossing the layers), unit
    ``normal``, ``period`` along the normal (Å) and ``area`` of a layer (Å²).

    ``axis`` wins; else ``normal`` (or ``atoms.info['stacking_normal']``), which must be parallel
    to a reciprocal cell vector; else the third cell vector."""
    cell = np.asarray(atoms.cell, float)
    if abs(np.linalg.det(cell)) < 1e-9:
        raise InputError("the structure has no 3D cell: a periodic cell is needed for planar averages")
    recip = np.linalg.inv(cell).T                     # rows b_i with a_i . b_j = delta_ij
    bhat = recip / np.linalg.norm(recip, axis=1)[:, None]
    if axis is not None:
        if axis not in (0, 1, 2):
            raise InputError(f"stacking axis must be a cell vector index 0, 1 or 2, got {axis!r}")
    else:
        if normal is None:
            normal = atoms.info.get("stacking_normal")
        if normal is None:
            axis = 2
        else:
            n = np.asarray(normal, float)
            n = n / np.linalg.norm(n)
            cos = np.abs(bhat @ n)
            axis = int(np.argmax(cos))
            if cos[axis] < 1 - 1e-6:
                raise InputError(f"stacking normal {np.round(n, 4).tolist()} is not normal to two cell "
                                 "vectors: planar averages need layers spanned by two cell vectors")
    n = bhat[axis] * np.sign(cell[axis] @ bhat[axis])
    period = float(cell[axis] @ n)
    return {"axis": int(axis), "normal": n.tolist(), "period": period,
            "area": float(abs(np.linalg.det(cell)) / period)}


def planar_average(density: np.ndarray, geometry: dict) -> tuple[np.ndarray, np.ndarray]:
    """(heights z in Å along the normal, planar average in electrons/Å³) of a periodic grid."""
    density = np.asarray(density, float)
    ax = geometry["axis"]
    others = tuple(i for i in range(3) if i != ax)
    avg = density.mean(axis=others)
    z = np.arange(density.shape[ax]) / density.shape[ax] * geometry["period"]
    return z, avg


def periodic_centroid(z, weights, period: float) -> tuple[float, float]:
    """Circular mean height (Å, in [0, period)) of ``weights`` at heights ``z``, and the
    concentration (mean resultant length, 0..1)."""
    w = np.asarray(weights, float)
    theta = 2 * np.pi * np.asarray(z, float) / period
    c, s = float(np.sum(w * np.cos(theta))), float(np.sum(w * np.sin(theta)))
    total = float(np.sum(w))
    if total <= 0:
        raise InputError("cannot locate a density whose integral is not positive")
    centre = (np.arctan2(s, c) / (2 * np.pi) * period) % period
    return float(centre), float(np.hypot(c, s) / total)


def periodic_offset(a: float, b: float, period: float) -> float:
    """Shortest signed distance b - a on a circle of length ``period``, in (-period/2, period/2]."""
    d = (b - a) % period
    return float(d - period if d > period / 2 else d)


def region_grid(atoms: Atoms, shape, labels=None, owner: np.ndarray | None = None):
    """(region names, integer grid of region codes): each grid point takes the label of its
    nearest atom (``labels``: one per atom; default ``atoms.arrays['region']``)."""
    from pvatoms.geometry import nearest_atom

    labels = atoms.arrays.get("region") if labels is None else labels
    if labels is None:
        raise InputError("the structure has no region labels")
    labels = [str(x) for x in labels]
    if len(labels) != len(atoms):
        raise InputError(f"{len(labels)} region labels for {len(atoms)} atoms")
    names = [r for r in REGIONS if r in labels] + sorted(set(labels) - set(REGIONS))
    code = np.array([names.index(lab) for lab in labels])
    owner = nearest_atom(atoms, shape) if owner is None else owner
    return names, code[owner]


def region_fractions(density: np.ndarray, names, codes: np.ndarray) -> dict:
    """Fraction of ``density`` in each region (sums to 1)."""
    q = np.bincount(codes.ravel(), weights=np.asarray(density, float).ravel(), minlength=len(names))
    total = q.sum()
    if total <= 0:
        raise InputError("cannot partition a density whose integral is not positive")
    return {n: float(v / total) for n, v in zip(names, q)}


def volume_fractions(names, codes: np.ndarray) -> dict:
    """Share of the grid (= of the cell volume) owned by each region."""
    q = np.bincount(codes.ravel(), minlength=len(names))
    return {n: float(v / codes.size) for n, v in zip(names, q)}


def ipr(density: np.ndarray) -> float:
    """Inverse participation ratio ``N Σρ² / (Σρ)²`` (dimensionless; 1 for a uniform density)."""
    rho = np.asarray(density, float).ravel()
    total = rho.sum()
    if total <= 0:
        raise InputError("IPR of a density whose integral is not positive")
    return float(rho.size * np.sum(rho * rho) / total ** 2)


def sphere_mask(atoms: Atoms, shape, site, radius: float) -> np.ndarray:
    """Grid points within ``radius`` Å of ``site`` (Cartesian, Å), minimum image (exact, any cell:
    :func:`pvatoms.geometry.minimum_image`).
    The radius must stay below half the smallest cell height (one sphere per cell)."""
    cell = np.asarray(atoms.cell, float)
    heights = 1.0 / np.linalg.norm(np.linalg.inv(cell).T, axis=1)
    if not 0 < radius < heights.min() / 2:
        raise InputError(f"radius {radius!r} Å must be positive and below half the smallest cell height "
                         f"({heights.min() / 2:.2f} Å), or the sphere overlaps its periodic images")
    site = np.asarray(site, float)
    if site.shape != (3,):
        raise InputError(f"defect site must be three Cartesian coordinates (Å), got {site.tolist()!r}")
    f_site = np.linalg.solve(cell.T, site)
    # the grid is periodic along all three cell vectors by construction
    _, dist = minimum_image((grid_points(atoms, shape) - f_site) @ cell, cell, pbc=True)
    return dist <= radius


# ---------------------------------------------------------------- statements

def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _where(region: str) -> str:
    return PHRASE.get(region, f"in region {region}")


def locate(fractions: dict, volumes: dict, threshold: float = ENRICHMENT_THRESHOLD) -> dict:
    """Region a state lives in: the one with the largest enrichment (fraction / volume fraction)
    when it reaches ``threshold``, else None (spread). Returns region, fraction, enrichment."""
    enr = {r: fractions[r] / volumes[r] for r in fractions if volumes.get(r, 0) > 0}
    if not enr:
        return {"region": None, "fraction": None, "enrichment": None}
    best = max(enr, key=enr.get)
    return {"region": best if enr[best] >= threshold else None, "fraction": fractions[best],
            "enrichment": enr[best], "enrichments": enr}


def edge_statement(fractions: dict, volumes: dict, offset: float | None = None,
                   threshold: float = ENRICHMENT_THRESHOLD) -> dict:
    """Plain statement on where the VBM and the CBM live, computed from their region fractions.

    ``fractions``: ``{"vbm": {region: f}, "cbm": {region: f}}``; ``volumes``: region volume
    fractions; ``offset``: CBM-VBM centroid distance (Å) along the stacking axis, or None.
    Returns ``{"statement", "separated" (True / False / None), "vbm", "cbm"}`` (locations)."""
    loc = {s: locate(fractions[s], volumes, threshold) for s in ("cbm", "vbm")}
    parts = []
    for s in ("cbm", "vbm"):
        L = loc[s]
        if L["region"] is None:
            spread = ", ".join(f"{r} {_pct(f)}" for r, f in fractions[s].items())
            parts.append(f"{s.upper()} spread over the regions ({spread})")
        else:
            parts.append(f"{s.upper()} {_pct(L['fraction'])} {_where(L['region'])}")
    rc, rv = loc["cbm"]["region"], loc["vbm"]["region"]
    if rc is None or rv is None:
        separated, verdict = None, "no clear separation"
    elif rc != rv:
        separated, verdict = True, "spatially separated"
    else:
        separated, verdict = False, "on the same side, not separated"
    text = f"{', '.join(parts)}: {verdict}"
    if separated is not None and offset is not None:
        text += f"; centroids {abs(offset):.1f} Å apart along the stacking axis"
    return {"statement": text, "separated": separated, "cbm": loc["cbm"], "vbm": loc["vbm"]}


def localization_statement(name: str, info: dict) -> str:
    """One line on a (defect) state's localization from :func:`analyse_densities` numbers."""
    text = f"{name.upper()}: IPR {info['ipr']:.1f} (V_eff {info['effective_volume']:.0f} Å³)"
    ref = info.get("ipr_reference")
    if ref:
        text += f", {info['ipr_ratio']:.1f}x the {ref['source']}"
    if info.get("fraction_within_radius") is not None:
        text += (f"; {_pct(info['fraction_within_radius'])} within {info['radius']:.1f} Å of the defect "
                 f"site (uniform density: {_pct(info['uniform_fraction'])})")
    if info.get("localized") is None:
        text += ": localization not judged (no bulk-like reference state)"
    else:
        text += ": localized" if info["localized"] else ": delocalized (bulk-like)"
    return text


# ---------------------------------------------------------------- analysis of densities

def _state_order(names) -> list:
    return [n for n in ("vbm", "cbm") if n in names] + [n for n in names if n not in ("vbm", "cbm")]


def analyse_densities(atoms: Atoms, densities: dict, normal=None, axis: int | None = None,
                      labels=None, site=None, radius: float = DEFECT_RADIUS,
                      reference_ipr: float | None = None, reference_name: str = "reference state",
                      threshold: float = IPR_THRESHOLD,
                      enrichment_threshold: float = ENRICHMENT_THRESHOLD) -> dict:
    """Planar averages, region fractions, IPR, centroids and statements for ``densities``
    (``{name: grid in electrons/Å³}``, all spanning the cell of ``atoms``). See the module
    docstring for the conventions. ``labels``: per-atom regions (default
    ``atoms.arrays['region']``; without them there are no region fractions). ``site``: defect
    site (Cartesian Å) for the within-radius fractions."""
    from pvatoms.geometry import density_integral, nearest_atom

    if not densities:
        raise InputError("no densities to analyse")
    geo = stacking_geometry(atoms, normal, axis)
    labels = atoms.arrays.get("region") if labels is None else labels
    names = _state_order(list(densities))
    shapes = {tuple(np.shape(densities[n])) for n in names}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3:
        raise InputError(f"densities must be 3D grids of one shape, got {sorted(shapes)}")
    shape = next(iter(shapes))
    owner = nearest_atom(atoms, shape)
    elements = atoms.get_chemical_symbols()
    enames = list(dict.fromkeys(elements))
    ecodes = np.array([enames.index(e) for e in elements])[owner]
    regions = volumes = rcodes = None
    if labels is not None:
        regions, rcodes = region_grid(atoms, shape, labels, owner)
        volumes = volume_fractions(regions, rcodes)
    mask = sphere_mask(atoms, shape, site, radius) if site is not None else None
    z = None
    states = {}
    for name in names:
        rho = np.asarray(densities[name], float)
        total = density_integral(rho, atoms.cell)
        if not total > 0:
            raise InputError(f"the {name} density integrates to {total:g} electrons: not a state density")
        rho = rho / total
        z, avg = planar_average(rho, geo)
        centre, conc = periodic_centroid(z, avg, geo["period"])
        st = {"integral": total, "planar_average": avg.tolist(),
              "element_fractions": region_fractions(rho, enames, ecodes),
              "region_fractions": None if regions is None else region_fractions(rho, regions, rcodes),
              "ipr": ipr(rho), "centroid": centre, "concentration": conc}
        st["effective_volume"] = float(atoms.get_volume() / st["ipr"])
        if mask is not None:
            st["fraction_within_radius"] = float(rho[mask].sum() / rho.sum())
            st["uniform_fraction"] = float(mask.mean())
            st["radius"] = float(radius)
            st["site"] = [float(x) for x in site]
        states[name] = st
    for name, st in states.items():
        if reference_ipr is not None:
            ref = {"value": float(reference_ipr), "source": reference_name}
        else:
            others = {n: s["ipr"] for n, s in states.items() if n != name}
            ref = None
            if others:
                m = min(others, key=others.get)
                ref = {"value": others[m], "source": f"{m.upper()} of the same cell"}
        st["ipr_reference"] = ref
        st["ipr_ratio"] = None if ref is None else st["ipr"] / ref["value"]
        st["localized"] = None if ref is None else bool(st["ipr_ratio"] > threshold)
        st["localization"] = localization_statement(name, st)
    out = {"geometry": geo, "z": z.tolist(), "regions": regions, "volume_fractions": volumes,
           "states": states, "partition": "nearest atom (periodic), region label of that atom",
           "ipr_convention": "N sum(rho^2) / (sum rho)^2 over the grid; 1 = uniform",
           "enrichment_threshold": enrichment_threshold, "ipr_threshold": threshold}
    if regions is not None:
        counts = np.stack([np.bincount(np.moveaxis(rcodes, geo["axis"], -1)[..., k].ravel(),
                                       minlength=len(regions)) for k in range(shape[geo["axis"]])])
        out["slab_regions"] = [regions[i] for i in counts.argmax(axis=1)]
    else:
        out["slab_regions"] = None
    if "vbm" in states and "cbm" in states:
        offset = periodic_offset(states["vbm"]["centroid"], states["cbm"]["centroid"], geo["period"])
        out["centroid_offset"] = offset
        if regions is not None and len(regions) > 1:
            sep = edge_statement({s: states[s]["region_fractions"] for s in ("vbm", "cbm")}, volumes,
                                 offset, enrichment_threshold)
            out["separation"] = {k: v for k, v in sep.items() if k != "statement"}
            out["statement"] = sep["statement"]
        else:
            out["separation"] = None
            what = ("no region labels in the structure" if regions is None
                    else f"every atom is in one region ({regions[0]})")
            out["statement"] = (f"{what}: no separation between regions to judge; VBM-CBM centroid "
                                f"offset {offset:+.1f} Å along the stacking axis")
    else:
        out["centroid_offset"] = out["separation"] = None
        out["statement"] = "; ".join(states[n]["localization"] for n in names)
    return out


# ---------------------------------------------------------------- figures and tables

def region_spans(z, slabs, dz: float) -> list[tuple[float, float, str]]:
    """(from, to, region) height ranges (Å) of runs of planes owned by one region: plane ``k`` at
    height ``z[k]`` covers ``z[k] ± dz/2``; ``slabs[k]`` is its region."""
    spans, start = [], 0
    for k in range(1, len(slabs) + 1):
        if k == len(slabs) or slabs[k] != slabs[start]:
            spans.append((float(z[start] - dz / 2), float(z[k - 1] + dz / 2), slabs[start]))
            start = k
    return spans


def plot_planar_average(result: dict, stem, title: str | None = None) -> dict:
    """Planar averages of all states along the stacking axis, regions shaded, centroids dotted;
    writes ``stem.png`` (300 dpi) and ``stem.pdf``; returns their paths."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    z = np.asarray(result["z"])
    period = result["geometry"]["period"]
    dz = period / len(z)
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.add_subplot()
    handles, lines = [], []
    slabs = result.get("slab_regions")
    if slabs:
        for lo, hi, region in region_spans(z, slabs, dz):
            ax.axvspan(lo, hi, color=COLORS.get(region, "0.8"), alpha=0.18, lw=0)
        handles += [Patch(color=COLORS.get(r, "0.8"), alpha=0.35, label=r) for r in result["regions"]]
    for k, (name, st) in enumerate(result["states"].items()):
        color = STATE_COLORS.get(name, f"C{(k + 2) % 10}")
        y = np.asarray(st["planar_average"])
        # close the periodic curve at z = period
        line, = ax.plot(np.append(z, period), np.append(y, y[0]), color=color, lw=1.5, label=name.upper())
        ax.axvline(st["centroid"], color=color, lw=0.9, ls=":")
        lines.append(line)
    ax.set_xlim(0, period)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("height along the stacking normal (Å)")
    ax.set_ylabel(r"planar average $\bar\rho(z)$ (e/Å$^3$)")
    if title:
        ax.set_title("\n".join(textwrap.wrap(title, 95)), fontsize=7)
    ax.legend(handles=lines + handles, fontsize=7, frameon=True, framealpha=0.85, loc="best", ncol=2)
    return save_figure(fig, stem)


def write_planar_average_csv(result: dict, path) -> Path:
    """Heights (Å), the region owning each plane and each state's planar average (e/Å³)."""
    path = Path(path)
    names = list(result["states"])
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["z (A)", "region"] + [f"{n} (e/A^3)" for n in names])
        slabs = result.get("slab_regions") or [""] * len(result["z"])
        for k, zk in enumerate(result["z"]):
            w.writerow([f"{zk:.5f}", slabs[k]] + [f"{result['states'][n]['planar_average'][k]:.8e}" for n in names])
    return path


def table_rows(label: str, result: dict, backend: str) -> list[dict]:
    """Rows of the localization table: one per state."""
    rows = []
    regions = result.get("regions") or []
    for name, st in result["states"].items():
        row = {"result": label, "state": name.upper()}
        for r in regions:
            row[f"f({r})"] = st["region_fractions"][r]
        row["IPR"] = st["ipr"]
        row["V_eff (Å³)"] = st["effective_volume"]
        row["centroid (Å)"] = st["centroid"]
        if st.get("fraction_within_radius") is not None:
            row[f"f(r<{st['radius']:g} Å)"] = st["fraction_within_radius"]
        row["IPR ratio"] = st["ipr_ratio"]
        row["localized"] = st["localized"]
        row["backend"] = backend
        rows.append(row)
    return rows


# ---------------------------------------------------------------- result documents and cube files

def _structure(doc: dict) -> Atoms | None:
    for key in ("structure", "input_structure"):
        if doc.get(key):
            return atoms_from_dict(doc[key])
    return None


def check_same_atoms(cube_atoms: Atoms, ref: Atoms, where: str, tol: float = 0.01) -> None:
    """Raise :class:`InputError` unless the cube's atoms are the structure's (same elements in the
    same order, same cell, same positions within ``tol`` Å, minimum image)."""
    a, b = cube_atoms.get_chemical_symbols(), ref.get_chemical_symbols()
    if len(a) != len(b):
        raise InputError(f"{where} holds {len(a)} atoms but the result's structure has {len(b)}: the cube "
                         "file does not belong to this result")
    if a != b:
        k = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        raise InputError(f"{where}: atom {k} is {a[k]} in the cube file but {b[k]} in the result's "
                         "structure: the cube file does not belong to this result")
    dc = np.abs(np.asarray(cube_atoms.cell) - np.asarray(ref.cell)).max()
    if dc > tol:
        raise InputError(f"{where}: the cube's cell differs from the result's by up to {dc:.3f} Å")
    _, dist = minimum_image(cube_atoms.positions - ref.positions, ref.cell, ref.pbc)
    if dist.max() > tol:
        k = int(np.argmax(dist))
        raise InputError(f"{where}: atom {k} ({a[k]}) sits {dist[k]:.3f} Å away from its position in the "
                         "result's structure: the cube file does not belong to this result")


def load_band_edge_densities(doc: dict, folder: Path | None, states=None, where: str = "result"):
    """(atoms with the result's region labels, ``{state: density e/Å³}``, ``{state: cube path}``)
    of a completed band-edges result; checks that every cube file exists and holds the result's
    atoms."""
    from pvatoms.io import read_cube

    if folder is None:
        raise InputError(f"{where}: band-edge analysis needs the job folder (the cube files live there), "
                         "not a bare document")
    files = doc.get("files") or {}
    cubes = {k: v for k, v in files.items() if str(v).endswith(".cube")}
    wanted = _state_order(list(cubes)) if states is None else [str(s) for s in states]
    if not wanted:
        raise InputError(f"{where}: the result lists no cube files (files: {sorted(files) or 'none'})")
    missing = [s for s in wanted if s not in cubes]
    if missing:
        raise InputError(f"{where}: no cube file for state(s) {', '.join(missing)}; the result has "
                         f"{', '.join(_state_order(list(cubes))) or 'none'}")
    ref = _structure(doc)
    labels = None
    for key in ("structure", "input_structure"):
        arr = ((doc.get(key) or {}).get("arrays") or {}).get("region")
        if arr is not None and ref is not None and (doc[key]["symbols"] == ref.get_chemical_symbols()):
            labels = np.array(arr)
            break
    atoms, densities, paths = None, {}, {}
    for s in wanted:
        path = Path(folder) / cubes[s]
        if not path.is_file():
            raise InputError(f"{where}: cube file {path} of the {s} state is missing")
        try:
            rho, cube_atoms = read_cube(path)
        except Exception as exc:
            raise InputError(f"{where}: cannot read cube file {path}: {type(exc).__name__}: {exc}") from None
        if ref is not None:
            check_same_atoms(cube_atoms, ref, f"{where}: {path.name}")
        if atoms is not None:
            check_same_atoms(cube_atoms, atoms, f"{where}: {path.name} (against the other cube files)")
        else:
            atoms = cube_atoms
        densities[s], paths[s] = rho, path
    if ref is not None:
        # the document's positions are exact; the cube's are rounded to 1e-6 Bohr, which can flip
        # the owner of grid points equidistant from two atoms on high-symmetry grids
        atoms = ref
    if labels is not None:
        atoms.arrays["region"] = labels
    return atoms, densities, paths


def reference_ipr_of(source, states=None) -> tuple[float, str]:
    """Bulk-like reference IPR from another band-edges result (e.g. the perfect supercell): the
    smallest IPR of its states, with a description."""
    items, _ = collect([source], "band-edges")
    label, doc, folder = items[0]
    atoms, dens, _ = load_band_edge_densities(doc, folder, states, str(source))
    values = {n: ipr(d) for n, d in dens.items()}
    best = min(values, key=values.get)
    return values[best], f"{best.upper()} of {label}"


def analyse_band_edges(sources, output, labels=None, states=None, axis: int | None = None,
                       site=None, radius: float = DEFECT_RADIUS, reference=None,
                       threshold: float = IPR_THRESHOLD, enrichment_threshold: float = ENRICHMENT_THRESHOLD,
                       skip_failed: bool = False) -> dict:
    """Band-edge (and defect-state) localization of band-edges results.

    ``sources``: job folders or ``result.json`` paths of completed band-edges jobs (their cube
    files are read and checked against the result's structure). ``states``: which cube files
    (default all, VBM and CBM first). ``axis``: cell vector crossing the layers (0, 1, 2; default
    the third). ``site``: defect site (Cartesian Å), ``radius`` (Å). ``reference``: a band-edges
    result of a bulk-like cell, or a number, for the IPR reference (see the module docstring).

    Writes into ``output``: ``planar_average_<label>.{png,pdf,csv}``, ``localization.{csv,md,tex}``
    (fractions per region, IPR, centroids, localization per state) and
    ``band_edges_analysis.json``: the returned analysis document, with ``kind`` ("band-edges"),
    ``schema`` (:data:`pvatoms.analysis.ANALYSIS_SCHEMA`), ``results`` (each result's numbers
    from :func:`analyse_densities` plus ``label``, ``source``, ``cubes``, ``backend``,
    ``band_edges``), ``rows`` (the localization table), ``statements`` ({label: statement}),
    ``files`` and ``skipped``.
    """
    items, skipped = collect(sources, "band-edges", labels, skip_failed)
    ref_value, ref_name = None, "reference state"
    if reference is not None:
        if isinstance(reference, (int, float)) and not isinstance(reference, bool):
            if not reference > 0:
                raise InputError(f"reference IPR must be positive, got {reference!r}")
            ref_value, ref_name = float(reference), "given reference IPR"
        else:
            ref_value, ref_name = reference_ipr_of(reference)
    with StagedFolder(output) as stage:          # every file, or none (see pvatoms.io.StagedFolder)
        return _write_band_edges(stage, items, skipped, states, axis, site, radius, ref_value, ref_name,
                                 threshold, enrichment_threshold)


def _write_band_edges(stage, items, skipped, states, axis, site, radius, ref_value, ref_name, threshold,
                      enrichment_threshold) -> dict:
    """:func:`analyse_band_edges` writing into ``stage.path``; the report names the final paths."""
    from pvatoms.analysis.tables import provenance_label, write_table

    out = stage.path
    results, rows, files = [], [], {}
    for label, doc, folder in items:
        atoms, dens, paths = load_band_edge_densities(doc, folder, states, label)
        res = analyse_densities(atoms, dens, axis=axis, site=site, radius=radius,
                                reference_ipr=ref_value, reference_name=ref_name, threshold=threshold,
                                enrichment_threshold=enrichment_threshold)
        res.update({"label": label, "source": str(folder), "cubes": {k: str(v) for k, v in paths.items()},
                    "backend": doc.get("backend"), "band_edges": doc.get("band_edges")})
        backend = provenance_label(doc)
        stem = out / f"planar_average_{safe_name(label)}"
        model = (doc.get("backend") or {}).get("model")
        f = plot_planar_average(res, stem, title=f"{label} ({model}): {res['statement']}")
        f["csv"] = write_planar_average_csv(res, stem.with_suffix(".csv"))
        files[f"planar_average_{label}"] = {k: str(stage.final_path(v)) for k, v in f.items()}
        rows += table_rows(label, res, backend)
        results.append(res)
    files["table"] = {k: str(stage.final_path(v)) for k, v in write_table(
        rows, out / "localization", caption="Band-edge localization: fraction of each state per region, "
        "inverse participation ratio, centroid along the stacking axis", label="tab:localization").items()}
    files["report"] = str(stage.final_path(out / REPORT_FILE))
    report = to_jsonable({"kind": "band-edges", "schema": ANALYSIS_SCHEMA, "results": results, "rows": rows,
                          "files": files, "skipped": skipped,
                          "statements": {r["label"]: r["statement"] for r in results}})
    write_json_atomic(out / REPORT_FILE, report)
    return report


__all__ = ["analyse_band_edges", "analyse_densities", "stacking_geometry", "planar_average",
           "periodic_centroid", "periodic_offset", "region_grid", "region_fractions", "volume_fractions",
           "ipr", "sphere_mask", "locate", "edge_statement", "localization_statement",
           "plot_planar_average", "load_band_edge_densities", "check_same_atoms", "reference_ipr_of"]
