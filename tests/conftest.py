"""Shared fixtures. Tests use real objects and real (small) calculations, never mocks of the thing
under test."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
#: the installed console command, next to the interpreter running the tests
PVATOMS = [str(Path(sys.executable).parent / "pvatoms")]


@pytest.fixture(scope="session")
def pnma():
    from pvatoms.build import cspbbr3
    return cspbbr3("pnma", "pbe")


@pytest.fixture
def run_cli(tmp_path):
    """Run the pvatoms command in a subprocess; returns CompletedProcess."""
    import subprocess

    def _run(*args, check=True):
        proc = subprocess.run(PVATOMS + [str(a) for a in args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"pvatoms {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc
    return _run


#: test files that take minutes, longest first (summed test times on 2 cores): run first, so that
#: with parallel workers (``-n 2 --dist loadfile --no-loadscope-reorder``, as ``./run.sh test``
#: runs them) a long file does not start last and leave the other workers idle
LONG_FILES = ("test_demo.py", "test_dielectric.py", "test_readme.py", "test_jobs_mlip.py", "test_batch.py",
              "test_defect_study_gpaw.py", "test_segregation.py", "test_alignment.py", "test_gpaw.py", "test_fw_durability.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: order kept within files
