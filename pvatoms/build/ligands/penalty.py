"""Penalty of a ligand pose at one site environment (dimensionless; lower is better).

Terms: contacts of the ligand head closer than the optimisation minima to the environment
(30 per Å^2 of overlap), the tilt of the chain axis from the normal (weighted by the ligand length,
Å), an a-site ammonium's offset from the A site and its N-H...Br geometry (N...Br inside
:data:`HBOND_NBR`, N-H...Br >= :data:`HBOND_ANGLE`), and a monodentate anchor's Pb-X-Y angle
outside its window (:data:`ANCHOR_ANGLE`).
"""

from __future__ import annotations

import numpy as np

from pvatoms.build.ligands.parameters import HBOND_ANGLE, HBOND_NBR
from pvatoms.build.ligands.pose import Mode, placement, template


def pose_penalty(m: Mode, g) -> np.ndarray:
    """Penalty of each pose of ``g`` (P, 7) in the environment of ``m``; shape (P,)."""
    g = np.atleast_2d(g)
    R, t = placement(m, g)
    Xh = template(m, g, m.head)
    Y = t[:, None, :] + np.einsum("pij,plj->pli", R, Xh)
    diff = Y[:, :, None, :] - m.E[None, None]
    d = np.sqrt(np.einsum("plmk,plmk->plm", diff, diff))
    total = 30.0 * np.sum(np.clip(m.lim[None] - d, 0, None) ** 2, axis=(1, 2))
    axis = np.einsum("pij,j->pi", R, m.axis)
    # chain tilt, weighted by the ligand length (the tip moves L sin(tilt) sideways)
    total += 5.0 * (2.0 + m.length) * (1.0 - axis[:, 2])
    if m.name == "a-site":
        total += 0.5 * np.sum(g[:, :3] ** 2, axis=1)
        if m.nh:
            total += hbond_penalty(m, R, t, g)
    elif m.name == "mono" and m.anchor_nb >= 0 and m.angle_window:
        a = t
        b = t + np.einsum("pij,j->pi", R, m.X[m.anchor_nb])
        c = np.sum(-a * (b - a), 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b - a, axis=1)
        ang = np.degrees(np.arccos(np.clip(c, -1, 1)))
        lo, hi = m.angle_window
        total += (np.clip(lo - ang, 0, None) / 10) ** 2 + (np.clip(ang - hi, 0, None) / 10) ** 2
    return total


def hbond_penalty(m: Mode, R, t, g) -> np.ndarray:
    """N-H...Br term per pose: for each N-H the best Br within 5.5 Å of the site (squared
    excess of N...Br outside :data:`HBOND_NBR` in 0.1 Å, of the angle below :data:`HBOND_ANGLE` in 8 deg)."""
    br = m.E[(m.Eel == "Br") & (np.einsum("ij,ij->i", m.E, m.E) < 5.5 ** 2)]
    if len(br) == 0:
        return np.zeros(len(t))
    n = t + np.einsum("pij,j->pi", R, m.X[m.anchor])
    h = t[:, None, :] + np.einsum("pij,plj->pli", R, template(m, g, list(m.nh)))
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

