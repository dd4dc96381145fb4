"""SIGTERM as an interrupt, so that a job killed by a batch system's time limit (or ``kill``)
records why it stopped instead of staying ``running`` in its ``result.json``.

A job that ends this way is saved ``failed`` with the reason ``interrupted (SIGTERM)`` and its
files (a relaxation's trajectory) are kept, so a rerun continues it; the interrupt then goes on up
as a :class:`KeyboardInterrupt` (the command line exits with 143). SIGKILL cannot be caught: a job
killed by it stays ``running`` and is recomputed on the next run, as before.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM while a job ran."""

    exit_status = 143                      # 128 + SIGTERM, what the shell reports for a kill

    def __str__(self) -> str:
        return "SIGTERM"


def reason(exc: KeyboardInterrupt) -> str:
    """The ``reason`` recorded for a job stopped by ``exc``."""
    return "interrupted (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (KeyboardInterrupt)"


def _raise_terminated(signum, frame):
    raise Terminated()


@contextmanager
def sigterm_interrupts():
    """While the body runs, SIGTERM raises :class:`Terminated` in the main thread.

    Does nothing outside the main thread (Python delivers signals there only) or where the program
    has installed its own SIGTERM handler; the previous handler is restored afterwards. Python runs
    the handler between bytecodes, so a calculation inside a long C call (one SCF iteration) stops
    when that call returns: well inside the 30 s that SLURM leaves between SIGTERM and SIGKILL for
    the codes used here, not for every one.
    """
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
