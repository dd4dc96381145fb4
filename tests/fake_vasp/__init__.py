"""Fake VASP for the test suite: :func:`expect` points ``PVATOMS_VASP_CMD`` at ``vasp.py`` (beside
this file) with a specification of the inputs the test expects and the real outputs to lay down;
:func:`stand_in_potcars` gives pymatgen POTCAR files with the header fields it reads (the
licensed files are not needed to follow the potcar='auto' path). See ``vasp.py`` for what the
fake checks."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "vasp.py"
LOG = "fake-vasp.log"


def expect(monkeypatch, spec_dir: Path, outputs, reference_keys=(), incar=None, incar_absent=(),
           kpoints=None, potcar=None) -> Path:
    """Write the specification into ``spec_dir`` and point PVATOMS_VASP_CMD at the fake."""
    spec_dir = Path(spec_dir)
    spec_dir.mkdir(parents=True, exist_ok=True)
    path = spec_dir / "fake-vasp-spec.json"
    path.write_text(json.dumps({"outputs": str(Path(outputs).resolve()), "reference_keys": list(reference_keys),
                                "incar": dict(incar or {}), "incar_absent": list(incar_absent),
                                "kpoints": None if kpoints is None else list(kpoints),
                                "potcar": None if potcar is None else list(potcar)}, indent=1))
    monkeypatch.setenv("FAKE_VASP_SPEC", str(path))
    monkeypatch.setenv("PVATOMS_VASP_CMD", f"{shlex.quote(sys.executable)} {shlex.quote(str(SCRIPT))}")
    return path


def calls(folder) -> list[dict]:
    """The fake's log entries in a job folder (one per VASP start)."""
    path = Path(folder) / LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stand_in_potcars(monkeypatch, root: Path, zval: dict, functional_dir: str = "POT_GGA_PAW_PBE_54") -> Path:
    """Minimal POTCARs (TITEL, VRHFIN, ZVAL, ENMAX) under ``root``; PMG_VASP_PSP_DIR set to it."""
    for symbol, z in zval.items():
        element = symbol.split("_")[0]
        folder = Path(root) / functional_dir / symbol
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "POTCAR").write_text(
            f"  PAW_PBE {symbol} 01Jan2000\n  {z:.16f}\n parameters from PSCTR are:\n"
            f"   VRHFIN ={element}: s p\n   TITEL  = PAW_PBE {symbol} 01Jan2000\n"
            f"   POMASS =  1.000; ZVAL   = {z:8.3f}    mass and valenz\n"
            "   LEXCH  = PE\n   ENMAX  =  250.000; ENMIN  =  180.000 eV\n END of PSCTR-controll parameters\n"
            " 0.1 0.2 0.3 0.4\n End of Dataset\n")
    monkeypatch.setenv("PMG_VASP_PSP_DIR", str(root))
    return Path(root)
