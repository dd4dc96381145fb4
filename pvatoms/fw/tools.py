"""FireWorks' own command-line tools (lpad, rlaunch, ...) on the embedded store, safely; and the
store's own maintenance (check, recover, reset).

A FireWorks tool runs under the store's lock against a private copy of the whole store in
FireWorks' serverless layout (``MONGOMOCK_SERVERSTORE_FILE``). When it exits successfully and the
copy is a sound store that differs from the original, the copy becomes the store's new snapshot
(the previous state goes to ``STORE/backup/``). A crashed or interrupted tool, or one that leaves
a damaged copy, changes nothing. A LaunchPad file naming the store's database is written to
``STORE/my_launchpad.yaml``.

Maintenance: ``pvatoms fw --store PATH check`` (is it sound, what it holds), ``recover`` (rebuild a
damaged store from its backup and journal), ``reset --yes`` (start empty; old files kept).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pvatoms.errors import InputError
from pvatoms.fw.store import EmbeddedStore

TOOLS = ("lpad", "rlaunch", "qlaunch", "mlaunch")
MAINTENANCE = ("check", "recover", "reset")


def launchpad_file(store: EmbeddedStore) -> Path:
    """``STORE/my_launchpad.yaml`` for FireWorks tools (database name 'pvatoms')."""
    store.ensure()
    path = store.path / "my_launchpad.yaml"
    if not path.exists():
        path.write_text("# FireWorks LaunchPad of the pvatoms embedded store; use through `pvatoms fw TOOL ...`\n"
                        "name: pvatoms\nhost: localhost\nport: 27017\nstrm_lvl: INFO\n")
    return path


def run_tool(store: EmbeddedStore, tool: str, args: list[str]) -> int:
    """Run FireWorks' ``tool`` (or a maintenance command) with ``args`` on the store; returns its
    exit code."""
    if tool in MAINTENANCE:
        return maintenance(store, tool, args)
    if tool not in TOOLS:
        raise InputError(f"unknown FireWorks tool {tool!r}; valid choices: {', '.join(TOOLS + MAINTENANCE)}")
    exe = Path(sys.executable).parent / tool
    if not exe.exists():
        raise InputError(f"{tool} not found next to {sys.executable}")
    lp_file = launchpad_file(store)
    import bson.json_util

    from pvatoms.fw import journal as jf
    from pvatoms.fw import memstore
    from pvatoms.fw.recovery import _write_new
    from pvatoms.fw.store import _replica
    with store.locked():
        rep = _replica(store)
        with rep.lock:
            rep.sync()
            before = memstore.dump(rep.server)
            text = bson.json_util.dumps(before)
            work = store.path / f".tool-{os.getpid()}.json"
            jf.write_atomic(work, text.encode("utf-8"))
            env = dict(os.environ, MONGOMOCK_SERVERSTORE_FILE=str(work))
            try:
                rc = subprocess.call([str(exe), "-l", str(lp_file), *args], env=env)
                if rc == 0:
                    try:
                        after = jf.read_snapshot(work)
                    except jf.Damage as exc:
                        raise InputError(f"{tool} left a store that cannot be used ({exc.detail}); the store "
                                         "was not changed") from None
                    if _contents(after) != _contents(before):
                        _write_new(store, memstore.load(after), rep.generation, rep.seq)
            finally:
                work.unlink(missing_ok=True)
    return rc


def _contents(data: dict) -> str:
    """The documents of a store, without the empty databases and collections a tool may add."""
    import bson.json_util
    return bson.json_util.dumps({db: {name: col["documents"] for name, col in cols.items() if col.get("documents")}
                                 for db, cols in data.items() if any(c.get("documents") for c in cols.values())})


def maintenance(store: EmbeddedStore, command: str, args: list[str]) -> int:
    """``check`` / ``recover`` / ``reset --yes``: prints a JSON report on stdout; exit code 0 when
    the store is (now) sound, 1 when ``check`` found damage."""
    extra = [a for a in args if a != "--yes"]
    if extra:
        raise InputError(f"unexpected arguments for {command}: {' '.join(extra)}"
                         + (" (reset takes only --yes)" if command == "reset" else ""))
    if command == "check":
        doc = store.check()
    elif command == "recover":
        doc = store.recover()
    else:
        doc = store.reset(confirm="--yes" in args)
    print(json.dumps(doc, indent=2, default=str))
    return 0 if doc.get("sound", True) else 1
