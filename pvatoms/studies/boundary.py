"""The boundary study: band offsets of the RP / Pnma CsPbBr3 phase boundary, with convergence.

Graph (labels; ``<g>`` an in-plane group: one for ``strain_on`` rp/perovskite, one per model when
the strain is shared; ``<m>`` a model, ``<s>`` a setting)::

    rp-bulk-relax, pv-bulk-relax                 bulk relaxations (cell and positions), first
    (<relax>-prerelax before each relaxation when ``prerelax`` names an MLIP: MLIP, then DFT)
    <side>-strained-structure<g>  (analysis)     the relaxed bulk at the interface's in-plane lattice
      -> <side>-strained-relax<g>                positions + length along the stacking normal
    <m>-structure  (analysis)                    the interface built from the relaxed bulks
      -> <m>-relax                               positions + stacking length, in-plane fixed
    pv-static-<s><g>, rp-static-<s><g>, <m>-static-<s>     statics, same settings per <s>
    boundary  (analysis, kind "boundary")        alignment per case, SOC, region DOS, fractions,
                                                 the convergence table and the verdict
                                                 (:mod:`pvatoms.studies.boundary_analysis`)

Strain bookkeeping: the in-plane lattice of the interface is that of the relaxed bulk of the side
that does not take the strain (``strain_on``), so each side's strain is referenced to its own
relaxed bulk; each bulk reference of the lineup is that bulk at the interface's in-plane lattice
with its stacking length relaxed (Van de Walle's strained bulk). The perovskite side keeps the
relaxed Pnma stacking length as the start of the interface relaxation.

k-points: each setting gives the in-plane mesh of the 1x1 interface cell; every cell of that
setting gets the same spacing (``n_i = ceil(|b_i| / Δk)``, ``b_i`` its reciprocal vectors), so the
bulks sample what the interface samples. Statics converge the bands up to CBM + 1 eV (GPAW's
default converges the occupied ones only, leaving the CBM unconverged) and keep the wave functions
(``static.gpw``) for SOC, region DOS and band-edge densities, done in the analysis.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from ase import Atoms

from pvatoms.analysis import ANALYSIS_SCHEMA
from pvatoms.errors import InputError
from pvatoms.schema import atoms_from_dict, atoms_to_dict
from pvatoms.studies.boundary_specs import BULK_FMAX
from pvatoms.studies.graph import Analysis, Source, Step, StudyGraph
from pvatoms.studies.specs import BoundaryStudy, as_spec

SIDES = ("rp", "perovskite")
SHORT = {"rp": "rp", "perovskite": "pv"}
#: default SCF convergence of the statics: the bands up to 1 eV above the CBM (converging every
#: band costs ~8x more SCF iterations for Pnma, 77 vs ~10 at Γ, and moves the SOC edges < 0.1 meV)
STATIC_CONVERGENCE = {"bands": "CBM+1"}


# ---------------------------------------------------------------- geometry

def rotation_to_z(normal) -> np.ndarray | None:
    """Rotation matrix taking ``normal`` to +z (Rodrigues), or None when the normal already lies
    along a Cartesian axis (then nothing is rotated)."""
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    if np.max(np.abs(n)) > 1 - 1e-8:
        return None
    z = np.array([0.0, 0.0, 1.0])
    k = np.cross(n, z)
    s, c = np.linalg.norm(k), float(n @ z)
    k /= s
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * K + (1 - c) * K @ K


def to_frame(atoms: Atoms, normal) -> Atoms:
    """``atoms`` rotated so that the stacking ``normal`` is a Cartesian axis (a cell mask can then
    fix the in-plane lattice); unchanged for the b-axis stacking, whose normal is y already."""
    R = rotation_to_z(normal)
    if R is None:
        return atoms
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) @ R.T, scale_atoms=False)
    out.positions = atoms.positions @ R.T
    return out


def cell_mask(normal) -> list:
    """Voigt mask (xx, yy, zz, yz, xz, xy) relaxing only the length along a Cartesian ``normal``."""
    n = np.abs(np.asarray(normal, float))
    i = int(np.argmax(n))
    if n[i] < 1 - 1e-6:
        raise InputError(f"stacking normal {np.round(normal, 4).tolist()} is not a Cartesian axis: "
                         "rotate the cell first")
    return [int(j == i) for j in range(6)]


def normal_of(u, v) -> np.ndarray:
    n = np.cross(u, v)
    return n / np.linalg.norm(n)


def deform(atoms: Atoms, u, v, su: float, sv: float, t: float = 1.0) -> Atoms:
    """``atoms`` stretched by ``su``/``sv`` along the in-plane vectors ``u``/``v`` and by ``t``
    along their normal (a linear map of cell and positions; fractional coordinates kept)."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    n = normal_of(u, v)
    B = np.column_stack([u, v, n])
    M = np.column_stack([su * u, sv * v, t * n]) @ np.linalg.inv(B)
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) @ M.T, scale_atoms=True)
    return out


def pnma_vectors(pnma: Atoms, axis: str) -> np.ndarray:
    """Rows: the interface's in-plane vectors u, v and the stacking vector w in a Pnma cell."""
    from pvatoms.build.stacking import PNMA_STACKING
    return PNMA_STACKING[axis] @ np.asarray(pnma.cell)


def mesh(atoms: Atoms, dk: float) -> tuple:
    """Γ-centred mesh with spacing ``dk`` (Å⁻¹, no 2π) along every reciprocal vector."""
    recip = np.linalg.norm(np.linalg.inv(np.asarray(atoms.cell, float)).T, axis=1)
    return tuple(max(1, math.ceil(b / dk - 0.05)) for b in recip)


def bulk_structures(study: BoundaryStudy) -> dict:
    """Starting structures of the two bulks, in the frame where the stacking normal is Cartesian:
    ``perovskite`` (Pnma, 20 atoms) and ``rp`` (two n-layer blocks cut from the same Pnma
    framework, so that its in-plane cell is the interface's)."""
    from pvatoms.build import cspbbr3
    from pvatoms.build.stacking import Block, pnma_framework, stack_blocks
    pnma = cspbbr3("pnma", study.lattice)
    fw = pnma_framework(pnma, study.axis)
    rp = stack_blocks(fw, [Block(study.rp_n, "rp"), Block(study.rp_n, "rp")], gap=study.gap)
    n = fw.normal
    pv = pnma.copy()
    pv.arrays["region"] = np.array(["perovskite"] * len(pv), dtype="<U16")
    return {"perovskite": to_frame(pv, n), "rp": to_frame(rp, n), "normal": n}


def in_plane_targets(pv: Atoms, rp: Atoms, axis: str, strain_on: str, t_rp: float) -> dict:
    """In-plane lengths (Å) of the relaxed bulks along the interface's u, v and the target the
    interface takes; the strain (target / own - 1) of each side."""
    u_pv, v_pv, _ = np.linalg.norm(pnma_vectors(pv, axis), axis=1)
    u_rp, v_rp = np.linalg.norm(np.asarray(rp.cell)[:2], axis=1)
    f = {"rp": 0.0, "perovskite": 1.0, "shared": t_rp}[strain_on]
    target = ((1 - f) * u_pv + f * u_rp, (1 - f) * v_pv + f * v_rp)
    own = {"perovskite": (u_pv, v_pv), "rp": (u_rp, v_rp)}
    return {"target": [float(x) for x in target], "own": {k: [float(x) for x in v] for k, v in own.items()},
            "strain": {k: {"u": target[0] / v[0] - 1, "v": target[1] / v[1] - 1} for k, v in own.items()},
            "strain_on": strain_on, "rp_thickness_fraction": t_rp}


def _t_rp(rp_n: int, model: dict | None) -> float:
    if not model:
        return 0.0
    m, k = int(model["rp_layers"]), int(model["perovskite_layers"])
    return m * rp_n / (m * rp_n + k)


# ---------------------------------------------------------------- run-time structure nodes

def structure_node(roles: dict, folder: Path, make: str, rp_n: int = 1, axis: str = "b", lattice: str = "pbe",
                   strain_on: str = "rp", gap: float = 3.5, boundary_width: float = 2.5, side: str | None = None,
                   model: dict | None = None, **_) -> dict:
    """A structure derived at run time from the relaxed bulks (analysis kind ``boundary-structure``):
    ``make='interface'`` (the model's interface at the target in-plane lattice) or ``'strained'``
    (bulk ``side`` at that lattice). Returns a document with ``structure``, the strain record and
    ``level_of_theory.cell``: the method that relaxed the bulks' cells (None unless both bulks
    name the same), which the relaxation of the structure reports as its in-plane lattice's."""
    from pvatoms.build import cspbbr3, rp_interface
    got, cells = {}, set()
    for role in ("perovskite_bulk", "rp_bulk"):
        items = [r for r in roles.get(role, []) if r.get("status") == "completed"]
        if not items:
            raise RuntimeError(f"the {role.replace('_', ' ')} relaxation did not finish: no structure to build")
        got[role] = atoms_from_dict(items[0]["structure"])
        cells.add((items[0].get("level_of_theory") or {}).get("cell"))
    pv, rp = got["perovskite_bulk"], got["rp_bulk"]
    cell_method = cells.pop() if len(cells) == 1 else None   # the in-plane lattice's, when both bulks share it
    info = in_plane_targets(pv, rp, axis, strain_on, _t_rp(rp_n, model))
    tu, tv = info["target"]
    if make == "strained":
        if side not in SIDES:
            raise InputError(f"strained bulk side must be one of {SIDES}, got {side!r}")
        bulk = pv if side == "perovskite" else rp
        vec = pnma_vectors(bulk, axis) if side == "perovskite" else np.asarray(bulk.cell)
        ou, ov = info["own"][side]
        atoms = deform(bulk, vec[0], vec[1], tu / ou, tv / ov)
        atoms.arrays["region"] = np.array([side] * len(atoms), dtype="<U16")
        normal = normal_of(vec[0], vec[1])
    elif make == "interface":
        if not model:
            raise InputError("an interface structure needs its model (rp_layers, perovskite_layers)")
        reps = tuple(model.get("supercell") or (1, 1))
        atoms = rp_interface(rp_n=rp_n, rp_layers=int(model["rp_layers"]),
                             perovskite_layers=int(model["perovskite_layers"]), axis=axis, lattice=lattice,
                             strain_on="rp", gap=gap, boundary_width=boundary_width, supercell=reps)
        ref = cspbbr3("pnma", lattice)
        w_rel = np.linalg.norm(pnma_vectors(pv, axis)[2]) / np.linalg.norm(pnma_vectors(ref, axis)[2])
        cell = np.asarray(atoms.cell)
        u0, v0 = np.linalg.norm(cell[0]) / reps[0], np.linalg.norm(cell[1]) / reps[1]
        normal = normal_of(cell[0], cell[1])
        atoms = to_frame(deform(atoms, cell[0], cell[1], tu / u0, tv / v0, w_rel), normal)
        info["stacking_scale"] = float(w_rel)
        info["interface_builder"] = atoms.info.get("interface")
        normal = normal_of(np.asarray(atoms.cell)[0], np.asarray(atoms.cell)[1])
    else:
        raise InputError(f"make must be 'interface' or 'strained', got {make!r}")
    return {"kind": "boundary-structure", "schema": ANALYSIS_SCHEMA, "make": make, "side": side,
            "model": model, "structure": atoms_to_dict(atoms), "natoms": len(atoms),
            "level_of_theory": {"energy": None, "geometry": None, "cell": cell_method, "label": None},
            "stacking_normal": np.round(normal, 10).tolist(), "in_plane": info,
            "references": {"perovskite": roles["perovskite_bulk"][0]["label"], "rp": roles["rp_bulk"][0]["label"]}}


# ---------------------------------------------------------------- the plan

def plan(study: BoundaryStudy) -> StudyGraph:
    """The step graph of a boundary study (see the module docstring)."""
    bulks = bulk_structures(study)
    normal = bulks["normal"]
    mask = cell_mask([0.0, 0.0, 1.0] if rotation_to_z(normal) is not None else normal)
    rbackend, rsettings = study.relax_backend(study.relax)
    dk_relax = relax_spacing(study)
    steps, analyses, notes = [], [], []
    if rbackend == "gpaw" and not {"kpts", "kpoint_density"} & set(rsettings):
        rsettings = {**rsettings, "kpts": None}           # filled per structure below
        notes.append(f"DFT relaxations at a k spacing of {dk_relax:.4f} Å⁻¹ (the finest setting's, never coarser "
                     f"than {RELAX_KPOINT_DENSITY:g} k-points per Å⁻¹): a Γ-only cell relaxation of these 8 Å "
                     "cells is off by ~1 GPa")
    if rbackend == "gpaw":
        rsettings = {"ecut": RELAX_STRESS_ECUT, **rsettings}     # a cell relaxation needs it (see the constant)
    if rbackend == "gpaw" and float(rsettings["ecut"]) < RELAX_STRESS_ECUT:
        notes.append(f"cell relaxations at {float(rsettings['ecut']):g} eV, below {RELAX_STRESS_ECUT:g} eV: expect a "
                     "Pulay stress of a few tenths of a GPa (0.4 GPa at 400 eV in Pnma CsPbBr3, about 1 % in lattice "
                     "length for a bulk modulus near 15 GPa)")

    def relax_settings(atoms):
        out = dict(rsettings)
        if "kpts" in out and out["kpts"] is None:
            out["kpts"] = list(mesh(atoms, dk_relax))
        return out

    def relax_step(label, source, atoms, job, parents=(), priority=0, backend=None):
        """The relaxation ``label`` (the study's relax backend, after an MLIP one with ``prerelax``;
        or ``backend``, an MLIP geometry source, alone)."""
        if backend is not None:
            steps.append(Step(label, "relax", backend, {"structure": source}, {}, dict(job),
                              parents=list(parents), priority=priority))
            return
        if study.prerelax:
            pre = f"{label}-prerelax"
            steps.append(Step(pre, "relax", study.prerelax, {"structure": source}, {}, dict(job),
                              parents=list(parents), priority=priority))
            source, parents = Source.from_parent(pre), [pre]
        steps.append(Step(label, "relax", rbackend, {"structure": source}, relax_settings(atoms), dict(job),
                          parents=list(parents), priority=priority))

    sides_strained = {"rp": ["rp"], "perovskite": ["perovskite"], "shared": ["rp", "perovskite"]}[study.strain_on]
    common = {"rp_n": study.rp_n, "axis": study.axis, "lattice": study.lattice, "strain_on": study.strain_on,
              "gap": study.gap, "boundary_width": study.boundary_width}
    iface_relax = {"cell": True, "cell_mask": mask, "fmax": study.interface_fmax, "steps": study.interface_steps}

    def geometries(models, sfx="", backend=None):
        """Relaxed bulks, strained bulks and interfaces of ``models`` from one geometry source (label
        suffix ``sfx``); returns {in-plane group: {side: relaxed label}}."""
        for side, label in (("rp", "rp-bulk-relax"), ("perovskite", "pv-bulk-relax")):
            atoms = bulks[side]
            relax_step(label + sfx, Source.given(atoms), atoms, study.relax.job_settings(), priority=10,
                       backend=backend)
        bulk_roles = {"perovskite_bulk": [f"pv-bulk-relax{sfx}"], "rp_bulk": [f"rp-bulk-relax{sfx}"]}
        groups = {}
        for m in models:
            g = f"-{m.label}" if study.strain_on == "shared" else ""
            if g in groups:
                continue
            groups[g] = {"rp": f"rp-bulk-relax{sfx}", "perovskite": f"pv-bulk-relax{sfx}"}
            for side in sides_strained:
                node = f"{SHORT[side]}-strained-structure{g}{sfx}"
                analyses.append(Analysis(node, "boundary-structure", dict(bulk_roles),
                                         {**common, "make": "strained", "side": side,
                                          "model": _model_dict(m) if g else None, "natoms": len(bulks[side])}))
                relax = f"{SHORT[side]}-strained-relax{g}{sfx}"
                relax_step(relax, Source.from_parent(node), bulks[side], iface_relax, [node], 5, backend=backend)
                groups[g][side] = relax
        for m in models:
            node = f"{m.label}-structure{sfx}"
            analyses.append(Analysis(node, "boundary-structure", dict(bulk_roles),
                                     {**common, "make": "interface", "model": _model_dict(m),
                                      "natoms": len(_interface_probe(study, m))}))
            relax_step(f"{m.label}-relax{sfx}", Source.from_parent(node), _interface_probe(study, m), iface_relax,
                       [node], 5, backend=backend)
        return groups

    sources = [(rbackend, "", None, study.models, _cases(study))]
    sources += [(name, f"-{name}", name, [study.models[-1]], [(study.models[-1], study.settings[0])])
                for name in study.geometries]
    roles = {"interface": [], "perovskite_bulk": [], "rp_bulk": [], "structures": []}
    rows, made = [], set()
    for k, (name, sfx, backend, models, cases) in enumerate(sources):
        groups = geometries(models, sfx, backend)
        for m, s in cases:
            g = f"-{m.label}" if study.strain_on == "shared" else ""
            probe = _interface_probe(study, m)
            dk = _dk(probe, m, s)
            labels = {"interface": f"{m.label}-static-{s.label}{sfx}"}
            todo = [("interface", labels["interface"], f"{m.label}-relax{sfx}", _interface_mesh(probe, m, s, dk))]
            for side in SIDES:
                lab = f"{SHORT[side]}-static-{s.label}{g}{sfx}"
                labels[f"{side}_bulk"] = lab
                todo.append((f"{side}_bulk", lab, groups[g][side], mesh(bulks[side], dk)))
            for role, lab, parent, kpts in todo:
                if lab in made:
                    continue
                made.add(lab)
                steps.append(Step(lab, "static", study.backend, {"structure": Source.from_parent(parent)},
                                  _static_settings(study, s, kpts), {"write_gpw": True}, parents=[parent]))
                roles[role].append(lab)
            roles["structures"].append(f"{m.label}-structure{sfx}")
            rows.append({"case": f"{m.label}@{s.label}" + (f"//{name}" if sfx else ""), "model": m.label,
                         "setting": s.label, "rp_layers": m.rp_layers, "perovskite_layers": m.perovskite_layers,
                         "supercell": list(m.supercell), "kpts_in_plane": list(s.kpts_in_plane),
                         "ecut": s.ecut if s.ecut is not None else study.backend_settings.get("ecut"),
                         "interface": labels["interface"], "perovskite_bulk": labels["perovskite_bulk"],
                         "rp_bulk": labels["rp_bulk"], "structure": f"{m.label}-structure{sfx}",
                         "model_index": study.models.index(m), "setting_index": study.settings.index(s),
                         "geometry_index": k, "geometry_source": name})
    roles["structures"] = sorted(set(roles["structures"]))
    analyses.append(Analysis("boundary", "boundary", roles,
                             {"cases": rows, "rp_n": study.rp_n, "axis": study.axis, "soc": study.soc,
                              "pdos": study.pdos, "own_geometry": rbackend == study.backend,
                              "tolerance": study.tolerance, "fraction_tolerance": study.fraction_tolerance,
                              "convergence": study.convergence}))
    if study.prerelax:
        notes.append(f"every relaxation by {study.prerelax} first, then by {rbackend} from its geometry: the statics "
                     f"are on {rbackend} geometries")
    if rbackend != study.backend:
        notes.append(f"geometries relaxed with {rbackend}, statics with {study.backend}: level of theory "
                     f"{study.backend.upper()}//{rbackend}")
    if study.relax.fmax > 2 * BULK_FMAX:
        notes.append(f"bulk relaxations to {study.relax.fmax:g} eV/Å: the Pnma tilt mode is flat, and at 0.02 eV/Å "
                     "the MLIP bulks stopped after 5-6 steps, 2.8-4.7° in apical Pb–Br–Pb angle and 1.3-1.7 % in a "
                     f"from their minimum (default {BULK_FMAX:g} eV/Å)")
    return StudyGraph("boundary", study.name, study.run_folder(), steps, analyses, notes=notes, spec=as_spec(study))


def _model_dict(m) -> dict:
    return {"rp_layers": m.rp_layers, "perovskite_layers": m.perovskite_layers, "supercell": list(m.supercell),
            "label": m.label}


def _interface_probe(study, m) -> Atoms:
    """The model's interface at the reference lattice (plan time: sizes and k-meshes only)."""
    from pvatoms.build import rp_interface
    atoms = rp_interface(rp_n=study.rp_n, rp_layers=m.rp_layers, perovskite_layers=m.perovskite_layers,
                         axis=study.axis, lattice=study.lattice, gap=study.gap,
                         boundary_width=study.boundary_width, supercell=m.supercell)
    cell = np.asarray(atoms.cell)
    return to_frame(atoms, normal_of(cell[0], cell[1]))


#: the coarsest k-point density (k-points per Å⁻¹, ASE's convention) of a DFT relaxation in the
#: study: the GPAW default. Measured on the SevenNet-0-relaxed 28-atom RP bulk (8.1 x 8.5 x 18.9 Å,
#: PBE 200 eV): the stress (xx, yy, zz) is (-1.02, +0.83, -0.90) GPa at Γ only and (+0.33, +0.62,
#: +0.58) GPa with 2x2x1 and (+0.38, +0.64, +0.64) GPa with 3x3x1 (this density), so a relaxation at
#: the statics' Γ mesh moved b by +5.7 % and c by -4.8 %.
RELAX_KPOINT_DENSITY = 3.0
#: cut-off (eV) of the study's GPAW relaxations unless the spec names one; below it a cell relaxation
#: carries a Pulay stress of a few tenths of a GPa. Pnma CsPbBr3 at its PBE-400 eV minimum (3x2x3):
#: stress (xx, yy, zz) (+0.05, -0.07, -0.07) GPa at 400 eV, (-0.33, -0.41, -0.43) at 520 eV and
#: (-0.37, -0.44, -0.46) at 650 eV, so 400 eV is 0.4 GPa off and 520 eV within 0.04 GPa
#: (benchmarks/results/boundary_relaxation.md, "PBE cells"); the RP bulk at Γ moved by
#: (-0.24, -0.29, -0.26) GPa from 200 to 400 eV
RELAX_STRESS_ECUT = 520.0


def relax_spacing(study: BoundaryStudy) -> float:
    """k spacing (Å⁻¹, no 2π) of the study's DFT relaxations (bulk cells, strained bulks and
    interfaces, when ``relax.backend_settings`` names no mesh): the finest spacing of the
    settings' interface meshes, and never coarser than :data:`RELAX_KPOINT_DENSITY`. The statics
    keep their own settings' spacing; the relaxations need forces and stresses converged in k."""
    finest = min(_dk(_interface_probe(study, m), m, s) for m in study.models for s in study.settings)
    return min(finest, 1.0 / (2 * math.pi * RELAX_KPOINT_DENSITY))


def _dk(probe: Atoms, m, s) -> float:
    """k spacing (Å⁻¹, no 2π) of setting ``s``: that of the in-plane mesh of the 1x1 interface
    cell (the coarser of its two directions, so a square-ish cell keeps n1 x n2)."""
    recip = np.linalg.norm(np.linalg.inv(np.asarray(probe.cell, float)).T, axis=1)
    return float(max(recip[0] * m.supercell[0] / s.kpts_in_plane[0], recip[1] * m.supercell[1] / s.kpts_in_plane[1]))


def _interface_mesh(probe: Atoms, m, s, dk: float) -> tuple:
    """The interface's mesh: the setting's in-plane counts (divided by the in-plane repeats) and
    the common spacing along the stacking vector."""
    n1, n2 = (max(1, math.ceil(n / r)) for n, r in zip(s.kpts_in_plane, m.supercell))
    return (n1, n2, mesh(probe, dk)[2])


def _static_settings(study, s, kpts) -> dict:
    out = {k: v for k, v in study.backend_settings.items() if k not in ("kpts", "kpoint_density")}
    out.update(s.backend_settings)
    if s.ecut is not None:
        out["ecut"] = s.ecut
    out.setdefault("convergence", dict(STATIC_CONVERGENCE))
    out["kpts"] = list(kpts)
    return out


def _cases(study) -> list:
    """(model, setting) pairs: ``scan`` every model at the first setting and every setting on the
    first model; ``grid`` all pairs."""
    if study.convergence == "grid":
        return [(m, s) for m in study.models for s in study.settings]
    out = [(m, study.settings[0]) for m in study.models]
    out += [(study.models[0], s) for s in study.settings[1:]]
    return out


__all__ = ["plan", "structure_node", "bulk_structures", "in_plane_targets", "deform", "cell_mask", "to_frame", "mesh",
           "rotation_to_z", "normal_of", "pnma_vectors", "relax_spacing", "SIDES"]
