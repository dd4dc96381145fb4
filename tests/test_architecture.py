"""The layering rule, checked by walking the imports of every module (ast): data flows one way,
build -> calc -> jobs -> studies -> (fw | local runner) -> analysis -> reports, cli on top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "pvatoms"
BASE = {"errors", "geometry", "io", "schema", "reference", "__init__"}

#: layer of a module -> the layers it may import (besides itself and the base modules)
ALLOWED = {
    "base": set(),
    "build": set(),
    "calc": set(),
    "jobs": {"build", "calc"},
    "analysis": set(),
    "studies": {"build", "calc", "jobs", "analysis"},
    "fw": {"build", "calc", "jobs", "analysis", "studies"},
    "reports": {"analysis"},
    "demo": {"build", "calc", "jobs", "analysis", "studies", "fw", "reports"},
    "cli": {"build", "calc", "jobs", "analysis", "studies", "fw", "reports", "demo"},
}


def layer_of(module: str) -> str:
    """``pvatoms.jobs.relax`` -> ``jobs``; base modules -> ``base``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "base"
    top = parts[1]
    return "base" if top in BASE else top


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported pvatoms module) for every import in the file, at any depth (lazy imports
    inside functions count too)."""
    out = []
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "pvatoms"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "pvatoms":
                continue
            if mod == "pvatoms":     # from pvatoms import build, schema ...
                out += [(node.lineno, f"pvatoms.{a.name}") for a in node.names if a.name != "__version__"]
            else:
                out.append((node.lineno, mod))
    return out


MODULES = sorted(p for p in ROOT.rglob("*.py"))


def test_the_walk_sees_the_package():
    layers = {layer_of(module_name(p)) for p in MODULES}
    assert {"base", "build", "calc", "jobs", "analysis", "studies", "fw", "cli"} <= layers


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_higher_layer(path):
    me = layer_of(module_name(path))
    assert me in ALLOWED, f"{path}: module outside the known layers {sorted(ALLOWED)}"
    bad = []
    for line, mod in imports_of(path):
        other = layer_of(mod)
        if other in (me, "base"):
            continue
        if other not in ALLOWED[me]:
            bad.append(f"{path.relative_to(ROOT.parent)}:{line} ({me}) imports {mod} ({other})")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_base_modules_import_only_base():
    for path in MODULES:
        if layer_of(module_name(path)) != "base":
            continue
        for line, mod in imports_of(path):
            assert layer_of(mod) == "base", f"{path}:{line} imports {mod}"


def test_module_size():
    """Modules small enough to read in one sitting."""
    long = [(p.relative_to(ROOT), n) for p in MODULES if (n := len(p.read_text().splitlines())) > 620]
    assert not long, f"modules over ~600 lines: {long}"
