#!/usr/bin/env python3
# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The newcomer's commands: ``python3 dev.py test`` and ``python3 dev.py demo``.

Both need only Python >= 3.10: they create a virtual environment in
``.venv`` and install the project with its test extras into it (again only
when ``setup.py`` or ``tryton.cfg`` changed).
"""
import argparse
import hashlib
import os
import socket
import subprocess
import sys
import urllib.parse
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, '.venv')
PYTHON = os.path.join(VENV, 'bin', 'python')
STAMP = os.path.join(VENV, '.account_mpesa-installed')
INSTALL_INPUTS = ['setup.py', 'modules/account_mpesa/tryton.cfg']
POSTGRESQL_URI = 'postgresql://127.0.0.1:5432/'


def step(message):
    print(f"==> {message}", flush=True)


def install_digest():
    digest = hashlib.sha256()
    for name in INSTALL_INPUTS:
        with open(os.path.join(ROOT, name), 'rb') as file:
            digest.update(file.read())
    return digest.hexdigest()


def ensure_venv():
    "Create .venv and install the project into it when needed"
    if sys.version_info < (3, 10):
        sys.exit("account_mpesa needs Python 3.10 or later")
    if not os.path.exists(PYTHON):
        step(f"Creating the virtual environment in {VENV}")
        venv.create(VENV, with_pip=True)
    digest = install_digest()
    if os.path.exists(STAMP):
        with open(STAMP) as file:
            if file.read() == digest:
                return
    step("Installing account_mpesa, Tryton 8.0 and the test tools "
        "(a few minutes the first time)")
    subprocess.run(
        [PYTHON, '-m', 'pip', 'install', '--disable-pip-version-check',
            '--progress-bar', 'off', '-q', '--upgrade', 'pip'],
        check=True)
    subprocess.run(
        [PYTHON, '-m', 'pip', 'install', '--disable-pip-version-check',
            '--progress-bar', 'off', '-e', f'{ROOT}[test,postgresql]'],
        check=True)
    with open(STAMP, 'w') as file:
        file.write(digest)


def postgresql_reachable(uri):
    parts = urllib.parse.urlsplit(uri)
    try:
        with socket.create_connection(
                (parts.hostname or '127.0.0.1', parts.port or 5432),
                timeout=2):
            return True
    except OSError:
        return False


def run_pytest(backend, uri, db_name, args):
    step(f"Running the tests on {backend}")
    env = dict(os.environ, TRYTOND_DATABASE_URI=uri, DB_NAME=db_name)
    return subprocess.run(
        [PYTHON, '-m', 'pytest'] + args, cwd=ROOT, env=env).returncode


def test(options):
    ensure_venv()
    if options.pytest_args[:1] == ['--']:
        del options.pytest_args[0]
    results = {}
    if options.backend in {'all', 'sqlite'}:
        results['SQLite'] = run_pytest(
            'SQLite', 'sqlite://', ':memory:', options.pytest_args)
    if options.backend in {'all', 'postgresql'}:
        uri = os.environ.get('POSTGRESQL_URI', POSTGRESQL_URI)
        if postgresql_reachable(uri):
            results['PostgreSQL'] = run_pytest(
                'PostgreSQL', uri, os.environ.get('DB_NAME_PG', 'test'),
                options.pytest_args)
        elif os.environ.get('CI') or options.backend == 'postgresql':
            print(f"PostgreSQL is not reachable at {uri}", file=sys.stderr)
            results['PostgreSQL'] = 1
        else:
            print(f"SKIPPED: PostgreSQL is not reachable at {uri}; its part "
                "of the tests (concurrency, row locks) did not run. "
                "Set POSTGRESQL_URI to point at a server.")
    for backend, code in results.items():
        print(f"{backend}: {'passed' if code == 0 else 'FAILED'}")
    return 0 if all(c == 0 for c in results.values()) else 1


def demo(options):
    """Run the demo (the ``demo`` package) in the virtual environment; on
    Ctrl-C let it stop its servers itself"""
    import signal

    from demo.options import to_argv

    ensure_venv()
    process = subprocess.Popen(
        [PYTHON, '-m', 'demo'] + to_argv(options), cwd=ROOT)
    # The terminal's Ctrl-C reaches the demo too: wait for its clean stop
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    test_parser = commands.add_parser(
        'test', help="run the test suite on SQLite and PostgreSQL")
    test_parser.add_argument(
        '--backend', choices=['all', 'sqlite', 'postgresql'], default='all')
    test_parser.add_argument(
        'pytest_args', nargs=argparse.REMAINDER,
        help="arguments given to pytest")
    test_parser.set_defaults(func=test)
    demo_parser = commands.add_parser(
        'demo', help="run the demo against the Daraja simulator")
    from demo.options import add_arguments as add_demo_arguments
    add_demo_arguments(demo_parser)
    demo_parser.set_defaults(func=demo)
    options = parser.parse_args()
    return options.func(options)


if __name__ == '__main__':
    sys.exit(main())
