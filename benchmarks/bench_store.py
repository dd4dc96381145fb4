"""Embedded store as it fills: time per firework and ``status`` latency at N fireworks.

N independent trivial fireworks (FireWorks' PyTask ``time.time``: microseconds of work, so the
time per firework is the overhead) are submitted in one transaction and launched through
:func:`pvatoms.fw.launcher.launch`, the path of ``pvatoms launch`` and the demo. Measured per N:

- ``per fw``: mean wall time per firework over the whole launch of all N (when it fits the time
  budget), and over the first ``--sample`` fireworks of a store holding N (``at N``);
- ``cpu``: the same in CPU seconds of this process (less sensitive to other jobs on the machine);
- ``status``: ``pvatoms.fw.operations.status`` in a process that has not read the store yet
  (``cold``: reads snapshot + journal) and again (``warm``), and ``pvatoms status --json`` as a
  command (interpreter start-up included).

Two layouts: ``workflows`` (one workflow per firework) and ``one`` (all N in one workflow, like a
study; FireWorks rewrites the whole workflow document at every state change, so this costs more
per firework as the workflow grows, whatever the store). ``memory`` rows are the floor: the same
LaunchPad on the same indexed in-memory database, with no files (what FireWorks itself costs).
``--old`` also measures the first store
(commit 63fcdc6: the whole launchpad.json loaded and rewritten by every transaction), loaded from
git history, on samples. Ratios are against N = 50 of the same store and layout, and old / new.

Run: .venv/bin/python benchmarks/bench_store.py [--sizes 50 500 5000] [--layout workflows one]
     [--old] [--sample 20] [--budget 1200] [--json out.json]
Bounded: a full launch runs only when its estimate fits ``--case-budget`` seconds, and no new case
starts after ``--budget`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OLD_REVISION = "63fcdc6"


def load_old_store(revision: str = OLD_REVISION):
    """The first store's modules (store.py, launcher.py of ``revision``) as package
    ``pvatoms_store_v1``, from git history (read-only ``git show``); None if unavailable."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-v1-"))
    pkg = tmp / "pvatoms_store_v1"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in ("store", "launcher"):
        proc = subprocess.run(["git", "-C", str(REPO), "show", f"{revision}:pvatoms/fw/{name}.py"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return None
        src = proc.stdout.replace("from pvatoms.fw.store import", "from pvatoms_store_v1.store import")
        (pkg / f"{name}.py").write_text(src)
    sys.path.insert(0, str(tmp))
    import pvatoms_store_v1.launcher as launcher
    import pvatoms_store_v1.store as store
    return store, launcher


class MemoryStore:
    """The floor: the same indexed in-memory LaunchPad as the store uses, with no files, no lock,
    no journal (what FireWorks itself costs per firework on this database)."""

    def __init__(self, path):
        from pvatoms.fw.store import _fresh_launchpad
        self.path = Path(path)
        self.launches = self.path / "launches"
        self.path.mkdir(parents=True, exist_ok=True)
        self.server, self.lp = _fresh_launchpad()

    def launchpad(self, write=True):
        import contextlib
        return contextlib.nullcontext(self.lp)

    def describe(self):
        return "in memory"


class _OldTarget:
    """What :func:`pvatoms.fw.operations.status` needs, on the first store."""

    def __init__(self, store):
        self.store = store

    def launchpad(self, write=True):
        return self.store.launchpad(write=write)

    def describe(self):
        return f"first store {self.store.path}"


def fireworks(n: int, layout: str):
    from fireworks import Firework, PyTask, Workflow
    fws = [Firework(PyTask(func="time.time"), name=f"f{i}") for i in range(n)]
    if layout == "one":
        return [Workflow(fws, name="bench")]
    return [Workflow([fw], name=f"bench{i}") for i, fw in enumerate(fws)]


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def measure(kind: str, n: int, layout: str, sample: int, case_budget: float, modules, work: Path) -> dict:
    """One case: a store of ``kind`` ('new' or 'old') holding ``n`` fireworks."""
    from pvatoms.fw import store as store_module
    from pvatoms.fw.launchpads import Target
    from pvatoms.fw.operations import status
    from pvatoms.fw.launcher import launch
    if kind == "new":
        store_cls = store_module.EmbeddedStore
    elif kind == "memory":
        store_cls = MemoryStore
    else:
        store_cls, launch = modules[0].EmbeddedStore, modules[1].launch
    folder = work / f"{kind}-{layout}-{n}"
    if folder.exists():
        import shutil
        shutil.rmtree(folder)
    store = store_cls(folder)
    wfs = fireworks(n, layout)

    def submit():
        with store.launchpad() as lp:
            if len(wfs) == 1:
                lp.add_wf(wfs[0])
            else:
                lp.bulk_add_wfs(wfs)
    _, t_submit, _ = timed(submit)
    row = {"store": kind, "layout": layout, "n": n, "submit_s": t_submit}

    def status_once(cold: bool):
        if kind == "new":
            if cold:
                store_module._forget(store)
            return timed(lambda: status(Target(folder)))
        return timed(lambda: status(store if kind == "memory" else _OldTarget(store)))
    st, row["status_cold_s"], _ = status_once(True)
    assert len(st["fireworks"]) == n, st["counts"]
    row["status_warm_s"] = statistics.median(status_once(kind == "old")[1] for _ in range(3))
    if kind == "memory":
        row["status_cold_s"] = None

    k = min(sample, n)
    out, wall, cpu = timed(lambda: launch(store, max_jobs=k))
    assert len(out["completed"]) == k, out
    row.update(sample=k, at_n_ms=wall / k * 1e3, at_n_cpu_ms=cpu / k * 1e3)
    if kind in ("new", "memory") and (n - k) * wall / k < case_budget:
        out, wall2, cpu2 = timed(lambda: launch(store))
        assert len(out["completed"]) == n - k, out
        row.update(all_ms=(wall + wall2) / n * 1e3, all_cpu_ms=(cpu + cpu2) / n * 1e3)
        if kind == "new":
            store_module._forget(store)
            st, row["status_cold_done_s"], _ = timed(lambda: status(Target(folder)))
            assert st["counts"] == {"COMPLETED": n}, st["counts"]
    if kind == "new":
        exe = Path(sys.executable).parent / "pvatoms"
        t0 = time.perf_counter()
        proc = subprocess.run([str(exe), "status", "--store", str(folder), "--json"], capture_output=True, text=True)
        row["status_cli_s"] = time.perf_counter() - t0 if proc.returncode == 0 else None
    sizes = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()} if folder.exists() else {}
    row["snapshot_mb"] = sizes.get("launchpad.json", 0) / 1e6
    row["journal_mb"] = sizes.get("journal.bin", 0) / 1e6
    return row


def report(rows: list) -> None:
    def fmt(v, unit="ms"):
        return "      -" if v is None else (f"{v:7.1f}" if unit == "ms" else f"{v * 1e3:7.0f}")
    print(f"\n{'store':5s} {'layout':9s} {'N':>5s} | {'per fw (all N)':>14s} {'cpu':>6s} | {'per fw at N':>11s} "
          f"{'cpu':>6s} | {'status cold':>11s} {'warm':>6s} {'CLI':>6s} (ms) | {'submit':>7s} s")
    for r in rows:
        print(f"{r['store']:5s} {r['layout']:9s} {r['n']:5d} | {fmt(r.get('all_ms')):>11s} ms {fmt(r.get('all_cpu_ms')):>6s} "
              f"| {fmt(r['at_n_ms']):>8s} ms {fmt(r['at_n_cpu_ms']):>6s} | {fmt(r.get('status_cold_s'), 's'):>11s} "
              f"{fmt(r['status_warm_s'], 's'):>6s} {fmt(r.get('status_cli_s'), 's'):>6s}      | {r['submit_s']:7.2f}")
    print("\nratios against N = 50 of the same store and layout (per fw at N; status cold):")
    base = {(r["store"], r["layout"]): r for r in rows if r["n"] == 50}
    for r in rows:
        b = base.get((r["store"], r["layout"]))
        if b and r["n"] != 50:
            extra = f", all N {r['all_ms'] / b['all_ms']:.2f}" if r.get("all_ms") and b.get("all_ms") else ""
            stat = (f"; status x{r['status_cold_s'] / b['status_cold_s']:.2f}" if r.get("status_cold_s")
                    and b.get("status_cold_s") else "")
            print(f"  {r['store']} {r['layout']:9s} N={r['n']:5d}: per fw x{r['at_n_ms'] / b['at_n_ms']:.2f}{extra}{stat}")
    new = {(r["layout"], r["n"]): r for r in rows if r["store"] == "new"}
    for r in rows:
        m = new.get((r["layout"], r["n"]))
        if r["store"] == "memory" and m:
            print(f"  store's own share at {r['layout']} N={r['n']}: {m['at_n_ms'] - r['at_n_ms']:.1f} ms of "
                  f"{m['at_n_ms']:.1f} ms per firework (in memory, no files: {r['at_n_ms']:.1f} ms)")
    old_rows = [r for r in rows if r["store"] == "old"]
    if old_rows:
        print("\nold / new at the same N (per fw at N; status cold):")
        for r in old_rows:
            m = new.get((r["layout"], r["n"]))
            if m:
                print(f"  {r['layout']:9s} N={r['n']:5d}: per fw x{r['at_n_ms'] / m['at_n_ms']:.1f}, "
                      f"status x{r['status_cold_s'] / m['status_cold_s']:.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 5000])
    ap.add_argument("--layout", nargs="+", default=["workflows", "one"], choices=["workflows", "one"])
    ap.add_argument("--old", action="store_true", help="also measure the first store (from git history)")
    ap.add_argument("--sample", type=int, default=20, help="fireworks launched at each fill level")
    ap.add_argument("--old-sample", type=int, default=5)
    ap.add_argument("--case-budget", type=float, default=300, help="seconds for one full launch of N")
    ap.add_argument("--budget", type=float, default=1500, help="no new case after this many seconds")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import fireworks.core.rocket as rocket_module
    rocket_module.ROCKET_STREAM_LOGLEVEL = "ERROR"
    modules = load_old_store() if args.old else None
    if args.old and modules is None:
        print(f"first store not found in git history ({OLD_REVISION}): measuring the new store only")
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    home = os.getcwd()
    os.chdir(work)
    t_start = time.perf_counter()
    rows = []
    kinds = ["new", "memory"] + (["old"] if modules else [])
    for kind in kinds:            # first use: imports, FireWorks' task-class search, caches
        measure(kind, 5, "workflows", 5, 0, modules, work / "warm-up")
    try:
        for layout in args.layout:
            for n in args.sizes:
                for kind in kinds:
                    if time.perf_counter() - t_start > args.budget:
                        print(f"  time budget spent: {kind} {layout} N={n} skipped")
                        continue
                    sample = args.old_sample if kind == "old" else args.sample
                    row = measure(kind, n, layout, sample, args.case_budget, modules, work)
                    rows.append(row)
                    print(f"  {kind} {layout} N={n}: per fw at N {row['at_n_ms']:.1f} ms"
                          + (f", all N {row['all_ms']:.1f} ms" if row.get("all_ms") else "")
                          + (f", status cold {row['status_cold_s'] * 1e3:.0f} ms" if row.get("status_cold_s") else ""),
                          flush=True)
    finally:
        os.chdir(home)
    report(rows)
    print(f"\n({time.perf_counter() - t_start:.0f} s; stores in {work})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
