"""``pvatoms ligands list [--json]``: the ligand library that ``pvatoms build ligands`` and
``pvatoms build nanocrystal`` place."""

from __future__ import annotations

from pvatoms.cli.options import Command, Subcommand, add_json, add_subcommands, dispatch


def _list_arguments(p):
    add_json(p, "print the library as JSON")


def _list(args) -> dict:
    from pvatoms.build.ligand_library import library_table
    rows = library_table()
    if not args.json:
        print(f"{'name':<22} {'formula':<12} {'q':>3}  {'kind':<20} {'anchors':<12} {'sites':<16} truncation of")
        for r in rows:
            print(f"{r['name']:<22} {r['formula']:<12} {r['charge']:>+3d}  {r['kind']:<20} "
                  f"{','.join(r['anchors']):<12} {','.join(r['sites']):<16} {r['truncation_of'] or ''}")
    return {"ligands": rows}


ACTIONS = {
    "list": Subcommand("name, formula, charge, binding family, anchors, sites", _list_arguments, _list),
}


class Ligands(Command):
    help = "the ligand library (list)"
    description = "Ligands that pvatoms build ligands and pvatoms build nanocrystal place."

    @staticmethod
    def add_arguments(parser):
        add_subcommands(parser, "action", "ACTION", ACTIONS)

    @staticmethod
    def run(args):
        return dispatch(args, "action", ACTIONS)
