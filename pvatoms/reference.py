"""Reference structure data kept in the repository's ``structures/`` folder, with provenance.

The folder is found next to the package (editable install, the documented set-up) or through the
``PVATOMS_STRUCTURES`` environment variable.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml

from pvatoms.errors import InputError

PNMA_CIF = "CsPbBr3_Pnma_mp-567629_PBE.cif"


def structures_dir() -> Path:
    """Folder holding the reference CIFs and ``lattices.yaml``."""
    env = os.environ.get("PVATOMS_STRUCTURES")
    folder = Path(env) if env else Path(__file__).resolve().parents[1] / "structures"
    if not (folder / PNMA_CIF).is_file():
        raise InputError(
            f"reference structures not found in {folder}; set PVATOMS_STRUCTURES to the folder "
            f"holding {PNMA_CIF} and lattices.yaml (the 'structures/' folder of the pvatoms repository)"
        )
    return folder


def reference_file(name: str) -> Path:
    """Path of a reference file in ``structures/`` (e.g. :data:`PNMA_CIF`)."""
    return structures_dir() / name


@functools.lru_cache(maxsize=None)
def lattices() -> dict:
    """Lattice parameters (Å) per phase and source, from ``structures/lattices.yaml``."""
    with open(structures_dir() / "lattices.yaml") as fh:
        return yaml.safe_load(fh)


def lattice(phase: str, source: str) -> dict:
    """Lattice parameters of ``phase`` ('pnma', 'tetragonal', 'cubic') from ``source``
    ('pbe' or 'experiment'), e.g. ``{'a': 8.244, 'b': 11.735, 'c': 8.198, 'source': '...'}``."""
    data = lattices()
    if phase not in data:
        raise InputError(f"no reference lattice for phase {phase!r}; valid: {', '.join(data)}")
    if source not in data[phase]:
        raise InputError(f"unknown lattice source {source!r}; valid: {', '.join(data[phase])}")
    return dict(data[phase][source])
