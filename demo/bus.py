# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Tryton's bus for the demo, whose server, cron and callbacks all run in
one process on SQLite (Tryton's own bus needs PostgreSQL's LISTEN/NOTIFY).

What a transaction publishes is kept with it and handed to the clients'
long polls when it commits, nothing when it rolls back: the same promise
as PostgreSQL's NOTIFY.  ``[bus] class = demo.bus.Bus`` selects it."""
import collections
import threading
import time
import uuid

Message = collections.namedtuple('Message', 'channel content timestamp')


class Delivery:
    """The messages one transaction published, delivered by its commit
    (a data manager of the transaction: one per transaction)"""

    def __init__(self, transaction):
        self.transaction = transaction
        self.messages = []

    def __eq__(self, other):
        return (isinstance(other, Delivery)
            and other.transaction is self.transaction)

    def __hash__(self):
        return id(self.transaction)

    def tpc_begin(self, transaction):
        pass

    def commit(self, transaction):
        pass

    def tpc_vote(self, transaction):
        pass

    def tpc_finish(self, transaction):
        Bus.deliver(self.messages)
        self.messages = []

    def tpc_abort(self, transaction):
        self.messages = []


class Bus:
    "The messages of the last minutes, and the long polls waiting for more"

    _changed = threading.Condition()
    _messages = []

    @classmethod
    def publish(cls, channel, message):
        "Publish message on channel when the current transaction commits"
        from trytond.transaction import Transaction
        transaction = Transaction()
        message = dict(message, message_id=str(uuid.uuid4()))
        delivery = transaction.join(Delivery(transaction))
        delivery.messages.append((channel, message))

    @classmethod
    def deliver(cls, messages):
        "Hand the messages of a committed transaction to the long polls"
        from trytond.config import getint
        now = time.time()
        oldest = now - getint('bus', 'cache_timeout')
        with cls._changed:
            cls._messages[:] = [
                m for m in cls._messages if m.timestamp >= oldest]
            cls._messages.extend(
                Message(c, m, now) for c, m in messages)
            cls._changed.notify_all()

    @classmethod
    def _next(cls, channels, last_message):
        """The message of channels after last_message; the first one when
        last_message is unknown (as Tryton's bus does); None if none"""
        found = last_message is None
        first = None
        for message in cls._messages:
            if message.channel not in channels:
                continue
            if found:
                return message
            first = first or message
            found = message.content['message_id'] == last_message
        return None if found else first

    @classmethod
    def subscribe(cls, database, channels, last_message=None):
        """The next message of channels after last_message, waiting for
        it up to the long polling timeout"""
        from trytond.config import getint
        timeout = getint('bus', 'long_polling_timeout')
        with cls._changed:
            cls._changed.wait_for(
                lambda: cls._next(channels, last_message), timeout)
            message = cls._next(channels, last_message)
        return {
            'channel': message.channel if message else None,
            'message': message.content if message else None,
            }
