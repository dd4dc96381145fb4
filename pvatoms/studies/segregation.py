"""The segregation study: vacancies by the RP / perovskite boundary, energy against distance.

Graph (labels)::

    interface-relax            the boundary model (rp_interface), relaxed by the MLIP (positions;
                               the cell as ``relax`` says, fixed by default)
    V_<El>_<i>                 one neutral vacancy per symmetry-distinct site <i> (atom index of
                               the orbit's representative), MLIP relaxation at the model's cell
    V_<El>_<i>_q<q>            with ``dft``: charged single points (PBE//MLIP) at the site
                               nearest the boundary and at the reference site of each element
    segregation (analysis)     E_seg against signed distance, tables, profile plot
                               (:mod:`pvatoms.analysis.segregation`)

The screening is neutral and machine-learned: its numbers are energy differences between
vacancy sites of one model at one level of theory, not defect formation energies, and the
analysis titles them so. The DFT pairs give the same difference per charge state at one DFT
level; the finite-size terms of the two cells cancel only as far as their screening is alike.
"""

from __future__ import annotations

from pathlib import Path

from pvatoms.analysis import ANALYSIS_SCHEMA
from pvatoms.errors import InputError
from pvatoms.schema import read_result
from pvatoms.studies.graph import Analysis, Source, Step, StudyGraph
from pvatoms.studies.relax import relax_step
from pvatoms.studies.specs import SegregationStudy, as_spec


def vacancy_charge(element: str) -> int:
    """The fully ionised vacancy charge of ``element`` (minus its oxidation state: V_Br +1,
    V_Pb -2, V_Cs -1)."""
    from pvatoms.build.defects import oxidation_state
    return -oxidation_state(element)


def dft_pair(sites: list[dict]) -> tuple[dict, dict] | None:
    """(the site nearest a boundary plane, the reference site of its class) of one element, or None
    when they are the same site. Ties in distance go to the perovskite side."""
    from pvatoms.analysis.segregation import REFERENCE_CLASS, reference_site
    near = min(sites, key=lambda s: (abs(s["distance"]), -s["distance"], s["index"]))
    cls = near.get("class") or near["element"]
    ref_cls = REFERENCE_CLASS.get(cls, cls)
    ref = reference_site([s for s in sites if (s.get("class") or s["element"]) == ref_cls] or sites)
    return None if near["index"] == ref["index"] else (near, ref)


def plan(study: SegregationStudy) -> StudyGraph:
    """The step graph: relax the boundary model, one vacancy relaxation per distinct site, the
    optional DFT pairs, the segregation analysis."""
    from pvatoms.build.interface import boundary_sites
    atoms, relax = relax_step(study, study.structure, study.relax, "interface-relax")
    sites = boundary_sites(atoms, study.vacancies, symprec=study.symprec)
    steps, labels, notes, site_info = [relax], [], [], {}
    for s in sites:
        label = f"V_{s['element']}_{s['index']}"
        transform = [{"delete": [s["index"]]},
                     {"provenance": {"builder": "pvatoms.studies.segregation", "reference": None,
                                     "arguments": {"defect": f"V_{s['element']}", "site": s}}}]
        steps.append(Step(label, "relax", study.backend, {"structure": Source.from_parent("interface-relax", transform)},
                          dict(study.backend_settings), {"cell": False, "fmax": study.defect_fmax,
                                                         "steps": study.defect_steps},
                          parents=["interface-relax"]))
        labels.append(label)
        site_info[label] = dict(s, label=label)
    charged, charged_info = [], {}
    if study.dft is not None:
        d = study.dft
        for el in study.vacancies:
            pair = dft_pair([s for s in site_info.values() if s["element"] == el])
            if pair is None:
                notes.append(f"V_{el}: one distinct site in this model; no boundary / reference pair for DFT")
                continue
            for q in d.charges.get(el, [vacancy_charge(el)]):
                for role, s in zip(("boundary", "reference"), pair):
                    label = f"{s['label']}_q{q:+d}"
                    steps.append(Step(label, "static", d.backend, {"structure": Source.from_parent(s["label"])},
                                      dict(d.backend_settings), {"charge": int(q), "defect": True},
                                      parents=[s["label"]]))
                    charged.append(label)
                    charged_info[label] = {"site": s["label"], "charge": int(q), "role": role}
        notes.append(f"{d.backend} single points on the {study.backend} geometries of the neutral vacancies: "
                     "charged states sit at the charge-free geometry (their relaxation energy is missing)")
    model = atoms.info.get("interface", {})
    analysis = Analysis("segregation", "segregation", {"host": ["interface-relax"], "vacancies": labels,
                                                       "charged": charged},
                        {"sites": site_info, "charged": charged_info, "tolerance": study.tolerance,
                         "boundary_width": model.get("boundary_width"), "natoms": len(atoms),
                         "model": (atoms.info.get("provenance") or {}).get("arguments")})
    return StudyGraph("segregation", study.name, study.run_folder(), steps, [analysis], notes, spec=as_spec(study))


# ---------------------------------------------------------------- the analysis

def _entries(items: list, info: dict) -> tuple[list, list]:
    """(site entries with energy and level of theory, labels not finished)."""
    out, skipped = [], []
    for r in items:
        if r.get("status") != "completed":
            skipped.append(r["label"])
            continue
        doc = read_result(r["folder"], label=r["label"])
        data = doc.get("data") or {}
        if doc.get("job") == "relax" and data.get("converged") is False:
            skipped.append(r["label"])
            continue
        out.append(dict(info[r["label"]], energy=doc.get("energy"),
                        level=(doc.get("level_of_theory") or {}).get("label")))
    return out, skipped


def segregation_analysis(roles: dict, folder: Path, sites=None, charged=None, tolerance: float = 0.05,
                         boundary_width=None, natoms=None, model=None, **_) -> dict:
    """Segregation energies from the finished vacancy relaxations (and DFT pairs): tables
    (``segregation.{csv,md,tex}``, ``segregation_dft.*``), ``segregation_profile.{png,pdf}`` and a
    summary per element (:func:`pvatoms.analysis.segregation.summary`)."""
    from pvatoms.analysis import segregation as S
    from pvatoms.analysis.tables import write_table
    from pvatoms.io import StagedFolder
    sites, charged = sites or {}, charged or {}
    entries, skipped = _entries(roles.get("vacancies", []), sites)
    if not entries:
        raise InputError("no vacancy relaxation of the segregation study finished (converged): nothing to analyse")
    rows = S.segregation_rows(entries)
    interior = S.interior_check(rows, tolerance=tolerance)
    summary = S.summary(rows, interior, tolerance=tolerance)
    info = {k: dict(v, **sites[v["site"]]) for k, v in charged.items()}
    dft_entries, dft_skipped = _entries(roles.get("charged", []), info)
    dft_rows = []
    for el, q in sorted({(e["element"], e["charge"]) for e in dft_entries}):
        # the pair was chosen at plan time (boundary site, the reference of its class): its
        # difference is taken as is, whatever the classes
        pair = {e["role"]: dict(e, label=e["site"], **{"class": e["element"]}) for e in dft_entries
                if (e["element"], e["charge"]) == (el, q)}
        if set(pair) == {"boundary", "reference"}:
            rows_q = S.segregation_rows([pair["boundary"], pair["reference"]], charge=q)
            for r in rows_q:
                if r["site"] == pair["boundary"]["label"]:
                    r["class"] = sites[r["site"]].get("class", el)
                    r["reference"] = pair["reference"]["label"]
                    r["E_seg (eV)"] = float(pair["boundary"]["energy"]) - float(pair["reference"]["energy"])
                    dft_rows.append(r)
    mlip = {r["site"]: r["E_seg (eV)"] for r in rows}
    for r in dft_rows:
        r["E_seg MLIP q=0 (eV)"] = mlip.get(r["site"])
    title = f"Vacancy segregation, {natoms}-atom boundary model ({rows[0]['level of theory']}, neutral screening)"
    with StagedFolder(folder) as stage:
        files = {"table": {k: str(stage.final_path(v)) for k, v in write_table(
            rows, stage.path / "segregation", caption=title + ": energy differences between sites, not formation "
            "energies", label="tab:segregation").items()}}
        plotted = S.plot_profile(rows + dft_rows, stage.path / "segregation_profile", title=title,
                                 boundary_width=boundary_width)
        files["profile"] = {k: str(stage.final_path(Path(v))) for k, v in plotted.items()}
        if dft_rows:
            files["dft_table"] = {k: str(stage.final_path(v)) for k, v in write_table(
                dft_rows, stage.path / "segregation_dft", caption="Charged vacancies: boundary site vs reference "
                "site, same supercell and charge (no finite-size correction: it cancels only as far as the "
                "screening at the two sites is alike)", label="tab:segregation-dft").items()}
    return {"kind": "segregation", "schema": ANALYSIS_SCHEMA, "rows": rows, "interior": interior,
            "summary": summary, "dft_rows": dft_rows, "natoms": natoms, "model": model, "tolerance": tolerance,
            "what": "neutral MLIP screening: energy differences between vacancy sites of one model, not "
                    "defect formation energies",
            "skipped_unfinished": sorted(set(skipped + dft_skipped)), "files": files}
