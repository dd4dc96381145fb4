"""Indexes of the embedded store's in-memory collections (:mod:`pvatoms.fw.memstore`).

- :class:`EqualityIndex`: value -> documents holding it at a (dotted) field, a superset of
  MongoDB's equality matches (arrays index their elements, a missing field counts as None);
- :class:`ReadyQueue`: the documents with ``field == value`` best first by a sort field, as
  mongomock's ``sort=[(field, -1)]`` orders them (a heap with lazy removal).
"""

from __future__ import annotations

import datetime
import heapq
import math

from bson import ObjectId

_SIMPLE = (str, int, float, ObjectId, datetime.datetime, type(None))


def simple(value) -> bool:
    """A value an equality index can look up (hashable, with Python equality = MongoDB's)."""
    return isinstance(value, _SIMPLE) and not (isinstance(value, float) and math.isnan(value))


class EqualityIndex:
    """Equality index on one (dotted) field: value -> keys of the documents holding it. A superset
    of the matches: missing fields count as None, arrays index their elements, and documents of a
    shape the index cannot follow are always candidates."""

    def __init__(self, path: str):
        self.parts = path.split(".")
        self.buckets: dict = {}
        self.values_of: dict = {}
        self.always: set = set()

    def add(self, key, doc) -> None:
        """Index ``doc`` under ``key`` (replacing what was indexed under it)."""
        values: set = set()
        odd = self._collect(doc, 0, values)
        old = self.values_of.get(key)
        if old is not None:
            if old == values and odd == (key in self.always):
                return                    # e.g. a workflow rewritten with the same nodes
            self.remove(key)
        if odd:
            self.always.add(key)
        self.values_of[key] = values
        for v in values:
            self.buckets.setdefault(v, set()).add(key)

    def remove(self, key) -> None:
        self.always.discard(key)
        for v in self.values_of.pop(key, ()):
            bucket = self.buckets.get(v)
            if bucket is not None:
                bucket.discard(key)
                if not bucket:
                    del self.buckets[v]

    def _collect(self, node, i: int, out: set) -> bool:
        """Add the values at ``parts[i:]`` of ``node`` to ``out``; True for a shape not followed."""
        if i == len(self.parts):
            if isinstance(node, list):
                for item in node:
                    if isinstance(item, list):
                        return True
                    if simple(item):
                        out.add(item)
            elif simple(node):
                out.add(node)
            return False
        part = self.parts[i]
        if isinstance(node, dict):
            if part in node:
                return self._collect(node[part], i + 1, out)
            out.add(None)
            return False
        if isinstance(node, list):
            odd = False
            for item in node:
                if isinstance(item, dict):
                    odd |= self._collect(item, i, out)
                elif isinstance(item, list):
                    odd = True
            if part.isdigit() and int(part) < len(node):
                odd |= self._collect(node[int(part)], i + 1, out)
            out.add(None)
            return odd
        out.add(None)
        return False

    def candidates(self, values) -> set:
        out = set(self.always)
        for v in values:
            out |= self.buckets.get(v, set())
        return out


class ReadyQueue:
    """Documents whose ``field`` equals ``value``, best first by ``sort_field`` descending, ties in
    natural order (what mongomock's ``sort=[(sort_field, -1)]`` returns first). A heap with lazy
    removal; ``odd`` holds documents whose sort value is neither a number nor missing/None (the
    caller then asks mongomock instead)."""

    def __init__(self, field: str, value, sort_field: str):
        self.field, self.value, self.sort_parts = field, value, sort_field.split(".")
        self.clear()

    def clear(self) -> None:
        self.entries: dict = {}
        self.heap: list = []
        self.odd: set = set()

    def add(self, key, doc, seq: int) -> None:
        """(Re-)queue ``doc`` under ``key`` if it belongs here."""
        self.remove(key)
        if not isinstance(doc, dict) or self.field not in doc:
            return
        state = doc[self.field]
        if isinstance(state, list):
            self.odd.add(key)
            return
        if not (isinstance(state, type(self.value)) and state == self.value):
            return
        node = doc
        for part in self.sort_parts:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            rank = (1, 0)
        elif isinstance(node, (int, float)) and not isinstance(node, bool) and not math.isnan(node):
            rank = (0, -node)
        else:
            self.odd.add(key)
            return
        self.entries[key] = (rank, seq)
        heapq.heappush(self.heap, (rank, seq, key))
        if len(self.heap) > 2 * len(self.entries) + 64:
            self.heap = [(r, q, k) for k, (r, q) in self.entries.items()]
            heapq.heapify(self.heap)

    def remove(self, key) -> None:
        self.entries.pop(key, None)
        self.odd.discard(key)

    def best(self, accept, skip=()):
        """The key of the best document for which ``accept(key)`` holds, or None."""
        held = []
        try:
            while self.heap:
                rank, seq, key = self.heap[0]
                if self.entries.get(key) != (rank, seq):
                    heapq.heappop(self.heap)          # stale: the document changed since
                    continue
                if key in skip or not accept(key):
                    held.append(heapq.heappop(self.heap))
                    continue
                return key
            return None
        finally:
            for item in held:
                heapq.heappush(self.heap, item)



def eq_values(cond):
    """The values an equality condition (``v``, ``{\"$eq\": v}``, ``{\"$in\": [...]}``) accepts, or None."""
    if simple(cond):
        return [cond]
    if isinstance(cond, dict) and len(cond) == 1:
        (op, arg), = cond.items()
        if op == "$eq" and simple(arg):
            return [arg]
        if op == "$in" and isinstance(arg, (list, tuple)) and all(simple(x) for x in arg):
            return list(arg)
    return None
