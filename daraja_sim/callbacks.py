# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Background work: a delay scheduler on a thread pool, and the callback
dispatcher that applies the callback faults and records every attempt."""
import functools
import heapq
import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from . import clock

CALLBACK_TIMEOUT = 10
logger = logging.getLogger(__name__)


def _logged(job):
    "Run ``job``, logging what it raises (a pool would swallow it)."
    try:
        job()
    except Exception:
        logger.exception('background job failed')


class Scheduler:
    "Runs jobs on a thread pool, at once or after a delay."

    def __init__(self, workers=32):
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix='daraja-sim')
        self._queue = []
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._thread = None
        self._closed = False

    def call_later(self, delay, job):
        "Run ``job()`` on the pool after ``delay`` seconds."
        if delay <= 0:
            self._submit(job)
            return
        with self._condition:
            if self._closed:
                return
            heapq.heappush(self._queue,
                (time.monotonic() + delay, next(self._order), job))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run,
                    name='daraja-sim-scheduler', daemon=True)
                self._thread.start()
            self._condition.notify()

    def _submit(self, job):
        with self._condition:
            if not self._closed:
                self._pool.submit(_logged, job)

    def _run(self):
        with self._condition:
            while not self._closed:
                if not self._queue:
                    self._condition.wait()
                    continue
                wait = self._queue[0][0] - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                job = heapq.heappop(self._queue)[2]
                self._pool.submit(_logged, job)

    def clear(self):
        "Forget the jobs that are not due yet."
        with self._condition:
            self._queue.clear()

    def close(self):
        "Stop: pending jobs are dropped, running ones finish on their own."
        with self._condition:
            self._closed = True
            self._queue.clear()
            self._condition.notify()
        self._pool.shutdown(wait=False, cancel_futures=True)


class Dispatcher:
    "Posts callbacks the way the current faults say."

    def __init__(self, simulator):
        self._simulator = simulator

    def send(self, kind, url, payload, wait=False, timeout=CALLBACK_TIMEOUT):
        """Deliver ``payload`` to ``url``.

        With ``wait`` the delivery happens in this thread and the attempt
        records are returned (empty when dropped); otherwise it is
        scheduled and None is returned.
        """
        simulator = self._simulator
        with simulator.lock:
            faults = simulator.faults
            state = simulator.state
            dropped = faults.drop()
            copies = max(1, faults.duplicate_callbacks)
            concurrent = faults.concurrent_duplicates
            delay = faults.callback_delay
        if dropped:
            simulator.record(state, 'dropped', {'kind': kind, 'url': url,
                    'json': payload, 'time': clock.now()})
            return []
        deliver = functools.partial(self._deliver, state, kind, url, payload,
            copies, concurrent, timeout)
        if not wait:
            simulator.scheduler.call_later(delay, deliver)
            return None
        if delay:
            time.sleep(delay)
        return deliver()

    def _deliver(self, state, kind, url, payload, copies, concurrent,
            timeout):
        attempt = functools.partial(
            self._attempt, state, kind, url, payload, timeout)
        if not concurrent or copies == 1:
            return [attempt() for _ in range(copies)]
        barrier = threading.Barrier(copies)
        records = [None] * copies

        def run(index):
            barrier.wait()
            records[index] = attempt()
        threads = [threading.Thread(target=run, args=(i,), daemon=True)
            for i in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return records

    def _attempt(self, state, kind, url, payload, timeout):
        record = {'kind': kind, 'url': url, 'json': payload,
            'time': clock.now()}
        try:
            response = requests.post(url, json=payload, timeout=timeout)
        except requests.RequestException as error:
            record['error'] = str(error)
        else:
            record['status'] = response.status_code
            try:
                record['reply'] = response.json()
            except ValueError:
                record['reply'] = response.text
        self._simulator.record(state, 'callbacks', record)
        return record
