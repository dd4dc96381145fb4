"""VASP backend without VASP and without POTCARs.

1. Input generation against reference files in tests/data/vasp/inputs/<case>/ (regenerate them
   with ``python tests/test_vasp.py regenerate`` and review the diff by eye). What was checked by
   eye in the references, besides what the asserts below check independently:
   - every KPOINTS is "Gamma" (no shifted mesh): Pnma 3x2x3, cubic 4x4x4 (R = (1/2,1/2,1/2) on
     the mesh: the cubic gap is at R), 2x2x2 Pnma supercell 2x1x2, 2x1x2 supercell 2x2x2;
   - POTCAR.spec lists Cs_sv, Pb_d, Br in the POSCAR species order Cs Pb Br; no LDAU tags;
   - ENCUT 500 eV (> 1.3 x the largest ENMAX, Pb_d ~238 eV, so ISIF 3 has little Pulay stress);
     ISMEAR 0 / SIGMA 0.05 for a semiconductor; LASPH; LREAL False up to 20 atoms, Auto above,
     False for the phonon displacement;
   - relax: IBRION 2, ISIF 3, EDIFFG -0.01 (forces, eV/Å); static: LVHAR, LCHARG, LORBIT 11;
   - V_Br+ static: Cs32Pb32Br95, NELECT 1400 (= 32*9 + 32*14 + 95*7 - 1);
   - band-edges (cubic, 44 valence electrons, 22 filled bands): SCF with LWAVE, parchg-vbm
     IBAND 22 and parchg-cbm IBAND 23, ISTART 1, LPARD, LSEPB/LSEPK False, no LVHAR/LORBIT;
   - neb (V_Br+ hop along an octahedron edge, 4.20 Å, straight line): IMAGES 3, folders 00..04,
     IBRION 3, POTIM 0, IOPT 1, LCLIMB, SPRING -5, ISYM 0, NELECT 1400; only the hopping Br
     moves between the POSCARs;
   - phonons: 80-atom supercell, atom 0 displaced by 0.01 Å along x, EDIFF 1e-8, ADDGRID,
     IBRION -1, NSW 0, SYSTEM names the displacement;
   - SOC static (cubic): LSORBIT, LNONCOLLINEAR, GGA_COMPAT False, SAXIS 0 0 1, ISYM -1,
     15 MAGMOM values (3 per atom), no ISPIN.
2. A missing POTCAR configuration gives an InputError that says how to fix it.
3. Parsing real VASP outputs: CdTe bulk and V_Cd^{2-} (doped's test data, see
   tests/data/vasp/README.md).
4. execute() without a VASP command raises an InputError and leaves the inputs on disk.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data" / "vasp"
REFERENCE = DATA / "inputs"
CDTE_BULK = DATA / "cdte" / "bulk_vasp_gam"
CDTE_VCD = DATA / "cdte" / "v_Cd_-2_vasp_gam"
INPUT_FILES = ("INCAR", "KPOINTS", "POSCAR", "POTCAR.spec")


# ---------------------------------------------------------------- the reference cases

def _supercell(reps):
    from pvatoms.build import cspbbr3, defects_supercell
    return defects_supercell(cspbbr3("pnma"), reps)


def _br_hop_images(n_images: int = 3):
    """V_Br+ migration in the 2x2x2 Pnma supercell: the Br nearest to a vacancy moves to it along
    a straight line (endpoints included)."""
    host = _supercell((2, 2, 2))
    br = [i for i, s in enumerate(host.get_chemical_symbols()) if s == "Br"]
    vacancy = br[0]
    dist = host.get_distances(vacancy, br, mic=True)
    mover = br[int(np.argsort(dist)[1])]
    hop = host.get_distance(mover, vacancy, mic=True, vector=True)
    initial = host.copy()
    del initial[vacancy]
    mover -= mover > vacancy
    images = []
    for t in np.linspace(0.0, 1.0, n_images + 2):
        image = initial.copy()
        image.positions[mover] += t * hop
        images.append(image)
    return images, mover, float(np.linalg.norm(hop))


def case_relax_pnma(backend, folder):
    from pvatoms.build import cspbbr3
    return backend.prepare("relax", cspbbr3("pnma"), folder)


def case_static_vbr_plus(backend, folder):
    from pvatoms.build import cspbbr3, point_defects
    defect = point_defects(cspbbr3("pnma"), vacancies=["Br"], supercell=(2, 2, 2))[0]
    return backend.prepare("static", defect.atoms, folder, charge=+1)


def case_relax_defect_vbr_neutral(backend, folder):
    """Neutral V_Br: an odd-electron defect cell, relaxed with the defect conventions."""
    from pvatoms.build import cspbbr3, point_defects
    defect = point_defects(cspbbr3("pnma"), vacancies=["Br"], supercell=(2, 2, 2))[0]
    return backend.prepare("relax", defect.atoms, folder, charge=0, defect=True)


def case_band_edges_cubic(backend, folder):
    from pvatoms.build import cspbbr3
    return backend.prepare("band-edges", cspbbr3("cubic"), folder)


def case_neb_vbr_plus(backend, folder):
    images, _, _ = _br_hop_images(3)
    return backend.prepare("neb", None, folder, charge=+1, images=images)


def case_phonon_displacement(backend, folder):
    atoms = _supercell((2, 1, 2))
    atoms.positions[0, 0] += 0.01
    return backend.prepare("phonons", atoms, folder, displacement_id="disp-001")


def case_static_soc_cubic(backend, folder):
    from pvatoms.build import cspbbr3
    return backend.prepare("static", cspbbr3("cubic"), folder)


CASES = {
    "relax_pnma": (case_relax_pnma, {}),
    "static_vbr_plus": (case_static_vbr_plus, {}),
    "relax_defect_vbr_neutral": (case_relax_defect_vbr_neutral, {}),
    "band_edges_cubic": (case_band_edges_cubic, {}),
    "neb_vbr_plus": (case_neb_vbr_plus, {}),
    "phonon_displacement": (case_phonon_displacement, {}),
    "static_soc_cubic": (case_static_soc_cubic, {"soc": True}),
}


def make_case(name: str, folder: Path) -> Path:
    """Write the inputs of case ``name`` into ``folder`` (POTCAR.spec, default settings)."""
    from pvatoms.calc import get_backend
    make, settings = CASES[name]
    return make(get_backend("vasp", potcar="spec", **settings), folder)


def regenerate() -> None:
    """Rewrite tests/data/vasp/inputs (inputs only, not the metadata JSON)."""
    for name in CASES:
        target = REFERENCE / name
        if target.exists():
            shutil.rmtree(target)
        make_case(name, target)
        for meta in target.rglob("pvatoms-vasp.json"):
            meta.unlink()
        print("wrote", target)


# ---------------------------------------------------------------- comparisons

def _incar(path):
    from pymatgen.io.vasp.inputs import Incar
    return dict(Incar.from_file(str(path)))


def _compare_kpoints(ref, new):
    from pymatgen.io.vasp.inputs import Kpoints
    k_ref, k_new = Kpoints.from_file(str(ref)), Kpoints.from_file(str(new))
    assert k_new.style.name == "Gamma", f"{new}: {k_new.style.name} mesh, must be Gamma-centred"
    assert [list(k) for k in k_new.kpts] == [list(k) for k in k_ref.kpts]
    assert np.allclose(k_new.kpts_shift, 0)


def _compare_poscar(ref, new):
    from pymatgen.io.vasp.inputs import Poscar
    s_ref = Poscar.from_file(str(ref), check_for_potcar=False).structure
    s_new = Poscar.from_file(str(new), check_for_potcar=False).structure
    assert [str(s.specie) for s in s_new] == [str(s.specie) for s in s_ref]
    assert np.allclose(s_new.lattice.matrix, s_ref.lattice.matrix, atol=1e-8)
    assert np.allclose(s_new.frac_coords, s_ref.frac_coords, atol=1e-8)


def _compare_folder(ref_dir: Path, new_dir: Path):
    ref_files = sorted(p.relative_to(ref_dir) for p in ref_dir.rglob("*") if p.is_file())
    new_files = sorted(p.relative_to(new_dir) for p in new_dir.rglob("*")
                       if p.is_file() and p.name != "pvatoms-vasp.json")
    assert new_files == ref_files
    for rel in ref_files:
        ref, new = ref_dir / rel, new_dir / rel
        if rel.name == "INCAR":
            assert _incar(new) == _incar(ref), f"{rel} differs"
        elif rel.name == "KPOINTS":
            _compare_kpoints(ref, new)
        elif rel.name == "POSCAR":
            _compare_poscar(ref, new)
        elif rel.name == "POTCAR.spec":
            assert new.read_text().split() == ref.read_text().split()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Every case written once into a temporary folder."""
    root = tmp_path_factory.mktemp("vasp-inputs")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)   # no odd-electron or pymatgen input warnings
        for name in CASES:
            make_case(name, root / name)
    return root


@pytest.mark.parametrize("name", list(CASES))
def test_inputs_match_reference(generated, name):
    assert (REFERENCE / name).is_dir(), "run `python tests/test_vasp.py regenerate` and review"
    _compare_folder(REFERENCE / name, generated / name)


# ---------------------------------------------------------------- physics of the inputs

def _electrons(symbols) -> int:
    """Valence electrons of Cs_sv / Pb_d / Br written out here, independently of the backend."""
    return sum({"Cs": 9, "Pb": 14, "Br": 7}[s] for s in symbols)


def test_relax_is_full_cell_gamma_centred(generated):
    incar = _incar(generated / "relax_pnma" / "INCAR")
    assert incar["ISIF"] == 3 and incar["IBRION"] == 2 and incar["EDIFFG"] < 0
    assert incar["ENCUT"] == 500 and incar["ISPIN"] == 1 and incar["LASPH"] is True
    assert incar["LREAL"] is False and not any(k.startswith("LDAU") for k in incar)
    assert (generated / "relax_pnma" / "POTCAR.spec").read_text().split() == ["Cs_sv", "Pb_d", "Br"]


def test_charged_vacancy_nelect(generated):
    from pymatgen.io.vasp.inputs import Poscar
    folder = generated / "static_vbr_plus"
    poscar = Poscar.from_file(str(folder / "POSCAR"), check_for_potcar=False)
    symbols = [str(s.specie) for s in poscar.structure]
    assert poscar.structure.composition.as_dict() == {"Cs": 32, "Pb": 32, "Br": 95}
    assert _electrons(symbols) == 32 * 9 + 32 * 14 + 95 * 7 == 1401
    incar = _incar(folder / "INCAR")
    assert incar["NELECT"] == 1400
    assert incar["LVHAR"] is True and incar["LCHARG"] is True and incar["LORBIT"] == 11
    assert incar["NSW"] == 0


def test_defect_relax_conventions(generated):
    """Defect cells: positions only at the host cell, symmetry off, LOCPOT written; the odd
    electron count (1401, counted here independently) makes the cell a spin doublet."""
    incar = _incar(generated / "relax_defect_vbr_neutral" / "INCAR")
    assert incar["ISIF"] == 2 and incar["ISYM"] == 0 and incar["LVHAR"] is True and incar["NSW"] > 0
    assert incar["ISPIN"] == 2 and incar["NUPDOWN"] == 1 and len(incar["MAGMOM"]) == 159
    assert "NELECT" not in incar          # neutral: VASP counts the electrons itself (1401)


@pytest.mark.parametrize("charge,odd", [(-2, False), (-1, True), (0, False)])
def test_spin_follows_the_electron_parity(tmp_path, charge, odd):
    """V_Pb in the 2x2x2 cell: 1408 - 14 = 1394 electrons when neutral; q = -1 adds one."""
    from pvatoms.build import cspbbr3, point_defects
    vpb = point_defects(cspbbr3("pnma"), vacancies=["Pb"], supercell=(2, 2, 2))[0].atoms
    assert _electrons(vpb.get_chemical_symbols()) - charge == 1394 - charge
    from pvatoms.calc import get_backend
    get_backend("vasp", potcar="spec").prepare("static", vpb, tmp_path, charge=charge, defect=True)
    incar = _incar(tmp_path / "INCAR")
    assert incar["ISPIN"] == (2 if odd else 1) and ("NUPDOWN" in incar) == odd
    assert incar["ISYM"] == 0 and incar["LVHAR"] is True


def test_band_edges_two_steps(generated):
    folder = generated / "band_edges_cubic"
    scf = _incar(folder / "INCAR")
    assert scf["LWAVE"] is True and scf["NSW"] == 0
    n_filled = _electrons(["Cs", "Pb", "Br", "Br", "Br"]) // 2
    for label, band in (("vbm", n_filled), ("cbm", n_filled + 1)):
        step = _incar(folder / f"parchg-{label}" / "INCAR")
        assert step["LPARD"] is True and step["ISTART"] == 1
        assert step["IBAND"] in (band, [band])
        assert step["LSEPB"] is False and step["LSEPK"] is False
        assert "LVHAR" not in step


def test_neb_layout(generated):
    from pymatgen.io.vasp.inputs import Poscar
    folder = generated / "neb_vbr_plus"
    incar = _incar(folder / "INCAR")
    assert incar["IMAGES"] == 3 and incar["SPRING"] == -5 and incar["LCLIMB"] is True
    assert incar["IBRION"] == 3 and incar["POTIM"] == 0 and incar["NELECT"] == 1400
    structures = [Poscar.from_file(str(folder / f"{i:02d}" / "POSCAR"), check_for_potcar=False).structure
                  for i in range(5)]
    _, mover, length = _br_hop_images(3)
    assert 3.5 < length < 4.5          # Br-Br edge of a PbBr6 octahedron
    for a, b in zip(structures, structures[1:]):
        moved = np.linalg.norm(b.cart_coords - a.cart_coords, axis=1)
        assert np.flatnonzero(moved > 1e-6).tolist() == [mover]
        assert moved[mover] == pytest.approx(length / 4, abs=1e-6)


def test_phonon_and_soc_settings(generated):
    ph = _incar(generated / "phonon_displacement" / "INCAR")
    assert ph["EDIFF"] == 1e-8 and ph["PREC"] == "Accurate" and ph["ADDGRID"] is True
    assert ph["IBRION"] == -1 and ph["NSW"] == 0 and ph["LREAL"] is False
    assert "disp-001" in ph["SYSTEM"]
    soc = _incar(generated / "static_soc_cubic" / "INCAR")
    assert soc["LSORBIT"] is True and soc["LNONCOLLINEAR"] is True and soc["GGA_COMPAT"] is False
    assert soc["ISYM"] == -1 and np.ravel(soc["MAGMOM"]).tolist() == [0.0] * 15 and "ISPIN" not in soc


def test_info_and_bad_input(tmp_path):
    from pvatoms.build import cspbbr3, point_defects
    from pvatoms.calc import get_backend
    from pvatoms.errors import InputError

    backend = get_backend("vasp", potcar="spec", soc=True)
    info = backend.info()
    assert info["name"] == "vasp" and info["model"] == "PBE+SOC" and info["device"] is None
    assert info["settings"]["encut"] == 500 and info["version"]
    with pytest.raises(InputError, match="relax, static, neb, phonons, band-edges"):
        backend.prepare("md", cspbbr3("cubic"), tmp_path / "x")
    with pytest.raises(InputError, match="LPARD"):
        backend.prepare("band-edges", cspbbr3("cubic"), tmp_path / "x")
    with pytest.raises(InputError, match="PBE, PBEsol, HSE06"):
        get_backend("vasp", functional="LDA")
    vbr = point_defects(cspbbr3("pnma"), vacancies=["Br"], supercell=(2, 2, 2))[0].atoms
    with pytest.warns(UserWarning, match="1401 electrons"):    # neutral V_Br, spin forced off
        get_backend("vasp", potcar="spec", spin=False).prepare("static", vbr, tmp_path / "v0")
    with pytest.raises(InputError, match="spin must be"):
        get_backend("vasp", spin="yes")
    images, _, _ = _br_hop_images(1)
    del images[1][0]
    with pytest.raises(InputError, match="same order"):
        get_backend("vasp", potcar="spec").prepare("neb", None, tmp_path / "n", images=images)


# ---------------------------------------------------------------- POTCAR configuration

def test_missing_potcar_configuration(tmp_path, monkeypatch):
    from pymatgen.core import SETTINGS

    from pvatoms.build import cspbbr3
    from pvatoms.calc import get_backend
    from pvatoms.errors import InputError

    backend = get_backend("vasp")                       # potcar="auto"
    empty = tmp_path / "psp"
    empty.mkdir()
    monkeypatch.setenv("PMG_VASP_PSP_DIR", str(empty))
    with pytest.raises(InputError, match="POT_GGA_PAW_PBE_54") as err:
        backend.prepare("static", cspbbr3("cubic"), tmp_path / "a")
    assert "PMG_VASP_PSP_DIR" in str(err.value) and "potcar='spec'" in str(err.value)
    assert not (tmp_path / "a").exists()                # nothing half-written

    monkeypatch.delenv("PMG_VASP_PSP_DIR")
    monkeypatch.delitem(SETTINGS, "PMG_VASP_PSP_DIR", raising=False)
    with pytest.raises(InputError, match="not configured") as err:
        backend.prepare("static", cspbbr3("cubic"), tmp_path / "b")
    assert "pmg config" in str(err.value) and "potcar='spec'" in str(err.value)


def _write_stand_in_potcars(root: Path, zval: dict) -> None:
    """Minimal POTCAR files with the header fields pymatgen reads (TITEL, VRHFIN, ZVAL): stand-ins
    for the licensed VASP files, enough to follow the potcar='auto' path."""
    folder = root / "POT_GGA_PAW_PBE_54"
    for symbol, z in zval.items():
        element = symbol.split("_")[0]
        (folder / symbol).mkdir(parents=True)
        (folder / symbol / "POTCAR").write_text(
            f"  PAW_PBE {symbol} 01Jan2000\n  {z:.16f}\n parameters from PSCTR are:\n"
            f"   VRHFIN ={element}: s p\n   TITEL  = PAW_PBE {symbol} 01Jan2000\n"
            f"   POMASS =  1.000; ZVAL   = {z:8.3f}    mass and valenz\n"
            "   LEXCH  = PE\n   ENMAX  =  250.000; ENMIN  =  180.000 eV\n END of PSCTR-controll parameters\n"
            " 0.1 0.2 0.3 0.4\n End of Dataset\n")


def test_potcar_auto_uses_zval(tmp_path, monkeypatch):
    from pvatoms.build import cspbbr3, point_defects
    from pvatoms.calc import get_backend

    _write_stand_in_potcars(tmp_path / "psp", {"Cs_sv": 9, "Pb_d": 14, "Br": 7})
    monkeypatch.setenv("PMG_VASP_PSP_DIR", str(tmp_path / "psp"))
    defect = point_defects(cspbbr3("pnma"), vacancies=["Br"], supercell=(2, 2, 2))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # pymatgen: unknown POTCAR hashes
        folder = get_backend("vasp").prepare("static", defect.atoms, tmp_path / "vbr", charge=1)
    assert _incar(folder / "INCAR")["NELECT"] == 1400
    potcar = (folder / "POTCAR").read_text()
    titles = [line.split("=")[1].split()[1] for line in potcar.splitlines() if "TITEL" in line]
    assert titles == ["Cs_sv", "Pb_d", "Br"]            # POSCAR species order Cs Pb Br
    assert not (folder / "POTCAR.spec").exists()


# ---------------------------------------------------------------- parsing real outputs

@pytest.fixture(scope="module")
def parsed():
    from pvatoms.calc import get_backend
    backend = get_backend("vasp", potcar="spec")
    return {"bulk": backend.parse("static", CDTE_BULK), "defect": backend.parse("static", CDTE_VCD)}


def test_parse_energies_and_charge(parsed):
    bulk, defect = parsed["bulk"], parsed["defect"]
    assert bulk["energy"] == pytest.approx(-191.43077479, abs=1e-6)
    assert defect["energy"] == pytest.approx(-183.98279052, abs=1e-6)
    assert defect["energy_per_atom"] == pytest.approx(-183.98279052 / 63)
    assert defect["data"]["nelect"] == 566
    assert defect["data"]["charge"] == -2 and bulk["data"]["charge"] == 0
    assert np.asarray(bulk["forces"]).shape == (64, 3) and np.asarray(defect["forces"]).shape == (63, 3)
    assert defect["data"]["converged_electronic"] and defect["data"]["incar"]["LVHAR"] is True
    assert defect["data"]["kpoints"]["style"] == "Gamma" and defect["data"]["kpoints"]["mesh"] == [1, 1, 1]
    assert len(defect["structure"]["symbols"]) == 63


def test_parse_stress_band_edges_files(parsed):
    from ase.units import GPa
    bulk, defect = parsed["bulk"], parsed["defect"]
    # vasprun.xml: 2.15966365 kBar on the bulk diagonal (VASP: positive = compressive)
    assert bulk["stress"][0] == pytest.approx(-2.15966365 * 0.1 * GPa, rel=1e-9)
    assert len(bulk["stress"]) == 6 and bulk["stress"][0] < 0
    for doc in (bulk, defect):
        edges = doc["band_edges"]
        assert edges["vbm"] < edges["fermi"] < edges["cbm"]
        assert edges["gap"] == pytest.approx(edges["cbm"] - edges["vbm"]) and 1.0 < edges["gap"] < 2.0
        assert edges["k_vbm"] == [0.0, 0.0, 0.0] and edges["direct"] is True
        assert doc["files"]["LOCPOT"] == "LOCPOT.gz" and doc["files"]["vasprun"] == "vasprun.xml.gz"


def test_charge_from_the_potcar_titles_without_an_outcar(tmp_path):
    """No OUTCAR (no ZVAL lines) and no pvatoms metadata: the neutral count comes from the POTCAR
    titles of vasprun.xml and the valence table, by hand 31 Cd x 12 + 32 Te x 6 = 564 electrons;
    NELECT 566 -> q = -2."""
    from pvatoms.calc.vasp_parse import parse_run
    folder = tmp_path / "v"
    shutil.copytree(CDTE_VCD, folder)
    (folder / "OUTCAR.gz").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = parse_run(folder)["data"]
    assert d["neutral_nelect"] == 31 * 12 + 32 * 6 and d["charge"] == -2
    assert d["converged_ionic"] is True and d["ionic_steps"] == 1


def test_read_locpot():
    from pvatoms.calc.vasp import locpot_path, read_locpot
    assert locpot_path(CDTE_VCD).name == "LOCPOT.gz"
    locpot = read_locpot(CDTE_VCD)
    assert locpot.dim == (80, 80, 80) and len(locpot.structure) == 63


def test_missing_outputs_name_the_file(tmp_path):
    from pvatoms.calc import get_backend
    from pvatoms.calc.vasp import VaspOutputError, read_locpot

    backend = get_backend("vasp", potcar="spec")
    folder = case_relax_pnma(backend, tmp_path / "relax")
    with pytest.raises(VaspOutputError, match="vasprun.xml"):
        backend.parse("relax", folder)
    with pytest.raises(VaspOutputError, match="LOCPOT"):
        read_locpot(folder)
    # NEB: the endpoints' OUTCARs come from the endpoint runs (copied by prepare)
    images, _, _ = _br_hop_images(1)
    neb = backend.prepare("neb", None, tmp_path / "neb", images=images, charge=1)
    with pytest.raises(VaspOutputError, match=r"00.*endpoints="):
        backend.parse("neb", neb)
    backend.prepare("neb", None, neb, images=images, charge=1, endpoints=(CDTE_BULK, CDTE_VCD))
    assert (neb / "00" / "OUTCAR.gz").is_file() and (neb / "02" / "OUTCAR.gz").is_file()
    with pytest.raises(VaspOutputError, match=r"01"):
        backend.parse("neb", neb)


def test_neb_barrier_from_image_outcars(tmp_path):
    """Barrier arithmetic on real OUTCARs standing in for the images (energies -191.43 / -183.98
    eV; the physics is not the point here, the reading order and the arithmetic are)."""
    from pvatoms.calc import get_backend

    backend = get_backend("vasp", potcar="spec")
    images, _, _ = _br_hop_images(1)
    neb = backend.prepare("neb", None, tmp_path / "neb", images=images, charge=1,
                          endpoints=(CDTE_BULK, CDTE_BULK))
    shutil.copyfile(CDTE_VCD / "OUTCAR.gz", neb / "01" / "OUTCAR.gz")
    out = backend.parse("neb", neb)
    e_bulk, e_def = -191.43077479, -183.98279052
    assert [im["energy"] for im in out["images"]] == pytest.approx([e_bulk, e_def, e_bulk])
    assert out["data"]["barrier_forward"] == pytest.approx(e_def - e_bulk)
    assert out["data"]["barrier_backward"] == pytest.approx(e_def - e_bulk)
    assert out["data"]["saddle_image"] == 1 and out["data"]["n_images"] == 1
    assert len(out["images"][1]["structure"]["symbols"]) == 159


def test_neb_barriers_with_endpoints_of_different_energy(tmp_path):
    """Endpoints of different energy (initial: the bulk OUTCAR, final: the V_Cd OUTCAR; two
    images: bulk, V_Cd), so forward and backward barriers differ. Reference energies read here
    with pymatgen's Outcar straight from the files: forward = E_max − E_00, backward =
    E_max − E_03, reaction = E_03 − E_00."""
    from pymatgen.io.vasp.outputs import Outcar

    from pvatoms.calc import get_backend

    e_bulk = Outcar(str(CDTE_BULK / "OUTCAR.gz")).final_energy
    e_def = Outcar(str(CDTE_VCD / "OUTCAR.gz")).final_energy
    assert e_def - e_bulk > 7.0                      # far apart: a wrong direction cannot hide
    backend = get_backend("vasp", potcar="spec")
    images, _, _ = _br_hop_images(2)
    neb = backend.prepare("neb", None, tmp_path / "neb", images=images, charge=1,
                          endpoints=(CDTE_BULK, CDTE_VCD))
    shutil.copyfile(CDTE_BULK / "OUTCAR.gz", neb / "01" / "OUTCAR.gz")
    shutil.copyfile(CDTE_VCD / "OUTCAR.gz", neb / "02" / "OUTCAR.gz")
    out = backend.parse("neb", neb)
    d = out["data"]
    # the document's energy and structure are the saddle image's (image 02, the higher V_Cd OUTCAR)
    assert out["energy"] == pytest.approx(e_def, abs=1e-8) and out["structure"] == out["images"][2]["structure"]
    assert d["energies"] == pytest.approx([e_bulk, e_bulk, e_def, e_def], abs=1e-8)
    assert d["barrier_forward"] == pytest.approx(e_def - e_bulk, abs=1e-8)
    assert d["barrier_backward"] == pytest.approx(0.0, abs=1e-8)
    assert d["reaction_energy"] == pytest.approx(e_def - e_bulk, abs=1e-8)
    assert d["relative_energies"] == pytest.approx([0.0, 0.0, e_def - e_bulk, e_def - e_bulk], abs=1e-8)
    assert d["saddle_image"] == 2 and d["n_images"] == 2 and d["charge"] == 1
    assert d["climb"] is True                        # LCLIMB in the NEB INCAR
    from pymatgen.io.vasp import Incar
    tags = Incar.from_file(str(neb / "INCAR"))
    assert d["run_settings"] == {"functional": "PBE", "soc": bool(tags.get("LSORBIT", False)),
                                 "encut": float(tags["ENCUT"])}


def _eigen(up, occ_up, down=None, occ_down=None):
    """pymatgen's Vasprun.eigenvalues layout: {Spin: (nk, nb, 2) energy, occupation}."""
    from pymatgen.electronic_structure.core import Spin
    out = {Spin.up: np.stack([np.asarray(up, float), np.asarray(occ_up, float)], axis=-1)}
    if down is not None:
        out[Spin.down] = np.stack([np.asarray(down, float), np.asarray(occ_down, float)], axis=-1)
    return out


def test_band_edges_from_eigenvalues_by_hand():
    """Two k-points, three bands. Spin up: VBM 1.0 at k1, CBM 2.0 at k0 (indirect, gap 1.0, vertical
    gaps 1.5 and 1.2). Spin down: VBM 0.8, CBM 1.6, both at k1 (vertical 0.8): the gap of the
    cell is 1.6 - 1.0 = 0.6 (up VBM, down CBM), indirect; the smallest vertical gap over both
    spins at one k is min_k(min_s e_empty - max_s e_occ) = k1: 1.6 - 1.0 = 0.6, so it is direct."""
    from pvatoms.calc.vasp_parse import band_edges_from_eigenvalues
    k = [[0, 0, 0], [0.5, 0, 0.25]]
    up = [[0.0, 0.5, 2.0], [0.2, 1.0, 2.2]]
    occ = [[1, 1, 0], [1, 1, 0]]
    e = band_edges_from_eigenvalues(_eigen(up, occ), k, 0.7)
    assert e == {"vbm": 1.0, "cbm": 2.0, "gap": 1.0, "direct": False, "k_vbm": [0.5, 0.0, 0.25],
                 "k_cbm": [0.0, 0.0, 0.0], "fermi": 0.7}
    both = band_edges_from_eigenvalues(_eigen(up, occ, [[0.1, 0.6, 1.9], [0.3, 0.8, 1.6]], occ), k, None)
    assert both["vbm"] == 1.0 and both["cbm"] == 1.6 and both["gap"] == pytest.approx(0.6)
    assert both["k_cbm"] == [0.5, 0.0, 0.25] and both["direct"] is True and both["fermi"] is None
    # the down-spin CBM moved to k0: the vertical gap at k1 is now 2.2 - 1.0 and at k0 1.55 - 0.5
    apart = band_edges_from_eigenvalues(_eigen(up, occ, [[0.1, 0.6, 1.55], [0.3, 0.8, 2.3]], occ), k, None)
    assert apart["gap"] == pytest.approx(0.55) and apart["direct"] is False
    metal = band_edges_from_eigenvalues(_eigen([[0.0, 3.0, 1.0]], [[1, 1, 0]]), [[0, 0, 0]], 0.0)
    assert metal["gap"] == 0.0 and metal["cbm"] == 1.0                     # overlapping bands: no gap
    full = band_edges_from_eigenvalues(_eigen([[0.0, 0.5]], [[1, 1]]), [[0, 0, 0]], 0.6)
    assert full["vbm"] == 0.5 and full["cbm"] is None and full["gap"] is None
    assert band_edges_from_eigenvalues(_eigen([[0.0, 0.5]], [[0, 0.4]]), [[0, 0, 0]], 0.6) is None
    assert band_edges_from_eigenvalues({}, [], None) is None


def test_kpoints_outputs_and_outcar_reading(tmp_path):
    from types import SimpleNamespace

    from pvatoms.calc.vasp_parse import (VaspOutputError, kpoints_description, output_files, read_outcar,
                                         stress_to_voigt)
    run = SimpleNamespace(kpoints=SimpleNamespace(style=SimpleNamespace(name="Monkhorst"), kpts=[(4, 4, 2)],
                                                  kpts_shift=None), actual_kpoints=[0] * 10)
    assert kpoints_description(run) == {"style": "Monkhorst", "n_irreducible": 10, "mesh": [4, 4, 2],
                                        "shift": [0.0, 0.0, 0.0]}
    run.kpoints.kpts_shift = (0.5, 0.5, 0.0)
    assert kpoints_description(run)["shift"] == [0.5, 0.5, 0.0]
    run.kpoints.style, run.kpoints.kpts = "Reciprocal", [(0, 0, 0), (0.5, 0, 0)]
    assert kpoints_description(run) == {"style": "Reciprocal", "n_irreducible": 10}   # a list, no mesh
    for name in ("vasprun.xml.gz", "OUTCAR", "PARCHG.0012.gz", "PARCHG.0013", "CONTCAR.bz2"):
        (tmp_path / name).write_text("x")
    (tmp_path / "WAVECAR").write_text("")                                  # empty: not an output
    assert output_files(tmp_path) == {"vasprun": "vasprun.xml.gz", "OUTCAR": "OUTCAR", "CONTCAR": "CONTCAR.bz2",
                                      "PARCHG.0012": "PARCHG.0012.gz", "PARCHG.0013": "PARCHG.0013"}
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_outcar(empty) is None
    with pytest.raises(VaspOutputError, match="no OUTCAR"):
        read_outcar(empty, required=True)
    (empty / "OUTCAR").write_text("not an OUTCAR")
    with pytest.raises(VaspOutputError, match="cannot read"):
        read_outcar(empty)
    # VASP: +10 kBar = compressive; ASE: Voigt xx yy zz yz xz xy in eV/Å³, tensile positive
    from ase.units import GPa
    sig = [[10.0, 4.0, 5.0], [4.0, 20.0, 6.0], [5.0, 6.0, 30.0]]
    assert stress_to_voigt(sig) == pytest.approx([-x * 0.1 * GPa for x in (10, 20, 30, 6, 5, 4)], rel=1e-12)


def test_functional_names_of_meta_ggas_and_unknown_tags():
    from pvatoms.calc.vasp_parse import run_functional
    assert run_functional({"METAGGA": "SCAN"}) == "SCAN"                 # an unlisted meta-GGA keeps its name
    assert run_functional({"GGA": "PS", "METAGGA": "NONE"}) == "PBEsol"  # NONE is no meta-GGA
    assert run_functional({"GGA": "PS", "METAGGA": "--"}) == "PBEsol"
    assert run_functional({"GGA": "--"}, ["PAW Cs_sv"]) == "LDA"         # LDA POTCARs, no GGA tag
    assert run_functional({"GGA": "XX"}) == "GGA=XX"
    assert run_functional({"LHFCALC": True}) == "PBE0"                   # AEXX 0.25, unscreened by default
    assert run_functional({"GGA": "PS", "LHFCALC": True, "HFSCREEN": 0.2}) == "hybrid PBEsol (AEXX=0.25, HFSCREEN=0.2)"


# ---------------------------------------------------------------- execute

def test_execute_without_vasp_command(tmp_path, monkeypatch):
    from pvatoms.calc import get_backend
    from pvatoms.errors import InputError

    monkeypatch.delenv("PVATOMS_VASP_CMD", raising=False)
    backend = get_backend("vasp", potcar="spec")
    folder = case_relax_pnma(backend, tmp_path / "relax")
    with pytest.raises(InputError, match="PVATOMS_VASP_CMD") as err:
        backend.execute(folder, "relax")
    assert str(folder) in str(err.value)
    for name in INPUT_FILES:
        assert (folder / name).is_file()
    # a command, but only POTCAR.spec: refused before VASP starts
    with pytest.raises(InputError, match="potcar='spec'"):
        get_backend("vasp", potcar="spec", vasp_cmd="vasp_std").execute(folder, "relax")


def test_execute_runs_custodian(tmp_path, monkeypatch):
    """The custodian wiring, with `true` standing in for VASP: the run ends without a vasprun.xml,
    so custodian's validator must refuse it (raised, for the job runner to record as failed)."""
    from custodian.custodian import ValidationError

    from pvatoms.build import cspbbr3
    from pvatoms.calc import get_backend

    _write_stand_in_potcars(tmp_path / "psp", {"Cs_sv": 9, "Pb_d": 14, "Br": 7})
    monkeypatch.setenv("PMG_VASP_PSP_DIR", str(tmp_path / "psp"))
    backend = get_backend("vasp", vasp_cmd="true", poll_seconds=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # pymatgen: unknown POTCAR hashes
        folder = backend.prepare("static", cspbbr3("cubic"), tmp_path / "static")
        with pytest.raises(ValidationError, match="VasprunXMLValidator"):
            backend.execute(folder, "static")
    assert (folder / "custodian.json").is_file() and (folder / "INCAR").is_file()


if __name__ == "__main__":
    if sys.argv[1:] == ["regenerate"]:
        regenerate()
    else:
        print("usage: python tests/test_vasp.py regenerate")
