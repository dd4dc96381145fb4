"""The pvatoms command as installed: one parser, help for every group, repeatable list options,
the error and JSON paths, rerun with nothing to rerun."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from pvatoms.cli.main import COMMANDS, build_parser

GROUPS = ["build", "ligands", "run", "submit", "launch", "status", "rerun", "report", "qlaunch", "fw",
          "analyse", "demo"]
SUBCOMMANDS = {
    "build": ["bulk", "rp", "interface", "defects", "neb-endpoints", "slab", "ligands", "nanocrystal"],
    "ligands": ["list"],
    "run": ["relax", "static", "neb", "phonons", "band-edges"],
    "analyse": ["defects", "neb", "band-edges"],
}
#: reStructuredText / Markdown left in a help text
MARKUP = re.compile(r"`|:(func|mod|class|meth|data):|\*\*|\\n")


def test_registry_names_every_group_once():
    assert [name for name, _, _ in COMMANDS] == GROUPS


def test_top_level_help_lists_every_group_with_a_summary(run_cli):
    out = run_cli("--help").stdout
    for group in GROUPS:
        line = re.search(rf"^\s+{group}\s+(\S.*)$", out, re.M)
        assert line, f"{group} missing from pvatoms --help:\n{out}"
    assert not MARKUP.search(out)


@pytest.mark.parametrize("words", [[g] for g in GROUPS]
                         + [[g, s] for g, subs in SUBCOMMANDS.items() for s in subs])
def test_every_help_exits_0_without_markup(run_cli, words):
    proc = run_cli(*words, "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: pvatoms " + " ".join(words))
    assert not MARKUP.search(proc.stdout), MARKUP.search(proc.stdout)


def test_missing_group_or_kind_is_a_usage_error(run_cli):
    for words in ([], ["build"], ["run"], ["analyse"], ["ligands"]):
        proc = run_cli(*words, check=False)
        assert proc.returncode == 2 and "required" in proc.stderr


@pytest.mark.parametrize("argv,dest,expected", [
    (["build", "defects", "x.cif", "-o", "d", "--vacancy", "Br", "--vacancy", "Cs", "Pb"], "vacancy",
     ["Br", "Cs", "Pb"]),
    (["build", "defects", "x.cif", "-o", "d", "--interstitial", "Br", "--interstitial", "Cs"], "interstitial",
     ["Br", "Cs"]),
    (["build", "defects", "x.cif", "-o", "d", "--antisite", "Pb_Cs", "--antisite", "Cs_Pb"], "antisite",
     ["Pb_Cs", "Cs_Pb"]),
    (["build", "defects", "x.cif", "-o", "d", "--complex", "schottky-PbBr2", "--complex", "schottky-CsBr"],
     "complex", ["schottky-PbBr2", "schottky-CsBr"]),
    (["build", "defects", "x.cif", "-o", "d"], "vacancy", []),
    (["run", "band-edges", "x.cif", "-o", "d", "--bands", "vbm", "--bands", "cbm", "vbm-1"], "bands",
     ["vbm", "cbm", "vbm-1"]),
    (["run", "static", "x.cif", "-o", "d", "--option", "ecut=400", "--option", "kpts=[2,2,2]"], "option",
     ["ecut=400", "kpts=[2,2,2]"]),
    (["analyse", "neb", "a", "b", "-o", "d", "--labels", "x", "--labels", "y"], "labels", ["x", "y"]),
    (["analyse", "band-edges", "a", "-o", "d", "--states", "vbm", "--states", "cbm"], "states", ["vbm", "cbm"]),
    (["analyse", "defects", "a", "-o", "d", "--dielectric", "4", "--dielectric", "5", "6"], "dielectric",
     [4.0, 5.0, 6.0]),
])
def test_repeated_list_options_accumulate(argv, dest, expected):
    assert getattr(build_parser().parse_args(argv), dest) == expected


def test_band_edges_default_states_are_not_extended():
    args = build_parser().parse_args(["run", "band-edges", "x.cif", "-o", "d"])
    assert args.bands is None          # the runner uses vbm cbm; --bands vbm gives only vbm
    args = build_parser().parse_args(["run", "band-edges", "x.cif", "-o", "d", "--bands", "vbm"])
    assert args.bands == ["vbm"]


def test_repeated_vacancy_flags_build_both_defects(run_cli, tmp_path):
    run_cli("build", "bulk", "-o", "bulk.cif")
    doc = json.loads(run_cli("build", "defects", "bulk.cif", "--vacancy", "Br", "--vacancy", "Cs",
                             "-o", "d", "--json").stdout)
    names = sorted(d["name"] for d in doc["defects"])
    assert names == ["V_Br_4c", "V_Br_8d", "V_Cs_4c"]


def test_build_help_lists_every_kind(run_cli):
    out = run_cli("build", "--help").stdout
    for kind in SUBCOMMANDS["build"]:
        assert re.search(rf"^\s+{re.escape(kind)}(\s|$)", out, re.M), f"{kind} missing from pvatoms build --help"


def _moved(a, b):
    """Minimum-image displacement of every atom from ``a`` to ``b`` (Å), by ase.geometry.find_mic."""
    from ase.geometry import find_mic
    _, lengths = find_mic(b.positions - a.positions, a.cell, a.pbc)
    return lengths


@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # spglib's old error handling
def test_neb_endpoints_move_exactly_one_atom_by_the_hop(run_cli, tmp_path):
    """Br 8d -> nearest equivalent 8d in 2x2x2 Pnma: the same atoms in the same order, one atom moved
    by ~4.2 Å, into the one Br site of the perfect supercell that the initial cell leaves empty, and
    no symmetry-equivalent Br site is closer to it."""
    import ase.io
    import spglib
    from ase.geometry import find_mic
    run_cli("build", "bulk", "--phase", "pnma", "-o", "bulk.cif")
    doc = json.loads(run_cli("build", "neb-endpoints", "bulk.cif", "--element", "Br", "--site", "8d",
                             "--to", "nearest-equivalent", "--supercell", 2, 2, 2, "-o", "hop", "--json").stdout)
    ini, fin = ase.io.read(tmp_path / "hop" / "initial.extxyz"), ase.io.read(tmp_path / "hop" / "final.extxyz")
    index = json.loads((tmp_path / "hop" / "endpoints.json").read_text())
    assert ini.get_chemical_symbols() == fin.get_chemical_symbols() and np.allclose(ini.cell, fin.cell)
    assert len(ini) == 159 and ini.get_chemical_formula() == "Br95Cs32Pb32"
    lengths = _moved(ini, fin)
    moved = np.flatnonzero(lengths > 1e-4)
    assert moved.tolist() == [index["moving_atom"]] == [doc["hop"]["moving_atom"]]
    assert ini[moved[0]].symbol == "Br"
    assert lengths[moved[0]] == pytest.approx(index["distance"], abs=1e-4)
    assert lengths[moved[0]] == pytest.approx(4.2, abs=0.1)
    assert index["name"] == doc["hop"]["name"] == "V_Br_8d-hop" and index["site"] == "8d"
    assert {"site_from", "site_to", "distance", "files"} <= set(index)

    # independently: the perfect supercell as ase repeats it, and the site the initial cell leaves empty
    host = ase.io.read(tmp_path / "bulk.cif")
    perfect = host.repeat((2, 2, 2))                # atom k is atom k % len(host) of the unit cell
    _, d = find_mic((perfect.positions[:, None, :] - ini.positions[None, :, :]).reshape(-1, 3), perfect.cell, True)
    empty = np.flatnonzero(d.reshape(len(perfect), len(ini)).min(axis=1) > 0.1)
    assert len(empty) == 1 and perfect[empty[0]].symbol == "Br"
    vacancy = perfect.positions[empty[0]]
    assert find_mic(fin.positions[moved[0]] - vacancy, perfect.cell, True)[1] < 1e-3   # it moves in
    start = np.flatnonzero(find_mic(perfect.positions - ini.positions[moved[0]], perfect.cell, True)[1] < 1e-3)
    assert len(start) == 1

    def dataset(atoms):
        return spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers),
                                           symprec=0.01)
    assert dataset(host).wyckoffs[empty[0] % len(host)] == "d"
    equiv = dataset(perfect).equivalent_atoms
    assert equiv[start[0]] == equiv[empty[0]]       # from an equivalent site ...
    same = [k for k in range(len(perfect)) if equiv[k] == equiv[empty[0]] and k != empty[0]]
    nearest = find_mic(perfect.positions[same] - vacancy, perfect.cell, True)[1].min()
    assert lengths[moved[0]] == pytest.approx(nearest, abs=1e-4)     # ... the nearest one


def test_independently_built_vacancy_cells_are_not_endpoints(run_cli, tmp_path):
    """What the README warns about: V_Br_8d and V_Br_4c from pvatoms build defects have the same
    atoms in the same order, but 8 atoms differ between them, one by ~13 Å."""
    import ase.io
    run_cli("build", "bulk", "--phase", "pnma", "--lattice", "experiment", "-o", "bulk.cif")
    run_cli("build", "defects", "bulk.cif", "--vacancy", "Br", "--supercell", 2, 2, 2, "-o", "d")
    a, b = (ase.io.read(tmp_path / "d" / f"V_Br_{w}.extxyz") for w in ("8d", "4c"))
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    lengths = _moved(a, b)
    assert (lengths > 1e-3).sum() == 8 and lengths.max() == pytest.approx(13.0, abs=0.1)


def test_neb_endpoints_refuse_bad_choices(run_cli):
    run_cli("build", "bulk", "-o", "bulk.cif")
    for extra, words in ((["--site", "9z"], "sites: V_Br_8d, V_Br_4c"), (["--to", "far"], "--to"),
                         (["--format", "cif"], "--format")):
        proc = run_cli("build", "neb-endpoints", "bulk.cif", "--element", "Br", *extra, "-o", "x", check=False)
        assert proc.returncode == 2 and proc.stderr.startswith("pvatoms: error: ") and words in proc.stderr


def test_input_error_is_one_line_exit_2(run_cli):
    proc = run_cli("build", "defects", "missing.cif", "--vacancy", "Br", "-o", "d", "--json", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("pvatoms: error: ") and "Traceback" not in proc.stderr


def test_rerun_fizzled_with_nothing_fizzled_exits_0(run_cli, tmp_path):
    proc = run_cli("rerun", "--fizzled", "--store", "store")
    assert "nothing to rerun" in proc.stderr and proc.stdout == ""
    doc = json.loads(run_cli("rerun", "--fizzled", "--store", "store", "--json").stdout)
    assert doc == {"rerun": []}
    proc = run_cli("rerun", "--store", "store", check=False)      # neither --fizzled nor ids
    assert proc.returncode == 2 and "give --fizzled or fw_ids" in proc.stderr


def test_ligands_list_json(run_cli):
    doc = json.loads(run_cli("ligands", "list", "--json").stdout)
    assert {"acetate", "oleylammonium"} <= {r["name"] for r in doc["ligands"]}


def test_nothing_outside_the_cli_imports_it():
    root = Path(__file__).resolve().parents[1] / "pvatoms"
    pattern = re.compile(r"^\s*(from\s+pvatoms\.cli\b|import\s+pvatoms\.cli\b|from\s+pvatoms\s+import\s+.*\bcli\b)",
                         re.M)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "cli" not in p.relative_to(root).parts[:1] and pattern.search(p.read_text())]
    assert offenders == []
