"""Mutation testing of pvatoms' physics core with mutmut (a benchmark of the tests, not part of CI).

    python benchmarks/mutation.py --list
    python benchmarks/mutation.py schema.neb_data analysis.neb          # score per module
    python benchmarks/mutation.py analysis.neb --show-survivors --json out.json
    python benchmarks/mutation.py schema.neb_data --tests /path/to/older/tests   # score an older test set

mutmut (``pip install -e .[test]``) changes one operator, number, string or call at a time in the
functions of a module and runs the tests that execute that function; a mutant that no test
notices "survives". The score of a module is killed / (killed + survived), timeouts counted as
killed; mutants that no selected test executes are listed apart ("no tests"). A survivor is
either a missing test or an equivalent mutant (a change that cannot alter any result, e.g. in an
error message or a tolerance that no input reaches), to be judged by reading it
(``--show-survivors``).

Each module is scored in its own temporary copy of the repository (pvatoms/, tests/,
pyproject.toml with a [tool.mutmut] section added), so the working tree is never mutated and
several engineers can keep working in it. Only in-process tests can see a mutant: tests that run
the ``pvatoms`` command in a subprocess import the installed package, so the targets below
select in-process tests, fast ones (``-m "not slow"``). Time: a few minutes per module on two
cores; ``--max-children`` sets the parallel workers (default 2).

On a loaded machine a module can take an hour (thousands of mutants, a few seconds each):
``--sample N`` scores N mutants drawn at random per module (``--seed``), reported with the
binomial standard error of the score; ``--rescore OLD.json`` runs only the survivors (and the
mutants no test executed) of an earlier run again, after tests were added, keeping its kills.
Scores are also written after every module, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Target:
    """One module (or one function of it) and the tests that guard it."""
    path: str                       # file to mutate, relative to the repository
    tests: list[str]                # pytest node ids or files
    functions: tuple = ()           # only these functions' mutants (default: every function)
    deselect: list[str] = field(default_factory=list)
    isolation: str = "fork"         # "forkserver" for tests that load torch models
    env: dict = field(default_factory=dict)   # for the tests; "{workdir}" is replaced

    def mutant_globs(self) -> list[str]:
        """mutmut's names of the selected functions' mutants (``module.x_<function>__mutmut_<n>``)."""
        module = self.path[:-3].replace("/", ".")
        return [f"{module}.x_{f}__mutmut_*" for f in self.functions]


T = "tests/"
TARGETS = {
    "analysis.defects.thermodynamics": Target("pvatoms/analysis/defects/thermodynamics.py",
                                              [T + "test_analysis_defects.py", T + "test_analysis_defects_independent.py"]),
    "analysis.defects.corrections": Target("pvatoms/analysis/defects/corrections.py",
                                           [T + "test_analysis_defects.py", T + "test_analysis_defects_independent.py"]),
    "analysis.defects.fermi": Target("pvatoms/analysis/defects/fermi.py", [T + "test_analysis_defects.py"]),
    "analysis.chempots": Target("pvatoms/analysis/chempots.py", [T + "test_analysis_defects.py"]),
    # the numbers of the NEB analysis (profiles, fits, barrier rows), not its file writing,
    # figures or error messages
    "analysis.neb": Target("pvatoms/analysis/neb.py", [T + "test_analysis_neb.py"],
                           functions=("neb_profile", "fit_profile", "hermite", "barrier_row", "_fine_grid",
                                      "_path_geometry", "_check_coordinate"),
                           # the real NEB the tests analyse is computed once (the analysis cannot change it)
                           env={"PVATOMS_TEST_NEB_CACHE": "{workdir}/neb-cache"}),
    "analysis.localization": Target("pvatoms/analysis/localization.py", [T + "test_analysis_localization.py"],
                                    deselect=[T + "test_analysis_localization.py::test_real_gpaw_band_edges_of_cubic_cspbbr3"]),
    # band alignment at an interface: macroscopic averages, plateaus, offsets and the verdict
    "analysis.alignment": Target("pvatoms/analysis/alignment.py", [T + "test_alignment.py"]),
    "calc.vasp_parse": Target("pvatoms/calc/vasp_parse.py",
                              [T + "test_vasp.py", T + "test_jobs_vasp.py", T + "test_vasp_provenance.py",
                               T + "test_analysis_defects_independent.py"]),
    "calc.gpaw_calc.band_edges": Target("pvatoms/calc/gpaw_calc.py", [T + "test_gpaw.py", T + "test_jobs_common.py"],
                                        functions=("band_edges",)),
    "schema.neb_data": Target("pvatoms/schema.py",
                              [T + "test_analysis_neb.py", T + "test_vasp.py::test_neb_barrier_from_image_outcars",
                               T + "test_vasp.py::test_neb_barriers_with_endpoints_of_different_energy"],
                              functions=("neb_data",)),
    # the result assembly of the jobs
    "jobs.common": Target("pvatoms/jobs/common.py", [T + "test_jobs_common.py", T + "test_jobs_mlip.py",
                                                      T + "test_jobs_vasp.py"],
                          functions=("fill_static", "_stress", "max_force", "attach"), isolation="forkserver"),
    "build.defects": Target("pvatoms/build/defects.py", [T + "test_build_defects.py"]),
    "build.stacking": Target("pvatoms/build/stacking.py", [T + "test_build_rp_interface.py"]),
}

STATUSES = ("killed", "survived", "timeout", "no tests", "suspicious", "skipped", "segfault",
            "caught by type check", "not checked", "check was interrupted by user")


def available(tests: list[str], tests_dir: Path) -> list[str]:
    """The selected tests that exist in ``tests_dir`` (an older test set may lack some)."""
    out = []
    for t in tests:
        file, _, name = t.partition("::")
        path = tests_dir / Path(file).relative_to("tests")
        if path.is_file() and (not name or re.search(rf"^def {re.escape(name)}\b", path.read_text(), re.M)):
            out.append(t)
    return out


def mutmut_section(target: Target, pytest_args: list[str], isolation: str, tests: list[str]) -> str:
    """The [tool.mutmut] table for one target (TOML)."""
    def lst(xs):
        return "[" + ", ".join(json.dumps(x) for x in xs) + "]"
    args = ["-p", "no:cacheprovider", "-m", "not slow", "-W", "ignore"] + pytest_args
    args += [f"--deselect={d}" for d in target.deselect]
    return ("\n[tool.mutmut]\n"
            f"source_paths = {lst(['pvatoms'])}\n"
            f"only_mutate = {lst([target.path])}\n"
            f"pytest_add_cli_args = {lst(args)}\n"
            f"pytest_add_cli_args_test_selection = {lst(tests)}\n"
            f"also_copy = {lst(['structures/', 'workflows/'])}\n"
            f"process_isolation = {json.dumps(isolation)}\n"
            "use_git_change_detection = false\n")


def prepare(workdir: Path, target: Target, tests_dir: Path, pytest_args: list[str]) -> list[str]:
    """A copy of the repository for one target in ``workdir``; returns the tests selected."""
    import tomllib
    shutil.copytree(REPO / "pvatoms", workdir / "pvatoms", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(tests_dir, workdir / "tests", ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    for extra in ("structures", "workflows"):          # reference structures, workflow examples
        if (REPO / extra).is_dir():
            shutil.copytree(REPO / extra, workdir / extra)
    text = (REPO / "pyproject.toml").read_text()
    if "mutmut" in tomllib.loads(text).get("tool", {}):
        raise SystemExit("pyproject.toml already has a [tool.mutmut] table; this script writes its own")
    tests = available(target.tests, tests_dir)
    if not tests:
        raise SystemExit(f"none of the tests of {target.path} are in {tests_dir}: {target.tests}")
    (workdir / "pyproject.toml").write_text(text + mutmut_section(target, pytest_args, target.isolation, tests))
    return tests


def mutant_names(workdir: Path, target: Target, env: dict) -> list[str]:
    """Every mutant mutmut makes of the target (its selected functions only), by mutmut's own
    naming, computed in the prepared copy (whose pyproject holds the configuration)."""
    code = ("import json, sys\n"
            "from mutmut.mutation.file_mutation import mutate_file_contents\n"
            f"f = mutate_file_contents({target.path!r}, open({target.path!r}).read())\n"
            "print(json.dumps(list(f.mutant_names)))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, check=True)
    module = target.path[:-3].replace("/", ".")
    names = [f"{module}.{n}" for n in json.loads(out.stdout)]
    if target.functions:
        prefixes = tuple(g[:-1] for g in target.mutant_globs())
        names = [n for n in names if n.startswith(prefixes)]
    return names


def results(workdir: Path, env: dict) -> dict[str, str]:
    """{mutant name: status} from ``mutmut results --all true``."""
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=workdir,
                         env=env, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"\s+(\S+): (.+)$", line)
        if m and m.group(2).strip() in STATUSES:
            found[m.group(1)] = m.group(2).strip()
    return found


def show(workdir: Path, env: dict, name: str) -> str:
    return subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=workdir, env=env,
                          capture_output=True, text=True).stdout


def score(statuses: dict[str, str]) -> dict:
    counts = {s: 0 for s in STATUSES}
    for s in statuses.values():
        counts[s] = counts.get(s, 0) + 1
    caught = counts["killed"] + counts["timeout"]
    tested = caught + counts["survived"] + counts["suspicious"]
    return {"counts": {k: v for k, v in counts.items() if v}, "total": len(statuses),
            "score": caught / tested if tested else None}


def run_target(key: str, target: Target, args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"pvatoms-mutation-{key}-", dir=args.workdir))
    tests_dir = Path(args.tests) if args.tests else REPO / "tests"
    tests = prepare(workdir, target, tests_dir, args.pytest_arg)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update({k: v.replace("{workdir}", str(workdir)) for k, v in target.env.items()})
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)]
    previous = (args.previous or {}).get(key)
    if previous is not None:            # --rescore: only the previous run's survivors are run again
        again = previous["survivors"] + previous.get("no_tests", [])
        if not again:
            return dict(previous, rescored={"previous_score": previous["score"], "now_killed": []})
        cmd += again
    elif args.sample:
        import random
        every = mutant_names(workdir, target, env)
        chosen = sorted(random.Random(args.seed).sample(every, min(args.sample, len(every))))
        cmd += chosen
    else:
        cmd += target.mutant_globs()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=args.timeout or None)
    wall = time.perf_counter() - t0
    (workdir / "mutmut-run.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    statuses = results(workdir, env)
    if target.functions:
        prefixes = tuple(g[:-1] for g in target.mutant_globs())
        statuses = {k: v for k, v in statuses.items() if k.startswith(prefixes)}
    if args.sample and previous is None:
        statuses = {k: statuses.get(k, "not checked") for k in chosen}
    if previous is not None:
        # every mutant the previous run caught stays caught (tests were only added); its
        # survivors (and the mutants no test executed) take their new status
        rerun = {k: statuses.get(k, "not checked") for k in again}
        statuses = {f"previous-{i}": "killed" for i in range(previous["counts"].get("killed", 0)
                                                               + previous["counts"].get("timeout", 0))}
        statuses.update(rerun)
    out = {"module": key, "path": target.path, "functions": list(target.functions), "tests": tests,
           "tests_dir": str(tests_dir), "wall_time": round(wall, 1), "returncode": proc.returncode,
           "workdir": str(workdir), **score(statuses)}
    if args.sample and previous is None:
        out["sampled"] = {"mutants": len(chosen), "of": len(every), "seed": args.seed}
    if previous is not None and "sampled" in previous:
        out["sampled"] = previous["sampled"]
    if out.get("sampled") and out["score"] is not None:
        tested = sum(1 for v in statuses.values() if v in ("killed", "timeout", "survived", "suspicious"))
        out["score_stderr"] = (out["score"] * (1 - out["score"]) / max(tested, 1)) ** 0.5
    if previous is not None:
        out["rescored"] = {"previous_score": previous["score"], "previous_wall_time": previous["wall_time"],
                           "now_killed": sorted(k for k, v in rerun.items() if v in ("killed", "timeout"))}
    out["survivors"] = sorted(k for k, v in statuses.items() if v in ("survived", "suspicious"))
    out["no_tests"] = sorted(k for k, v in statuses.items() if v == "no tests")
    if args.show_survivors:
        out["survivor_diffs"] = {k: show(workdir, env, k) for k in out["survivors"]}
    if proc.returncode != 0 and not statuses:
        out["error"] = (proc.stdout[-2000:] + proc.stderr[-2000:]).strip()
    if not args.keep:
        shutil.rmtree(workdir / "mutants", ignore_errors=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", help="targets (see --list); default: all")
    ap.add_argument("--list", action="store_true", help="list the targets and their tests")
    ap.add_argument("--tests", default=None, help="tests folder to score (default: the repository's tests/)")
    ap.add_argument("--max-children", type=int, default=2, help="parallel mutant workers (default 2)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per module (default 3600)")
    ap.add_argument("--pytest-arg", action="append", default=[], help="extra pytest argument (repeatable)")
    ap.add_argument("--workdir", default=None, help="where the temporary copies go (default: system temp)")
    ap.add_argument("--keep", action="store_true", help="keep mutmut's mutants/ folder for `mutmut browse`")
    ap.add_argument("--show-survivors", action="store_true", help="print the diff of every surviving mutant")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    ap.add_argument("--sample", type=int, default=0, metavar="N",
                    help="score N mutants drawn at random (per module) instead of all of them: an estimate "
                         "with its binomial standard error, for slow machines")
    ap.add_argument("--seed", type=int, default=0, help="random seed of --sample (default 0)")
    ap.add_argument("--rescore", default=None, metavar="JSON",
                    help="a previous --json output: run only its survivors again (after tests were added) "
                         "and score the module with the previous kills kept")
    args = ap.parse_args(argv)
    args.previous = None
    if args.rescore:
        args.previous = {r["module"]: r for r in json.loads(Path(args.rescore).read_text())}
    if args.list:
        for key, t in TARGETS.items():
            only = f" ({', '.join(t.functions)})" if t.functions else ""
            print(f"{key:34s} {t.path}{only}\n{'':34s} tests: {', '.join(t.tests)}")
        return 0
    keys = args.modules or (list(args.previous) if args.previous else list(TARGETS))
    unknown = [k for k in keys if k not in TARGETS]
    if unknown:
        ap.error(f"unknown module(s) {', '.join(unknown)}; valid: {', '.join(TARGETS)}")
    report = []
    for key in keys:
        res = run_target(key, TARGETS[key], args)
        report.append(res)
        c = res["counts"]
        sc = "n/a" if res["score"] is None else f"{100 * res['score']:.1f} %"
        if res.get("sampled"):
            sc += f" ± {100 * res.get('score_stderr', 0):.1f} (sample of {res['sampled']['mutants']}/{res['sampled']['of']})"
        print(f"{key:34s} score {sc:>8s}  killed {c.get('killed', 0)}  survived {c.get('survived', 0)}  "
              f"timeout {c.get('timeout', 0)}  no tests {c.get('no tests', 0)}  of {res['total']}  "
              f"({res['wall_time']:.0f} s)", flush=True)
        if res.get("error"):
            print(f"  mutmut failed:\n{res['error']}", flush=True)
        for name in res["survivors"]:
            print(f"  survived: {name}")
            if args.show_survivors:
                print("    " + res["survivor_diffs"][name].replace("\n", "\n    "))
        if args.json:                       # after every module: a long run cut short keeps its scores
            Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
