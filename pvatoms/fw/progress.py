"""The progress line of a local launch: one line per firework start/end on stderr."""

from __future__ import annotations

import sys
import time


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def hms(seconds: float) -> str:
    """``H:MM:SS`` of a duration in seconds."""
    s = int(round(seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


#: s of expected cost that the prior rate (1: the cost model is right) weighs, so that the first
#: few small fireworks do not swing the estimate
PRIOR_WEIGHT = 120.0


def estimate(pending_cost: float | None, measured: float, expected: float, launchers: int = 1) -> float | None:
    """Seconds left: the expected cost of the unfinished fireworks (``pending_cost``, s, from
    :mod:`pvatoms.studies.cost`) times the ratio of measured to expected seconds of the fireworks
    finished so far, shrunk towards 1 by :data:`PRIOR_WEIGHT`, shared among ``launchers``. None
    without a pending cost."""
    if pending_cost is None:
        return None
    rate = (measured + PRIOR_WEIGHT) / (expected + PRIOR_WEIGHT)
    return pending_cost * rate / max(int(launchers), 1)


class Progress:
    """One status line per event on stderr: done/total, what runs, elapsed, estimate.

    Called by :func:`pvatoms.fw.launcher.launch` as ``on_event(kind, info)`` with kind "start" or
    "end"; ``info`` holds the firework name, id, state counts, the expected cost of the firework
    and of every unfinished one (``track_cost``) and (at "end") its wall time in s. The estimate
    is :func:`estimate`: expected cost left, scaled by how fast the finished ones went, not the
    number of fireworks left times their mean duration (a 40-atom DFT relaxation and a 5-atom
    MLIP single point are not worth the same). ``launchers``: how many launchers share the work.
    With ``quiet`` nothing is printed (durations are still recorded)."""

    track_cost = True

    def __init__(self, quiet: bool = False, launchers: int = 1):
        self.t0 = time.perf_counter()
        self.quiet = quiet
        self.launchers = launchers
        self.durations: list[float] = []
        self.measured = 0.0
        self.expected = 0.0

    def __call__(self, kind: str, info: dict) -> None:
        if kind == "end":
            self.durations.append(info["seconds"])
            if info.get("cost"):
                self.measured += info["seconds"]
                self.expected += float(info["cost"])
        if self.quiet:
            return
        counts = info.get("counts") or {}
        total = sum(counts.values())
        done = counts.get("COMPLETED", 0) + counts.get("FIZZLED", 0)
        el = time.perf_counter() - self.t0
        eta = estimate(info.get("pending_cost"), self.measured, self.expected, self.launchers)
        bar_n = int(20 * done / total) if total else 20
        bar = "#" * bar_n + "." * (20 - bar_n)
        what = (f"running {info['name']} (fw {info['fw_id']})" if kind == "start"
                else f"{info['state'].lower()} {info['name']} in {info['seconds']:.1f} s")
        eta_s = f", ~{hms(eta)} left" if eta is not None else ""
        _say(f"[{bar}] {done}/{total} done, {hms(el)} elapsed{eta_s} | {what}")
