"""Coherent RP / orthorhombic-CsPbBr3 phase-boundary supercells (the Pb-leakage phase boundary).

One perovskite block of K octahedral layers cut from Pnma CsPbBr3 and M Ruddlesden-Popper blocks
of n layers share the in-plane lattice and are stacked along a pseudocubic axis. The cell is
periodic, so it holds two boundaries, each a rock-salt CsBr double layer across which the
structure shifts by (1/2, 1/2).

>>> from pvatoms.build import rp_interface
>>> atoms = rp_interface(rp_n=1, rp_layers=2, perovskite_layers=4)
>>> sorted(set(atoms.arrays["region"]))
['boundary', 'perovskite', 'rp']
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from pvatoms.build.bulk import LATTICES, cspbbr3
from pvatoms.build.common import check_framework_distances, make_supercell, set_provenance
from pvatoms.build.rp import RP_N, _check_octahedra
from pvatoms.build.stacking import ROCKSALT_GAP, Block, pnma_framework, stack_blocks
from pvatoms.errors import InputError, check_choice, check_positive_int
from pvatoms.geometry import plane_distance
from pvatoms.reference import PNMA_CIF

STRAIN_ON = ("rp", "perovskite", "shared")


def rp_interface(rp_n: int = 1, rp_layers: int = 2, perovskite_layers: int = 4, axis: str = "b",
                 lattice: str = "pbe", strain_on: str = "rp", rp_in_plane: float | None = None,
                 gap: float = ROCKSALT_GAP, boundary_width: float = 2.5, supercell=(1, 1)) -> Atoms:
    """RP Cs(n+1)Pb(n)Br(3n+1) / Pnma CsPbBr3 phase-boundary supercell.

    Parameters
    ----------
    rp_n : RP member (1: Cs2PbBr4, 2: Cs3Pb2Br7, 3: Cs4Pb3Br10).
    rp_layers : number M of RP blocks (each n octahedra thick) on the RP side.
    perovskite_layers : number K of PbBr2 (octahedral) layers on the perovskite side.
    axis : Pnma axis the stacking follows: 'b' (default, the long axis), or 'a' / 'c' for the
        pseudocubic axis in the a-c plane next to a or c (see :func:`pnma_framework`).
    lattice : 'pbe' or 'experiment' lattice of the Pnma parent.
    strain_on : which side adopts the other's in-plane lattice: 'rp' (default: the RP inclusion is
        coherent with the host perovskite), 'perovskite', or 'shared' (thickness-weighted average).
    rp_in_plane : unstrained pseudocubic in-plane lattice constant of the RP phase (Å), e.g. from a
        relaxed Cs2PbBr4; default: that of the perovskite (then no side is strained).
    gap : spacing (Å) of the CsBr planes of each rock-salt double layer.
    boundary_width : atoms within this distance (Å) of a boundary plane are labelled ``boundary``.
    supercell : in-plane repeats (A, B) of the interface cell.

    ``atoms.info['interface']`` holds the strain each side carries (relative to its reference
    in-plane lattice), the boundary planes and their separation (Å); per-atom arrays ``region`` and
    ``boundary_distance`` (Å).
    """
    if rp_n not in RP_N:
        raise InputError(f"rp-n must be one of {', '.join(map(str, RP_N))}, got {rp_n!r}")
    M = check_positive_int("rp-layers", rp_layers)
    K = check_positive_int("perovskite-layers", perovskite_layers)
    check_choice("axis", axis, ("a", "b", "c"))
    check_choice("lattice", lattice, LATTICES)
    check_choice("strain-on", strain_on, STRAIN_ON)
    reps = tuple(check_positive_int("in-plane supercell", r) for r in supercell)
    if len(reps) != 2:
        raise InputError(f"interface supercell takes two in-plane repeats, got {tuple(supercell)!r}")
    if not boundary_width >= 0:
        raise InputError(f"boundary-width must be >= 0 Å, got {boundary_width!r}")
    fw = pnma_framework(cspbbr3("pnma", lattice), axis)
    u0, v0 = np.linalg.norm(fw.atoms.cell[:2], axis=1)
    n_columns = int(np.sum((fw.layer == 0) & (fw.atoms.numbers == 82)))
    a_pv = float(np.sqrt(np.linalg.norm(np.cross(*fw.atoms.cell[:2])) / n_columns))
    if rp_in_plane is None:
        rp_in_plane = a_pv
    if not 4.0 < rp_in_plane < 8.0:
        raise InputError(f"rp-in-plane is a pseudocubic lattice constant, expected 4-8 Å, got {rp_in_plane!r}")
    r = rp_in_plane / a_pv                   # RP reference in-plane lengths = perovskite ones x r
    t_rp = M * rp_n / (M * rp_n + K)
    f = {"rp": 1.0, "perovskite": r, "shared": (1 - t_rp) + t_rp * r}[strain_on]
    fw = fw.scaled_in_plane(f, f)
    atoms = stack_blocks(fw, [Block(K, "perovskite")] + [Block(rp_n, "rp")] * M, gap=gap,
                         boundary_width=boundary_width)
    check_framework_distances(atoms)
    _check_octahedra(atoms)
    planes = atoms.info["boundary_planes"]
    period = float(atoms.cell[2] @ np.array(atoms.info["stacking_normal"]))
    sep = abs(planes[1] - planes[0]) % period
    # which of the two spacings spans the perovskite block
    sep_pv = _perovskite_span(atoms, planes, period)
    strain = {
        "perovskite": {"u": f - 1.0, "v": f - 1.0},
        "rp": {"u": f / r - 1.0, "v": f / r - 1.0},
    }
    info = {
        "stacking_axis": axis,
        "stacking_normal": atoms.info["stacking_normal"],
        "in_plane": {"u": float(u0 * f), "v": float(v0 * f)},
        "reference_in_plane_pseudocubic": {"perovskite": a_pv, "rp": float(rp_in_plane)},
        "in_plane_strain": {k: {ax: round(float(x), 6) for ax, x in v.items()} for k, v in strain.items()},
        "strain_on": strain_on,
        "boundary_planes": planes,
        "boundary_separation": {"perovskite_side": sep_pv, "rp_side": period - sep_pv,
                                "min": min(sep, period - sep)},
        "period_along_normal": period,
        "rocksalt_gap": gap,
        "boundary_width": boundary_width,
    }
    atoms.info["interface"] = info
    set_provenance(atoms, "pvatoms.build.rp_interface",
                   {"rp_n": rp_n, "rp_layers": M, "perovskite_layers": K, "axis": axis,
                    "lattice": lattice, "strain_on": strain_on, "rp_in_plane": rp_in_plane,
                    "gap": gap, "boundary_width": boundary_width, "supercell": list(reps)},
                   f"structures/{PNMA_CIF}")
    if reps != (1, 1):
        atoms = make_supercell(atoms, reps + (1,))
    return atoms


def _perovskite_span(atoms: Atoms, planes, period: float) -> float:
    """Distance between the boundary planes measured across the perovskite block (Å)."""
    n = np.array(atoms.info["stacking_normal"])
    h = atoms.positions[atoms.arrays["block"] == 0] @ n
    p0, p1 = planes
    mid = (p0 + ((p1 - p0) % period) / 2) % period       # midpoint going up from p0 to p1
    d = plane_distance(h, [mid], period)
    span = (p1 - p0) % period
    # block 0 (perovskite) is centred on one of the two midpoints
    return float(span if np.median(d) < span / 2 else period - span)


def boundary_sites(atoms: Atoms, elements, symprec: float = 0.01) -> list[dict]:
    """The symmetry-distinct sites of ``elements`` in a boundary model (from :func:`rp_interface`),
    for a vacancy profile across the boundary: one representative per orbit of the model's space
    group (spglib, ``symprec`` Å) with ``index``, ``element``, ``multiplicity`` (atoms in the orbit),
    ``region``, ``distance`` (Å from the nearest boundary plane, signed: + into the perovskite
    block, - into the RP side) and ``class``: for Br its bond to the octahedra (``equatorial``: two
    Pb within :data:`BR_PB_BOND` Å, bridging in the layer plane; ``apical``: two Pb bridging along
    the stacking normal; ``terminal``: one Pb, the rock-salt layer's Br), for Cs and Pb their
    element. Sorted by element and distance."""
    import spglib
    for key in ("region", "boundary_distance", "block"):
        if key not in atoms.arrays:
            raise InputError(f"boundary_sites needs a boundary model (rp_interface) with per-atom {key!r}; "
                             f"this structure has {sorted(atoms.arrays)}")
    present = sorted(set(atoms.get_chemical_symbols()))
    for el in elements:
        if el not in present:
            raise InputError(f"no {el!r} in the boundary model; its elements: {', '.join(present)}")
    data = spglib.get_symmetry_dataset((np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers),
                                       symprec=symprec)
    orbit = np.asarray(data.equivalent_atoms) if data is not None else np.arange(len(atoms))
    out = []
    for rep in sorted(set(orbit.tolist())):
        el = atoms[rep].symbol
        if el not in elements:
            continue
        sign = 1.0 if int(atoms.arrays["block"][rep]) == 0 else -1.0      # block 0: the perovskite block
        out.append({"index": int(rep), "element": el, "multiplicity": int(np.sum(orbit == rep)),
                    "region": str(atoms.arrays["region"][rep]),
                    "distance": round(sign * float(atoms.arrays["boundary_distance"][rep]), 4),
                    "class": _bromide_class(atoms, rep) if el == "Br" else el})
    return sorted(out, key=lambda s: (s["element"], s["distance"], s["index"]))


#: Å: a Pb-Br distance up to this is a bond of an octahedron (the Pnma bonds are ~3.0 Å)
BR_PB_BOND = 3.6


def _bromide_class(atoms: Atoms, i: int) -> str:
    """equatorial / apical / terminal: how Br ``i`` bonds to the PbBr6 octahedra (see
    :func:`boundary_sites`)."""
    from ase.geometry import get_distances
    pb = np.flatnonzero(atoms.numbers == 82)
    vec, dist = get_distances(atoms.positions[i], atoms.positions[pb], cell=atoms.cell, pbc=True)
    bonded = vec[0][dist[0] <= BR_PB_BOND]
    if len(bonded) < 2:
        return "terminal"
    n = np.asarray(atoms.info["interface"]["stacking_normal"], float)
    bridge = bonded[0] - bonded[1]
    return "apical" if abs(bridge @ n) / np.linalg.norm(bridge) > 0.7 else "equatorial"


def rp_interface_pb(radius: float = 3.6, contact: float = 3.1, supercell=(2, 2), **interface) -> Atoms:
    """A Pb cluster at the RP / perovskite boundary: an fcc Pb sphere (a = 4.95 Å) of ``radius``
    (Å; 3.6 Å holds the 13-atom cuboctahedron) centred on the first boundary plane of an
    :func:`rp_interface` model (``interface``: its arguments; ``supercell``: in-plane repeats,
    large enough for the cluster), in a cavity cut so that no host atom lies closer than
    ``contact`` Å to a Pb atom of the cluster (3.1 Å: the Pb-Br bond of the host is ~3.0 Å).

    The atoms cut out are made charge-neutral (formal charges Cs +1, Pb +2, Br -1) by also removing
    the Cs or Br nearest the cavity, so the model is host + Pb⁰ with the host's stoichiometry kept
    neutral. Cluster atoms get region ``cluster`` (block -1, distance from the boundary as for any
    atom); ``atoms.info['pb_cluster']`` records the cluster (atoms, radius, centre, closest
    approach, the host atoms removed by element)."""
    from scipy.spatial import cKDTree

    from pvatoms.build.nanocrystal import PB_FCC_A, fcc_sphere
    if not 2.0 <= radius <= 12.0:
        raise InputError(f"Pb cluster radius is in Å, 2-12 (3.6: 13 atoms), got {radius!r}")
    if not 2.5 <= contact <= 4.5:
        raise InputError(f"contact (closest host-cluster distance) is in Å, 2.5-4.5, got {contact!r}")
    host = rp_interface(supercell=supercell, **interface)
    info = dict(host.info["interface"])
    n = np.asarray(info["stacking_normal"], float)
    cell = np.asarray(host.cell)
    # the in-plane centre of the cell on the first boundary plane
    centre = cell.sum(axis=0) / 2
    centre = centre + (info["boundary_planes"][0] - centre @ n) * n
    pts = fcc_sphere(radius)
    cluster = pts + centre
    # host atoms near the cluster, through the periodic images
    frac = np.linalg.solve(cell.T, (host.positions - centre).T).T
    frac -= np.round(frac)
    rel = frac @ cell
    d = cKDTree(pts).query(rel)[0]
    gone = set(np.flatnonzero(d < contact).tolist())
    if radius + contact > 0.5 * _shortest_width(cell):
        raise InputError(f"a Pb cluster of radius {radius} Å with {contact} Å contact does not fit in this cell "
                         f"(shortest width {_shortest_width(cell):.1f} Å; needs {2 * (radius + contact):.1f}): "
                         "give a larger in-plane supercell or a thicker model")
    charge = {"Cs": 1, "Pb": 2, "Br": -1}
    sym = np.array(host.get_chemical_symbols())
    q = sum(charge[sym[i]] for i in gone)
    dist = np.linalg.norm(rel, axis=1)
    while q != 0:                               # keep the host neutral: remove the nearest Cs or Br
        el = "Br" if q > 0 else "Cs"
        cand = [i for i in np.argsort(dist) if sym[i] == el and i not in gone]
        if not cand:
            raise InputError(f"cannot keep the host neutral around the cavity: no {el} left to remove")
        gone.add(int(cand[0]))
        q += charge[el]
    keep = np.setdiff1d(np.arange(len(host)), sorted(gone))
    out = host[keep]
    out.info = dict(host.info)
    cl = Atoms("Pb" * len(cluster), positions=cluster, cell=cell, pbc=True)
    cl.arrays["block"] = np.full(len(cl), -1, dtype=host.arrays["block"].dtype)
    cl.arrays["region"] = np.full(len(cl), "cluster", dtype="<U16")
    cl.arrays["boundary_distance"] = plane_distance(cluster @ n, info["boundary_planes"], info["period_along_normal"])
    out.arrays["region"] = out.arrays["region"].astype("<U16")
    out = out + cl
    out.info = dict(host.info)
    out.wrap()
    closest = float(d[keep].min()) if len(keep) else None      # host-cluster, nearest images
    removed = {el: int(sum(1 for i in gone if sym[i] == el)) for el in ("Cs", "Pb", "Br")}
    out.info["pb_cluster"] = {"atoms": len(cl), "radius": radius, "lattice": PB_FCC_A, "contact": contact,
                              "centre": centre.tolist(), "closest_host_distance": closest,
                              "removed": removed}
    set_provenance(out, "pvatoms.build.rp_interface_pb",
                   {"radius": radius, "contact": contact, "supercell": list(supercell), **interface},
                   f"structures/{PNMA_CIF}")
    return out


def _shortest_width(cell) -> float:
    """The smallest distance between opposite faces of the cell (Å)."""
    cell = np.asarray(cell, float)
    vol = abs(np.linalg.det(cell))
    return float(min(vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)))
