"""Vacancies by the RP / perovskite boundary: segregation energy against distance from the boundary.

The segregation energy of a vacancy at site *i* is the energy of the model with that vacancy
minus the energy of the same model with the vacancy of the same element and site class at the
reference site (the site of that class deepest in the perovskite block, the bulk-like one)::

    E_seg(i) = E[V_X at i] - E[V_X at ref]          (eV; < 0: the vacancy prefers site i)

Site classes keep unlike bulk sites apart: the equatorial and apical Br of Pnma CsPbBr3 differ
by ~0.1 eV as vacancy sites already in the bulk, so each is referenced to its own kind; the
terminal Br of a rock-salt layer (one Pb neighbour), which has no bulk counterpart, is
referenced to the apical site (:data:`REFERENCE_CLASS`), the one it would be in a closed layer.

Both cells hold the same atoms, so the chemical potential of X cancels, and with a charged
defect so does the Fermi level; the finite-size image terms cancel only as far as the screening
around the two sites is alike (not exactly across an interface, whose two sides differ), which
the analysis states. The two energies of one segregation energy must share one level of theory
(``SevenNet-0//SevenNet-0`` for the neutral screening, ``PBE//SevenNet-0`` for DFT single points
on its geometries); a pair that does not is refused.

Distances are signed: positive into the perovskite block, negative into the RP side (Å, from the
nearest boundary plane of the built model). Whether the reference is bulk-like is checked, not
assumed: the interior check compares the two deepest perovskite sites of an element whose
distances differ by at least :data:`INTERIOR_MIN_SEPARATION`; if their energies differ by more
than the tolerance, the perovskite block is too thin for a bulk-like reference and the summary
says so.

>>> rows = segregation_rows([
...     {"label": "V_Br_a", "element": "Br", "distance": 1.7, "energy": -10.3, "level": "X//X"},
...     {"label": "V_Br_b", "element": "Br", "distance": 7.7, "energy": -10.0, "level": "X//X"}])
>>> [(r["site"], round(r["E_seg (eV)"], 3)) for r in rows]
[('V_Br_a', -0.3), ('V_Br_b', 0.0)]
"""

from __future__ import annotations

import math
from pathlib import Path

from pvatoms.errors import InputError

#: eV: two interior sites closer than this in energy make a bulk-like reference
INTERIOR_TOLERANCE = 0.05
#: Å: the two interior sites of the check must be at least this far apart along the normal
INTERIOR_MIN_SEPARATION = 1.0


#: the class whose deepest site references a class with no bulk sites of its own
REFERENCE_CLASS = {"terminal": "apical"}


def reference_site(sites: list[dict]) -> dict:
    """The bulk-like reference of one element: the site with the largest signed distance (deepest in
    the perovskite block)."""
    if not sites:
        raise InputError("no sites: a segregation energy needs at least the reference site")
    return max(sites, key=lambda s: (s["distance"], s["label"]))


def segregation_rows(sites: list[dict], charge: int | None = None) -> list[dict]:
    """One row per site: ``sites`` are mappings with ``label``, ``element``, ``distance`` (Å,
    signed), ``energy`` (eV) and ``level`` (level-of-theory label); optional ``region``,
    ``multiplicity``, ``index``. Each element is referenced to its own deepest perovskite site.
    ``charge``: the charge state all of these cells carry (None: neutral screening)."""
    by_element: dict = {}
    for s in sites:
        for key in ("label", "element", "distance", "energy", "level"):
            if s.get(key) is None:
                raise InputError(f"segregation site {s.get('label', s)!r} lacks {key!r}")
        if not math.isfinite(float(s["energy"])):
            raise InputError(f"segregation site {s['label']!r}: energy {s['energy']!r} is not finite")
        by_element.setdefault(s["element"], []).append(s)
    rows = []
    for element in sorted(by_element):
        group = by_element[element]
        levels = sorted({s["level"] for s in group})
        if len(levels) > 1:
            raise InputError(f"V_{element}: the sites' energies come from different levels of theory {levels}; "
                             "a segregation energy takes both energies from one")
        classes = {s.get("class") or element for s in group}
        refs = {}
        for cls in classes:
            own = [s for s in group if (s.get("class") or element) == cls]
            ref_cls = REFERENCE_CLASS.get(cls, cls)
            pool = [s for s in group if (s.get("class") or element) == ref_cls] or own
            refs[cls] = reference_site(pool)
        for s in sorted(group, key=lambda s: s["distance"]):
            cls = s.get("class") or element
            ref = refs[cls]
            rows.append({"element": element, "site": s["label"], "class": cls,
                         "charge": 0 if charge is None else int(charge), "region": s.get("region"),
                         "distance (Å)": round(float(s["distance"]), 3), "multiplicity": s.get("multiplicity"),
                         "E_seg (eV)": float(s["energy"]) - float(ref["energy"]),
                         "reference": ref["label"], "level of theory": levels[0]})
    return rows


def _group(row: dict) -> str:
    """The reference group of a row: its element, and its class where the class is its own
    reference (``Br equatorial``); a class referenced to another names that one."""
    cls = REFERENCE_CLASS.get(row.get("class") or row["element"], row.get("class") or row["element"])
    return row["element"] if cls == row["element"] else f"{row['element']} {cls}"


def interior_check(rows: list[dict], tolerance: float = INTERIOR_TOLERANCE,
                   min_separation: float = INTERIOR_MIN_SEPARATION) -> dict:
    """Per reference group (element, or element and class): does the perovskite interior look
    bulk-like? Compares the reference (deepest site of the class) with the deepest other site of
    the same class at least ``min_separation`` Å shallower on the perovskite side. Returns
    ``{group: {"sites", "difference (eV)", "bulk_like" (True/False/None: cannot tell)}}``."""
    out = {}
    for key in sorted({_group(r) for r in rows}):
        own = [r for r in rows if _group(r) == key and r["distance (Å)"] > 0
               and (r.get("class") or r["element"]) not in REFERENCE_CLASS]
        group = sorted(own, key=lambda r: -r["distance (Å)"])
        if not group:
            out[key] = {"sites": [], "difference (eV)": None, "bulk_like": None}
            continue
        ref = group[0]
        other = next((r for r in group[1:] if ref["distance (Å)"] - r["distance (Å)"] >= min_separation), None)
        if other is None:
            out[key] = {"sites": [ref["site"]], "difference (eV)": None, "bulk_like": None}
            continue
        diff = other["E_seg (eV)"] - ref["E_seg (eV)"]
        out[key] = {"sites": [ref["site"], other["site"]], "difference (eV)": diff, "bulk_like": abs(diff) <= tolerance}
    return out


def summary(rows: list[dict], interior: dict, tolerance: float = INTERIOR_TOLERANCE) -> dict:
    """Per element: the most favourable site (lowest E_seg against its own reference), its
    distance and energy, and a statement that says only what the numbers carry."""
    out = {}
    for element in sorted({r["element"] for r in rows}):
        group = [r for r in rows if r["element"] == element]
        best = min(group, key=lambda r: (r["E_seg (eV)"], r["distance (Å)"]))
        check = interior.get(_group(best), {})
        level = best["level of theory"]
        kind = "" if best["class"] == element else f" {best['class']}"
        ref_kind = "" if _group(best) == element else f" {_group(best).split(' ', 1)[1]}"
        if best["E_seg (eV)"] < -tolerance:
            text = (f"V_{element} is {-best['E_seg (eV)']:.2f} eV lower at {best['site']}{kind} "
                    f"({best['distance (Å)']:+.1f} Å from the boundary, {best['region']}) than at the deepest "
                    f"perovskite{ref_kind} site ({level})")
        else:
            text = (f"no V_{element} site is more than {tolerance:.2f} eV below the deepest perovskite site of its "
                    f"kind ({level}): no segregation within the tolerance")
        if check.get("bulk_like") is False:
            text += (f"; the perovskite interior is not bulk-like (two interior{ref_kind} sites differ by "
                     f"{check['difference (eV)']:+.2f} eV): a thicker perovskite block is needed before this "
                     "number is a segregation energy")
        elif check.get("bulk_like") is None:
            text += "; too few interior sites to check that the reference is bulk-like"
        out[element] = {"site": best["site"], "class": best["class"], "distance (Å)": best["distance (Å)"],
                        "E_seg (eV)": best["E_seg (eV)"], "interior": check, "statement": text}
    return out


def profile_series(rows: list[dict]) -> dict:
    """The profile's curves: ``{(element, class, charge): [(distance Å, E_seg eV), ...]}`` sorted by
    distance, one per reference group and charge (sites of different classes are measured from
    different references, so no curve joins them)."""
    out: dict = {}
    for r in rows:
        key = (r["element"], r.get("class") or r["element"], r["charge"])
        out.setdefault(key, []).append((r["distance (Å)"], r["E_seg (eV)"]))
    return {k: sorted(v) for k, v in sorted(out.items())}


def series_label(element: str, cls: str, charge: int) -> str:
    """Legend text of one curve in mathtext: ``V_Br (equatorial) q=+1``; a class measured from
    another's reference names it: ``V_Br (terminal vs apical)``."""
    ref = f" vs {REFERENCE_CLASS[cls]}" if cls in REFERENCE_CLASS else ""
    return (f"V$_{{{element}}}$" + (f" ({cls}{ref})" if cls != element else "")
            + (f" q={charge:+d}" if charge else ""))


def plot_profile(rows: list[dict], stem, title: str = "", boundary_width: float | None = None) -> dict:
    """E_seg against signed distance, one curve per element, site class and charge
    (:func:`profile_series`), the boundary at 0; PNG + PDF
    (:func:`pvatoms.analysis.figures.save_figure`)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pvatoms.analysis.figures import save_figure
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    markers = "osD^v<>ph"
    for k, ((el, cls, q), pts) in enumerate(profile_series(rows).items()):
        x, y = zip(*pts)
        ax.plot(x, y, marker=markers[k % len(markers)], ls="-" if not q else "--", lw=0.8,
                label=series_label(el, cls, q))
    ax.axvline(0.0, color="0.3", lw=0.8)
    if boundary_width:
        ax.axvspan(-boundary_width, boundary_width, color="0.9", zorder=0)
    ax.axhline(0.0, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("distance from the boundary (Å)   RP  ←  |  →  perovskite")
    ax.set_ylabel("E$_{seg}$ (eV)")
    if title:
        import textwrap
        ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=8)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    paths = save_figure(fig, Path(stem))
    plt.close(fig)
    return {k: str(v) for k, v in paths.items()}
