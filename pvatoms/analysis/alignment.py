"""Band alignment across a phase boundary: electrostatic-potential lineup plus bulk band edges.

>>> from pvatoms.analysis.alignment import analyse_alignment
>>> doc = analyse_alignment("runs/b/interface-static", "runs/b/pv-static", "runs/b/rp-static",
...                         "runs/b/alignment")                             # doctest: +SKIP
>>> doc["offsets"], doc["verdict"]["verdict"]                                 # doctest: +SKIP

The method (Van de Walle & Martin; Baldereschi, Baroni & Resta) in the conventions used here:

* **Potential.** ``V(r)`` is the electrostatic potential energy of an electron (eV, as a LOCPOT;
  GPAW statics save it as ``potential.npz``, see :func:`pvatoms.io.read_potential_file`). The
  Kohn-Sham eigenvalues of the same calculation share its zero, so ``E_VBM - <V>`` of a bulk is an
  intrinsic number of that bulk (at its strain state), whatever constant a code adds.
* **Planar average** ``V̄(z)``: mean over each grid plane spanned by the two in-plane cell vectors;
  ``z`` is the height along the stacking normal from the cell origin (Å), as in
  :mod:`pvatoms.analysis.localization` (same ``stacking_geometry``).
* **Macroscopic average** ``V̿(z)``: ``V̄`` convolved with a box of width ``p`` for every period
  ``p`` given (the stacking period of each bulk side: one octahedral layer of the perovskite, one
  block plus its rock-salt layer of the RP phase; two different periods give the double average).
  The convolution is done in Fourier space (``sinc(m p / L)`` per harmonic ``m``), exact for any
  ``p`` on a periodic grid. A box of width ``p`` makes a function of period ``p`` constant, so
  ``V̿`` is flat wherever the material is bulk-like over the kernel's reach, ``±Σp/2``.
* **Regions** come from the per-atom ``region`` labels (``rp`` / ``boundary`` / ``perovskite``):
  the arc of heights covered by a region's atoms (periodic), widened at each end to the mid-plane
  towards the next atom of another region (its *extent*). The **bulk-like window** of a region is
  its extent shrunk by the kernel half-width (``Σp/2`` for the double average, ``p/2`` when each
  side is read from the average over its own period, ``average='own'``); a region thinner than
  twice the kernel has no bulk-like window (``bulk_like: false``): its value is read at the centre
  and its flatness over the whole extent.
* **Potential step** ``ΔV = V̿(rp) - V̿(perovskite)``: the means of ``V̿`` in the two windows.
  **Flatness** of a window: half the peak-to-peak variation of ``V̿`` in it (eV). The lineup
  **uncertainty** is the two flatnesses added in quadrature (plus ``extra_uncertainty`` when given,
  in quadrature, with its stated source).
* **Bulk references.** Each bulk's ``E_VBM - <V>``, ``E_CBM - <V>`` (``<V>``: the cell average of
  its own potential), from a calculation of that bulk at the strain state it has in the interface
  and with the same settings. Aligned edges in the interface: ``E = (E - <V>)_bulk + V̿(region)``.
* **Offsets** ``VBO = E_VBM(rp) - E_VBM(perovskite)``, ``CBO = E_CBM(rp) - E_CBM(perovskite)``
  (eV; positive: the RP edge is higher).
* **Verdict** (:func:`classify`): type I (straddling: one gap inside the other, both carriers on
  the narrow-gap side), type II (staggered: holes on the side with the higher VBM, electrons on the
  side with the lower CBM), type III (broken gap: one side's VBM above the other's CBM). The
  **margin** is how far an offset is from the nearest value that changes the verdict (the other
  held fixed; the smaller of the two); below the uncertainty (or zero) the verdict is
  ``cannot tell`` and both candidates are named.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms.analysis import ANALYSIS_SCHEMA
from pvatoms.analysis.figures import save_figure
from pvatoms.analysis.localization import COLORS, stacking_geometry
from pvatoms.errors import InputError
from pvatoms.io import read_potential_file
from pvatoms.schema import atoms_from_dict, read_result, to_jsonable, write_json_atomic

#: The two sides of an RP / perovskite boundary, in the order offsets are taken (rp - perovskite).
SIDES = ("rp", "perovskite")
#: Verdicts :func:`classify` returns.
VERDICTS = ("type I", "type II", "type III", "cannot tell")
#: Plane-clustering tolerance for Pb layers (Å along the normal).
PLANE_TOL = 0.5
REPORT_FILE = "alignment.json"


# ---------------------------------------------------------------- averages

def planar_average(potential: np.ndarray, cell, axis: int | None = None, normal=None) -> tuple:
    """(heights z in Å along the stacking normal, planar average V̄(z) in eV, geometry) of a
    potential on a periodic grid spanning ``cell``; ``geometry`` as
    :func:`pvatoms.analysis.localization.stacking_geometry` (``axis``: index of the cell vector
    crossing the layers, default the third)."""
    v = np.asarray(potential, float)
    if v.ndim != 3:
        raise InputError(f"potential must be a 3D grid, got shape {v.shape}")
    geometry = stacking_geometry(Atoms(cell=np.asarray(cell, float), pbc=True), normal=normal, axis=axis)
    ax = geometry["axis"]
    avg = v.mean(axis=tuple(i for i in range(3) if i != ax))
    z = np.arange(v.shape[ax]) / v.shape[ax] * geometry["period"]
    return z, avg, geometry


def macroscopic_average(values, length: float, periods) -> np.ndarray:
    """``values`` on a uniform periodic grid of total ``length`` (Å) convolved with a box of width
    ``p`` (Å) for every ``p`` in ``periods`` (one period: the plain macroscopic average; two: the
    double average of a heterostructure). Exact in Fourier space for any ``p``."""
    y = np.asarray(values, float)
    if not length > 0:
        raise InputError(f"grid length must be positive (Å), got {length!r}")
    periods = [float(p) for p in np.atleast_1d(periods)]
    for p in periods:
        if not 0 < p < length:
            raise InputError(f"averaging period must lie in (0, {length:.3f}) Å (the cell's length along "
                             f"the normal), got {p!r}")
    m = np.fft.rfftfreq(len(y), d=1.0 / len(y))            # harmonic numbers 0, 1, 2, ...
    f = np.fft.rfft(y)
    for p in periods:
        f = f * np.sinc(m * p / length)
    return np.fft.irfft(f, n=len(y))


# ---------------------------------------------------------------- regions along the normal

def heights(atoms: Atoms, geometry: dict) -> np.ndarray:
    """Height of every atom along the normal (Å, in [0, period)), from the cell origin."""
    frac = np.linalg.solve(np.asarray(atoms.cell, float).T, atoms.positions.T).T[:, geometry["axis"]]
    return np.mod(frac, 1.0) * geometry["period"]


def arc(h, period: float) -> dict:
    """The shortest periodic arc holding all heights ``h`` (Å): ``start``, ``end`` (may exceed
    the period: unwrapped), ``span`` and ``centre`` (in [0, period))."""
    h = np.sort(np.mod(np.asarray(h, float), period))
    if len(h) == 0:
        raise InputError("no atoms in the region")
    if len(h) == 1:
        return {"start": float(h[0]), "end": float(h[0]), "span": 0.0, "centre": float(h[0])}
    gaps = np.diff(np.append(h, h[0] + period))
    k = int(np.argmax(gaps))                                 # the largest gap lies outside the region
    start = h[(k + 1) % len(h)]
    span = period - gaps[k]
    return {"start": float(start), "end": float(start + span), "span": float(span),
            "centre": float((start + span / 2) % period)}


def extent(h_region, h_other, period: float) -> dict:
    """:func:`arc` of a region's heights, widened at each end by half the distance to the nearest
    atom of another region (the region owns the space up to the mid-plane): ``extent_start``,
    ``extent_end`` (Å, unwrapped like ``start``/``end``)."""
    a = arc(h_region, period)
    other = np.mod(np.asarray(h_other, float), period)
    if len(other) == 0:
        a.update({"extent_start": a["start"], "extent_end": a["start"] + period})
        return a
    below = np.mod(a["start"] - other, period)
    above = np.mod(other - a["end"], period)
    a["extent_start"] = float(a["start"] - below.min() / 2)
    a["extent_end"] = float(a["end"] + above.min() / 2)
    return a


def layer_period(atoms: Atoms, geometry: dict, region: str, layers: int = 1, element: str = "Pb") -> float | None:
    """Stacking period (Å) of ``region`` measured from its ``element`` planes: the mean distance
    between plane i and plane i + ``layers`` (``layers``: octahedral layers per period, 1 for the
    perovskite, n for an RP phase of n-layer blocks, whose period also holds one rock-salt layer).
    None when the region holds fewer than ``layers + 1`` planes."""
    labels = np.asarray(atoms.arrays["region"]).astype(str)
    sel = (labels == region) & (np.asarray(atoms.get_chemical_symbols()) == element)
    if not sel.any():
        return None
    h = heights(atoms, geometry)[sel]
    a = arc(h, geometry["period"])
    u = np.sort(np.mod(h - a["start"], geometry["period"]))  # unwrapped along the arc
    planes = [u[0]]
    members = [[u[0]]]
    for x in u[1:]:
        if x - planes[-1] > PLANE_TOL:
            planes.append(x)
            members.append([x])
        else:
            members[-1].append(x)
    planes = np.array([np.mean(m) for m in members])
    if len(planes) < layers + 1:
        return None
    return float(np.mean(planes[layers:] - planes[:-layers]))


def _in_window(z, lo: float, hi: float, period: float) -> np.ndarray:
    """Grid points with heights in the periodic window [lo, hi] (hi - lo < period)."""
    return np.mod(np.asarray(z) - lo, period) <= (hi - lo) + 1e-9


def read_window(z, vmac, span: dict, kernel: float, period: float) -> dict:
    """Mean and flatness (eV) of an average ``vmac`` in the bulk-like window of one region: its
    :func:`extent` shrunk by ``kernel`` (Å) at both ends. With no such window (a region thinner
    than twice the kernel) the value is read at the centre and the flatness over the whole extent."""
    lo, hi = span["extent_start"] + kernel, span["extent_end"] - kernel
    bulk_like = hi - lo > 0
    dz = period / len(z)
    centre = (span["extent_start"] + span["extent_end"]) / 2
    if bulk_like:
        sel = _in_window(z, lo, hi, period)
        if not sel.any():                                   # window narrower than a grid step
            sel = _in_window(z, centre - dz, centre + dz, period)
        flat_sel = sel
    else:
        sel = _in_window(z, centre - dz, centre + dz, period)
        flat_sel = _in_window(z, span["extent_start"], max(span["extent_end"], span["extent_start"] + dz), period)
    v = np.asarray(vmac)
    return {"window": [float(lo % period), float(hi % period)] if bulk_like else None,
            "bulk_like": bool(bulk_like), "mean": float(v[sel].mean()), "centre": float(centre % period),
            "flatness": float((v[flat_sel].max() - v[flat_sel].min()) / 2), "points": int(sel.sum()),
            "kernel_half_width": float(kernel)}


#: How the lineup is read: ``double`` (the average over both periods, one curve flat on both
#: sides) or ``own`` (each side from the average over its own period only: a shorter kernel, for
#: thin sides).
AVERAGES = ("double", "own")


def potential_step(potential, cell, atoms: Atoms, periods: dict | None = None, layers: dict | None = None,
                   sides=SIDES, axis: int | None = None, extra_uncertainty: float = 0.0,
                   average: str = "double") -> dict:
    """The potential lineup across the boundary of an interface cell.

    ``potential``: grid (eV) spanning ``cell`` (Å); ``atoms``: the interface with ``region``
    labels. ``periods``: ``{side: stacking period (Å)}``; a side not given is measured from its Pb
    planes (:func:`layer_period` with ``layers[side]`` layers per period, default 1).
    ``average``: see :data:`AVERAGES`; the other reading is kept as a cross-check
    (``other_step``). ``extra_uncertainty`` (eV) is added in quadrature to the flatness terms.

    Returns ``z``, ``planar``, ``macroscopic`` (eV, double average over both periods),
    ``geometry``, ``periods``, per-side ``regions`` (extent, window, mean, flatness, bulk_like,
    and ``double``/``own``: both readings), every region's extent (``spans``), ``step``
    (``V̿(sides[0]) - V̿(sides[1])``, eV), ``other_step`` and ``uncertainty`` (eV).
    """
    from pvatoms.errors import check_choice
    check_choice("average", average, AVERAGES)
    if "region" not in atoms.arrays:
        raise InputError("the interface structure has no 'region' labels: cannot tell which part is bulk-like")
    z, vbar, geometry = planar_average(potential, cell, axis=axis, normal=atoms.info.get("stacking_normal"))
    labels = np.asarray(atoms.arrays["region"]).astype(str)
    for side in sides:
        if not (labels == side).any():
            raise InputError(f"no atom is labelled {side!r} (labels: {sorted(set(labels))})")
    periods, layers = dict(periods or {}), dict(layers or {})
    for side in sides:
        if periods.get(side) is None:
            p = layer_period(atoms, geometry, side, int(layers.get(side, 1)))
            if p is None:
                need = int(layers.get(side, 1)) + 1
                raise InputError(f"cannot measure the stacking period of the {side} side: fewer than {need} "
                                 f"Pb planes carry its label; give periods={{{side!r}: Å}}")
            periods[side] = p
    L = geometry["period"]
    plist = [float(periods[s]) for s in sides]
    vmac = macroscopic_average(vbar, L, plist)
    h = heights(atoms, geometry)
    spans = {r: extent(h[labels == r], h[labels != r], L) for r in sorted(set(labels))}
    regions = {}
    for side in sides:
        double = read_window(z, vmac, spans[side], sum(plist) / 2, L)
        own = read_window(z, macroscopic_average(vbar, L, [periods[side]]), spans[side], periods[side] / 2, L)
        info = dict(double if average == "double" else own)
        info.update({"extent": spans[side], "double": double, "own": own})
        regions[side] = info
    a, b = sides
    extra = float(extra_uncertainty or 0.0)
    if not (math.isfinite(extra) and extra >= 0):
        raise InputError(f"extra_uncertainty must be >= 0 eV, got {extra_uncertainty!r}")
    unc = math.sqrt(regions[a]["flatness"] ** 2 + regions[b]["flatness"] ** 2 + extra ** 2)
    other = "own" if average == "double" else "double"
    return {"z": z.tolist(), "planar": vbar.tolist(), "macroscopic": vmac.tolist(), "geometry": geometry,
            "periods": {s: float(periods[s]) for s in sides}, "regions": regions, "spans": spans,
            "average": average, "step": regions[a]["mean"] - regions[b]["mean"],
            "other_step": regions[a][other]["mean"] - regions[b][other]["mean"],
            "uncertainty": unc, "extra_uncertainty": extra, "sides": list(sides)}


# ---------------------------------------------------------------- bulk references, offsets, verdict

def bulk_reference(potential, band_edges: dict, source: str = "PBE") -> dict:
    """A bulk's band edges relative to the cell average of its own electrostatic potential (eV):
    ``vbm_minus_v``, ``cbm_minus_v``, ``gap``, ``v_average`` and ``edges`` (which band edges:
    ``source``, e.g. 'PBE' or 'PBE+SOC')."""
    if not band_edges or band_edges.get("vbm") is None or band_edges.get("cbm") is None:
        raise InputError("the bulk calculation has no band edges (a metal, or not a DFT result)")
    vavg = float(np.mean(np.asarray(potential, float)))
    vbm, cbm = float(band_edges["vbm"]), float(band_edges["cbm"])
    return {"vbm_minus_v": vbm - vavg, "cbm_minus_v": cbm - vavg, "gap": cbm - vbm, "v_average": vavg,
            "vbm": vbm, "cbm": cbm, "edges": source}


def band_offsets(step: dict, bulks: dict) -> dict:
    """Aligned band edges in the interface (eV, the interface calculation's zero) and the offsets
    ``vbo``/``cbo`` (``sides[0] - sides[1]``) from a :func:`potential_step` and the
    :func:`bulk_reference` of each side."""
    a, b = step["sides"]
    aligned = {}
    for side in (a, b):
        if side not in bulks:
            raise InputError(f"no bulk reference for the {side} side")
        v = step["regions"][side]["mean"]
        aligned[side] = {"vbm": bulks[side]["vbm_minus_v"] + v, "cbm": bulks[side]["cbm_minus_v"] + v,
                         "v_region": v}
    return {"aligned": aligned, "vbo": aligned[a]["vbm"] - aligned[b]["vbm"],
            "cbo": aligned[a]["cbm"] - aligned[b]["cbm"]}


def _type(ev_a, ec_a, ev_b, ec_b) -> str:
    if max(ev_a, ev_b) >= min(ec_a, ec_b):
        return "type III"
    dv, dc = ev_a - ev_b, ec_a - ec_b
    return "type II" if dv * dc > 0 else "type I"


def classify(vbm_a: float, cbm_a: float, vbm_b: float, cbm_b: float, uncertainty: float = 0.0,
             names=SIDES) -> dict:
    """Type I / II / III verdict of the aligned edges of sides A and B (eV, one common zero).

    Type III (broken gap) when the higher VBM lies at or above the lower CBM; otherwise type II
    when ``VBO = vbm_a - vbm_b`` and ``CBO = cbm_a - cbm_b`` have the same strict sign (staggered),
    else type I (straddling; an offset of exactly zero is on the I/II border).

    ``margin_vbo`` (``margin_cbo``): distance (eV) from the VBO (CBO) to the nearest value that
    changes the verdict, the other offset and both gaps held fixed (thresholds: 0, the I/II border;
    the gap of the other side, the II/III border); ``margin`` the smaller of the two, ``flips_to``
    the verdict across it. With ``margin`` below ``uncertainty`` (eV), or zero, the verdict is
    ``cannot tell`` and ``candidates`` names both; ``best_estimate`` is the verdict of the values
    as given. ``electrons_on`` / ``holes_on``: the side holding the lower CBM / higher VBM.
    """
    vals = [float(x) for x in (vbm_a, cbm_a, vbm_b, cbm_b)]
    if not all(math.isfinite(x) for x in vals):
        raise InputError(f"band edges must be finite numbers, got {vals}")
    vbm_a, cbm_a, vbm_b, cbm_b = vals
    if cbm_a <= vbm_a or cbm_b <= vbm_b:
        raise InputError(f"each side needs a gap (CBM > VBM): {names[0]} {vbm_a:.3f}/{cbm_a:.3f}, "
                         f"{names[1]} {vbm_b:.3f}/{cbm_b:.3f} eV")
    u = float(uncertainty)
    if not (math.isfinite(u) and u >= 0):
        raise InputError(f"uncertainty must be >= 0 eV, got {uncertainty!r}")
    gap_a, gap_b = cbm_a - vbm_a, cbm_b - vbm_b
    vbo, cbo = vbm_a - vbm_b, cbm_a - cbm_b
    best = _type(vbm_a, cbm_a, vbm_b, cbm_b)
    # thresholds of each offset (the other fixed): 0 (I/II) and the II/III border
    #   VBO: vbm_a = cbm_b  <=> VBO = gap_b (A above);  CBO: cbm_a = vbm_b <=> CBO = -gap_b (B above)
    t_vbo, t_cbo = [0.0, gap_b], [0.0, -gap_b]
    m_vbo = min(abs(vbo - t) for t in t_vbo)
    m_cbo = min(abs(cbo - t) for t in t_cbo)
    which = "vbo" if m_vbo <= m_cbo else "cbo"
    margin = min(m_vbo, m_cbo)
    eps = 1e-9
    if which == "vbo":
        t = min(t_vbo, key=lambda t: abs(vbo - t))
        side = 1.0 if vbo <= t else -1.0
        v2 = vbo + side * (abs(vbo - t) + max(eps, 1e-6))
        flips = _type(vbm_b + v2, cbm_a, vbm_b, cbm_b) if cbm_a > vbm_b + v2 else "type III"
    else:
        t = min(t_cbo, key=lambda t: abs(cbo - t))
        side = 1.0 if cbo <= t else -1.0
        c2 = cbo + side * (abs(cbo - t) + max(eps, 1e-6))
        flips = _type(vbm_a, cbm_b + c2, vbm_b, cbm_b) if cbm_b + c2 > vbm_a else "type III"
    holes = names[0] if vbm_a > vbm_b else names[1] if vbm_b > vbm_a else "both"
    electrons = names[0] if cbm_a < cbm_b else names[1] if cbm_b < cbm_a else "both"
    undecided = margin < u or margin <= eps
    verdict = "cannot tell" if undecided else best
    candidates = sorted({best, flips}) if undecided else [best]
    out = {"verdict": verdict, "best_estimate": best, "candidates": candidates, "vbo": vbo, "cbo": cbo,
           "gap": {names[0]: gap_a, names[1]: gap_b}, "margin": margin, "margin_vbo": m_vbo,
           "margin_cbo": m_cbo, "closest": which, "flips_to": flips, "uncertainty": u,
           "electrons_on": electrons, "holes_on": holes, "sides": list(names)}
    out["statement"] = verdict_statement(out)
    return out


def verdict_statement(v: dict) -> str:
    """One sentence for a :func:`classify` result."""
    a, b = v["sides"]
    nums = (f"VBO({a}-{b}) = {v['vbo']:+.2f} eV, CBO = {v['cbo']:+.2f} eV, margin {v['margin']:.2f} eV "
            f"({v['closest'].upper()}) against an uncertainty of {v['uncertainty']:.2f} eV")
    if v["verdict"] == "cannot tell":
        return (f"cannot tell: {' or '.join(v['candidates'])} ({nums}); the best estimate is "
                f"{v['best_estimate']}")
    if v["verdict"] == "type I":
        side = v["holes_on"] if v["holes_on"] == v["electrons_on"] else "?"
        return f"type I (straddling): electrons and holes both on the {side} side ({nums})"
    if v["verdict"] == "type II":
        return (f"type II (staggered): electrons on the {v['electrons_on']} side, holes on the "
                f"{v['holes_on']} side ({nums})")
    return f"type III (broken gap): the {v['holes_on']} VBM lies above the {v['electrons_on']} CBM ({nums})"


# ---------------------------------------------------------------- figure

def plot_alignment(result: dict, stem, title: str | None = None) -> dict:
    """Planar and macroscopic average along the stacking normal with the regions shaded and the
    bulk-like windows marked (left), the aligned band edges of both sides (right); writes
    ``stem.png``/``stem.pdf`` (see :func:`pvatoms.analysis.figures.save_figure`)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    step = result["step"]
    z = np.asarray(step["z"])
    L = step["geometry"]["period"]
    fig = Figure(figsize=(8.0, 3.4), layout="constrained")
    ax, bx = fig.subplots(1, 2, width_ratios=[3, 1])
    handles = []
    for name, sp in step["spans"].items():
        color = COLORS.get(name, "0.8")
        lo, hi = sp["extent_start"], sp["extent_end"]
        for shift in (-L, 0.0, L):                            # periodic arcs may cross the cell edge
            if hi + shift > 0 and lo + shift < L:
                ax.axvspan(max(lo + shift, 0), min(hi + shift, L), color=color, alpha=0.16, lw=0)
        handles.append(Patch(color=color, alpha=0.35, label=name))
    ax.plot(z, step["planar"], color="0.55", lw=0.7, label="planar average")
    ax.plot(z, step["macroscopic"], color="k", lw=1.5, label="macroscopic average")
    for side, reg in step["regions"].items():
        color = COLORS.get(side, "C3")
        if reg["window"]:
            lo, hi = reg["window"]
            hi = hi if hi >= lo else hi + L
            for shift in (-L, 0.0):
                if hi + shift > 0:
                    ax.hlines(reg["mean"], max(lo + shift, 0), min(hi + shift, L), color=color, lw=3)
        else:
            ax.plot([reg["centre"]], [reg["mean"]], "o", color=color)
    ax.set_xlim(0, L)
    ax.set_xlabel("height along the stacking normal (Å)")
    ax.set_ylabel("electrostatic potential energy (eV)")
    ax.legend(handles=ax.get_lines()[:2] + handles, fontsize=7, loc="best")
    if title:
        ax.set_title(title, fontsize=8)
    aligned = result["offsets"]["aligned"]
    sides = step["sides"]
    for k, side in enumerate(sides):
        e = aligned[side]
        color = COLORS.get(side, "C0")
        bx.add_patch(Rectangle((k, e["vbm"] - 1.0), 0.8, 1.0, color=color, alpha=0.5))
        bx.add_patch(Rectangle((k, e["cbm"]), 0.8, 1.0, color=color, alpha=0.5))
        bx.text(k + 0.4, e["vbm"] - 0.05, f"{e['vbm']:.2f}", ha="center", va="top", fontsize=7)
        bx.text(k + 0.4, e["cbm"] + 0.05, f"{e['cbm']:.2f}", ha="center", va="bottom", fontsize=7)
    lo = min(aligned[s]["vbm"] for s in sides) - 1.2
    hi = max(aligned[s]["cbm"] for s in sides) + 1.2
    bx.set_xlim(-0.2, len(sides))
    bx.set_ylim(lo, hi)
    bx.set_xticks([k + 0.4 for k in range(len(sides))], sides)
    bx.set_ylabel("band edges in the interface (eV)")
    bx.set_title(result["verdict"]["verdict"], fontsize=8)
    return save_figure(fig, stem)


# ---------------------------------------------------------------- the analysis

def _doc(source, label=None) -> dict:
    doc = read_result(source, label=label)
    if doc.get("status") != "completed":
        raise InputError(f"{doc.get('_label')}: the calculation did not complete ({doc.get('reason')})")
    return doc


def potential_of(doc: dict) -> tuple[np.ndarray, np.ndarray]:
    """(potential in eV, cell in Å) saved with a result (``files.potential``)."""
    name = (doc.get("files") or {}).get("potential")
    folder = doc.get("_folder")
    if not name or not folder:
        raise InputError(f"{doc.get('_label')}: the result saved no electrostatic potential "
                         "(a GPAW static writes potential.npz)")
    path = Path(folder) / name
    if not path.is_file():
        raise InputError(f"{doc.get('_label')}: potential file {path} is missing")
    return read_potential_file(path)


def edges_of(doc: dict, soc: bool = False) -> tuple[dict, str]:
    """(band edges, which) of a result: PBE (``band_edges``) or, with ``soc``, the spin-orbit
    edges recorded by :func:`pvatoms.calc.soc.soc_for_result` (``data.band_edges_soc``)."""
    level = ((doc.get("backend") or {}).get("settings") or {}).get("xc") or "DFT"
    if soc:
        rec = (doc.get("data") or {}).get("band_edges_soc")
        if not rec:
            raise InputError(f"{doc.get('_label')}: no spin-orbit band edges recorded (data.band_edges_soc)")
        return rec, f"{level}+SOC"
    return doc.get("band_edges"), level


def analyse_alignment(interface, perovskite_bulk, rp_bulk, output=None, periods: dict | None = None,
                      layers: dict | None = None, soc: bool = False, axis: int | None = None,
                      extra_uncertainty: float = 0.0, extra_source: str | None = None,
                      average: str = "double", label: str = "alignment") -> dict:
    """Band alignment of an RP / perovskite interface: the analysis document (kind ``alignment``).

    ``interface``, ``perovskite_bulk``, ``rp_bulk``: completed DFT results (job folders, result
    files or documents read with :func:`pvatoms.schema.read_result`) with a saved potential and
    band edges; the interface's structure carries the region labels, each bulk is the phase at the
    strain state it has in the interface, computed with the same settings. ``layers``: octahedral
    layers per stacking period of each side (``{"rp": n}`` for an RP phase of n-layer blocks);
    ``periods`` overrides the measured periods (Å); ``average``: see :data:`AVERAGES`. ``soc``: use
    the spin-orbit band edges of the bulks (the lineup is the same: non-self-consistent SOC leaves
    the potential unchanged).

    Writes ``alignment.json`` and ``alignment.{png,pdf}`` into ``output`` when given. The document
    holds ``step`` (:func:`potential_step`), ``bulk`` (:func:`bulk_reference` per side),
    ``offsets`` (:func:`band_offsets`), ``verdict`` (:func:`classify` with the lineup uncertainty)
    and ``statement``.
    """
    idoc = _doc(interface)
    bdocs = {"perovskite": _doc(perovskite_bulk), "rp": _doc(rp_bulk)}
    if not idoc.get("structure"):
        raise InputError(f"{idoc.get('_label')}: the interface result has no structure")
    atoms = atoms_from_dict(idoc["structure"])
    v, cell = potential_of(idoc)
    if np.abs(np.asarray(cell) - np.asarray(atoms.cell)).max() > 1e-3:
        raise InputError(f"{idoc.get('_label')}: the potential's cell differs from the structure's")
    step = potential_step(v, cell, atoms, periods=periods, layers=layers, axis=axis,
                          extra_uncertainty=extra_uncertainty, average=average)
    bulks, settings = {}, {}
    for side, doc in bdocs.items():
        edges, which = edges_of(doc, soc)
        vb, _ = potential_of(doc)
        bulks[side] = bulk_reference(vb, edges, which)
        bulks[side]["label"] = doc.get("_label")
        settings[side] = (doc.get("backend") or {}).get("settings")
    isettings = (idoc.get("backend") or {}).get("settings") or {}
    mismatch = sorted(k for s in settings.values() for k in ("ecut", "xc")
                      if s and isettings and s.get(k) != isettings.get(k))
    offsets = band_offsets(step, bulks)
    a, b = step["sides"]
    al = offsets["aligned"]
    verdict = classify(al[a]["vbm"], al[a]["cbm"], al[b]["vbm"], al[b]["cbm"], step["uncertainty"], names=(a, b))
    notes = []
    for side in (a, b):
        if not step["regions"][side]["bulk_like"]:
            k = step["regions"][side]["kernel_half_width"]
            notes.append(f"the {side} side is thinner than the averaging kernel (±{k:.1f} Å): no bulk-like "
                         "window; its value is read at its centre and the uncertainty from its whole extent")
    if mismatch:
        notes.append(f"interface and bulk calculations differ in {', '.join(sorted(set(mismatch)))}: "
                     "offsets are not consistent")
    if extra_uncertainty:
        notes.append(f"extra uncertainty {extra_uncertainty:.3f} eV: {extra_source or 'stated by the caller'}")
    doc = {"kind": "alignment", "schema": ANALYSIS_SCHEMA, "label": label,
           "interface": idoc.get("_label"), "bulks": {s: bulks[s]["label"] for s in bulks},
           "step": step, "bulk": bulks, "offsets": offsets, "verdict": verdict,
           "potential_step": step["step"], "vbo": offsets["vbo"], "cbo": offsets["cbo"],
           "uncertainty": step["uncertainty"], "edges": bulks[a]["edges"],
           "level_of_theory": idoc.get("level_of_theory"), "notes": notes,
           "statement": f"{idoc.get('_label')}: {verdict['statement']}", "files": {}}
    if output is not None:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        model = (idoc.get("backend") or {}).get("model")
        figs = plot_alignment(doc, out / "alignment", title=f"{idoc.get('_label')} ({model}, {doc['edges']} edges)")
        doc["files"] = {"figure": {k: str(p) for k, p in figs.items()}, "report": str(out / REPORT_FILE)}
        write_json_atomic(out / REPORT_FILE, to_jsonable(doc))
    return to_jsonable(doc)


__all__ = ["planar_average", "macroscopic_average", "heights", "arc", "layer_period", "read_window", "extent",
           "AVERAGES",
           "potential_step", "bulk_reference", "band_offsets", "classify", "verdict_statement",
           "plot_alignment", "analyse_alignment", "potential_of", "edges_of", "SIDES", "VERDICTS"]
