"""Ligands on CsPbBr3 surfaces: physical binding modes, coverage, clash-free placement, charge.

Binding modes (``site``), chosen by the ligand's family (see :mod:`pvatoms.build.ligand_library`):

- ``cs`` (A site of the outermost CsBr / AX' plane): an alkylammonium R-NH3+ replaces the surface
  Cs+; its N sits in the A site (moved by < 1 Å where that makes better bonds) and the three N-H
  bonds point at Br of the cage (aimed at N...Br 3.30-3.55 Å, N-H...Br >= 150 deg). DDA+ (no N-H)
  replaces Cs+ with its N lifted above the A site; the surface Br is its counter-ion (ion pair).
- ``pb`` (a surface Pb missing its outer apical Br, PbBr2 termination): carboxylate O (Pb-O 2.45 Å
  monodentate; both O at ~2.55 Å bidentate chelating), thiocyanate S (Pb-S 2.95 Å) or sulfonate O
  (2.50 Å) along the missing Pb-Br direction (tipped by up to ~20 deg if that clears contacts).
  DDAB: Br- restores the octahedron (Pb-Br 2.95 Å) and DDA+ sits above it (N...Br ~4.0 Å).
- ``br-vacancy`` (a surface Br bound to one Pb, CsBr/AX' termination): the Br is removed and the
  anchor takes its place along the Pb-Br direction at the Pb-O/Pb-S distance.

Poses: the ligand template (rigid, from the library) is placed in the local frame of a site (site
at the origin, outward normal +z); sites whose surroundings agree (within 5 Å, to 0.1 Å) share one
optimisation. The penalty counts contacts closer than chemical minima, the H-bond geometry (NH3
rotor included), the anchor angle (Pb-O-C 110-140 deg, Pb-S-C 95-120 deg) and the tilt of the
chain from the normal. Short ligands (<= 8 Å) are optimised freely per environment (grid search,
then a seeded shrinking random search; tilt <= 35 deg). Longer ones stand as a brush: chain along
the facet normal (tilt <= 2 deg) with one spin about it for all sites of a facet, chosen for the
summed site penalties plus the packing of each environment's pose against its neighbours' (so a
cis-kinked oleyl chain leans the same way as its neighbours). Remaining contacts are resolved
ligand by ligand with alternative spins, then by moving the ligand to a free site; if that fails
the call stops and says so (lower the coverage).

Charge: ammonium for Cs, or an anion for Br, keeps the model's charge; an anion on ``pb`` adds -1;
a zwitterion in a Br vacancy adds +1; the ion pair adds 0. ``neutral=True`` compensates what is
left: a positive excess removes the surface Cs nearest to the ligands, a negative one the surface Br
nearest to them (X-type exchange). The report says which atoms went.

Coverage: ``round(coverage x available sites)`` sites drawn with ``numpy.random.default_rng(seed)``.
Labels: ``region='ligand'``, ``layer=-1``, ``molecule`` (id per ligand), ``formal_charge``. A slab's
vacuum direction is regrown so that the ligand-capped slab keeps the slab's vacuum gap.

>>> from pvatoms.build import slab, attach_ligands
>>> s = slab("pnma", layers=2, termination="CsBr", supercell=(2, 2))
>>> capped = attach_ligands(s, "methylammonium", coverage=0.5, seed=1)
>>> capped.info["ligands"][-1]["n_ligands"], capped.info["ligands"][-1]["net_formal_charge"]
(8, 0)

Modules: :mod:`~pvatoms.build.ligands.attach` (:func:`attach_ligands`),
:mod:`~pvatoms.build.ligands.sites` (binding sites, local frames),
:mod:`~pvatoms.build.ligands.surface` (periodic neighbour search, layers, normals, vacuum refit),
:mod:`~pvatoms.build.ligands.parameters` (bond lengths, angles, contact minima),
:mod:`~pvatoms.build.ligands.pose` (rigid-body poses, rotations),
:mod:`~pvatoms.build.ligands.penalty` (pose penalty),
:mod:`~pvatoms.build.ligands.optimise` (per-environment pose optimisation, brushes),
:mod:`~pvatoms.build.ligands.packing` (clash-free placement),
:mod:`~pvatoms.build.ligands.assemble` (structure, labels, charge compensation),
:mod:`~pvatoms.build.ligands.measure` (contacts, anchor and hydrogen bonds of the report).
"""

from pvatoms.build.ligands.attach import attach_ligands
from pvatoms.build.ligands.measure import hydrogen_bonds, ligand_geometry
from pvatoms.build.ligands.parameters import (ANCHOR_ANGLE, BINDINGS, BOND, BRUSH_LENGTH, ENV_RADIUS, HBOND_ANGLE,
                                              HBOND_NBR, HEAD_RADIUS, KEY_RADIUS, MAX_SPARE_TRIES, MAX_TILT,
                                              MIN_LIGAND_LIGAND, MIN_LIGAND_SURFACE, PACKING_MARGIN, SITES)
from pvatoms.build.ligands.sites import SiteSet, find_sites

__all__ = ["attach_ligands", "find_sites", "SiteSet", "ligand_geometry", "hydrogen_bonds", "SITES", "BINDINGS",
           "BOND", "ANCHOR_ANGLE", "HBOND_NBR", "HBOND_ANGLE", "MIN_LIGAND_SURFACE", "MIN_LIGAND_LIGAND",
           "ENV_RADIUS", "KEY_RADIUS", "HEAD_RADIUS", "MAX_SPARE_TRIES", "MAX_TILT", "BRUSH_LENGTH",
           "PACKING_MARGIN"]
