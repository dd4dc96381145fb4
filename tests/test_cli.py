"""The pvatoms command as installed: one parser, help for every group, repeatable list options,
the error and JSON paths, rerun with nothing to rerun."""

import json
import re
from pathlib import Path

import pytest

from pvatoms.cli.main import COMMANDS, build_parser

GROUPS = ["build", "ligands", "run", "submit", "launch", "status", "rerun", "report", "qlaunch", "fw",
          "analyse", "demo"]
SUBCOMMANDS = {
    "build": ["bulk", "rp", "interface", "defects", "slab", "ligands", "nanocrystal"],
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
