"""Stamp synchroniser for the mapper's inputs (pure Python; message_filters is not on PyPI).

One *anchor* stream (the semantic image: usually the slowest) drives matching. For every anchor message
the synchroniser picks, in each other stream, the message whose stamp is nearest, within
`tolerance_ns` (0 = exact stamps only). Required streams must all match; an optional stream (confidence,
depth) joins when it matches, is waited for only while it could still deliver a match (it has been seen,
and its newest stamp is not yet past the anchor + tolerance), and never holds a set back once the anchor
queue is full.

Queues are bounded; every message that is thrown away is counted and reported through `on_drop`
with the stream names that were missing, so the node can say "no camera_info for stamp ...".
Streams are assumed to arrive in stamp order each (the node rejects out-of-order stamps before `add`).
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class SyncedSet:
    """Messages of one instant: `msgs[stream]` for every matched stream (optional ones may be absent)."""

    stamp_ns: int  # the anchor's stamp
    msgs: dict[str, Any]


@dataclass
class SyncStats:
    emitted: int = 0
    dropped_overflow: int = 0  # pushed out of a full queue
    dropped_unmatched: int = 0  # could never be matched (a required stream went past it, or it went stale)
    missing: dict[str, int] = field(default_factory=dict)  # stream -> anchors dropped for lack of it


class StampSynchronizer:
    """Match messages of several streams by stamp; thread-safe; `add` never blocks on anything but a lock."""

    def __init__(self, required: list[str], optional: list[str] | None = None, tolerance_ns: int = 0,
                 queue_size: int = 10,
                 on_drop: Callable[[str, int, list[str], str], None] | None = None) -> None:
        """`required[0]` is the anchor. `on_drop(stream, stamp_ns, missing_streams, reason)` is called (under
        the lock; keep it short) for every dropped message."""
        if not required:
            raise ValueError("at least one required stream (the anchor) is needed")
        if tolerance_ns < 0 or queue_size < 1:
            raise ValueError(f"tolerance_ns must be >= 0 and queue_size >= 1, got {tolerance_ns}, {queue_size}")
        optional = list(optional or [])
        if len(set(required + optional)) != len(required) + len(optional):
            raise ValueError(f"stream names must be unique, got {required + optional}")
        self.anchor = required[0]
        self.required = list(required)
        self.optional = optional
        self.tolerance_ns = int(tolerance_ns)
        self.queue_size = int(queue_size)
        self.on_drop = on_drop
        self.stats = SyncStats()
        self._queues: dict[str, deque[tuple[int, Any]]] = {s: deque() for s in self.required + self.optional}
        self._seen: set[str] = set()
        self._last_anchor_ns: int | None = None
        self._lock = threading.Lock()

    def add(self, stream: str, stamp_ns: int, msg: Any) -> list[SyncedSet]:
        """Queue one message; return the sets completed by it (oldest first, usually zero or one)."""
        if stream not in self._queues:
            raise KeyError(f"unknown stream '{stream}'; known: {sorted(self._queues)}")
        with self._lock:
            queue = self._queues[stream]
            self._seen.add(stream)
            queue.append((int(stamp_ns), msg))
            if stream == self.anchor:
                self._last_anchor_ns = int(stamp_ns)
            overflow = len(queue) > self.queue_size
            out = self._match(force_oldest=overflow and stream == self.anchor)
            self._prune()
            if len(queue) > self.queue_size:
                old_stamp, _ = queue.popleft()
                self.stats.dropped_overflow += 1
                missing = self._missing_for(old_stamp) if stream == self.anchor else []
                self._drop(stream, old_stamp, missing, "queue full")
            return out

    def clear(self) -> None:
        with self._lock:
            for q in self._queues.values():
                q.clear()

    # --------------------------------------------------------------------------------------------- internal
    def _nearest(self, stream: str, stamp_ns: int) -> int | None:
        """Index of the message of `stream` nearest to `stamp_ns` within tolerance, or None."""
        best, best_dt = None, None
        for i, (s, _) in enumerate(self._queues[stream]):
            dt = abs(s - stamp_ns)
            if dt <= self.tolerance_ns and (best_dt is None or dt < best_dt):
                best, best_dt = i, dt
        return best

    def _could_still_match(self, stream: str, stamp_ns: int) -> bool:
        """A later message of `stream` may still fall within tolerance of `stamp_ns`."""
        q = self._queues[stream]
        return not q or q[-1][0] <= stamp_ns + self.tolerance_ns

    def _missing_for(self, stamp_ns: int) -> list[str]:
        return [s for s in self.required[1:] if self._nearest(s, stamp_ns) is None]

    def _drop(self, stream: str, stamp_ns: int, missing: list[str], reason: str) -> None:
        for m in missing:
            self.stats.missing[m] = self.stats.missing.get(m, 0) + 1
        if self.on_drop is not None:
            self.on_drop(stream, stamp_ns, missing, reason)

    def _prune(self) -> None:
        """Forget messages of other streams older than every anchor that is queued or may still come.

        They are unused rather than dropped (a 30 Hz colour stream against a 5 Hz segmenter), so not counted.
        """
        anchors = self._queues[self.anchor]
        floor = anchors[0][0] if anchors else self._last_anchor_ns
        if floor is None:
            return
        for s, q in self._queues.items():
            if s != self.anchor:
                while q and q[0][0] < floor - self.tolerance_ns:
                    q.popleft()

    def _match(self, force_oldest: bool) -> list[SyncedSet]:
        out: list[SyncedSet] = []
        anchors = self._queues[self.anchor]
        while anchors:
            stamp, anchor_msg = anchors[0]
            picks: dict[str, int] = {}
            blocked = False
            for s in self.required[1:]:
                i = self._nearest(s, stamp)
                if i is None:
                    if not self._could_still_match(s, stamp):  # the stream went past this anchor: never matches
                        anchors.popleft()
                        self.stats.dropped_unmatched += 1
                        self._drop(self.anchor, stamp, self._missing_for(stamp) or [s], "no match")
                        blocked = None  # type: ignore[assignment]
                    else:
                        blocked = True
                    break
                picks[s] = i
            if blocked is None:
                continue
            if blocked:
                break
            # a nearer required message may still come: wait unless the stream's newest is already past the anchor
            if any(self._queues[s][-1][0] < stamp and picks[s] == len(self._queues[s]) - 1 and
                   self._queues[s][picks[s]][0] != stamp for s in picks) and not force_oldest:
                break
            for s in self.optional:
                i = self._nearest(s, stamp)
                if i is not None:
                    picks[s] = i
                elif s in self._seen and self._could_still_match(s, stamp) and not force_oldest:
                    blocked = True
            if blocked:
                break
            anchors.popleft()
            msgs = {self.anchor: anchor_msg}
            for s, i in picks.items():
                q = self._queues[s]
                msgs[s] = q[i][1]
                for _ in range(i + 1):  # the match and everything older can never be used again
                    q.popleft()
            self.stats.emitted += 1
            out.append(SyncedSet(stamp_ns=stamp, msgs=msgs))
            force_oldest = False
        return out
