"""FireWorks overhead per firework (submit + launch + record) against calling the same job function
directly, for N tiny fireworks (CHGNet statics of the 5-atom cubic cell), in one run.

Run: .venv/bin/python benchmarks/bench_fireworks.py [--n 50]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
import warnings
from pathlib import Path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import fireworks.core.rocket as rocket_module
    from fireworks import Workflow

    from pvatoms.build import cspbbr3
    from pvatoms.calc import get_backend
    from pvatoms.fw.launcher import launch
    from pvatoms.fw.store import EmbeddedStore
    from pvatoms.fw.workflows import _job_fw
    from pvatoms.jobs import static

    rocket_module.ROCKET_STREAM_LOGLEVEL = "WARNING"
    tmp = Path(tempfile.mkdtemp())
    backend = get_backend("chgnet")
    cells = []
    for k in range(args.n):
        a = cspbbr3("cubic")
        a.rattle(0.01, seed=k)          # distinct structures: no duplicate shortcut
        cells.append(a)
    with contextlib.redirect_stdout(io.StringIO()):
        static(cells[0], tmp / "warm", backend=backend)     # model load outside both timings

    t0 = time.perf_counter()
    for k, a in enumerate(cells):
        static(a, tmp / "direct" / f"c{k}", backend=backend)
    t_direct = time.perf_counter() - t0

    store = EmbeddedStore(tmp / "store")
    t0 = time.perf_counter()
    fws = [_job_fw(f"c{k}", "static", tmp / "fw", "chgnet", {}, {}, structure=a) for k, a in enumerate(cells)]
    with store.launchpad() as lp:
        lp.add_wf(Workflow(fws, name="bench"))
    t_submit = time.perf_counter() - t0
    with contextlib.redirect_stdout(io.StringIO()):
        out = launch(store)
    t_fw = time.perf_counter() - t0
    assert len(out["completed"]) == args.n, out
    per = (t_fw - t_direct) / args.n
    print(f"{args.n} CHGNet statics of cubic CsPbBr3 (5 atoms)")
    print(f"  direct job calls          {t_direct:8.2f} s  ({t_direct / args.n * 1000:.0f} ms each)")
    print(f"  FireWorks submit+launch   {t_fw:8.2f} s  (submit {t_submit:.2f} s)")
    print(f"  ratio FireWorks / direct  {t_fw / t_direct:8.2f}")
    size = sum(f.stat().st_size for f in (store.file, store.journal) if f.exists())
    print(f"  overhead per firework     {per * 1000:8.0f} ms  (store size {size / 1024:.0f} KiB: snapshot + journal)")


if __name__ == "__main__":
    main()
