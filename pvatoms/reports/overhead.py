"""The pipeline overhead of a run: wall time not spent inside calculations (job wall times).

Each invocation's figures are kept in ``invocations.json`` in the run folder, so that a resumed
or repeated run reports the invocations that did the computing.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from pvatoms.errors import InputError
from pvatoms.io import read_json, write_json_atomic
from pvatoms.reports.index import StudyIndex, created_after

INVOCATIONS = "invocations.json"


def split(wall_time: float, calc: float, launchers: int = 1) -> dict:
    """Wall time (s), the part inside calculations (s), the rest (pipeline overhead, s) and its
    fraction. With several launchers side by side the time available is ``launchers`` x the wall
    time, and the overhead includes the time a launcher waited for another's parents."""
    n = max(int(launchers), 1)
    other = max(wall_time * n - calc, 0.0)
    return {"wall_time": wall_time, "launchers": n, "calculations": calc, "overhead": other,
            "fraction": other / (wall_time * n) if wall_time else 0.0}


def overhead(index: StudyIndex, wall_time: float, since: float, launchers: int = 1) -> dict:
    """Calculation time of the jobs that ran in this invocation (their recorded wall times; NEB
    endpoint relaxations are inside their NEB's time and counted once) and the rest."""
    calc = sum(d["wall_time"] for d in index.result_documents()
               if not d["_nested"] and d.get("wall_time") is not None and created_after(d, since))
    return split(wall_time, calc, launchers)


def record_invocation(root, ov: dict, since: float) -> list[dict]:
    """Append this invocation's timing to ``invocations.json`` (atomically); returns the history."""
    path = Path(root) / INVOCATIONS
    try:
        history = read_json(path) if path.is_file() else []
    except InputError:
        history = []
    history.append({"started": _dt.datetime.fromtimestamp(since).isoformat(timespec="seconds"), **ov})
    write_json_atomic(path, history)
    return history


def totals(history: list[dict]) -> dict:
    """Wall time, calculation time and overhead summed over the invocations that computed something."""
    runs = [h for h in history if h["calculations"] > 0]
    wall = sum(h["wall_time"] for h in runs)
    capacity = sum(h["wall_time"] * h.get("launchers", 1) for h in runs)
    out = split(capacity, sum(h["calculations"] for h in runs))
    return {"invocations": len(runs), **out, "wall_time": wall, "launcher_time": capacity}


def overhead_line(ov: dict, tot: dict) -> str:
    """The footer sentence: this invocation, plus the totals where they differ from it."""
    n = ov.get("launchers", 1)
    on = f" on {n} launchers ({n} x {ov['wall_time']:.1f} s of launcher time)" if n > 1 else ""
    line = (f"This invocation: {ov['wall_time']:.1f} s{on}, of which {ov['calculations']:.1f} s inside "
            f"calculations; pipeline overhead {ov['overhead']:.1f} s = {ov['fraction'] * 100:.1f} % of the "
            + ("launcher time (waiting for other launchers' parents included)." if n > 1 else "wall time."))
    if tot["invocations"] and (tot["invocations"] > 1 or ov["calculations"] == 0):
        line += (f" Over the {tot['invocations']} invocation(s) that computed (`{INVOCATIONS}`): "
                 f"{tot['wall_time']:.1f} s, {tot['calculations']:.1f} s inside calculations, pipeline "
                 f"overhead {tot['fraction'] * 100:.1f} %.")
    return line
