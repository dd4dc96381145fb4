"""``pvatoms demo``: the Pb-leakage study end to end (see :mod:`pvatoms.demo`)."""

from __future__ import annotations

from pvatoms.cli.options import Command, Number, add_json


class Demo(Command):
    help = ("the main job: the Pb-leakage study end to end on the embedded defaults (FireWorks store, "
            "SevenNet-0, GPAW), with REPORT.md and report.html")
    description = (help[0].upper() + help[1:] + ". A second run only rewrites the report; an interrupted "
                   "run resumes where it stopped.")

    @staticmethod
    def add_arguments(p):
        p.add_argument("-o", "--output", default="pvatoms-demo", help="run folder (default ./pvatoms-demo)")
        p.add_argument("--quick", action="store_true", help="a first look in a few minutes: CHGNet, unit "
                       "cells, coarse GPAW settings")
        p.add_argument("--launchers", type=Number(1, 64, integer=True), default=None,
                       help="launchers side by side (default: one per core, at most 2)")
        add_json(p, "print the summary as JSON")

    @staticmethod
    def run(args):
        from pathlib import Path

        from pvatoms import demo
        return demo.run(Path(args.output), quick=args.quick, as_json=args.json, launchers=args.launchers)
