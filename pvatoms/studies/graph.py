"""A study as a plain graph: calculation steps and analyses with roles, no FireWorks in sight.

A :class:`Step` is one job (relax, static, neb, phonons, band-edges) in ``FOLDER/<label>`` with
its backend and settings; its structure is given or derived from a parent's final structure by
run-time transforms (supercell, delete, substitute, insert, phonon displacement, vacancy hop),
so that e.g. defect cells are cut from the *relaxed* host. An :class:`Analysis` reads the results
of the steps it names, each under a role (``bulk``, ``defects``, ``phases``, ``nebs`` ...), and
writes an analysis document. The local runner (:mod:`pvatoms.studies.local`) and the FireWorks
adapter (:mod:`pvatoms.fw.workflows`) both execute the same graph. :func:`batch_steps` turns the
machine-learned relaxations / single points of a graph into batch steps (one firework for many
structures, each member still in its own folder with its own result document).

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
    """One calculation. ``inputs``: ``{"structure": Source}``, or for NEB ``{"initial": ..., "final": ...}``.
    A batch step (job ``relax-batch`` / ``static-batch``, made by :func:`batch_steps`) has no inputs of
    its own but ``members``: the relax/static steps it runs together, each in its own folder."""
    label: str
    job: str
    backend: str
    inputs: dict
    backend_settings: dict = field(default_factory=dict)
    job_settings: dict = field(default_factory=dict)
    parents: list = field(default_factory=list)
    priority: int = 0
    members: list = field(default_factory=list)

    def params(self, folder: Path) -> dict:
        """The step as the parameters of one job run (the Firetask's parameters; JSON-able). A batch
        carries its members' parameters in ``job_settings["members"]``."""
        p = {"job": self.job, "folder": str(Path(folder) / self.label), "backend": self.backend,
             "label": self.label, "backend_settings": dict(self.backend_settings),
             "job_settings": dict(self.job_settings)}
        if self.members:
            p["job_settings"]["members"] = [m.params(folder) for m in self.members]
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
    #: member label -> the batch step that computes it (roles keep naming the members)
    via: dict = field(default_factory=dict)

    @property
    def parents(self) -> list:
        seen = []
        for labels in self.roles.values():
            for x in labels:
                x = self.via.get(x, x)
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
        out = {"study": self.study, "name": self.name, "folder": str(self.folder),
               "steps": {s.label: {"job": s.job, "backend": s.backend, "folder": str(self.folder_of(s.label))}
                         for step in self.steps for s in (step.members or [step])},
               "analyses": {a.label: {"kind": a.kind, "roles": a.roles, "folder": str(self.folder_of(a.label))}
                            for a in self.analyses}}
        batches = {s.label: {"job": s.job, "folder": str(self.folder_of(s.label)),
                             "members": [m.label for m in s.members]} for s in self.steps if s.members}
        if batches:
            out["batches"] = batches
        return out


#: the jobs a batch step can run together, and the batch job of each
BATCHABLE = {"relax": "relax-batch", "static": "static-batch"}
#: the job settings a batched job takes (a step with others, e.g. a cell mask, runs on its own)
BATCH_SETTINGS = {"relax": {"cell", "fmax", "smax", "steps", "charge", "optimizer", "force", "defect"},
                  "static": {"charge", "force", "defect"}}


def batch_steps(graph: StudyGraph, size: int = 32, jobs=("relax", "static"),
                backends=("sevennet", "chgnet")) -> StudyGraph:
    """The same study with its machine-learned relaxations / single points run in batches: steps of
    the same job, backend, settings and parents become one batch step of at most ``size`` members
    (one firework; many structures per model call, :mod:`pvatoms.calc.batched`). Each member keeps
    its label, folder and result document; children and analyses still name the members (their
    dependency goes to the batch). Batched relaxations use FIRE: a member planned with another
    optimiser is run with FIRE, and the notes say so. Steps that would form a batch of one stay."""
    if int(size) < 2:
        raise InputError(f"a batch holds at least 2 structures, got size {size!r}")
    groups: dict = {}
    for s in graph.steps:
        if s.job in jobs and s.job in BATCHABLE and s.backend in backends and not s.members \
                and set(s.inputs) == {"structure"} and set(s.job_settings) <= BATCH_SETTINGS[s.job]:
            key = (s.job, s.backend, repr(sorted(s.backend_settings.items())),
                   repr(sorted((k, v) for k, v in s.job_settings.items() if k != "optimizer")),
                   tuple(sorted(s.parents)))
            groups.setdefault(key, []).append(s)
    via, batched, notes, used = {}, {}, list(graph.notes), {n.label for n in graph.nodes}
    for (job, backend, *_), members in groups.items():
        chunks = [members[k:k + int(size)] for k in range(0, len(members), int(size))]
        for chunk in chunks:
            if len(chunk) < 2:
                continue
            n = 1
            while f"{BATCHABLE[job]}-{n}" in used:
                n += 1
            label = f"{BATCHABLE[job]}-{n}"
            used.add(label)
            settings = dict(chunk[0].job_settings)
            if job == "relax":
                if settings.get("optimizer", "bfgs") != "fire":
                    notes.append(f"{label}: batched relaxations use FIRE (planned: "
                                 f"{settings.get('optimizer', 'bfgs')}) for {', '.join(m.label for m in chunk)}")
                settings["optimizer"] = "fire"
            copies = [Step(m.label, m.job, m.backend, m.inputs, dict(m.backend_settings), dict(settings),
                           list(m.parents), m.priority) for m in chunk]
            step = Step(label, BATCHABLE[job], backend, {}, dict(chunk[0].backend_settings), settings,
                        list(chunk[0].parents), max(m.priority for m in chunk), members=copies)
            batched[chunk[0].label] = step
            for m in chunk:
                via[m.label] = label

    def rewired(labels):              # a dependency on a member becomes one on its batch
        out = []
        for p in labels:
            if via.get(p, p) not in out:
                out.append(via.get(p, p))
        return out

    steps = []
    for s in graph.steps:
        if s.label in via:
            if s.label in batched:
                b = batched[s.label]
                b.parents = rewired(b.parents)
                steps.append(b)
            continue
        steps.append(Step(s.label, s.job, s.backend, s.inputs, s.backend_settings, s.job_settings,
                          rewired(s.parents), s.priority, s.members))
    analyses = [Analysis(a.label, a.kind, a.roles, a.settings, dict(a.via, **{m: b for m, b in via.items()
                                                                              if m in _named(a)}))
                for a in graph.analyses]
    return StudyGraph(graph.study, graph.name, graph.folder, steps, analyses, notes, graph.spec)


def _named(analysis: Analysis) -> set:
    return {x for labels in analysis.roles.values() for x in labels}
