# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The pace at which callbacks come in, for the queued settlement to give
way to the answering of a burst: on the same machine, every millisecond
the settlement takes is one the answers to Daraja wait for."""
import time


class Inflow:
    """The callbacks coming in, seen through the newest id of the inbox
    (``newest``, a function).  Between two batches, the settlement waits
    while more than ``rate`` callbacks a second come in, at most ``pause``
    seconds in a row, looking again every ``look`` seconds; so a flood
    still gets a batch settled at least every ``pause`` seconds.  At the
    first look, the callbacks after ``first`` (the one that started the
    run) count as come in the last ``look``: a run started by a burst
    gives way before its first batch, one started by a lone callback
    does not."""

    def __init__(self, newest, rate, pause, first=None, look=0.1,
            clock=time.monotonic, sleep=time.sleep):
        self.newest, self.rate, self.pause, self.first, self.look = (
            newest, rate, pause, first, look)
        self.clock, self.sleep = clock, sleep
        # The time and the newest id of the last look
        self.last = None

    def pace(self):
        "The callbacks a second since the last look"
        now, newest = self.clock(), self.newest()
        if self.last is not None:
            then, before = self.last
            window = max(now - then, self.look / 10)
        else:
            before, window = (
                newest if self.first is None else self.first), self.look
        self.last = now, newest
        return (newest - before) / window

    def give_way(self):
        """Wait while the callbacks come in faster than the rate, at most
        the pause; return the seconds waited"""
        start = self.clock()
        while self.pace() > self.rate:
            left = self.pause - (self.clock() - start)
            if left <= 0:
                break
            self.sleep(min(self.look, left))
        return self.clock() - start
