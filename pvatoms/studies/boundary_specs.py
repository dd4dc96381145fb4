"""Study definitions of the RP / perovskite boundary: the boundary study (band offsets and their
convergence) and the segregation study (vacancies by the boundary). Part of
:mod:`pvatoms.studies.specs`, which registers them; the shared pieces (``Study``, ``Relax``,
``Structure``, the number checks) come from there."""

from __future__ import annotations

from dataclasses import dataclass, field

from pvatoms.calc import BACKENDS, MLIP_BACKENDS
from pvatoms.errors import InputError, check_choice
from pvatoms.studies.specs import Relax, Structure, Study, _number, _strict


@dataclass
class BoundaryModel:
    """One RP / perovskite interface model of a boundary study (``models:`` entries)."""
    rp_layers: int = 2            # RP blocks on the RP side
    perovskite_layers: int = 4    # PbBr2 layers on the perovskite side
    supercell: tuple = (1, 1)     # in-plane repeats
    label: str | None = None      # default rp<M>-pv<K>


@dataclass
class BoundarySetting:
    """One DFT setting of a boundary study (``settings:`` entries): in-plane k-mesh of the
    interface cell (the bulks get the same k-point spacing), cut-off (eV) and other backend
    settings; all statics of one setting use it."""
    kpts_in_plane: tuple = (2, 2)
    ecut: float | None = None     # eV; default the study's backend_settings (or the backend's)
    backend_settings: dict = field(default_factory=dict)
    label: str | None = None      # default k<n1>x<n2>-<ecut>


#: eV/Å, the bulk relaxations' default force criterion. The Pnma tilt mode is flat: at 0.02 the
#: SevenNet-0 and CHGNet bulks stopped after 5-6 steps with apical Pb–Br–Pb angles of 159.6° and
#: 159.3°; at 0.01 and 0.005 both reach 155-156.5° and a 1.3-1.7 % longer a
#: (benchmarks/results/boundary_relaxation.md)
BULK_FMAX = 0.005


@dataclass
class BoundaryStudy(Study):
    """RP Cs(n+1)Pb(n)Br(3n+1) / Pnma CsPbBr3 phase boundary (see :mod:`pvatoms.studies.boundary`):
    bulk relaxations, strained bulks, interface relaxations (positions and the stacking length,
    in-plane lattice fixed), statics with the same settings, band alignment by role and a
    convergence table over ``models`` (thicknesses) and ``settings`` (k-mesh, cut-off).
    ``strain_on``: the side that takes the other's in-plane lattice (``rp``: the RP is coherent
    with the host perovskite; ``perovskite``; ``shared``: thickness-weighted). ``convergence``:
    ``scan`` (every model at the first setting, every setting on the first model) or ``grid``
    (all pairs). ``tolerance`` (eV): offsets within it of the reference case are converged;
    ``fraction_tolerance`` the same for band-edge fractions. ``relax``: the bulk relaxations
    (cell; ``fmax`` default :data:`BULK_FMAX`); ``interface_fmax``/``interface_steps`` the interface
    and strained-bulk relaxations.
    ``prerelax`` (an MLIP; ``auto``: SevenNet-0 when ``relax.backend`` is a DFT code, else none):
    every relaxation is first done by it and then by the DFT backend from its geometry, so the
    statics see DFT geometries (``PBE//PBE``) at the cost of DFT relaxation steps only near the
    minimum. ``geometries`` (MLIP names): other sources of the reference case's geometries (the
    thickest model at the first setting), each relaxed from the same start and computed by the
    same statics; their spread of offsets is the series ``geometry source`` of the convergence
    table and enters the verdict's uncertainty. The statics need GPAW (saved potential and wave
    functions)."""
    rp_n: int = 1
    axis: str = "b"
    lattice: str = "pbe"
    strain_on: str = "rp"
    gap: float = 3.5              # Å, rock-salt CsBr spacing of the starting geometry
    boundary_width: float = 2.5   # Å
    models: list = field(default_factory=lambda: [{"rp_layers": 2, "perovskite_layers": 4}])
    settings: list = field(default_factory=lambda: [{"kpts_in_plane": [2, 2]}])
    convergence: str = "scan"
    relax: dict | Relax | None = None
    # eV/Å. 0.05 stopped the MLIP interface relaxations after 0-16 steps, half-way: tightening it to
    # 0.01 shortened the stacking length by 0.2-0.4 Å and moved the offsets by up to 0.24 eV
    # (benchmarks/results/boundary_relaxation.md)
    interface_fmax: float = 0.01
    interface_steps: int = 300
    soc: bool = True
    pdos: bool = True
    tolerance: float = 0.05       # eV
    fraction_tolerance: float = 0.05
    prerelax: str | None = "auto"
    geometries: list = field(default_factory=list)

    def check(self) -> None:
        super().check()
        from pvatoms.build.rp import RP_N
        from pvatoms.build.interface import STRAIN_ON
        if self.backend != "gpaw":
            raise InputError("boundary study: the statics need backend gpaw (saved potential and wave "
                             "functions); relax with another backend through relax.backend")
        if self.rp_n not in RP_N:
            raise InputError(f"rp_n must be one of {RP_N}, got {self.rp_n!r}")
        check_choice("axis", self.axis, ("a", "b", "c"))
        check_choice("lattice", self.lattice, ("pbe", "experiment"))
        check_choice("strain_on", self.strain_on, STRAIN_ON)
        check_choice("convergence", self.convergence, ("scan", "grid"))
        self.gap = _number(self.gap, "gap")
        self.boundary_width = _number(self.boundary_width, "boundary_width", positive=False)
        self.relax = Relax.from_dict(self.relax, "relax", fmax=BULK_FMAX)
        relax_backend = self.relax.backend or self.backend
        if self.prerelax == "auto":
            self.prerelax = "sevennet" if relax_backend not in MLIP_BACKENDS else None
        if self.prerelax is not None:
            check_choice("prerelax", self.prerelax, MLIP_BACKENDS)
            if relax_backend in MLIP_BACKENDS:
                raise InputError(f"prerelax {self.prerelax!r} goes before a DFT relaxation, but relax.backend is "
                                 f"{relax_backend!r} (an MLIP): give relax.backend gpaw, or prerelax: null")
        if not isinstance(self.geometries, (list, tuple)):
            raise InputError(f"geometries must be a list of MLIP names {MLIP_BACKENDS}, got {self.geometries!r}")
        for g in self.geometries:
            check_choice("geometries", g, MLIP_BACKENDS)
            if g == relax_backend:
                raise InputError(f"geometries: {g!r} is already the relax backend; name other sources only")
        if len(set(self.geometries)) != len(self.geometries):
            raise InputError(f"geometries: names used twice: {list(self.geometries)}")
        self.geometries = list(self.geometries)
        self.interface_fmax = _number(self.interface_fmax, "interface_fmax")
        self.interface_steps = _number(self.interface_steps, "interface_steps", int)
        self.tolerance = _number(self.tolerance, "tolerance")
        self.fraction_tolerance = _number(self.fraction_tolerance, "fraction_tolerance")
        for name in ("soc", "pdos"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not self.models or not self.settings:
            raise InputError("boundary study needs at least one entry in 'models' and in 'settings'")
        models = []
        for k, m in enumerate(self.models):
            m = m if isinstance(m, BoundaryModel) else BoundaryModel(**_strict(BoundaryModel, m, f"models[{k}]"))
            m.rp_layers = _number(m.rp_layers, f"models[{k}].rp_layers", int)
            m.perovskite_layers = _number(m.perovskite_layers, f"models[{k}].perovskite_layers", int)
            if not isinstance(m.supercell, (list, tuple)) or len(m.supercell) != 2:
                raise InputError(f"models[{k}].supercell must be two in-plane repeats, got {m.supercell!r}")
            m.supercell = tuple(_number(x, f"models[{k}].supercell", int) for x in m.supercell)
            m.label = str(m.label or f"rp{m.rp_layers}-pv{m.perovskite_layers}"
                          + ("" if m.supercell == (1, 1) else f"-{m.supercell[0]}x{m.supercell[1]}"))
            models.append(m)
        settings = []
        for k, s in enumerate(self.settings):
            s = s if isinstance(s, BoundarySetting) else BoundarySetting(**_strict(BoundarySetting, s, f"settings[{k}]"))
            if not isinstance(s.kpts_in_plane, (list, tuple)) or len(s.kpts_in_plane) != 2:
                raise InputError(f"settings[{k}].kpts_in_plane must be two integers, got {s.kpts_in_plane!r}")
            s.kpts_in_plane = tuple(_number(x, f"settings[{k}].kpts_in_plane", int) for x in s.kpts_in_plane)
            if s.ecut is not None:
                s.ecut = _number(s.ecut, f"settings[{k}].ecut")
            if not isinstance(s.backend_settings, dict):
                raise InputError(f"settings[{k}].backend_settings must be a mapping")
            ecut = s.ecut if s.ecut is not None else self.backend_settings.get("ecut")
            s.label = str(s.label or f"k{s.kpts_in_plane[0]}x{s.kpts_in_plane[1]}" + (f"-{ecut:g}eV" if ecut else ""))
            settings.append(s)
        for what, items in (("models", models), ("settings", settings)):
            labels = [x.label for x in items]
            if len(set(labels)) != len(labels):
                raise InputError(f"{what}: labels used twice: {labels}")
        self.models, self.settings = models, settings


@dataclass
class SegregationDFT:
    """Charged single points of a segregation study (``dft:``): ``backend`` (gpaw or vasp) and its
    settings; ``charges`` {element: [q, ...]} (default the fully ionised vacancy: V_Br +1, V_Pb -2,
    V_Cs -1), computed at the site nearest the boundary and at the reference site."""
    backend: str = "gpaw"
    backend_settings: dict = field(default_factory=dict)
    charges: dict = field(default_factory=dict)


@dataclass
class SegregationStudy(Study):
    """Vacancies by an RP / perovskite boundary (see :mod:`pvatoms.studies.segregation`): the model
    (``structure``, builder rp_interface, or a file holding its per-atom region, block and
    boundary_distance arrays) relaxed by the MLIP (``relax``; positions only by default), then one
    neutral vacancy per symmetry-distinct site of ``vacancies`` (spglib orbits at ``symprec`` Å),
    each relaxed at the model's cell; segregation energies against the deepest perovskite site,
    with a check (``tolerance``, eV) that this reference is bulk-like. ``dft`` adds charged single
    points (:class:`SegregationDFT`) for the boundary site and the reference of each element."""
    structure: dict | Structure | None = None
    relax: dict | Relax | None = None
    vacancies: list = field(default_factory=lambda: ["Br", "Pb", "Cs"])
    defect_fmax: float = 0.05     # eV/Å
    defect_steps: int = 500
    symprec: float = 0.01         # Å
    tolerance: float = 0.05       # eV
    dft: dict | SegregationDFT | None = None

    def check(self) -> None:
        super().check()
        if self.backend not in MLIP_BACKENDS:
            raise InputError(f"segregation study: backend {self.backend!r} is DFT; the screening over every site "
                             f"runs on an MLIP ({', '.join(MLIP_BACKENDS)}) and DFT goes in 'dft' "
                             "(charged single points at the boundary and reference sites)")
        if self.structure is None:
            raise InputError("segregation study needs 'structure': {builder: rp_interface, ...} or {file: PATH} "
                             "of a boundary model")
        self.structure = Structure.from_dict(self.structure, "structure")
        if self.structure.builder is not None and self.structure.builder != "rp_interface":
            raise InputError(f"segregation study: structure.builder must be rp_interface (a boundary model), "
                             f"got {self.structure.builder!r}")
        self.relax = Relax.from_dict(self.relax, "relax", cell=False)
        if not isinstance(self.vacancies, (list, tuple)) or not self.vacancies:
            raise InputError(f"vacancies must be a list of elements, e.g. [Br, Pb, Cs]; got {self.vacancies!r}")
        from ase.data import chemical_symbols
        for el in self.vacancies:
            if el not in chemical_symbols[1:]:
                raise InputError(f"vacancies: {el!r} is not an element symbol (e.g. Br, Pb, Cs)")
        self.vacancies = list(dict.fromkeys(self.vacancies))
        self.defect_fmax = _number(self.defect_fmax, "defect_fmax")
        self.defect_steps = _number(self.defect_steps, "defect_steps", int)
        self.symprec = _number(self.symprec, "symprec")
        self.tolerance = _number(self.tolerance, "tolerance")
        if self.dft is not None and not isinstance(self.dft, SegregationDFT):
            d = SegregationDFT(**_strict(SegregationDFT, self.dft, "dft"))
            check_choice("dft.backend", d.backend, tuple(b for b in BACKENDS if b not in MLIP_BACKENDS))
            if not isinstance(d.backend_settings, dict):
                raise InputError(f"dft.backend_settings must be a mapping, got {d.backend_settings!r}")
            if not isinstance(d.charges, dict):
                raise InputError(f"dft.charges maps an element to charge states, e.g. {{Br: [1, 0]}}; got {d.charges!r}")
            for el, qs in d.charges.items():
                if el not in self.vacancies:
                    raise InputError(f"dft.charges: {el!r} is not in vacancies {self.vacancies}")
                qs = [qs] if isinstance(qs, (int, float)) else qs
                if not isinstance(qs, (list, tuple)) or not qs:
                    raise InputError(f"dft.charges.{el} must be a list of integers, got {qs!r}")
                d.charges[el] = [_number(q, f"dft.charges.{el}", int, positive=False) for q in qs]
            self.dft = d
