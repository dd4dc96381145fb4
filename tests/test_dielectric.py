"""The dielectric job: VASP DFPT inputs against the reference conventions; GPAW's electronic ε∞
(RPA with local fields) on cubic CsPbBr3, its use in a defect study, and the refusals."""

from __future__ import annotations

import pytest

from pvatoms.build import cspbbr3
from pvatoms.errors import InputError


def _incar(path):
    from pymatgen.io.vasp.inputs import Incar
    return Incar.from_file(str(path))


def test_vasp_dielectric_inputs_are_dfpt(tmp_path):
    from pvatoms.calc import get_backend
    get_backend("vasp", potcar="spec").prepare("dielectric", cspbbr3("cubic"), tmp_path)
    incar = _incar(tmp_path / "INCAR")
    assert incar["LEPSILON"] is True and incar["IBRION"] == 8 and incar["EDIFF"] <= 1e-8
    assert incar["LREAL"] is False and incar["NSW"] == 1


def test_mlip_has_no_dielectric_job(tmp_path):
    from pvatoms.jobs import dielectric
    with pytest.raises(InputError, match="machine-learned"):
        dielectric(cspbbr3("cubic"), tmp_path, backend="chgnet")


@pytest.mark.slow
def test_gpaw_electronic_dielectric_of_cubic_cspbbr3(tmp_path):
    """ε∞ of cubic CsPbBr3 (PBE, RPA with local fields): isotropic, above 1, local fields lower it,
    and of the order of the PBE DFPT figures (4-6; the cubic PBE gap is small, so ε∞ is larger than
    Pnma's ~4.2). The total is not computed, and a study must then ask for the electronic part."""
    pytest.importorskip("gpaw")
    from pvatoms.jobs import dielectric
    from pvatoms.studies.analyses import dielectric_of
    doc = dielectric(cspbbr3("cubic"), tmp_path / "eps", backend="gpaw", kpts=(4, 4, 4), ecut=300, nbands=60)
    assert doc["status"] == "completed", doc["reason"]
    eps = doc["data"]["dielectric"]
    lf, nlf = eps["electronic"], eps["electronic_no_local_fields"]
    assert lf[0][0] == pytest.approx(lf[1][1], rel=1e-3) == pytest.approx(lf[2][2], rel=1e-3)
    assert 3.5 < lf[0][0] < 7.5 and lf[0][0] < nlf[0][0]
    assert eps["total"] is None and "ionic part not computed" in eps["method"]
    assert doc["level_of_theory"]["label"] == "PBE//input"
    with pytest.raises(InputError, match="total ε was not computed"):
        dielectric_of({"from": str(tmp_path / "eps"), "part": "total", "source": "x"})
    value, source = dielectric_of({"from": str(tmp_path / "eps"), "part": "electronic", "source": "ε∞ here"})
    assert value == lf and "GPAW RPA" in source
