"""A stand-in for the VASP executable (the idea of atomate2's mock VASP, written anew here): it
checks the inputs it was started with against what the test expects, then lays down the
outputs of a real VASP run of those inputs.

Started by custodian in the job folder as ``$PVATOMS_VASP_CMD`` (``python tests/fake_vasp/vasp.py``);
reads the specification named by ``$FAKE_VASP_SPEC`` (JSON, written by
:func:`fake_vasp.expect`):

- ``outputs``: folder of a real run (vasprun.xml[.gz], OUTCAR[.gz], LOCPOT[.gz], its INCAR and
  POSCAR). vasprun.xml and OUTCAR are written uncompressed, as VASP writes them; the rest is
  copied as it is; input files of the reference run are never copied over the job's own.
- ``reference_keys``: INCAR tags that change the numbers; each must equal the reference run's
  INCAR (so the outputs are those of these inputs).
- ``incar``: {tag: value} the test expects; ``incar_absent``: tags that must not be set.
- ``kpoints``: the Γ-centred mesh expected; ``potcar``: POTCAR symbols in order.
- the POSCAR must hold the reference run's input structure (from its vasprun.xml: same species
  order, lattice and positions within 1e-6 Å).

Every call appends one JSON line to ``fake-vasp.log`` in the job folder: the folder, the checks
and the problems found. With a problem it prints them (custodian's vasp.out) and exits 3
without any output, as a VASP that refused its input would.
"""

import gzip
import json
import os
import shutil
import sys
from pathlib import Path

INPUTS = ("INCAR", "KPOINTS", "POSCAR", "POTCAR", "POTCAR.spec")


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-8 * max(1.0, abs(float(b)))
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _read(name: str, folder: Path) -> Path:
    for ext in ("", ".gz"):
        if (folder / f"{name}{ext}").is_file():
            return folder / f"{name}{ext}"
    raise FileNotFoundError(f"{name} in {folder}")


def check_inputs(spec: dict, here: Path) -> tuple[list, list]:
    """(checks done, problems found) for the inputs in ``here``."""
    from pymatgen.io.vasp.inputs import Incar, Kpoints, Poscar

    ref_dir = Path(spec["outputs"])
    done, problems = [], []
    for name in ("INCAR", "KPOINTS", "POSCAR", "POTCAR"):
        if not (here / name).is_file():
            problems.append(f"no {name}")
    if problems:
        return done, problems
    incar = dict(Incar.from_file(str(here / "INCAR")))
    reference = dict(Incar.from_file(str(ref_dir / "INCAR")))
    for key in spec.get("reference_keys", []):
        done.append(f"INCAR {key} as the reference run")
        if not _same(incar.get(key), reference.get(key)):
            problems.append(f"INCAR {key} = {incar.get(key)!r}, the reference run used {reference.get(key)!r}")
    for key, value in spec.get("incar", {}).items():
        done.append(f"INCAR {key} = {value!r}")
        if not _same(incar.get(key), value):
            problems.append(f"INCAR {key} = {incar.get(key)!r}, expected {value!r}")
    for key in spec.get("incar_absent", []):
        done.append(f"INCAR without {key}")
        if key in incar:
            problems.append(f"INCAR sets {key} = {incar[key]!r}, expected it absent")
    if spec.get("kpoints") is not None:
        done.append(f"KPOINTS Gamma {spec['kpoints']}")
        kp = Kpoints.from_file(str(here / "KPOINTS"))
        if kp.style.name != "Gamma" or [list(k) for k in kp.kpts] != [list(spec["kpoints"])]:
            problems.append(f"KPOINTS {kp.style.name} {kp.kpts}, expected Gamma {spec['kpoints']}")
    if spec.get("potcar") is not None:
        done.append(f"POTCAR {spec['potcar']}")
        titles = [line.split("=", 1)[1].split()[1] for line in (here / "POTCAR").read_text().splitlines()
                  if "TITEL" in line]
        if titles != list(spec["potcar"]):
            problems.append(f"POTCAR holds {titles}, expected {spec['potcar']}")
    done.append("POSCAR = the reference structure")
    mine = Poscar.from_file(str(here / "POSCAR"), check_for_potcar=False).structure
    ref = _reference_structure(ref_dir)
    if [s.specie.symbol for s in mine] != [s.specie.symbol for s in ref]:
        problems.append(f"POSCAR species {mine.composition.formula} in another order or number than "
                        f"the reference {ref.composition.formula}")
    else:
        import numpy as np
        dfrac = mine.frac_coords - ref.frac_coords
        dfrac -= np.rint(dfrac)
        if (np.abs(mine.lattice.matrix - ref.lattice.matrix).max() > 1e-6
                or np.abs(dfrac @ ref.lattice.matrix).max() > 1e-6):
            problems.append("POSCAR lattice or positions differ from the reference run's")
    return done, problems


def _reference_structure(ref_dir: Path):
    """The input structure of the reference run, from its vasprun.xml (a POSCAR without a
    species line cannot name its elements)."""
    import warnings

    from pymatgen.io.vasp.outputs import Vasprun
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Vasprun(str(_read("vasprun.xml", ref_dir)), parse_dos=False, parse_eigen=False,
                       parse_potcar_file=False).initial_structure


def lay_down_outputs(spec: dict, here: Path) -> list:
    """Copy the reference outputs into ``here``; returns the names written."""
    ref_dir = Path(spec["outputs"])
    written = []
    for path in sorted(ref_dir.iterdir()):
        if not path.is_file():
            continue
        base = path.name[:-3] if path.name.endswith(".gz") else path.name
        if base in INPUTS:
            continue
        if base in ("vasprun.xml", "OUTCAR") and path.name.endswith(".gz"):
            with gzip.open(path, "rb") as src, open(here / base, "wb") as dst:
                shutil.copyfileobj(src, dst)
            written.append(base)
        else:
            shutil.copyfile(path, here / path.name)
            written.append(path.name)
    return written


def main() -> int:
    here = Path.cwd()
    spec = json.loads(Path(os.environ["FAKE_VASP_SPEC"]).read_text())
    done, problems = check_inputs(spec, here)
    entry = {"folder": str(here), "checks": done, "problems": problems, "outputs": []}
    if not problems:
        entry["outputs"] = lay_down_outputs(spec, here)
    with open(here / "fake-vasp.log", "a") as fh:
        fh.write(json.dumps(entry) + "\n")
    if problems:
        print("fake VASP: the inputs differ from the expected ones:\n  " + "\n  ".join(problems))
        return 3
    print(f" running fake VASP in {here}: {len(done)} input checks passed, outputs of {spec['outputs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
