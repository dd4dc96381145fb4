"""Reports: ``REPORT.md`` and ``report.html`` of a run, built from typed analysis and result
documents found through the run's study index (``studies.json``), never from folder names.

Every number is printed with its provenance (backend, model, settings); the "what this means"
paragraph is composed from those numbers; the footer gives the wall time and the pipeline
overhead (time not spent inside calculations) as a fraction of the whole invocation.
"""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path

from pvatoms.reports import sections
from pvatoms.reports.index import StudyIndex, write_index
from pvatoms.reports.meaning import meaning
from pvatoms.reports.overhead import overhead, overhead_line, record_invocation, totals
from pvatoms.reports.pictures import picture

HTML_STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
              # a table wider than the page (the boundary convergence table) scrolls in its own box
              "table{border-collapse:collapse;display:block;overflow-x:auto;max-width:100%;font-size:.9em}"
              "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}")


def to_html(markdown_text: str, title: str) -> str:
    """A self-contained HTML page of a Markdown report."""
    import markdown
    body = markdown.markdown(markdown_text, extensions=["tables"])
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{HTML_STYLE}"
            f"</style></head><body>{body}</body></html>")


def write_report(root, structures: dict, wall_time: float, quick: bool = False, launched=None,
                 bulk_gap: tuple[str, str] | None = None, launchers: int = 1) -> dict:
    """Write ``REPORT.md`` and ``report.html`` into the run folder ``root`` (which holds
    ``studies.json``); returns the report summary. ``bulk_gap``: (study, step label) of the
    bulk-gap calculation; ``launchers``: how many launchers ran side by side (for the overhead)."""
    root = Path(root)
    index = StudyIndex(root)
    since = time.time() - wall_time
    facts: dict = {}
    md = [f"# Pb-leakage study of CsPbBr3 — pvatoms demo{' (quick)' if quick else ''}", "",
          f"Run folder `{root}`, {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}. Every number below "
          "comes from a result document under `studies/` and names the backend and model that produced it.", ""]
    md += sections.structures(root, structures)
    md += sections.charged_defects(root, index, facts)
    md += sections.screening(root, index, facts)
    md += sections.neb(root, index, facts)
    md += sections.electronic(root, index, facts, bulk_gap)
    md += sections.boundary(root, index, facts)
    md += meaning(facts)
    ov = overhead(index, wall_time, since, launchers)
    tot = totals(record_invocation(root, ov, since))
    jobs = index.result_documents()
    failed = [d for d in jobs if d.get("status") == "failed"]
    md += ["---", "", f"*{len(jobs)} calculations ({len(failed)} failed). " + overhead_line(ov, tot)
           + " Models: " + "; ".join(sorted({sections.provenance(d) for d in jobs})) + ".*", ""]
    text = "\n".join(md)
    (root / "REPORT.md").write_text(text)
    (root / "report.html").write_text(to_html(text, "pvatoms demo report"))
    return {"report": str(root / "REPORT.md"), "html": str(root / "report.html"), "overhead": ov,
            "overhead_all_runs": tot, "facts": facts, "failed": [str(d["_path"]) for d in failed],
            "headline": " ".join(meaning(facts)[2:3]), "launched": launched or {}}


__all__ = ["write_report", "write_index", "StudyIndex", "picture", "to_html"]
