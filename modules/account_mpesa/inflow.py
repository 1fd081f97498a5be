# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The pace at which callbacks come in, for the queued settlement to give
way to the answering of a burst: on the same machine, every millisecond
the settlement takes is one the answers to Daraja wait for."""
import time
from collections import deque


class Inflow:
    """The callbacks coming in, seen through the newest id of the inbox
    (``newest``, a function).  Between two batches, the settlement waits
    while more than ``rate`` callbacks a second came in over the last
    ``span`` seconds (so that a stall of the senders shorter than that
    does not end a burst), at most ``pause`` seconds in a row, looking
    every ``look`` seconds; so a flood still gets a batch settled at least
    every ``pause`` seconds.  At the first look, the callbacks after
    ``first`` (the one that started the run) count as come in the last
    ``look``: a run started by a burst gives way before its first batch,
    one started by a lone callback does not."""

    def __init__(self, newest, rate, pause, first=None, look=0.1, span=0.5,
            clock=time.monotonic, sleep=time.sleep):
        self.newest, self.rate, self.pause, self.first = (
            newest, rate, pause, first)
        self.look, self.span = look, span
        self.clock, self.sleep = clock, sleep
        # The time and the newest id of the looks, from the last one at
        # least span seconds old
        self.looks = deque()

    def pace(self):
        "The callbacks a second over the last span (or since the last look)"
        now, newest = self.clock(), self.newest()
        while len(self.looks) > 1 and now - self.looks[1][0] >= self.span:
            self.looks.popleft()
        if self.looks:
            then, before = self.looks[0]
        else:
            then, before = now - self.look, (
                newest if self.first is None else self.first)
        self.looks.append((now, newest))
        return (newest - before) / max(now - then, self.look / 10)

    def give_way(self):
        """Wait while the callbacks come in faster than the rate, at most
        the pause; return the seconds waited"""
        start = self.clock()
        while self.pace() > self.rate:
            left = self.pause - (self.clock() - start)
            if left < self.look / 10:
                break
            self.sleep(min(self.look, left))
        return self.clock() - start
