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


# ---------------------------------------------------------------- VASP DFPT outputs

#: DFPT tensors written into a real vasprun.xml (the shared CdTe bulk run) where VASP 5.4 puts
#: them: ``varray`` children of the last ``calculation`` ("epsilon": ε∞ with local fields;
#: "epsilon_ion": the ionic part from IBRION 7/8). Values of CdTe's order (ε∞ ≈ 7.9, ε0 ≈ 10.4),
#: deliberately anisotropic and with off-diagonal terms, so that a transposed or misread row shows.
EPS_ELECTRONIC = [[7.91, 0.02, -0.01], [0.02, 7.88, 0.03], [-0.01, 0.03, 7.95]]
EPS_IONIC = [[2.51, 0.00, 0.04], [0.00, 2.47, 0.00], [0.04, 0.00, 2.55]]


def _dfpt_run(folder, electronic=EPS_ELECTRONIC, ionic=EPS_IONIC):
    import gzip
    import re
    from pathlib import Path
    src = Path(__file__).parent / "data" / "vasp" / "cdte" / "bulk_vasp_gam" / "vasprun.xml.gz"
    xml = gzip.open(src, "rt").read()
    xml = re.sub(r"<projected>.*?</projected>", "", xml, flags=re.S)     # not needed; 90 % of the file

    def varray(name, rows):
        body = "".join(f"   <v> {'  '.join(f'{x:12.6f}' for x in row)} </v>\n" for row in rows)
        return f'  <varray name="{name}" >\n{body}  </varray>\n'
    blocks = (varray("epsilon", electronic) if electronic else "") + (varray("epsilon_ion", ionic) if ionic else "")
    end = xml.rindex("</calculation>")
    folder.mkdir(parents=True)
    (folder / "vasprun.xml").write_text(xml[:end] + blocks + xml[end:])
    return folder


def test_vasp_dfpt_tensors_are_read_and_summed(tmp_path):
    import numpy as np
    from pvatoms.calc.vasp_parse import VaspOutputError, parse_dielectric
    eps = parse_dielectric(_dfpt_run(tmp_path / "both"))
    assert np.allclose(eps["electronic"], EPS_ELECTRONIC, atol=1e-6)
    assert np.allclose(eps["ionic"], EPS_IONIC, atol=1e-6)
    assert np.allclose(eps["total"], np.add(EPS_ELECTRONIC, EPS_IONIC), atol=1e-6)
    assert eps["total"][0][2] == pytest.approx(0.03) and eps["total"][2][2] == pytest.approx(10.50)
    assert "IBRION 7/8" in eps["method"]
    only = parse_dielectric(_dfpt_run(tmp_path / "electronic", ionic=None))   # LEPSILON without IBRION 7/8
    assert only["ionic"] is None and only["total"] is None and "no ionic part" in only["method"]
    with pytest.raises(VaspOutputError, match="LEPSILON"):
        parse_dielectric(_dfpt_run(tmp_path / "plain", electronic=None, ionic=None))
