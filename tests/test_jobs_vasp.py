"""VASP through the jobs: inputs written and a clear stop without a VASP command; outputs computed
elsewhere parsed into the same result document."""

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
