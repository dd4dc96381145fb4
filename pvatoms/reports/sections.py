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
        ref = iface.get("reference_in_plane_pseudocubic") or {}
        same = ref.get("rp") is not None and abs(ref["rp"] - ref.get("perovskite", 0.0)) < 1e-9
        strain = ("its RP side takes the perovskite's in-plane lattice as its own in this starting model, so no "
                  "strain is defined here (a boundary study strains each side against its own relaxed bulk)" if same
                  else f"in-plane strain carried by the RP side {iface['in_plane_strain']['rp']['u'] * 100:+.2f} % "
                       "(reference lattices in the JSON report)")
        out += ["", f"RP/perovskite boundary model: boundary planes {sep['perovskite_side']:.2f} Å apart across the "
                f"perovskite and {sep['rp_side']:.2f} Å across the RP side; {strain}."]
    vac = docs.get("vacancies") or []
    if vac:
        out += ["", "Distinct vacancies of Pnma CsPbBr3 (2x2x2 supercell, 159 atoms): " +
                ", ".join(f"{v['name']} ({v['site']}, x{v['multiplicity']})" for v in vac) + "."]
    for fig, cap in (("interface.png", "RP/perovskite boundary model (two cells along a; colours: regions)"),
                     ("nanocrystal.png", "Degraded CsPbBr3 nanocrystal: RP inclusion and Pb cluster")):
        if (root / "figures" / fig).is_file():
            out += ["", f"![{cap}](figures/{fig})", f"*{cap}.*"]
    return out + [""]


#: backends of a charged-defect (DFT) study; the others are charge-free MLIPs (screening only)
DFT_BACKENDS = ("gpaw", "vasp")


def _is_dft(index: StudyIndex, entry: dict) -> bool:
    """True when the analysis's perfect supercell (role ``bulk``) is computed by DFT (from the
    study index, so an unfinished analysis is classified too)."""
    steps = index.studies[entry["study"]]["steps"]
    bulk = (entry["roles"].get("bulk") or [None])[0]
    return (steps.get(bulk) or {}).get("backend") in DFT_BACKENDS


def _chempot_tables(doc: dict, entry: dict) -> list[str]:
    out = []
    tables = doc.get("tables") or _older_tables(entry)
    for name in ("chemical_potentials", "competing_phases"):
        if tables.get(name):
            out += [f"**{name.replace('_', ' ').capitalize()}**", "", to_markdown(tables[name]), ""]
    return out


def _relaxation_line(index: StudyIndex, entry: dict) -> str:
    """How far the DFT relaxations of the defect cells got: converged ones and the largest
    residual force of the others."""
    steps = index.studies[entry["study"]]["steps"]
    labels = entry["roles"].get("defects", [])
    if labels and all((steps.get(x) or {}).get("job") == "static" for x in labels):
        d, _ = index.step(entry["study"], labels[0])
        geometry = ((d or {}).get("level_of_theory") or {}).get("geometry") or "MLIP"
        return (f"DFT single points on {geometry} geometries, no DFT relaxation: each charged state sits at the "
                "geometry of its neutral defect, so it misses its own relaxation energy (which would lower it and "
                "move the levels).")
    done, loose = 0, []
    for label in labels:
        d, _ = index.step(entry["study"], label)
        data = (d or {}).get("data") or {}
        if d and d.get("status") == "completed":
            if data.get("converged"):
                done += 1
            else:
                loose.append(f"{label} (f_max {data.get('fmax', float('nan')):.2f} eV/Å after {data.get('steps')} steps)")
    text = f"DFT relaxations converged: {done} of {done + len(loose)}"
    return text + (f"; stopped at the step limit: {', '.join(loose)}." if loose else ".")


def charged_defects(root: Path, index: StudyIndex, facts: dict) -> list[str]:
    """Section 2: the charged-defect study (DFT): chemical potentials, corrected formation
    energies, transition levels with the PBE and PBE+SOC band edges, Fermi level, diagrams."""
    out = ["## 2. Charged-defect formation energies (DFT)", ""]
    dft = [(d, e) for d, e in index.analyses("defects") if _is_dft(index, e)]
    if not dft or dft[0][0] is None:
        entry = dft[0][1] if dft else None
        return out + [missing(index, entry, entry["label"] if entry else "the charged-defect study"), ""]
    doc, entry = dft[0]
    cp = doc.get("chemical_potentials") or {}
    if doc.get("status") == "host unstable":
        facts["host_unstable"] = cp.get("e_above_hull")
        return out + [f"**{doc.get('message')}**", ""]
    bulk, _ = index.step(entry["study"], entry["roles"]["bulk"][0])
    natoms = len((bulk or {}).get("structure", {}).get("symbols") or []) or None
    eps = doc.get("dielectric") or {}
    st = ((bulk or {}).get("backend") or {}).get("settings") or {}
    settings = ", ".join(f"{k} {v}" for k, v in st.items() if k in ("ecut", "kpts", "xc"))
    out += [f"Level of theory **{doc.get('level_of_theory')}** ({provenance(bulk)}); perfect supercell "
            f"{natoms} atoms; Freysoldt corrections with ε = {eps.get('value')} ({eps.get('source')}); "
            f"{_relaxation_line(index, entry)}", ""]
    if cp.get("host_shift"):
        decomp = " + ".join(sorted((doc.get("chemical_potentials") or {}).get("decomposition") or {})) or "other phases"
        out += [f"*CsPbBr3 lies {cp['e_above_hull'] * 1000:.0f} meV/atom above the convex hull of these phases at this "
                f"level of theory; its energy was lowered by {cp['host_shift'] * 1000:.0f} meV/atom onto the hull to "
                "define the chemical-potential limits (the study's host_on_hull tolerance).*", ""]
        facts["host_shift"] = {"e_above_hull": cp["e_above_hull"], "shift": cp["host_shift"]}
    out += _chempot_tables(doc, entry)
    tables = doc.get("tables") or {}
    for key, title in (("formation_energies", "Formation energies at E_F = VBM (eV)"),
                       ("transition_levels", "Transition levels (eV)"),
                       ("band_edges", "Band edges of the perfect supercell, PBE and PBE+SOC (eV, from the PBE VBM)")):
        if tables.get(key):
            out += [f"**{title}**", "", to_markdown(tables[key]), ""]
    if doc.get("correction_terms"):
        out += ["**Finite-size corrections** (lattice term, alignment term and the potential offset ΔV far from the "
                "defect along the three lattice directions)", "", to_markdown(doc["correction_terms"]), ""]
    if tables.get("fermi_level"):
        out += ["**Self-consistent Fermi level** (eV above the VBM; the most abundant charged defect per limit)", "",
                to_markdown(_fermi_summary(tables["fermi_level"])), ""]
    for png in _pngs(doc, entry, "diagram"):
        out += [f"![{png.stem}]({_rel(png, root)})", ""]
    edges = doc.get("band_edges") or {}
    soc = (edges.get("soc") or {}).get("shift")
    facts["charged"] = {"rows": doc.get("formation_energies") or [], "fermi": tables.get("fermi_level") or [],
                        "levels": [{"defect": r["defect"], "transition": r["transition"],
                                    "level": r["level above VBM (eV)"]} for r in tables.get("transition_levels") or []],
                        "gap": (edges.get("pbe") or {}).get("gap"),
                        "soc_shift": soc, "natoms": natoms, "settings": settings,
                        "corrections": doc.get("correction_terms") or []}
    facts["limits_named"] = cp.get("named") or {}
    return out


def _fermi_summary(rows: list[dict]) -> list[dict]:
    """One row per limit and state from the Fermi-level table: E_F, n, p and the most abundant
    charged defect."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["limit"], r["state"]), []).append(r)
    out = []
    for (limit, state), rs in groups.items():
        top = max((r for r in rs if r["q"] != 0), key=lambda r: r["c (cm^-3)"], default=None)
        out.append({"limit": limit, "state": state, "T (K)": f"{rs[0]['T (K)']:.0f}", "E_F (eV)": rs[0]["E_F (eV)"],
                    "n (cm^-3)": f"{rs[0]['n (cm^-3)']:.1e}", "p (cm^-3)": f"{rs[0]['p (cm^-3)']:.1e}",
                    "most abundant": f"{top['defect']} q={top['q']:+d}" if top else "–",
                    "c (cm^-3)": f"{top['c (cm^-3)']:.1e}" if top else "–"})
    return out


def screening(root: Path, index: StudyIndex, facts: dict) -> list[str]:
    """Section 3: the neutral-vacancy MLIP study, titled as screening: its energies are taken at
    an implicit Fermi level with no band edges, correction or spin, so no sentence of the report
    rests on them; the RP phases' distance from the hull (same model) is reported."""
    out = ["## 3. Neutral-vacancy screening (machine-learned potential)", ""]
    mlip = [(d, e) for d, e in index.analyses("defects") if not _is_dft(index, e)]
    if not mlip:
        return out[:0]                    # no screening study in this run: no section
    doc, entry = mlip[0]
    if doc is None:
        return out + [missing(index, entry, entry["label"]), ""]
    cp = doc.get("chemical_potentials") or {}
    model = provenance({"backend": doc.get("backend")})
    out += [f"*Screening only ({model}): neutral cells of a charge-free potential. These numbers sit at an implicit "
            "Fermi level, with no band edges, finite-size correction or spin; they are not formation energies of "
            "charged defects and are not comparable with section 2.*", ""]
    if doc.get("status") == "host unstable":
        return out + [f"**{doc.get('message')}**", ""]
    out += _chempot_tables(doc, entry)
    rp = cp.get("rp_phases_e_above_hull") or {}
    if rp:
        out += [f"RP phases above the convex hull ({model}): " +
                ", ".join(f"{k} {v * 1000:.0f} meV/atom" for k, v in rp.items()) + ".", ""]
        facts["rp_hull"] = rp
    if doc.get("formation_energies"):
        out += ["**Neutral-vacancy energies (screening, eV; not formation energies of charged defects)**", "",
                to_markdown(doc["formation_energies"]), ""]
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
    out = ["## 4. V_Br migration", ""]
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
    out = ["## 5. Electronic structure (GPAW, PBE without SOC)", ""]
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
    if entry is None and index.analysis("boundary")[1] is not None:
        return out                                 # the boundary study's section says it all
    if not doc:
        return out + [missing(index, entry, "band-edges"), ""]
    model = {}
    for label in entry["roles"].get("band_edges", []):
        edges, _ = index.step(entry["study"], label)
        if edges and edges.get("band_edges"):
            model = {"natoms": len(edges["structure"]["symbols"]), "settings": _model_settings(edges)}
            out += [f"RP/perovskite boundary model ({len(edges['structure']['symbols'])} atoms): gap "
                    f"{edges['band_edges']['gap']:.2f} eV; {provenance(edges)}.", ""]
    out += [to_markdown(doc["rows"]), ""]
    for png in _pngs(doc, entry, "planar_average_"):
        out += [f"![{png.stem}]({_rel(png, root)})", ""]
    statements = doc.get("statements") or {}
    out += [f"**{s}**" for s in statements.values()] + [""]
    facts["localization"] = {name: dict(model, statement=s) for name, s in statements.items()}
    return out


def _model_settings(doc: dict) -> str:
    """A band-edge model's settings in words: k-points, cut-off, spin-orbit."""
    st = (doc.get("backend") or {}).get("settings") or {}
    kpts = st.get("kpts")
    k = "Γ only" if kpts in ([1, 1, 1], (1, 1, 1)) else f"k-points {kpts}" if kpts else "k-points of the backend"
    cut = f"{st['ecut']:g} eV" if st.get("ecut") else "default cut-off"
    return f"{k}, {cut}, PBE without SOC"


def boundary(root: Path, index: StudyIndex, facts: dict) -> list[str]:
    """The band offsets of a boundary study (if the run has one): the convergence table, the
    reference case's verdict and the in-plane strain of each side against its own relaxed bulk."""
    doc, entry = index.analysis("boundary")
    if entry is None:
        return []
    out = ["### RP/perovskite band offsets (GPAW; potential lineup, PBE and PBE+SOC)", ""]
    if not doc:
        return out + [missing(index, entry, "the boundary study"), ""]
    ref = next((c for c in doc.get("cases") or [] if c.get("case") == doc["reference_case"]), {})
    strain = ((ref.get("in_plane") or {}).get("strain")) or {}
    if strain:
        out += ["In-plane strain against each side's own relaxed bulk: " + "; ".join(
            f"{side} {100 * s['u']:+.2f} % / {100 * s['v']:+.2f} %" for side, s in sorted(strain.items())) + ".", ""]
    cols = ("case", "atoms", "k in-plane", "ecut (eV)", "VBO (eV)", "CBO (eV)", "VBO PBE (eV)", "CBO PBE (eV)",
            "lineup ± (eV)", "verdict", "margin (eV)", "f_CBM(rp)", "f_VBM(perovskite)", "geometry", "F_max (eV/Å)",
            "tilt off bulk (°)", "converged (thickness)", "converged (settings)", "converged (geometry source)")
    cols = [c for c in cols if any(r.get(c) is not None for r in doc["rows"])]    # no all-empty column
    out += [to_markdown([{c: r.get(c) for c in cols} for r in doc["rows"]]), ""]
    out += [f"**{doc['statement']}**", ""] + [x for n in doc.get("notes") or [] for x in (f"*{n}*", "")]
    folder = Path(entry["folder"]) / doc["reference_case"].replace("@", "_")
    for png in sorted(folder.glob("alignment-*/*.png"))[:2]:
        out += [f"![{png.stem}]({_rel(png, root)})", ""]
    facts["boundary"] = {"verdict": doc["verdict"], "case": doc["reference_case"], "edges": doc.get("edges"),
                         "natoms": ref.get("natoms"), "spreads": doc.get("spreads") or {},
                         "tolerance": doc.get("tolerance"), "level_of_theory": ref.get("level_of_theory"),
                         "residual": ref.get("residual"), "framework": ref.get("framework"),
                         "pbe": {"verdict": (((ref.get("alignment") or {}).get("verdict")) or {}).get("verdict"),
                                 "cbo": (ref.get("alignment") or {}).get("cbo")},
                         "f_cbm_rp": (((ref.get("states") or {}).get("fractions") or {}).get("cbm") or {}).get("rp"),
                         "f_vbm_perovskite": (((ref.get("states") or {}).get("fractions") or {}).get("vbm")
                                              or {}).get("perovskite"),
                         "untested": [n.split("with ", 1)[1].split(" not", 1)[0] for n in doc.get("notes") or []
                                      if n.startswith("convergence with ")]}
    return out
