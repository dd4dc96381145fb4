"""The workflow commands: ``pvatoms submit|launch|status|rerun|report|qlaunch|fw``.

    pvatoms submit workflows/smoke.yaml --store store
    pvatoms launch --store store
    pvatoms status --store store
    pvatoms rerun --fizzled --store store
    pvatoms report --store store -o report
    pvatoms qlaunch --queue workflows/queue/slurm.yaml -n 4
    pvatoms fw lpad get_fws -s COMPLETED

The work is done by :mod:`pvatoms.fw.operations` (which returns the JSON reports); this module
parses the arguments and prints the human-readable lines.
"""

from __future__ import annotations

import argparse
import sys

from pvatoms.cli.options import COUNT, Command, Number, add_json, add_launchpad


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _target(args):
    from pvatoms.fw.launchpads import Target
    return Target(args.store, args.launchpad)


def print_status(doc: dict) -> None:
    """Readable table of :func:`pvatoms.fw.operations.status` on stdout."""
    print(f"{doc['launchpad']}")
    print("  " + "  ".join(f"{k}: {v}" for k, v in doc["counts"].items()) if doc["counts"] else "  (empty)")
    if doc["fireworks"]:
        print(f"\n{'fw_id':>6}  {'state':<10} {'launches':>8}  name")
        for fw in doc["fireworks"]:
            print(f"{fw['fw_id']:>6}  {fw['state']:<10} {fw['launches']:>8}  {fw['name']}")


class Submit(Command):
    help = "add a study (workflows/*.yaml) to the LaunchPad"

    @staticmethod
    def add_arguments(p):
        p.add_argument("spec", metavar="SPEC.yaml", help="study spec (see workflows/)")
        p.add_argument("--folder", default=None, metavar="DIR", help="run folder (default: the spec's "
                       "'folder', else runs/NAME; relative to the current directory)")
        add_launchpad(p)
        add_json(p, "print a JSON report")

    @staticmethod
    def run(args):
        from pvatoms.fw.operations import submit
        doc = submit(args.spec, _target(args), args.folder)
        if not args.json:
            _say(f"submitted {doc['workflow']}: {doc['n_fireworks']} fireworks (ids {doc['fw_ids'][0]}-"
                 f"{doc['fw_ids'][-1]}) to {doc['launchpad']}; results in {doc['folder']}")
            for note in doc["notes"]:
                _say(f"  note: {note}")
        return doc


class Launch(Command):
    help = "run READY fireworks locally until none is left"

    @staticmethod
    def add_arguments(p):
        add_launchpad(p)
        p.add_argument("--max-jobs", type=COUNT, default=None, metavar="N", help="stop after N fireworks")
        p.add_argument("--quiet", action="store_true", help="no progress lines")
        add_json(p, "print a JSON summary")

    @staticmethod
    def run(args):
        from pvatoms.fw.operations import launch
        doc = launch(_target(args), args.max_jobs, quiet=args.quiet)
        if not args.json and not args.quiet:
            _say(f"launch finished: ran {doc.get('ran', '?')}, completed {doc.get('completed', '?')}, "
                 f"fizzled {doc.get('fizzled', [])}, lost runs rerun {doc.get('rerun_lost', [])}")
        return doc

    @staticmethod
    def exit_code(args, doc) -> int:
        """1 when any firework fizzled (any job failed), with one line per failure."""
        fizzled = doc.get("fizzled") or []
        if not fizzled:
            return 0
        _say(f"pvatoms: {len(fizzled)} firework(s) fizzled (pvatoms status; pvatoms rerun --fizzled once fixed):")
        for fw_id, reason in (doc.get("failures") or {}).items():
            _say(f"  fw {fw_id} {reason}")
        return 1


class Status(Command):
    help = "state of every firework"

    @staticmethod
    def add_arguments(p):
        add_launchpad(p)
        add_json(p, "one JSON object: counts and fireworks")

    @staticmethod
    def run(args):
        from pvatoms.fw.operations import status
        doc = status(_target(args))
        if not args.json:
            print_status(doc)
        return doc


class Rerun(Command):
    help = "send FIZZLED fireworks (or the given ids) back to READY"

    @staticmethod
    def add_arguments(p):
        add_launchpad(p)
        p.add_argument("--fizzled", action="store_true", help="all FIZZLED fireworks")
        p.add_argument("fw_ids", nargs="*", type=COUNT, help="firework ids")
        add_json(p, "print a JSON report")

    @staticmethod
    def run(args):
        from pvatoms.fw.operations import rerun
        doc = rerun(_target(args), args.fizzled, args.fw_ids)
        if not args.json and not doc["rerun"]:
            _say("pvatoms: nothing to rerun: no FIZZLED fireworks")
        return doc


class Report(Command):
    help = "collect finished results into tables (CSV, Markdown, LaTeX)"

    @staticmethod
    def add_arguments(p):
        add_launchpad(p)
        p.add_argument("-o", "--output", default="report", metavar="DIR", help="output folder (default ./report)")
        add_json(p, "print a JSON report")

    @staticmethod
    def run(args):
        from pvatoms.fw.operations import report
        doc = report(_target(args), args.output)
        if not args.json:
            _say(f"{len(doc['rows'])} results -> {doc['files'].get('md')}")
        return doc


class Qlaunch(Command):
    help = "submit rockets to SLURM/PBS (workflows/queue/*.yaml)"

    @staticmethod
    def add_arguments(p):
        add_launchpad(p)
        p.add_argument("--queue", required=True, metavar="FILE",
                       help="queue template, e.g. workflows/queue/slurm.yaml")
        p.add_argument("-n", "--njobs", type=Number(1, 1000, integer=True), default=1, help="number of queue jobs (default 1)")
        add_json(p, "print a JSON report")

    @staticmethod
    def run(args):
        from pvatoms.fw.operations import qlaunch
        doc = qlaunch(_target(args), args.queue, args.njobs)
        if not args.json:
            _say(f"submitted {len(doc['jobs'])} {doc['queue']} job(s): "
                 f"{', '.join(j['job_id'] for j in doc['jobs'])}")
        return doc


class FireWorksTool(Command):
    help = "run a FireWorks tool (lpad, rlaunch, ...) on the embedded store, safely"
    description = ("Run FireWorks' own tool on the embedded store, under its lock, on a private copy that "
                   "replaces the store only if the tool succeeds. Example: pvatoms fw lpad get_fws -s COMPLETED. "
                   "Store upkeep: pvatoms fw check (report its state), pvatoms fw recover (rebuild a damaged "
                   "store from its snapshot, journal and backups), pvatoms fw reset --yes (empty it; the old "
                   "files are kept).")

    @staticmethod
    def add_arguments(p):
        p.add_argument("--store", default=None, metavar="PATH", help="embedded store (default as for launch)")
        p.add_argument("tool", help="lpad | rlaunch | qlaunch | mlaunch, or check | recover | reset")
        p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the tool")

    @staticmethod
    def run(args) -> int:
        from pvatoms.fw.store import EmbeddedStore
        from pvatoms.fw.tools import run_tool
        return run_tool(EmbeddedStore(args.store), args.tool, args.args)
