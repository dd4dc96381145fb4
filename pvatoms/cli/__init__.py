"""The ``pvatoms`` command line (see :mod:`pvatoms.cli.main`). Nothing in pvatoms imports it."""

from pvatoms.cli.main import main

__all__ = ["main"]
