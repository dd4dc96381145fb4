"""The ligand library: surface ligands of CsPbBr3 nanocrystals with 3D geometry, charge and anchors.

Entries live in ``pvatoms/data/ligands.yaml`` (SMILES as bound, formal charge, binding family,
anchor atoms, allowed sites). Geometry is made once per process and cached: RDKit ETKDGv3 with a
fixed random seed, every backbone dihedral from the anchor to each chain end set to 180 deg (an
all-trans, extended starting conformer; a cis C=C bond keeps its kink), then MMFF94. The template
frame puts the anchor atom at the origin and the chain axis (anchor -> centroid of the heavy atoms)
along +z, so copies placed with a rotation point their chains away from a surface.

>>> from pvatoms.build import ligand_library, get_ligand
>>> sorted(ligand_library())[:3]
['acetate', 'butylammonium', 'ddab']
>>> ma = get_ligand("MA")                         # aliases work
>>> ma.name, ma.charge, ma.kind, ma.anchors["N"], len(ma.atoms)
('methylammonium', 1, 'ammonium', 1, 8)
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import yaml
from ase import Atoms

from pvatoms.errors import InputError

#: Binding families and the surface sites each can use (see :mod:`pvatoms.build.ligands`).
KINDS = {
    "ammonium": ("cs",),
    "quaternary-ammonium": ("cs", "pb"),
    "carboxylate": ("br-vacancy", "pb"),
    "thiocyanate": ("br-vacancy", "pb"),
    "sulfobetaine": ("br-vacancy", "pb"),
}
#: Seed of RDKit's conformer embedding (fixed: the same geometry on every run).
EMBED_SEED = 20240607


@dataclass(frozen=True)
class LigandSpec:
    """One library entry (no geometry)."""

    name: str
    smiles: str
    charge: int
    kind: str
    anchor_smarts: str
    anchor_names: tuple
    sites: tuple
    counterion: str | None = None
    truncation_of: str | None = None
    aliases: tuple = ()
    description: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "smiles": self.smiles, "charge": self.charge, "kind": self.kind,
                "anchors": [n for n in self.anchor_names if n], "sites": list(self.sites),
                "counterion": self.counterion, "truncation_of": self.truncation_of,
                "aliases": list(self.aliases), "description": self.description}


@dataclass
class Ligand:
    """A library ligand with its 3D template.

    ``atoms``: the molecule (Å) with the anchor atom (``anchor_atom``) at the origin and the chain
    axis along +z; ``atoms.arrays['formal_charge']`` per atom from the SMILES. ``anchors`` maps
    anchor names (e.g. 'N', 'O1', 'O2', 'S') to atom indices; ``nh`` lists the H atoms on an
    ammonium N. ``counterion`` is an element (DDAB: 'Br') placed with each molecule.
    """

    spec: LigandSpec
    atoms: Atoms
    anchors: dict
    nh: tuple = ()
    info: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def charge(self) -> int:
        return self.spec.charge

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def sites(self) -> tuple:
        return self.spec.sites

    @property
    def counterion(self) -> str | None:
        return self.spec.counterion

    @property
    def anchor_atom(self) -> int:
        return self.anchors[self.spec.anchor_names[_primary(self.spec)]]

    def as_dict(self) -> dict:
        d = self.spec.as_dict()
        d.update({"natoms": len(self.atoms), "formula": self.atoms.get_chemical_formula(),
                  "length": round(float(self.info["length"]), 3),
                  "anchor_indices": {k: int(v) for k, v in self.anchors.items()}})
        return d


def _primary(spec: LigandSpec) -> int:
    """Position in the anchor pattern of the atom put at the origin (N, O1, S)."""
    preferred = {"ammonium": "N", "quaternary-ammonium": "N", "carboxylate": "O1", "thiocyanate": "S",
                 "sulfobetaine": "O1"}[spec.kind]
    return list(spec.anchor_names).index(preferred)


@functools.lru_cache(maxsize=1)
def _load() -> dict:
    text = resources.files("pvatoms").joinpath("data/ligands.yaml").read_text()
    raw = yaml.safe_load(text)
    out = {}
    for name, d in raw.items():
        kind = d["kind"]
        if kind not in KINDS:
            raise InputError(f"ligands.yaml: {name} has unknown kind {kind!r}; valid: {', '.join(KINDS)}")
        sites = tuple(d["sites"])
        if set(sites) - set(KINDS[kind]):
            raise InputError(f"ligands.yaml: {name} lists sites {sites} not allowed for kind {kind}")
        out[name] = LigandSpec(name=name, smiles=d["smiles"], charge=int(d["charge"]), kind=kind,
                               anchor_smarts=d["anchor_smarts"], anchor_names=tuple(d["anchor_names"]),
                               sites=sites, counterion=d.get("counterion"),
                               truncation_of=d.get("truncation_of"), aliases=tuple(d.get("aliases", ())),
                               description=d.get("description", ""))
    return out


def ligand_library() -> dict[str, LigandSpec]:
    """All library entries by name (geometry is built on demand by :func:`get_ligand`)."""
    return dict(_load())


def resolve_name(name: str) -> str:
    """Library name for ``name`` or one of its aliases (case-insensitive); :class:`InputError` if unknown."""
    lib = _load()
    key = str(name).strip().lower()
    for n, spec in lib.items():
        if key == n.lower() or key in (a.lower() for a in spec.aliases):
            return n
    raise InputError(f"unknown ligand {name!r}; valid choices: {', '.join(sorted(lib))} "
                     "(see `pvatoms ligands list`)")


def get_ligand(name: str) -> Ligand:
    """The ligand ``name`` (or an alias) with its cached 3D template."""
    return _build(resolve_name(name))


@functools.lru_cache(maxsize=None)
def _build(name: str) -> Ligand:
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem
    from rdkit.Chem import rdForceFieldHelpers as FF

    RDLogger.DisableLog("rdApp.*")
    spec = _load()[name]
    mol0 = Chem.MolFromSmiles(spec.smiles)
    if mol0 is None:
        raise InputError(f"ligands.yaml: SMILES of {name} does not parse: {spec.smiles!r}")
    if Chem.GetFormalCharge(mol0) != spec.charge:
        raise InputError(f"ligands.yaml: {name} charge {spec.charge} disagrees with its SMILES "
                         f"({Chem.GetFormalCharge(mol0)})")
    mol = Chem.AddHs(mol0)
    patt = Chem.MolFromSmarts(spec.anchor_smarts)
    match = mol.GetSubstructMatch(patt)
    if not match:
        raise InputError(f"ligands.yaml: anchor pattern {spec.anchor_smarts!r} not found in {name}")
    anchors = {n: int(i) for n, i in zip(spec.anchor_names, match) if n}
    anchor = match[_primary(spec)]
    params = AllChem.ETKDGv3()
    params.randomSeed = EMBED_SEED
    params.numThreads = 1
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise InputError(f"RDKit could not embed {name} in 3D")
    _extend_chains(mol, anchor)
    if FF.MMFFHasAllMoleculeParams(mol):
        FF.MMFFOptimizeMolecule(mol, maxIters=5000)
    else:  # pragma: no cover - every library entry has MMFF parameters
        FF.UFFOptimizeMolecule(mol, maxIters=5000)
    pos = mol.GetConformer().GetPositions()
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    charges = np.array([a.GetFormalCharge() for a in mol.GetAtoms()], int)
    heavy = np.array([s != "H" for s in symbols])
    pos = pos - pos[anchor]
    axis = pos[heavy].mean(axis=0)
    if np.linalg.norm(axis) < 1e-6:              # e.g. a single heavy atom
        axis = np.array([0.0, 0.0, 1.0])
    R = rotation_between(axis, np.array([0.0, 0.0, 1.0]))
    pos = pos @ R.T
    atoms = Atoms(symbols, positions=pos)
    atoms.arrays["formal_charge"] = charges
    nh = tuple(int(n.GetIdx()) for n in mol.GetAtomWithIdx(anchor).GetNeighbors() if n.GetSymbol() == "H") \
        if spec.kind == "ammonium" else ()
    length = float(np.max(np.linalg.norm(pos, axis=1)))
    return Ligand(spec, atoms, anchors, nh, {"length": length, "embed_seed": EMBED_SEED,
                                             "force_field": "MMFF94", "anchor_index": int(anchor)})


def _extend_chains(mol, anchor: int) -> None:
    """All-trans chains: 180 deg for every rotatable backbone dihedral on the heavy-atom paths from
    ``anchor`` to each chain end; then a few dihedrals (see below) are chosen among 60-300 deg in
    60 deg steps to give the narrowest, most extended molecule."""
    from rdkit import Chem
    from rdkit.Chem import rdMolTransforms as T

    conf = mol.GetConformer()
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    ends = [i for i in heavy if i != anchor
            and sum(n.GetAtomicNum() > 1 for n in mol.GetAtomWithIdx(i).GetNeighbors()) == 1]

    def rotatable(b, c):
        bond = mol.GetBondBetweenAtoms(b, c)
        return bond is not None and bond.GetBondType() == Chem.BondType.SINGLE and not bond.IsInRing()

    done = set()
    for e in ends:
        path = list(Chem.GetShortestPath(mol, anchor, e))
        for a, b, c, d in zip(path, path[1:], path[2:], path[3:]):
            if (b, c) in done or not rotatable(b, c):
                continue
            if mol.GetAtomWithIdx(b).IsInRing() and mol.GetAtomWithIdx(c).IsInRing():
                continue
            T.SetDihedralDeg(conf, a, b, c, d, 180.0)
            done.add((b, c))
    # free choices, set for the narrowest, most extended molecule: the dihedrals about the first two
    # bonds of each chain when several chains meet at the anchor (DDA+), and the allylic dihedrals
    # next to a cis C=C (skew+/cis/skew- keeps an oleyl chain straight, a crankshaft)
    choices = []
    at = mol.GetAtomWithIdx(anchor)
    heavy_nb = [n.GetIdx() for n in at.GetNeighbors() if n.GetAtomicNum() > 1]
    if len(ends) >= 2 and len(heavy_nb) >= 2:
        for x in heavy_nb:
            x_nb = [n.GetIdx() for n in mol.GetAtomWithIdx(x).GetNeighbors()
                    if n.GetAtomicNum() > 1 and n.GetIdx() != anchor]
            others = [y for y in heavy_nb if y != x]
            if not (x_nb and others and rotatable(anchor, x)):
                continue
            choices.append((others[0], anchor, x, x_nb[0]))
            x3 = [n.GetIdx() for n in mol.GetAtomWithIdx(x_nb[0]).GetNeighbors()
                  if n.GetAtomicNum() > 1 and n.GetIdx() != x]
            if x3 and rotatable(x, x_nb[0]):
                choices.append((anchor, x, x_nb[0], x3[0]))
    for e in ends:
        path = list(Chem.GetShortestPath(mol, anchor, e))
        for a, b, c, d in zip(path, path[1:], path[2:], path[3:]):
            bond = mol.GetBondBetweenAtoms(b, c)
            if not rotatable(b, c):
                continue
            nb_double = any(mol.GetBondBetweenAtoms(x, y) is not None
                            and mol.GetBondBetweenAtoms(x, y).GetBondType() == Chem.BondType.DOUBLE
                            and not mol.GetBondBetweenAtoms(x, y).IsInRing()
                            for x, y in ((a, b), (c, d)))
            if nb_double and bond is not None and (a, b, c, d) not in choices:
                choices.append((a, b, c, d))
    choices = choices[:4]
    if not choices:
        return
    best, best_score = None, None
    for values in itertools.product((60.0, 120.0, 180.0, 240.0, 300.0), repeat=len(choices)):
        for dih, val in zip(choices, values):
            T.SetDihedralDeg(conf, *dih, val)
        score = _shape_score(mol, anchor)
        if best_score is None or score > best_score:
            best, best_score = values, score
    for dih, val in zip(choices, best):
        T.SetDihedralDeg(conf, *dih, val)


def _shape_score(mol, anchor: int) -> float:
    """Extent along the chain axis over the lateral spread; -inf when heavy atoms collide."""
    pos = mol.GetConformer().GetPositions()
    heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
    p = pos[heavy] - pos[anchor]
    d = np.linalg.norm(p[:, None] - p[None], axis=2)
    np.fill_diagonal(d, 9.0)
    from rdkit import Chem
    topo = Chem.GetDistanceMatrix(mol)[np.ix_(heavy, heavy)]
    if np.any((d < 2.6) & (topo >= 3)):
        return -np.inf
    axis = p.mean(axis=0)
    axis /= np.linalg.norm(axis)
    along = p @ axis
    lateral = np.linalg.norm(p - np.outer(along, axis), axis=1)
    return float(along.max() / (1.0 + np.sqrt(np.mean(lateral ** 2))))


def rotation_between(a, b) -> np.ndarray:
    """Proper rotation matrix turning direction ``a`` into direction ``b``."""
    a = np.asarray(a, float) / np.linalg.norm(a)
    b = np.asarray(b, float) / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(a @ b)
    if np.linalg.norm(v) < 1e-12:
        if c > 0:
            return np.eye(3)
        # 180 deg about any axis perpendicular to a
        p = np.array([1.0, 0, 0]) if abs(a[0]) < 0.9 else np.array([0, 1.0, 0])
        p = p - (p @ a) * a
        p /= np.linalg.norm(p)
        return 2 * np.outer(p, p) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx * (1 / (1 + c))


def library_table() -> list[dict]:
    """One row per ligand (what ``pvatoms ligands list`` prints), geometry included."""
    rows = []
    for name in sorted(_load()):
        rows.append(get_ligand(name).as_dict())
    return rows
