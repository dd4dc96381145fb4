"""Defect numbers against references that share nothing with pvatoms' parsing: the CdTe V_Cd^{2-}
and bulk VASP outputs (tests/data/vasp/cdte, real HSE06 runs from SMTG-Bham/doped) read here with
pymatgen's own Vasprun and Outcar, straight from the files; the formation energy then by hand,

    ΔH(V_Cd^q; E_F) = E(V_Cd^q) − E(bulk) + μ_Cd + q (E_VBM + E_F) + E_corr,   q = −2,

with E_VBM the bulk VBM as pymatgen reads it (``Vasprun.eigenvalue_band_properties``), μ_Cd a
made-up chemical potential (the same number on both sides) and E_corr a given number, so that
neither the correction code nor pvatoms' band-edge parser enters the reference. A VBM shifted by
δ moves ΔH by q δ = −2 δ: 0.2 eV for a 0.1 eV error in the eigenvalues.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

CDTE = Path(__file__).parent / "data" / "vasp" / "cdte"
BULK, VCD = "bulk_vasp_gam", "v_Cd_-2_vasp_gam"
MU_CD = -1.25          # eV/atom, made up (both sides use it)
E_CORR = 0.75          # eV, given (the eFNV value doped reports for this cell is 0.751 eV)


def _pymatgen(sub: str) -> dict:
    """Energy, VBM, CBM, gap, NELECT and ZVAL of one run, read by pymatgen alone."""
    from pymatgen.io.vasp.outputs import Outcar, Vasprun

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = Vasprun(str(CDTE / sub / "vasprun.xml.gz"), parse_dos=False, parse_potcar_file=False)
        outcar = Outcar(str(CDTE / sub / "OUTCAR.gz"))
    outcar.read_pseudo_zval()
    gap, cbm, vbm, direct = run.eigenvalue_band_properties
    return {"energy": float(outcar.final_energy), "vasprun_energy": float(run.final_energy),
            "vbm": float(vbm), "cbm": float(cbm), "gap": float(gap), "direct": bool(direct),
            "nelect": float(run.parameters["NELECT"]), "zval": dict(outcar.zval_dict),
            "composition": run.final_structure.composition.as_dict()}


@pytest.fixture(scope="module")
def ref():
    return {BULK: _pymatgen(BULK), VCD: _pymatgen(VCD)}


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    """Result documents of the two runs through pvatoms' job path (outputs present: parsed)."""
    from ase.io import read

    from pvatoms.calc import get_backend
    from pvatoms.jobs import static

    backend = get_backend("vasp", functional="HSE06", encut=350, kpoints=(1, 1, 1), spin=True, potcar="spec")
    root = tmp_path_factory.mktemp("cdte")
    out = {}
    for sub in (BULK, VCD):
        shutil.copytree(CDTE / sub, root / sub)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            doc = static(read(root / sub / "POSCAR"), root / sub, backend=backend,
                         charge=-2 if sub == VCD else 0, defect=True)
        assert doc["status"] == "completed", doc.get("reason")
        doc["_label"] = sub
        out[sub] = doc
    return out


def test_energies_band_edges_and_charge_equal_pymatgen(docs, ref):
    for sub in (BULK, VCD):
        doc, r = docs[sub], ref[sub]
        assert r["energy"] == pytest.approx(r["vasprun_energy"], abs=1e-8)
        assert doc["energy"] == pytest.approx(r["energy"], abs=1e-8)
        edges = doc["band_edges"]
        assert edges["vbm"] == pytest.approx(r["vbm"], abs=1e-6)
        assert edges["cbm"] == pytest.approx(r["cbm"], abs=1e-6)
        assert edges["gap"] == pytest.approx(r["gap"], abs=1e-6)
        assert edges["direct"] is r["direct"]
        # charge = neutral electron count (ZVAL per atom, OUTCAR) − NELECT, counted here
        neutral = sum(n * r["zval"][el] for el, n in r["composition"].items())
        assert doc["data"]["charge"] == round(neutral - r["nelect"])
    assert ref[BULK]["composition"] == {"Cd": 32, "Te": 32}
    assert docs[VCD]["data"]["charge"] == -2          # 31·12 + 32·6 = 564 neutral, NELECT 566


def _by_hand(ref, fermi_level: float, correction: float = E_CORR) -> float:
    q = -2
    return (ref[VCD]["energy"] - ref[BULK]["energy"] + MU_CD
            + q * (ref[BULK]["vbm"] + fermi_level) + correction)


@pytest.mark.parametrize("fermi_level", [0.0, 0.37, 1.469])
def test_vcd_formation_energy_by_hand(docs, ref, fermi_level):
    from pvatoms.analysis.defects import formation_energy
    from pvatoms.analysis.defects.thermodynamics import formation_energy_terms

    mine = formation_energy(docs[VCD], docs[BULK], {"Cd": MU_CD}, fermi_level=fermi_level, correction=E_CORR)
    assert mine == pytest.approx(_by_hand(ref, fermi_level), abs=1e-6)
    terms = formation_energy_terms(docs[VCD], docs[BULK], {"Cd": MU_CD}, fermi_level, correction=E_CORR)
    assert terms["n"] == {"Cd": -1} and terms["charge"] == -2
    assert terms["chemical_potential_term"] == pytest.approx(MU_CD, abs=1e-12)     # −(−1) μ_Cd
    assert terms["charge_term"] == pytest.approx(-2 * (ref[BULK]["vbm"] + fermi_level), abs=1e-6)
    uncorrected = formation_energy(docs[VCD], docs[BULK], {"Cd": MU_CD}, fermi_level=fermi_level)
    assert uncorrected == pytest.approx(_by_hand(ref, fermi_level, 0.0), abs=1e-6)


def test_vcd_formation_energy_through_defect_thermodynamics(docs, ref):
    """The analysis object, its lines (slope q = −2 in E_F) and its table, with the correction
    given and the chemical potentials as {limit: {element: μ}}."""
    from pvatoms.analysis.defects import DefectThermodynamics

    limits = {"Cd-rich": {"Cd": MU_CD, "Te": -4.0}, "Cd-poor": {"Cd": MU_CD - 0.8, "Te": -3.6}}
    thermo = DefectThermodynamics(docs[BULK], [docs[VCD]], limits, corrections={VCD: E_CORR})
    (entry,) = thermo.entries
    assert entry.name == "V_Cd" and entry.charge == -2 and entry.correction_energy == E_CORR
    assert thermo.vbm == pytest.approx(ref[BULK]["vbm"], abs=1e-6)
    assert thermo.band_gap == pytest.approx(ref[BULK]["gap"], abs=1e-6)
    for ef in (0.0, 0.9):
        assert thermo.formation_energy("V_Cd", -2, "Cd-rich", ef) == pytest.approx(_by_hand(ref, ef), abs=1e-6)
        assert thermo.formation_energy("V_Cd", -2, "Cd-poor", ef) == pytest.approx(
            _by_hand(ref, ef) - 0.8, abs=1e-6)                     # μ_Cd lower by 0.8 eV
    assert thermo.lines("Cd-rich") == {"V_Cd": {-2: pytest.approx(_by_hand(ref, 0.0), abs=1e-6)}}
    (row,) = thermo.table_rows(fermi_level=0.5)
    values = [v for k, v in row.items() if k.startswith("E_f ")]
    assert sorted(values) == pytest.approx(sorted([_by_hand(ref, 0.5), _by_hand(ref, 0.5) - 0.8]), abs=1e-6)
