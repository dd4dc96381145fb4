"""Saving paper figures: every figure is written as PNG (for reports) and PDF (for papers)."""

from __future__ import annotations

from pathlib import Path


def save_figure(fig, stem, dpi: int = 300) -> dict:
    """Write ``stem.png`` (``dpi``) and ``stem.pdf``; returns ``{"png": path, "pdf": path}``."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {"png": stem.with_suffix(".png"), "pdf": stem.with_suffix(".pdf")}
    fig.savefig(paths["png"], dpi=dpi)
    fig.savefig(paths["pdf"])
    return paths
