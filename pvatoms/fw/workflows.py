"""Study specs (YAML) -> FireWorks workflows.

A study spec names the study, the backend and the structures; every calculation becomes one
firework running one job in ``FOLDER/<label>``. Kinds:

- ``smoke``: independent relaxations of small rattled cells (the simplest example).
- ``defects``: host relax -> perfect supercell + defect supercells (x charge states) + competing
  phases -> formation-energy analysis.
- ``neb``: host relax -> one climbing-image NEB per vacancy hop (in parallel) -> barrier table.
- ``phonons``: relax -> one static per phonopy displacement (in parallel) -> phonons.
- ``band-edges``: relax -> static -> band-edge densities -> localization analysis.

See ``workflows/*.yaml`` for annotated examples. Structures are given as
``{builder: NAME, ...arguments}`` (cspbbr3, ruddlesden_popper, rp_interface), ``{file: PATH}``
(relative to the spec file), optionally with ``rattle: Å`` and ``seed``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import yaml
from fireworks import Firework, Workflow

from pvatoms.calc import BACKENDS, MLIP_BACKENDS
from pvatoms.errors import InputError, check_choice
from pvatoms.fw.tasks import HASH_KEY, PvatomsDupeFinder, PvatomsJob, PvatomsJoin
from pvatoms.results import atoms_to_dict, structure_hash

STUDIES = ("smoke", "defects", "neb", "phonons", "band-edges")
BUILDERS = ("cspbbr3", "ruddlesden_popper", "rp_interface")


def load_spec(path, folder=None) -> dict:
    """Read a study spec. Structure files resolve against the spec's folder; the run folder
    (``folder:`` in the spec, or the ``folder`` argument) against the current directory."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"study spec {str(path)!r} not found")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(spec, dict):
        raise InputError(f"{path}: a study spec is a mapping with at least 'study' and 'name'")
    spec["_base"] = str(path.resolve().parent)
    if folder is not None:
        spec["folder"] = str(folder)
    return spec


def structure_from_spec(item: dict, base: str | Path = "."):
    """An ase.Atoms from ``{builder: ..., ...}`` or ``{file: ...}`` (+ ``rattle``, ``seed``)."""
    from pvatoms import build
    from pvatoms.io import read_structure
    item = dict(item)
    rattle, seed = item.pop("rattle", None), item.pop("seed", 0)
    if "file" in item:
        atoms = read_structure(Path(base) / item["file"])
    elif "builder" in item:
        name = item.pop("builder")
        check_choice("builder", name, BUILDERS)
        if "supercell" in item:
            item["supercell"] = tuple(item["supercell"])
        atoms = getattr(build, name)(**item)
    else:
        raise InputError(f"a structure needs 'builder' or 'file', got {sorted(item)}")
    if rattle:
        atoms.rattle(float(rattle), seed=int(seed))
    return atoms


def _job_fw(label: str, job: str, folder: Path, backend: str, backend_settings: dict | None = None,
            job_settings: dict | None = None, parents=None, structure=None, structure_from=None,
            transform=None, extra: dict | None = None, priority: int = 0) -> Firework:
    params = {"job": job, "folder": str(folder / label), "backend": backend, "label": label,
              "backend_settings": backend_settings or {}, "job_settings": job_settings or {}}
    if structure is not None:
        params["structure"] = atoms_to_dict(structure)
    if structure_from:
        params["structure_from"] = structure_from
    if transform:
        params["transform"] = transform
    params.update(extra or {})
    h = structure_hash(structure, params) if structure is not None else structure_hash(_empty(), params)
    spec = {HASH_KEY: h, "_dupefinder": PvatomsDupeFinder(), "_priority": priority}
    return Firework(PvatomsJob(**params), spec=spec, name=label, parents=parents)


def _empty():
    from ase import Atoms
    return Atoms()


def _join_fw(label: str, kind: str, folder: Path, parents, settings: dict | None = None) -> Firework:
    return Firework(PvatomsJoin(kind=kind, folder=str(folder / label), label=label, settings=settings or {}),
                    spec={"_allow_fizzled_parents": True}, name=label, parents=parents)


def _common(spec: dict):
    for key in ("study", "name"):
        if key not in spec:
            raise InputError(f"study spec needs '{key}' (study: one of {', '.join(STUDIES)})")
    check_choice("study", spec["study"], STUDIES)
    backend = spec.get("backend", "sevennet")
    check_choice("backend", backend, BACKENDS)
    folder = Path(spec.get("folder", f"runs/{spec['name']}")).expanduser()
    return backend, dict(spec.get("backend_settings") or {}), folder.resolve()


def build_workflow(spec: dict) -> tuple[Workflow, list[str]]:
    """The workflow of a study spec and notes for the user (e.g. charge states skipped)."""
    spec = copy.deepcopy(spec)
    backend, bset, folder = _common(spec)
    maker = {"smoke": _smoke, "defects": _defects, "neb": _neb, "phonons": _phonons,
             "band-edges": _band_edges}[spec["study"]]
    fws, notes = maker(spec, backend, bset, folder)
    wf = Workflow(fws, name=f"{spec['study']}:{spec['name']}",
                  metadata={"pvatoms_study": spec["study"], "folder": str(folder),
                            "spec": {k: v for k, v in spec.items() if not k.startswith("_")}})
    return wf, notes


def _smoke(spec, backend, bset, folder):
    items = spec.get("structures") or {}
    if not items:
        raise InputError("smoke study needs 'structures'")
    job = spec.get("job", "relax")
    default = {"fmax": 0.05, "steps": 200} if job == "relax" else {}
    settings = dict(spec.get("job_settings") or default)
    fws = [_job_fw(label, job, folder, backend, bset, settings,
                   structure=structure_from_spec(item, spec["_base"])) for label, item in items.items()]
    return fws, []


def _relax_fw(spec, backend, bset, folder, label="relax", key="host"):
    item = spec.get(key) or spec.get("structure")
    if item is None:
        raise InputError(f"{spec['study']} study needs '{key}' (a structure: builder or file)")
    atoms = structure_from_spec(item, spec["_base"])
    rs = {"cell": True, "fmax": 0.02}
    rs.update(spec.get("relax") or {})
    rb = rs.pop("backend", backend)
    rbs = rs.pop("backend_settings", bset if rb == backend else {})
    return atoms, _job_fw(label, "relax", folder, rb, rbs, rs, structure=atoms, priority=10)


def _defects(spec, backend, bset, folder):
    from pvatoms.build import defects_supercell, point_defects
    host, relax = _relax_fw(spec, backend, bset, folder, "host-relax")
    reps = [int(x) for x in spec.get("supercell", [2, 2, 2])]
    d = spec.get("defects") or {}
    defects = point_defects(host, vacancies=d.get("vacancies", []), interstitials=d.get("interstitials", []),
                            antisites=d.get("antisites", []), complexes=d.get("complexes", []),
                            supercell=reps, max_interstitial_sites=d.get("interstitial_sites", 3))
    perfect = defects_supercell(host, reps)
    notes = []
    dft = backend not in MLIP_BACKENDS
    fws = [relax]
    defect_settings = {"fmax": spec.get("defect_fmax", 0.05), "steps": 500}
    perfect_fw = _job_fw("perfect", "static", folder, backend, bset, {}, parents=[relax],
                         structure_from="host-relax", transform=[{"supercell": reps}])
    fws.append(perfect_fw)
    children = [perfect_fw]
    for dfc in defects:
        charges = dfc.charges if (dft and spec.get("charges", "suggested") == "suggested") else [0]
        if not dft and len(dfc.charges) > 1:
            notes.append(f"{dfc.name}: backend {backend} is a neutral-cell MLIP: only q = 0 is computed "
                         f"(suggested charges {dfc.charges} need gpaw or vasp)")
        transform = [{"supercell": reps}] + _defect_transform(dfc, perfect) + [
            {"provenance": {"builder": "pvatoms.build.point_defects", "reference": None,
                            "arguments": {"defect": dfc.name, "supercell": reps, "removed": dfc.removed,
                                          "added": dfc.added}}}]
        for q in charges:
            label = f"{dfc.name}_q{q:+d}"
            js = dict(defect_settings, charge=q) if dft else dict(defect_settings)
            fw = _job_fw(label, "relax", folder, backend, bset, js, parents=[relax],
                         structure_from="host-relax", transform=transform)
            fws.append(fw)
            children.append(fw)
    for name in spec.get("competing_phases") or []:
        from pvatoms.analysis.chempots import competing_phases
        phases = competing_phases(primitive=True)     # same energy per atom, fewer atoms
        if name not in phases:
            raise InputError(f"unknown competing phase {name!r}; known: {', '.join(phases)}")
        fw = _job_fw(f"phase-{name}", "relax", folder, backend, bset, {"cell": True, "fmax": 0.02, "steps": 800},
                     structure=phases[name])
        fws.append(fw)
        children.append(fw)
    fws.append(_join_fw("formation-energies", "defects", folder, children + [relax],
                        settings={"host": "host-relax", "perfect": "perfect",
                                  "supercell": reps, "defects": [x.as_dict() for x in defects]}))
    return fws, notes


def _defect_transform(dfc, perfect) -> list:
    if dfc.kind == "vacancy" or dfc.kind == "complex":
        return [{"delete": dfc.removed}]
    if dfc.kind == "antisite":
        return [{"substitute": {str(dfc.removed[0]): dfc.element}}]
    frac = (np.asarray(dfc.position) @ np.linalg.inv(np.asarray(perfect.cell))).tolist()
    return [{"insert": [{"index": dfc.added[0], "symbol": dfc.element, "frac": frac}]}]


def _neb(spec, backend, bset, folder):
    from pvatoms.build import defects_supercell, point_defects
    from pvatoms.build.common import symmetry_dataset
    from pvatoms.jobs.neb import nearest_vacancy_hops
    host, relax = _relax_fw(spec, backend, bset, folder, "host-relax")
    reps = [int(x) for x in spec.get("supercell", [2, 2, 2])]
    perfect = defects_supercell(host, reps)
    equiv = symmetry_dataset(perfect).equivalent_atoms
    fws, nebs = [relax], []
    ns = {"n_images": spec.get("n_images", 5), "fmax": spec.get("fmax", 0.05), "steps": spec.get("steps", 300)}
    for hop in spec.get("hops") or []:
        el = hop["element"]
        vacs = {d.name: d for d in point_defects(host, vacancies=[el], supercell=reps)}
        site_name = hop.get("site")
        matches = [d for n, d in vacs.items() if site_name is None or n.endswith(site_name)]
        if not matches:
            raise InputError(f"hop {hop}: no {el} site {site_name!r}; sites: {', '.join(vacs)}")
        i = matches[0].removed[0]
        cands = nearest_vacancy_hops(perfect, i)
        if hop.get("to", "nearest") == "nearest-equivalent":
            cands = [c for c in cands if equiv[c[0]] == equiv[i]]
        if not cands:
            raise InputError(f"hop {hop}: no neighbouring {el} site within 5 Å")
        j, dist = cands[0]
        label = hop.get("label") or f"V_{el}_{matches[0].name.split('_')[-1]}-hop"
        fw = _job_fw(label, "neb", folder, backend, bset, ns, parents=[relax],
                     extra={"initial_from": "host-relax", "final_from": "host-relax",
                            "initial_transform": [{"supercell": reps}, {"vacancy_hop": {"from": i, "to": j, "endpoint": "initial"}}],
                            "final_transform": [{"supercell": reps}, {"vacancy_hop": {"from": i, "to": j, "endpoint": "final"}}]})
        fws.append(fw)
        nebs.append(fw)
    if not nebs:
        raise InputError("neb study needs 'hops', e.g. [{element: Br, site: 8d, to: nearest-equivalent}]")
    fws.append(_join_fw("barriers", "neb", folder, nebs))
    return fws, []


def _phonons(spec, backend, bset, folder):
    from pvatoms.jobs.phonons import phonon_displacements
    atoms, relax = _relax_fw(spec, backend, bset, folder, "relax", key="structure")
    reps = [int(x) for x in spec.get("supercell", [2, 2, 2])]
    disp = float(spec.get("displacement", 0.01))
    _, cells = phonon_displacements(atoms, reps, displacement=disp)
    fws, children = [relax], []
    for k in range(len(cells)):
        fw = _job_fw(f"disp-{k:03d}", "static", folder, backend, bset, {}, parents=[relax],
                     structure_from="relax",
                     transform=[{"phonon_displacement": {"index": k, "supercell": reps, "displacement": disp}}])
        fws.append(fw)
        children.append(fw)
    fws.append(_join_fw("phonons", "phonons", folder, children + [relax],
                        settings={"structure_from": "relax", "supercell": reps, "displacement": disp}))
    return fws, []


def _band_edges(spec, backend, bset, folder):
    """relax -> [static ->] band-edges (its own SCF: energy, band edges, densities) -> localization."""
    atoms, relax = _relax_fw(spec, backend, bset, folder, "relax", key="structure")
    fws, parent = [relax], relax
    if spec.get("static", False):
        parent = _job_fw("static", "static", folder, backend, bset, {}, parents=[relax], structure_from="relax")
        fws.append(parent)
    edges = _job_fw("band-edges", "band-edges", folder, backend, bset,
                    {"bands": list(spec.get("bands", ["vbm", "cbm"]))}, parents=[parent],
                    structure_from="relax")
    join = _join_fw("localization", "band-edges", folder, [edges])
    return fws + [edges, join], []
