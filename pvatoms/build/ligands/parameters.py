"""Chemical parameters of ligand placement: anchor bond lengths (Å), anchor and hydrogen-bond
angles (deg), contact minima (Å) and the radii and limits of the pose search.

:func:`ligand_ligand_limits` and :func:`contact_limits` turn the contact tables into per-pair
minima (Å) for element arrays.
"""

from __future__ import annotations

import numpy as np

SITES = ("cs", "pb", "br-vacancy")
BINDINGS = ("monodentate", "bidentate")
#: Anchor bond lengths (Å): Pb-O of a monodentate / chelating carboxylate, Pb-S, Pb-O(sulfonate),
#: the Pb-Br of a restored octahedron, and the N...Br distance of a quaternary ammonium ion pair.
BOND = {"Pb-O": 2.45, "Pb-O(bidentate)": 2.55, "Pb-S": 2.95, "Pb-O(sulfonate)": 2.50, "Pb-Br": 2.95,
        "N...Br(ion pair)": 4.0}
#: Window of the Pb-X-Y angle at the anchor (deg): Pb-O-C, Pb-S-C, Pb-O-S.
ANCHOR_ANGLE = {"carboxylate": (110.0, 140.0), "thiocyanate": (95.0, 120.0), "sulfobetaine": (120.0, 150.0)}
#: Hydrogen bond N-H...Br aimed for: N...Br window (Å) and smallest N-H...Br angle (deg).
HBOND_NBR = (3.30, 3.55)
HBOND_ANGLE = 150.0
#: Smallest accepted contacts (Å). Ligand-surface: H...Br 2.2 (H bonds are ~2.4), H...Cs/Pb 2.5,
#: C/N/O/S...anything 2.9 (anchor bonds excepted); ligand-ligand: H...H 1.9, H...C/N/O 2.3, 2.9 else.
MIN_LIGAND_SURFACE = {"H": {"Br": 2.2, "Cs": 2.5, "Pb": 2.5}, "X": 2.9}
MIN_LIGAND_LIGAND = {"HH": 1.9, "HX": 2.3, "XX": 2.9}
#: Radius (Å) of the environment used to optimise a pose, and of the one that tells site
#: environments apart (sites whose surroundings agree within it share one optimisation).
ENV_RADIUS = 6.0
KEY_RADIUS = 5.0
#: Ligand atoms within this distance (Å) of the anchor take part in the per-site optimisation.
HEAD_RADIUS = 3.4
#: Free sites tried (each with all its poses) for a ligand that no pose of its own site can hold.
MAX_SPARE_TRIES = 200
#: Largest tilt (deg) of a short ligand's axis from the surface normal (long ones: 2 deg, a brush).
MAX_TILT = 35.0
#: Ligands longer than this (Å) stand as a brush: chain along the facet normal, one spin per facet.
BRUSH_LENGTH = 8.0
#: Extra clearance (Å) above the ligand-ligand minima that neighbouring chains of a brush keep when
#: its spin is chosen; it absorbs the per-site adjustments (tilt <= 2 deg, spin +-2 deg).
PACKING_MARGIN = 0.5


def ligand_ligand_limits(a, b):
    """Smallest accepted distance (Å) between ligand atoms of elements ``a`` and ``b`` (arrays,
    broadcast): H...H, H...heavy or heavy...heavy from :data:`MIN_LIGAND_LIGAND`."""
    a_h = np.asarray(a) == "H"
    b_h = np.asarray(b) == "H"
    return np.where(a_h & b_h, MIN_LIGAND_LIGAND["HH"],
                    np.where(a_h | b_h, MIN_LIGAND_LIGAND["HX"], MIN_LIGAND_LIGAND["XX"]))


def contact_limits(el_lig, el_env):
    """Minimum contact (Å) for each (ligand atom, environment atom) pair used while optimising."""
    lim = np.empty((len(el_lig), len(el_env)))
    for a, ea in enumerate(el_lig):
        for b, eb in enumerate(el_env):
            if ea == "H":
                lim[a, b] = {"Br": 2.35, "Cs": 2.7, "Pb": 2.8}.get(eb, 2.3)
            else:
                lim[a, b] = {"Br": 3.3, "Cs": 3.3, "Pb": 3.4}.get(eb, 3.0)
    return lim

