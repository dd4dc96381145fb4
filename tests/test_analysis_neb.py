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
    """A real CHGNet NEB (~10 s). With PVATOMS_TEST_NEB_CACHE set (benchmarks/mutation.py sets it
    when it mutates the analysis, which cannot change this job), the job folder lives there and a
    later session reuses the completed result."""
    import os
    from pathlib import Path

    from pvatoms.build import cspbbr3
    from pvatoms.jobs import nearest_vacancy_hops, neb, vacancy_hop

    perfect = cspbbr3()
    br = perfect.get_chemical_symbols().index("Br")
    a, b = vacancy_hop(perfect, br, nearest_vacancy_hops(perfect, br)[0][0])
    cache = os.environ.get("PVATOMS_TEST_NEB_CACHE")
    folder = (Path(cache) if cache else tmp_path_factory.mktemp("neb")) / "V_Br_hop"
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


# ---------------------------------------------------------------- an asymmetric band, by hand

def _asymmetric_band():
    """A synthetic band whose numbers are counted by hand: 10 Å cubic cell, the Br atom moves
    0.5 Å per image along +x from x = 9.0 to x = 11.0 (across the cell boundary: the minimum-image
    hop is 2.0 Å, the naive difference of the wrapped positions 8.0 Å). The endpoints differ in
    energy, so forward and backward barriers differ:
    E = -10.00, -9.70, -9.45, -9.58, -9.90 eV -> forward 0.55 eV (saddle image 2 minus image 0),
    backward 0.45 eV (minus image 4), reaction energy +0.10 eV. Forces: the path tangent is +x on
    the Br atom only, so the tangential force is the x force on Br; the other components and atoms
    carry forces that must not leak into it."""
    from ase import Atoms
    images = []
    for k in range(5):
        atoms = Atoms("CsPbBr", positions=[[1, 1, 1], [5, 5, 5], [9.0 + 0.5 * k, 2, 2]],
                      cell=[10.0] * 3, pbc=True)
        atoms.wrap()
        images.append(atoms)
    energies = [-10.00, -9.70, -9.45, -9.58, -9.90]
    f_t = [0.0, -0.4, 0.02, 0.3, 0.05]
    forces = [np.array([[0.1, 0.2, 0.3], [-0.4, 0.5, 0.0], [fx, 0.7, -0.2]]) for fx in f_t]
    return images, energies, forces, f_t


def _band_document(images, energies, data):
    doc = schema.new_document("neb", {"name": "synthetic", "model": "hand-made band", "version": None,
                                      "settings": {}}, images[0], {})
    doc.update(status="completed", images=[{"structure": schema.atoms_to_dict(a), "energy": e}
                                            for a, e in zip(images, energies)])
    doc["data"].update(data)
    return doc


def test_neb_key_set_of_an_asymmetric_band_by_hand():
    images, energies, forces, f_t = _asymmetric_band()
    d = schema.neb_data(images, energies, forces, climb=True)
    assert d["barrier_forward"] == pytest.approx(0.55, abs=1e-12)      # max - first
    assert d["barrier_backward"] == pytest.approx(0.45, abs=1e-12)     # max - last
    assert d["reaction_energy"] == pytest.approx(0.10, abs=1e-12)      # last - first
    assert d["relative_energies"] == pytest.approx([0.0, 0.30, 0.55, 0.42, 0.10], abs=1e-12)
    assert d["saddle_image"] == 2 and d["n_images"] == 3 and d["climb"] is True
    assert d["moving_atom"] == 2 and d["moving_element"] == "Br"
    assert d["hop_distance"] == pytest.approx(2.0, abs=1e-12)          # across the boundary
    assert d["reaction_coordinate"] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0], abs=1e-12)
    assert d["path_length"] == pytest.approx(2.0, abs=1e-12)
    assert d["forces_along_path"] == pytest.approx(f_t, abs=1e-12)
    # reversed band: the barriers swap, the reaction energy changes sign
    r = schema.neb_data(images[::-1], energies[::-1], [-f for f in forces[::-1]])
    assert (r["barrier_forward"], r["barrier_backward"]) == pytest.approx((0.45, 0.55), abs=1e-12)
    assert r["reaction_energy"] == pytest.approx(-0.10, abs=1e-12) and r["saddle_image"] == 2
    assert r["forces_along_path"] == pytest.approx(f_t[::-1], abs=1e-12)
    assert r["climb"] is None


def test_profile_and_table_of_an_asymmetric_band(tmp_path):
    images, energies, forces, f_t = _asymmetric_band()
    doc = _band_document(images, energies, schema.neb_data(images, energies, forces, climb=True))
    p = neb_profile(doc, "Br 9->11")
    assert (p["barrier_forward"], p["barrier_backward"]) == pytest.approx((0.55, 0.45), abs=1e-12)
    assert p["saddle_image"] == 2 and p["n_images"] == 3 and p["species"] == "Br"
    assert p["relative_energies"] == pytest.approx([0.0, 0.30, 0.55, 0.42, 0.10], abs=1e-12)
    assert p["fit_maximum"]["energy"] >= 0.55 - 1e-12
    report = analyse_neb([_copy_result(doc, tmp_path / "asym")], tmp_path / "out")
    (row,) = report["rows"]
    assert row["E_b forward (eV)"] == pytest.approx(0.55, abs=1e-12)
    assert row["E_b backward (eV)"] == pytest.approx(0.45, abs=1e-12)
    assert row["hop (Å)"] == pytest.approx(2.0, abs=1e-12) and row["species"] == "Br"
    # a document with energies and image structures only (as a parsed VASP NEB): barriers and
    # geometry recomputed, and PCHIP keeps the maximum at the highest image (an analytic
    # property of the monotone fit: no overshoot at a local extremum of the data)
    bare = _band_document(images, energies, {"energies": energies})
    q = neb_profile(bare, "bare")
    assert (q["barrier_forward"], q["barrier_backward"]) == pytest.approx((0.55, 0.45), abs=1e-12)
    assert q["hop_distance"] == pytest.approx(2.0, abs=1e-12) and q["species"] == "Br"
    assert q["reaction_coordinate"] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0], abs=1e-12)
    assert "PCHIP" in q["fit"]
    assert q["fit_maximum"]["energy"] == pytest.approx(0.55, abs=1e-12)
    assert q["fit_maximum"]["s"] == pytest.approx(1.0, abs=1e-12)


def test_tangential_forces_of_a_curved_band_across_the_boundary():
    """A bent path, so the tangent depends on which neighbours it is taken from: the Br atom
    goes through x = 9.2, 9.8, 10.6 (wraps to 0.6), 11.0, 11.2 Å while y rises 0, 0.3, 0.5, 0.9,
    1.6 Å (the other atoms stay). By hand, in the minimum image: the tangent at an inner image k
    is p(k+1) − p(k−1), at the endpoints the one-sided difference, each normalised; the
    tangential force is F · t; the reaction coordinate adds the image-to-image distances; the hop
    is the straight line from the first to the last position (2.0, 1.6, 0) Å, whatever the path."""
    from ase import Atoms
    x = np.array([9.2, 9.8, 10.6, 11.0, 11.2])
    y = np.array([0.0, 0.3, 0.5, 0.9, 1.6])
    images = []
    for xk, yk in zip(x, y):
        a = Atoms("CsPbBr", positions=[[1, 1, 1], [5, 5, 5], [xk, 2 + yk, 2]], cell=[10.0] * 3, pbc=True)
        a.wrap()
        images.append(a)
    rng = np.random.default_rng(3)
    forces = [rng.normal(size=(3, 3)) for _ in images]
    energies = [0.0, 0.2, 0.35, 0.3, 0.12]
    d = schema.neb_data(images, energies, forces)
    p = np.stack([x, 2 + y, np.full(5, 2.0)], axis=1)          # unwrapped path, Å
    expected_ft = []
    for k in range(5):
        lo, hi = max(k - 1, 0), min(k + 1, 4)
        t = (p[hi] - p[lo]) / np.linalg.norm(p[hi] - p[lo])
        expected_ft.append(forces[k][2] @ t)
    assert d["forces_along_path"] == pytest.approx(expected_ft, abs=1e-12)
    steps = np.linalg.norm(np.diff(p, axis=0), axis=1)
    assert d["reaction_coordinate"] == pytest.approx(np.concatenate([[0.0], np.cumsum(steps)]), abs=1e-12)
    assert d["path_length"] == pytest.approx(steps.sum(), abs=1e-12)
    assert d["hop_distance"] == pytest.approx(np.hypot(2.0, 1.6), abs=1e-12)
    assert d["path_length"] > d["hop_distance"] + 0.05          # bent: longer than the chord
    assert d["moving_atom"] == 2 and d["climb"] is None
    assert d["barrier_forward"] == pytest.approx(0.35) and d["barrier_backward"] == pytest.approx(0.23)
    assert d["reaction_energy"] == pytest.approx(0.12) and d["saddle_image"] == 2
    # the same positions in a non-periodic box (a cluster, as the nanocrystal builders make): no
    # periodic images, so the jump of the wrapped coordinates is a real 8 Å step
    free = [a.copy() for a in images]
    for a in free:
        a.pbc = False
    wrapped = np.array([a.positions[2] for a in images])
    naive = schema.neb_data(free, energies, forces)
    assert naive["hop_distance"] == pytest.approx(np.linalg.norm(wrapped[-1] - wrapped[0]), abs=1e-12)
    assert naive["hop_distance"] > 7.0                          # 1.2 - 9.2 = -8.0 along x
    steps = np.linalg.norm(np.diff(wrapped, axis=0), axis=1)
    assert naive["reaction_coordinate"] == pytest.approx(np.concatenate([[0.0], np.cumsum(steps)]), abs=1e-12)
    tangents = [(wrapped[min(k + 1, 4)] - wrapped[max(k - 1, 0)]) for k in range(5)]
    assert naive["forces_along_path"] == pytest.approx(
        [forces[k][2] @ t / np.linalg.norm(t) for k, t in enumerate(tangents)], abs=1e-12)
    assert schema.neb_data(free, energies)["forces_along_path"] is None     # no forces given


def _hermite_by_hand(s, e, m, x):
    """Cubic Hermite interpolation written out with its four basis polynomials (no scipy)."""
    x = np.asarray(x, float)
    i = np.clip(np.searchsorted(s, x, side="right") - 1, 0, len(s) - 2)
    h = s[i + 1] - s[i]
    t = (x - s[i]) / h
    h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
    return h00 * e[i] + h10 * h * m[i] + h01 * e[i + 1] + h11 * h * m[i + 1]


def test_fit_maximum_between_images_from_the_tangential_forces():
    """The middle image is the highest, but its tangential force pushes back (F_t = −0.3 eV/Å,
    slope +0.3): the curve keeps rising after it, so its maximum lies between images 1 and 2, at
    the s and energy of the hand-written Hermite curve on the same 50-point grid."""
    s = np.array([0.0, 1.0, 2.5])
    e = np.array([0.0, 0.5, 0.1])
    f_t = np.array([0.0, -0.3, 0.0])
    fit = fit_profile(s, e, f_t, points_per_segment=50)
    grid = np.unique(np.concatenate([np.linspace(0, 1, 50, endpoint=False), np.linspace(1, 2.5, 50, endpoint=False), [2.5]]))
    y = _hermite_by_hand(s, e, -f_t, grid)
    k = int(np.argmax(y))
    assert fit["max_energy"] == pytest.approx(y[k], abs=1e-12) and fit["max_s"] == pytest.approx(grid[k], abs=1e-12)
    assert 1.0 < fit["max_s"] < 2.5 and fit["max_energy"] > 0.5 + 1e-3
    dense = np.linspace(0, 2.5, 20001)
    assert fit["max_energy"] == pytest.approx(_hermite_by_hand(s, e, -f_t, dense).max(), abs=1e-3)
    assert hermite(s, e, -f_t, dense) == pytest.approx(_hermite_by_hand(s, e, -f_t, dense), abs=1e-12)
    outside = np.array([-0.4, 2.9])                            # the end segments, extended
    assert hermite(s, e, -f_t, outside) == pytest.approx(_hermite_by_hand(s, e, -f_t, outside), abs=1e-12)
    assert fit_profile(s, e, f_t)["max_s"] == fit["max_s"]     # 50 points per interval by default
    coarse = fit_profile(s, e, f_t, points_per_segment=7)
    grid7 = np.unique(np.concatenate([np.linspace(0, 1, 7, endpoint=False), np.linspace(1, 2.5, 7, endpoint=False), [2.5]]))
    y7 = _hermite_by_hand(s, e, -f_t, grid7)
    assert coarse["max_s"] == pytest.approx(grid7[np.argmax(y7)], abs=1e-12)
    assert coarse["max_energy"] == pytest.approx(y7.max(), abs=1e-12)
    # ASE's curve: 20 points per interval, from s[0], energies relative to image 0
    assert len(fit["s"]) == 2 * 20 + 1 and fit["s"][0] == pytest.approx(0.0) and fit["s"][-1] == pytest.approx(2.5)
    assert fit["energy"][0] == pytest.approx(0.0, abs=1e-12) and fit["energy"][-1] == pytest.approx(0.1, abs=1e-12)
    shifted = fit_profile(s + 3.0, e + 2.0, f_t, points_per_segment=50)
    assert shifted["s"][0] == pytest.approx(3.0) and shifted["energy"][0] == pytest.approx(2.0)
    assert shifted["max_s"] == pytest.approx(fit["max_s"] + 3.0) and shifted["max_energy"] == pytest.approx(fit["max_energy"] + 2.0)
    # without forces: PCHIP through the same points, on the grid itself
    plain = fit_profile(s, e, None, points_per_segment=50)
    assert plain["max_energy"] == pytest.approx(0.5, abs=1e-12) and plain["max_s"] == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(plain["s"], grid) and len(plain["energy"]) == len(grid)
    for bad in ((s, e[:2], f_t), (s[:1], e[:1], f_t[:1])):
        with pytest.raises(InputError, match="at least two points"):
            fit_profile(*bad)
    with pytest.raises(InputError, match="at least two points"):
        hermite(s, e, f_t[:2], [0.5])


def test_profile_reads_what_the_document_has_and_refuses_what_it_lacks():
    images, energies, forces, f_t = _asymmetric_band()
    data = schema.neb_data(images, energies, forces)
    # energies only in the images, no barriers in data: taken from the images, barriers recomputed
    doc = _band_document(images, energies, {k: v for k, v in data.items()
                                            if k not in ("energies", "barrier_forward", "barrier_backward")})
    p = neb_profile(doc, "x")
    assert p["energies"] == pytest.approx(energies) and p["barrier_forward"] == pytest.approx(0.55)
    assert p["barrier_backward"] == pytest.approx(0.45) and p["forces_along_path"] == pytest.approx(f_t)
    assert p["hop_distance"] == pytest.approx(2.0) and p["saddle_image"] == 2 and p["n_images"] == 3
    assert p["label"] == "x" and "Hermite" in p["fit"]
    assert p["fit_curve"]["s"][0] == pytest.approx(0.0) and p["fit_curve"]["s"][-1] == pytest.approx(2.0)
    # the barriers, hop and species the document carries are reported as they are (never refitted)
    doc["data"].update(barrier_forward=0.6, barrier_backward=0.5, hop_distance=2.5, moving_element="I",
                       reaction_coordinate=[0.0, 0.6, 1.1, 1.5, 2.2])
    p = neb_profile(doc)
    assert (p["barrier_forward"], p["barrier_backward"]) == (0.6, 0.5) and p["label"] == "neb"
    assert (p["hop_distance"], p["species"]) == (2.5, "I")
    assert p["reaction_coordinate"] == [0.0, 0.6, 1.1, 1.5, 2.2]
    # each of the three missing alone is taken from the image structures, the others kept
    for missing, key, value in (("reaction_coordinate", "reaction_coordinate", [0.0, 0.5, 1.0, 1.5, 2.0]),
                                ("hop_distance", "hop_distance", 2.0), ("moving_element", "species", "Br")):
        part = copy.deepcopy(doc)
        part["data"].pop(missing)
        q = neb_profile(part)
        assert q[key] == pytest.approx(value, abs=1e-12)
        for other, okey, kept in (("reaction_coordinate", "reaction_coordinate", [0.0, 0.6, 1.1, 1.5, 2.2]),
                                  ("hop_distance", "hop_distance", 2.5), ("moving_element", "species", "I")):
            if other != missing:
                assert q[okey] == kept
    # the smallest band: two endpoints and one image
    three = _band_document(images[::2][:3], energies[::2][:3], {"energies": energies[::2][:3]})
    t = neb_profile(three)
    assert t["n_images"] == 1 and t["saddle_image"] == 1 and t["barrier_forward"] == pytest.approx(0.55)
    # the barrier row: copied from the profile (computed here when not given)
    from pvatoms.analysis.neb import barrier_row
    row = barrier_row(doc, "x")
    assert row == {"species": "I", "path": "x", "hop (Å)": 2.5, "E_b forward (eV)": 0.6, "E_b backward (eV)": 0.5,
                   "backend": row["backend"]} and "hand-made band" in row["backend"]
    for broken, match in (
            ({"images": [], "data": {}}, "no image energies"),
            ({"images": doc["images"][:2], "data": {}}, "no image energies"),
            ({"images": [dict(im, energy=None) for im in doc["images"]], "data": {}}, "no image energies"),
            ({"images": doc["images"][:4], "data": {"energies": energies}}, "neither a reaction coordinate"),
            ({"images": doc["images"], "data": {"energies": energies, "reaction_coordinate": [0, 1, 1, 2, 3]}},
             "does not increase"),
            ({"images": doc["images"], "data": {"energies": energies, "reaction_coordinate": [0, 1, 2, 3]}},
             "reaction_coordinate has 4 entries for 5 image energies")):
        with pytest.raises(InputError, match=match):
            neb_profile(dict(doc, **broken), "broken")


def test_labels_made_unique_and_file_names_made_safe(tmp_path):
    from pvatoms.analysis.neb import collect, safe_name
    images, energies, forces, _ = _asymmetric_band()
    doc = _band_document(images, energies, schema.neb_data(images, energies, forces))
    a = _copy_result(doc, tmp_path / "a" / "hop")
    b = _copy_result(doc, tmp_path / "b" / "hop")
    c = _copy_result(doc, tmp_path / "c" / "other")
    items, skipped = collect([a, b, c], "neb")
    assert [i[0] for i in items] == ["hop-1", "hop-2", "other"] and skipped == []
    assert items[0][2] == a.resolve()
    items, _ = collect([doc, doc], "neb")                   # dicts without folders
    assert [i[0] for i in items] == ["neb-1", "neb-2"] and items[0][2] is None
    assert safe_name("V_Br 8d->4c / (b)") == "V_Br_8d-_4c_b" and safe_name("///") == "result"
    with pytest.raises(InputError, match="no neb results given"):
        collect([], "neb")


def test_short_paths_degenerate_paths_and_the_smallest_profiles():
    """A real but short path (0.3 Å in all, an off-centring distortion, say) keeps its tangents;
    a path of zero length (identical endpoints, every image the same) is refused; two coinciding
    images leave no tangent there (forces_along_path None). Profiles of two points are allowed."""
    from ase import Atoms

    def band(xs):
        return [Atoms("CsPbBr", positions=[[1, 1, 1], [5, 5, 5], [x, 2, 2]], cell=[10.0] * 3, pbc=True) for x in xs]

    forces = [np.array([[0.0, 0, 0], [0, 0, 0], [fx, 0.3, 0]]) for fx in (0.1, -0.2, 0.0, 0.2, -0.1)]
    short = schema.neb_data(band([3.0, 3.075, 3.15, 3.225, 3.3]), [0, 0.01, 0.02, 0.01, 0.0], forces)
    assert short["path_length"] == pytest.approx(0.3, abs=1e-12)
    assert short["forces_along_path"] == pytest.approx([0.1, -0.2, 0.0, 0.2, -0.1], abs=1e-12)
    with pytest.raises(InputError, match="zero length"):
        schema.neb_data(band([3.0] * 5), [0, 0.1, 0.2, 0.1, 0.0])
    late = schema.neb_data(band([3.0, 3.0, 3.0, 3.0, 3.5]), [0, 0.1, 0.2, 0.1, 0.0])   # only the last step moves
    assert late["path_length"] == pytest.approx(0.5) and late["hop_distance"] == pytest.approx(0.5)
    stuck = schema.neb_data(band([3.0, 3.0, 3.5, 4.0, 4.5]), [0, 0.1, 0.2, 0.1, 0.0], forces)
    assert stuck["forces_along_path"] is None and stuck["path_length"] == pytest.approx(1.5)
    # two points: one interval of the cubic Hermite curve, exact for a cubic
    s2, e2, m2 = np.array([0.0, 2.0]), np.array([0.0, 0.4]), np.array([0.5, -0.1])
    x = np.linspace(0, 2, 9)
    assert hermite(s2, e2, m2, x) == pytest.approx(_hermite_by_hand(s2, e2, m2, x), abs=1e-12)
    two = fit_profile(s2, e2, -m2)
    assert two["max_energy"] >= 0.4 and len(two["s"]) == 21
    # the profile of a document uses 50 points per interval by default, as fit_profile
    images, energies, forces5, _ = _asymmetric_band()
    doc = _band_document(images, energies, schema.neb_data(images, energies, forces5))
    d = doc["data"]
    ref = fit_profile(d["reaction_coordinate"], np.array(energies) - energies[0], d["forces_along_path"])
    assert neb_profile(doc)["fit_maximum"] == {"energy": ref["max_energy"], "s": ref["max_s"]}
