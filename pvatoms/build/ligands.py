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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from pvatoms.build.common import set_provenance
from pvatoms.build.ligand_library import Ligand, get_ligand, rotation_between
from pvatoms.build.slab import PLANE_GAP, net_formal_charge, set_formal_charges, sort_atoms
from pvatoms.errors import InputError, check_choice

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


@dataclass
class SiteSet:
    """Binding sites of one kind: ``origin`` (site atom or bound Pb), local frames (rows x, y, z =
    outward normal), the anchor target direction ``u`` (unit, global), atoms to remove, bound Pb."""

    kind: str
    origin: np.ndarray
    frames: np.ndarray
    u: np.ndarray
    remove: list
    pb: np.ndarray
    atom: np.ndarray
    excluded: int = 0

    def __len__(self):
        return len(self.origin)


@dataclass
class _Mode:
    """Pose optimisation problem of one site environment (local frame: site at 0, normal +z)."""

    name: str                       # 'a-site', 'mono', 'bi'
    X: np.ndarray                   # template coordinates (anchor or O-O midpoint at origin)
    head: np.ndarray                # indices of head atoms
    el: np.ndarray                  # element symbols of the template
    base: np.ndarray                # base translation of the anchor (local frame)
    E: np.ndarray = None            # environment positions (local)
    Eel: np.ndarray = None
    lim: np.ndarray = None          # (head x env) contact minima
    nh: tuple = ()                  # N-H hydrogens (ammonium)
    anchor: int = 0
    anchor_nb: int = -1             # heavy neighbour of the anchor (angle term)
    angle_window: tuple | None = None
    u_local: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    rotor: tuple | None = None      # (N position, unit C->N axis, H indices): the NH3 rotor


class _Pose:
    """A ligand pose in a site's local frame: parameters, rotation, translation, score (None: not
    refined yet)."""

    def __init__(self, m, p, score, X=None):
        self.m, self.p, self.score = m, np.asarray(p, float), score
        self.X = X
        g = np.atleast_2d(self.p)
        if m.name == "bi":
            R = rotation_between(np.array([0, 0, 1.0]), m.u_local) @ _rz(g[:, 3])[0] @ _rx(g[:, 4])[0]
        else:
            R = (_rz(g[:, 4]) @ _ry(g[:, 3]) @ _rz(g[:, 5] - g[:, 4]))[0]
        self.R, self.t = R, _translation(m, g)[0]


# ------------------------------------------------------------------------------------------------
# public API


def attach_ligands(atoms: Atoms, ligand, coverage: float, site: str | None = None,
                   binding: str = "monodentate", seed: int = 0, neutral: bool = False,
                   exclude_near=None) -> Atoms:
    """Put ``ligand`` on a fraction ``coverage`` of the surface ``site`` sites of ``atoms``.

    Parameters
    ----------
    atoms : a slab from :func:`slab` or a dot from :func:`nanocrystal` (any structure with
        ``arrays['layer']`` (0 = outermost plane) works; for an unlabelled slab with vacuum along c
        the planes are found from the heights).
    ligand : library name or alias (``pvatoms ligands list``) or a :class:`Ligand`.
    coverage : fraction of the available sites that get a ligand, 0 <= coverage <= 1.
    site : 'cs', 'pb' or 'br-vacancy' (default: the ligand's first site the surface offers).
    binding : 'monodentate' or 'bidentate' (carboxylates; chelating one Pb).
    seed : random seed of the site choice (same seed, same structure).
    neutral : compensate the net formal charge the ligands leave (see the module docstring).
    exclude_near : optional list of (center (3,), radius Å) spheres; sites whose ligand would come
        closer than 4 Å to one are not available (the Pb cluster of a degraded dot).

    Returns a new :class:`ase.Atoms`; the report (sites, count, charges, removed atoms, distances,
    H-bond and anchor-bond geometry) is appended to ``atoms.info['ligands']``.
    Example: ``attach_ligands(slab('pnma', layers=3, termination='PbBr2'), 'acetate', 1.0, 'pb')``.
    """
    lig = ligand if isinstance(ligand, Ligand) else get_ligand(ligand)
    try:
        cov = float(coverage)
    except (TypeError, ValueError):
        raise InputError(f"coverage must be a number between 0 and 1, got {coverage!r}") from None
    if not 0.0 <= cov <= 1.0:
        raise InputError(f"coverage is a fraction of the available sites and must lie in [0, 1], got {coverage!r}")
    check_choice("binding", binding, BINDINGS)
    if binding == "bidentate" and lig.kind != "carboxylate":
        raise InputError(f"binding 'bidentate' is for carboxylates; {lig.name} is a {lig.kind} "
                         "(valid: monodentate)")
    if site is not None:
        check_choice("site", site, SITES)
        if site not in lig.sites:
            raise InputError(f"{lig.name} ({lig.kind}) cannot bind at site {site!r}; valid sites for it: "
                             f"{', '.join(lig.sites)}")
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise InputError(f"seed must be an integer, got {seed!r}") from None
    work = atoms.copy()
    _ensure_layers(work)
    set_formal_charges(work)
    q_before = net_formal_charge(work)
    if site is None:
        site = _default_site(work, lig)
    sites = find_sites(work, site, exclude_near=exclude_near, reach=lig.info["length"] + 2.0)
    if len(sites) == 0:
        hint = {"cs": "a CsBr-terminated surface (Cs in the outermost plane)",
                "pb": "a PbBr2-terminated surface (outer Pb with five Br)",
                "br-vacancy": "a CsBr-terminated surface (outer Br bound to one Pb)"}[site]
        raise InputError(f"no available {site!r} sites on this structure for {lig.name}: the site needs "
                         f"{hint}; valid sites for {lig.name}: {', '.join(lig.sites)}")
    n_lig = int(np.floor(cov * len(sites) + 0.5))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sites))
    placer = _Placer(work, lig, sites, binding)
    chosen, poses = placer.place(order, n_lig)
    out, report = _assemble(work, lig, sites, binding, chosen, poses, placer)
    report.update({"site": site, "binding": binding if lig.kind == "carboxylate" else None,
                   "coverage_requested": cov, "n_sites": len(sites),
                   "n_sites_excluded": int(sites.excluded), "seed": seed,
                   "coverage": round(len(chosen) / len(sites), 6) if len(sites) else 0.0,
                   "net_formal_charge_before": q_before})
    q = net_formal_charge(out)
    report["net_formal_charge_after_ligands"] = q
    if neutral and q != 0:
        out, removed = _neutralise(out, q, report["anchor_positions"])
        report["compensation"] = removed
    else:
        report["compensation"] = None
    report["neutral_requested"] = bool(neutral)
    report["net_formal_charge"] = net_formal_charge(out)
    report.pop("anchor_positions")
    _fit_cell(out)
    out = sort_atoms(out)
    hist = list(atoms.info.get("ligands", []))
    hist.append(report)
    out.info["ligands"] = hist
    prov = atoms.info.get("provenance")
    set_provenance(out, "pvatoms.build.attach_ligands",
                   {"ligand": lig.name, "coverage": cov, "site": site, "binding": binding, "seed": seed,
                    "neutral": bool(neutral)}, (prov or {}).get("reference"), parent=prov)
    return out


def find_sites(atoms: Atoms, site: str, exclude_near=None, reach: float = 20.0) -> SiteSet:
    """Surface binding sites of kind ``site`` ('cs', 'pb', 'br-vacancy') with their local frames.

    A site's outward normal comes from the geometry (away from the centroid of the atoms within
    6.5 Å), snapped to the facet normals stored in ``atoms.info['surface']`` (sum of the facets it
    lies on: edges and corners of a dot get diagonal normals). ``exclude_near``: spheres
    (center, radius) that a ligand of length ``reach`` (Å) standing on the site must not approach.
    """
    check_choice("site", site, SITES)
    _ensure_layers(atoms)
    sym = np.array(atoms.get_chemical_symbols())
    layer = atoms.arrays["layer"]
    region = atoms.arrays.get("region", np.full(len(atoms), "", dtype="<U16"))
    inorg = np.isin(sym, ("Cs", "Pb", "Br")) & ~np.isin(region, ("ligand", "cluster"))
    pos = atoms.positions
    tree = _PeriodicTree(atoms, np.flatnonzero(inorg))
    if site == "cs":
        cand = np.flatnonzero(inorg & (sym == "Cs") & (layer == 0))
        origin = pos[cand]
        pb = np.full(len(cand), -1)
        remove = [[int(i)] for i in cand]
        u = None
    else:
        if site == "pb":
            cand0 = np.flatnonzero(inorg & (sym == "Pb") & (layer == 0))
        else:
            cand0 = np.flatnonzero(inorg & (sym == "Br") & (layer == 0))
        cand, origin, pb, remove, ulist = [], [], [], [], []
        for i in cand0:
            nb, vec = tree.neighbours(pos[i], 3.6, "Br" if site == "pb" else "Pb", sym)
            if site == "pb":
                if len(nb) != 5:
                    continue
                cand.append(i)
                pb.append(i)
                origin.append(pos[i])
                remove.append([])
                ulist.append(vec)               # inner Br vectors; direction fixed below
            else:
                if len(nb) != 1:
                    continue
                cand.append(i)
                pb.append(nb[0])
                origin.append(pos[i] + vec[0])  # the Pb (minimum image)
                remove.append([int(i)])
                ulist.append(-vec[0] / np.linalg.norm(vec[0]))   # Pb -> Br direction
        cand = np.array(cand, int)
        origin = np.array(origin).reshape(-1, 3)
        pb = np.array(pb, int)
        u = ulist
    normals = _site_normals(atoms, origin if site != "br-vacancy" else pos[cand], tree)
    if site == "pb":
        uu = []
        for n, vecs in zip(normals, u):
            v = np.asarray(vecs)
            d = v / np.linalg.norm(v, axis=1)[:, None]
            k = int(np.argmin(d @ n))             # the inner apical Br: most anti-parallel to n
            uu.append(-d[k] if d[k] @ n < -0.7 else n)
        u = np.array(uu).reshape(-1, 3)
    elif site == "cs":
        u = normals.copy()
    else:
        u = np.array(u).reshape(-1, 3)
    frames = np.array([_frame(n, atoms) for n in normals]).reshape(-1, 3, 3)
    keep = np.ones(len(cand), bool)
    if exclude_near:
        for center, radius in exclude_near:
            c = np.asarray(center, float)
            t = np.linspace(0, reach, 12)
            pts = origin[:, None, :] + t[None, :, None] * normals[:, None, :]
            d = np.linalg.norm(pts - c, axis=2).min(axis=1)
            keep &= d > radius + 4.0
    sel = np.flatnonzero(keep)
    return SiteSet(site, origin[sel], frames[sel], u[sel], [remove[k] for k in sel], pb[sel], cand[sel],
                   excluded=int(len(cand) - len(sel)))


# ------------------------------------------------------------------------------------------------
# surfaces: layers, normals, periodic neighbour search


class _PeriodicTree:
    """KD-tree over a subset of atoms, periodic along the periodic cell directions of an
    orthogonal-in-plane slab (images within one cell) or plain for finite dots."""

    def __init__(self, atoms: Atoms, idx):
        self.idx = np.asarray(idx, int)
        pos = atoms.positions[self.idx]
        cell = np.asarray(atoms.cell)
        periodic = _periodic_axes(atoms)
        rng = [(-1, 0, 1) if p else (0,) for p in periodic]
        self.shifts = np.array([np.array([a, b, c]) @ cell for a in rng[0] for b in rng[1] for c in rng[2]])
        self.pos = (pos[None] + self.shifts[:, None]).reshape(-1, 3)
        self.map = np.tile(self.idx, len(self.shifts))
        self.tree = cKDTree(self.pos) if len(self.pos) else None

    def neighbours(self, p, r, element, sym):
        k = self.tree.query_ball_point(p, r)
        k = [j for j in k if sym[self.map[j]] == element and np.linalg.norm(self.pos[j] - p) > 1e-6]
        return [int(self.map[j]) for j in k], [self.pos[j] - p for j in k]

    def within(self, points, r):
        """Sparse pairs (point index, atom index, vector point->atom) closer than r."""
        if self.tree is None:
            return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 3))
        other = cKDTree(np.atleast_2d(points))
        m = other.sparse_distance_matrix(self.tree, r, output_type="ndarray")
        i, j = m["i"], m["j"]
        return i, self.map[j], self.pos[j] - np.atleast_2d(points)[i]


def _periodic_axes(atoms: Atoms) -> np.ndarray:
    """Cell directions treated as periodic: in-plane only for slabs (the vacuum direction is grown
    to fit the ligands), none for dots."""
    kind = (atoms.info.get("surface") or {}).get("kind")
    if kind == "slab":
        return np.array([bool(atoms.pbc[0]), bool(atoms.pbc[1]), False])
    if kind == "facets":
        return np.zeros(3, bool)
    return np.asarray(atoms.pbc, bool)


def _fit_cell(atoms: Atoms) -> None:
    """Slab: grow/shrink the vacuum direction so that the slab with its ligands keeps the slab's
    vacuum gap to its periodic image, and centre it."""
    s = atoms.info.get("surface") or {}
    if s.get("kind") != "slab" or not atoms.pbc[2]:
        return
    vac = (atoms.info.get("slab") or {}).get("vacuum")
    z = atoms.positions[:, 2]
    if vac is None:
        return
    extent = float(z.max() - z.min())
    cell = np.array(atoms.cell)
    cell[2] = [0.0, 0.0, extent + float(vac)]
    atoms.set_cell(cell, scale_atoms=False)
    atoms.positions[:, 2] += vac / 2 - z.min()
    s = dict(s)
    s["center"] = [0.0, 0.0, float(vac / 2 + extent / 2)]
    atoms.info["surface"] = s


def _ensure_layers(atoms: Atoms) -> None:
    """Give an unlabelled slab (vacuum along the third cell vector) ``layer`` labels from heights."""
    if "layer" in atoms.arrays:
        return
    if not atoms.pbc[:2].all():
        raise InputError("this structure has no 'layer' labels (0 = outermost plane); build it with "
                         "pvatoms build slab / nanocrystal, or give an extxyz file that keeps the labels")
    cell = np.asarray(atoms.cell)
    n = np.cross(cell[0], cell[1])
    n /= np.linalg.norm(n)
    h = atoms.positions @ n
    order = np.argsort(h)
    cuts = np.flatnonzero(np.diff(h[order]) > PLANE_GAP) + 1
    groups = np.split(order, cuts)
    height = abs(cell[2] @ n)
    gaps = np.diff([h[g].mean() for g in groups])
    top_gap = height - (h.max() - h.min())
    if top_gap < 5.0 or (len(gaps) and gaps.max() > top_gap):
        raise InputError("could not recognise a slab with vacuum along the third cell vector (no 'layer' "
                         "labels and no vacuum gap >= 5 Å): use a slab from pvatoms build slab")
    layer = np.empty(len(atoms), int)
    for k, g in enumerate(groups):
        layer[g] = min(k, len(groups) - 1 - k)
    atoms.arrays["layer"] = layer
    atoms.info.setdefault("surface", {"kind": "slab", "normal": n.tolist(),
                                      "center": (atoms.positions.mean(axis=0)).tolist()})
    atoms.info.setdefault("slab", {"vacuum": float(top_gap)})


def _facet_normals(atoms: Atoms) -> np.ndarray:
    s = atoms.info.get("surface") or {}
    if "normals" in s:
        return np.array(s["normals"], float)
    if "normal" in s:
        n = np.array(s["normal"], float)
        return np.array([n, -n])
    return np.zeros((0, 3))


def _site_normals(atoms: Atoms, points, tree: _PeriodicTree) -> np.ndarray:
    points = np.atleast_2d(points)
    if len(points) == 0:
        return np.zeros((0, 3))
    i, _, vec = tree.within(points, 6.5)
    sums = np.zeros((len(points), 3))
    np.add.at(sums, i, vec)
    cnt = np.bincount(i, minlength=len(points)).astype(float)
    geo = -(sums / np.maximum(cnt, 1)[:, None])
    geo /= np.maximum(np.linalg.norm(geo, axis=1), 1e-9)[:, None]
    F = _facet_normals(atoms)
    if len(F) == 0:
        return geo
    dots = geo @ F.T
    sel = dots > 0.5
    snapped = sel.astype(float) @ F
    norm = np.linalg.norm(snapped, axis=1)
    ok = norm > 1e-6
    out = geo.copy()
    out[ok] = snapped[ok] / norm[ok, None]
    return out


def _frame(n, atoms: Atoms) -> np.ndarray:
    """Local frame rows (x, y, z=n): x along the first reference axis not parallel to n."""
    s = atoms.info.get("surface") or {}
    refs = np.array(s.get("axes", np.asarray(atoms.cell)[:2] if atoms.pbc.any() else np.eye(3)), float)
    refs = np.vstack([refs, np.eye(3)])
    for r in refs:
        r = r / max(np.linalg.norm(r), 1e-12)
        if abs(r @ n) < 0.5:
            x = r - (r @ n) * n
            x /= np.linalg.norm(x)
            return np.array([x, np.cross(n, x), n])
    raise InputError("could not build a local frame for a surface site")  # pragma: no cover


def _default_site(atoms: Atoms, lig: Ligand) -> str:
    sym = np.array(atoms.get_chemical_symbols())
    layer = atoms.arrays["layer"]
    region = atoms.arrays.get("region", np.full(len(atoms), "", dtype="<U16"))
    outer = (layer == 0) & ~np.isin(region, ("ligand", "cluster"))
    for s in lig.sites:
        if s == "cs" and np.any(outer & (sym == "Cs")):
            return s
        if s != "cs" and np.any(outer & (sym == ("Pb" if s == "pb" else "Br"))) and len(find_sites(atoms, s)):
            return s
    raise InputError(f"no site on this structure suits {lig.name} ({lig.kind}); it binds at "
                     f"{', '.join(lig.sites)} (cs: CsBr termination; pb: PbBr2 termination; "
                     "br-vacancy: CsBr termination)")


# ------------------------------------------------------------------------------------------------
# rotations


def _rz(a):
    a = np.atleast_1d(a)
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _ry(a):
    a = np.atleast_1d(a)
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rx(a):
    a = np.atleast_1d(a)
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


# ------------------------------------------------------------------------------------------------
# pose optimisation


def _translation(m: _Mode, g):
    """Anchor translation per pose: a-site: base + (dx, dy, dz); mono: the anchor on the sphere of
    the bond length around Pb, along u tipped by (dx, dy); bidentate: O-O midpoint moved by (dx, dy)."""
    g = np.atleast_2d(g)
    if m.name == "mono":
        d = m.base[None] + np.column_stack([g[:, 0], g[:, 1], np.zeros(len(g))]) * np.linalg.norm(m.base)
        return d * (np.linalg.norm(m.base) / np.linalg.norm(d, axis=1))[:, None]
    if m.name == "bi":
        return m.base[None] + np.column_stack([g[:, 0], g[:, 1], np.zeros(len(g))])
    return m.base[None] + g[:, :3]


def _contact_limits(el_lig, el_env):
    """Minimum contact (Å) for each (ligand atom, environment atom) pair used while optimising."""
    lim = np.empty((len(el_lig), len(el_env)))
    for a, ea in enumerate(el_lig):
        for b, eb in enumerate(el_env):
            if ea == "H":
                lim[a, b] = {"Br": 2.35, "Cs": 2.7, "Pb": 2.8}.get(eb, 2.3)
            else:
                lim[a, b] = {"Br": 3.3, "Cs": 3.3, "Pb": 3.4}.get(eb, 3.0)
    return lim


class _Placer:
    """Optimises poses per distinct site environment and places ligands without clashes.

    Short ligands get a free optimisation per environment. Ligands longer than
    :data:`BRUSH_LENGTH` stand as a brush: chain axis along the facet normal (tilt <= 5 deg) and one
    spin about it for all sites of a facet (chosen to suit all its environments best), so that
    neighbouring chains are near-translated copies that do not cross."""

    def __init__(self, atoms: Atoms, lig: Ligand, sites: SiteSet, binding: str):
        self.atoms, self.lig, self.sites, self.binding = atoms, lig, sites, binding
        self.sym = np.array(atoms.get_chemical_symbols())
        self.tree = _PeriodicTree(atoms, np.arange(len(atoms)))
        self.el = np.array(lig.atoms.get_chemical_symbols())
        self.mode_name = self._mode_name()
        X = lig.atoms.positions
        if self.mode_name == "bi":
            X = self._bidentate_template(X)
        self.X = X
        self.axis = self._axis(X)
        self.far = int(np.argmax(np.linalg.norm(X, axis=1)))
        self.brush = lig.info["length"] > BRUSH_LENGTH
        self.modes, self.cache, self.site_key = {}, {}, {}
        self.n_env = 0

    # -- template
    def _mode_name(self):
        if self.lig.kind in ("ammonium", "quaternary-ammonium"):
            return "a-site"
        return "bi" if self.binding == "bidentate" else "mono"

    def _bidentate_template(self, X):
        o1, o2, c = (self.lig.anchors[k] for k in ("O1", "O2", "C"))
        M = (X[o1] + X[o2]) / 2
        X = X - M
        ex = X[o2] - X[o1]
        ex /= np.linalg.norm(ex)
        ez = X[c] - (X[c] @ ex) * ex
        ez /= np.linalg.norm(ez)
        R = np.array([ex, np.cross(ez, ex), ez])
        self.d_oo = float(np.linalg.norm(X[o2] - X[o1]))
        X = X @ R.T
        # turn about the O-O axis so that the chain leans only within the O-C-O plane
        a = X[self.el != "H"].mean(axis=0)
        b = np.arctan2(a[1], a[2])
        return X @ _rx(b)[0].T

    def _axis(self, X):
        heavy = self.el != "H"
        a = X[heavy].mean(axis=0)
        return a / np.linalg.norm(a) if np.linalg.norm(a) > 1e-6 else np.array([0, 0, 1.0])

    def _anchor_atoms(self):
        """Ligand atoms bonded to the site's Pb (a chelate's carboxyl C sits 2.9 Å from it)."""
        if self.mode_name == "bi":
            return [self.lig.anchors["O1"], self.lig.anchors["O2"], self.lig.anchors["C"]]
        return [self.lig.anchor_atom]

    # -- environments
    def _local_env(self, k):
        s = self.sites
        F, o = s.frames[k], s.origin[k]
        rm = set(s.remove[k])
        _, j, vec = self.tree.within(o[None], ENV_RADIUS)
        keep = np.array([jj not in rm for jj in j], bool) if len(j) else np.zeros(0, bool)
        return vec[keep] @ F.T, self.sym[j[keep]]

    def key_of(self, k, env=None):
        if k not in self.site_key:
            E, Eel = self._local_env(k) if env is None else env
            u_local = self.sites.frames[k] @ self.sites.u[k]
            near = np.einsum("ij,ij->i", E, E) < KEY_RADIUS ** 2
            q = np.round(E[near] / 0.1).astype(int)
            z = np.array([{"Cs": 1, "Pb": 2, "Br": 3}.get(e, 4) for e in Eel[near]], int).reshape(-1)
            rows = np.column_stack([z, q])
            rows = rows[np.lexsort(rows.T[::-1])]
            key = rows.tobytes() + np.round(u_local / 0.02).astype(int).tobytes()
            if key not in self.modes:
                self.modes[key] = self._make_mode(E, Eel, u_local)
            self.site_key[k] = key
        return self.site_key[k]

    def poses_for(self, k):
        key = self.key_of(k)
        if key not in self.cache:
            self.n_env += 1
            self.cache[key] = self._free_solve(self.modes[key])
        return self.cache[key]

    def prepare(self, ks):
        """Environments of all candidate sites; brush ligands get one spin per facet."""
        s = self.sites
        ks = list(ks)
        if ks:
            m = cKDTree(s.origin[ks]).sparse_distance_matrix(self.tree.tree, ENV_RADIUS, output_type="ndarray")
            order = np.argsort(m["i"], kind="stable")
            i, j = m["i"][order], m["j"][order]
            bounds = np.searchsorted(i, np.arange(len(ks) + 1))
            for n, k in enumerate(ks):
                jj = j[bounds[n]:bounds[n + 1]]
                atom = self.tree.map[jj]
                keep = ~np.isin(atom, s.remove[k])
                vec = self.tree.pos[jj[keep]] - s.origin[k]
                self.key_of(k, (vec @ s.frames[k].T, self.sym[atom[keep]]))
        if not self.brush:
            return
        groups = {}
        for k in ks:
            groups.setdefault(tuple(np.round(self.sites.frames[k].ravel(), 2)), []).append(k)
        for members in groups.values():
            counter = {}
            for k in members:
                counter[self.site_key[k]] = counter.get(self.site_key[k], 0) + 1
            self._brush_solve(counter, self._neighbour_pairs(members))

    def _neighbour_pairs(self, members, reach=9.0):
        """Distinct (environment i, environment j, vector i->j in the local frame) between
        neighbouring sites of one facet, with their counts."""
        s = self.sites
        F = s.frames[members[0]]
        O = s.origin[members]
        n = len(members)
        P = (O[None] + self.tree.shifts[:, None]).reshape(-1, 3)
        m = cKDTree(O).sparse_distance_matrix(cKDTree(P), reach, output_type="ndarray")
        m = m[m["v"] > 0.5]
        if len(m) == 0:
            return []
        ids = {}
        kid = np.array([ids.setdefault(self.site_key[k], len(ids)) for k in members])
        v = np.rint((P[m["j"]] - O[m["i"]]) @ F.T / 0.2).astype(int)
        rows = np.column_stack([kid[m["i"]], kid[m["j"] % n], v])
        uniq, cnt = np.unique(rows, axis=0, return_counts=True)
        rev = {i: key for key, i in ids.items()}
        return [(rev[r[0]], rev[r[1]], r[2:] * 0.2, c) for r, c in zip(uniq, cnt)]

    # -- optimisation problems
    def _make_mode(self, E, Eel, u_local):
        lig, mode, X, el = self.lig, self.mode_name, self.X, self.el
        head = np.flatnonzero(np.linalg.norm(X, axis=1) < HEAD_RADIUS)
        E = np.asarray(E).reshape(-1, 3)
        Eel = np.asarray(Eel)
        anchor = lig.anchor_atom
        if mode == "a-site":
            if lig.kind == "ammonium":
                base = np.zeros(3)
                pos = ((-0.4, 0.0, 0.4), (0.0, -0.45, -0.9))
                bpos = ((-0.35, 0.0, 0.35), (0.0, -0.4, -0.8))
            elif self.sites.kind == "cs":
                base = np.zeros(3)
                pos = bpos = ((-0.3, 0.0, 0.3), (0.6, 1.2, 1.8, 2.4))
            else:  # DDA+ over a restored Pb-Br: the counter-ion joins the environment
                br = BOND["Pb-Br"] * u_local
                E = np.vstack([E, br])
                Eel = np.append(Eel, "Br")
                base = br + BOND["N...Br(ion pair)"] * np.array([0, 0, 1.0])
                pos = bpos = ((-0.5, 0.0, 0.5), (-0.5, 0.0, 0.5))
        elif mode == "mono":
            bond = {"carboxylate": BOND["Pb-O"], "thiocyanate": BOND["Pb-S"],
                    "sulfobetaine": BOND["Pb-O(sulfonate)"]}[lig.kind]
            base, pos, bpos = bond * u_local, None, None
        else:
            h = np.sqrt(max(BOND["Pb-O(bidentate)"] ** 2 - (self.d_oo / 2) ** 2, 0.5))
            base, pos, bpos = h * u_local, None, None
        m = _Mode(mode, X, head, el, base, E, Eel, _contact_limits(el[head], Eel), nh=tuple(lig.nh),
                  anchor=anchor)
        m.u_local = u_local
        m.extra = {"pos": pos, "bpos": bpos}
        if lig.kind == "ammonium" and lig.nh:
            c1 = [j for j in range(len(X)) if el[j] != "H" and j != anchor
                  and np.linalg.norm(X[j] - X[anchor]) < 1.7][0]
            k = X[anchor] - X[c1]
            m.rotor = (X[anchor].copy(), k / np.linalg.norm(k), np.array(lig.nh))
        if mode == "mono":
            nb = [j for j in range(len(X)) if j != anchor and el[j] != "H"
                  and np.linalg.norm(X[j] - X[anchor]) < 1.9]
            m.anchor_nb = nb[0] if nb else -1
            m.angle_window = ANCHOR_ANGLE.get(lig.kind)
        if mode in ("mono", "bi"):
            # the bound Pb is the local origin: the anchor O/S (and a chelate's C) bonds to it
            pb_env = np.flatnonzero((Eel == "Pb") & (np.linalg.norm(E, axis=1) < 0.1))
            for a in self._anchor_atoms():
                ha = np.flatnonzero(head == a)
                if len(ha) and len(pb_env):
                    m.lim[ha[0], pb_env] = 2.2 if el[a] != "C" else 2.6
        return m

    def _free_grid(self, m):
        if m.name == "a-site":
            dxy, dz = m.extra["pos"]
            th = np.radians([0.0, 20.0])
            g = np.array(np.meshgrid(dxy, dxy, dz, th, np.radians(np.arange(0, 360, 60)),
                                     np.radians(np.arange(0, 360, 30)), [0.0], indexing="ij")).reshape(7, -1).T
            return g[~((g[:, 3] == 0) & (g[:, 4] > 0))]
        if m.name == "mono":
            g = np.array(np.meshgrid([0.0], [0.0], [0.0], np.radians([0.0, 15.0, 30.0]),
                                     np.radians(np.arange(0, 360, 45)), np.radians(np.arange(0, 360, 20)),
                                     [0.0], indexing="ij")).reshape(7, -1).T
            return g[~((g[:, 3] == 0) & (g[:, 4] > 0))]
        return np.array(np.meshgrid([0.0], [0.0], [0.0], np.radians(np.arange(0, 360, 15)),
                                    np.radians(np.arange(-40, 41, 10)), [0.0], [0.0],
                                    indexing="ij")).reshape(7, -1).T

    def _bounds(self, m, p0, brush):
        lo = np.full(7, -np.inf)
        hi = np.full(7, np.inf)
        free = np.ones(7, bool)
        free[6] = m.rotor is not None
        if m.name == "a-site":
            lo[:3], hi[:3] = p0[:3] - (0.3 if brush else 0.6), p0[:3] + (0.3 if brush else 0.6)
        else:                                   # anchor moved sideways a little (O/S stays bonded)
            free[2] = False
            lim = 0.15 if m.name == "bi" else 0.35
            lo[:2], hi[:2] = -lim, lim
        if m.name == "bi":
            free[5] = False
            if brush:
                lo[3], hi[3] = p0[3] - np.radians(2), p0[3] + np.radians(2)
                lo[4], hi[4] = -np.radians(2), np.radians(2)
        else:
            lo[3], hi[3] = 0.0, np.radians(2.0 if brush else MAX_TILT)
            if brush:
                lo[5], hi[5] = p0[5] - np.radians(2), p0[5] + np.radians(2)
        return free, lo, hi

    def _free_solve(self, m):
        g = self._free_grid(m)
        sc = np.concatenate([self._score(m, g[i:i + 4096]) for i in range(0, len(g), 4096)])
        order = np.argsort(sc)[:3000]
        R, t = self._pose(m, g[order])
        tips = t + np.einsum("pij,j->pi", R, self.X[self.far])
        starts, seen = [], np.zeros((0, 3))
        for i, tip in zip(order, tips):
            if len(seen) == 0 or np.min(np.linalg.norm(seen - tip, axis=1)) > 1.5:
                starts.append(g[i])
                seen = np.vstack([seen, tip])
            if len(starts) >= 4:
                break
        return self._finish(m, [self._refine(m, p0, False) for p0 in starts], sort=True)

    def _brush_grid(self, m, gam):
        if m.name == "a-site":
            dxy, dz = m.extra["bpos"]
            P = np.array(np.meshgrid(dxy, dxy, dz, indexing="ij")).reshape(3, -1).T
        else:
            off = (-0.15, 0.0, 0.15) if m.name == "bi" else (-0.25, 0.0, 0.25)
            P = np.array(np.meshgrid(off, off, [0.0], indexing="ij")).reshape(3, -1).T
        if m.rotor is not None:                  # NH3 rotor angles (3-fold: 0-120 deg)
            om = np.radians([0.0, 40.0, 80.0])
            P = np.column_stack([np.repeat(P, len(om), axis=0), np.tile(om, len(P))])
        else:
            P = np.column_stack([P, np.zeros(len(P))])
        n = len(P)
        g = np.zeros((len(gam) * n, 7))
        g[:, :3] = np.tile(P[:, :3], (len(gam), 1))
        g[:, 6] = np.tile(P[:, 3], len(gam))
        col = 3 if m.name == "bi" else 5
        g[:, col] = np.repeat(gam, n)
        return g, n

    def _brush_solve(self, counter, pairs):
        """One spin for the facet (summed site scores + a packing penalty of the best pose of each
        environment against its neighbours' at the same spin); the other spins are kept as
        alternative poses (refined when first used), sorted by the site's own score."""
        gam = np.radians(np.arange(0, 360, 15))
        tables, argp, grids, heavy_pos = {}, {}, {}, {}
        heavy = np.arange(len(self.el))
        lim = _ll_limits(self.el[:, None], self.el[None, :]) + PACKING_MARGIN
        for key in counter:
            m = self.modes[key]
            g, n = self._brush_grid(m, gam)
            sc = np.concatenate([self._score(m, g[i:i + 4096]) for i in range(0, len(g), 4096)])
            sc = sc.reshape(len(gam), n)
            tables[key], argp[key], grids[key] = sc.min(axis=1), sc.argmin(axis=1), (g, n)
            best = g[np.arange(len(gam)) * n + argp[key]]
            R, t = self._pose(m, best)
            heavy_pos[key] = t[:, None, :] + np.einsum("pij,lj->pli", R, self.X[heavy])
        pack = np.zeros(len(gam))
        for ki, kj, v, c in pairs:
            d = np.linalg.norm(heavy_pos[ki][:, :, None, :] - (heavy_pos[kj][:, None, :, :] + v), axis=-1)
            pack += c * 300.0 * np.sum(np.clip(lim[None] - d, 0, None) ** 2, axis=(1, 2))
        total = sum(c * tables[key] for key, c in counter.items()) + pack
        best = int(np.argmin(total))
        for key in counter:
            if key in self.cache:
                continue
            self.n_env += 1
            m = self.modes[key]
            g, n = grids[key]
            order = [best] + [int(i) for i in np.argsort(tables[key]) if i != best]
            self.cache[key] = [_Pose(m, g[i * n + argp[key][i]], None) for i in order]
            self.cache[key][0] = self._refined(m, self.cache[key][0].p, True)

    def _finish(self, m, params, sort):
        res = [(float(self._score(m, p[None])[0]), p) for p in params]
        if sort:
            res.sort(key=lambda x: x[0])
        out, tips = [], []
        for score, p in res:
            R, t = self._pose(m, p[None])
            tip = t[0] + R[0] @ self.X[self.far]
            if any(np.linalg.norm(tip - q) < 0.5 for q in tips):
                continue                                   # the same pose found twice
            tips.append(tip)
            out.append(_Pose(m, p, score, self._template(m, p[None])[0]))
        return out

    def _refined(self, m, p0, brush, light=False):
        p = self._refine(m, p0, brush, iters=4 if light else 10, pop=32 if light else 64)
        return _Pose(m, p, float(self._score(m, p[None])[0]), self._template(m, p[None])[0])

    def _template(self, m: _Mode, g, sel=None):
        """Template coordinates per pose (P, L, 3): the NH3 hydrogens turned by the rotor angle."""
        g = np.atleast_2d(g)
        sel = np.arange(len(m.X)) if sel is None else np.asarray(sel)
        X = np.repeat(m.X[sel][None], len(g), axis=0)
        if m.rotor is None:
            return X
        n0, k, hs = m.rotor
        cols = [int(np.flatnonzero(sel == h)[0]) for h in hs if h in sel]
        if not cols:
            return X
        hsel = [h for h in hs if h in sel]
        v = m.X[hsel] - n0                                     # (3, 3)
        w = g[:, 6][:, None, None]
        kv = np.cross(k, v)
        rot = v[None] * np.cos(w) + kv[None] * np.sin(w) + (v @ k)[None, :, None] * k * (1 - np.cos(w))
        X[:, cols] = n0 + rot
        return X

    def _pose(self, m: _Mode, g):
        g = np.atleast_2d(g)
        if m.name == "bi":
            Ru = rotation_between(np.array([0, 0, 1.0]), m.u_local)
            R = Ru[None] @ _rz(g[:, 3]) @ _rx(g[:, 4])
        else:
            R = _rz(g[:, 4]) @ _ry(g[:, 3]) @ _rz(g[:, 5] - g[:, 4])
        return R, _translation(m, g)

    def _score(self, m: _Mode, g):
        g = np.atleast_2d(g)
        R, t = self._pose(m, g)
        Xh = self._template(m, g, m.head)
        Y = t[:, None, :] + np.einsum("pij,plj->pli", R, Xh)
        diff = Y[:, :, None, :] - m.E[None, None]
        d = np.sqrt(np.einsum("plmk,plmk->plm", diff, diff))
        score = 30.0 * np.sum(np.clip(m.lim[None] - d, 0, None) ** 2, axis=(1, 2))
        axis = np.einsum("pij,j->pi", R, self.axis)
        # chain tilt, weighted by the ligand length (the tip moves L sin(tilt) sideways)
        score += 5.0 * (2.0 + self.lig.info["length"]) * (1.0 - axis[:, 2])
        if m.name == "a-site":
            score += 0.5 * np.sum(g[:, :3] ** 2, axis=1)
            if m.nh:
                score += self._hbond_penalty(m, R, t, g)
        elif m.name == "mono" and m.anchor_nb >= 0 and m.angle_window:
            a = t
            b = t + np.einsum("pij,j->pi", R, m.X[m.anchor_nb])
            c = np.sum(-a * (b - a), 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b - a, axis=1)
            ang = np.degrees(np.arccos(np.clip(c, -1, 1)))
            lo, hi = m.angle_window
            score += (np.clip(lo - ang, 0, None) / 10) ** 2 + (np.clip(ang - hi, 0, None) / 10) ** 2
        return score

    def _hbond_penalty(self, m: _Mode, R, t, g):
        br = m.E[(m.Eel == "Br") & (np.einsum("ij,ij->i", m.E, m.E) < 5.5 ** 2)]
        if len(br) == 0:
            return np.zeros(len(t))
        n = t + np.einsum("pij,j->pi", R, m.X[m.anchor])
        h = t[:, None, :] + np.einsum("pij,plj->pli", R, self._template(m, g, list(m.nh)))
        dnb = np.linalg.norm(br[None] - n[:, None], axis=-1)
        v1 = n[:, None, :] - h
        v2 = br[None, None] - h[:, :, None]
        c = np.einsum("phk,phbk->phb", v1, v2) / (np.linalg.norm(v1, axis=-1)[..., None]
                                                   * np.linalg.norm(v2, axis=-1))
        ang = np.degrees(np.arccos(np.clip(c, -1, 1)))
        lo, hi = HBOND_NBR
        pen = ((np.clip(lo - dnb, 0, None) + np.clip(dnb - hi, 0, None)) / 0.1)[:, None, :] ** 2 \
            + (np.clip(HBOND_ANGLE - ang, 0, None) / 8.0) ** 2
        return np.min(pen, axis=2).sum(axis=1)

    def _refine(self, m: _Mode, p0, brush, iters=10, pop=64):
        """Shrinking random search around ``p0`` within bounds (vectorised, fixed seed)."""
        free, lo, hi = self._bounds(m, p0, brush)
        sigma = np.where(np.arange(7) < 3, 0.15, np.radians(8.0 if not brush else 3.0))
        sigma[6] = np.radians(12.0)
        sigma = sigma[free]
        rng = np.random.default_rng(12345)
        x = np.clip(p0.copy(), lo, hi)
        f = float(self._score(m, x[None])[0])
        for _ in range(iters):
            cand = np.repeat(x[None], pop, axis=0)
            cand[:, free] += rng.standard_normal((pop, int(free.sum()))) * sigma
            cand = np.clip(cand, lo, hi)
            fc = self._score(m, cand)
            j = int(np.argmin(fc))
            if fc[j] < f - 1e-9:
                x, f = cand[j], float(fc[j])
            else:
                sigma *= 0.55
        return x

    # -- global placement
    def place(self, order, n_lig):
        """Choose sites (in ``order``) and poses so that no contact is too close: the first pose of
        every chosen site, then for each ligand in a clash its alternative poses, then free sites."""
        order = [int(k) for k in order]
        chosen, spare = order[:n_lig], order[n_lig:]
        if n_lig == 0:
            return [], {}
        self.prepare(order)
        pose_i = {k: 0 for k in chosen}
        glob = {k: self._global(k, 0) for k in chosen}
        for _ in range(12):
            bad = self._bad(chosen, glob)
            if not bad:
                break
            rs = _Round(self, glob, self._removed_mask(chosen))
            for k in sorted(bad, key=chosen.index):
                if rs.fits(glob[k], k):
                    continue                                # its partner has moved away already
                fixed = False
                alt, cand = self._first_fit(rs, k, [a for a in range(len(self.poses_for(k))) if a != pose_i[k]])
                if alt is not None:
                    glob[k], pose_i[k], fixed = cand, alt, True
                    rs.move(k, cand)
                failed = []
                while not fixed and spare and len(failed) < MAX_SPARE_TRIES:
                    j = spare.pop(0)
                    rs.swap_out(k, j)
                    alt, cand = self._first_fit(rs, j, range(len(self.poses_for(j))))
                    if alt is not None:
                        chosen[chosen.index(k)] = j
                        del glob[k]
                        glob[j], pose_i[j], fixed = cand, alt, True
                        rs.commit_swap(k)
                        rs.move(j, cand)
                    else:
                        rs.swap_back(k, j)
                        failed.append(j)
                spare = spare + failed + ([k] if fixed else [])
        bad = self._bad(chosen, glob)
        if bad:
            raise InputError(f"could not place {n_lig} {self.lig.name} ligands without clashes "
                             f"({len(bad)} still too close to the surface or to each other after trying "
                             f"alternative poses and the free sites): lower --coverage")
        return chosen, {k: (glob[k], pose_i[k]) for k in chosen}

    def _first_fit(self, rs, k, alts):
        """First pose among ``alts`` of site k that fits: all screened at once with their unrefined
        parameters, the survivors refined and checked one by one."""
        alts = list(alts)
        if not alts:
            return None, None
        poses = self.poses_for(k)
        Ys = np.array([self._place_pose(k, poses[a]) for a in alts])
        ok = rs.fits_many(Ys, k)
        for a, good in zip(alts, ok):
            if not good:
                continue
            cand = self._global(k, a)
            if rs.fits(cand, k):
                return a, cand
        return None, None

    def _place_pose(self, k, pose):
        if pose.X is None:
            pose.X = self._template(pose.m, pose.p[None])[0]
        return self.sites.origin[k] + (pose.t + pose.X @ pose.R.T) @ self.sites.frames[k]

    def _global(self, k, alt):
        poses = self.poses_for(k)
        alt = min(alt, len(poses) - 1)
        pose = poses[alt]
        if pose.score is None:                          # an alternative spin, refined on first use
            pose = poses[alt] = self._refined(pose.m, pose.p, True, light=True)
        Y_local = pose.t + pose.X @ pose.R.T
        return self.sites.origin[k] + Y_local @ self.sites.frames[k]

    def _surface_bad(self, Ys, ks, removed):
        """Per ligand: True where a ligand atom comes closer than the ligand-surface minima to an
        atom of the structure (the atoms the chosen sites remove and the anchor bonds excepted)."""
        Ys = np.asarray(Ys).reshape(len(ks), -1, 3)
        L = Ys.shape[1]
        i, j, vec = self.tree.within(Ys.reshape(-1, 3), 3.0)
        bad = np.zeros(len(ks), bool)
        if len(i) == 0:
            return bad
        d = np.linalg.norm(vec, axis=1)
        mol, a = i // L, i % L
        env = self.sym[j]
        lim = np.full(len(i), MIN_LIGAND_SURFACE["X"])
        h = self.el[a] == "H"
        for e, v in MIN_LIGAND_SURFACE["H"].items():
            lim[h & (env == e)] = v
        lim[h & ~np.isin(env, list(MIN_LIGAND_SURFACE["H"]))] = MIN_LIGAND_LIGAND["HX"]
        bond = np.isin(a, self._anchor_atoms()) & (j == self.sites.pb[np.asarray(ks)][mol])
        viol = ~removed[j] & ~bond & (d < lim)
        bad[np.unique(mol[viol])] = True
        return bad

    def _removed_mask(self, ks):
        m = np.zeros(len(self.atoms), bool)
        for k in ks:
            m[self.sites.remove[k]] = True
        return m

    def _pairs(self, P, mol, Q=None, qmol=None):
        """Inter-molecular ligand pairs closer than their minimum (periodic images included):
        returns the molecule ids (of P; of Q when given) involved."""
        if Q is None:
            Q, qmol = P, mol
        shifts = self.tree.shifts
        n = len(Q)
        Qi = (Q[None] + shifts[:, None]).reshape(-1, 3)
        m = cKDTree(P).sparse_distance_matrix(cKDTree(Qi), 3.0, output_type="ndarray")
        if len(m) == 0:
            return np.zeros(0, int), np.zeros(0, int)
        a, b, s = m["i"], m["j"] % n, m["j"] // n
        zero = int(np.argmin(np.linalg.norm(shifts, axis=1)))
        inter = (mol[a] != qmol[b]) | (s != zero)
        a, b, d = a[inter], b[inter], m["v"][inter]
        viol = d < _ll_limits(self.el[a % len(self.el)], self.el[b % len(self.el)])
        return mol[a[viol]], qmol[b[viol]]

    def _bad(self, chosen, glob):
        Ys = np.array([glob[k] for k in chosen])
        removed = self._removed_mask(chosen)
        bad = {chosen[m] for m in np.flatnonzero(self._surface_bad(Ys, chosen, removed))}
        P = Ys.reshape(-1, 3)
        mol = np.repeat(np.arange(len(chosen)), Ys.shape[1])
        ma, mb = self._pairs(P, mol)
        for x, y in zip(ma, mb):
            bad.add(chosen[x])
            bad.add(chosen[y])
        return bad


class _Round:
    """One round of clash fixing: the ligands as at its start in a KD-tree; ligands moved since
    (or leaving) are skipped there and checked against a small tree of their new atoms."""

    def __init__(self, placer, glob: dict, removed):
        self.p = placer
        self.removed = removed
        self.ids = np.array(list(glob), int)
        self.tree = cKDTree(np.concatenate([glob[k] for k in self.ids]))
        self.owner = np.repeat(self.ids, len(placer.el))
        self.skip = np.zeros(len(placer.sites), bool)
        self.moved = {}
        self._mtree = None
        self._saved = None
        self.gone = -1

    def move(self, k, Y):
        self.skip[k] = True
        self.moved[k] = Y
        self._mtree = None

    def swap_out(self, k, j):
        """Trial: site k leaves (its atoms stop counting, its removed atom comes back), j enters."""
        self._saved = (bool(self.skip[k]), self.removed.copy())
        self.skip[k] = True
        self.gone = k
        self.removed[self.p.sites.remove[k]] = False
        self.removed[self.p.sites.remove[j]] = True

    def swap_back(self, k, j):
        self.skip[k], self.removed = self._saved
        self.gone = -1

    def commit_swap(self, k):
        """k has left for good: drop its moved atoms (if any) from the small tree."""
        self.gone = -1
        if self.moved.pop(k, None) is not None:
            self._mtree = None

    def _moved_tree(self):
        if self._mtree is None and self.moved:
            keys = list(self.moved)
            self._mtree = (cKDTree(np.concatenate([self.moved[k] for k in keys])),
                           np.repeat(keys, len(self.p.el)))
        return self._mtree

    def fits_many(self, Ys, k) -> np.ndarray:
        """:meth:`fits` for several candidate poses of site k at once (no self-image check)."""
        p = self.p
        A, L = Ys.shape[0], Ys.shape[1]
        ok = ~p._surface_bad(Ys, [k] * A, self.removed)
        el = p.el
        mt = self._moved_tree()
        flat = Ys.reshape(-1, 3)
        for sh in p.tree.shifts:
            z = bool(np.linalg.norm(sh) < 1e-9)
            q = cKDTree(flat + sh)
            for tree, owner, skip in ((self.tree, self.owner, True), (None if mt is None else mt[0],
                                                                       None if mt is None else mt[1], False)):
                if tree is None:
                    continue
                m = q.sparse_distance_matrix(tree, 3.0, output_type="ndarray")
                if not len(m):
                    continue
                own = owner[m["j"]]
                keep = ((own != k) | (not z)) & (own != self.gone)
                if skip:
                    keep &= ~self.skip[own]
                viol = keep & (m["v"] < _ll_limits(el[m["i"] % L], el[m["j"] % L]))
                ok[np.unique(m["i"][viol] // L)] = False
        return ok

    def fits(self, Y, k) -> bool:
        """Ligand atoms ``Y`` at site k: clear of the structure, of every other ligand (periodic
        images included) and of its own periodic images."""
        p = self.p
        if p._surface_bad(Y[None], [k], self.removed)[0]:
            return False
        el, L = p.el, len(p.el)
        mt = self._moved_tree()
        for sh in p.tree.shifts:
            z = bool(np.linalg.norm(sh) < 1e-9)
            q = cKDTree(Y + sh)
            m = q.sparse_distance_matrix(self.tree, 3.0, output_type="ndarray")
            if len(m):
                own = self.owner[m["j"]]
                keep = ~self.skip[own] & ((own != k) | (not z))
                if np.any(m["v"][keep] < _ll_limits(el[m["i"][keep]], el[m["j"][keep] % L])):
                    return False
            if mt is not None:
                m = q.sparse_distance_matrix(mt[0], 3.0, output_type="ndarray")
                if len(m):
                    own = mt[1][m["j"]]
                    keep = ((own != k) | (not z)) & (own != self.gone)
                    if np.any(m["v"][keep] < _ll_limits(el[m["i"][keep]], el[m["j"][keep] % L])):
                        return False
            if not z:                                   # its own periodic image (small cells)
                d = np.linalg.norm((Y + sh)[:, None, :] - Y[None], axis=-1)
                if np.any(d < _ll_limits(el[:, None], el[None, :])):
                    return False
        return True


def _ll_limits(a, b):
    a_h = np.asarray(a) == "H"
    b_h = np.asarray(b) == "H"
    return np.where(a_h & b_h, MIN_LIGAND_LIGAND["HH"],
                    np.where(a_h | b_h, MIN_LIGAND_LIGAND["HX"], MIN_LIGAND_LIGAND["XX"]))


# ------------------------------------------------------------------------------------------------
# assembling the structure and the report


def _assemble(atoms: Atoms, lig: Ligand, sites: SiteSet, binding: str, chosen, poses, placer: _Placer):
    n0 = len(atoms)
    remove = sorted({i for k in chosen for i in sites.remove[k]})
    keep = np.setdiff1d(np.arange(n0), remove)
    mol_prev = atoms.arrays.get("molecule")
    next_id = int(mol_prev.max()) + 1 if mol_prev is not None and len(mol_prev) and mol_prev.max() >= 0 else 0
    L = len(lig.atoms)
    counter = lig.counterion if (lig.kind == "quaternary-ammonium" and sites.kind == "pb") else None
    blocks, syms, qs, mols = [], [], [], []
    anchor_pos = []
    for m, k in enumerate(chosen):
        Y = poses[k][0]
        blocks.append(Y)
        syms.extend(lig.atoms.get_chemical_symbols())
        qs.append(lig.atoms.arrays["formal_charge"])
        mols.append(np.full(L, next_id + m))
        anchor_pos.append(Y[lig.anchor_atom])
        if counter:
            br = sites.origin[k] + BOND["Pb-Br"] * sites.u[k]
            blocks.append(br[None])
            syms.append(counter)
            qs.append(np.array([-1]))
            mols.append(np.array([next_id + m]))
    base = atoms[keep]
    if blocks:
        new = Atoms(syms, positions=np.concatenate(blocks))
        nn = len(new)
        for key, arr in base.arrays.items():
            if key in ("numbers", "positions"):
                continue
            if key == "formal_charge":
                fill = np.concatenate(qs)
            elif key == "region":
                fill = np.full(nn, "ligand", dtype=arr.dtype)
            elif key == "layer":
                fill = np.full(nn, -1, dtype=arr.dtype)
            elif key == "site":
                fill = np.full(nn, lig.name, dtype=arr.dtype)
            elif key == "molecule":
                fill = np.concatenate(mols)
            elif arr.dtype.kind == "U":
                fill = np.full((nn,) + arr.shape[1:], "", dtype=arr.dtype)
            elif arr.dtype.kind in "iu":
                fill = np.full((nn,) + arr.shape[1:], -1, dtype=arr.dtype)
            elif arr.dtype.kind == "b":
                fill = np.zeros((nn,) + arr.shape[1:], dtype=bool)
            else:
                fill = np.full((nn,) + arr.shape[1:], np.nan)
            new.arrays[key] = fill
        if "region" not in base.arrays:
            base.arrays["region"] = np.full(len(base), "bulk", dtype="<U16")
            new.arrays["region"] = np.full(nn, "ligand", dtype="<U16")
        if "molecule" not in base.arrays:
            base.arrays["molecule"] = np.full(len(base), -1, dtype=int)
            new.arrays["molecule"] = np.concatenate(mols)
        out = base + new
    else:
        out = base
        if "molecule" not in out.arrays:
            out.arrays["molecule"] = np.full(len(out), -1, dtype=int)
    out.info = dict(atoms.info)
    all_sym = atoms.get_chemical_symbols()
    sym_removed = [all_sym[i] for i in remove]
    report = {"ligand": lig.name, "kind": lig.kind, "ligand_charge": lig.charge,
              "n_ligands": len(chosen), "counterions_added": len(chosen) if counter else 0,
              "removed": {e: sym_removed.count(e) for e in sorted(set(sym_removed))},
              "environments_optimised": placer.n_env,
              "anchor_positions": np.array(anchor_pos).reshape(-1, 3)}
    report.update(ligand_geometry(out, lig_mols=range(next_id, next_id + len(chosen)), lig=lig,
                                  binding=binding, site=sites.kind))
    return out, report


def ligand_geometry(atoms: Atoms, lig_mols=None, lig: Ligand | None = None, binding: str = "monodentate",
                    site: str = "cs") -> dict:
    """Distances that say whether the placement is physical: shortest ligand-surface and
    ligand-ligand contacts (Å, with the pair; O/S-Pb bonds of the anchors left out of the
    non-bonded one), anchor bonds (Pb-O, Pb-S) and N-H...Br hydrogen bonds of ammonium."""
    sym = np.array(atoms.get_chemical_symbols())
    mol = atoms.arrays.get("molecule", np.full(len(atoms), -1))
    region = atoms.arrays.get("region", np.full(len(atoms), "", dtype="<U16"))
    lig_mask = (region == "ligand") if lig_mols is None else np.isin(mol, list(lig_mols))
    li = np.flatnonzero(lig_mask)
    if len(li) == 0:
        return {"min_ligand_surface": None, "min_ligand_ligand": None}
    other = np.flatnonzero(region != "ligand")
    tree = _PeriodicTree(atoms, other)
    i, j, vec = tree.within(atoms.positions[li], 4.0)
    out = {}
    if len(i):
        d = np.linalg.norm(vec, axis=1)
        k = int(np.argmin(d))
        out["min_ligand_surface"] = {"distance": round(float(d[k]), 4),
                                     "pair": f"{sym[li[i[k]]]}{li[i[k]]}-{sym[j[k]]}{j[k]}"}
        # anchor bonds: per ligand, its shortest O/S-Pb distance (two shortest for a chelate)
        anch = np.isin(sym[li[i]], ("O", "S")) & (sym[j] == "Pb") & (d < 3.3)
        if anch.any():
            per = {}
            for a, dist in zip(li[i[anch]], d[anch]):
                per.setdefault(mol[a], {}).setdefault(a, dist)
                per[mol[a]][a] = min(per[mol[a]][a], dist)
            nb = 2 if binding == "bidentate" else 1
            bonds = np.concatenate([np.sort(list(v.values()))[:nb] for v in per.values()])
            out["anchor_bonds"] = _stats(bonds, f"{'/'.join(sorted(set(sym[li[i[anch]]])))}-Pb "
                                                f"({'two per ligand' if nb == 2 else 'shortest per ligand'})")
        nonb = ~(anch | ((sym[li[i]] == "Br") & (sym[j] == "Pb")))
        if nonb.any():
            k = np.flatnonzero(nonb)[np.argmin(d[nonb])]
            out["min_ligand_surface_nonbonded"] = {"distance": round(float(d[k]), 4),
                                                   "pair": f"{sym[li[i[k]]]}{li[i[k]]}-{sym[j[k]]}{j[k]}"}
    else:
        out["min_ligand_surface"] = None
    # ligand-ligand between different molecules (periodic images included for slabs)
    ltree = _PeriodicTree(atoms, li)
    a, b, v = ltree.within(atoms.positions[li], 3.5)
    dd = np.linalg.norm(v, axis=1)
    diff = mol[li[a]] != mol[b]
    if diff.any():
        k = np.flatnonzero(diff)[np.argmin(dd[diff])]
        out["min_ligand_ligand"] = {"distance": round(float(dd[k]), 4),
                                    "pair": f"{sym[li[a[k]]]}{li[a[k]]}-{sym[b[k]]}{b[k]}"}
    else:
        out["min_ligand_ligand"] = None
    if lig is not None and lig.kind == "ammonium":
        out["hydrogen_bonds"] = hydrogen_bonds(atoms, li)
    return out


def hydrogen_bonds(atoms: Atoms, idx=None) -> dict:
    """N-H...Br geometry of ammonium groups: for each N-H, the Br with the best bond (N...Br in
    3.0-3.9 Å, largest N-H...Br angle). Returns counts and N...Br / angle statistics."""
    sym = np.array(atoms.get_chemical_symbols())
    idx = np.arange(len(atoms)) if idx is None else np.asarray(idx)
    pos = atoms.positions
    ns = [i for i in idx if sym[i] == "N"]
    hs = np.array([i for i in idx if sym[i] == "H"], int)
    brs = np.flatnonzero(sym == "Br")
    tree = _PeriodicTree(atoms, brs)
    htree = cKDTree(pos[hs]) if len(hs) else None
    dists, angles, per_n = [], [], []
    for n in ns:
        hn = hs[htree.query_ball_point(pos[n], 1.2)] if htree is not None else []
        if len(hn) != 3:
            continue
        _, _, vec = tree.within(pos[n][None], 3.9)
        good = 0
        for h in hn:
            vh = pos[n] - pos[h]
            best = None
            for v in vec:
                d = np.linalg.norm(v)
                if d < 3.0:
                    continue
                w = v - (pos[h] - pos[n])
                ang = np.degrees(np.arccos(np.clip(vh @ w / np.linalg.norm(vh) / np.linalg.norm(w), -1, 1)))
                if best is None or ang > best[1]:
                    best = (d, ang)
            if best is not None:
                dists.append(best[0])
                angles.append(best[1])
                good += best[1] > 140 and HBOND_NBR[0] - 0.1 <= best[0] <= HBOND_NBR[1] + 0.1
        per_n.append(good)
    res = {"n_ammonium": len(per_n), "n_with_three_hbonds": int(sum(g == 3 for g in per_n))}
    if dists:
        res["N_Br"] = _stats(np.array(dists), "N...Br")
        res["N_H_Br_angle"] = _stats(np.array(angles), "deg")
    return res


def _stats(x, what):
    return {"what": what, "min": round(float(np.min(x)), 3), "mean": round(float(np.mean(x)), 3),
            "max": round(float(np.max(x)), 3), "n": int(len(x))}


def _neutralise(atoms: Atoms, q: int, anchors) -> tuple[Atoms, dict]:
    """Remove |q| surface Cs (q > 0) or surface Br (q < 0) nearest to the ligand anchors."""
    sym = np.array(atoms.get_chemical_symbols())
    region = atoms.arrays.get("region", np.full(len(atoms), "", dtype="<U16"))
    layer = atoms.arrays["layer"]
    el = "Cs" if q > 0 else "Br"
    cand = np.flatnonzero((sym == el) & ~np.isin(region, ("ligand", "cluster")) & (layer >= 0))
    if len(cand) < abs(q):
        raise InputError(f"cannot neutralise a net charge of {q:+d} e: only {len(cand)} {el} left to remove")
    outer = layer[cand].min()
    depth = layer[cand] - outer
    if len(anchors):
        d = cKDTree(np.asarray(anchors)).query(atoms.positions[cand])[0]
    else:
        d = np.zeros(len(cand))
    order = np.lexsort((d, depth))
    gone = cand[order[:abs(q)]]
    keep = np.setdiff1d(np.arange(len(atoms)), gone)
    out = atoms[keep]
    out.info = dict(atoms.info)
    return out, {"removed": {el: int(abs(q))}, "layers": sorted(set(layer[gone].tolist())),
                 "reason": f"net formal charge {q:+d} e compensated by removing the surface {el} "
                           "nearest to the ligands"}
