"""The result assembly every job shares (pvatoms.jobs.common.attach / fill_static) on real GPAW
calculations small enough for the fast tier: one hydrogen atom in a 5 Å box (one electron, so
spin-polarised with a moment of 1 μB; its 1s level alone is occupied) and two-atom bcc Li."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from pvatoms.calc import get_backend
from pvatoms.jobs.common import attach, fill_static


def _hydrogen() -> Atoms:
    return Atoms("H", positions=[[2.5, 2.5, 2.5]], cell=[5.0, 5.0, 5.0], pbc=True)


def _document() -> dict:
    return {"data": {}, "files": {}}


def test_a_gpaw_static_document_has_the_band_edges_electrons_spin_and_potential(tmp_path):
    backend = get_backend("gpaw", ecut=200, kpts=[1, 1, 1], nbands=4)
    atoms = attach(_hydrogen(), backend, tmp_path / "h")
    doc = _document()
    fill_static(doc, atoms, backend, tmp_path / "h")
    calc = atoms.calc
    up, down = calc.get_eigenvalues(spin=0), calc.get_eigenvalues(spin=1)
    # one electron, in the majority 1s; the exchange splitting (~9.5 eV) puts the minority 1s above the
    # majority's second level, so the CBM is majority band 1
    assert np.allclose(calc.get_occupation_numbers(spin=0), [1, 0, 0, 0], atol=1e-8)
    assert np.allclose(calc.get_occupation_numbers(spin=1), 0.0, atol=1e-8) and down[0] > up[1]
    edges = doc["band_edges"]
    assert edges["vbm"] == pytest.approx(up[0], abs=1e-9) and edges["cbm"] == pytest.approx(up[1], abs=1e-9)
    assert edges["gap"] == pytest.approx(up[1] - up[0], abs=1e-9) and edges["occupied_bands"] == [1, 0]
    # per spin: the majority channel's own edges; the empty minority channel has no valence band
    assert edges["spin_edges"] == [[pytest.approx(up[0]), pytest.approx(up[1])], [-np.inf, pytest.approx(down[0])]]
    assert doc["data"]["nelect"] == 1.0
    assert doc["data"]["spin"] == {"polarised": True, "magnetic_moment": pytest.approx(1.0, abs=1e-6)}
    assert doc["energy"] == pytest.approx(atoms.get_potential_energy()) and doc["energy_per_atom"] == doc["energy"]
    # the text log and the electrostatic potential are written in the job's folder
    assert (tmp_path / "h" / "gpaw.txt").is_file() and doc["files"]["potential"] == "potential.npz"
    with np.load(tmp_path / "h" / "potential.npz") as pot:
        assert set(pot.files) >= {"potential"} and pot["potential"].ndim == 3


def test_symmetry_off_reaches_gpaw_for_defect_cells(tmp_path):
    """symmetry=False (defect cells may break the host's symmetry): GPAW runs with one symmetry
    operation; the default keeps the box's 48."""
    backend = get_backend("gpaw", ecut=200, kpts=[1, 1, 1])
    counts = {}
    for symmetry in (True, False):
        atoms = attach(_hydrogen(), backend, tmp_path / str(symmetry), symmetry=symmetry)
        atoms.get_potential_energy()
        text = (tmp_path / str(symmetry) / "gpaw.txt").read_text()
        counts[symmetry] = int(text.split("Number of symmetries:")[1].split()[0])
    assert counts == {True: 48, False: 1}


def test_no_empty_band_leaves_the_band_edges_out_with_the_reason(tmp_path):
    """Hydrogen with GPAW's own band count (one band, occupied): no conduction band to see, so no
    band edges, and the note says how to get them; a neutral even-electron metal is not polarised."""
    backend = get_backend("gpaw", ecut=200, kpts=[1, 1, 1])
    atoms = attach(_hydrogen(), backend, tmp_path / "h")
    doc = _document()
    fill_static(doc, atoms, backend, None)
    assert doc["band_edges"] is None and "raise nbands" in doc["data"]["band_edges_note"]
    assert "potential" not in doc["files"] and not (tmp_path / "h" / "potential.npz").exists()
    from ase.build import bulk
    li = attach(bulk("Li", "bcc", a=3.44, cubic=True), get_backend("gpaw", ecut=200, kpts=[2, 2, 2]), tmp_path / "li")
    doc = _document()
    fill_static(doc, li, get_backend("gpaw", ecut=200, kpts=[2, 2, 2]), None)
    assert doc["data"]["nelect"] == 2.0 and doc["data"]["spin"] == {"polarised": False, "magnetic_moment": 0.0}


def test_eigensolver_and_mixer_reach_gpaw_and_leave_the_result_identity_alone(tmp_path):
    """Both change the path to the SCF solution, not the solution: GPAW's log names the ones given,
    the backend info records them, and the settings that identify a result are those without them."""
    from pvatoms.errors import InputError
    from pvatoms.jobs.runner import _hash_backend
    plain = get_backend("gpaw", ecut=200, kpts=[1, 1, 1])
    tuned = get_backend("gpaw", ecut=200, kpts=[1, 1, 1], eigensolver="davidson",
                        mixer={"name": "pulay", "beta": 0.05, "nmaxold": 5, "weight": 50})
    atoms = attach(_hydrogen(), tuned, tmp_path / "tuned")
    energy = atoms.get_potential_energy()
    text = (tmp_path / "tuned" / "gpaw.txt").read_text()
    assert "Davidson" in text.split("eigensolver:")[1][:40] and "Pulay" in text.split("density mixing:")[1][:40]
    reference = attach(_hydrogen(), plain, tmp_path / "plain").get_potential_energy()
    assert energy == pytest.approx(reference, abs=2e-3)          # the same solution, to SCF tolerance
    info = tuned.info()
    assert info["eigensolver"] == "davidson" and info["mixer"] == {"name": "pulay", "beta": 0.05, "nmaxold": 5,
                                                                   "weight": 50.0}
    assert _hash_backend(info) == _hash_backend(plain.info())
    for bad, match in (({"eigensolver": "lanczos"}, "eigensolver.*lanczos"), ({"mixer": 0.05}, "mixer must be a dict"),
                       ({"mixer": {"name": "broyden"}}, "broyden"), ({"mixer": {"name": "pulay", "alpha": 1}}, "alpha"),
                       ({"mixer": {"name": "pulay", "beta": -1}}, "beta"), ({"mixer": {"name": "pulay", "nmaxold": 2.5}},
                                                                            "nmaxold")):
        with pytest.raises(InputError, match=match):
            get_backend("gpaw", **bad)
