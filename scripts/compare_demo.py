#!/usr/bin/env python
"""Compare the numbers of two demo run folders (e.g. before and after a refactor).

    python scripts/compare_demo.py RUN_A RUN_B [--tol 1e-6]

Every number the report rests on is collected from both folders — each calculation's energy,
band gap and barriers (``result.json``), the formation energies, chemical-potential limits,
hull distances, barriers and localization fractions (analysis documents) — keyed by study and
label, and compared. Prints one line per key that differs beyond ``--tol`` (eV, or fraction) and
a closing count; exits 1 when any differs or is missing on one side.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        out[prefix] = float(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
        for v in value:
            name = v.get("defect") or v.get("path") or v.get("state") or v.get("limit") or v.get("phase")
            key = f"{name} q={v['q']}" if "q" in v else str(name)
            if "result" in v:
                key = f"{v['result']}/{key}"
            _flatten(f"{prefix}[{key}]", {k: x for k, x in v.items() if k not in ("q",)}, out)


def numbers(run: Path) -> dict:
    """Flat ``{key: value}`` of the numbers of a demo run folder."""
    out: dict = {}
    for path in sorted((run / "studies").glob("**/result.json")):
        doc = json.loads(path.read_text())
        key = str(path.parent.relative_to(run / "studies"))
        if doc.get("status") != "completed":
            out[f"{key}:status-{doc.get('status')}"] = math.nan
            continue
        _flatten(f"{key}:energy", doc.get("energy"), out)
        be = doc.get("band_edges") or {}
        _flatten(f"{key}:gap", be.get("gap"), out)
        data = doc.get("data") or {}
        for k in ("barrier_forward", "barrier_backward", "hop_distance"):
            _flatten(f"{key}:{k}", data.get(k), out)
    for name in ("summary.json", "neb_analysis.json", "band_edges_analysis.json"):
        for path in sorted((run / "studies").glob(f"**/{name}")):
            doc = json.loads(path.read_text())
            key = str(path.parent.relative_to(run / "studies"))
            for part in ("formation_energies", "transition_levels", "rows"):
                _flatten(f"{key}:{part}", doc.get(part), out)
            cp = doc.get("chemical_potentials") or {}
            _flatten(f"{key}:limits", cp.get("limits"), out)
            _flatten(f"{key}:rp_hull", cp.get("rp_phases_e_above_hull"), out)
            _flatten(f"{key}:e_above_hull", cp.get("e_above_hull"), out)
    return out


def compare(a: dict, b: dict, tol: float) -> list[str]:
    lines = []
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            lines.append(f"only in {'A' if key in a else 'B'}: {key}")
            continue
        x, y = a[key], b[key]
        if math.isnan(x) or math.isnan(y) or abs(x - y) > tol:
            lines.append(f"{key}: {x!r} vs {y!r} (diff {y - x:+.3g})")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--tol", type=float, default=1e-6)
    args = ap.parse_args(argv)
    a, b = numbers(args.a), numbers(args.b)
    diffs = compare(a, b, args.tol)
    for line in diffs:
        print(line)
    print(f"{len(set(a) | set(b))} numbers compared, {len(diffs)} differ beyond {args.tol:g}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
