"""Quick pictures of structures for reports (matplotlib; fast for 10^5 atoms)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REGION_COLOURS = {"perovskite": "#4c72b0", "rp": "#dd8452", "boundary": "#c44e52", "ligand": "#55a868",
                  "cluster": "#7f7f7f", "shell": "#8172b3", "core": "#4c72b0", "surface": "#8172b3"}
ELEMENT_COLOURS = {"Cs": "#57178f", "Pb": "#575961", "Br": "#a62929", "C": "#909090", "H": "#e0e0e0",
                   "N": "#3050f8", "O": "#ff0d0d", "S": "#e0c030"}


def picture(atoms, path, rotation: str = "0x,0y,0z", by_region: bool = False, size=(7, 5)) -> Path:
    """A quick orthographic picture of ``atoms`` (PNG): atoms as discs sorted by depth, coloured
    by element or by region label. Fast for 10^5 atoms (one scatter call)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ase.data import covalent_radii
    from ase.utils import rotate

    pos = atoms.positions @ rotate(rotation)
    order = np.argsort(pos[:, 2])
    sym = np.array(atoms.get_chemical_symbols())
    if by_region and "region" in atoms.arrays:
        labels = np.asarray(atoms.arrays["region"]).astype(str)
        colours = np.array([REGION_COLOURS.get(r, "#999999") for r in labels])
    else:
        labels = sym
        colours = np.array([ELEMENT_COLOURS.get(s, "#999999") for s in sym])
    fig, ax = plt.subplots(figsize=size)
    span = np.ptp(pos[:, :2], axis=0).max() or 1.0
    points_per_angstrom = 0.8 * 72 * min(size) / span
    s = (0.9 * covalent_radii[atoms.numbers] * points_per_angstrom) ** 2      # marker area, points^2
    ax.scatter(pos[order, 0], pos[order, 1], s=s[order], c=colours[order], edgecolors="k",
               linewidths=0.2 if len(atoms) < 3000 else 0.0)
    for lab in sorted(set(labels)):
        col = REGION_COLOURS.get(lab) if by_region else ELEMENT_COLOURS.get(lab)
        ax.scatter([], [], c=col or "#999999", label=lab, s=40)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
