"""FireWorks' own command-line tools (lpad, rlaunch, ...) on the embedded store, safely.

The tool runs under the store's lock against a private copy of the store
(``MONGOMOCK_SERVERSTORE_FILE``); when it exits successfully the copy replaces the store
atomically. A crashed or interrupted tool changes nothing. A LaunchPad file naming the store's
database is written to ``STORE/my_launchpad.yaml``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pvatoms.errors import InputError
from pvatoms.fw.store import EmbeddedStore, _atomic_write

TOOLS = ("lpad", "rlaunch", "qlaunch", "mlaunch")


def launchpad_file(store: EmbeddedStore) -> Path:
    """``STORE/my_launchpad.yaml`` for FireWorks tools (database name 'pvatoms')."""
    store.ensure()
    path = store.path / "my_launchpad.yaml"
    if not path.exists():
        path.write_text("# FireWorks LaunchPad of the pvatoms embedded store; use through `pvatoms fw TOOL ...`\n"
                        "name: pvatoms\nhost: localhost\nport: 27017\nstrm_lvl: INFO\n")
    return path


def run_tool(store: EmbeddedStore, tool: str, args: list[str]) -> int:
    """Run FireWorks' ``tool`` with ``args`` on the store; returns its exit code."""
    if tool not in TOOLS:
        raise InputError(f"unknown FireWorks tool {tool!r}; valid choices: {', '.join(TOOLS)}")
    exe = Path(sys.executable).parent / tool
    if not exe.exists():
        raise InputError(f"{tool} not found next to {sys.executable}")
    lp_file = launchpad_file(store)
    with store.locked():
        work = store.path / f".tool-{os.getpid()}.json"
        shutil.copyfile(store.file, work)
        env = dict(os.environ, MONGOMOCK_SERVERSTORE_FILE=str(work))
        try:
            rc = subprocess.call([str(exe), "-l", str(lp_file), *args], env=env)
            if rc == 0:
                _atomic_write(store.file, work.read_text())
        finally:
            work.unlink(missing_ok=True)
    return rc
