"""Turns: first come, first served, at most a few at once, inside one process.

The record's writers of one SQLite file take these turns one at a time (:mod:`record.sqlite_writes`), and
its queue claims on PostgreSQL a few at a time (``POSTLINE_CLAIMS_AT_ONCE``, :func:`record.claims.claim_turns`).
Why not a plain lock or semaphore: neither hands a freed slot to whoever waited longest, and under load the
unfairness was the tail of bench/queue.py's claim latency (bench/README.md).
"""

from __future__ import annotations

import threading
from collections import deque


class Turns:
    """First come, first served turns: at most ``slots`` holders at once; the others wait in line and are
    handed a freed turn in the order they came (a freed turn goes straight to the next in line, so a thread
    arriving just then cannot jump the queue)."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError("Turns needs at least one slot")
        self.slots = slots
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._free = slots

    def acquire(self, timeout: float) -> bool:
        """Take a turn, waiting up to ``timeout`` seconds; False: none came in time."""
        with self._mutex:
            if self._free:
                self._free -= 1
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        try:
            if turn.wait(timeout):
                return True
        except BaseException:      # interrupted while waiting (Ctrl-C): leave the line, passing on a turn just given
            with self._mutex:
                if not turn.is_set():
                    self._waiting.remove(turn)
                    raise
            self.release()
            raise
        with self._mutex:  # gave up waiting; unless the turn came just now
            if turn.is_set():
                return True
            self._waiting.remove(turn)
            return False

    def release(self) -> None:
        """Give a turn back: to the next in line, if anyone waits."""
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # handed straight to the next in line
            else:
                self._free += 1
