"""Typed study definitions: what a study spec (YAML) may say, with every default in one place.

A spec is a mapping with ``study`` (the kind) and ``name``; :func:`study_from_dict` turns it into
one of the dataclasses below and refuses unknown keys, naming the valid ones. Structures are given
as ``{builder: NAME, ...arguments}`` (cspbbr3, ruddlesden_popper, rp_interface) or
``{file: PATH}`` (relative to the spec file), optionally with ``rattle`` (Å) and ``seed``.

>>> spec = study_from_dict({"study": "neb", "name": "vbr", "host": {"builder": "cspbbr3"},
...                         "hops": [{"element": "Br", "site": "8d"}]})
>>> spec.n_images, spec.supercell, spec.hops[0].to
(5, (2, 2, 2), 'nearest')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from pvatoms.calc import BACKENDS, MLIP_BACKENDS
from pvatoms.errors import InputError, check_choice

BUILDERS = ("cspbbr3", "ruddlesden_popper", "rp_interface", "rp_interface_pb")
CHARGES = ("suggested", "neutral")
HOP_TARGETS = ("nearest", "nearest-equivalent")
#: elemental references that are metals: their DFT energies need a dense k-mesh (with smearing)
METALS = ("Cs", "Pb")
#: k-points per Å^-1 for the metals' references (about 12x12x12 for fcc Pb's primitive cell)
METAL_KPOINT_DENSITY = 6.0


def _strict(cls, data, where: str):
    """``cls(**data)`` refusing keys that are not fields of ``cls``, naming the valid ones."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a mapping, got {type(data).__name__} {data!r}")
    names = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid keys: {', '.join(names)}")
    return data


def _number(value, where: str, kind=float, positive: bool = True):
    """A finite number (``kind``: float or int; an int given as 2.0 is accepted, 2.5 is not)."""
    import math
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{where} must be finite, got {value!r}")
    if kind is int:
        if int(value) != value:
            raise InputError(f"{where} must be an integer, got {value!r}")
        value = int(value)
    if positive and value <= 0:
        raise InputError(f"{where} must be > 0, got {value!r}")
    return kind(value)


def _repeats(value, where: str) -> tuple[int, int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise InputError(f"{where} must be three integers (repeats along a, b, c), got {value!r}")
    return tuple(_number(v, where, int) for v in value)


@dataclass
class Structure:
    """Where a structure comes from: a builder with its arguments, or a file; optional rattle."""
    builder: str | None = None
    file: str | None = None
    rattle: float | None = None
    seed: int = 0
    arguments: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data, where: str = "structure") -> "Structure":
        if not isinstance(data, dict):
            raise InputError(f"{where} must be a mapping ({{builder: NAME, ...}} or {{file: PATH}}), got {data!r}")
        data = dict(data)
        rattle, seed = data.pop("rattle", None), data.pop("seed", 0)
        if rattle is not None:
            rattle = _number(rattle, f"{where}.rattle", positive=False)
            if rattle < 0:
                raise InputError(f"{where}.rattle must be >= 0 Å (the standard deviation of the random displacements), "
                                 f"got {rattle!r}")
        seed = _number(seed, f"{where}.seed", int, positive=False)
        if "file" in data:
            extra = sorted(set(data) - {"file"})
            if extra:
                raise InputError(f"{where}: a file structure takes only file, rattle and seed; got also {extra}")
            return cls(file=str(data["file"]), rattle=rattle, seed=seed)
        if "builder" in data:
            builder = data.pop("builder")
            check_choice(f"{where}.builder", builder, BUILDERS)
            return cls(builder=builder, rattle=rattle, seed=seed, arguments=data)
        raise InputError(f"{where} needs 'builder' (one of {', '.join(BUILDERS)}) or 'file', got keys {sorted(data)}")


@dataclass
class Relax:
    """The host relaxation that a study starts from (``relax:`` in a spec)."""
    cell: bool = True
    fmax: float = 0.02            # eV/Å
    steps: int | None = None
    smax: float | None = None     # eV/Å^3, cell relaxations' stress criterion; default: the relax job's
    backend: str | None = None    # default: the study's backend
    backend_settings: dict | None = None

    @classmethod
    def from_dict(cls, data, where: str = "relax", **defaults) -> "Relax":
        data = _strict(cls, data, where)
        out = cls(**{**defaults, **data})
        out.fmax = _number(out.fmax, f"{where}.fmax")
        if out.steps is not None:
            out.steps = _number(out.steps, f"{where}.steps", int)
        if out.smax is not None:
            out.smax = _number(out.smax, f"{where}.smax")
        if out.backend is not None:
            check_choice(f"{where}.backend", out.backend, BACKENDS)
        return out

    def job_settings(self) -> dict:
        out = {"cell": bool(self.cell), "fmax": self.fmax}
        if self.steps is not None:
            out["steps"] = self.steps
        if self.smax is not None and self.cell:     # recorded only when given (hashes of other runs unchanged)
            out["smax"] = self.smax
        return out


@dataclass
class Study:
    """Keys every study has."""
    study: str
    name: str
    backend: str = "sevennet"
    backend_settings: dict = field(default_factory=dict)
    folder: str | None = None     # default runs/<name>, relative to the current directory
    #: run the machine-learned relaxations / single points in batches of this many structures
    #: (one firework per batch, many structures per model call); None: one firework each
    batch: int | None = None
    _base: str = "."              # folder of the spec file (structure files resolve against it)

    def check(self) -> None:
        check_choice("backend", self.backend, BACKENDS)
        if self.batch is not None:
            self.batch = _number(self.batch, "batch", int)
            if self.batch < 2:
                raise InputError(f"batch must be at least 2 structures per batch (or null: none), got {self.batch!r}")
        if not isinstance(self.backend_settings, dict):
            raise InputError(f"backend_settings must be a mapping, got {self.backend_settings!r}")
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"name must be a non-empty string, got {self.name!r}")

    @property
    def dft(self) -> bool:
        return self.backend not in MLIP_BACKENDS

    def run_folder(self) -> Path:
        return Path(self.folder or f"runs/{self.name}").expanduser().resolve()

    def _start(self, key: str, supercell: bool = True) -> None:
        """Check the structure a study starts from (``host`` or ``structure``), its ``relax``
        block and, when the study has one, its ``supercell``."""
        if getattr(self, key) is None:
            raise InputError(f"{self.study} study needs '{key}' (a structure: builder or file)")
        setattr(self, key, Structure.from_dict(getattr(self, key), key))
        self.relax = Relax.from_dict(self.relax, "relax")
        if supercell:
            self.supercell = _repeats(self.supercell, "supercell")

    def relax_backend(self, relax: Relax) -> tuple[str, dict]:
        backend = relax.backend or self.backend
        settings = relax.backend_settings
        if settings is None:
            settings = self.backend_settings if backend == self.backend else {}
        return backend, dict(settings)


@dataclass
class SmokeStudy(Study):
    """Independent calculations of the given structures (the simplest example)."""
    structures: dict = field(default_factory=dict)
    job: str = "relax"
    job_settings: dict | None = None

    def check(self) -> None:
        super().check()
        if not self.structures or not isinstance(self.structures, dict):
            raise InputError("smoke study needs 'structures' (a mapping label -> structure)")
        check_choice("job", self.job, ("relax", "static"))
        self.structures = {str(k): Structure.from_dict(v, f"structures.{k}") for k, v in self.structures.items()}
        if self.job_settings is None:
            self.job_settings = {"fmax": 0.05, "steps": 200} if self.job == "relax" else {}


@dataclass
class Defects:
    """Which point defects (``defects:`` in a defect study)."""
    vacancies: list = field(default_factory=list)
    interstitials: list = field(default_factory=list)
    antisites: list = field(default_factory=list)
    complexes: list = field(default_factory=list)
    interstitial_sites: int = 3
    #: {element: [Wyckoff labels]}: keep only the vacancies and antisites on these sites of that
    #: element (e.g. ``{"Br": ["8d"]}``: the equatorial Br of Pnma CsPbBr3); default every site
    sites: dict = field(default_factory=dict)


def dielectric_value(value, where: str = "dielectric"):
    """A dielectric constant as given in a spec: a number, three numbers (diagonal) or a 3x3
    tensor; or ``{from: FOLDER}`` (the result of a dielectric job, read when the analysis runs),
    optionally with ``source`` (where the value comes from, printed with every corrected energy)."""
    if value is None:
        return None
    if isinstance(value, dict):
        extra = sorted(set(value) - {"value", "from", "source", "part"})
        if extra or ("value" in value) == ("from" in value):
            raise InputError(f"{where}: give a number, a 3x3 tensor, {{value: ..., source: ...}} or "
                             f"{{from: FOLDER of a dielectric job}}; got {value!r}")
        if "value" in value:
            return {"value": dielectric_value(value["value"], where)["value"], "source": str(value.get("source", "spec"))}
        part = value.get("part", "total")
        check_choice(f"{where}.part", part, ("total", "electronic"))
        return {"from": str(value["from"]), "part": part,
                "source": str(value.get("source", f"dielectric job {value['from']} ({part} ε)"))}
    if isinstance(value, (list, tuple)):
        flat = [x for row in value for x in (row if isinstance(row, (list, tuple)) else [row])]
        if len(flat) not in (3, 9) or (len(flat) == 9 and len(value) != 3):
            raise InputError(f"{where}: a tensor is three numbers (diagonal) or 3x3, got {value!r}")
        nums = [_number(x, where) for x in flat]
        tensor = [nums[0:3], nums[3:6], nums[6:9]] if len(nums) == 9 else [[nums[0], 0, 0], [0, nums[1], 0], [0, 0, nums[2]]]
        return {"value": tensor, "source": "spec"}
    return {"value": _number(value, where), "source": "spec"}


@dataclass
class Fermi:
    """The self-consistent Fermi level of a defect study (``fermi:`` in a spec): growth
    ``temperature`` (K), ``quench_to`` (K; the frozen-defect Fermi level, e.g. 300, or null),
    ``effective_masses`` (electron, hole; units of m_e, parabolic bands) and their ``source``."""
    temperature: float = 600.0
    quench_to: float | None = 300.0
    effective_masses: list = field(default_factory=list)
    source: str = ""

    @classmethod
    def from_dict(cls, data, where: str = "fermi") -> "Fermi":
        out = cls(**_strict(cls, data, where))
        out.temperature = _number(out.temperature, f"{where}.temperature")
        if out.quench_to is not None:
            out.quench_to = _number(out.quench_to, f"{where}.quench_to")
        masses = out.effective_masses
        if not isinstance(masses, (list, tuple)) or len(masses) != 2:
            raise InputError(f"{where}.effective_masses must be [electron, hole] in units of m_e, got {masses!r}")
        out.effective_masses = [_number(m, f"{where}.effective_masses") for m in masses]
        if not out.source:
            raise InputError(f"{where}.source: say where the effective masses come from (a calculation or a paper)")
        return out


@dataclass
class DefectStudy(Study):
    """Host relax -> perfect supercell + defect supercells (x charge states) + competing phases
    -> formation energies.

    With a DFT backend every suggested charge state is computed: each defect is first relaxed
    with ``prerelax`` (a machine-learned potential, charge-free: one pre-relaxation per defect;
    ``auto`` = SevenNet-0 for DFT studies, none for MLIP studies; ``null`` to skip), then every
    charge state is relaxed by DFT at the host's cell with the defect conventions (symmetry off,
    spin-polarised when the electron count is odd, the electrostatic potential saved).
    ``dielectric`` (ε for the finite-size correction; see :func:`dielectric_value`) is required
    when charged cells are computed; ``fermi`` (:class:`Fermi`) adds the self-consistent and the
    frozen-defect Fermi level and concentrations (sites from the Wyckoff multiplicities). ``phase_backend_settings`` update the backend settings for
    the competing phases and elemental references (metals need denser k-meshes: by default the
    phases use the k-point density rule, not a supercell's explicit mesh).
    """
    host: dict | Structure | None = None
    relax: dict | Relax | None = None
    supercell: tuple = (2, 2, 2)
    defects: dict | Defects | None = None
    charges: str = "suggested"
    competing_phases: list = field(default_factory=list)
    defect_fmax: float = 0.05     # eV/Å
    defect_steps: int = 500
    phase_fmax: float = 0.02
    phase_steps: int = 800
    prerelax: str | None = "auto"
    prerelax_fmax: float = 0.05   # eV/Å
    dielectric: object = None
    phase_backend_settings: dict | None = None
    fermi: dict | Fermi | None = None
    soc_band_edges: bool = True   # DFT: PBE+SOC band edges of the perfect supercell (GPAW)
    dft_relax: bool = True        # DFT: relax each charge state; false: single points on MLIP geometries
    host_on_hull: float = 0.0     # eV/atom: lower a host this close above the hull onto it (0: never)

    def check(self) -> None:
        super().check()
        self._start("host")
        self.defects = Defects(**_strict(Defects, self.defects, "defects"))
        check_choice("charges", self.charges, CHARGES)
        self.defect_fmax = _number(self.defect_fmax, "defect_fmax")
        self.defect_steps = _number(self.defect_steps, "defect_steps", int)
        self.phase_fmax = _number(self.phase_fmax, "phase_fmax")
        self.phase_steps = _number(self.phase_steps, "phase_steps", int)
        if self.prerelax == "auto":
            self.prerelax = "sevennet" if self.dft else None
        if self.prerelax is not None:
            check_choice("prerelax", self.prerelax, MLIP_BACKENDS)
        self.prerelax_fmax = _number(self.prerelax_fmax, "prerelax_fmax")
        self.host_on_hull = _number(self.host_on_hull, "host_on_hull", positive=False)
        if not 0.0 <= self.host_on_hull <= 0.05:
            raise InputError(f"host_on_hull must be at most 0.05 eV/atom (a larger distance from the hull is physics, "
                             f"not an error to shift away), got {self.host_on_hull!r}")
        for key in ("soc_band_edges", "dft_relax"):
            if not isinstance(getattr(self, key), bool):
                raise InputError(f"{key} must be true or false, got {getattr(self, key)!r}")
        self.dielectric = dielectric_value(self.dielectric)
        if self.fermi is not None:
            self.fermi = Fermi.from_dict(self.fermi) if not isinstance(self.fermi, Fermi) else self.fermi
        if self.phase_backend_settings is not None and not isinstance(self.phase_backend_settings, dict):
            raise InputError(f"phase_backend_settings must be a mapping, got {self.phase_backend_settings!r}")

    @property
    def charged(self) -> bool:
        """True when charged cells will be computed (a DFT backend with suggested charges)."""
        return self.dft and self.charges == "suggested"

    def phase_settings(self, phase: str | None = None) -> dict:
        """Backend settings of a competing phase: the study's, without an explicit k-mesh (a
        supercell's Γ-only mesh would be wrong for a metal), updated by phase_backend_settings; DFT
        references of the metals (Cs, Pb) get at least :data:`METAL_KPOINT_DENSITY`; molecules in a
        box (Br2) get the Γ point only (a box has no band dispersion to sample)."""
        from pvatoms.build.competing import MOLECULES
        out = {k: v for k, v in self.backend_settings.items() if k not in ("kpts", "kpoints")}
        out.update(self.phase_backend_settings or {})
        if self.dft and phase in METALS and "kpts" not in out and "kpoints" not in out:
            out["kpoint_density"] = max(float(out.get("kpoint_density", 0.0)), METAL_KPOINT_DENSITY)
        given = self.phase_backend_settings or {}
        if self.dft and phase in MOLECULES and "kpts" not in given and "kpoints" not in given:
            out.pop("kpoint_density", None)
            out["kpoints" if self.backend == "vasp" else "kpts"] = [1, 1, 1]
        return out


@dataclass
class Hop:
    """One vacancy hop of an NEB study."""
    element: str
    site: str | None = None       # Wyckoff label of the starting site (e.g. 8d); default the first
    to: str = "nearest"
    label: str | None = None


@dataclass
class NebStudy(Study):
    """Host relax -> one climbing-image NEB per vacancy hop (in parallel) -> barrier table."""
    host: dict | Structure | None = None
    relax: dict | Relax | None = None
    supercell: tuple = (2, 2, 2)
    hops: list = field(default_factory=list)
    n_images: int = 5
    fmax: float = 0.05            # eV/Å
    steps: int = 300

    def check(self) -> None:
        super().check()
        self._start("host")
        if not self.hops:
            raise InputError("neb study needs 'hops', e.g. [{element: Br, site: 8d, to: nearest-equivalent}]")
        hops = []
        for k, h in enumerate(self.hops):
            h = Hop(**_strict(Hop, h, f"hops[{k}]")) if not isinstance(h, Hop) else h
            check_choice(f"hops[{k}].to", h.to, HOP_TARGETS)
            hops.append(h)
        self.hops = hops
        self.n_images = _number(self.n_images, "n_images", int)
        self.fmax = _number(self.fmax, "fmax")
        self.steps = _number(self.steps, "steps", int)


@dataclass
class PhononStudy(Study):
    """Relax -> one static per phonopy displacement (in parallel) -> phonons."""
    structure: dict | Structure | None = None
    relax: dict | Relax | None = None
    supercell: tuple = (2, 2, 2)
    displacement: float = 0.01    # Å

    def check(self) -> None:
        super().check()
        self._start("structure")
        self.displacement = _number(self.displacement, "displacement")


@dataclass
class BandEdgeStudy(Study):
    """Relax -> [static ->] band-edge densities -> localization analysis; ``pdos`` (GPAW) adds the
    region-projected DOS of the band-edges job's wave functions, and for a model with a metal
    cluster (region ``cluster``, e.g. builder rp_interface_pb) the metal states in the host gap."""
    structure: dict | Structure | None = None
    relax: dict | Relax | None = None
    static: bool = False
    bands: list = field(default_factory=lambda: ["vbm", "cbm"])
    pdos: bool = False

    def check(self) -> None:
        super().check()
        self._start("structure", supercell=False)
        if not isinstance(self.pdos, bool):
            raise InputError(f"pdos must be true or false, got {self.pdos!r}")
        if self.pdos and self.backend != "gpaw":
            raise InputError(f"pdos: the region-projected DOS is computed from GPAW wave functions; backend is "
                             f"{self.backend!r} (use gpaw, or pdos: false)")
        for b in self.bands:
            if not isinstance(b, str):
                raise InputError(f"bands must be names such as vbm, cbm, vbm-1; got {b!r}")


# the boundary's study kinds live in their own module (it imports the pieces above)
from pvatoms.studies.boundary_specs import (BoundaryModel, BoundarySetting, BoundaryStudy,  # noqa: E402,F401
                                            SegregationDFT, SegregationStudy)


STUDIES = {"smoke": SmokeStudy, "defects": DefectStudy, "neb": NebStudy, "phonons": PhononStudy,
           "band-edges": BandEdgeStudy, "boundary": BoundaryStudy,
           "segregation": SegregationStudy}


def study_from_dict(spec: dict, base: str | Path | None = None, folder=None) -> Study:
    """The typed study of a spec mapping. ``base``: folder that structure files are relative to;
    ``folder``: run folder (overrides the spec's)."""
    if not isinstance(spec, dict):
        raise InputError(f"a study spec is a mapping with at least 'study' and 'name', got {type(spec).__name__}")
    spec = dict(spec)
    base = spec.pop("_base", base)
    for key in ("study", "name"):
        if key not in spec:
            raise InputError(f"study spec needs '{key}' (study: one of {', '.join(STUDIES)})")
    check_choice("study", spec["study"], tuple(STUDIES))
    cls = STUDIES[spec["study"]]
    _strict(cls, spec, f"{spec['study']} study {spec['name']!r}")
    if folder is not None:
        spec["folder"] = str(folder)
    study = cls(**spec, _base=str(base or "."))
    study.check()
    return study


def load_study(path, folder=None) -> Study:
    """Read a study spec file (YAML). Structure files resolve against the spec's folder; the run
    folder (``folder:`` in the spec, or the ``folder`` argument) against the current directory."""
    import yaml
    path = Path(path)
    if not path.is_file():
        raise InputError(f"study spec {str(path)!r} not found")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(spec, dict):
        raise InputError(f"{path}: a study spec is a mapping with at least 'study' and 'name'")
    return study_from_dict(spec, base=path.resolve().parent, folder=folder)


def as_spec(study: Study) -> dict:
    """The spec mapping of a typed study (defaults filled in; JSON-able), for the record."""
    from pvatoms.io import to_jsonable
    out = {}
    for f in dataclasses.fields(study):
        if f.name.startswith("_"):
            continue
        v = getattr(study, f.name)
        out[f.name] = dataclasses.asdict(v) if dataclasses.is_dataclass(v) else (
            [dataclasses.asdict(x) if dataclasses.is_dataclass(x) else x for x in v] if isinstance(v, list) else
            {k: dataclasses.asdict(x) if dataclasses.is_dataclass(x) else x for k, x in v.items()}
            if isinstance(v, dict) else v)
    return to_jsonable(out)
