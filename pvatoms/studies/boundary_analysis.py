"""The boundary study's analysis: per case the potential lineup (PBE and PBE+SOC), region DOS and
band-edge fractions, the PBE load on the geometry and the octahedra of each side against its bulk;
then the convergence table over thickness, settings and geometry source, and the verdict of the
reference case with its uncertainty. The plan that feeds it: :mod:`pvatoms.studies.boundary`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pvatoms.analysis import ANALYSIS_SCHEMA
from pvatoms.errors import InputError
from pvatoms.schema import atoms_from_dict, read_result
from pvatoms.studies.boundary import SIDES, normal_of, pnma_vectors


def _folder(by_label: dict, label: str) -> str | None:
    r = by_label.get(label)
    return r["folder"] if r and r.get("status") == "completed" else None


def interface_state_analysis(folder, labels, pdos_output=None, pdos: bool = True) -> dict:
    """Band-edge fractions per region (PBE, from the interface's ``static.gpw``) and, with
    ``pdos``, the region-projected DOS with its local band edges."""
    from pvatoms.analysis.localization import analyse_densities
    from pvatoms.analysis.pdos import analyse_region_dos
    from pvatoms.calc.gpaw_dos import load_calculator, state_weights, write_projections
    from pvatoms.jobs.band_edges import band_edge_densities
    doc = read_result(folder)
    gpw = Path(folder) / ((doc.get("files") or {}).get("gpw") or "static.gpw")
    calc = load_calculator(gpw)
    atoms = atoms_from_dict(doc["structure"])
    dens = analyse_densities(atoms, band_edge_densities(calc), labels=labels, axis=2)
    out = {"fractions": {st: dens["states"][st]["region_fractions"] for st in dens["states"]},
           "statement": dens.get("statement")}
    if pdos:
        proj = state_weights(calc)
        if pdos_output is not None:
            write_projections(Path(pdos_output) / "projections.npz", proj)
        out["pdos"] = analyse_region_dos(proj, labels, pdos_output, reference=(doc.get("band_edges") or {}).get("vbm"),
                                         label=f"{doc.get('_label')} region DOS")
    return out


def bulk_periods(pv_doc: dict, rp_doc: dict, axis: str) -> dict:
    """Stacking periods (Å along the normal) of the two sides from their bulk references (at the
    interface's strain state): one octahedral layer of the Pnma cell (half its stacking vector),
    one block plus rock-salt layer of the RP cell (half its third vector: two blocks)."""
    pv, rp = atoms_from_dict(pv_doc["structure"]), atoms_from_dict(rp_doc["structure"])
    vec = pnma_vectors(pv, axis)
    n_pv = normal_of(vec[0], vec[1])
    cell = np.asarray(rp.cell)
    n_rp = normal_of(cell[0], cell[1])
    return {"perovskite": float(abs(vec[2] @ n_pv) / 2), "rp": float(abs(cell[2] @ n_rp) / 2)}


def _case(c: dict, by_label: dict, out: Path, axis: str, soc: bool, pdos: bool) -> dict:
    from pvatoms.analysis.alignment import analyse_alignment
    from pvatoms.calc.soc import soc_for_result
    row = {k: c[k] for k in ("case", "model", "setting", "rp_layers", "perovskite_layers", "kpts_in_plane", "ecut")}
    folders = {k: _folder(by_label, c[k]) for k in ("interface", "perovskite_bulk", "rp_bulk")}
    missing = [c[k] for k, f in folders.items() if f is None]
    if missing:
        return {**row, "status": "missing", "missing": missing}
    where = out / c["case"].replace("@", "_")
    res = {**row, "status": "completed"}
    pv_doc, rp_doc = read_result(folders["perovskite_bulk"]), read_result(folders["rp_bulk"])
    periods = c.get("periods") or bulk_periods(pv_doc, rp_doc, axis)
    res["periods"] = periods
    res["alignment"] = analyse_alignment(folders["interface"], folders["perovskite_bulk"], folders["rp_bulk"],
                                         where / "alignment-pbe", periods=periods, label=f"{c['case']} PBE")
    if soc:
        for k in ("perovskite_bulk", "rp_bulk"):
            soc_for_result(folders[k])
        res["alignment_soc"] = analyse_alignment(folders["interface"], folders["perovskite_bulk"], folders["rp_bulk"],
                                                 where / "alignment-soc", periods=periods, soc=True,
                                                 label=f"{c['case']} PBE+SOC")
    idoc = read_result(folders["interface"])
    res["level_of_theory"] = idoc.get("level_of_theory")
    res["geometry"] = (res["level_of_theory"] or {}).get("geometry")
    res["residual"] = residual_load(idoc)
    try:
        res["framework"] = framework_check(idoc, pv_doc, rp_doc, axis)
    except InputError as err:                    # no Pb–Br octahedra to compare
        res["framework"] = None
        res.setdefault("notes", []).append(f"octahedra not compared with the bulks: {err}")
    labels = np.asarray(idoc["structure"]["arrays"]["region"]).astype(str)
    if (idoc.get("files") or {}).get("gpw"):
        res["states"] = interface_state_analysis(folders["interface"], labels, where / "pdos", pdos)
    else:
        res["states"] = None
        res.setdefault("notes", []).append("the interface static kept no wave functions (write_gpw): no band-edge "
                                           "fractions, no region DOS")
    res["natoms"] = len(labels)
    node = by_label.get(c["structure"]) or {}
    path = Path(node.get("folder") or "") / "analysis.json"
    if node.get("folder") and path.is_file():
        from pvatoms.io import read_json
        res["in_plane"] = read_json(path).get("in_plane")
    return res


def residual_load(doc: dict) -> dict | None:
    """What the static's own method says of the geometry it was given: the largest atomic force
    (eV/Å) and the stress along the stacking normal (GPa, ASE's sign: positive when the cell
    would shrink; the normal of the first two cell vectors, the in-plane ones). Both vanish at a
    minimum of that method, so on an MLIP geometry they measure how far it is from the DFT one, at the static's k-mesh and SCF
    tolerance. None when the document has no forces."""
    from ase.units import GPa
    if doc.get("forces") is None:
        return None
    out = {"max_force": float(np.linalg.norm(np.asarray(doc["forces"], float), axis=1).max()), "stress_normal": None}
    if doc.get("stress") is not None:
        xx, yy, zz, yz, xz, xy = np.asarray(doc["stress"], float)
        sigma = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        cell = np.asarray(doc["structure"]["cell"], float)
        n = normal_of(cell[0], cell[1])
        out["stress_normal"] = float(n @ sigma @ n / GPa)
    return out


def framework_check(interface_doc: dict, pv_doc: dict, rp_doc: dict, axis: str) -> dict:
    """The octahedra of the interface plane by plane (:func:`pvatoms.analysis.octahedra.plane_profile`)
    and, for each side, its interior planes against the bulk reference that the lineup takes for
    it (``perovskite``, ``rp``: :func:`~pvatoms.analysis.octahedra.interior_against_bulk`). A side
    whose interior bridges at other Pb–Br–Pb angles than its bulk is not that bulk: its offsets
    then carry the difference. ``tilt_deviation``: the largest angle deviation over both sides
    (degrees; None when neither side has interior planes)."""
    from pvatoms.analysis.octahedra import framework_summary, interior_against_bulk, plane_profile
    iface = atoms_from_dict(interface_doc["structure"])
    pv, rp = atoms_from_dict(pv_doc["structure"]), atoms_from_dict(rp_doc["structure"])
    vec = pnma_vectors(pv, axis)
    bulks = {"perovskite": framework_summary(pv, normal=normal_of(vec[0], vec[1])),
             "rp": framework_summary(rp, normal=normal_of(rp.cell[0], rp.cell[1]))}
    profile = plane_profile(iface, normal=normal_of(iface.cell[0], iface.cell[1]))
    out = {"profile": profile, **{side: interior_against_bulk(profile, side, bulks[side]) for side in SIDES}}
    devs = [m["deviation"] for side in SIDES for k, m in out[side]["measures"].items() if k != "bond_length"]
    out["tilt_deviation"] = max(devs, key=abs) if devs else None
    return out


def _numbers(res: dict) -> dict:
    """The numbers of one case that the convergence table compares."""
    best = res.get("alignment_soc") or res["alignment"]
    fr = (res.get("states") or {}).get("fractions") or {}
    out = {"dV (eV)": res["alignment"]["potential_step"], "VBO (eV)": best["vbo"], "CBO (eV)": best["cbo"],
           "VBO PBE (eV)": res["alignment"]["vbo"], "CBO PBE (eV)": res["alignment"]["cbo"],
           "lineup ± (eV)": best["uncertainty"], "verdict": best["verdict"]["verdict"],
           "margin (eV)": best["verdict"]["margin"],
           "f_CBM(rp)": (fr.get("cbm") or {}).get("rp"), "f_VBM(perovskite)": (fr.get("vbm") or {}).get("perovskite")}
    load = res.get("residual") or {}
    out["geometry"] = res.get("geometry")
    out["F_max (eV/Å)"] = load.get("max_force")
    out["σ_n (GPa)"] = load.get("stress_normal")
    out["tilt off bulk (°)"] = (res.get("framework") or {}).get("tilt_deviation")
    p = (res.get("states") or {}).get("pdos")
    if p:
        e = p["local_edges"]
        for edge, key in (("vbm", "PDOS VBO (eV)"), ("cbm", "PDOS CBO (eV)")):
            a, b = e.get("rp", {}), e.get("perovskite", {})
            if a.get(edge) is None or b.get(edge) is None:
                out[key] = None
            elif a.get(f"{edge}_state") == b.get(f"{edge}_state"):
                out[key] = "shared"             # one state is the edge of both sides: thin cell
            else:
                out[key] = a[edge] - b[edge]
        out["DOS sum rule"] = p["sum_rule"]["max_error"]
    return out


def convergence_table(results: list, tolerance: float, fraction_tolerance: float) -> tuple[list, dict]:
    """Rows (one per finished case) with each number and ``converged``: within ``tolerance`` (eV;
    ``fraction_tolerance`` for fractions) of the reference of its series — the thickest model
    (series ``thickness``, at the first setting) or the last setting (series ``settings``, on
    the first model); and the per-series spreads (eV) between the last two members."""
    done = [r for r in results if r["status"] == "completed"]
    for r in done:
        r["numbers"] = _numbers(r)
    own = [r for r in done if not r.get("geometry_index")]
    series = {"thickness": sorted([r for r in own if r["setting_index"] == 0], key=lambda r: r["model_index"]),
              "settings": sorted([r for r in own if r["model_index"] == 0], key=lambda r: r["setting_index"])}
    others = sorted([r for r in done if r.get("geometry_index")], key=lambda r: r["geometry_index"])
    if others:                   # the study's own geometry last: the reference of the series
        series["geometry source"] = others + [r for r in own if (r["model_index"], r["setting_index"])
                                              == (others[0]["model_index"], others[0]["setting_index"])]
    spreads, rows = {}, []
    for name, items in series.items():
        if len(items) >= 2 and name == "geometry source":      # every source against the study's own
            spreads[name] = max(abs(a["numbers"][k] - items[-1]["numbers"][k])
                                for a in items[:-1] for k in ("VBO (eV)", "CBO (eV)"))
        elif len(items) >= 2:
            a, b = items[-2]["numbers"], items[-1]["numbers"]
            spreads[name] = max(abs(a[k] - b[k]) for k in ("VBO (eV)", "CBO (eV)"))
    for r in done:
        row = {"case": r["case"], "atoms": r["natoms"], "RP blocks": r["rp_layers"],
               "PbBr2 layers": r["perovskite_layers"], "k in-plane": "x".join(map(str, r["kpts_in_plane"])),
               "ecut (eV)": r["ecut"], **r["numbers"]}
        for name, items in series.items():
            if r in items and len(items) >= 2:
                ref = items[-1]["numbers"]
                if r is items[-1]:
                    row[f"converged ({name})"] = "reference"
                    continue
                ok = all(abs(r["numbers"][k] - ref[k]) <= tolerance for k in ("VBO (eV)", "CBO (eV)"))
                for k in ("f_CBM(rp)", "f_VBM(perovskite)"):
                    if r["numbers"].get(k) is not None and ref.get(k) is not None:
                        ok = ok and abs(r["numbers"][k] - ref[k]) <= fraction_tolerance
                row[f"converged ({name})"] = "yes" if ok else "no"
        rows.append(row)
    return rows, spreads


def analyse_cases(by_label: dict, folder: Path, cases: list, axis: str = "b", soc: bool = True, pdos: bool = True,
                  tolerance: float = 0.05, fraction_tolerance: float = 0.05, own_geometry: bool = True) -> dict:
    """The ``boundary`` analysis document: every case, the convergence table
    (``convergence.{csv,md,tex}``) and the verdict of the reference case (thickest model, first
    setting; its uncertainty: the lineup's and the convergence spreads in quadrature)."""
    from pvatoms.analysis.alignment import classify
    from pvatoms.analysis.tables import write_table
    results = [_case(c, by_label, folder, axis, soc, pdos) | {"model_index": c["model_index"],
                                                              "setting_index": c["setting_index"],
                                                              "geometry_index": c.get("geometry_index", 0),
                                                              "geometry_source": c.get("geometry_source")}
               for c in cases]
    rows, spreads = convergence_table(results, tolerance, fraction_tolerance)
    done = [r for r in results if r["status"] == "completed"]
    if not done:
        raise RuntimeError("no boundary case finished: no offsets")
    files = {"table": {k: str(v) for k, v in write_table(
        rows, folder / "convergence", caption="RP / perovskite band offsets vs model thickness and DFT settings "
        f"(converged: within {tolerance:g} eV of the reference)", label="tab:boundary-convergence").items()}}
    ref = max((r for r in done if r["setting_index"] == 0 and not r["geometry_index"]),
              key=lambda r: r["model_index"], default=done[0])
    best = ref.get("alignment_soc") or ref["alignment"]
    conv = math.sqrt(sum(x * x for x in spreads.values()))
    unc = math.sqrt(best["uncertainty"] ** 2 + conv ** 2)
    al = best["offsets"]["aligned"]
    verdict = classify(al["rp"]["vbm"], al["rp"]["cbm"], al["perovskite"]["vbm"], al["perovskite"]["cbm"], unc)
    verdict["uncertainty_parts"] = {"lineup": best["uncertainty"], "convergence": spreads}
    untested = [k for k in ("thickness", "settings") + (() if own_geometry else ("geometry source",))
                if k not in spreads]
    notes = [f"convergence with {k} not tested (one entry)" for k in untested]
    return {"kind": "boundary", "schema": ANALYSIS_SCHEMA, "reference_case": ref["case"], "edges": best["edges"],
            "verdict": verdict, "statement": f"{ref['case']} ({best['edges']} edges): {verdict['statement']}",
            "rows": rows, "spreads": spreads, "tolerance": tolerance, "fraction_tolerance": fraction_tolerance,
            "cases": results, "notes": notes, "files": files,
            "skipped_unfinished": sorted(m for r in results for m in r.get("missing", []))}


def boundary_analysis(roles: dict, folder: Path, cases=(), axis: str = "b", soc: bool = True, pdos: bool = True,
                      tolerance: float = 0.05, fraction_tolerance: float = 0.05, own_geometry: bool = True,
                      **_) -> dict:
    """The analysis of kind ``boundary`` (see :func:`analyse_cases`) from the parents by role."""
    by_label = {r["label"]: r for items in roles.values() for r in items}
    return analyse_cases(by_label, Path(folder), list(cases), axis=axis, soc=soc, pdos=pdos,
                         tolerance=tolerance, fraction_tolerance=fraction_tolerance, own_geometry=own_geometry)


__all__ = ["boundary_analysis", "analyse_cases", "convergence_table", "framework_check", "residual_load",
           "interface_state_analysis", "bulk_periods"]
