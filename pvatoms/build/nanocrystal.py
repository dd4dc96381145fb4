"""Cube-shaped CsPbBr3 nanocrystals after the [CsPbBr3](PbBr2){AX'} surface model, optionally with
a Ruddlesden-Popper Cs2PbBr4 slab inside and a metallic fcc Pb cluster on a facet next to it (the
degraded dot of the Pb-leakage study, Liu et al., Nanoscale 2021, 13, 124).

Construction (vectorised numpy, no per-atom Python loops): every atom of the perovskite framework
(Pnma with its tilts, or cubic) gets a doubled pseudocubic index (Pb: all even, Cs: all odd, Br: one
odd); the dot is the block of indices -1 ... 2N-1 on each axis, N = round(edge / a_pc) octahedra per
edge, so every PbBr6 octahedron is complete and the outer plane of each facet is a CsBr-like AX'
plane (Cs in the surface A sites, the octahedra's outer apical Br). Such a block carries 3N + 1
extra Cs+ (edges and corners); they are removed, least Br-coordinated first (corners, then edges),
which leaves the dot neutral: [CsPbBr3]_core (PbBr2)_excess {CsBr}_shell. ``termination='PbBr2'``
stops at the outer Pb planes instead (Pb with five Br, charge +(3N - 1) until X-type ligands or
``neutral`` take it away).

RP inclusion: ``rp_inclusion`` (nm) -> M = round(thickness / (a_pc + gap)) Cs2PbBr4 blocks replace M
PbBr2 planes of the dot across its c_pc axis (the Pnma b axis); each CsBr plane bounding a block is
doubled into a rock-salt pair (``gap`` Å apart) and everything above is shifted by
(1/2, 1/2) a_pc, as in :mod:`pvatoms.build.stacking`. Side facets get half-cell steps there.

Pb cluster: ``pb_cluster`` (radius, nm) -> a sphere cut from fcc Pb (a = 4.95 Å, cube axes along the
dot's), centred on the +a_pc facet at the height of the RP slab (of the dot's centre without one),
moved along the facet normal until its closest atom is 3.1 Å from the dot.

Labels (``region``): ``core``, ``shell`` (the outermost AX' plane, ``layer == 0``), ``rp``,
``cluster``, ``ligand``; ``layer`` counts planes from the nearest facet (0 = outermost, -1 for
ligands and cluster). Lengths: ``edge``, ``rp_inclusion`` and ``pb_cluster`` in nm, ``vacuum`` and
``gap`` in Å.

>>> from pvatoms.build import nanocrystal
>>> dot = nanocrystal(edge=3.0)
>>> dot.info["nanocrystal"]["octahedra_per_edge"], dot.info["nanocrystal"]["net_formal_charge"]
(5, 0)
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from pvatoms.build.bulk import LATTICES, cspbbr3
from pvatoms.build.common import set_provenance
from pvatoms.build.ligands import attach_ligands
from pvatoms.build.slab import net_formal_charge, set_formal_charges, sort_atoms
from pvatoms.build.stacking import ROCKSALT_GAP
from pvatoms.errors import InputError, check_choice
from pvatoms.reference import PNMA_CIF
from pvatoms.reference import lattice as reference_lattice

FRAMEWORKS = ("pnma", "cubic")
TERMINATIONS = ("CsBr", "PbBr2")
#: fcc Pb lattice constant (Å); (200) spacing a/2 = 2.475 Å, (220) a/(2 sqrt 2) = 1.75 Å.
PB_FCC_A = 4.95
#: Closest approach (Å) of the Pb cluster to the dot (metallic Pb - Br contact).
CLUSTER_CONTACT = 3.1
#: Largest edge (nm) built (about 0.6 million framework atoms at 35 nm).
MAX_EDGE_NM = 35.0
#: Shortest distance (Å) allowed between two atoms of the inorganic part.
MIN_INORGANIC = 2.5


def nanocrystal(edge: float = 10.7, termination: str = "CsBr", ligand=None, coverage: float = 0.0,
                site: str | None = None, binding: str = "monodentate", rp_inclusion: float | None = None,
                pb_cluster: float | None = None, seed: int = 0, framework: str = "pnma",
                lattice: str = "pbe", vacuum: float = 10.0, neutral: bool = True,
                rp_position: float = 0.5, gap: float = ROCKSALT_GAP) -> Atoms:
    """Cube-shaped CsPbBr3 nanocrystal (see the module docstring for the model).

    Parameters
    ----------
    edge : edge length in nm (outer plane to outer plane = N a_pc, N rounded).
    termination : 'CsBr' (AX' shell, default) or 'PbBr2'.
    ligand, coverage, site, binding : ligand shell (see :func:`attach_ligands`); coverage is the
        fraction of the available sites (A sites for ammonium; surface Br for X-type ligands).
    rp_inclusion : thickness (nm) of a Cs2PbBr4 slab inside the dot, or None.
    pb_cluster : radius (nm) of an fcc Pb sphere attached on the +a_pc facet next to the RP slab.
    seed : random seed (vacated edge sites among equals, ligand sites).
    framework : 'pnma' (tilted octahedra, default) or 'cubic'.
    lattice : 'pbe' or 'experiment' lattice of the framework.
    vacuum : empty space (Å) between the outermost atom and each face of the (non-periodic) box.
    neutral : remove charge with the least-coordinated surface ions (see the module docstring).
    rp_position : where the RP slab sits along c_pc, 0 (bottom) ... 1 (top); default the middle.
    gap : rock-salt CsBr plane spacing (Å) at each RP boundary.

    Returns :class:`ase.Atoms` (pbc False) with ``region``/``layer``/``formal_charge`` labels and the
    report in ``atoms.info['nanocrystal']``. Example: ``nanocrystal(10.7, ligand='oleylammonium',
    coverage=0.5, rp_inclusion=2.0, pb_cluster=1.5)``.
    """
    check_choice("termination", termination, TERMINATIONS)
    check_choice("framework", framework, FRAMEWORKS)
    check_choice("lattice", lattice, LATTICES)
    edge = _positive("edge (nm)", edge)
    if edge > MAX_EDGE_NM:
        raise InputError(f"edge {edge} nm is larger than the {MAX_EDGE_NM} nm this builder makes "
                         "(memory); give an edge between ~1.2 and 35 nm")
    vacuum = _positive("vacuum (Å)", vacuum, allow_zero=True)
    gap = _positive("gap (Å)", gap)
    if not 0.0 <= float(rp_position) <= 1.0:
        raise InputError(f"rp_position is a fraction of the dot height in [0, 1], got {rp_position!r}")
    if ligand is None and coverage not in (0, 0.0, None):
        raise InputError(f"coverage {coverage!r} given without a ligand; name one with --ligand "
                         "(see `pvatoms ligands list`)")
    if ligand is not None:
        from pvatoms.build.ligand_library import Ligand, resolve_name
        if not isinstance(ligand, Ligand):
            resolve_name(ligand)                              # unknown names fail before any work
        try:
            cov = float(coverage)
        except (TypeError, ValueError):
            raise InputError(f"coverage must be a number between 0 and 1, got {coverage!r}") from None
        if not 0.0 <= cov <= 1.0:
            raise InputError(f"coverage is a fraction of the available sites and must lie in [0, 1], "
                             f"got {coverage!r}")

    unit = _framework(framework, lattice)
    a_pc = unit["a_pc"]
    N = int(round(edge * 10.0 / a_pc))
    if N < 2:
        raise InputError(f"edge {edge} nm is less than two octahedra ({2 * a_pc / 10:.2f} nm); "
                         "give a larger edge")
    lo, hi = (-1, 2 * N - 1) if termination == "CsBr" else (0, 2 * N - 2)

    rp = None
    if rp_inclusion is not None:
        rp = _rp_plan(_positive("rp-inclusion (nm)", rp_inclusion), N, a_pc, gap, float(rp_position))
    margin = 2 * ((rp["blocks"] + 1) // 2 + 1) if rp else 0
    D, pos, Z = _lattice_block(unit, lo - margin - 2, hi + 2)
    K = D[:, 2]
    c = np.zeros(len(D), int)
    if rp:
        KA = np.array(rp["doubled_A"])
        c = np.searchsorted(KA, K, side="left")             # doubled A planes strictly below
        dup = np.isin(K, KA)
        D = np.concatenate([D, D[dup]])
        pos = np.concatenate([pos, pos[dup]])
        Z = np.concatenate([Z, Z[dup]])
        c = np.concatenate([c, c[dup] + 1])
        K = D[:, 2]
        step = gap * unit["normal_c"] + unit["shift"]
        pos = pos + c[:, None] * step[None]
    box = D[:, :2] + 2 * (c // 2)[:, None]
    keep = np.all((box >= lo) & (box <= hi), axis=1) & (K >= lo) & (K <= hi)
    D, pos, Z, c, box, K = D[keep], pos[keep], Z[keep], c[keep], box[keep], K[keep]
    depth = np.minimum.reduce([box[:, 0] - lo, hi - box[:, 0], box[:, 1] - lo, hi - box[:, 1],
                               K - lo, hi - K])
    region = np.where(depth == 0, "shell", "core").astype("<U16")
    if rp:
        region[(c >= 1) & (c <= rp["blocks"])] = "rp"
    atoms = Atoms(numbers=Z, positions=pos, pbc=False)
    atoms.arrays["region"] = region
    atoms.arrays["layer"] = depth.astype(int)
    set_formal_charges(atoms)
    q0 = net_formal_charge(atoms)
    vacated = {}
    if termination == "CsBr" and neutral and q0 != 0:
        atoms, vacated = _balance(atoms, q0, seed)

    cluster_info = None
    exclude = None
    if pb_cluster is not None:
        atoms, cluster_info = _attach_cluster(atoms, _positive("pb-cluster radius (nm)", pb_cluster),
                                              unit, N, a_pc, rp)
        exclude = [(np.array(cluster_info["center"]), cluster_info["radius_A"])]

    facets = _facet_normals(unit)
    atoms.info["surface"] = {"kind": "facets", "normals": facets.tolist(),
                             "axes": [(v / np.linalg.norm(v)).tolist() for v in unit["pc"]],
                             "center": atoms.positions[atoms.arrays["region"] != "cluster"].mean(0).tolist()}
    _check_inorganic(atoms)
    lig_report = None
    if ligand is not None:
        atoms = attach_ligands(atoms, ligand, float(coverage), site=site, binding=binding, seed=seed,
                               neutral=neutral, exclude_near=exclude)
        lig_report = atoms.info["ligands"][-1]
    elif neutral and termination == "PbBr2" and net_formal_charge(atoms) != 0:
        atoms, vacated = _balance(atoms, net_formal_charge(atoms), seed)

    atoms = sort_atoms(atoms)
    _box(atoms, vacuum)
    info = _report(atoms, edge, N, a_pc, unit, framework, lattice, termination, q0, vacated, rp,
                   cluster_info, lig_report)
    atoms.info["nanocrystal"] = info
    set_provenance(atoms, "pvatoms.build.nanocrystal",
                   {"edge_nm": edge, "termination": termination, "ligand": getattr(ligand, "name", ligand),
                    "coverage": coverage, "site": site, "binding": binding, "rp_inclusion_nm": rp_inclusion,
                    "pb_cluster_nm": pb_cluster, "seed": seed, "framework": framework, "lattice": lattice,
                    "vacuum": vacuum, "neutral": neutral, "rp_position": rp_position, "gap": gap},
                   unit["reference"])
    return atoms


# ------------------------------------------------------------------------------------------------
# framework


def _positive(name, value, allow_zero=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not (v > 0 or (allow_zero and v == 0)) or not np.isfinite(v):
        raise InputError(f"{name} must be {'>= 0' if allow_zero else 'positive'}, got {value!r}")
    return v


def _framework(framework: str, lattice: str) -> dict:
    """Repeat unit with doubled pseudocubic indices: positions (Å), indices, numbers, translation
    vectors (and their index steps), pseudocubic vectors, the RP shift and the c_pc normal."""
    if framework == "cubic":
        a = reference_lattice("cubic", lattice)["a"]
        D0 = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
        Z0 = np.array([82, 35, 35, 35, 55])
        pc = np.eye(3) * a
        T, step = pc.copy(), 2
        reference = f"structures/lattices.yaml: cubic.{lattice}"
        pos0 = D0 / 2 @ pc
    else:
        from ase.build import make_supercell
        pnma = cspbbr3("pnma", lattice)
        A, B, C = np.asarray(pnma.cell)
        pc = np.array([(A + C) / 2, (A - C) / 2, B / 2])
        big = make_supercell(pnma, np.array([[1, 0, 1], [1, 0, -1], [0, 1, 0]]), wrap=True)
        T, step = np.asarray(big.cell), 4                     # = 2 a_pc, 2 b_pc, 2 c_pc
        frac = big.get_scaled_positions()
        pb0 = frac[np.flatnonzero(big.numbers == 82)[0]]
        f = np.mod(frac - pb0 + 1e-9, 1.0)
        D0 = np.rint(4 * f).astype(int)
        if np.abs(4 * f - D0).max() > 0.35:
            raise InputError("could not index the Pnma framework on the pseudocubic lattice")
        wrap = D0 // 4                                        # an index of 4 is 0 of the next cell
        f, D0 = f - wrap, D0 - 4 * wrap
        pos0 = f @ T
        Z0 = big.numbers
        reference = f"structures/{PNMA_CIF}"
    odd = np.mod(D0, 2).sum(axis=1)
    expect = np.select([Z0 == 82, Z0 == 55, Z0 == 35], [0, 3, 1], -1)
    if np.any(odd != expect):
        raise InputError("framework atoms do not sit on the perovskite sublattices")  # pragma: no cover
    a_pc = float(abs(np.linalg.det(pc)) ** (1 / 3))
    n_c = np.cross(pc[0], pc[1])
    n_c /= np.linalg.norm(n_c)
    return {"D0": D0, "pos0": pos0, "Z0": Z0, "T": T, "step": step, "pc": pc, "a_pc": a_pc,
            "shift": (pc[0] + pc[1]) / 2, "normal_c": n_c, "reference": reference}


def _lattice_block(unit: dict, dmin: int, dmax: int):
    """All framework atoms whose doubled indices lie in [dmin, dmax] on every axis."""
    s = unit["step"]
    t = np.arange(int(np.floor((dmin - s) / s)), int(np.ceil(dmax / s)) + 1)
    tiles = np.array(np.meshgrid(t, t, t, indexing="ij")).reshape(3, -1).T
    D = (unit["D0"][None] + s * tiles[:, None, :]).reshape(-1, 3)
    pos = (unit["pos0"][None] + (tiles @ unit["T"])[:, None, :]).reshape(-1, 3)
    Z = np.tile(unit["Z0"], len(tiles))
    m = np.all((D >= dmin) & (D <= dmax), axis=1)
    return D[m], pos[m], Z[m]


def _facet_normals(unit: dict) -> np.ndarray:
    rec = np.linalg.inv(unit["pc"]).T                       # rows: reciprocal of the pc vectors
    rec /= np.linalg.norm(rec, axis=1)[:, None]
    return np.vstack([rec, -rec])


def _rp_plan(thickness_nm: float, N: int, a_pc: float, gap: float, where: float) -> dict:
    M = max(1, int(round(thickness_nm * 10.0 / (a_pc + gap))))
    if M > N - 2:
        raise InputError(f"an RP inclusion of {thickness_nm} nm ({M} Cs2PbBr4 blocks of {a_pc + gap:.2f} Å) "
                         f"does not fit in a dot of {N} octahedral layers, which must keep one layer of "
                         f"CsPbBr3 on each side: at most {max(N - 2, 0)} blocks "
                         f"({max(N - 2, 0) * (a_pc + gap) / 10:.2f} nm)")
    k1 = int(round(where * (N - 1) - (M - 1) / 2))
    k1 = min(max(k1, 1), N - 1 - M)
    return {"blocks": M, "first_layer": k1, "doubled_A": [2 * k - 1 for k in range(k1, k1 + M + 1)],
            "thickness_nm": round(M * (a_pc + gap) / 10, 4), "requested_nm": thickness_nm, "gap": gap}


# ------------------------------------------------------------------------------------------------
# charge, cluster, checks


def _balance(atoms: Atoms, q: int, seed: int):
    """Remove |q| outermost Cs (q > 0) or Br (q < 0) with the fewest counter-ions around them."""
    sym = np.array(atoms.get_chemical_symbols())
    region = atoms.arrays["region"]
    layer = atoms.arrays["layer"]
    el, other = ("Cs", "Br") if q > 0 else ("Br", "Pb")
    ok = (sym == el) & np.isin(region, ("shell", "core", "rp")) & (layer >= 0)
    if not ok.any():
        raise InputError(f"cannot balance a charge of {q:+d} e: no {el} to remove")
    outer = layer[ok].min()
    cand = np.flatnonzero(ok & (layer == outer))
    if len(cand) < abs(q):
        raise InputError(f"cannot balance a charge of {q:+d} e: only {len(cand)} outer {el}")
    cut = 4.7 if el == "Cs" else 3.6
    nb = cKDTree(atoms.positions[sym == other]).query_ball_point(atoms.positions[cand], cut,
                                                                 return_length=True)
    tie = np.random.default_rng(seed).permutation(len(cand))
    gone = cand[np.lexsort((tie, nb))[:abs(q)]]
    keep = np.setdiff1d(np.arange(len(atoms)), gone)
    out = atoms[keep]
    out.info = dict(atoms.info)
    counts = np.bincount(nb[np.lexsort((tie, nb))[:abs(q)]])
    return out, {el: int(abs(q)), "neighbours_of_removed": {int(i): int(n) for i, n in enumerate(counts) if n},
                 "layer": int(outer)}


def fcc_sphere(radius: float, a: float = PB_FCC_A) -> np.ndarray:
    """Positions (Å) of the fcc lattice sites (lattice constant ``a``, a site at the origin, cube
    axes along x, y, z) within ``radius`` Å of the origin."""
    n = int(np.ceil(radius / a)) + 1
    g = np.arange(-n, n + 1)
    cells = np.array(np.meshgrid(g, g, g, indexing="ij")).reshape(3, -1).T
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    f = (cells[:, None, :] + basis[None]).reshape(-1, 3) * a
    return f[np.linalg.norm(f, axis=1) <= radius + 1e-9]


def _attach_cluster(atoms: Atoms, radius_nm: float, unit: dict, N: int, a_pc: float, rp):
    R = radius_nm * 10.0
    if R < PB_FCC_A * 0.75:
        raise InputError(f"a Pb cluster of radius {radius_nm} nm holds fewer than ~13 atoms; give at "
                         f"least {PB_FCC_A * 0.075:.2f} nm")
    e1 = _facet_normals(unit)[0]                              # +a_pc facet normal
    e3 = unit["normal_c"] - (unit["normal_c"] @ e1) * e1
    e3 /= np.linalg.norm(e3)
    e2 = np.cross(e3, e1)
    pos = atoms.positions
    u2, u3 = pos @ e2, pos @ e3
    width2, width3 = u2.max() - u2.min(), u3.max() - u3.min()
    if 2 * R > min(width2, width3):
        raise InputError(f"a Pb cluster of radius {radius_nm} nm (diameter {2 * R / 10:.2f} nm) does not fit "
                         f"on a facet of this {N * a_pc / 10:.2f} nm dot (facet {min(width2, width3) / 10:.2f} nm); "
                         "give a smaller --pb-cluster radius or a larger --edge")
    c2 = (u2.max() + u2.min()) / 2
    if rp:
        inrp = atoms.arrays["region"] == "rp"
        z_rp = float(u3[inrp].mean())
    else:
        z_rp = float((u3.max() + u3.min()) / 2)
    c3 = float(np.clip(z_rp, u3.min() + R, u3.max() - R))
    local = fcc_sphere(R) @ np.array([e1, e2, e3])          # cube axes along (e1, e2, e3)
    tree = cKDTree(pos)
    top = float((pos @ e1).max())
    base = c2 * e2 + c3 * e3

    def gap_at(h):
        return float(tree.query(local + base + h * e1)[0].min())

    lo_h, hi_h = top - R, top + R + CLUSTER_CONTACT + 5.0
    if gap_at(lo_h) >= CLUSTER_CONTACT:
        hi_h = lo_h
    for _ in range(40):
        mid = (lo_h + hi_h) / 2
        if gap_at(mid) < CLUSTER_CONTACT:
            lo_h = mid
        else:
            hi_h = mid
    center = base + hi_h * e1
    cpos = local + center
    contact = gap_at(hi_h)
    cl = Atoms("Pb" * len(cpos), positions=cpos)
    for key, arr in atoms.arrays.items():
        if key in ("numbers", "positions"):
            continue
        if key == "region":
            cl.arrays[key] = np.full(len(cl), "cluster", dtype=arr.dtype)
        elif key == "formal_charge":
            cl.arrays[key] = np.zeros(len(cl), dtype=arr.dtype)
        elif arr.dtype.kind in "iu":
            cl.arrays[key] = np.full((len(cl),) + arr.shape[1:], -1, dtype=arr.dtype)
        elif arr.dtype.kind == "U":
            cl.arrays[key] = np.full((len(cl),) + arr.shape[1:], "", dtype=arr.dtype)
        else:
            cl.arrays[key] = np.zeros((len(cl),) + arr.shape[1:], dtype=arr.dtype)
    out = atoms + cl
    out.info = dict(atoms.info)
    info = {"atoms": len(cl), "radius_nm": radius_nm, "radius_A": R, "lattice_A": PB_FCC_A,
            "d200_nm": PB_FCC_A / 2 / 10, "d220_nm": round(PB_FCC_A / (2 * np.sqrt(2)) / 10, 4),
            "facet": "+a_pc", "center": center.tolist(), "closest_approach_A": round(contact, 4),
            "offset_from_rp_midplane_A": round(abs(c3 - z_rp), 4) if rp else None}
    return out, info


def _check_inorganic(atoms: Atoms) -> None:
    pairs = cKDTree(atoms.positions).query_pairs(MIN_INORGANIC, output_type="ndarray")
    if len(pairs):
        i, j = pairs[0]
        sym = atoms.get_chemical_symbols()
        d = np.linalg.norm(atoms.positions[i] - atoms.positions[j])
        raise InputError(f"built dot has {sym[i]}{i}-{sym[j]}{j} at {d:.2f} Å < {MIN_INORGANIC} Å: "
                         "the requested geometry is not physical")


def _box(atoms: Atoms, vacuum: float) -> None:
    lo = atoms.positions.min(axis=0)
    hi = atoms.positions.max(axis=0)
    atoms.positions = atoms.positions - lo + vacuum
    atoms.set_cell(np.diag(hi - lo + 2 * vacuum))
    atoms.pbc = False
    s = dict(atoms.info.get("surface", {}))
    if "center" in s:
        s["center"] = (np.array(s["center"]) - lo + vacuum).tolist()
    atoms.info["surface"] = s


def _report(atoms, edge, N, a_pc, unit, framework, lattice, termination, q0, vacated, rp, cluster, lig):
    sym = np.array(atoms.get_chemical_symbols())
    region = atoms.arrays["region"]
    layer = atoms.arrays["layer"]
    inorg = np.isin(region, ("core", "shell", "rp"))
    n = {e: int(np.sum(inorg & (sym == e))) for e in ("Cs", "Pb", "Br")}
    core_cs = int(np.sum(inorg & (sym == "Cs") & (layer >= 1)))
    shell_cs = n["Cs"] - core_cs
    lig_A = lig_X = 0
    if lig:
        if lig["kind"] in ("ammonium", "quaternary-ammonium"):
            lig_A = lig["n_ligands"]
        elif lig["ligand_charge"] < 0:
            lig_X = lig["n_ligands"]
    x_shell = n["Br"] + lig_X - 3 * core_cs - 2 * (n["Pb"] - core_cs)
    counts = {}
    for r in np.unique(region):
        m = region == r
        counts[str(r)] = {"atoms": int(m.sum()), **{e: int(np.sum(m & (sym == e)))
                                                     for e in np.unique(sym[m])}}
    return {
        "edge_requested_nm": edge,
        "edge_nm": round(N * a_pc / 10, 4),
        "octahedra_per_edge": N,
        "a_pc_A": round(a_pc, 4),
        "framework": framework,
        "lattice": lattice,
        "termination": termination,
        "natoms": len(atoms),
        "inorganic": n,
        "model": {"formula": f"[CsPbBr3]{core_cs}(PbBr2){n['Pb'] - core_cs}{{AX'}}{shell_cs + lig_A}",
                  "core_CsPbBr3": core_cs, "PbBr2_excess": n["Pb"] - core_cs,
                  "shell_A": {"Cs": shell_cs, "ligand": lig_A}, "shell_X": {"Br": x_shell - lig_X,
                                                                              "ligand": lig_X}},
        "regions": counts,
        "charge_before_balance": q0,
        "vacated_for_neutrality": vacated or None,
        "net_formal_charge": net_formal_charge(atoms),
        "rp": rp,
        "cluster": cluster,
        "ligands": lig,
    }
