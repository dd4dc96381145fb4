"""The embedded store itself: indexed queries answer exactly as mongomock does, checkout picks what
FireWorks picks, a store of the first format is converted without loss, damaged stores are
reported (never reset), torn journal ends and compactions are handled, and readers in other
processes never see a torn or reset store while launchers, submitters and compactions run."""

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import bson.json_util
import mongomock
import pytest
from fireworks import Firework, FWorker, PyTask, Workflow

from conftest import PVATOMS
from pvatoms.errors import InputError
from pvatoms.fw import journal as jf
from pvatoms.fw import memstore
from pvatoms.fw import store as store_module
from pvatoms.fw.launcher import checkout, launch
from pvatoms.fw.launchpads import Target
from pvatoms.fw.operations import status
from pvatoms.fw.store import EmbeddedStore

#: A store written by the first store format (commit 63fcdc6, launchpad.json only): a CHGNet study
#: (2 statics + 2 duplicates), a FireWorks workflow with a child, a fizzled, a defused firework and
#: one RUNNING whose launcher died (owner pid gone). 9 fireworks, 8 launches, 3 workflows.
V1_STORE = Path(__file__).resolve().parent / "data" / "store_v1" / "launchpad.json"


@pytest.fixture(autouse=True)
def quiet_rockets():
    import fireworks.core.rocket as rocket_module
    from fireworks.utilities import fw_serializers
    # FireWorks finds a task class named without its module (PyTask) by importing all its own
    # modules, its test modules included, whose unregistered pytest marks fail under pytest's
    # --strict-markers: say where PyTask lives (what FireWorks would remember after that search)
    fw_serializers.SAVED_FW_MODULES.setdefault("PyTask", "fireworks.user_objects.firetasks.script_task")
    level = rocket_module.ROCKET_STREAM_LOGLEVEL
    rocket_module.ROCKET_STREAM_LOGLEVEL = "ERROR"
    yield
    rocket_module.ROCKET_STREAM_LOGLEVEL = level


def trivial(n, name="t", priority=None):
    spec = {} if priority is None else {"_priority": priority}
    return [Firework(PyTask(func="time.time"), name=f"{name}{i}", spec=dict(spec)) for i in range(n)]


def other_process(store):
    """What another process would see: this process forgets its copy of the store."""
    store_module._forget(store)


# -- the indexed mongomock -------------------------------------------------------------------------

def _random_docs(rng, n):
    values = [0, 1, 2, 2.0, True, False, None, "a", "b", "READY", [1, 2], [2, 3], [], [[1]], {"x": 1}]
    docs = []
    for i in range(n):
        d = {"i": i, "nodes": rng.sample(range(20), rng.randint(0, 4))}
        for key in ("a", "state"):
            if rng.random() < 0.85:
                d[key] = rng.choice(values)
        if rng.random() < 0.8:
            d["spec"] = {"h": rng.choice(["x", "y", None, 1]), "_priority": rng.choice([0, 1, 5, None])}
        if rng.random() < 0.3:
            d["hist"] = [{"r": rng.choice([1, 2, None])}, {"q": 1}]
        docs.append(d)
    return docs


QUERIES = [{"a": v} for v in (0, 1, 2, 2.0, True, None, "a", "READY", 7)] + [
    {"nodes": 3}, {"nodes": {"$in": [1, 19]}}, {"spec.h": "x"}, {"spec.h": None}, {"spec.h": 1},
    {"hist.r": 2}, {"hist.r": None}, {"a": {"$eq": 2}}, {"a": {"$in": [1, "b", None]}}, {"a": {"$in": []}},
    {"a": [1, 2]}, {"a": {"x": 1}}, {"a": 1, "i": {"$gt": 50}}, {"state": "READY", "$or": [{"a": 1}, {"a": None}]},
    {"a": float("nan")}, {"spec._priority": 5}, {"i": 17}, {}]


def test_indexed_queries_and_writes_answer_exactly_as_mongomock():
    rng = random.Random(7)
    docs = _random_docs(rng, 120)
    plain = mongomock.MongoClient().db.c
    fast = memstore.IndexedClient(memstore.IndexedServerStore()).db.c
    plain.insert_many([dict(d) for d in docs])
    fast.insert_many([dict(d) for d in docs])

    def strip(docs):                    # the _ids differ between the two; their place must not
        return [[(k, None if k == "_id" else v) for k, v in d.items()] for d in docs]

    def same(sorted_too=True):
        for q in QUERIES:
            want = [d["i"] for d in plain.find(q, {"i": 1})]
            assert [d["i"] for d in fast.find(q, {"i": 1})] == want, q
            assert (fast.find_one(q) or {}).get("i") == (plain.find_one(q) or {}).get("i"), q
        for q, proj, sort in [] if not sorted_too else [({}, {"i": 1, "a": 1}, [("i", -1)]), ({}, None, [("a", 1), ("i", -1)]),
                              ({"a": 1}, {"state": 1, "_id": 0}, [("state", 1)]), ({}, {"nodes": True}, [("i", 1)]),
                              ({}, {"a": 0}, None), ({}, {"spec.h": 1}, [("spec.h", 1)])]:
            assert strip(fast.find(q, proj, sort=sort)) == strip(plain.find(q, proj, sort=sort)), (q, proj, sort)
    same()
    for step in range(90):                       # the same writes on both, then the same answers
        i = rng.randrange(120)
        kind = step % 6
        value = rng.choice([1, "a", None, [5]])
        for col in (plain, fast):
            if kind == 0:
                col.update_one({"i": i}, {"$set": {"a": value}})
            elif kind == 1:
                col.find_one_and_replace({"i": i}, {"i": i, "a": "READY", "nodes": [step % 20]})
            elif kind == 2:
                col.find_one_and_update({"i": i}, {"$set": {"state": "RUNNING"}, "$unset": {"a": ""}})
            elif kind == 3:
                col.update_many({"a": 1}, {"$push": {"nodes": 11}})
            elif kind == 4:
                col.delete_one({"i": i})
            else:
                col.insert_one({"i": 1000 + step, "a": 2, "nodes": [step % 20]})
        same(sorted_too=step % 15 == 0)
    for op in ("replace", "update"):                 # fast paths return what mongomock returns
        args = ({"i": 1000 + 5}, {"i": 1005, "z": 1}) if op == "replace" else ({"i": 1005}, {"$inc": {"n": 2}})
        got = [getattr(col, f"find_one_and_{op}")(*args) for col in (plain, fast)]
        assert {k: v for k, v in got[0].items() if k != "_id"} == {k: v for k, v in got[1].items() if k != "_id"}


def test_checkout_picks_the_firework_fireworks_would_pick(tmp_path):
    """Priorities, ties (natural order), categories and worker names: the store's READY queue
    hands out fireworks in the order FireWorks' own query + sort does on plain mongomock."""
    def wfs():
        out = []
        for k in range(12):
            spec = {"_priority": [3, None, 1, 3, 0, 5, 1][k % 7]}
            if k % 5 == 0:
                spec["_category"] = "gpu"
            if k % 4 == 1:
                spec["_fworker"] = "other"
            out.append(Workflow([Firework(PyTask(func="time.time"), name=f"w{k}", spec=spec)], name=f"w{k}"))
        return out
    store = EmbeddedStore(tmp_path / "s")
    with store.launchpad() as lp:
        for wf in wfs():
            lp.add_wf(wf)
    from fireworks.core import launchpad as lp_module
    original = lp_module.MongoClient
    lp_module.MongoClient = mongomock.MongoClient
    try:
        ref = lp_module.LaunchPad(name="ref", strm_lvl="ERROR")
    finally:
        lp_module.MongoClient = original
    ref.reset("", require_password=False)
    for wf in wfs():
        ref.add_wf(wf)
    for worker in (FWorker(name="me"), FWorker(name="other", category="gpu"), FWorker(name="any")):
        while True:
            want, _ = ref.checkout_fw(worker, str(tmp_path))
            with store.launchpad() as lp:
                got, _ = checkout(lp, worker, str(tmp_path))
            assert (got and got.name) == (want and want.name)
            if want is None:
                break


# -- conversion of the first format --------------------------------------------------------------

def test_store_of_the_first_format_is_read_as_is_and_converted_without_loss(tmp_path, run_cli):
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copy(V1_STORE, folder / "launchpad.json")
    original = (folder / "launchpad.json").read_bytes()
    st = status(Target(folder))                                  # a reader: changes nothing
    assert st["counts"] == {"COMPLETED": 6, "RUNNING": 1, "FIZZLED": 1, "DEFUSED": 1}
    assert len(st["workflows"]) == 3
    assert (folder / "launchpad.json").read_bytes() == original
    assert not (folder / "journal.bin").exists() and not (folder / "backup").exists()
    store = EmbeddedStore(folder)
    with store.launchpad(write=False) as lp:
        assert lp.launches.count_documents({}) == 8
    out = launch(store)                                          # the dead launcher's firework reruns
    assert out["rerun_lost"] == [6] and out["completed"] == [6]
    assert (folder / "backup" / "launchpad-v1.json").read_bytes() == original
    other_process(store)
    st = status(Target(folder))
    assert st["counts"] == {"COMPLETED": 7, "FIZZLED": 1, "DEFUSED": 1}
    by_name = {f["name"]: f for f in st["fireworks"]}
    assert by_name["cubic"]["launches"] == 1 and by_name["plain-lost"]["reruns"] == 2   # rerun in the v1 store, then now
    with store.launchpad() as lp:
        assert lp.launches.count_documents({}) == 9
        assert list(lp.add_wf(Workflow(trivial(1))).values()) == [10]   # the id counters carry on
    assert json.loads(run_cli("fw", "--store", folder, "check").stdout)["fireworks"] == 10
    assert run_cli("fw", "--store", folder, "lpad", "get_fws", "-d", "count").stdout.strip().splitlines()[-1] == "10"


# -- damage: reported, never reset -----------------------------------------------------------------

def _v1():
    return json.loads(V1_STORE.read_text())


def _without(collection):
    data = _v1()
    del data["pvatoms"][collection]
    return json.dumps(data)


def _counter(value):
    data = _v1()
    data["pvatoms"]["fw_id_assigner"]["documents"][0][1]["next_fw_id"] = value
    return json.dumps(data)


#: (case, launchpad.json contents, words of the report, what `recover` gives: fireworks or None)
DAMAGED = [
    ("no id counters", _without("fw_id_assigner"), "lacks the id counters", 9),
    ("id counter behind", _counter(3), "is not above the largest fw_id", 9),
    ("empty {}", "{}", "holds no database at all", None),
    ("no pvatoms database", '{"fireworks": {}}', "has no 'pvatoms' database", None),
    ("torn JSON", V1_STORE.read_text()[:4000], "is not valid JSON", None),
    ("empty file", "", "is empty", None),
    ("whitespace", "\n\n", "is empty", None),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "is not text", None),
    ("NUL bytes", "\x00" * 64, "is not text", None),
    ("JSON list", "[1, 2, 3]", "holds a JSON list", None),
    ("malformed collection", '{"pvatoms": {"fireworks": [1]}}', "is malformed", None),
]


@pytest.mark.parametrize("case,content,words,recovered", DAMAGED, ids=[c[0] for c in DAMAGED])
def test_damaged_store_is_reported_and_left_alone(tmp_path, case, content, words, recovered):
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / "launchpad.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    before = sorted(p.name for p in folder.iterdir()), (folder / "launchpad.json").read_bytes()
    store = EmbeddedStore(folder)
    for access in (lambda: status(Target(folder)), lambda: store.launchpad().__enter__(), store.read,
                   lambda: launch(store)):
        with pytest.raises(InputError, match=words) as err:
            access()
        assert "recover" in str(err.value) or "reset --yes" in str(err.value)
        assert (folder / "launchpad.json").read_bytes() == before[1]
    assert sorted(p.name for p in folder.iterdir() if p.name != "lock") == [n for n in before[0] if n != "lock"]
    if recovered is None:
        with pytest.raises(InputError, match="no good copy"):
            store.recover()
        store.reset(confirm=True)                     # the explicit way out; the old file is kept
        assert status(Target(folder))["counts"] == {}
        kept = list(folder.glob("reset-*/launchpad.json"))
        assert len(kept) == 1 and kept[0].read_bytes() == before[1]
    else:
        doc = store.recover()
        assert doc["recovered"] and doc["fireworks"] == recovered
        assert len(status(Target(folder))["fireworks"]) == recovered
        with store.launchpad() as lp:                 # new ids do not collide
            assert list(lp.add_wf(Workflow(trivial(1))).values()) == [10]


def test_reader_process_reports_a_store_without_counters_and_never_resets_it(tmp_path):
    """`pvatoms status` used to reset such a store (every workflow gone, exit 0)."""
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / "launchpad.json").write_text(_without("fw_id_assigner"))
    before = (folder / "launchpad.json").read_bytes()
    for args in (["status", "--store", folder], ["status", "--store", folder, "--json"],
                 ["launch", "--store", folder], ["fw", "--store", folder, "lpad", "get_fws"]):
        proc = subprocess.run(PVATOMS + [str(a) for a in args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "lacks the id counters" in proc.stderr and "recover" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert (folder / "launchpad.json").read_bytes() == before
    proc = subprocess.run(PVATOMS + ["fw", "--store", str(folder), "check"], capture_output=True, text=True)
    assert proc.returncode == 1 and json.loads(proc.stdout)["recoverable"]["fireworks"] == 9


@pytest.mark.parametrize("case", ["torn JSON", "empty file", "binary", "empty {}"])
def test_command_line_reports_a_damaged_store_without_a_traceback(tmp_path, case):
    content, words = next((c, w) for name, c, w, _ in DAMAGED if name == case)
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / "launchpad.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    proc = subprocess.run(PVATOMS + ["status", "--store", str(folder)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_reset_needs_confirmation(tmp_path):
    store = EmbeddedStore(tmp_path / "s")
    with store.launchpad() as lp:
        lp.add_wf(Workflow(trivial(3)))
    with pytest.raises(InputError, match="confirm with --yes"):
        store.reset()
    assert len(status(Target(store.path))["fireworks"]) == 3
    proc = subprocess.run(PVATOMS + ["fw", "--store", str(store.path), "reset"], capture_output=True, text=True)
    assert proc.returncode == 2 and len(status(Target(store.path))["fireworks"]) == 3


def _format2_store(tmp_path, n_txn=6):
    store = EmbeddedStore(tmp_path / "s")
    for k in range(n_txn):
        with store.launchpad() as lp:
            lp.add_wf(Workflow(trivial(2, name=f"w{k}-"), name=f"w{k}"))
    return store


def test_damaged_journal_is_reported_and_recovered_up_to_the_damage(tmp_path):
    store = _format2_store(tmp_path)
    head = jf.read_header(store.journal)
    records = jf.read_journal(store.journal, head["_end"]).records
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6]
    raw = bytearray(store.journal.read_bytes())
    third = head["_end"] + sum(len(jf.encode_record(r)) for r in records[:3])
    raw[third + 40] ^= 0xFF                                   # one flipped byte in record 4
    store.journal.write_bytes(bytes(raw))
    other_process(store)
    with pytest.raises(InputError, match="journal.bin checksum mismatch") as err:
        status(Target(store.path))
    assert "restores the snapshot and the readable part of the journal" in str(err.value)
    doc = store.recover()
    assert doc["fireworks"] == 6 and doc["workflows"] == 3          # transactions 1-3
    assert {w["name"] for w in status(Target(store.path))["workflows"]} == {"w0", "w1", "w2"}
    assert list(store.path.glob("damaged-*/journal.bin"))


def test_damaged_snapshot_is_recovered_from_the_backup_and_the_journals(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "COMPACT_BYTES", 1)          # fold the journal at every write
    store = _format2_store(tmp_path, n_txn=4)
    monkeypatch.setattr(store_module, "COMPACT_BYTES", 2 ** 30)
    with store.launchpad() as lp:
        lp.add_wf(Workflow(trivial(2, name="late-"), name="late"))    # only in the journal
    assert (store.backup / "launchpad.json").exists() and (store.backup / "journal.bin").exists()
    store.file.write_text(store.file.read_text()[:100])              # torn snapshot
    other_process(store)
    with pytest.raises(InputError, match="launchpad.json is not valid JSON") as err:
        status(Target(store.path))
    assert "the last good snapshot (backup) and the journals" in str(err.value)
    doc = store.recover()
    assert doc["fireworks"] == 10
    assert {w["name"] for w in status(Target(store.path))["workflows"]} == {"w0", "w1", "w2", "w3", "late"}


def test_missing_journal_or_snapshot_is_damage_not_a_new_store(tmp_path):
    store = _format2_store(tmp_path, n_txn=2)
    store.journal.unlink()
    other_process(store)
    with pytest.raises(InputError, match="journal.bin is missing"):
        status(Target(store.path))
    store = _format2_store(tmp_path / "b", n_txn=2)
    store.file.unlink()
    other_process(store)
    with pytest.raises(InputError, match="launchpad.json is missing"):
        with store.launchpad():
            pass
    assert not store.file.exists()


# -- the journal under crashes and compactions ---------------------------------------------------

def test_torn_last_record_is_ignored_and_cut_off_by_the_next_writer(tmp_path):
    store = _format2_store(tmp_path, n_txn=3)
    good = store.journal.stat().st_size
    rec = jf.encode_record(jf.txn_record(4, [{"o": "del", "db": "pvatoms", "c": "fireworks", "id": 1}]))
    with open(store.journal, "ab") as fh:
        fh.write(rec[: len(rec) // 2])                             # a crash in the middle of an append
    other_process(store)
    assert len(status(Target(store.path))["fireworks"]) == 6
    with store.launchpad() as lp:
        lp.add_wf(Workflow(trivial(1), name="after"))
    records = jf.read_journal(store.journal, jf.read_header(store.journal)["_end"]).records
    assert [r["seq"] for r in records] == [1, 2, 3, 4] and store.journal.stat().st_size > good
    other_process(store)
    assert len(status(Target(store.path))["fireworks"]) == 7


def test_other_processes_follow_compactions_without_reloading(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "COMPACT_BYTES", 1)
    store = _format2_store(tmp_path, n_txn=1)
    reader = store_module._Replica(store)                            # another process's copy
    with store.locked(shared=True):
        reader.sync()
    server = reader.server
    for k in range(3):
        with store.launchpad() as lp:                                # each write compacts
            lp.add_wf(Workflow(trivial(1, name=f"x{k}-")))
        with store.locked(shared=True):
            reader.sync()
        assert reader.server is server                               # followed, not reloaded
        assert len(reader.server[jf.DB]["fireworks"]) == 3 + k
    assert reader.generation == store_module._replica(store).generation


# -- real processes --------------------------------------------------------------------------------

READER = textwrap.dedent("""
    import json, os, sys
    from pvatoms.fw import store as S
    from pvatoms.fw.launchpads import Target
    from pvatoms.fw.operations import status
    path, out, cold, stop = sys.argv[1:5]
    with open(out, "w") as fh:
        while not os.path.exists(stop):
            if cold == "1":
                S._forget(S.EmbeddedStore(path))
            st = status(Target(path))
            launches = sum(f["launches"] + f["reruns"] for f in st["fireworks"])
            fh.write(json.dumps({"n": len(st["fireworks"]), "counts": st["counts"], "launches": launches}) + "\\n")
            fh.flush()
""")
SUBMITTER = textwrap.dedent("""
    import sys, time
    from fireworks import Firework, PyTask, Workflow
    from pvatoms.fw.store import EmbeddedStore
    store = EmbeddedStore(sys.argv[1])
    for k in range(int(sys.argv[2])):
        with store.launchpad() as lp:
            lp.add_wf(Workflow([Firework(PyTask(func="time.sleep", args=[0.005]), name=f"late{k}-{i}")
                                for i in range(5)], name=f"late{k}"))
        time.sleep(0.1)
""")


@pytest.mark.slow
def test_readers_never_see_a_torn_or_reset_store_while_launchers_submit_and_compact(tmp_path):
    folder = tmp_path / "store"
    store = EmbeddedStore(folder)
    with store.launchpad() as lp:
        lp.add_wf(Workflow([Firework(PyTask(func="time.sleep", args=[0.005]), name=f"f{i}") for i in range(120)],
                           name="first"))
    env = dict(os.environ, PVATOMS_STORE_COMPACT_BYTES="60000", OMP_NUM_THREADS="1")   # compact often
    stop = tmp_path / "stop"
    py = [sys.executable, "-c"]
    readers = [subprocess.Popen(py + [READER, str(folder), str(tmp_path / f"r{cold}.jsonl"), str(cold), str(stop)],
                                env=env, stderr=subprocess.PIPE, text=True) for cold in (0, 1)]
    submitter = subprocess.Popen(py + [SUBMITTER, str(folder), "12"], env=env, stderr=subprocess.PIPE, text=True)
    launchers = [subprocess.Popen(PVATOMS + ["launch", "--store", str(folder), "--quiet"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for p in [submitter] + launchers:
            assert p.wait(timeout=400) == 0, p.stderr.read()[-3000:]
        last = subprocess.run(PVATOMS + ["launch", "--store", str(folder), "--quiet"], env=env,
                              capture_output=True, text=True, timeout=400)
        assert last.returncode == 0, last.stderr[-3000:]
    finally:
        stop.touch()
        for p in readers:
            p.wait(timeout=120)
    for p in readers:
        assert p.returncode == 0, p.stderr.read()[-3000:]
    for cold in (0, 1):
        lines = (tmp_path / f"r{cold}.jsonl").read_text().splitlines()
        assert len(lines) >= 5
        seen = [json.loads(line) for line in lines]
        for a, b in zip(seen, seen[1:]):          # nothing ever goes away
            assert b["n"] >= a["n"] >= 120 and b["launches"] >= a["launches"]
            assert b["counts"].get("COMPLETED", 0) >= a["counts"].get("COMPLETED", 0)
    other_process(store)
    final = status(Target(folder))
    assert len(final["fireworks"]) == 180
    assert all(f["state"] == "COMPLETED" and f["launches"] == 1 and f["reruns"] == 0 for f in final["fireworks"])
    assert jf.read_header(store.journal)["generation"] > 2                 # compactions happened
    with store.launchpad(write=False) as lp:
        assert lp.launches.count_documents({}) == 180
    assert bson.json_util.loads(store.file.read_text())["pvatoms"]["fireworks"]["documents"]


def test_a_fireworks_tool_that_changes_the_store_is_seen_by_running_processes(tmp_path, run_cli):
    store = _format2_store(tmp_path, n_txn=2)
    reader = store_module._Replica(store)                            # another process's copy
    with store.locked(shared=True):
        reader.sync()
    before = store.file.read_bytes()
    run_cli("fw", "--store", store.path, "lpad", "get_fws", "-d", "count")   # reads only: no new snapshot
    assert store.file.read_bytes() == before
    run_cli("fw", "--store", store.path, "lpad", "defuse_fws", "-i", "1")
    with store.locked(shared=True):
        reader.sync()
    states = {d["fw_id"]: d["state"] for d in reader.server[jf.DB]["fireworks"]._documents.values()}
    assert states[1] == "DEFUSED" and len(states) == 4
    assert (store.backup / "launchpad.json").exists()               # the state before the tool
