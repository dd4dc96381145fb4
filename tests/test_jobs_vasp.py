"""VASP through the jobs: inputs written and a clear stop without a VASP command; outputs computed
elsewhere parsed into the same result document; and a whole job (prepare -> custodian -> VASP ->
parse) with the fake VASP of tests/fake_vasp, which checks the inputs it is given and lays down
real outputs (the CdTe HSE06 runs of tests/data/vasp/cdte), the numbers checked against pymatgen's
own readers on the same files."""

import shutil
from pathlib import Path

import pytest
from ase.io import read

from pvatoms.build import cspbbr3
from pvatoms.calc import get_backend
from pvatoms.errors import InputError
from pvatoms.jobs import static
from pvatoms.schema import load

CDTE = Path(__file__).parent / "data" / "vasp" / "cdte"


def test_static_without_vasp_command_writes_inputs_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("PVATOMS_VASP_CMD", raising=False)
    with pytest.raises(InputError, match="PVATOMS_VASP_CMD.*inputs are in"):
        static(cspbbr3(), tmp_path / "v", backend=get_backend("vasp", potcar="spec"), charge=1)
    for name in ("INCAR", "KPOINTS", "POSCAR", "POTCAR.spec"):
        assert (tmp_path / "v" / name).is_file()
    doc = load(tmp_path / "v")
    assert doc["status"] == "failed" and doc["backend"]["name"] == "vasp"
    incar = (tmp_path / "v" / "INCAR").read_text()
    # neutral Cs4Pb4Br12 with Cs_sv (9), Pb_d (14), Br (7): 36 + 56 + 84 = 176 electrons; q = +1
    assert "NELECT = 175.0" in incar


def test_outputs_computed_elsewhere_are_parsed_into_the_document(tmp_path):
    shutil.copytree(CDTE / "bulk_vasp_gam", tmp_path / "bulk")
    atoms = read(tmp_path / "bulk" / "POSCAR")
    doc = static(atoms, tmp_path / "bulk", backend=get_backend("vasp", potcar="spec"))
    assert doc["status"] == "completed"
    assert doc["energy"] == pytest.approx(-191.43077479, abs=1e-6)
    assert doc["data"]["parsed_existing_outputs"] and doc["data"]["settings"] == {"charge": 0}
    assert doc["band_edges"]["gap"] > 0 and "locpot" in {k.lower() for k in doc["files"]}


# ---------------------------------------------------------------- a VASP job run end to end (fake VASP)

#: INCAR tags that change the numbers: the job's inputs must carry the reference run's values
PHYSICS_KEYS = ("ENCUT", "LHFCALC", "AEXX", "HFSCREEN", "GGA", "ISPIN", "NSW", "IBRION", "ISIF", "ISYM",
                "ISMEAR", "SIGMA", "NELECT", "LVHAR", "PREC", "LASPH")


def _cdte_backend(**extra):
    """The settings of the CdTe reference runs: HSE06 with the screening 0.208 Å^-1 they used,
    350 eV, Γ only, spin-polarised, stand-in POTCARs (potcar='auto')."""
    return get_backend("vasp", functional="HSE06", encut=350, kpoints=(1, 1, 1), spin=True,
                       user_incar={"HFSCREEN": 0.208}, poll_seconds=0.05, **extra)


def _pymatgen_reference(folder):
    """Energy, forces, stress (ASE sign, eV/Å³), band edges and NELECT read with pymatgen alone."""
    import warnings

    import numpy as np
    from ase.units import GPa
    from pymatgen.io.vasp.outputs import Outcar, Vasprun
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = Vasprun(str(folder / "vasprun.xml.gz"), parse_dos=False, parse_potcar_file=False)
    gap, cbm, vbm, _ = run.eigenvalue_band_properties
    s = -0.1 * GPa * np.asarray(run.ionic_steps[-1]["stress"])
    return {"energy": Outcar(str(folder / "OUTCAR.gz")).final_energy, "vbm": vbm, "cbm": cbm, "gap": gap,
            "forces": np.asarray(run.ionic_steps[-1]["forces"]), "nelect": run.parameters["NELECT"],
            "stress": [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]}


@pytest.mark.parametrize("sub,charge,nelect", [("bulk_vasp_gam", 0, None), ("v_Cd_-2_vasp_gam", -2, 566)])
def test_static_job_runs_vasp_under_custodian_and_parses_what_it_wrote(tmp_path, monkeypatch, sub, charge, nelect):
    """prepare -> execute (custodian starting the fake VASP, which checks the INCAR, KPOINTS,
    POSCAR and POTCAR and lays down the real outputs) -> parse, to a completed document whose
    numbers equal pymatgen's readers on the same files. NELECT of V_Cd^{2-} counted by hand:
    31 Cd x 12 + 32 Te x 6 = 564 valence electrons, q = -2 -> 566 (the reference run's value)."""
    import numpy as np

    import fake_vasp
    fake_vasp.stand_in_potcars(monkeypatch, tmp_path / "psp", {"Cd": 12, "Te": 6})
    expected = {"LHFCALC": True, "AEXX": 0.25, "ENCUT": 350, "ISPIN": 2, "NSW": 0, "IBRION": -1,
                "LVHAR": True, "ISYM": 0, "ISIF": 2}
    keys = PHYSICS_KEYS
    if charge:
        expected["NELECT"] = nelect
    else:
        # the bulk reference ran one ionic step (IBRION 1, NSW 1): its numbers are those of the
        # starting structure, a single point; every other tag as the static writes it
        keys = tuple(k for k in PHYSICS_KEYS if k not in ("NSW", "IBRION"))
    fake_vasp.expect(monkeypatch, tmp_path, CDTE / sub, reference_keys=keys, incar=expected,
                     incar_absent=() if charge else ("NELECT",), kpoints=(1, 1, 1), potcar=["Cd", "Te"])
    atoms = read(CDTE / sub / "POSCAR")
    folder = tmp_path / "job"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # pymatgen: unknown POTCAR hashes
        # both supercells with the defect conventions (symmetry off, LVHAR), as the reference runs
        doc = static(atoms, folder, backend=_cdte_backend(), charge=charge, defect=True)
    assert doc["status"] == "completed", doc.get("reason")
    (call,) = fake_vasp.calls(folder)
    assert call["problems"] == [] and "vasprun.xml" in call["outputs"]
    assert (folder / "custodian.json").is_file() and "parsed_existing_outputs" not in doc["data"]
    ref = _pymatgen_reference(CDTE / sub)
    assert doc["energy"] == pytest.approx(ref["energy"], abs=1e-8)
    assert doc["energy_per_atom"] == pytest.approx(ref["energy"] / len(atoms), abs=1e-10)
    assert np.asarray(doc["forces"]) == pytest.approx(ref["forces"], abs=1e-8)
    assert doc["stress"] == pytest.approx(ref["stress"], abs=1e-12)
    for key in ("vbm", "cbm", "gap"):
        assert doc["band_edges"][key] == pytest.approx(ref[key], abs=1e-6)
    assert doc["data"]["nelect"] == ref["nelect"] and doc["data"]["charge"] == charge
    assert doc["data"]["settings"]["charge"] == charge and doc["backend"]["model"] == "HSE06"
    assert load(folder)["status"] == "completed"


def test_fake_vasp_refuses_inputs_that_do_not_match_the_reference_run(tmp_path, monkeypatch):
    """The fake is a real check: the same job at ENCUT 400 eV does not reproduce the reference
    run (350 eV), so the fake refuses it, writes no outputs, and the job ends as a failed document
    (custodian's validator finds no vasprun.xml) naming the reason."""
    import warnings

    import fake_vasp
    fake_vasp.stand_in_potcars(monkeypatch, tmp_path / "psp", {"Cd": 12, "Te": 6})
    fake_vasp.expect(monkeypatch, tmp_path, CDTE / "bulk_vasp_gam", reference_keys=("ENCUT", "LHFCALC"))
    backend = get_backend("vasp", functional="HSE06", encut=400, kpoints=(1, 1, 1), spin=True,
                          user_incar={"HFSCREEN": 0.208}, poll_seconds=0.05)
    folder = tmp_path / "job"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = static(read(CDTE / "bulk_vasp_gam" / "POSCAR"), folder, backend=backend, defect=True)
    assert doc["status"] == "failed" and "VasprunXMLValidator" in doc["reason"]
    (call,) = fake_vasp.calls(folder)
    assert call["outputs"] == [] and any("ENCUT = 400" in p and "350" in p for p in call["problems"])
    assert "ENCUT" in (folder / "vasp.out").read_text()
