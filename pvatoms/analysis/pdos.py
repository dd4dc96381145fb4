"""Region-projected density of states: how much of each Kohn-Sham state lives on the RP side, the
boundary and the perovskite side, as a function of energy.

>>> from pvatoms.analysis.pdos import read_projections, analyse_region_dos
>>> proj = read_projections("runs/b/pdos/projections.npz")                   # doctest: +SKIP
>>> doc = analyse_region_dos(proj, labels, "runs/b/pdos")                      # doctest: +SKIP
>>> doc["local_edges"]["rp"], doc["sum_rule"]["max_error"]                     # doctest: +SKIP

Input: the per-atom weights of every state (:func:`pvatoms.calc.gpaw_dos.state_weights`, written
as ``projections.npz``), and one region label per atom. Conventions:

* **DOS** ``g(E) = d Σ_k w_k Σ_n δ(E - ε_nk)`` (states/eV per cell; ``d`` the spin degeneracy,
  ``w_k`` the k weights, summing to 1), each δ a Gaussian of ``width`` eV (default 0.1).
* **Region DOS** the same with each state weighted by the sum of its atom weights over the region.
  With the PAW partition the region DOS add up to the total; the **sum rule** reported is
  ``max_E |Σ_r g_r(E) - g(E)| / max_E g(E)`` (tolerance :data:`SUM_RULE_TOL`).
* **Local band edges** of a region: the highest occupied and the lowest empty state whose weight on
  the region is at least ``edge_fraction`` (default 0.5) times the region's share of the atoms
  (a state spread evenly over the cell has weight ≈ that share); ``vbm_state``/``cbm_state`` give
  its (spin, k, band) index. This is a cross-check of the potential lineup
  (:mod:`pvatoms.analysis.alignment`), not a replacement: in a thin cell the edge states spread
  over both sides (the same state is then the local edge of both: no local offset to read).
* **Band groups**: bands whose energy ranges (over spins and k) overlap or lie closer than
  ``min_gap`` (eV) form one group (e.g. the Pb 5d semicore band); the **region level** of a group
  is the weighted mean energy of its states on each region, a core-level-like local reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvatoms.analysis import ANALYSIS_SCHEMA
from pvatoms.analysis.figures import save_figure
from pvatoms.analysis.localization import COLORS, REGIONS
from pvatoms.errors import InputError
from pvatoms.schema import to_jsonable, write_json_atomic

#: Largest accepted relative violation of the region-DOS sum rule (partition method).
SUM_RULE_TOL = 1e-4
EDGE_FRACTION = 0.5
REPORT_FILE = "pdos.json"


def read_projections(path) -> dict:
    """The arrays written by :func:`pvatoms.calc.gpaw_dos.write_projections` (see its module)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no projections file {path}")
    with np.load(path, allow_pickle=False) as data:
        out = {k: np.asarray(data[k]) for k in data.files}
    out["method"] = str(out["method"])
    out["symbols"] = [str(x) for x in out["symbols"]]
    f = float(out["fermi_level"])
    out["fermi_level"] = None if np.isnan(f) else f
    out["degeneracy"] = float(out["degeneracy"])
    return out


def _check(proj: dict) -> None:
    e, w = np.asarray(proj["eigenvalues"]), np.asarray(proj["weights"])
    if e.ndim != 3 or w.shape[:3] != e.shape:
        raise InputError(f"projections: eigenvalues {e.shape} and weights {w.shape} do not match")
    kw = np.asarray(proj["k_weights"])
    if kw.shape != (e.shape[1],) or abs(kw.sum() - 1) > 1e-6:
        raise InputError("projections: k weights must be one per k-point and sum to 1")


def region_names(labels) -> list:
    """Regions in their usual order (rp, boundary, perovskite), then any other label."""
    labels = [str(x) for x in labels]
    return [r for r in REGIONS if r in labels] + sorted(set(labels) - set(REGIONS))


def region_weights(proj: dict, labels) -> dict:
    """``{region: weights [s, k, n]}``: each state's atom weights summed over the region."""
    _check(proj)
    w = np.asarray(proj["weights"])
    labels = np.asarray([str(x) for x in labels])
    if len(labels) != w.shape[-1]:
        raise InputError(f"{len(labels)} region labels for {w.shape[-1]} atoms")
    return {r: w[..., labels == r].sum(axis=-1) for r in region_names(labels)}


def gaussian_dos(energies, eigenvalues, k_weights, degeneracy: float = 2.0, weights=None,
                 width: float = 0.1) -> np.ndarray:
    """``d Σ_s Σ_k w_k Σ_n x_skn exp(-((E-ε)/σ)²)/(√π σ)`` (states/eV per cell) on ``energies``."""
    if not width > 0:
        raise InputError(f"Gaussian width must be > 0 eV, got {width!r}")
    e = np.asarray(eigenvalues, float)
    x = np.ones_like(e) if weights is None else np.asarray(weights, float)
    amp = (degeneracy * np.asarray(k_weights)[None, :, None] * x).ravel()
    E = np.asarray(energies, float)
    out = np.zeros_like(E)
    flat = e.ravel()
    for lo in range(0, len(flat), 4096):
        d = (E[:, None] - flat[None, lo:lo + 4096]) / width
        out += np.exp(-d * d) @ amp[lo:lo + 4096]
    return out / (np.sqrt(np.pi) * width)


def region_dos(proj: dict, labels, energies=None, width: float = 0.1, step: float = 0.01) -> dict:
    """Total and region DOS (states/eV per cell) on ``energies`` (default: the eigenvalue range
    ±5 width, every ``step`` eV) and the sum rule (see the module docstring)."""
    e = np.asarray(proj["eigenvalues"])
    if energies is None:
        energies = np.arange(e.min() - 5 * width, e.max() + 5 * width + step, step)
    energies = np.asarray(energies, float)
    total = gaussian_dos(energies, e, proj["k_weights"], proj["degeneracy"], None, width)
    rw = region_weights(proj, labels)
    regions = {r: gaussian_dos(energies, e, proj["k_weights"], proj["degeneracy"], w, width) for r, w in rw.items()}
    summed = np.sum(list(regions.values()), axis=0)
    err = float(np.max(np.abs(summed - total)) / max(float(total.max()), 1e-12))
    per_state = np.abs(sum(rw.values()) - 1.0)
    return {"energies": energies, "total": total, "regions": regions, "width": width,
            "sum_rule": {"max_error": err, "tolerance": SUM_RULE_TOL, "holds": bool(err <= SUM_RULE_TOL),
                         "max_state_deviation": float(per_state.max()), "method": proj.get("method")}}


def local_edges(proj: dict, labels, edge_fraction: float = EDGE_FRACTION) -> dict:
    """Local VBM and CBM (eV) of each region (see the module docstring), with the weight
    threshold used and the weights of the edge states."""
    rw = region_weights(proj, labels)
    e = np.asarray(proj["eigenvalues"])
    occ = np.asarray(proj["occupations"]) > 0.5
    labels = [str(x) for x in labels]
    out = {}
    for r, w in rw.items():
        share = labels.count(r) / len(labels)
        thr = edge_fraction * share
        ok = w >= thr
        v, c = e[ok & occ], e[ok & ~occ]
        vbm = float(v.max()) if v.size else None
        cbm = float(c.min()) if c.size else None
        iv = np.argwhere(ok & occ)[np.argmax(v)].tolist() if v.size else None
        ic = np.argwhere(ok & ~occ)[np.argmin(c)].tolist() if c.size else None
        out[r] = {"vbm": vbm, "cbm": cbm, "gap": (cbm - vbm) if vbm is not None and cbm is not None else None,
                  "threshold": thr, "atom_share": share, "vbm_state": iv, "cbm_state": ic,
                  "vbm_weight": float(w[tuple(iv)]) if iv else None,
                  "cbm_weight": float(w[tuple(ic)]) if ic else None}
    return out


def band_groups(eigenvalues, min_gap: float = 0.5) -> list:
    """Groups of bands ``[n_first, n_last]`` whose energy ranges (over spins and k-points) lie
    closer than ``min_gap`` eV, with their ``emin``/``emax`` (eV), lowest first."""
    e = np.asarray(eigenvalues)
    lo = e.min(axis=(0, 1))
    hi = e.max(axis=(0, 1))
    groups = [[0, 0, lo[0], hi[0]]]
    for n in range(1, e.shape[2]):
        if lo[n] - groups[-1][3] < min_gap:
            groups[-1][1] = n
            groups[-1][3] = max(groups[-1][3], hi[n])
        else:
            groups.append([n, n, lo[n], hi[n]])
    return [{"bands": [int(a), int(b)], "count": int(b - a + 1), "emin": float(c), "emax": float(d)}
            for a, b, c, d in groups]


def region_level(proj: dict, labels, bands) -> dict:
    """Weighted mean energy (eV) of bands ``bands = [n_first, n_last]`` on each region, and the
    weight behind it (states per cell)."""
    n1, n2 = int(bands[0]), int(bands[1]) + 1
    e = np.asarray(proj["eigenvalues"])[:, :, n1:n2]
    kw = np.asarray(proj["k_weights"])[None, :, None]
    out = {}
    for r, w in region_weights(proj, labels).items():
        x = w[:, :, n1:n2] * kw
        total = float(x.sum())
        out[r] = {"level": float((x * e).sum() / total) if total > 0 else None,
                  "weight": total * proj["degeneracy"]}
    return out


def plot_region_dos(result: dict, stem, reference: float | None = None, window=(-6.0, 6.0),
                    title: str | None = None, host_gap: tuple | None = None, fermi: float | None = None,
                    reference_name: str = "the VBM") -> dict:
    """Total DOS (grey) and the region DOS (coloured), energies relative to ``reference`` (eV,
    e.g. the VBM, named ``reference_name`` on the axis); ``host_gap`` (eV, absolute) is shaded and
    ``fermi`` (eV, absolute) dashed; writes ``stem.png``/``stem.pdf``."""
    from matplotlib.figure import Figure

    ref = 0.0 if reference is None else float(reference)
    E = np.asarray(result["energies"]) - ref
    sel = (E >= window[0]) & (E <= window[1])
    fig = Figure(figsize=(6.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    if host_gap is not None:
        ax.axvspan(host_gap[0] - ref, host_gap[1] - ref, color="#f4e7b0", alpha=0.6, lw=0, label="host gap")
    ax.fill_between(E[sel], np.asarray(result["total"])[sel], color="0.85", label="total")
    for r, g in result["regions"].items():
        ax.plot(E[sel], np.asarray(g)[sel], color=COLORS.get(r, None), lw=1.3, label=r)
    if fermi is not None:
        ax.axvline(fermi - ref, color="k", lw=0.9, ls="--", label="Fermi level")
    ax.set_xlabel("energy (eV)" + (f" relative to {reference_name}" if reference is not None else ""))
    ax.set_ylabel("DOS (states/eV per cell)")
    ax.set_xlim(*window)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=8)
    return save_figure(fig, stem)


def analyse_region_dos(proj: dict, labels, output=None, width: float = 0.1,
                       edge_fraction: float = EDGE_FRACTION, reference: float | None = None,
                       label: str = "pdos", metal: str | None = None) -> dict:
    """Region-projected DOS analysis document (kind ``pdos``): the sum rule, local band edges
    per region, the band groups with their region levels; with ``output``, ``pdos.json``,
    ``pdos.{png,pdf}`` and ``pdos.csv`` (energy, total, one column per region). ``metal``: a
    region of metal atoms (e.g. ``cluster``): adds :func:`gap_states` as ``gap_states``, and the
    figure is drawn from the host VBM with the host gap shaded and the Fermi level marked."""
    res = region_dos(proj, labels, width=width)
    gaps = gap_states(proj, labels, metal=metal) if metal is not None else None
    edges = local_edges(proj, labels, edge_fraction)
    groups = band_groups(proj["eigenvalues"])
    for g in groups:
        g["region_levels"] = region_level(proj, labels, g["bands"])
    doc = {"kind": "pdos", "schema": ANALYSIS_SCHEMA, "label": label, "method": proj.get("method"),
           "width": width, "sum_rule": res["sum_rule"], "local_edges": edges, "band_groups": groups,
           "edge_fraction": edge_fraction, "regions": list(res["regions"]), "files": {}}
    marks = {}
    if gaps is not None:
        doc["gap_states"] = gaps
        reference = gaps["host_vbm"]
        marks = {"host_gap": (gaps["host_vbm"], gaps["host_cbm"]), "fermi": gaps["fermi"],
                 "reference_name": "the host VBM"}
    if output is not None:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        figs = plot_region_dos(res, out / "pdos", reference=reference, title=label, **marks)
        csv = out / "pdos.csv"
        cols = [res["energies"], res["total"]] + [res["regions"][r] for r in res["regions"]]
        np.savetxt(csv, np.column_stack(cols), delimiter=",", fmt="%.6g",
                   header="E (eV),total," + ",".join(res["regions"]), comments="")
        doc["files"] = {"figure": {k: str(p) for k, p in figs.items()}, "csv": str(csv),
                        "report": str(out / REPORT_FILE)}
        write_json_atomic(out / REPORT_FILE, to_jsonable(doc))
    return to_jsonable(doc)


#: a state is host-like when less than this fraction of it lies on the metal region
HOST_LIKE = 0.5
#: states per cell on the metal region inside the host gap from which the gap is said to hold metal states
GAP_STATE_MIN = 0.5


def gap_states(proj: dict, labels, metal: str = "cluster", host_like: float = HOST_LIKE,
               min_states: float = GAP_STATE_MIN) -> dict:
    """Metal states in the host's gap (e.g. a Pb cluster at a boundary): the host gap is bounded by
    the highest occupied and the lowest empty host-like state (less than ``host_like`` of its weight
    on ``metal``); every state strictly inside it is counted, in states per cell (spin degeneracy
    and k weights included), with the part that lies on ``metal``. Energies in eV, as the
    eigenvalues (``fermi``: the projections' Fermi level, when present). ``statement``: whether metal states fall in
    the gap (at least ``min_states`` states per cell on the metal) -- at the level of the
    projections (PBE without SOC has its CBM ~1 eV too high: states in the upper part of the gap may
    be resonant with the spin-orbit conduction band, so the distances to both edges are given)."""
    labels = [str(x) for x in labels]
    if metal not in labels:
        raise InputError(f"no atoms of region {metal!r}; regions: {', '.join(region_names(labels))}")
    w = region_weights(proj, labels)[metal]
    e = np.asarray(proj["eigenvalues"])
    occ = np.asarray(proj["occupations"])
    kw = np.asarray(proj["k_weights"])[None, :, None] * proj["degeneracy"] * np.ones_like(e)
    host = w < host_like
    full, empty = host & (occ > 0.5), host & (occ <= 0.5)
    if not full.any() or not empty.any():
        raise InputError("no host-like occupied or empty states: the gap cannot be bounded (converge more bands)")
    vbm, cbm = float(e[full].max()), float(e[empty].min())
    inside = (e > vbm + 1e-6) & (e < cbm - 1e-6)
    n_in = float(kw[inside].sum())
    on_metal = float((kw * w)[inside].sum())
    out = {"metal": metal, "host_vbm": vbm, "host_cbm": cbm, "host_gap": cbm - vbm,
           "states_in_gap": n_in, "metal_states_in_gap": on_metal,
           "metal_fraction_in_gap": on_metal / n_in if n_in > 0 else None,
           "lowest_above_vbm": float(e[inside].min() - vbm) if inside.any() else None,
           "highest_below_cbm": float(cbm - e[inside].max()) if inside.any() else None,
           "host_like": host_like, "min_states": min_states, "fermi": proj.get("fermi_level")}
    if on_metal >= min_states:
        out["metal_in_gap"] = True
        out["statement"] = (f"{on_metal:.1f} states per cell on the {metal} lie in the host gap "
                            f"({vbm:.2f} to {cbm:.2f} eV, {cbm - vbm:.2f} eV wide; {n_in:.1f} states in all there, "
                            f"from {out['lowest_above_vbm']:.2f} eV above the host VBM to {out['highest_below_cbm']:.2f} eV "
                            "below its CBM): metal states fall in the gap at this level (PBE, no SOC)")
    else:
        out["metal_in_gap"] = False
        out["statement"] = (f"less than {min_states:g} states per cell on the {metal} inside the host gap "
                            f"({vbm:.2f} to {cbm:.2f} eV): no metal states in the gap at this level (PBE, no SOC)")
    return out


__all__ = ["read_projections", "region_weights", "region_names", "gaussian_dos", "region_dos", "local_edges",
           "band_groups", "region_level", "plot_region_dos", "analyse_region_dos", "gap_states", "SUM_RULE_TOL"]
