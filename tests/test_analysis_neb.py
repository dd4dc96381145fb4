"""NEB analysis: the smooth profile, the barrier table and the figures, from a real (small) CHGNet
NEB of a Br vacancy hop in Pnma CsPbBr3."""

import argparse
import copy
import csv
import json

import numpy as np
import pytest

from pvatoms import schema
from pvatoms.analysis.neb import analyse_neb, fit_profile, hermite, neb_profile
from pvatoms.cli.analyse import add_neb_arguments, run_neb
from pvatoms.errors import InputError


@pytest.fixture(scope="module")
def neb_folder(tmp_path_factory):
    from pvatoms.build import cspbbr3
    from pvatoms.jobs import nearest_vacancy_hops, neb, vacancy_hop

    perfect = cspbbr3()
    br = perfect.get_chemical_symbols().index("Br")
    a, b = vacancy_hop(perfect, br, nearest_vacancy_hops(perfect, br)[0][0])
    folder = tmp_path_factory.mktemp("neb") / "V_Br_hop"
    doc = neb(a, b, folder, backend="chgnet", n_images=3, fmax=0.1)
    assert doc["status"] == "completed", doc["reason"]
    return folder


def _copy_result(doc, folder):
    schema.save(doc, folder)
    return folder


# ---------------------------------------------------------------- the fit on its own

def test_hermite_reproduces_a_cubic_and_its_slopes():
    """A cubic E(s) sampled with its exact derivative is reproduced exactly, on uneven spacing."""
    def E(s):
        return 0.3 - 0.2 * s + 0.45 * s ** 2 - 0.1 * s ** 3

    def dE(s):
        return -0.2 + 0.9 * s - 0.3 * s ** 2

    s = np.array([0.0, 0.7, 1.9, 2.4, 3.5])
    x = np.linspace(0, 3.5, 301)
    assert np.allclose(hermite(s, E(s), dE(s), x), E(x), atol=1e-12)


def test_fit_passes_through_images_with_slopes_minus_tangential_force():
    s = np.array([0.0, 1.2, 2.0, 3.1, 4.4])
    e = np.array([0.0, 0.12, 0.31, 0.10, 0.02])
    f_t = np.array([0.01, -0.25, 0.0, 0.3, -0.02])           # eV/Å along increasing s
    fit = fit_profile(s, e, f_t)
    for si, ei in zip(s, e):
        k = int(np.flatnonzero(np.isclose(fit["s"], si))[0])
        assert fit["energy"][k] == pytest.approx(ei, abs=1e-12)
    h = 1e-6
    for si, fi in zip(s, f_t):
        left = (hermite(s, e, -f_t, si) - hermite(s, e, -f_t, si - h)) / h
        right = (hermite(s, e, -f_t, si + h) - hermite(s, e, -f_t, si)) / h
        if si > s[0]:
            assert left == pytest.approx(-fi, abs=1e-4)      # C1: same slope from both sides
        if si < s[-1]:
            assert right == pytest.approx(-fi, abs=1e-4)
    assert "Hermite" in fit["fit"]
    assert fit["max_energy"] >= e.max() - 1e-12
    # the curve (ase.utils.forcecurve.fit_raw) is the Hermite curve of these slopes
    assert fit["energy"] == pytest.approx(hermite(s, e, -f_t, fit["s"]), abs=1e-9)


def test_fit_refuses_a_non_increasing_coordinate():
    with pytest.raises(InputError, match="increase"):
        fit_profile([0, 1, 1, 2], [0, 1, 1, 0], [0, 0, 0, 0])


# ---------------------------------------------------------------- real NEB documents

def test_profile_of_a_real_neb(neb_folder):
    doc = schema.load(neb_folder)
    d = doc["data"]
    p = neb_profile(doc, "V_Br")
    assert p["relative_energies"] == pytest.approx(np.array(d["energies"]) - d["energies"][0], abs=1e-12)
    curve_s, curve_e = np.array(p["fit_curve"]["s"]), np.array(p["fit_curve"]["energy"])
    for si, ei in zip(d["reaction_coordinate"], p["relative_energies"]):
        k = int(np.argmin(np.abs(curve_s - si)))
        assert curve_s[k] == pytest.approx(si, abs=1e-12)
        assert curve_e[k] == pytest.approx(ei, abs=1e-9)
    # the fitted slopes are -F_t of the document ...
    s, e, f = np.array(d["reaction_coordinate"]), np.array(p["relative_energies"]), np.array(d["forces_along_path"])
    for i in range(1, len(s) - 1):
        num = (hermite(s, e, -f, s[i] + 1e-6) - hermite(s, e, -f, s[i] - 1e-6)) / 2e-6
        assert num == pytest.approx(-f[i], abs=1e-4)
    # ... and the sign convention is physical: next to the saddle, -F_t has the sign of the
    # energy change between the neighbouring images
    k = int(np.argmax(e))
    for i in (k - 1, k + 1):
        if 0 < i < len(s) - 1:
            secant = (e[i + 1] - e[i - 1]) / (s[i + 1] - s[i - 1])
            assert np.sign(-f[i]) == np.sign(secant)
    assert p["fit_maximum"]["energy"] >= max(e) - 1e-9
    assert p["species"] == "Br" and p["barrier_forward"] == d["barrier_forward"]


def test_barrier_table_numbers_equal_the_documents(neb_folder, tmp_path):
    doc = schema.load(neb_folder)
    d = doc["data"]
    report = analyse_neb([neb_folder], tmp_path / "out")
    (row,) = report["rows"]
    assert list(row) == ["species", "path", "hop (Å)", "E_b forward (eV)", "E_b backward (eV)", "backend"]
    assert row["species"] == d["moving_element"] == "Br"
    assert row["path"] == "V_Br_hop"
    assert row["hop (Å)"] == d["hop_distance"]
    assert row["E_b forward (eV)"] == d["barrier_forward"]
    assert row["E_b backward (eV)"] == d["barrier_backward"]
    assert "chgnet" in row["backend"] and doc["backend"]["model"] in row["backend"]
    files = report["files"]
    with open(files["table"]["csv"]) as fh:
        (back,) = list(csv.DictReader(fh))
    assert float(back["E_b forward (eV)"]) == d["barrier_forward"]      # full precision in CSV
    assert float(back["hop (Å)"]) == d["hop_distance"]
    md = open(files["table"]["md"]).read()
    assert f"{d['barrier_forward']:.3f}" in md and f"{d['barrier_backward']:.3f}" in md
    tex = open(files["table"]["tex"]).read()
    assert all(t in tex for t in (r"\toprule", r"\midrule", r"\bottomrule", f"{d['barrier_forward']:.3f}"))
    for fmt, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        path = files["profile_V_Br_hop"][fmt]
        assert open(path, "rb").read(4) == magic
    saved = json.load(open(files["report"]))
    assert saved["rows"][0]["E_b forward (eV)"] == d["barrier_forward"]
    assert saved["kind"] == report["kind"] == "neb" and saved["schema"] == "pvatoms.analysis/1"
    assert saved == report


def test_several_results_labels_and_the_cli(neb_folder, tmp_path):
    ap = argparse.ArgumentParser()
    add_neb_arguments(ap)
    args = ap.parse_args([str(neb_folder), str(neb_folder / "result.json"), "-o", str(tmp_path / "o"), "--json"])
    report = run_neb(args)
    assert [r["path"] for r in report["rows"]] == ["V_Br_hop-1", "V_Br_hop-2"]     # made unique
    assert open(report["files"]["profiles"]["png"], "rb").read(4) == b"\x89PNG"
    report = analyse_neb([neb_folder], tmp_path / "o2", labels=["V_Br 8d-4c"])
    assert report["rows"][0]["path"] == "V_Br 8d-4c"
    assert (tmp_path / "o2" / "profile_V_Br_8d-4c.pdf").is_file()


def test_document_without_forces_or_coordinates_gets_a_monotone_fit(neb_folder, tmp_path):
    """As a parsed VASP NEB: energies and images only."""
    doc = copy.deepcopy(schema.load(neb_folder))
    for key in ("reaction_coordinate", "forces_along_path", "hop_distance", "moving_element"):
        doc["data"].pop(key)
    p = neb_profile(doc, "vasp-like")
    ref = schema.load(neb_folder)["data"]
    assert "PCHIP" in p["fit"] and p["forces_along_path"] is None
    assert p["reaction_coordinate"] == pytest.approx(ref["reaction_coordinate"], abs=1e-6)
    assert p["hop_distance"] == pytest.approx(ref["hop_distance"], abs=1e-6)
    assert p["species"] == "Br"
    curve = dict(zip(np.round(p["fit_curve"]["s"], 9), p["fit_curve"]["energy"]))
    for si, ei in zip(p["reaction_coordinate"], p["relative_energies"]):
        assert curve[round(si, 9)] == pytest.approx(ei, abs=1e-9)


# ---------------------------------------------------------------- bad input

def test_inconsistent_inputs_are_refused(neb_folder, tmp_path):
    with pytest.raises(InputError, match="'relax' result, not 'neb'"):
        analyse_neb([neb_folder / "initial"], tmp_path / "a")       # an endpoint relaxation
    with pytest.raises(InputError, match="no such result folder or file"):
        analyse_neb([tmp_path / "nowhere"], tmp_path / "a")
    failed = copy.deepcopy(schema.load(neb_folder))
    failed.update(status="failed", reason="NotConverged: NEB did not reach fmax")
    bad = _copy_result(failed, tmp_path / "failed")
    with pytest.raises(InputError, match="'failed', not completed.*NotConverged"):
        analyse_neb([neb_folder, bad], tmp_path / "a")
    report = analyse_neb([neb_folder, bad], tmp_path / "b", skip_failed=True)
    assert len(report["rows"]) == 1 and "NotConverged" in report["skipped"][0]
    with pytest.raises(InputError, match="none of the neb results completed"):
        analyse_neb([bad], tmp_path / "c", skip_failed=True)
    broken = copy.deepcopy(schema.load(neb_folder))
    broken["data"]["forces_along_path"] = broken["data"]["forces_along_path"][:-1]
    with pytest.raises(InputError, match="forces_along_path has 4 entries for 5 image energies"):
        analyse_neb([_copy_result(broken, tmp_path / "broken")], tmp_path / "d")
    with pytest.raises(InputError, match="2 labels for 1 results"):
        analyse_neb([neb_folder], tmp_path / "e", labels=["x", "y"])
