"""The study report: ``REPORT.md`` and ``report.html`` from a demo run folder.

Every number in the report is read from a result or analysis document of the run and printed
with its provenance (backend, model, settings); the "what this means" paragraph is composed from
those numbers. The footer gives the wall time and the pipeline overhead: the time not spent inside
the calculations (job wall times) as a fraction of the whole invocation.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import numpy as np

REGION_COLOURS = {"perovskite": "#4c72b0", "rp": "#dd8452", "boundary": "#c44e52", "ligand": "#55a868",
                  "cluster": "#7f7f7f", "shell": "#8172b3", "core": "#4c72b0", "surface": "#8172b3"}
ELEMENT_COLOURS = {"Cs": "#57178f", "Pb": "#575961", "Br": "#a62929", "C": "#909090", "H": "#e0e0e0",
                   "N": "#3050f8", "O": "#ff0d0d", "S": "#e0c030"}


def picture(atoms, path, rotation: str = "0x,0y,0z", by_region: bool = False, size=(7, 5)) -> Path:
    """A quick orthographic picture of ``atoms`` (PNG): atoms as discs sorted by depth, coloured
    by element or by region label. Fast for 10^5 atoms (one scatter call)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ase.data import covalent_radii
    from ase.utils import rotate

    pos = atoms.positions @ rotate(rotation)
    order = np.argsort(pos[:, 2])
    sym = np.array(atoms.get_chemical_symbols())
    if by_region and "region" in atoms.arrays:
        labels = np.asarray(atoms.arrays["region"]).astype(str)
        colours = np.array([REGION_COLOURS.get(r, "#999999") for r in labels])
    else:
        labels = sym
        colours = np.array([ELEMENT_COLOURS.get(s, "#999999") for s in sym])
    fig, ax = plt.subplots(figsize=size)
    span = np.ptp(pos[:, :2], axis=0).max() or 1.0
    points_per_angstrom = 0.8 * 72 * min(size) / span
    s = (0.9 * covalent_radii[atoms.numbers] * points_per_angstrom) ** 2      # marker area, points^2
    ax.scatter(pos[order, 0], pos[order, 1], s=s[order], c=colours[order], edgecolors="k",
               linewidths=0.2 if len(atoms) < 3000 else 0.0)
    for lab in sorted(set(labels)):
        col = REGION_COLOURS.get(lab) if by_region else ELEMENT_COLOURS.get(lab)
        ax.scatter([], [], c=col or "#999999", label=lab, s=40)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _load(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


def _prov(doc: dict | None) -> str:
    if not doc:
        return "–"
    b = doc.get("backend") or {}
    st = b.get("settings") or {}
    extra = ", ".join(f"{k} {v}" for k, v in st.items() if k in ("ecut", "kpts", "xc", "model"))
    return f"{b.get('name')} · {b.get('model')}" + (f" ({extra})" if extra else "")


def _job_docs(root: Path) -> list[dict]:
    docs = []
    for p in sorted((root / "studies").glob("**/result.json")):
        d = _load(p)
        if d:
            d["_path"] = p
            docs.append(d)
    return docs


def overhead(root: Path, wall_time: float, since: float) -> dict:
    """Calculation time of the jobs that ran in this invocation (their recorded wall times; nested
    endpoint relaxations counted once) and the rest, the pipeline overhead."""
    calc = 0.0
    nested = set()
    for d in _job_docs(root):
        created = _dt.datetime.fromisoformat(d["created"]).timestamp()
        if created < since or d.get("wall_time") is None:
            continue
        if d["job"] == "neb":
            nested |= {str(d["_path"].parent / sub / "result.json") for sub in ("initial", "final")}
        calc += d["wall_time"]
    for d in _job_docs(root):
        if str(d["_path"]) in nested and _dt.datetime.fromisoformat(d["created"]).timestamp() >= since:
            calc -= d.get("wall_time") or 0.0
    return _split(wall_time, calc)


def _split(wall_time: float, calc: float) -> dict:
    """Wall time (s), the part inside calculations (s), the rest (pipeline overhead, s) and its fraction."""
    other = max(wall_time - calc, 0.0)
    return {"wall_time": wall_time, "calculations": calc, "overhead": other,
            "fraction": other / wall_time if wall_time else 0.0}


INVOCATIONS = "invocations.json"


def record_invocation(root: Path, ov: dict, since: float) -> list[dict]:
    """Append this invocation's timing to ``invocations.json`` in the run folder (atomically) and
    return the whole history, so that a resumed or repeated run keeps the figures of the runs that
    did the computing."""
    from pvatoms.results import write_json_atomic
    path = Path(root) / INVOCATIONS
    try:
        history = json.loads(path.read_text())
    except (OSError, ValueError):
        history = []
    history.append({"started": _dt.datetime.fromtimestamp(since).isoformat(timespec="seconds"), **ov})
    write_json_atomic(path, history)
    return history


def _totals(history: list[dict]) -> dict:
    """Wall time, calculation time and overhead summed over the invocations that computed something."""
    runs = [h for h in history if h["calculations"] > 0]
    return {"invocations": len(runs), **_split(sum(h["wall_time"] for h in runs),
                                               sum(h["calculations"] for h in runs))}


def _overhead_line(ov: dict, tot: dict) -> str:
    """The footer sentence: this invocation, plus the totals (``_totals``) where they differ from it."""
    line = (f"This invocation: {ov['wall_time']:.1f} s, of which {ov['calculations']:.1f} s inside "
            f"calculations; pipeline overhead {ov['overhead']:.1f} s = {ov['fraction'] * 100:.1f} % of the "
            "wall time.")
    if tot["invocations"] and (tot["invocations"] > 1 or ov["calculations"] == 0):
        line += (f" Over the {tot['invocations']} invocation(s) that computed (`{INVOCATIONS}`): "
                 f"{tot['wall_time']:.1f} s, {tot['calculations']:.1f} s inside calculations, pipeline "
                 f"overhead {tot['fraction'] * 100:.1f} %.")
    return line


def _section_structures(root: Path, structures: dict) -> list[str]:
    out = ["## 1. Structures", "",
           "| file | formula | atoms | space group | regions |", "|---|---|---|---|---|"]
    for name, d in structures.items():
        if not isinstance(d, dict) or "formula" not in d:
            continue
        sg = (d.get("spacegroup") or {}).get("symbol", "–")
        regs = ", ".join(f"{k} {sum(v.values())}" for k, v in d["regions"].items())
        out.append(f"| `structures/{name}` | {d['reduced_formula']} | {d['natoms']} | {sg} | {regs} |")
    iface = structures.get("RP1_CsPbBr3_boundary.extxyz", {}).get("interface")
    if iface:
        sep = iface["boundary_separation"]
        out += ["", f"RP/perovskite boundary model: boundary planes {sep['perovskite_side']:.2f} Å apart across the "
                f"perovskite and {sep['rp_side']:.2f} Å across the RP side; in-plane strain carried by the RP "
                f"side {iface['in_plane_strain']['rp']['u'] * 100:+.2f} % (reference lattices in the JSON report)."]
    vac = structures.get("vacancies") or []
    if vac:
        out += ["", "Distinct vacancies of Pnma CsPbBr3 (2x2x2 supercell, 159 atoms): " +
                ", ".join(f"{v['name']} ({v['site']}, x{v['multiplicity']})" for v in vac) + "."]
    for fig, cap in (("interface.png", "RP/perovskite boundary model (two cells along a; colours: regions)"),
                     ("nanocrystal.png", "Degraded CsPbBr3 nanocrystal: RP inclusion and Pb cluster")):
        if (root / "figures" / fig).is_file():
            out += ["", f"![{cap}](figures/{fig})", f"*{cap}.*"]
    return out + [""]


def _section_defects(root: Path, facts: dict) -> list[str]:
    fe = root / "studies" / "defects" / "formation-energies"
    out = ["## 2. Chemical potentials and vacancy formation energies", ""]
    summ = _load(fe / "summary.json")
    if not summ:
        return out + [_missing(root / "studies" / "defects", "formation-energies"), ""]
    cp = summ.get("chemical_potentials") or {}
    if summ.get("status") == "host unstable":
        out += [f"**{summ.get('message')}**", ""]
        facts["host_unstable"] = cp.get("e_above_hull")
        return out
    for name in ("chemical_potentials.md", "competing_phases.md"):
        if (fe / name).is_file():
            out += [f"**{name[:-3].replace('_', ' ').capitalize()}**", "", (fe / name).read_text(), ""]
    rp = cp.get("rp_phases_e_above_hull") or {}
    if rp:
        out += ["RP phases above the convex hull: " + ", ".join(f"{k} {v * 1000:.0f} meV/atom" for k, v in rp.items()) + ".", ""]
        facts["rp_hull"] = rp
    if (fe / "formation_energies.md").is_file():
        out += ["**Formation energies** (neutral vacancies, eV)", "", (fe / "formation_energies.md").read_text(), ""]
    for png in sorted(fe.glob("formation_energy_*.png")):
        out += [f"![{png.stem}]({_rel(png, root)})", ""]
    facts["formation"] = summ.get("formation_energies") or []
    facts["limits_named"] = cp.get("named") or {}
    return out


def _section_neb(root: Path, facts: dict) -> list[str]:
    b = root / "studies" / "neb" / "barriers"
    out = ["## 3. V_Br migration", ""]
    rep = _load(b / "neb_analysis.json")
    if not rep:
        return out + [_missing(root / "studies" / "neb", "V_Br-equatorial"), ""]
    out += [(b / "barriers.md").read_text(), ""]
    for png in sorted(b.glob("profile_*.png")):
        out += [f"![{png.stem}]({_rel(png, root)})", ""]
    facts["neb"] = rep.get("rows") or []
    return out


def _section_electronic(root: Path, facts: dict) -> list[str]:
    out = ["## 4. Electronic structure (GPAW, PBE without SOC)", ""]
    gap_doc = _load(root / "studies" / "bulk-gap" / "bulk-gap" / "result.json")
    if gap_doc and gap_doc.get("status") == "completed":
        be = gap_doc["band_edges"]
        kind = "direct" if be.get("direct") else "indirect"
        where = be.get("k_vbm")
        out += [f"Bulk {gap_doc['input_structure'] and _formula(gap_doc)}: gap **{be['gap']:.2f} eV** ({kind}, VBM at k = "
                f"{where}, CBM at k = {be.get('k_cbm')}); {_prov(gap_doc)}. PBE without SOC; "
                "experiment 2.25–2.36 eV (the agreement is fortuitous: SOC lowers the CBM by ~1 eV).", ""]
        facts["gap"] = be["gap"]
    else:
        out += [_missing(root / "studies" / "bulk-gap", "bulk-gap"), ""]
    loc = root / "studies" / "band-edges" / "localization"
    rep = _load(loc / "band_edges_analysis.json")
    edges = _load(root / "studies" / "band-edges" / "band-edges" / "result.json")
    if rep:
        if edges and edges.get("band_edges"):
            out += [f"RP/perovskite boundary model ({len(edges['structure']['symbols'])} atoms): gap "
                    f"{edges['band_edges']['gap']:.2f} eV; {_prov(edges)}.", ""]
        out += [(loc / "localization.md").read_text(), ""]
        for png in sorted(loc.glob("planar_average_*.png")):
            out += [f"![{png.stem}]({_rel(png, root)})", ""]
        statements = rep.get("statements") or {}
        out += [f"**{s}**" for s in statements.values()] + [""]
        facts["localization"] = statements
    else:
        out += [_missing(root / "studies" / "band-edges", "band-edges"), ""]
    return out


def _formula(doc):
    from collections import Counter
    c = Counter(doc["input_structure"]["symbols"])
    return "".join(f"{el}{c[el] if c[el] > 1 else ''}" for el in ("Cs", "Pb", "Br") if el in c)


def _missing(folder: Path, label: str) -> str:
    doc = _load(folder / label / "result.json")
    if doc and doc.get("status") == "failed":
        return f"*Not available: {label} failed: {doc.get('reason')}*"
    return f"*Not available: {label} has not finished (run the demo again to resume).*"


def _meaning(facts: dict) -> list[str]:
    """The 'what this means' paragraph, composed from the computed numbers."""
    lines = []
    rows = facts.get("formation") or []
    limits = [k for k in (rows[0].keys() if rows else []) if k.startswith("E_f ")]
    if rows and limits:
        for lim in limits:
            best = min(rows, key=lambda r: r[lim])
            lines.append(f"Under the {lim[4:-5]} limit the cheapest neutral vacancy is {best['defect']} "
                         f"({best[lim]:.2f} eV).")
        negative = sorted({r["defect"] for r in rows for k in limits if r[k] < 0})
        if negative:
            lines.append(f"Negative formation energies ({', '.join(negative)} at some limits) mean that, with this "
                         "model and cell, the host would lose those atoms spontaneously there; neutral cation "
                         "vacancies carry holes that a charge-free potential cannot describe, so treat them as "
                         "qualitative and check with a DFT backend and larger supercells.")
        vbr = [r for r in rows if r["defect"].startswith("V_Br")]
        if vbr and len(limits) >= 2:
            lo = min(limits, key=lambda k: min(r[k] for r in vbr))
            lines.append(f"Br vacancies are cheapest under the {lo[4:-5]} limit, as expected for a defect that "
                         "removes Br.")
    if facts.get("host_unstable") is not None:
        lines.append(f"With this model CsPbBr3 is {facts['host_unstable'] * 1000:.0f} meV/atom above the hull, "
                     "so no formation energies were computed.")
    rp = facts.get("rp_hull") or {}
    if rp:
        lines.append("The Ruddlesden–Popper phases lie " + " and ".join(f"{v * 1000:.0f} meV/atom ({k})" for k, v in rp.items())
                     + " above the hull: metastable, so their formation inside a dot needs the Pb loss that "
                     "the leakage provides.")
    for r in facts.get("neb") or []:
        eb = r.get("E_b forward (eV)")
        if eb is not None:
            comp = "close to" if abs(eb - 0.25) < 0.08 else ("above" if eb > 0.25 else "below")
            lines.append(f"The V_Br hop ({r.get('path')}) costs {eb:.2f} eV, {comp} the ~0.25 eV activation "
                         "energy measured for Br migration in CsPbBr3: bromide ions are mobile at room temperature.")
    if facts.get("gap") is not None:
        lines.append(f"The PBE gap of the bulk is {facts['gap']:.2f} eV (no SOC).")
    for label, s in (facts.get("localization") or {}).items():
        lines.append(f"At the RP/perovskite boundary: {s}.")
    return ["## 5. What this means", "", " ".join(lines) if lines else "Not enough finished results yet.", ""]


def write_report(root, structures: dict, wall_time: float, quick: bool = False, launched=None) -> dict:
    """Write ``REPORT.md`` and ``report.html`` into the run folder; returns the report summary."""
    import time
    root = Path(root)
    since = time.time() - wall_time
    facts: dict = {}
    md = [f"# Pb-leakage study of CsPbBr3 — pvatoms demo{' (quick)' if quick else ''}", "",
          f"Run folder `{root}`, {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}. Every number below "
          "comes from a result document under `studies/` and names the backend and model that produced it.", ""]
    md += _section_structures(root, structures)
    md += _section_defects(root, facts)
    md += _section_neb(root, facts)
    md += _section_electronic(root, facts)
    md += _meaning(facts)
    ov = overhead(root, wall_time, since)
    totals = _totals(record_invocation(root, ov, since))
    jobs = _job_docs(root)
    failed = [d for d in jobs if d.get("status") == "failed"]
    md += ["---", "", f"*{len(jobs)} calculations ({len(failed)} failed). " + _overhead_line(ov, totals)
           + " Models: " + "; ".join(sorted({_prov(d) for d in jobs})) + ".*", ""]
    text = "\n".join(md)
    (root / "REPORT.md").write_text(text)
    import markdown
    body = markdown.markdown(text, extensions=["tables"])
    html = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>pvatoms demo report</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
            "img{max-width:100%}</style></head><body>" + body + "</body></html>")
    (root / "report.html").write_text(html)
    head = " ".join(_meaning(facts)[2:3])
    return {"report": str(root / "REPORT.md"), "html": str(root / "report.html"), "overhead": ov,
            "overhead_all_runs": totals,
            "facts": facts, "failed": [str(d["_path"]) for d in failed], "headline": head,
            "launched": launched or {}}
