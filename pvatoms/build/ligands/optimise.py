"""Pose optimisation of a ligand per distinct site environment.

Sites whose surroundings agree (within :data:`KEY_RADIUS`, to 0.1 Å, same anchor direction)
share one optimisation problem (:class:`~pvatoms.build.ligands.pose.Mode`). Short ligands
(<= :data:`BRUSH_LENGTH` Å) are optimised freely per environment: a grid search, then a seeded,
shrinking random search (tilt <= :data:`MAX_TILT` deg) from up to four distinct starts. Longer ones
stand as a brush: chain along the facet normal (tilt <= 2 deg) with one spin about it for all sites
of a facet, chosen for the summed site penalties plus the packing of each environment's best pose
against its neighbours'; the other spins are kept as alternative poses.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from pvatoms.build.ligand_library import Ligand
from pvatoms.build.ligands.parameters import (ANCHOR_ANGLE, BOND, BRUSH_LENGTH, ENV_RADIUS, HEAD_RADIUS,
                                              KEY_RADIUS, MAX_TILT, PACKING_MARGIN, contact_limits,
                                              ligand_ligand_limits)
from pvatoms.build.ligands.penalty import pose_penalty
from pvatoms.build.ligands.pose import Mode, Pose, placement, rx, template
from pvatoms.build.ligands.sites import SiteSet
from pvatoms.build.ligands.surface import PeriodicTree


class PoseOptimiser:
    """Poses of ``lig`` for the distinct environments of ``sites`` (cached per environment).

    Short ligands get a free optimisation per environment. Ligands longer than
    :data:`BRUSH_LENGTH` stand as a brush: chain axis along the facet normal (tilt <= 2 deg) and one
    spin about it for all sites of a facet (chosen to suit all its environments best), so that
    neighbouring chains are near-translated copies that do not cross."""

    def __init__(self, atoms: Atoms, lig: Ligand, sites: SiteSet, binding: str):
        self.atoms, self.lig, self.sites, self.binding = atoms, lig, sites, binding
        self.sym = np.array(atoms.get_chemical_symbols())
        self.tree = PeriodicTree(atoms, np.arange(len(atoms)))
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
        return X @ rx(b)[0].T

    def _axis(self, X):
        heavy = self.el != "H"
        a = X[heavy].mean(axis=0)
        return a / np.linalg.norm(a) if np.linalg.norm(a) > 1e-6 else np.array([0, 0, 1.0])

    def anchor_atoms(self):
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
        m = Mode(mode, X, head, el, base, E, Eel, contact_limits(el[head], Eel), nh=tuple(lig.nh),
                  anchor=anchor)
        m.u_local, m.axis, m.length = u_local, self.axis, lig.info["length"]
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
            for a in self.anchor_atoms():
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
        sc = np.concatenate([pose_penalty(m, g[i:i + 4096]) for i in range(0, len(g), 4096)])
        order = np.argsort(sc)[:3000]
        R, t = placement(m, g[order])
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
        lim = ligand_ligand_limits(self.el[:, None], self.el[None, :]) + PACKING_MARGIN
        for key in counter:
            m = self.modes[key]
            g, n = self._brush_grid(m, gam)
            sc = np.concatenate([pose_penalty(m, g[i:i + 4096]) for i in range(0, len(g), 4096)])
            sc = sc.reshape(len(gam), n)
            tables[key], argp[key], grids[key] = sc.min(axis=1), sc.argmin(axis=1), (g, n)
            best = g[np.arange(len(gam)) * n + argp[key]]
            R, t = placement(m, best)
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
            self.cache[key] = [Pose(m, g[i * n + argp[key][i]], None) for i in order]
            self.cache[key][0] = self._refined(m, self.cache[key][0].p, True)

    def _finish(self, m, params, sort):
        res = [(float(pose_penalty(m, p[None])[0]), p) for p in params]
        if sort:
            res.sort(key=lambda x: x[0])
        out, tips = [], []
        for score, p in res:
            R, t = placement(m, p[None])
            tip = t[0] + R[0] @ self.X[self.far]
            if any(np.linalg.norm(tip - q) < 0.5 for q in tips):
                continue                                   # the same pose found twice
            tips.append(tip)
            out.append(Pose(m, p, score, template(m, p[None])[0]))
        return out

    def _refined(self, m, p0, brush, light=False):
        p = self._refine(m, p0, brush, iters=4 if light else 10, pop=32 if light else 64)
        return Pose(m, p, float(pose_penalty(m, p[None])[0]), template(m, p[None])[0])

    def _refine(self, m: Mode, p0, brush, iters=10, pop=64):
        """Shrinking random search around ``p0`` within bounds (vectorised, fixed seed)."""
        free, lo, hi = self._bounds(m, p0, brush)
        sigma = np.where(np.arange(7) < 3, 0.15, np.radians(8.0 if not brush else 3.0))
        sigma[6] = np.radians(12.0)
        sigma = sigma[free]
        rng = np.random.default_rng(12345)
        x = np.clip(p0.copy(), lo, hi)
        f = float(pose_penalty(m, x[None])[0])
        for _ in range(iters):
            cand = np.repeat(x[None], pop, axis=0)
            cand[:, free] += rng.standard_normal((pop, int(free.sum()))) * sigma
            cand = np.clip(cand, lo, hi)
            fc = pose_penalty(m, cand)
            j = int(np.argmin(fc))
            if fc[j] < f - 1e-9:
                x, f = cand[j], float(fc[j])
            else:
                sigma *= 0.55
        return x

    # -- global placement
