"""Parsed VASP runs: the provenance is that of the run actually done (its INCAR), and outputs of
another structure, composition, atom order or charge are refused (real CdTe HSE06 outputs, see
tests/data/vasp/README.md: ENCUT 350 eV, LHFCALC, AEXX 0.25, HFSCREEN 0.208, ISPIN 2, Γ only)."""

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

from pvatoms.analysis.chempots import check_same_backend
from pvatoms.calc import get_backend
from pvatoms.calc.vasp_parse import parse_run, run_functional
from pvatoms.errors import InputError
from pvatoms.jobs import relax, static
from pvatoms.schema import level_of_theory, load

CDTE = Path(__file__).parent / "data" / "vasp" / "cdte"
BULK, VCD = CDTE / "bulk_vasp_gam", CDTE / "v_Cd_-2_vasp_gam"


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # pymatgen: POTCAR hashes, unconverged steps
        yield


def _copy(src, dest):
    shutil.copytree(src, dest)
    return dest


@pytest.mark.parametrize("params,name", [
    ({"GGA": "Pe", "LHFCALC": True, "AEXX": 0.25, "HFSCREEN": 0.208}, "HSE06"),
    ({"GGA": "PE", "LHFCALC": True, "AEXX": 0.25, "HFSCREEN": 0.2}, "HSE06"),
    ({"GGA": "PE", "LHFCALC": True, "AEXX": 0.25, "HFSCREEN": 0.0}, "PBE0"),
    ({"GGA": "PE", "LHFCALC": True, "AEXX": 0.3, "HFSCREEN": 0.2}, "hybrid PBE (AEXX=0.3, HFSCREEN=0.2)"),
    ({"GGA": "PS"}, "PBEsol"),
    ({"GGA": "--"}, "PBE"),
    ({"GGA": "PE", "METAGGA": "R2SCAN"}, "r2SCAN"),
    ({}, "PBE"),
])
def test_functional_from_the_run_parameters(params, name):
    assert run_functional(params, ["PAW_PBE Cs_sv 08Apr2002"]) == name


def test_parsed_hse_run_records_its_own_settings(tmp_path):
    """The job was planned as PBE, 500 eV; the run in the folder is HSE06 at 350 eV: the
    document says HSE06, 350 eV (backend and level of theory) and keeps what was planned."""
    folder = _copy(BULK, tmp_path / "bulk")
    doc = static(read(folder / "POSCAR"), folder, backend=get_backend("vasp", potcar="spec"))
    assert doc["status"] == "completed" and doc["data"]["parsed_existing_outputs"]
    b = doc["backend"]
    assert b["model"] == "HSE06" and b["settings"]["functional"] == "HSE06"
    assert b["settings"]["encut"] == 350.0 and b["settings_from"] == "run"
    assert doc["level_of_theory"] == {"energy": "HSE06", "geometry": "input", "cell": None, "label": "HSE06//input"}
    assert doc["data"]["planned_settings_differ"] == {"functional": {"planned": "PBE", "run": "HSE06"},
                                                       "encut": {"planned": 500.0, "run": 350.0}}
    rs = doc["data"]["run_settings"]
    assert rs["spin"] is True and rs["kpoints"] == [1, 1, 1] and rs["hfscreen"] == pytest.approx(0.208)
    assert load(folder)["backend"]["model"] == "HSE06"          # what is on disk says the same
    # the never-mix check now sees HSE06 against a PBE document of the same system
    pbe_backend = dict(b, model="PBE", settings=dict(b["settings"], functional="PBE"))
    pbe = dict(doc, backend=pbe_backend, level_of_theory=level_of_theory(pbe_backend, "input"))
    with pytest.raises(InputError, match="cannot mix"):
        check_same_backend([("hse", doc), ("pbe", pbe)])
    # a rerun returns the same completed document (the request's hash is unchanged)
    again = static(read(folder / "POSCAR"), folder, backend=get_backend("vasp", potcar="spec"))
    assert again["created"] == doc["created"] and again["backend"]["model"] == "HSE06"


def test_charged_run_parsed_with_its_charge(tmp_path):
    folder = _copy(VCD, tmp_path / "vcd")
    doc = static(read(folder / "POSCAR"), folder, backend=get_backend("vasp", potcar="spec"), charge=-2)
    assert doc["status"] == "completed" and doc["data"]["charge"] == -2 and doc["data"]["nelect"] == 566


@pytest.mark.parametrize("how,words", [
    ("composition", r"64 atoms \(Cd32Te32\) where the job's input has 5"),
    ("order", r"another atom order \(atom 0 is Cd there, Te in the input"),
    ("moved", r"other positions \(atom 0, Cd, is 0\.50 Å from its input position; at most 0\.1 Å"),
    ("cell", r"another cell .* 2\.9 % apart; at most 1 % for a static"),
    ("charge", r"charge \+0 \(from its NELECT\), the job asks for charge \+1"),
])
def test_outputs_of_another_job_are_refused(tmp_path, how, words):
    from pvatoms.build import cspbbr3
    folder = _copy(BULK, tmp_path / "bulk")
    atoms = read(folder / "POSCAR")
    charge = 0
    if how == "composition":
        atoms = cspbbr3("cubic")
    elif how == "order":
        atoms = atoms[::-1]
    elif how == "moved":
        atoms.positions[0] += [0.5, 0.0, 0.0]
    elif how == "cell":
        atoms.set_cell(atoms.cell * 1.03, scale_atoms=True)
    else:
        charge = 1
    with pytest.raises(InputError, match=words):
        static(atoms, folder, backend=get_backend("vasp", potcar="spec"), charge=charge)
    doc = load(folder)
    assert doc["status"] == "failed" and "not" in doc["reason"] and doc["energy"] is None


def test_a_relaxation_may_move_atoms_within_its_tolerance(tmp_path):
    """A relax compares its input with the run's initial and final structures with the
    relaxation tolerance (1.5 Å, 20 % of the cell): 0.5 Å off is accepted there."""
    folder = _copy(BULK, tmp_path / "bulk")
    atoms = read(folder / "POSCAR")
    atoms.positions[0] += [0.5, 0.0, 0.0]
    doc = relax(atoms, folder, backend=get_backend("vasp", potcar="spec"))
    assert doc["backend"]["model"] == "HSE06" and doc["level_of_theory"]["label"] == "HSE06//HSE06"
    out = parse_run(folder, expected=atoms, charge=0, job="relax")
    assert out["data"]["charge"] == 0
    with pytest.raises(InputError, match="other positions"):
        parse_run(folder, expected=atoms, charge=0, job="static")


def test_neb_images_must_hold_the_endpoints_atoms(tmp_path):
    """A NEB folder whose image OUTCARs are of CdTe is not the Br hop's: refused, where the raw
    parser (no expected endpoints) reads it (tests/test_vasp.py)."""
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from test_vasp import _br_hop_images
    backend = get_backend("vasp", potcar="spec")
    images, _, _ = _br_hop_images(1)
    neb = backend.prepare("neb", None, tmp_path / "neb", images=images, charge=1, endpoints=(BULK, BULK))
    shutil.copyfile(VCD / "OUTCAR.gz", neb / "01" / "OUTCAR.gz")
    assert backend.parse("neb", neb)["data"]["n_images"] == 1
    with pytest.raises(InputError, match="OUTCAR .* is of another system"):
        backend.parse("neb", neb, expected=(images[0], images[-1]))
    other = images[0].copy()
    other.positions[:] += np.array([0.0, 0.0, 2.0])
    with pytest.raises(InputError, match="other positions"):
        backend.parse("neb", neb, expected=(other, images[-1]))


def _vasprun_text(folder: Path) -> str:
    import gzip
    return gzip.open(folder / "vasprun.xml.gz", "rt").read()


def test_a_run_without_stress_parses_with_no_stress(tmp_path):
    """ISIF = 0 runs write no stress: the same real vasprun with its stress block removed parses,
    with stress None and the energy unchanged."""
    import re
    folder = _copy(BULK, tmp_path / "bulk")
    text = _vasprun_text(folder)
    stripped = re.sub(r'\s*<varray name="stress" >.*?</varray>', "", text, flags=re.S)
    assert text.count('<varray name="stress"') == 1 and '<varray name="stress"' not in stripped
    (folder / "vasprun.xml.gz").unlink()
    (folder / "vasprun.xml").write_text(stripped)
    doc = parse_run(folder)
    assert doc["stress"] is None and doc["energy"] == pytest.approx(-191.43077479, abs=1e-8)


def test_a_truncated_vasprun_is_refused_naming_the_file_and_the_parser_error(tmp_path):
    from pymatgen.io.vasp import Vasprun

    from pvatoms.calc.vasp_parse import VaspOutputError, read_vasprun
    folder = _copy(BULK, tmp_path / "bulk")
    text = _vasprun_text(folder)
    (folder / "vasprun.xml.gz").unlink()
    (folder / "vasprun.xml").write_text(text[: len(text) // 2])
    with pytest.raises(Exception) as raw:                 # what pymatgen itself raises on this file
        Vasprun(str(folder / "vasprun.xml"))
    with pytest.raises(VaspOutputError) as ours:
        read_vasprun(folder)
    message = str(ours.value)
    assert str(folder / "vasprun.xml") in message and f"{type(raw.value).__name__}: " in message


def test_the_functional_of_an_unset_gga_comes_from_the_potcars():
    """GGA unset (``--``): VASP takes the functional of the POTCARs. The real HSE06 run read with
    its own PAW_PBE titles is HSE06; the same parameters with LDA POTCAR titles (no "PBE") name an
    LDA-based hybrid; no titles given, PBE."""
    from pymatgen.io.vasp import Vasprun

    from pvatoms.calc.vasp_parse import run_settings
    run = Vasprun(str(BULK / "vasprun.xml.gz"), parse_dos=False, parse_eigen=False, parse_potcar_file=False)
    assert run.parameters.get("GGA") == "Pe"           # as the real run wrote it
    run.parameters["GGA"] = "--"
    assert any("PBE" in s for s in run.potcar_symbols) and run_settings(run)["functional"] == "HSE06"
    run.potcar_symbols = ["PAW Cd 06Sep2000", "PAW Te 08Apr2002"]
    assert run_settings(run)["functional"] == "hybrid LDA (AEXX=0.25, HFSCREEN=0.208)"
    assert run_functional({"GGA": "--"}, ["PAW Cd 06Sep2000"]) == "LDA" and run_functional({"GGA": "--"}) == "PBE"
