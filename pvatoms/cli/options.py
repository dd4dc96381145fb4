"""What the command modules share: the :class:`Command` protocol, sub-command tables and the
common options (-o, --json, --supercell, --store/--launchpad)."""

from __future__ import annotations

import argparse
import re
from typing import Callable, NamedTuple

from pvatoms.errors import InputError


class Command:
    """One ``pvatoms COMMAND``. Subclasses set ``help`` (the one line of ``pvatoms --help``) and
    ``description`` (the text of ``pvatoms COMMAND --help``; default: ``help``) and implement
    :meth:`add_arguments` and :meth:`run`. :func:`pvatoms.cli.main.main` turns an
    :class:`~pvatoms.errors.InputError` into ``pvatoms: error: MSG`` (exit 2) and prints the
    returned dict as JSON when the command has ``--json`` and it is given."""

    help: str = ""
    description: str | None = None
    #: argparse formatter of the command's help (RawDescriptionHelpFormatter keeps line breaks)
    formatter_class = argparse.HelpFormatter

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """Add the command's arguments to its sub-parser."""

    @staticmethod
    def run(args: argparse.Namespace) -> dict | int:
        """Do the work; return the JSON-able report, or an exit code when there is none."""
        raise NotImplementedError

    @staticmethod
    def exit_code(args: argparse.Namespace, doc: dict) -> int:
        """Exit status after ``doc`` was reported (default 0)."""
        return 0


class Subcommand(NamedTuple):
    """One entry of a command group (``pvatoms build bulk``, ``pvatoms run relax`` ...)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], dict]
    description: str | None = None
    #: argparse formatter of its help (default: that of the group)
    formatter_class: type | None = None


def add_subcommands(parser, dest: str, metavar: str, table: dict[str, Subcommand],
                    formatter_class=argparse.HelpFormatter) -> None:
    """Sub-parsers of ``parser`` from ``table``; the chosen name is stored in ``args.<dest>``."""
    sub = parser.add_subparsers(dest=dest, metavar=metavar, required=True)
    for name, entry in table.items():
        p = sub.add_parser(name, help=entry.help, description=entry.description or entry.help,
                           formatter_class=entry.formatter_class or formatter_class)
        entry.add_arguments(p)


def dispatch(args, dest: str, table: dict[str, Subcommand]) -> dict:
    """Run the entry of ``table`` named by ``args.<dest>``."""
    return table[getattr(args, dest)].run(args)


def add_json(parser, help: str = "print a JSON report on stdout") -> None:
    parser.add_argument("--json", action="store_true", help=help)


def add_output_file(parser, help: str = "where to write (.cif, .vasp/POSCAR, .extxyz)") -> None:
    """``-o FILE`` (required) and ``--json``, as every build command has them."""
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help=help)
    add_json(parser)


class Number:
    """An argparse ``type`` for a validated number: finite, in a range, an integer when asked
    (1.5 is refused, not truncated). The message names the value and what is valid, e.g.
    ``argument --fmax: must be a finite number between 0 and 10 (lower excluded) eV/Å, got 'nan'``
    (argparse then exits 2). Checks with :func:`pvatoms.io.check_number`."""

    def __init__(self, low=None, high=None, *, low_open: bool = False, high_open: bool = False,
                 integer: bool = False, unit: str = ""):
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        self.integer, self.unit = integer, unit
        self.__name__ = "integer" if integer else "number"

    def __call__(self, text: str):
        from pvatoms.io import check_number
        kind = "an integer" if self.integer else "a number"
        try:
            raw = int(text) if self.integer and re.fullmatch(r"\s*[+-]?\d+\s*", text) else float(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        try:
            return check_number("value", raw, self.low, self.high, low_open=self.low_open,
                                high_open=self.high_open, unit=self.unit, integer=self.integer)
        except InputError as exc:
            msg = str(exc).replace("value must", "must", 1)
            raise argparse.ArgumentTypeError(re.sub(r"got \S+", lambda m: f"got {text!r}", msg, count=1)) from None

    def __repr__(self) -> str:
        return f"Number({self.low}, {self.high}, integer={self.integer})"


#: the numeric argument types every command uses
FINITE = Number()
POSITIVE = Number(0, low_open=True)
NON_NEGATIVE = Number(0)
FRACTION = Number(0, 1)
FORCE = Number(0, 10, low_open=True, unit="eV/Å")
STEPS = Number(1, 100_000, integer=True)
CHARGE = Number(-20, 20, integer=True)
REPEATS = Number(1, 50, integer=True)
COUNT = Number(1, integer=True)
SEED = Number(0, 2 ** 32 - 1, integer=True)
INTEGER = Number(integer=True)


def length(high: float = 1000.0, low_open: bool = True, unit: str = "Å") -> Number:
    """A length from 0 (excluded unless ``low_open=False``) to ``high``."""
    return Number(0, high, low_open=low_open, unit=unit)


def add_supercell(parser, n: int = 3, default=(1, 1, 1), help: str | None = None) -> None:
    """``--supercell A B [C]``: repeats of the cell (integers 1-50)."""
    names = ("A", "B", "C")[:n]
    parser.add_argument("--supercell", nargs=n, type=REPEATS, metavar=names, default=default,
                        help=help or f"repeat the cell {' x '.join(names)} times (default "
                        f"{' '.join(map(str, default))})")


def add_list(parser, flag: str, metavar: str, help: str, default=(), **kw) -> None:
    """A list option ``FLAG X [X ...]`` that may be repeated: the values of every use are kept
    (``--vacancy Br --vacancy Cs`` is ``--vacancy Br Cs``). Not given: ``default`` as a list
    (argparse would extend a non-empty default, so commands fill those in themselves)."""
    if default:
        raise ValueError("a repeatable list option takes an empty default")
    parser.add_argument(flag, nargs="+", action="extend", default=None if default is None else [],
                        metavar=metavar, help=help, **kw)


def add_launchpad(parser) -> None:
    """``--store PATH`` / ``--launchpad FILE``: which LaunchPad the command uses."""
    parser.add_argument("--store", default=None, metavar="PATH", help="embedded LaunchPad folder (default: "
                        "$PVATOMS_STORE or ~/.local/share/pvatoms/store)")
    parser.add_argument("--launchpad", default=None, metavar="FILE",
                        help="my_launchpad.yaml of a MongoDB server")
