"""The catalogue of bad input: one case per line, each a refusal that names the bad value and what
is valid — never a traceback, never a silently wrong result.

A case is ``(name, run, expected, pattern)``:

- ``run``: ``cli("run", "static", "{ws}/cubic.cif", ...)`` runs ``pvatoms ARGS`` in this process
  (``{ws}`` is the workspace folder, prepared once per module), or ``api(lambda ws: ...)`` calls
  the Python API;
- ``expected``: the exit status (int) of a command, or the exception class of an API call;
  ``OK`` for a call that must succeed;
- ``pattern``: a regular expression the error message (stderr, or ``str(exception)``) must
  match; for ``OK`` cases a check ``lambda ws, value: ...`` that must return True.

Add a case by adding a line. ``python tests/test_bad_input.py`` prints how each case ends
(clear refusal / traceback / silently wrong), each in its own process with a time limit, so it
can also be run against an older checkout (``PYTHONPATH=old-checkout``) for a before/after count.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
CDTE = HERE / "data" / "vasp" / "cdte"
OK = "ok"


# ---------------------------------------------------------------- how a case runs

class Outcome:
    """How a case ended: ``code`` (exit status), ``exc`` (exception raised), ``value``, ``message``."""

    def __init__(self, code=None, exc=None, value=None, message=""):
        self.code, self.exc, self.value, self.message = code, exc, value, message


def cli(*argv):
    """A command line: ``pvatoms ARGV`` through :func:`pvatoms.cli.main.main`, in this process."""
    def run(ws: Path) -> Outcome:
        from pvatoms.cli.main import main
        args = [str(a).format(ws=ws) for a in argv]
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(args)
        except SystemExit as exc:                     # argparse: usage errors exit 2
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:                      # escaped the one error path: a traceback
            return Outcome(exc=exc, message=f"{type(exc).__name__}: {exc}\n{err.getvalue()}")
        return Outcome(code=code, message=err.getvalue())
    run.label = "pvatoms " + " ".join(argv)
    return run


def api(fn):
    """A Python API call ``fn(ws)``."""
    def run(ws: Path) -> Outcome:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                value = fn(ws)
        except Exception as exc:
            return Outcome(exc=exc, value=None, message=f"{type(exc).__name__}: {exc}")
        return Outcome(value=value)
    return run


def classify(outcome: Outcome, expected, pattern, ws: Path) -> tuple[str, str]:
    """('refusal' | 'ok' | 'traceback' | 'silently wrong', why)."""
    from pvatoms.errors import InputError
    if expected == OK:
        if outcome.exc is not None:
            return "traceback", outcome.message
        if isinstance(outcome.value, Outcome) or outcome.code not in (None, 0):
            return "silently wrong", f"exit {outcome.code}: {outcome.message[-300:]}"
        try:
            good = pattern(ws, outcome.value)
        except Exception as exc:
            return "silently wrong", f"check failed: {type(exc).__name__}: {exc}"
        return ("ok", "") if good else ("silently wrong", "the result is not what it must be")
    if isinstance(expected, int):
        if outcome.exc is not None:
            return "traceback", outcome.message
        if "Traceback" in outcome.message:
            return "traceback", outcome.message[-500:]
        if outcome.code != expected:
            return "silently wrong", f"exit {outcome.code}, expected {expected}: {outcome.message[-300:]}"
    else:
        if outcome.exc is None:
            return "silently wrong", f"no error (returned {str(outcome.value)[:200]})"
        if not isinstance(outcome.exc, expected):
            kind = "traceback" if not isinstance(outcome.exc, InputError) else "silently wrong"
            return kind, outcome.message
    if not re.search(pattern, outcome.message, re.S):
        return "silently wrong", f"message does not name the problem ({pattern!r}): {outcome.message[-400:]}"
    return "refusal", ""


# ---------------------------------------------------------------- workspace

CIF_TAIL = "  Br  Br3       1.0  0.0  0.0  0.5  1.0000\n"


def prepare(ws: Path) -> Path:
    """Input files the cases use (every case gets its own output folder)."""
    import ase.io

    from pvatoms.build import cspbbr3
    ws.mkdir(parents=True, exist_ok=True)
    cubic = cspbbr3("cubic")
    ase.io.write(ws / "cubic.cif", cubic)
    text = (ws / "cubic.cif").read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    (ws / "dup.cif").write_text("\n".join(lines + [lines[-1]]) + "\n")           # an exact duplicate line
    (ws / "dup2.cif").write_text("\n".join(lines + ["  Cs  Cs2  1.0  0.5  0.0  0.0  1.0000"]) + "\n")
    (ws / "empty.cif").write_text("")
    (ws / "empty.extxyz").write_text("")
    (ws / "garbage.vasp").write_text("this is not a POSCAR\n")
    (ws / "cubic.txt").write_text(text)
    bad = cubic.copy()
    bad.positions[0, 0] = np.nan
    ase.io.write(ws / "nan.extxyz", bad)
    rattled = cubic.copy()
    rattled.rattle(0.15, seed=3)
    ase.io.write(ws / "rattled.extxyz", rattled)
    (ws / "foreign").mkdir()
    for f in ("vasprun.xml.gz", "OUTCAR.gz"):
        shutil.copy(CDTE / "bulk_vasp_gam" / f, ws / "foreign" / f)
    (ws / "spec-nan.yaml").write_text("study: smoke\nname: n\nbackend: chgnet\njob: relax\n"
                                      "job_settings: {fmax: .nan}\nstructures: {c: {builder: cspbbr3}}\n")
    (ws / "spec-supercell.yaml").write_text("study: smoke\nname: s\nbackend: chgnet\njob: static\n"
                                            "structures: {c: {builder: cspbbr3, supercell: [0, 1, 1]}}\n")
    (ws / "spec-rattle.yaml").write_text("study: smoke\nname: r\nbackend: chgnet\njob: static\n"
                                         "structures: {c: {builder: cspbbr3, rattle: -0.1}}\n")
    (ws / "spec-ecut.yaml").write_text("study: smoke\nname: e\nbackend: gpaw\nbackend_settings: {ecut: .nan}\n"
                                       "job: static\nstructures: {c: {builder: cspbbr3}}\n")
    (ws / "spec-static.yaml").write_text("study: smoke\nname: d\nbackend: chgnet\njob: static\n"
                                         "structures: {c: {builder: cspbbr3, phase: cubic}}\n")
    (ws / "spec-fizzle.yaml").write_text("study: smoke\nname: f\nbackend: chgnet\njob: relax\n"
                                         "job_settings: {fmax: 0.000001, steps: 1}\n"
                                         "structures: {c: {builder: cspbbr3, phase: cubic, rattle: 0.1}}\n")
    _defect_results(ws)
    return ws


def _defect_results(ws: Path) -> None:
    """runs/: synthetic competing phases and bulk (one backend), a V_Br defect of another backend."""
    sys.path.insert(0, str(HERE))
    from test_analysis_defects import DH, SYNTH, make_doc, synthetic_energy

    from pvatoms.build import cspbbr3, point_defects
    from pvatoms.build.competing import competing_phases
    from pvatoms.schema import save
    for name, atoms in competing_phases().items():
        save(make_doc(atoms, synthetic_energy(atoms, DH.get(name), name if name in DH else None)),
             ws / "runs" / name)
    host = cspbbr3("pnma")
    save(make_doc(host, synthetic_energy(host, DH["CsPbBr3"], "CsPbBr3"),
                  band_edges={"vbm": 1.0, "cbm": 3.0, "gap": 2.0}), ws / "runs" / "bulk")
    vbr = point_defects(host, vacancies=["Br"])[0].atoms
    other = dict(SYNTH, name="sevennet", model="SevenNet 7net-0")
    save(make_doc(vbr, -100.0, backend=other), ws / "runs" / "vbr0")


def _runs(ws):
    return sorted(str(p) for p in (ws / "runs").iterdir())


# ---------------------------------------------------------------- helpers of the API cases

def _cubic():
    from pvatoms.build import cspbbr3
    return cspbbr3("cubic")


def _truncated(ws: Path, name: str) -> Path:
    """A job folder whose result.json was cut in the middle of a write."""
    folder = ws / name
    folder.mkdir()
    (folder / "result.json").write_text('{"schema": "pvatoms.result/1", "job": "static", "stat')
    return folder


def _valid_json(path: Path) -> bool:
    json.loads(Path(path).read_text(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    return True


def _parsed_hse(ws: Path, name: str):
    """The HSE06 CdTe bulk run (ENCUT 350) parsed by a job planned as PBE 500 eV."""
    import warnings

    from ase.io import read

    from pvatoms.calc import get_backend
    from pvatoms.jobs import static
    shutil.copytree(CDTE / "bulk_vasp_gam", ws / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return static(read(ws / name / "POSCAR"), ws / name, backend=get_backend("vasp", potcar="spec"))


def _mix_hse_with_pbe(ws: Path):
    """never-mix check: the parsed HSE06 run against a PBE document of the same system."""
    from pvatoms.analysis.chempots import check_same_backend
    from pvatoms.schema import level_of_theory
    hse = _parsed_hse(ws, "mix-hse")
    pbe_backend = dict(hse["backend"], model="PBE", settings=dict(hse["backend"]["settings"], functional="PBE",
                                                                  encut=500.0))
    pbe = dict(hse, backend=pbe_backend, level_of_theory=level_of_theory(pbe_backend, "input"))
    return check_same_backend([("hse", hse), ("pbe", pbe)])


def _foreign_charge(ws: Path):
    """The V_Cd^{2-} outputs (NELECT 566) attached to a neutral job of the same cell."""
    import warnings

    from ase.io import read

    from pvatoms.calc import get_backend
    from pvatoms.jobs import static
    shutil.copytree(CDTE / "v_Cd_-2_vasp_gam", ws / "vcd-neutral")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return static(read(ws / "vcd-neutral" / "POSCAR"), ws / "vcd-neutral",
                      backend=get_backend("vasp", potcar="spec"), charge=0)


def _full_disk_launch(ws: Path):
    """pvatoms launch while every result write fails with ENOSPC: exit 1 naming the error."""
    import errno
    from unittest import mock

    from pvatoms.cli.main import main
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        assert main(["submit", str(ws / "spec-static.yaml"), "--store",
                     str(ws / "store-disk"), "--folder", str(ws / "runs-disk")]) == 0

        def full(*_a, **_k):
            raise OSError(errno.ENOSPC, "No space left on device")
        with mock.patch("pvatoms.io.write_text_atomic", full):
            code = main(["launch", "--store", str(ws / "store-disk"), "--quiet"])
    return Outcome(code=code, message=err.getvalue())


def _launch_fizzled(ws: Path):
    from pvatoms.cli.main import main
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        main(["submit", str(ws / "spec-fizzle.yaml"), "--store", str(ws / "store-f"), "--folder",
              str(ws / "runs-f")])
        code = main(["launch", "--store", str(ws / "store-f"), "--quiet"])
    return Outcome(code=code, message=err.getvalue())


def exit_of(fn):
    """A case whose function returns an :class:`Outcome` of its own (several commands)."""
    def run(ws: Path) -> Outcome:
        try:
            return fn(ws)
        except Exception as exc:
            return Outcome(exc=exc, message=f"{type(exc).__name__}: {exc}")
    return run


def _neb_same(ws):
    from pvatoms.jobs import neb
    return neb(_cubic(), _cubic(), ws / "neb-api", backend="chgnet", relax_endpoints=False, n_images=1)


def _neb_zero_path():
    from pvatoms.schema import neb_data
    a = _cubic()
    return neb_data([a, a.copy(), a.copy()], [0.0, 0.0, 0.0], forces=[np.zeros((5, 3))] * 3)


def _analyse_neb_bad(ws):
    from pvatoms.analysis.neb import analyse_neb
    return analyse_neb([str(ws / "runs" / "bulk")], ws / "neb-out")


def _gpaw(**kw):
    from pvatoms.calc import get_backend
    return get_backend("gpaw", **kw)


def _vasp(**kw):
    from pvatoms.calc import get_backend
    return get_backend("vasp", potcar="spec", **kw)


def _chgnet(**kw):
    from pvatoms.calc.mlip import MLIPBackend
    return MLIPBackend("chgnet", **kw)


def _relax(ws, name, **kw):
    from pvatoms.jobs import relax
    return relax(_cubic(), ws / name, backend="chgnet", **kw)


def _static(ws, name, atoms=None, **kw):
    from pvatoms.jobs import static
    return static(atoms if atoms is not None else _cubic(), ws / name, **kw)


def _phonons(ws, name, **kw):
    from pvatoms.jobs import phonons
    return phonons(_cubic(), ws / name, backend="chgnet", **kw)


def _read(path):
    from pvatoms.io import read_structure
    return read_structure(path)


def _write_json(doc):
    import tempfile

    from pvatoms.io import write_json_atomic
    return write_json_atomic(Path(tempfile.mkdtemp()) / "x.json", doc)


def _band_edges(ws, name, **kw):
    from pvatoms.jobs.band_edges import run_band_edges
    return run_band_edges(_cubic(), ws / name, **kw)


# ---------------------------------------------------------------- the catalogue

InputError = __import__("pvatoms.errors", fromlist=["InputError"]).InputError
S = "{ws}"

CASES = [
    # -- the issue: nothing lost, nothing silently wrong ---------------------------------------------
    ("foreign VASP outputs", cli("run", "static", f"{S}/cubic.cif", "--backend", "vasp", "-o", f"{S}/foreign"), 2, r"not those of this job.*Cd32Te32"),
    ("foreign VASP charge (NELECT)", api(_foreign_charge), InputError, r"charge -2.*NELECT.*\+0"),
    ("parsed HSE06 provenance", api(lambda ws: _parsed_hse(ws, "hse")), OK, lambda ws, d: d["backend"]["model"] == "HSE06" and d["backend"]["settings"]["encut"] == 350.0 and d["level_of_theory"]["energy"] == "HSE06"),
    ("parsed HSE06 never mixes with PBE", api(_mix_hse_with_pbe), InputError, r"cannot mix.*HSE06.*PBE|cannot mix.*PBE.*HSE06"),
    ("NEB identical endpoints (CLI)", cli("run", "neb", f"{S}/cubic.cif", f"{S}/cubic.cif", "--backend", "chgnet", "--images", "1", "--no-relax-endpoints", "-o", f"{S}/neb-same"), 2, r"same structure.*largest displacement 0\.0000"),
    ("NEB identical endpoints (API)", api(_neb_same), InputError, r"same structure"),
    ("NEB mismatched endpoints", api(lambda ws: __import__("pvatoms.jobs", fromlist=["neb"]).neb(_cubic(), _cubic()[:-1], ws / "n2", backend="chgnet")), InputError, r"5 and 4 atoms"),
    ("NEB zero-length path", api(lambda ws: _neb_zero_path()), InputError, r"zero length"),
    ("NaN into a JSON document", api(lambda ws: _write_json({"energy": float("nan"), "x": [1.0, float("inf")]})), InputError, r"non-finite.*energy = nan.*x\[1\] = inf"),
    ("truncated result.json", cli("run", "static", f"{S}/cubic.cif", "--backend", "chgnet", "-o", f"{S}/trunc1"), 2, r"not readable JSON.*damaged.*--force"),
    ("truncated result.json --force", cli("run", "static", f"{S}/cubic.cif", "--backend", "chgnet", "--force", "-o", f"{S}/trunc2"), 0, r""),
    ("GPAW ecut=nan", api(lambda ws: _static(ws, "g-nan", backend=_gpaw(ecut=float("nan")))), InputError, r"ecut must be a finite number.*got nan"),
    ("charge 1.5 not truncated", api(lambda ws: _static(ws, "q15", backend=_vasp(), charge=1.5)), InputError, r"charge.*integer.*1\.5.*not a whole number"),
    ("duplicate atom in a CIF", cli("run", "static", f"{S}/dup.cif", "--backend", "chgnet", "-o", f"{S}/dup"), 2, r"Br3.*same position.*duplicate"),
    ("two elements on one CIF site", cli("build", "defects", f"{S}/dup2.cif", "--vacancy", "Br", "-o", f"{S}/dup2"), 2, r"Cs2.*same position as site Br1"),
    ("analyse defects mixing backends", cli("analyse", "defects", *[f"{S}/runs/{n}" for n in ("bulk", "vbr0", "Cs", "Pb", "Br2", "CsBr", "PbBr2", "Cs4PbBr6", "CsPb2Br5", "CsBr3", "Cs2PbBr4", "Cs3Pb2Br7")], "--correction", "none", "-o", f"{S}/mixed"), 2, r"cannot mix"),
    ("fizzled launch exits 1", exit_of(_launch_fizzled), 1, r"1 firework\(s\) fizzled.*within 1 steps"),
    ("full disk launch exits 1", exit_of(_full_disk_launch), 1, r"fizzled.*No space left on device"),
    # -- the command line: numbers --------------------------------------------------------------------
    ("relax --fmax nan", cli("run", "relax", f"{S}/cubic.cif", "--fmax", "nan", "-o", f"{S}/r1"), 2, r"--fmax: must be a finite number.*'nan'"),
    ("relax --fmax -1", cli("run", "relax", f"{S}/cubic.cif", "--fmax", "-1", "-o", f"{S}/r2"), 2, r"--fmax: .*between 0 and 10.*'-1'"),
    ("relax --smax 0", cli("run", "relax", f"{S}/cubic.cif", "--cell", "--smax", "0", "-o", f"{S}/r8"), 2, r"--smax: .*between 0 and 1 \(lower excluded\) eV/Å\^3.*'0'"),
    ("relax --steps 0", cli("run", "relax", f"{S}/cubic.cif", "--steps", "0", "-o", f"{S}/r3"), 2, r"--steps: must be an integer between 1 and 100000"),
    ("static --charge 1.5", cli("run", "static", f"{S}/cubic.cif", "--charge", "1.5", "-o", f"{S}/r4"), 2, r"--charge: must be an integer.*'1.5'"),
    ("neb --images 0", cli("run", "neb", f"{S}/cubic.cif", f"{S}/rattled.extxyz", "--images", "0", "-o", f"{S}/r5"), 2, r"--images: .*between 1 and 50"),
    ("phonons --displacement inf", cli("run", "phonons", f"{S}/cubic.cif", "--displacement", "inf", "-o", f"{S}/r6"), 2, r"--displacement: .*between 0.001 and 0.1"),
    ("phonons --supercell 0 1 1", cli("run", "phonons", f"{S}/cubic.cif", "--supercell", "0", "1", "1", "-o", f"{S}/r7"), 2, r"--supercell: must be an integer between 1 and 20"),
    ("build bulk --supercell 0 1 1", cli("build", "bulk", "--supercell", "0", "1", "1", "-o", f"{S}/b1.cif"), 2, r"--supercell: must be an integer between 1 and 50"),
    ("build rp --gap nan", cli("build", "rp", "--n", "1", "--gap", "nan", "-o", f"{S}/b2.cif"), 2, r"--gap: must be a finite number"),
    ("build interface --boundary-width -1", cli("build", "interface", "--boundary-width", "-1", "-o", f"{S}/b3.extxyz"), 2, r"--boundary-width: .*between 0 and 100"),
    ("build slab --vacuum -5", cli("build", "slab", f"{S}/cubic.cif", "--vacuum", "-5", "-o", f"{S}/b4.extxyz"), 2, r"--vacuum: .*'-5'"),
    ("build slab --layers 0", cli("build", "slab", f"{S}/cubic.cif", "--layers", "0", "-o", f"{S}/b5.extxyz"), 2, r"--layers: must be an integer between 1 and 200"),
    ("build ligands --coverage 1.5", cli("build", "ligands", f"{S}/cubic.cif", "--ligand", "acetate", "--coverage", "1.5", "-o", f"{S}/b6.extxyz"), 2, r"--coverage: .*between 0 and 1"),
    ("build nanocrystal --edge nan", cli("build", "nanocrystal", "--edge", "nan", "-o", f"{S}/b7.extxyz"), 2, r"--edge: must be a finite number.*nm"),
    ("build nanocrystal --seed -1", cli("build", "nanocrystal", "--seed", "-1", "-o", f"{S}/b8.extxyz"), 2, r"--seed: must be an integer between 0"),
    ("build defects --min-length nan", cli("build", "defects", f"{S}/cubic.cif", "--vacancy", "Br", "--min-length", "nan", "-o", f"{S}/b9"), 2, r"--min-length: must be a finite"),
    ("build defects --interstitial-sites 0", cli("build", "defects", f"{S}/cubic.cif", "--interstitial", "Br", "--interstitial-sites", "0", "-o", f"{S}/b10"), 2, r"--interstitial-sites: .*between 1 and 100"),
    ("build neb-endpoints --cutoff 0", cli("build", "neb-endpoints", f"{S}/cubic.cif", "--element", "Br", "--cutoff", "0", "-o", f"{S}/b11"), 2, r"--cutoff: .*lower excluded"),
    ("analyse defects --temperature -300", cli("analyse", "defects", f"{S}/runs/bulk", "--temperature", "-300", "-o", f"{S}/a1"), 2, r"--temperature: .*'-300'"),
    ("analyse defects --effective-masses 0 1", cli("analyse", "defects", f"{S}/runs/bulk", "--effective-masses", "0", "1", "-o", f"{S}/a2"), 2, r"--effective-masses: .*lower excluded"),
    ("analyse defects --dielectric nan", cli("analyse", "defects", f"{S}/runs/bulk", "--dielectric", "nan", "-o", f"{S}/a3"), 2, r"--dielectric: must be a finite number"),
    ("analyse band-edges --radius -1", cli("analyse", "band-edges", f"{S}/runs/bulk", "--radius", "-1", "-o", f"{S}/a4"), 2, r"--radius: .*'-1'"),
    ("analyse band-edges --defect-site nan", cli("analyse", "band-edges", f"{S}/runs/bulk", "--defect-site", "nan", "0", "0", "-o", f"{S}/a5"), 2, r"--defect-site: must be a finite number"),
    ("launch --max-jobs 0", cli("launch", "--store", f"{S}/store0", "--max-jobs", "0"), 2, r"--max-jobs: must be an integer >= 1"),
    ("rerun fw id 0", cli("rerun", "0", "--store", f"{S}/store0"), 2, r"fw_ids: must be an integer >= 1"),
    ("qlaunch -n 0", cli("qlaunch", "--queue", f"{S}/q.yaml", "-n", "0", "--store", f"{S}/store0"), 2, r"--njobs: must be an integer between 1 and 1000"),
    # -- the command line: files, names, options -------------------------------------------------------
    ("missing structure file", cli("run", "static", f"{S}/missing.cif", "-o", f"{S}/f1"), 2, r"missing.cif.*not found"),
    ("empty CIF", cli("run", "static", f"{S}/empty.cif", "-o", f"{S}/f2"), 2, r"empty.cif"),
    ("empty extxyz", cli("build", "slab", f"{S}/empty.extxyz", "-o", f"{S}/f3.extxyz"), 2, r"empty.extxyz"),
    ("garbage POSCAR", cli("run", "static", f"{S}/garbage.vasp", "-o", f"{S}/f4"), 2, r"could not read.*garbage.vasp"),
    ("unknown extension", cli("run", "static", f"{S}/cubic.txt", "-o", f"{S}/f5"), 2, r"cannot tell the structure format.*cubic.txt"),
    ("NaN coordinates in a file", cli("run", "static", f"{S}/nan.extxyz", "-o", f"{S}/f6"), 2, r"non-finite coordinates"),
    ("unknown backend", cli("run", "static", f"{S}/cubic.cif", "--backend", "mace", "-o", f"{S}/f7"), 2, r"unknown backend 'mace'; valid choices"),
    ("unknown backend setting", cli("run", "static", f"{S}/cubic.cif", "--backend", "gpaw", "--option", "foo=1", "-o", f"{S}/f8"), 2, r"unknown setting.*foo"),
    ("backend option ecut=nan", cli("run", "static", f"{S}/cubic.cif", "--backend", "gpaw", "--option", "ecut=.nan", "-o", f"{S}/f9"), 2, r"ecut must be a finite number"),
    ("backend option kpts=[0,1,1]", cli("run", "static", f"{S}/cubic.cif", "--backend", "gpaw", "--option", "kpts=[0,1,1]", "-o", f"{S}/f10"), 2, r"kpts\[0\] must be an integer between 1 and 100"),
    ("conflicting --supercell and --min-length", cli("build", "defects", f"{S}/cubic.cif", "--vacancy", "Br", "--supercell", "2", "2", "2", "--min-length", "10", "-o", f"{S}/f11"), 2, r"not allowed with argument"),
    ("--ligand without --coverage", cli("build", "nanocrystal", "--ligand", "acetate", "-o", f"{S}/f12.extxyz"), 2, r"--ligand needs --coverage"),
    ("charged cell with an MLIP", cli("run", "static", f"{S}/cubic.cif", "--backend", "chgnet", "--charge", "1", "-o", f"{S}/f13"), 2, r"charge \+1 needs backend 'gpaw' or 'vasp'"),
    ("missing spec", cli("submit", f"{S}/nospec.yaml", "--store", f"{S}/store1"), 2, r"nospec.yaml.*not found"),
    ("spec fmax .nan", cli("submit", f"{S}/spec-nan.yaml", "--store", f"{S}/store2"), 2, r"job_settings.fmax must be a finite number.*nan"),
    ("spec supercell [0, 1, 1]", cli("submit", f"{S}/spec-supercell.yaml", "--store", f"{S}/store3"), 2, r"supercell must be three integers >= 1, got \(0, 1, 1\)"),
    ("spec negative rattle", cli("submit", f"{S}/spec-rattle.yaml", "--store", f"{S}/store4"), 2, r"rattle"),
    ("spec backend_settings ecut .nan", cli("submit", f"{S}/spec-ecut.yaml", "--store", f"{S}/store5"), 2, r"ecut must be a finite number"),
    # -- the Python API --------------------------------------------------------------------------------
    ("relax fmax=nan", api(lambda ws: _relax(ws, "p1", fmax=float("nan"))), InputError, r"fmax must be a finite number.*got nan"),
    ("relax steps=2.5", api(lambda ws: _relax(ws, "p2", steps=2.5)), InputError, r"steps must be an integer.*2\.5"),
    ("relax optimizer='lbfgs'", api(lambda ws: _relax(ws, "p3", optimizer="lbfgs")), InputError, r"unknown optimizer 'lbfgs'; valid choices: bfgs, fire"),
    ("relax cell='yes'", api(lambda ws: _relax(ws, "p4", cell="yes")), InputError, r"cell must be true or false"),
    ("relax smax=0", api(lambda ws: _relax(ws, "p5", cell=True, smax=0)), InputError, r"smax must be a finite number"),
    ("static charge=True", api(lambda ws: _static(ws, "p6", backend=_vasp(), charge=True)), InputError, r"charge.*True \(bool\)"),
    ("neb n_images=2.5", api(lambda ws: __import__("pvatoms.jobs", fromlist=["neb"]).neb(_cubic(), _read(ws / "rattled.extxyz"), ws / "p7", backend="chgnet", n_images=2.5)), InputError, r"n_images must be an integer"),
    ("phonons displacement='0.01'", api(lambda ws: _phonons(ws, "p8", displacement="0.01")), InputError, r"displacement must be a finite number.*str"),
    ("phonons supercell (21, 21, 21)", api(lambda ws: _phonons(ws, "p9", supercell=(21, 21, 21))), InputError, r"phonon supercell\[0\] must be an integer between 1 and 20"),
    ("phonons min_length=-5", api(lambda ws: _phonons(ws, "p10", min_length=-5)), InputError, r"min_length must be a finite number"),
    ("band-edges with a backend name", api(lambda ws: _band_edges(ws, "p11", backend="chgnet")), InputError, r"band edges need a DFT backend"),
    ("GPAW kpoint_density=inf", api(lambda ws: _gpaw(kpoint_density=float("inf"))), InputError, r"kpoint_density must be a finite number"),
    ("GPAW ecut='400'", api(lambda ws: _gpaw(ecut="400")), InputError, r"ecut must be a finite number.*str"),
    ("GPAW maxiter=0", api(lambda ws: _gpaw(maxiter=0)), InputError, r"maxiter must be an integer between 1"),
    ("GPAW calculator charge 0.5", api(lambda ws: _gpaw().calculator(charge=0.5, atoms=_cubic())), InputError, r"charge.*0\.5"),
    ("VASP encut=nan", api(lambda ws: _vasp(encut=float("nan"))), InputError, r"encut must be a finite number"),
    ("VASP kpoints (2.5, 1, 1)", api(lambda ws: _vasp(kpoints=(2.5, 1, 1))), InputError, r"kpoints.*must be an integer.*2\.5"),
    ("VASP poll_seconds=0", api(lambda ws: _vasp(poll_seconds=0)), InputError, r"poll_seconds must be a finite number"),
    ("VASP user_incar not a dict", api(lambda ws: _vasp(user_incar=["ENCUT", 400])), InputError, r"user_incar must be a mapping"),
    ("MLIP threads=0", api(lambda ws: _chgnet(threads=0)), InputError, r"threads must be an integer between 1"),
    ("MLIP device='gpu'", api(lambda ws: _chgnet(device="gpu")), InputError, r"device must be 'cpu', 'cuda'"),
    ("read NaN coordinates", api(lambda ws: _read(ws / "nan.extxyz")), InputError, r"non-finite"),
    ("output folder is a file", api(lambda ws: __import__("pvatoms.io", fromlist=["io"]).write_defect_set([], _cubic(), ws / "cubic.cif")), InputError, r"cubic.cif.*is a file"),
    ("static of an empty Atoms", api(lambda ws: _static(ws, "p12", atoms=__import__("ase").Atoms(), backend="chgnet")), InputError, r"holds no atoms"),
    ("analyse neb of a static writes nothing", api(_analyse_neb_bad), InputError, r"neb"),
]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return prepare(tmp_path_factory.mktemp("bad-input"))


POSTCONDITIONS = {
    # refused: nothing written; recomputed: valid JSON; the damaged file kept aside
    "analyse defects mixing backends": lambda ws: not (ws / "mixed").exists(),
    "analyse neb of a static writes nothing": lambda ws: not (ws / "neb-out").exists(),
    "two elements on one CIF site": lambda ws: not (ws / "dup2").exists(),
    "truncated result.json --force": lambda ws: _valid_json(ws / "trunc2" / "result.json")
    and json.loads((ws / "trunc2" / "result.json").read_text())["status"] == "completed"
    and any(p.name.startswith("result.json.damaged-") for p in (ws / "trunc2").iterdir()),
    "NEB identical endpoints (CLI)": lambda ws: not (ws / "neb-same" / "result.json").exists()
    or _valid_json(ws / "neb-same" / "result.json"),
}

SETUP = {
    "truncated result.json": lambda ws: _truncated(ws, "trunc1"),
    "truncated result.json --force": lambda ws: _truncated(ws, "trunc2"),
}


def run_case(case, ws: Path) -> tuple[str, str]:
    name, run, expected, pattern = case
    if name in SETUP:
        SETUP[name](ws)
    out = run(ws)
    kind, why = classify(out, expected, pattern, ws)
    if kind in ("refusal", "ok") and name in POSTCONDITIONS and not POSTCONDITIONS[name](ws):
        kind, why = "silently wrong", "the outputs are not as they must be (partial files, invalid JSON ...)"
    return kind, why


#: cases that still fail, with why (strict: the test says so when one is fixed)
KNOWN_GAPS: dict = {}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(reason=KNOWN_GAPS[c[0]], strict=True))
                                  if c[0] in KNOWN_GAPS else c for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(case, ws):
    kind, why = run_case(case, ws)
    assert kind in ("refusal", "ok"), f"{case[0]}: {kind}: {why}"


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


# ---------------------------------------------------------------- counts (before/after)

def _child(index, ws, queue):
    try:
        queue.put(run_case(CASES[index], ws))
    except BaseException as exc:       # noqa: BLE001  (any escape is a traceback)
        queue.put(("traceback", f"{type(exc).__name__}: {exc}"))


def count(timeout: float = 90.0) -> dict:
    """Run every case in its own process (a hang counts as silently wrong) and count the outcomes."""
    import multiprocessing as mp
    import tempfile
    ws = prepare(Path(tempfile.mkdtemp()) / "ws")
    ctx = mp.get_context("fork")
    counts: dict = {}
    for i, case in enumerate(CASES):
        q = ctx.Queue()
        p = ctx.Process(target=_child, args=(i, ws, q))
        p.start()
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join()
            kind, why = "silently wrong", f"still running after {timeout:.0f} s (a hang)"
        else:
            kind, why = q.get() if not q.empty() else ("traceback", f"the process died ({p.exitcode})")
        kind = {"ok": "refusal"}.get(kind, kind)
        counts[kind] = counts.get(kind, 0) + 1
        print(f"{kind:<15} {case[0]}" + (f"  -- {why.strip().splitlines()[-1][:160]}" if why.strip() else ""),
              flush=True)
    print(json.dumps(counts))
    return counts


if __name__ == "__main__":  # pragma: no cover
    count()
