"""The ``pvatoms`` command: one parser built from the command modules, one error path, one JSON path.

    pvatoms build bulk --phase pnma -o CsPbBr3.cif --json
    pvatoms build defects CsPbBr3.cif --vacancy Br Pb Cs --supercell 2 2 2 -o defects/
    pvatoms run relax CsPbBr3.cif --cell -o relax/
    pvatoms submit workflows/smoke.yaml && pvatoms launch && pvatoms status
    pvatoms demo -o pvatoms-demo

Each entry of :data:`COMMANDS` names a :class:`~pvatoms.cli.options.Command` class in a command
module; its ``run`` returns a JSON-able dict (printed with :func:`pvatoms.io.dumps` when
``--json`` is given) or an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from pvatoms import __version__
from pvatoms.errors import InputError

#: (command, module, class) in the order ``pvatoms --help`` lists them
COMMANDS = [
    ("build", "pvatoms.cli.build", "Build"),
    ("ligands", "pvatoms.cli.ligands", "Ligands"),
    ("run", "pvatoms.cli.run", "Run"),
    ("submit", "pvatoms.cli.workflow", "Submit"),
    ("launch", "pvatoms.cli.workflow", "Launch"),
    ("status", "pvatoms.cli.workflow", "Status"),
    ("rerun", "pvatoms.cli.workflow", "Rerun"),
    ("report", "pvatoms.cli.workflow", "Report"),
    ("qlaunch", "pvatoms.cli.workflow", "Qlaunch"),
    ("fw", "pvatoms.cli.workflow", "FireWorksTool"),
    ("analyse", "pvatoms.cli.analyse", "Analyse"),
    ("demo", "pvatoms.cli.demo", "Demo"),
]

DESCRIPTION = ("Structures and DFT workflows for lead halide perovskites (CsPbBr3, Ruddlesden-Popper "
               "phases, their boundaries, surfaces, nanocrystals, defects).")
EPILOG = "Run pvatoms COMMAND --help for the options of each command."

INTERRUPTED = ("\npvatoms: interrupted; finished calculations are saved, run the same command again to "
               "resume")


def command_class(module: str, name: str):
    """The command class ``name`` of the module ``module``."""
    return getattr(importlib.import_module(module), name)


def build_parser() -> argparse.ArgumentParser:
    """The full ``pvatoms`` parser; ``args._command`` is the chosen command class."""
    ap = argparse.ArgumentParser(prog="pvatoms", description=DESCRIPTION, epilog=EPILOG)
    ap.add_argument("--version", action="version", version=f"pvatoms {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module, cls_name in COMMANDS:
        cls = command_class(module, cls_name)
        p = sub.add_parser(name, help=cls.help, description=cls.description or cls.help,
                           formatter_class=cls.formatter_class)
        cls.add_arguments(p)
        p.set_defaults(_command=cls)
    return ap


def main(argv=None) -> int:
    """Run ``pvatoms ARGS``; returns the exit status (argparse exits 2 itself on bad usage)."""
    args = build_parser().parse_args(argv)
    cmd = args._command
    try:
        out = cmd.run(args)
    except InputError as exc:
        print(f"pvatoms: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:           # Ctrl-C, or SIGTERM during a job (jobs.interrupts)
        # Everything finished is already on disk (atomic result.json, store transactions); a
        # calculation thread may still be inside a C++ library, so leave without interpreter teardown.
        print(INTERRUPTED, file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(getattr(exc, "exit_status", 130))   # 143 after SIGTERM
    if isinstance(out, int):
        return out
    if getattr(args, "json", False):
        from pvatoms.io import dumps
        print(dumps(out))
    return cmd.exit_code(args, out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
