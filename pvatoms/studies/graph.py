"""A study as a plain graph: calculation steps and analyses with roles, no FireWorks in sight.

A :class:`Step` is one job (relax, static, neb, phonons, band-edges) in ``FOLDER/<label>`` with
its backend and settings; its structure is given or derived from a parent's final structure by
run-time transforms (supercell, delete, substitute, insert, phonon displacement, vacancy hop),
so that e.g. defect cells are cut from the *relaxed* host. An :class:`Analysis` reads the results
of the steps it names, each under a role (``bulk``, ``defects``, ``phases``, ``nebs`` ...), and
writes an analysis document. The local runner (:mod:`pvatoms.studies.local`) and the FireWorks
adapter (:mod:`pvatoms.fw.workflows`) both execute the same graph.

>>> from pvatoms.studies import plan_study
>>> graph = plan_study({"study": "smoke", "name": "s", "backend": "chgnet",
...                     "structures": {"cubic": {"builder": "cspbbr3", "phase": "cubic"}}})
>>> [s.label for s in graph.steps]
['cubic']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pvatoms.errors import InputError
from pvatoms.schema import atoms_to_dict, structure_hash


@dataclass
class Source:
    """How a step gets a structure: ``structure`` (a structure dict) or the final structure of the
    parent step ``parent``; then ``transform`` (a list of one-key operations) is applied."""
    structure: dict | None = None
    parent: str | None = None
    transform: list = field(default_factory=list)

    @classmethod
    def given(cls, atoms, transform=None) -> "Source":
        return cls(structure=atoms_to_dict(atoms), transform=list(transform or []))

    @classmethod
    def from_parent(cls, label: str, transform=None) -> "Source":
        return cls(parent=label, transform=list(transform or []))


@dataclass
class Step:
    """One calculation. ``inputs``: ``{"structure": Source}``, or for NEB ``{"initial": ..., "final": ...}``."""
    label: str
    job: str
    backend: str
    inputs: dict
    backend_settings: dict = field(default_factory=dict)
    job_settings: dict = field(default_factory=dict)
    parents: list = field(default_factory=list)
    priority: int = 0

    def params(self, folder: Path) -> dict:
        """The step as the parameters of one job run (the Firetask's parameters; JSON-able)."""
        p = {"job": self.job, "folder": str(Path(folder) / self.label), "backend": self.backend,
             "label": self.label, "backend_settings": dict(self.backend_settings),
             "job_settings": dict(self.job_settings)}
        for key, src in self.inputs.items():
            if src.structure is not None:
                p[key] = src.structure
            if src.parent:
                p[f"{key}_from"] = src.parent
            if src.transform:
                p["transform" if key == "structure" else f"{key}_transform"] = src.transform
        return p

    def fingerprint(self, folder: Path) -> str:
        """Hash of the step's structure and parameters: equal steps are duplicates."""
        from ase import Atoms

        from pvatoms.schema import atoms_from_dict
        p = self.params(folder)
        given = p.get("structure")
        return structure_hash(atoms_from_dict(given) if given is not None else Atoms(), p)


@dataclass
class Analysis:
    """An analysis over finished steps. ``roles``: role -> list of step labels (explicit: the
    analysis never guesses which result is the bulk or a defect)."""
    label: str
    kind: str
    roles: dict
    settings: dict = field(default_factory=dict)

    @property
    def parents(self) -> list:
        seen = []
        for labels in self.roles.values():
            for x in labels:
                if x not in seen:
                    seen.append(x)
        return seen

    def params(self, folder: Path) -> dict:
        return {"kind": self.kind, "folder": str(Path(folder) / self.label), "label": self.label,
                "roles": {k: list(v) for k, v in self.roles.items()}, "settings": dict(self.settings)}


@dataclass
class StudyGraph:
    """The plan of one study: steps, analyses, the run folder and notes for the user."""
    study: str
    name: str
    folder: Path
    steps: list
    analyses: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    spec: dict = field(default_factory=dict)

    def __post_init__(self):
        labels = [n.label for n in self.nodes]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise InputError(f"study {self.name!r}: labels used twice: {', '.join(dupes)}")
        known = set(labels)
        for n in self.nodes:
            missing = [p for p in self.parents_of(n) if p not in known]
            if missing:
                raise InputError(f"study {self.name!r}: {n.label} depends on unknown step(s) {missing}")

    @property
    def nodes(self) -> list:
        return list(self.steps) + list(self.analyses)

    def node(self, label: str):
        for n in self.nodes:
            if n.label == label:
                return n
        raise KeyError(label)

    @staticmethod
    def parents_of(node) -> list:
        return list(node.parents)

    def order(self) -> list:
        """Nodes in an order where every parent comes before its children."""
        done, out = set(), []
        pending = self.nodes
        while pending:
            ready = [n for n in pending if all(p in done for p in self.parents_of(n))]
            if not ready:
                raise InputError(f"study {self.name!r} has a dependency cycle among "
                                 f"{[n.label for n in pending]}")
            for n in ready:
                out.append(n)
                done.add(n.label)
            pending = [n for n in pending if n.label not in done]
        return out

    def analysis(self, kind: str):
        """The first analysis of ``kind``, or None."""
        return next((a for a in self.analyses if a.kind == kind), None)

    def folder_of(self, label: str) -> Path:
        return Path(self.folder) / label

    def index(self) -> dict:
        """A JSON-able map of the study for readers that must not import the study layer (the
        report): every step's folder and job, every analysis's folder, kind and roles."""
        return {"study": self.study, "name": self.name, "folder": str(self.folder),
                "steps": {s.label: {"job": s.job, "backend": s.backend, "folder": str(self.folder_of(s.label))}
                          for s in self.steps},
                "analyses": {a.label: {"kind": a.kind, "roles": a.roles, "folder": str(self.folder_of(a.label))}
                             for a in self.analyses}}
