"""Structures named in a study spec, built or read (see :class:`pvatoms.studies.specs.Structure`)."""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from pvatoms.studies.specs import Structure


def build_structure(item: Structure, base: str | Path = ".") -> Atoms:
    """An ase.Atoms from a builder and its arguments, or from a file relative to ``base``; then
    rattled by ``rattle`` Å (seeded) when asked."""
    from pvatoms import build
    from pvatoms.io import read_structure
    if item.file is not None:
        atoms = read_structure(Path(base) / item.file)
    else:
        args = dict(item.arguments)
        if "supercell" in args:
            args["supercell"] = tuple(args["supercell"])
        atoms = getattr(build, item.builder)(**args)
    if item.rattle:
        atoms.rattle(float(item.rattle), seed=int(item.seed))
    return atoms
