"""Paper-ready tables: one list of rows written as CSV, Markdown and LaTeX (booktabs).

Every table carries a provenance column (backend, model or functional, supercell, correction...)
so that no number is separated from what produced it.

>>> rows = [{"defect": "V_Br", "q": 1, "E_f (eV)": 1.234, "provenance": "sevennet 7net-0"}]
>>> paths = write_table(rows, "out/vbr", caption="Formation energies")   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from pvatoms.errors import InputError

_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def _columns(rows: list[dict]) -> list[str]:
    if not rows:
        raise InputError("empty table: no rows to write")
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def format_value(value, digits: int = 3) -> str:
    """Numbers with ``digits`` decimals, None/NaN as an en dash, everything else as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v, digits) for v in value)
    return str(value)


def to_csv(rows: list[dict]) -> str:
    """CSV text with full precision (for re-use), columns in first-seen order."""
    cols = _columns(rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return buf.getvalue()


def to_markdown(rows: list[dict], digits: int = 3) -> str:
    """GitHub-flavoured Markdown table."""
    cols = _columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(format_value(r.get(c), digits).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters in plain text."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(rows: list[dict], caption: str = "", label: str = "", digits: int = 3) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    cols = _columns(rows)
    numeric = [all(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool)
                   for r in rows if r.get(c) is not None) for c in cols]
    spec = "".join("r" if n else "l" for n in numeric)
    out = [r"\begin{table}", r"\centering"]
    if caption:
        out.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        out.append(rf"\label{{{label}}}")
    out += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
            " & ".join(latex_escape(c) for c in cols) + r" \\", r"\midrule"]
    for r in rows:
        out.append(" & ".join(latex_escape(format_value(r.get(c), digits)) for c in cols) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def write_table(rows: list[dict], stem, caption: str = "", label: str = "", digits: int = 3) -> dict:
    """Write ``stem.csv``, ``stem.md`` and ``stem.tex``; returns ``{"csv": path, "md": ..., "tex": ...}``."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {"csv": stem.with_suffix(".csv"), "md": stem.with_suffix(".md"), "tex": stem.with_suffix(".tex")}
    paths["csv"].write_text(to_csv(rows))
    paths["md"].write_text(to_markdown(rows, digits))
    paths["tex"].write_text(to_latex(rows, caption, label, digits))
    return paths


def provenance_label(doc: dict, supercell: str | None = None, correction: str | None = None) -> str:
    """Short provenance text from a result document: backend, model/functional, version, level of
    theory (energy // geometry method), supercell and correction where given, e.g.
    ``"gpaw PBE PW 400 eV (v26.7.0), PBE//PBE; 39 atoms; Freysoldt (eps=4.2)"``."""
    b = doc.get("backend") or {}
    text = f"{b.get('name')} {b.get('model')}"
    if b.get("version"):
        text += f" (v{b['version']})"
    level = (doc.get("level_of_theory") or {}).get("label")
    if level:
        text += f", {level}"
    if supercell:
        text += f"; {supercell}"
    if correction:
        text += f"; {correction}"
    return text
