# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The demo's SQLite database: its configuration file, its creation by
``trytond-admin`` with the modules activated, and the mark that says it
was completely set up (a database left half-built is created again)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from . import console, settings

ADMIN = 'import sys; from trytond.cli.admin import main; sys.exit(main())'
MODULE_LOADED = re.compile(r' INFO trytond\.modules (\w+) load$')
# Variables that would point Tryton elsewhere than the demo's database
FOREIGN_VARIABLES = re.compile(
    r'^(TRYTOND_CONFIG|TRYTOND_DATABASE.*|TRYTOND_WEB__.*|DB_NAME|DB_CACHE)$')


class Database:
    "The files of the demo under data_dir"

    def __init__(self, data_dir):
        self.data_dir = os.path.abspath(data_dir)
        self.path = os.path.join(self.data_dir, 'db')
        self.file = os.path.join(self.path, settings.DATABASE + '.sqlite')
        self.config_file = os.path.join(self.data_dir, 'trytond.conf')
        self.mark = os.path.join(self.path, 'ready')

    @property
    def ready(self):
        "Whether the database exists and was completely set up"
        return os.path.exists(self.mark) and os.path.exists(self.file)

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)

    def mark_ready(self):
        with open(self.mark, 'w') as file:
            file.write('ok\n')

    def write_config(self, port, web_root=None):
        """Write the trytond configuration: SQLite in data_dir, the server
        on loopback, the web client's folder when there is one, and the
        bus the clients listen to for notifications (demo.bus)"""
        os.makedirs(self.path, exist_ok=True)
        lines = [
            '[database]',
            'uri = sqlite://',
            f'path = {self.path}',
            '',
            '[web]',
            f'listen = 127.0.0.1:{port}',
            ]
        if web_root:
            lines.append(f'root = {web_root}')
        lines += [
            '',
            '[bus]',
            'allow_subscribe = True',
            'class = demo.bus.Bus',
            ]
        with open(self.config_file, 'w') as file:
            file.write('\n'.join(lines) + '\n')

    def create(self):
        """Create the database and activate the modules with trytond-admin,
        showing each module as it is loaded"""
        os.makedirs(self.path, exist_ok=True)
        open(self.file, 'w').close()
        with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
            passfile.write(settings.PASSWORD + '\n')
            passfile.flush()
            env = clean_environment()
            env['TRYTONPASSFILE'] = passfile.name
            command = [
                sys.executable, '-c', ADMIN, '-c', self.config_file,
                '-d', settings.DATABASE, '--all', '--activate-dependencies',
                '--email', settings.EMAIL, '-vv', '-u'] + settings.MODULES
            progress = console.Progress("modules activated")
            output = []
            with subprocess.Popen(
                    command, env=env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    text=True) as process:
                for line in process.stdout:
                    output.append(line)
                    match = MODULE_LOADED.search(line.rstrip())
                    if match:
                        progress.item(match.group(1))
            if process.returncode:
                progress.done("FAILED")
                sys.stdout.write(''.join(output[-40:]))
                raise RuntimeError(
                    f"trytond-admin failed with code {process.returncode}")
            progress.done()


def clean_environment():
    "os.environ without the variables that point Tryton elsewhere"
    return {k: v for k, v in os.environ.items()
        if not FOREIGN_VARIABLES.match(k)}


def isolate():
    "Forget, in this process, the variables that point Tryton elsewhere"
    for name in list(os.environ):
        if FOREIGN_VARIABLES.match(name):
            del os.environ[name]
