"""Where a report finds its documents: the index of the studies that ran (written by the runner
from each study graph, :meth:`pvatoms.studies.graph.StudyGraph.index`), never folder names.

``studies.json`` in a run folder: ``{study name: {"study", "folder", "steps": {label: {"job",
"folder"}}, "analyses": {label: {"kind", "folder", "roles"}}}}``.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from pvatoms.errors import InputError
from pvatoms.io import read_json, write_json_atomic
from pvatoms.schema import RESULT_FILE

INDEX_FILE = "studies.json"


def write_index(root, indexes: list[dict]) -> Path:
    """Record the studies of a run (their graph indexes) in ``root/studies.json``."""
    return write_json_atomic(Path(root) / INDEX_FILE, {ix["name"]: ix for ix in indexes})


class StudyIndex:
    """The documents of a run, found through its study index."""

    def __init__(self, root):
        self.root = Path(root)
        path = self.root / INDEX_FILE
        if not path.is_file():
            raise InputError(f"{self.root} has no {INDEX_FILE}: not a run folder written by this version "
                             "(run the demo again: finished calculations are kept)")
        self.studies = read_json(path)

    def _doc(self, path: Path) -> dict | None:
        try:
            return read_json(path)
        except InputError:
            return None

    def analysis(self, kind: str, study: str | None = None) -> tuple[dict | None, dict | None]:
        """(analysis document, its index entry) of the first analysis of ``kind``."""
        for name, ix in self.studies.items():
            if study not in (None, name):
                continue
            for label, a in ix["analyses"].items():
                if a["kind"] == kind:
                    return self._doc(Path(a["folder"]) / "analysis.json"), dict(a, label=label, study=name)
        return None, None

    def analyses(self, kind: str) -> list[tuple[dict | None, dict]]:
        """(analysis document or None, its index entry) of every analysis of ``kind``, in study order."""
        out = []
        for name, ix in self.studies.items():
            for label, a in ix["analyses"].items():
                if a["kind"] == kind:
                    out.append((self._doc(Path(a["folder"]) / "analysis.json"), dict(a, label=label, study=name)))
        return out

    def step(self, study: str, label: str) -> tuple[dict | None, Path | None]:
        """(result document, folder) of step ``label`` of ``study``."""
        ix = self.studies.get(study)
        if not ix or label not in ix["steps"]:
            return None, None
        folder = Path(ix["steps"][label]["folder"])
        return self._doc(folder / RESULT_FILE), folder

    def steps_of(self, kind: str) -> list[tuple[str, dict]]:
        """(study name, step entry) of every step of the studies whose analyses include ``kind``."""
        out = []
        for name, ix in self.studies.items():
            if any(a["kind"] == kind for a in ix["analyses"].values()):
                out += [(name, dict(s, label=label)) for label, s in ix["steps"].items()]
        return out

    def result_documents(self) -> list[dict]:
        """Every step's result document (``_path``: its file), nested NEB endpoints included."""
        docs = []
        for ix in self.studies.values():
            for s in ix["steps"].values():
                folder = Path(s["folder"])
                paths = [folder / RESULT_FILE] + ([folder / e / RESULT_FILE for e in ("initial", "final")]
                                                 if s["job"] == "neb" else [])
                for p in paths:
                    d = self._doc(p) if p.is_file() else None
                    if d:
                        d["_path"] = p
                        d["_nested"] = p.parent != folder
                        docs.append(d)
        return docs


def created_after(doc: dict, since: float) -> bool:
    """True when the document was created at or after ``since`` (a time stamp, s)."""
    return _dt.datetime.fromisoformat(doc["created"]).timestamp() >= since
