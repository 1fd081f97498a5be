# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""``daraja-sim``: run the simulator on a port until Ctrl-C or SIGTERM."""
import argparse
import signal
import threading

from .simulator import (
    DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET, SANDBOX_B2C_SHORTCODE,
    SANDBOX_INITIATOR_NAME, SANDBOX_INITIATOR_PASSWORD, SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE, Simulator)


def parse_arguments(argv=None):
    "Read the command line; defaults are the public sandbox values."
    parser = argparse.ArgumentParser(prog='daraja-sim',
        description='A local, stateful stand-in for Safaricom Daraja.')
    add = parser.add_argument
    add('--host', default='127.0.0.1')
    add('--port', type=int, default=8099)
    add('--consumer-key', default=DEFAULT_CONSUMER_KEY)
    add('--consumer-secret', default=DEFAULT_CONSUMER_SECRET)
    add('--shortcode', default=SANDBOX_SHORTCODE)
    add('--passkey', default=SANDBOX_PASSKEY)
    add('--till-number', default=None)
    add('--b2c-shortcode', default=SANDBOX_B2C_SHORTCODE)
    add('--initiator-name', default=SANDBOX_INITIATOR_NAME)
    add('--initiator-password', default=SANDBOX_INITIATOR_PASSWORD)
    add('--answer-delay', type=float, default=3.0, metavar='SECONDS',
        help='how long the virtual customer takes to answer (default 3)')
    add('--check-timestamp-minutes', type=float, default=None,
        help='refuse STK timestamps this far from Nairobi time')
    add('--no-charges', action='store_true',
        help="take no charges (default: Safaricom's tariff on each "
        'transaction, as rows of the statement)')
    add('--key-file', default=None,
        help='PEM file keeping the key pair across runs (created if absent)')
    add('--quiet', action='store_true', help='do not log each request')
    return parser.parse_args(argv)


def main(argv=None):
    "Start the simulator, print how to reach it, serve until stopped."
    arguments = parse_arguments(argv)
    simulator = Simulator(consumer_key=arguments.consumer_key,
        consumer_secret=arguments.consumer_secret,
        shortcode=arguments.shortcode, passkey=arguments.passkey,
        till_number=arguments.till_number,
        b2c_shortcode=arguments.b2c_shortcode,
        initiator_name=arguments.initiator_name,
        initiator_password=arguments.initiator_password,
        answer_delay=arguments.answer_delay,
        check_timestamp_minutes=arguments.check_timestamp_minutes,
        charges=not arguments.no_charges, key_file=arguments.key_file)
    simulator.start(arguments.host, arguments.port, quiet=arguments.quiet)
    print(f'Daraja simulator at {simulator.url}', flush=True)
    for label, value in (
            ('consumer key', simulator.consumer_key),
            ('consumer secret', simulator.consumer_secret),
            ('shortcode', simulator.shortcode),
            ('passkey', simulator.passkey),
            ('till number', simulator.till_number or '-'),
            ('B2C shortcode', simulator.b2c_shortcode),
            ('initiator name', simulator.initiator_name),
            ('initiator password', simulator.initiator_password),
            ('certificate', f'{simulator.url}/__sim__/certificate'),
            ('state', f'{simulator.url}/__sim__/state'),
            ('statement', f'{simulator.url}/__sim__/statement.csv'),
            ('charges', 'on' if simulator.charges else 'off')):
        print(f'  {label:<19} {value}', flush=True)
    stopped = threading.Event()
    # Both set here: a shell starting it in the background leaves SIGINT
    # ignored, and Python then installs no KeyboardInterrupt for it
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        simulator.stop()
        print('Daraja simulator stopped', flush=True)
