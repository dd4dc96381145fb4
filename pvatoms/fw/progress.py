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


class Progress:
    """One status line per event on stderr: done/total, what runs, elapsed, estimate.

    Called by :func:`pvatoms.fw.launcher.launch` as ``on_event(kind, info)`` with kind "start" or
    "end"; ``info`` holds the firework name, id, state counts and (at "end") its wall time in s.
    With ``quiet`` nothing is printed (durations are still recorded)."""

    def __init__(self, quiet: bool = False):
        self.t0 = time.perf_counter()
        self.quiet = quiet
        self.durations: list[float] = []

    def __call__(self, kind: str, info: dict) -> None:
        if kind == "end":
            self.durations.append(info["seconds"])
        if self.quiet:
            return
        counts = info.get("counts") or {}
        total = sum(counts.values())
        done = counts.get("COMPLETED", 0) + counts.get("FIZZLED", 0)
        el = time.perf_counter() - self.t0
        left = total - done
        eta = (sum(self.durations) / len(self.durations) * left) if self.durations else None
        bar_n = int(20 * done / total) if total else 20
        bar = "#" * bar_n + "." * (20 - bar_n)
        what = (f"running {info['name']} (fw {info['fw_id']})" if kind == "start"
                else f"{info['state'].lower()} {info['name']} in {info['seconds']:.1f} s")
        eta_s = f", ~{hms(eta)} left" if eta is not None else ""
        _say(f"[{bar}] {done}/{total} done, {hms(el)} elapsed{eta_s} | {what}")
