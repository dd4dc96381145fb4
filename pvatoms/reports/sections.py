"""Report sections, each built from typed documents found through the study index: analysis
documents (``kind``: defects, neb, band-edges) and result documents of named steps. Tables are
rendered from the rows the documents carry."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pvatoms.analysis.tables import to_markdown
from pvatoms.reports.index import StudyIndex


def provenance(doc: dict | None) -> str:
    """``backend · model (settings)`` of a result document."""
    if not doc:
        return "–"
    b = doc.get("backend") or {}
    st = b.get("settings") or {}
    extra = ", ".join(f"{k} {v}" for k, v in st.items() if k in ("ecut", "kpts", "xc", "model"))
    return f"{b.get('name')} · {b.get('model')}" + (f" ({extra})" if extra else "")


def _rel(path, root: Path) -> str:
    return str(Path(path).resolve().relative_to(root.resolve()))


def _pngs(doc: dict, entry: dict, prefix: str) -> list[Path]:
    """PNG files of an analysis document whose file key starts with ``prefix``, found in the
    analysis folder of the index entry (so a run folder that was moved still shows them)."""
    out = []
    for key, val in sorted((doc.get("files") or {}).items()):
        if not key.startswith(prefix):
            continue
        names = [val["png"]] if isinstance(val, dict) and val.get("png") else (
            [v for v in val if str(v).endswith(".png")] if isinstance(val, list) else [])
        out += [Path(entry["folder"]) / Path(n).name for n in names]
    return out


def missing(index: StudyIndex, entry: dict | None, what: str) -> str:
    """Why an analysis is not there: a failed parent step (with its reason), or not finished."""
    if entry:
        for labels in entry["roles"].values():
            for label in labels:
                doc, _ = index.step(entry["study"], label)
                if doc and doc.get("status") == "failed":
                    return f"*Not available: {label} failed: {doc.get('reason')}*"
    return f"*Not available: {what} has not finished (run the demo again to resume).*"


def structures(root: Path, docs: dict) -> list[str]:
    out = ["## 1. Structures", "",
           "| file | formula | atoms | space group | regions |", "|---|---|---|---|---|"]
    for name, d in docs.items():
        if not isinstance(d, dict) or "formula" not in d:
            continue
        sg = (d.get("spacegroup") or {}).get("symbol", "–")
        regs = ", ".join(f"{k} {sum(v.values())}" for k, v in d["regions"].items())
        out.append(f"| `structures/{name}` | {d['reduced_formula']} | {d['natoms']} | {sg} | {regs} |")
    iface = next((d["interface"] for d in docs.values() if isinstance(d, dict) and d.get("interface")), None)
    if iface:
        sep = iface["boundary_separation"]
        out += ["", f"RP/perovskite boundary model: boundary planes {sep['perovskite_side']:.2f} Å apart across the "
                f"perovskite and {sep['rp_side']:.2f} Å across the RP side; in-plane strain carried by the RP "
                f"side {iface['in_plane_strain']['rp']['u'] * 100:+.2f} % (reference lattices in the JSON report)."]
    vac = docs.get("vacancies") or []
    if vac:
        out += ["", "Distinct vacancies of Pnma CsPbBr3 (2x2x2 supercell, 159 atoms): " +
                ", ".join(f"{v['name']} ({v['site']}, x{v['multiplicity']})" for v in vac) + "."]
    for fig, cap in (("interface.png", "RP/perovskite boundary model (two cells along a; colours: regions)"),
                     ("nanocrystal.png", "Degraded CsPbBr3 nanocrystal: RP inclusion and Pb cluster")):
        if (root / "figures" / fig).is_file():
            out += ["", f"![{cap}](figures/{fig})", f"*{cap}.*"]
    return out + [""]


def defects(root: Path, index: StudyIndex, facts: dict) -> list[str]:
    out = ["## 2. Chemical potentials and vacancy formation energies", ""]
    doc, entry = index.analysis("defects")
    if not doc:
        return out + [missing(index, entry, entry["label"] if entry else "the defect study"), ""]
    cp = doc.get("chemical_potentials") or {}
    if doc.get("status") == "host unstable":
        facts["host_unstable"] = cp.get("e_above_hull")
        return out + [f"**{doc.get('message')}**", ""]
    tables = doc.get("tables") or _older_tables(entry)
    for name in ("chemical_potentials", "competing_phases"):
        if tables.get(name):
            out += [f"**{name.replace('_', ' ').capitalize()}**", "", to_markdown(tables[name]), ""]
    rp = cp.get("rp_phases_e_above_hull") or {}
    if rp:
        out += ["RP phases above the convex hull: " + ", ".join(f"{k} {v * 1000:.0f} meV/atom" for k, v in rp.items()) + ".", ""]
        facts["rp_hull"] = rp
    if doc.get("formation_energies"):
        out += ["**Formation energies** (neutral vacancies, eV)", "", to_markdown(doc["formation_energies"]), ""]
    for png in _pngs(doc, entry, "diagram"):
        out += [f"![{png.stem}]({_rel(png, root)})", ""]
    facts["formation"] = doc.get("formation_energies") or []
    facts["limits_named"] = cp.get("named") or {}
    return out


def _older_tables(entry: dict) -> dict:
    """Table rows for a defect analysis written before its document carried them: rebuilt from
    the ``chempots.json`` in its folder."""
    from pvatoms.analysis.chempots import ChemicalPotentialLimits, chempot_table_rows
    from pvatoms.errors import InputError
    from pvatoms.io import read_json
    path = Path(entry["folder"]) / "chempots.json"
    try:
        return chempot_table_rows(ChemicalPotentialLimits.from_dict(read_json(path)))
    except (InputError, TypeError, KeyError):
        return {}


def neb(root: Path, index: StudyIndex, facts: dict) -> list[str]:
    out = ["## 3. V_Br migration", ""]
    doc, entry = index.analysis("neb")
    if not doc:
        return out + [missing(index, entry, "the NEB"), ""]
    out += [to_markdown(doc["rows"]), ""]
    for png in _pngs(doc, entry, "profile_"):
        out += [f"![{png.stem}]({_rel(png, root)})", ""]
    facts["neb"] = doc.get("rows") or []
    return out


def _formula(doc: dict) -> str:
    c = Counter(doc["input_structure"]["symbols"])
    return "".join(f"{el}{c[el] if c[el] > 1 else ''}" for el in ("Cs", "Pb", "Br") if el in c)


def electronic(root: Path, index: StudyIndex, facts: dict, bulk_gap: tuple[str, str] | None) -> list[str]:
    out = ["## 4. Electronic structure (GPAW, PBE without SOC)", ""]
    gap_doc, _ = index.step(*bulk_gap) if bulk_gap else (None, None)
    if gap_doc and gap_doc.get("status") == "completed":
        be = gap_doc["band_edges"]
        kind = "direct" if be.get("direct") else "indirect"
        out += [f"Bulk {gap_doc['input_structure'] and _formula(gap_doc)}: gap **{be['gap']:.2f} eV** ({kind}, VBM at k = "
                f"{be.get('k_vbm')}, CBM at k = {be.get('k_cbm')}); {provenance(gap_doc)}. PBE without SOC; "
                "experiment 2.25–2.36 eV (the agreement is fortuitous: SOC lowers the CBM by ~1 eV).", ""]
        facts["gap"] = be["gap"]
    elif gap_doc and gap_doc.get("status") == "failed":
        out += [f"*Not available: {bulk_gap[1]} failed: {gap_doc.get('reason')}*", ""]
    else:
        out += [f"*Not available: {bulk_gap[1] if bulk_gap else 'the bulk gap'} has not finished (run the demo again "
                "to resume).*", ""]
    doc, entry = index.analysis("band-edges")
    if not doc:
        return out + [missing(index, entry, "band-edges"), ""]
    for label in entry["roles"].get("band_edges", []):
        edges, _ = index.step(entry["study"], label)
        if edges and edges.get("band_edges"):
            out += [f"RP/perovskite boundary model ({len(edges['structure']['symbols'])} atoms): gap "
                    f"{edges['band_edges']['gap']:.2f} eV; {provenance(edges)}.", ""]
    out += [to_markdown(doc["rows"]), ""]
    for png in _pngs(doc, entry, "planar_average_"):
        out += [f"![{png.stem}]({_rel(png, root)})", ""]
    statements = doc.get("statements") or {}
    out += [f"**{s}**" for s in statements.values()] + [""]
    facts["localization"] = statements
    return out
