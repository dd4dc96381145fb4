"""GPAW backend and the band-edge job, with real (small) PBE calculations on 5-atom cubic CsPbBr3.

One SCF (4x4x4 Γ-centred, 400 eV, ~13 s on one core) is shared by most tests through a
module-scoped fixture.
"""

import json
import time

import numpy as np
import pytest
from ase.io.cube import read_cube_data
from ase.units import Bohr

pytest.importorskip("gpaw")

from pvatoms import schema  # noqa: E402
from pvatoms.build import cspbbr3  # noqa: E402
from pvatoms.calc import get_backend  # noqa: E402
from pvatoms.calc.gpaw_calc import (band_edges, electrostatic_potential, kpoint_mesh,  # noqa: E402
                                    write_gpw)
from pvatoms.errors import InputError  # noqa: E402
from pvatoms.jobs.band_edges import (find_parchg, read_cube, read_parchg,  # noqa: E402
                                     run_band_edges)

R = [0.5, 0.5, 0.5]


@pytest.fixture(scope="module")
def cubic():
    return cspbbr3("cubic")


@pytest.fixture(scope="module")
def edges_run(tmp_path_factory, cubic):
    """(document, folder) of one band-edge job on cubic CsPbBr3."""
    folder = tmp_path_factory.mktemp("cubic-edges")
    doc = run_band_edges(cubic, folder, get_backend("gpaw"))
    assert doc["status"] == "completed", doc["reason"]
    return doc, folder


@pytest.fixture(scope="module")
def restarted(edges_run):
    """The converged calculation read back from the job's .gpw file."""
    from gpaw import GPAW
    _, folder = edges_run
    return GPAW(str(folder / "band_edges.gpw"), txt=None)


class VaspFolder:
    """Backend description of a VASP run whose files are already in the folder."""
    name, dft = "vasp", True

    def info(self):
        return {"name": "vasp", "model": "PBE PAW 520 eV", "version": None, "device": "cpu", "settings": {}}


def test_mesh_from_density_and_backend_info(cubic, pnma):
    assert kpoint_mesh(cubic, 3.0) == (4, 4, 4)
    assert kpoint_mesh(pnma, 3.0) == (3, 2, 3)
    backend = get_backend("gpaw")
    assert backend.mesh(cubic) == (4, 4, 4)
    assert get_backend("gpaw", kpts=(2, 2, 2)).mesh(pnma) == (2, 2, 2)
    info = backend.info()
    assert info["name"] == "gpaw" and info["model"] == "PBE PW 400 eV" and info["device"] == "cpu"
    assert info["settings"]["ecut"] == 400.0 and info["settings"]["kpoint_density"] == 3.0
    json.dumps(info)
    with pytest.raises(InputError, match="kpts"):
        get_backend("gpaw", kpts=(0, 2, 2))
    with pytest.raises(InputError, match="mode"):
        get_backend("gpaw", mode="fd")


def test_cubic_gap_is_direct_at_R(edges_run):
    doc, _ = edges_run
    be = doc["band_edges"]
    assert set(be) == {"vbm", "cbm", "gap", "direct", "k_vbm", "k_cbm", "fermi"}
    assert 1.2 < be["gap"] < 1.8
    assert be["direct"] is True
    assert be["k_vbm"] == R and be["k_cbm"] == R
    assert be["vbm"] < be["fermi"] < be["cbm"]
    assert doc["energy"] < 0 and doc["energy_per_atom"] == pytest.approx(doc["energy"] / 5)
    assert doc["data"]["kpts"] == [4, 4, 4]
    assert doc["backend"]["model"] == "PBE PW 400 eV"


def test_kmesh_is_gamma_centred(restarted):
    k = restarted.get_ibz_k_points()
    assert np.any(np.all(np.abs(k) < 1e-8, axis=1)), "Γ missing from the IBZ k-points"
    assert np.any(np.all(np.abs(np.abs(k) - 0.5) < 1e-8, axis=1)), "R missing from the IBZ k-points"
    assert restarted.get_k_point_weights().sum() == pytest.approx(1.0)
    # independent of the stored document: recompute the edges from the restart file
    again = band_edges(restarted)
    assert again["band_vbm"] + 1 == again["band_cbm"] == 22     # 44 valence electrons


def test_cubes_integrate_to_one_electron(edges_run):
    doc, folder = edges_run
    assert doc["files"]["vbm"] == "vbm.cube" and doc["files"]["cbm"] == "cbm.cube"
    for name in ("vbm", "cbm"):
        data, atoms = read_cube_data(str(folder / doc["files"][name]))    # electrons / Bohr^3
        assert len(atoms) == 5 and data.min() >= 0
        electrons = data.mean() * atoms.get_volume() / Bohr ** 3
        assert electrons == pytest.approx(1.0, rel=0.02)
        assert doc["data"]["integral"][name] == pytest.approx(1.0, rel=0.02)
        assert 0.9 < doc["data"]["pseudo_norm"][name] < 1.1


def test_vbm_on_br_cbm_on_pb(edges_run):
    doc, _ = edges_run
    frac = doc["data"]["fractions"]
    for name in ("vbm", "cbm"):
        assert sum(frac[name].values()) == pytest.approx(1.0, abs=1e-4)
    assert frac["vbm"]["Br"] > 0.6 and max(frac["vbm"], key=frac["vbm"].get) == "Br"
    assert frac["cbm"]["Pb"] > 0.45 and max(frac["cbm"], key=frac["cbm"].get) == "Pb"
    assert frac["cbm"]["Pb"] > 2 * frac["vbm"]["Pb"]
    assert doc["data"]["bands"] == {"vbm": 21, "cbm": 22}


def test_densities_have_the_crystal_symmetry(edges_run):
    """The three Br of the cubic cell are equivalent: each holds a third of the Br share."""
    from pvatoms.geometry import nearest_atom
    _, folder = edges_run
    rho, atoms = read_cube(folder / "vbm.cube")
    owner = nearest_atom(atoms, rho.shape)
    per_atom = np.bincount(owner.ravel(), rho.ravel()) / rho.sum()
    br = per_atom[[i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "Br"]]
    assert br.max() - br.min() < 0.01


def test_second_run_reuses_the_completed_document(edges_run, cubic):
    doc, folder = edges_run
    mtime = (folder / "vbm.cube").stat().st_mtime_ns
    t0 = time.perf_counter()
    again = run_band_edges(cubic, folder, get_backend("gpaw"))
    assert time.perf_counter() - t0 < 2.0
    assert again["status"] == "completed" and again["created"] == doc["created"]
    assert (folder / "vbm.cube").stat().st_mtime_ns == mtime


def test_electrostatic_potential_and_gpw(restarted, tmp_path):
    v, cell = electrostatic_potential(restarted)
    assert v.ndim == 3 and np.allclose(cell, np.eye(3) * 5.95)
    assert abs(v.mean()) < 1e-6 < v.max() - v.min()    # periodic: zero average, eV
    path = write_gpw(restarted, tmp_path / "copy.gpw", mode="")
    assert path.is_file()


def test_charged_cell_has_one_electron_fewer(tmp_path, cubic, edges_run):
    neutral, _ = edges_run
    doc = run_band_edges(cubic, tmp_path, get_backend("gpaw", spin=False), bands=("vbm",), charge=1)
    assert doc["status"] == "completed", doc["reason"]
    assert doc["data"]["nelectrons"] == neutral["data"]["nelectrons"] - 1 == 43
    assert doc["data"]["settings"]["charge"] == 1
    assert "cbm" not in doc["files"] and doc["data"]["integral"]["vbm"] == pytest.approx(1.0, rel=0.02)
    be = doc["band_edges"]
    assert be["fermi"] < be["vbm"]                  # the missing electron is a hole at the VBM
    assert be["k_vbm"] == R and doc["data"]["bands"] == {"vbm": 21}
    assert be["gap"] == pytest.approx(neutral["band_edges"]["gap"], abs=0.2)


def test_odd_electron_cells_are_spin_polarised_by_default(tmp_path):
    """A 4-atom cubic cell without one Br holds 37 valence electrons (odd: Σ Z − q = 55 + 82 + 2·35 is
    odd): spin-polarised with the default spin='auto'; the relaxation saves the potential and the
    spin state it ran with. The same cell with q = +1 (36 electrons) is not polarised."""
    from pvatoms.jobs import relax, static
    cell = cspbbr3("cubic")
    del cell[4]
    backend = get_backend("gpaw", kpts=(1, 1, 1), ecut=250)
    doc = relax(cell, tmp_path / "v0", backend=backend, defect=True, fmax=0.5, steps=2)
    assert doc["data"]["nelect"] == 9 + 14 + 2 * 7 and doc["data"]["settings"]["defect"] is True
    assert doc["data"]["spin"]["polarised"] is True and doc["band_edges"]["nspins"] == 2
    assert doc["files"]["potential"] == "potential.npz" and (tmp_path / "v0" / "potential.npz").is_file()
    plus = static(cell, tmp_path / "v+1", backend=backend, charge=1, defect=True)
    assert plus["data"]["nelect"] == 36 and plus["data"]["spin"]["polarised"] is False


def test_unconverged_scf_is_a_failed_document(tmp_path, cubic):
    doc = run_band_edges(cubic, tmp_path, get_backend("gpaw", maxiter=2))   # must not raise
    assert doc["status"] == "failed"
    assert "converge" in doc["reason"].lower() and "maxiter=2" in doc["reason"]
    assert schema.load(tmp_path)["status"] == "failed"


@pytest.mark.slow
def test_spin_polarised_non_magnetic_cell(tmp_path, cubic, edges_run):
    neutral, _ = edges_run
    doc = run_band_edges(cubic, tmp_path, get_backend("gpaw", spin=True))
    assert doc["status"] == "completed", doc["reason"]
    assert doc["backend"]["settings"]["spin"] is True
    assert doc["band_edges"]["gap"] == pytest.approx(neutral["band_edges"]["gap"], abs=0.01)
    for name in ("vbm", "cbm"):
        for el, f in neutral["data"]["fractions"][name].items():
            assert doc["data"]["fractions"][name][el] == pytest.approx(f, abs=0.01)


def _write_parchg(path, atoms, density, electrons):
    """A PARCHG as VASP writes it: density (electrons/Å^3) x cell volume, scaled to ``electrons``."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.vasp import Chgcar, Poscar
    rho = density / (density.mean() * atoms.get_volume()) * electrons
    structure = AseAtomsAdaptor.get_structure(atoms)
    Chgcar(Poscar(structure), {"total": rho * atoms.get_volume()}).write_file(str(path))


def test_vasp_parchg_files_become_cubes(edges_run, tmp_path):
    doc, folder = edges_run
    for name, index, electrons in (("vbm", 22, 2.0), ("cbm", 23, 0.5)):
        rho, atoms = read_cube(folder / f"{name}.cube")
        _write_parchg(tmp_path / f"PARCHG.{index:04d}.ALLK", atoms, rho, electrons)
    assert {k: v[1] for k, v in find_parchg(tmp_path).items()} == {"vbm": 21, "cbm": 22}
    rho, atoms = read_parchg(tmp_path / "PARCHG.0022.ALLK")
    assert rho.mean() * atoms.get_volume() == pytest.approx(1.0)
    vdoc = run_band_edges(atoms, tmp_path, VaspFolder())
    assert vdoc["status"] == "completed", vdoc["reason"]
    assert vdoc["files"] == {"vbm": "vbm.cube", "cbm": "cbm.cube"}
    assert vdoc["data"]["bands"] == {"vbm": 21, "cbm": 22}
    for name in ("vbm", "cbm"):
        data, cube_atoms = read_cube_data(str(tmp_path / f"{name}.cube"))
        assert data.mean() * cube_atoms.get_volume() / Bohr ** 3 == pytest.approx(1.0, rel=1e-3)
        assert vdoc["data"]["integral"][name] == pytest.approx(1.0, rel=1e-3)
        for el, f in doc["data"]["fractions"][name].items():
            assert vdoc["data"]["fractions"][name][el] == pytest.approx(f, abs=2e-3)


def test_vasp_without_parchg_names_the_expected_files(tmp_path, cubic):
    with pytest.raises(InputError, match=r"PARCHG\.vbm\.ALLK"):
        run_band_edges(cubic, tmp_path, VaspFolder())
    assert schema.load(tmp_path)["status"] == "failed"


def test_vasp_backend_labels_and_vasprun(tmp_path):
    """The VASP backend's own layout: PARCHG.<label> copied into the SCF folder, vasprun.xml.gz
    there (a CdTe supercell from the VASP test data; densities made up: Gaussians on Te / on Cd)."""
    import shutil
    from pathlib import Path

    from ase.io import read
    vasp = pytest.importorskip("pvatoms.calc.vasp")
    data = Path(__file__).parent / "data" / "vasp" / "cdte" / "bulk_vasp_gam"
    if not (data / "vasprun.xml.gz").is_file():
        pytest.skip("no VASP test data")
    for f in ("vasprun.xml.gz", "OUTCAR.gz", "POSCAR"):
        shutil.copy(data / f, tmp_path / f)
    atoms = read(tmp_path / "POSCAR")
    shape = (24, 24, 24)
    frac = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), -1)
    for label, element in (("vbm", "Te"), ("defect", "Cd")):
        rho = np.zeros(shape)
        for s in atoms.get_scaled_positions()[np.array(atoms.get_chemical_symbols()) == element]:
            d = (frac - s + 0.5) % 1.0 - 0.5
            rho += np.exp(-np.sum((d @ atoms.cell.array) ** 2, axis=-1) / 0.5)
        _write_parchg(tmp_path / f"PARCHG.{label}", atoms, rho, 2.0)
    doc = run_band_edges(atoms, tmp_path, vasp.VaspBackend(), bands=("vbm", "defect"))
    assert doc["status"] == "completed", doc["reason"]
    assert doc["data"]["parchg"] == {"vbm": "PARCHG.vbm", "defect": "PARCHG.defect"}
    assert doc["data"]["fractions"]["vbm"]["Te"] > 0.95 and doc["data"]["fractions"]["defect"]["Cd"] > 0.95
    assert doc["data"]["integral"]["defect"] == pytest.approx(1.0, rel=1e-3)
    assert doc["band_edges"]["gap"] == pytest.approx(1.469, abs=1e-3) and doc["energy"] < 0
    assert doc["files"]["defect"] == "defect.cube" and doc["files"]["vasprun"] == "vasprun.xml.gz"


def test_cli_band_edges_passes_the_charge_to_the_job(tmp_path, cubic):
    """`pvatoms run band-edges --charge 1` computes the cation cell: 44 − 1 = 43 valence electrons
    (Cs 9 + Pb 14 + 3 × Br 7, counted by hand), and the charge is in the recorded settings (the
    option used to be parsed and then dropped). A coarse 2x2x2 mesh at 300 eV keeps it quick."""
    from ase.io import write

    from pvatoms.cli.main import main
    write(tmp_path / "cubic.cif", cubic)
    rc = main(["run", "band-edges", str(tmp_path / "cubic.cif"), "--backend", "gpaw", "--charge", "1",
               "--bands", "vbm", "--option", "kpts=[2,2,2]", "--option", "ecut=300", "--option", "spin=false",
               "-o", str(tmp_path / "q1")])
    assert rc == 0
    doc = schema.load(tmp_path / "q1")
    assert doc["status"] == "completed", doc["reason"]
    assert doc["data"]["settings"]["charge"] == 1
    assert doc["data"]["nelectrons"] == 9 + 14 + 3 * 7 - 1 == 43
    assert doc["band_edges"]["fermi"] < doc["band_edges"]["vbm"]      # the hole sits at the VBM


@pytest.mark.slow
def test_masked_cell_relaxation_by_gpaw_moves_only_the_stacking_length(tmp_path):
    """The boundary study's DFT relaxation: GPAW stress with a cell mask. A cubic CsPbBr3 cell
    stretched 4 % along z relaxes along z only (the stress there is tensile, so z shrinks);
    x and y keep their lengths and the cell stays orthogonal."""
    from pvatoms.jobs import relax
    atoms = cspbbr3("cubic")
    a0 = atoms.cell.lengths()
    atoms.set_cell(np.diag([a0[0], a0[1], 1.04 * a0[2]]), scale_atoms=True)
    doc = relax(atoms, tmp_path / "r", backend=get_backend("gpaw", kpts=(2, 2, 2), ecut=250), cell=True,
                cell_mask=[0, 0, 1, 0, 0, 0], fmax=0.01, steps=3)
    end = schema.atoms_from_dict(doc["structure"])
    assert end.cell.lengths()[:2] == pytest.approx(a0[:2], abs=1e-9)
    assert end.cell.lengths()[2] < 1.04 * a0[2] - 0.01
    assert np.abs(end.cell.angles() - 90).max() < 1e-6
    assert doc["level_of_theory"]["label"] == "PBE//PBE"
