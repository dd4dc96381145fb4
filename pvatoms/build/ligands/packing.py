"""Clash-free placement of ligands on the chosen sites (the packing step).

Each chosen site first gets its environment's best pose. Ligands that still come closer than
:data:`MIN_LIGAND_SURFACE` to the structure or :data:`MIN_LIGAND_LIGAND` to another ligand
(periodic images included) are resolved one by one, in rounds: first with the alternative poses of
their own site, then by moving the ligand to a free site (up to :data:`MAX_SPARE_TRIES` per ligand).
If contacts remain after 12 rounds the call stops and says so (lower the coverage). Distances in Å.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from pvatoms.build.ligands.optimise import PoseOptimiser
from pvatoms.build.ligands.parameters import (MAX_SPARE_TRIES, MIN_LIGAND_LIGAND, MIN_LIGAND_SURFACE,
                                              ligand_ligand_limits)
from pvatoms.build.ligands.pose import template
from pvatoms.errors import InputError


class Placer(PoseOptimiser):
    """Places ligands on sites without clashes, with the poses of :class:`PoseOptimiser`."""

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
            pose.X = template(pose.m, pose.p[None])[0]
        return self.sites.origin[k] + (pose.t + pose.X @ pose.R.T) @ self.sites.frames[k]

    def _global(self, k, alt):
        poses = self.poses_for(k)
        alt = min(alt, len(poses) - 1)
        pose = poses[alt]
        if pose.score is None:                          # an alternative spin, refined on first use
            pose = poses[alt] = self._refined(pose.m, pose.p, True, light=True)
        Y_local = pose.t + pose.X @ pose.R.T
        return self.sites.origin[k] + Y_local @ self.sites.frames[k]

    def surface_bad(self, Ys, ks, removed):
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
        bond = np.isin(a, self.anchor_atoms()) & (j == self.sites.pb[np.asarray(ks)][mol])
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
        viol = d < ligand_ligand_limits(self.el[a % len(self.el)], self.el[b % len(self.el)])
        return mol[a[viol]], qmol[b[viol]]

    def _bad(self, chosen, glob):
        Ys = np.array([glob[k] for k in chosen])
        removed = self._removed_mask(chosen)
        bad = {chosen[m] for m in np.flatnonzero(self.surface_bad(Ys, chosen, removed))}
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
        ok = ~p.surface_bad(Ys, [k] * A, self.removed)
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
                viol = keep & (m["v"] < ligand_ligand_limits(el[m["i"] % L], el[m["j"] % L]))
                ok[np.unique(m["i"][viol] // L)] = False
        return ok

    def fits(self, Y, k) -> bool:
        """Ligand atoms ``Y`` at site k: clear of the structure, of every other ligand (periodic
        images included) and of its own periodic images."""
        p = self.p
        if p.surface_bad(Y[None], [k], self.removed)[0]:
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
                if np.any(m["v"][keep] < ligand_ligand_limits(el[m["i"][keep]], el[m["j"][keep] % L])):
                    return False
            if mt is not None:
                m = q.sparse_distance_matrix(mt[0], 3.0, output_type="ndarray")
                if len(m):
                    own = mt[1][m["j"]]
                    keep = ((own != k) | (not z)) & (own != self.gone)
                    if np.any(m["v"][keep] < ligand_ligand_limits(el[m["i"][keep]], el[m["j"][keep] % L])):
                        return False
            if not z:                                   # its own periodic image (small cells)
                d = np.linalg.norm((Y + sh)[:, None, :] - Y[None], axis=-1)
                if np.any(d < ligand_ligand_limits(el[:, None], el[None, :])):
                    return False
        return True
