"""Symmetric slabs of CsPbBr3 (Pnma, tetragonal, cubic) and of Ruddlesden-Popper phases.

A perovskite cut parallel to a pseudocubic {001} plane is a stack of CsBr ("A") and PbBr2 ("B")
planes. :func:`slab` takes the structure INPUT, finds the lattice planes (h k l) of it, splits a tall
column of the crystal into atomic planes, checks that each plane is a CsBr or a PbBr2 plane, and
keeps a window of consecutive planes that starts and ends with the requested termination and whose
plane sequence reads the same from both sides (a symmetric slab).

Miller indices
--------------
``setting='cell'`` (default): (h k l) of the INPUT cell. For Pnma CsPbBr3 in the standard setting
of the reference CIF (b the long axis, a = c = sqrt(2) a_pc, b = 2 a_pc) the three pseudocubic
{001} planes are

======================  ======================  =====================================
Pnma (h k l)            pseudocubic (h k l)      in-plane vectors
======================  ======================  =====================================
(0 1 0)  (default)      (0 0 1)                  a, c   (stacking along b, in-phase tilt)
(1 0 1)                 (1 0 0)                  b, a - c
(1 0 -1)                (0 1 0)                  b, a + c
(0 0 1), (1 0 0)        {1 1 0}                  not CsBr/PbBr2 planes: refused
======================  ======================  =====================================

with pseudocubic axes a_pc = (a + c)/2, b_pc = (a - c)/2, c_pc = b/2, i.e.
(h k l)_Pnma = (h + k, 2 l, h - k)_pc reduced by their gcd. ``setting='pseudocubic'`` takes
pseudocubic indices and maps them this way (Pnma or 5-atom cubic INPUT only). For the cubic cell and
for RP cells (stacking along c, as :func:`ruddlesden_popper` builds them) the layer plane is (0 0 1)
of the cell, the default there.

Thickness, labels, report
-------------------------
``layers`` counts PbBr2 (octahedral) planes: a CsBr-terminated slab has ``layers`` PbBr2 and
``layers + 1`` CsBr planes (excess: one CsBr per surface cell, CsBr-rich); a PbBr2-terminated slab
has ``layers`` PbBr2 and ``layers - 1`` CsBr planes (excess PbBr2), so it needs ``layers >= 2``.
RP slabs keep whole blocks where symmetry asks for it (the valid counts are named when not).
``vacuum`` is the total empty gap (Å) between the slab and its periodic image along the normal
(the slab is centred, ``vacuum/2`` on each side); the normal is along z, the cell is periodic.

Per-atom labels: ``layer`` (0 = outermost plane on either side, 1 below it, ...), ``region``
(``surface`` for ``layer < surface_depth``, else ``bulk``), ``formal_charge`` (Cs +1, Pb +2, Br -1).
``atoms.info['slab']`` holds the plane sequence, stoichiometry excess and formal charge (the
JSON report); ``atoms.info['surface']`` the geometry that :func:`attach_ligands` needs.

>>> from pvatoms.build import slab
>>> s = slab("pnma", layers=3, termination="CsBr", vacuum=15)
>>> s.info["slab"]["excess"], s.info["slab"]["net_formal_charge"]
({'CsBr': 4, 'PbBr2': 0}, 0)
"""

from __future__ import annotations

from collections import Counter
from math import gcd

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from pvatoms.build.bulk import LATTICES, PHASES, cspbbr3
from pvatoms.build.common import check_framework_distances, pb_coordination, set_provenance
from pvatoms.errors import InputError, check_choice, check_positive_int

TERMINATIONS = ("CsBr", "PbBr2")
SETTINGS = ("cell", "pseudocubic")
#: Formal oxidation states used for charge bookkeeping (metallic Pb of a cluster counts 0).
FORMAL_CHARGE = {"Cs": 1, "Pb": 2, "Br": -1}
#: Atoms whose heights differ by less than this (Å) along the normal belong to one plane; CsBr and
#: PbBr2 planes of a perovskite are ~2.9 Å apart, tilts pucker a plane by < 0.5 Å.
PLANE_GAP = 1.0


def slab(bulk="pnma", miller=None, layers: int = 3, termination: str = "CsBr", vacuum: float = 15.0,
         supercell=(1, 1), setting: str = "cell", lattice: str = "pbe", surface_depth: int = 1) -> Atoms:
    """Symmetric slab with the same termination on both sides.

    Parameters
    ----------
    bulk : Atoms of the crystal (Pnma/tetragonal/cubic CsPbBr3 or an RP phase), or a phase name
        ('pnma', 'tetragonal', 'cubic') built with :func:`cspbbr3` and ``lattice``.
    miller : (h, k, l) plane in ``setting`` (see the module docstring); default: the pseudocubic
        (001) plane, (0 1 0) for a Pnma cell and (0 0 1) otherwise.
    layers : number of PbBr2 planes (>= 1 for CsBr, >= 2 for PbBr2 termination).
    termination : 'CsBr' or 'PbBr2' (both sides).
    vacuum : total gap between periodic images along the normal, Å (> 0).
    supercell : in-plane repeats (A, B).
    setting : 'cell' (indices of the INPUT cell) or 'pseudocubic'.
    lattice : 'pbe' or 'experiment' when ``bulk`` is a phase name.
    surface_depth : planes per side labelled ``region='surface'`` (default 1: the termination plane).

    Returns an :class:`ase.Atoms` slab (normal along z) with ``layer``/``region``/``formal_charge``
    labels and the report in ``atoms.info['slab']``. Example: ``slab('pnma', (0, 1, 0), 4, 'PbBr2')``.
    """
    check_choice("termination", termination, TERMINATIONS)
    check_choice("setting", setting, SETTINGS)
    nl = check_positive_int("layers", layers)
    depth = check_positive_int("surface-depth", surface_depth)
    if not (isinstance(vacuum, (int, float)) and vacuum > 0):
        raise InputError(f"vacuum must be a positive gap in Å (e.g. 15), got {vacuum!r}")
    reps = tuple(check_positive_int("in-plane supercell", r) for r in supercell)
    if len(reps) != 2:
        raise InputError(f"slab supercell takes two in-plane repeats, got {tuple(supercell)!r}")
    if termination == "PbBr2" and nl < 2:
        raise InputError(f"a PbBr2-terminated slab needs at least 2 PbBr2 layers (with 1 it is a bare "
                         f"PbBr2 sheet without Cs); got layers={layers!r}. Use layers >= 2 or termination CsBr")
    if isinstance(bulk, str):
        check_choice("bulk phase", bulk, PHASES)
        check_choice("lattice", lattice, LATTICES)
        bulk_atoms = cspbbr3(bulk, lattice)
        bulk_name = bulk
    else:
        bulk_atoms = bulk
        bulk_name = (bulk.info.get("provenance") or {}).get("builder", "input structure")
    _check_bulk(bulk_atoms)
    pnma_like = _is_pnma_cell(bulk_atoms)
    if miller is None:
        miller = (0, 0, 1) if setting == "pseudocubic" or not pnma_like else (0, 1, 0)
    hkl_in = _check_miller(miller)
    hkl_pc = None
    if setting == "pseudocubic":
        hkl_pc = hkl_in
        hkl = _pseudocubic_to_cell(hkl_in, bulk_atoms, pnma_like)
    else:
        hkl = hkl_in
        if pnma_like:
            hkl_pc = _pnma_to_pseudocubic(hkl)

    u, v, w = _plane_basis(bulk_atoms, hkl)
    planes, column, normal = _column_planes(bulk_atoms, u, v, w, nl, hkl, pnma_like)
    start, stop = _choose_window(planes, nl, termination, hkl)
    sel = [p for p in planes[start:stop + 1]]
    idx = np.concatenate([p["atoms"] for p in sel])
    nplanes = len(sel)
    plane_of = np.concatenate([np.full(len(p["atoms"]), k) for k, p in enumerate(sel)])
    layer = np.minimum(plane_of, nplanes - 1 - plane_of)

    atoms = column[idx]
    # orient: u along x, normal along z, slab centred with vacuum/2 on each side
    R = _rotation_to_z(u, normal)
    pos = atoms.positions @ R.T
    cu, cv = R @ u, R @ v
    cu[2] = cv[2] = 0.0
    z0, z1 = pos[:, 2].min(), pos[:, 2].max()
    thickness = float(z1 - z0)
    pos[:, 2] += vacuum / 2 - z0
    out = Atoms(atoms.numbers, positions=pos, cell=[cu, cv, [0, 0, thickness + vacuum]], pbc=True)
    if "site" in atoms.arrays:
        out.arrays["site"] = atoms.arrays["site"].copy()
    out.arrays["layer"] = layer.astype(int)
    out.arrays["region"] = np.where(layer < depth, "surface", "bulk").astype("<U16")
    out.wrap()
    if reps != (1, 1):
        out = out.repeat(reps + (1,))
    out = sort_atoms(out)
    set_formal_charges(out)
    check_framework_distances(out)

    sequence = [p["type"] for p in sel]
    comp = Counter(out.get_chemical_symbols())
    bulk_comp = Counter(bulk_atoms.get_chemical_symbols())
    excess = stoichiometry_excess(comp, bulk_comp)
    cn = pb_coordination(out)
    lay_pb = out.arrays["layer"][out.numbers == 82]
    pb_cn = {str(k): dict(sorted(Counter(cn[lay_pb == k].tolist()).items())) for k in sorted(set(lay_pb.tolist()))}
    inner_bad = [k for k, c in pb_cn.items() if int(k) > 0 and set(c) != {6}]
    if inner_bad:
        raise InputError(f"slab has Pb below the surface plane without six Br (layers {inner_bad}): "
                         "the requested geometry is not physical")
    area = float(np.linalg.norm(np.cross(out.cell[0], out.cell[1])))
    info = {
        "miller": list(hkl),
        "setting": "cell",
        "miller_pseudocubic": list(hkl_pc) if hkl_pc is not None else None,
        "miller_requested": {"indices": list(hkl_in), "setting": setting},
        "bulk": bulk_atoms.get_chemical_formula(mode="metal", empirical=True),
        "termination": termination,
        "layers": nl,
        "planes": sequence,
        "n_planes": nplanes,
        "thickness": round(thickness, 4),
        "vacuum": float(vacuum),
        "area": round(area, 4),
        "composition": dict(sorted(comp.items())),
        **excess,
        "net_formal_charge": net_formal_charge(out),
        "pb_coordination_by_layer": pb_cn,
        "surface_depth": depth,
    }
    out.info["slab"] = info
    out.info["surface"] = {"kind": "slab", "normal": [0.0, 0.0, 1.0],
                           "center": [0.0, 0.0, float(vacuum / 2 + thickness / 2)]}
    set_provenance(out, "pvatoms.build.slab",
                   {"bulk": bulk_name if isinstance(bulk_name, str) else "input", "miller": list(hkl_in),
                    "setting": setting, "layers": nl, "termination": termination, "vacuum": vacuum,
                    "supercell": list(reps), "lattice": lattice, "surface_depth": depth},
                   (bulk_atoms.info.get("provenance") or {}).get("reference"),
                   parent=bulk_atoms.info.get("provenance"))
    return out


# --------------------------------------------------------------------------------------------
# bookkeeping shared by the surface builders


def sort_atoms(atoms: Atoms, order=("Cs", "Pb", "Br")) -> Atoms:
    """Stable, vectorised species sort (Cs, Pb, Br first, then other elements alphabetically);
    per-atom arrays and ``info`` travel along (so POSCAR blocks stay contiguous)."""
    sym = np.array(atoms.get_chemical_symbols())
    others = sorted(set(sym) - set(order))
    rank = {s: i for i, s in enumerate(list(order) + others)}
    key = np.array([rank[s] for s in sym]) if len(sym) < 64 else np.vectorize(rank.get, otypes=[int])(sym)
    idx = np.argsort(key, kind="stable")
    out = atoms[idx]
    out.info = dict(atoms.info)
    return out


def set_formal_charges(atoms: Atoms) -> np.ndarray:
    """Fill ``arrays['formal_charge']`` (e): Cs +1, Pb +2, Br -1 by element, 0 for metallic cluster
    Pb (``region == 'cluster'``); other atoms (ligands) keep the charges already stored (0 if none)."""
    z = atoms.numbers
    q = np.asarray(atoms.arrays.get("formal_charge", np.zeros(len(atoms), int)), dtype=int).copy()
    for el, val in FORMAL_CHARGE.items():
        q[z == atomic_numbers[el]] = val
    if "region" in atoms.arrays:
        q[(atoms.arrays["region"] == "cluster")] = 0
    atoms.arrays["formal_charge"] = q
    return q


def net_formal_charge(atoms: Atoms) -> int:
    """Sum of ``arrays['formal_charge']`` (computed from the elements when absent), in e."""
    if "formal_charge" not in atoms.arrays:
        set_formal_charges(atoms)
    return int(np.sum(atoms.arrays["formal_charge"]))


def stoichiometry_excess(comp: dict, bulk_comp: dict) -> dict:
    """Split a Cs/Pb/Br composition into bulk formula units plus excess CsBr / PbBr2 units
    (negative: deficit) and left-over Br. ``comp`` and ``bulk_comp`` map element -> count."""
    cs, pb, br = (int(comp.get(e, 0)) for e in ("Cs", "Pb", "Br"))
    bcs, bpb, bbr = (int(bulk_comp.get(e, 0)) for e in ("Cs", "Pb", "Br"))
    g = gcd(gcd(bcs, bpb), bbr) or 1
    bcs, bpb, bbr = bcs // g, bpb // g, bbr // g
    units = min(cs // bcs if bcs else 10**9, pb // bpb if bpb else 10**9)
    e_cs, e_pb = cs - units * bcs, pb - units * bpb
    e_br = br - units * bbr - e_cs - 2 * e_pb
    return {"bulk_formula_units": int(units),
            "bulk_reduced_formula": f"Cs{bcs if bcs != 1 else ''}Pb{bpb if bpb != 1 else ''}Br{bbr}",
            "excess": {"CsBr": int(e_cs), "PbBr2": int(e_pb)},
            "excess_Br_beyond_CsBr_PbBr2": int(e_br)}


# --------------------------------------------------------------------------------------------
# geometry


def _check_bulk(atoms: Atoms) -> None:
    if not isinstance(atoms, Atoms):
        raise InputError(f"bulk must be an ase.Atoms or a phase name {PHASES}, got {type(atoms).__name__}")
    sym = set(atoms.get_chemical_symbols())
    if not {"Cs", "Pb", "Br"} <= sym or sym - {"Cs", "Pb", "Br"}:
        raise InputError(f"slab INPUT must be a Cs-Pb-Br crystal (CsPbBr3 or an RP phase), got "
                         f"{atoms.get_chemical_formula(mode='metal')}")
    if not atoms.pbc.all():
        raise InputError("slab INPUT must be a periodic bulk crystal (pbc in all three directions)")


def _is_pnma_cell(atoms: Atoms) -> bool:
    """Pnma CsPbBr3 in the standard setting: orthogonal cell, 4 formula units, b the long axis."""
    a, b, c, al, be, ga = atoms.cell.cellpar()
    return (len(atoms) == 20 and np.allclose([al, be, ga], 90, atol=0.5)
            and b > 1.3 * max(a, c) and abs(a - c) < 0.1 * a)


def _is_cubic_cell(atoms: Atoms) -> bool:
    a, b, c, al, be, ga = atoms.cell.cellpar()
    return len(atoms) == 5 and np.allclose([a, b], c, rtol=1e-3) and np.allclose([al, be, ga], 90, atol=0.1)


def _reduce(h) -> tuple[int, int, int]:
    h = [int(x) for x in h]
    g = gcd(gcd(abs(h[0]), abs(h[1])), abs(h[2])) or 1
    return tuple(x // g for x in h)


def _check_miller(miller) -> tuple[int, int, int]:
    try:
        h = [int(x) for x in miller]
        ok = len(h) == 3 and all(int(x) == x for x in miller)
    except (TypeError, ValueError):
        ok = False
    if not ok or not any(h):
        raise InputError(f"Miller indices must be three integers, not all zero, e.g. 0 1 0; got {miller!r}")
    return _reduce(h)


def _pnma_to_pseudocubic(hkl):
    """Pnma (h k l) -> pseudocubic indices: inverse of (h+k, 2l, h-k)."""
    h, k, l = hkl
    # a_pc=(a+c)/2, b_pc=(a-c)/2, c_pc=b/2 -> H_pc = a_pc.n = (h + l)/2, K_pc = (h - l)/2, L_pc = k/2
    return _reduce((h + l, h - l, k))


def _pseudocubic_to_cell(hkl, atoms, pnma_like):
    h, k, l = hkl
    if pnma_like:
        return _reduce((h + k, 2 * l, h - k))
    if _is_cubic_cell(atoms):
        return hkl
    raise InputError("setting 'pseudocubic' is defined for a Pnma cell (standard setting, b long) and the "
                     "5-atom cubic cell; for this INPUT give Miller indices of its own cell (setting 'cell'), "
                     "e.g. 0 0 1 for an RP phase stacked along c")


def _plane_basis(atoms: Atoms, hkl):
    """Two short lattice vectors in the plane (h k l) and a third lattice vector w with h.w = 1
    (Cartesian, Å): a primitive basis of the lattice adapted to the plane."""
    cell = np.asarray(atoms.cell)
    rng = np.arange(-4, 5)
    grid = np.array(np.meshgrid(rng, rng, rng, indexing="ij")).reshape(3, -1).T
    grid = grid[np.any(grid != 0, axis=1)]
    dots = grid @ np.asarray(hkl)
    cart = grid @ cell
    length = np.linalg.norm(cart, axis=1)
    inplane = np.flatnonzero(dots == 0)
    inplane = inplane[np.argsort(length[inplane], kind="stable")]
    # area of the primitive 2D cell of the plane: V |h b1 + k b2 + l b3| (b_i reciprocal, no 2 pi)
    area0 = abs(np.linalg.det(cell)) * np.linalg.norm(np.asarray(hkl) @ np.linalg.inv(cell).T)
    u_i = inplane[0]
    areas = np.linalg.norm(np.cross(cart[u_i], cart[inplane]), axis=1)
    ok = inplane[np.abs(areas - area0) < 1e-6 * max(area0, 1.0)]
    if len(ok) == 0:
        raise InputError(f"no lattice plane ({' '.join(map(str, hkl))}) found in the INPUT cell")
    v_i = ok[0]
    u, v = cart[u_i], cart[v_i]
    # third vector: h.w = +-1, shortest component out of plane preferred
    n = np.cross(u, v)
    n /= np.linalg.norm(n)
    third = np.flatnonzero(np.abs(dots) == 1)
    if len(third) == 0:
        raise InputError(f"Miller indices {hkl} are not primitive for this cell")
    w_i = third[np.argmin(np.abs(cart[third] @ n) * 1e3 + length[third])]
    w = cart[w_i]
    if np.dot(np.cross(u, v), w) < 0:
        u, v = v, u
    return u, v, w


def _column_planes(bulk: Atoms, u, v, w, nl, hkl, pnma_like):
    """A tall column of the crystal along w, cut into atomic planes along the normal of (u, v)."""
    from ase.build import make_supercell
    cell = np.asarray(bulk.cell)
    P = np.rint(np.linalg.solve(cell.T, np.array([u, v, w]).T).T).astype(int)
    oriented = make_supercell(bulk, P, wrap=True)
    normal = np.cross(u, v)
    normal /= np.linalg.norm(normal)
    h_w = float(w @ normal)
    pb_h = np.sort(np.mod(oriented.positions[oriented.numbers == 82] @ normal, h_w))
    n_pb_planes = 1 + int(np.sum(np.diff(pb_h) > PLANE_GAP))
    reps = int(np.ceil((nl + 4) / max(n_pb_planes, 1))) + 2
    column = oriented.repeat((1, 1, reps))
    column.set_cell(np.array([u, v, w * reps]), scale_atoms=False)
    h = column.positions @ normal
    order = np.argsort(h, kind="stable")
    cuts = np.flatnonzero(np.diff(h[order]) > PLANE_GAP) + 1
    groups = np.split(order, cuts)
    sym = np.array(column.get_chemical_symbols())
    planes = []
    for g in groups[1:-1]:                      # the end planes of the column may be partial
        c = Counter(sym[g])
        cs, pb, br = c.get("Cs", 0), c.get("Pb", 0), c.get("Br", 0)
        if pb and not cs and br == 2 * pb:
            kind = "PbBr2"
        elif cs and not pb and br == cs:
            kind = "CsBr"
        else:
            comp = "".join(f"{e}{c[e]}" for e in ("Cs", "Pb", "Br") if c.get(e))
            hint = ""
            if pnma_like:
                hint = (" In the Pnma setting (b long) the pseudocubic {001} planes are (0 1 0), (1 0 1) and "
                        "(1 0 -1); use --setting pseudocubic to give pseudocubic indices.")
            raise InputError(f"the ({' '.join(map(str, hkl))}) planes of this crystal are not CsBr/PbBr2 "
                             f"planes (found a plane {comp}), so no CsBr or PbBr2 termination exists for "
                             f"them.{hint}")
        planes.append({"atoms": g, "type": kind, "count": (cs, pb, br),
                       "height": float(np.mean(h[g]))})
    return planes, column, normal


def _choose_window(planes, nl, termination, hkl):
    """Index range [start, stop] of consecutive planes: starts and ends with ``termination``, holds
    ``nl`` PbBr2 planes, reads the same from both ends; fewest double CsBr (rock-salt) gaps inside."""
    best = _windows(planes, nl, termination)
    if best is None:
        valid = [k for k in range(1, 13) if _windows(planes, k, termination) is not None]
        raise InputError(f"no symmetric {termination}-terminated slab with {nl} PbBr2 layers exists for "
                         f"({' '.join(map(str, hkl))}) of this crystal; valid layer counts up to 12: "
                         f"{', '.join(map(str, valid)) or 'none'}")
    return best


def _windows(planes, nl, termination):
    types = [p["type"] for p in planes]
    sig = [(p["type"], p["count"]) for p in planes]
    best, best_key = None, None
    for s in range(len(planes)):
        if types[s] != termination:
            continue
        nb, e = 0, None
        for j in range(s, len(planes)):
            nb += types[j] == "PbBr2"
            if nb == nl and types[j] == termination and (termination == "PbBr2" or j > s):
                e = j
                break
            if nb > nl:
                break
        if e is None:
            continue
        win = sig[s:e + 1]
        if win != win[::-1]:
            continue
        gaps = sum(types[j] == types[j + 1] for j in range(s, e))
        key = (gaps, s)
        if best_key is None or key < best_key:
            best, best_key = (s, e), key
    return best


def _rotation_to_z(u, normal):
    """Rotation matrix taking ``normal`` to +z and ``u`` into the +x direction."""
    ez = normal / np.linalg.norm(normal)
    ex = u - (u @ ez) * ez
    ex /= np.linalg.norm(ex)
    ey = np.cross(ez, ex)
    return np.array([ex, ey, ez])
