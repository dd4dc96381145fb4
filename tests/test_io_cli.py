"""File formats, overlapping-atom detection, and the pvatoms command through a subprocess."""

import json

import numpy as np
import pytest
from ase import Atoms

from pvatoms.build import rp_interface
from pvatoms.errors import InputError
from pvatoms.io import read_structure, write_structure


def test_extxyz_keeps_labels_and_provenance(tmp_path):
    atoms = rp_interface(1, 1, 3)
    back = read_structure(write_structure(atoms, tmp_path / "i.extxyz"))
    assert list(back.arrays["region"]) == list(atoms.arrays["region"])
    assert np.allclose(back.arrays["boundary_distance"], atoms.arrays["boundary_distance"])
    assert back.info["provenance"] == atoms.info["provenance"]
    assert back.info["boundary_planes"] == pytest.approx(atoms.info["boundary_planes"])


@pytest.mark.parametrize("name", ["x.vasp", "POSCAR", "x.cif"])
def test_vasp_and_cif_keep_structure_and_order(tmp_path, pnma, name):
    back = read_structure(write_structure(pnma, tmp_path / name))
    assert back.get_chemical_symbols() == pnma.get_chemical_symbols()
    assert np.allclose(back.cell, pnma.cell, atol=1e-5)
    d = back.get_scaled_positions() - pnma.get_scaled_positions()
    assert np.allclose(d - np.rint(d), 0, atol=1e-5)


def test_overlapping_atoms_are_refused_with_the_pair_named(tmp_path, pnma):
    bad = pnma.copy()
    bad += Atoms("Br", positions=[pnma.positions[5] + [0.3, 0, 0]])
    path = write_structure(bad, tmp_path / "bad.vasp")
    with pytest.raises(InputError, match=r"overlapping atoms .*Pb5 and Br20 are 0.300 Å apart"):
        read_structure(path)


def test_unknown_extension_and_missing_file(tmp_path, pnma):
    with pytest.raises(InputError, match=r"\.cif"):
        write_structure(pnma, tmp_path / "x.pdbqt")
    with pytest.raises(InputError, match="not found"):
        read_structure(tmp_path / "missing.cif")


def test_cli_help_is_followable(run_cli):
    out = run_cli("--help").stdout
    assert "build" in out and "demo" in out
    out = run_cli("build", "interface", "--help").stdout
    for flag in ("--rp-n", "--rp-layers", "--perovskite-layers", "--axis"):
        assert flag in out


def test_cli_build_bulk_json_report(run_cli, tmp_path):
    doc = json.loads(run_cli("build", "bulk", "--phase", "pnma", "--lattice", "experiment",
                             "-o", "bulk.cif", "--json").stdout)
    assert doc["formula"] == "Cs4Pb4Br12" and doc["natoms"] == 20
    assert doc["spacegroup"]["symbol"] == "Pnma" and doc["spacegroup"]["symprec"] == 0.01
    assert doc["regions"] == {"perovskite": {"Br": 12, "Cs": 4, "Pb": 4}}
    assert doc["provenance"]["arguments"]["lattice"] == "experiment"
    assert np.allclose(np.diag(doc["cell"]), [8.244, 11.735, 8.198])
    assert (tmp_path / "bulk.cif").is_file() and doc["outputs"] == ["bulk.cif"]


def test_cli_interface_then_defects_near_boundary(run_cli, tmp_path):
    doc = json.loads(run_cli("build", "interface", "--rp-n", "1", "--rp-layers", "1",
                             "--perovskite-layers", "3", "-o", "iface.extxyz", "--json").stdout)
    assert set(doc["regions"]) == {"rp", "boundary", "perovskite"}
    iface = doc["interface"]
    assert {"in_plane_strain", "boundary_separation", "boundary_planes"} <= set(iface)
    doc = json.loads(run_cli("build", "defects", "iface.extxyz", "--vacancy", "Br", "Cs",
                             "--max-distance-from-boundary", "3", "-o", "near", "--json").stdout)
    index = json.loads((tmp_path / "near" / "defects.json").read_text())
    assert [d["name"] for d in doc["defects"]] == [d["name"] for d in index["defects"]]
    for d in index["defects"]:
        assert d["boundary_distance"] <= 3.0 and (tmp_path / "near" / d["file"]).is_file()
        assert {"site", "wyckoff", "multiplicity", "position", "region", "charges"} <= set(d)


def test_cli_defects_in_pnma_supercell(run_cli, tmp_path):
    run_cli("build", "bulk", "-o", "POSCAR")
    run_cli("build", "defects", "POSCAR", "--vacancy", "Br", "Pb", "Cs", "--supercell", "2", "2", "2",
            "--format", "vasp", "-o", "vac")
    index = json.loads((tmp_path / "vac" / "defects.json").read_text())
    names = sorted(d["name"] for d in index["defects"])
    assert names == ["V_Br_4c", "V_Br_8d", "V_Cs_4c", "V_Pb_4b"]
    assert index["perfect"]["natoms"] == 160
    atoms = read_structure(tmp_path / "vac" / "V_Pb_4b.vasp")
    assert atoms.get_chemical_formula() == "Br96Cs32Pb31"


@pytest.mark.parametrize("args,words", [
    (["build", "bulk", "--phase", "hexagonal", "-o", "x.cif"], ["hexagonal", "pnma, tetragonal, cubic"]),
    (["build", "rp", "--n", "0", "-o", "x.cif"], ["1, 2, 3", "got 0"]),
    (["build", "interface", "--rp-layers", "-1", "-o", "x.cif"], ["rp-layers", "-1"]),
    (["build", "defects", "missing.cif", "--vacancy", "Br", "-o", "d"], ["missing.cif", "not found"]),
])
def test_cli_bad_input_exit_code_and_message(run_cli, args, words):
    proc = run_cli(*args, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in proc.stderr


def test_demo_structures_and_pictures(tmp_path):
    """The first step of `pvatoms demo`: structures with provenance, vacancy set, pictures."""
    from pvatoms.demo import build_structures
    docs = build_structures(tmp_path)
    assert {d["name"] for d in docs["vacancies"]} == {"V_Br_4c", "V_Br_8d", "V_Pb_4b", "V_Cs_4c"}
    for name, doc in docs.items():
        if name == "vacancies":
            continue
        assert (tmp_path / "structures" / name).is_file()
        assert doc["provenance"]["builder"].startswith("pvatoms.build")
    assert (tmp_path / "structures" / "vacancies" / "defects.json").is_file()
    assert (tmp_path / "figures" / "interface.png").stat().st_size > 10_000
