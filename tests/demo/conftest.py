# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The demo's tests: the demo always uses SQLite, so they run once, in the
SQLite run of the suite, and are skipped in the PostgreSQL run.

(This folder has no ``__init__.py`` on purpose: the package would be called
``demo`` and hide the demo itself.)
"""
import os

import pytest
from demo_runner import Demo

BACKEND = os.environ.get('TRYTOND_DATABASE_URI', 'sqlite://').split(':')[0]
HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config, items):
    if BACKEND == 'sqlite':
        return
    skip = pytest.mark.skip(reason=(
            "the demo runs on its own SQLite database: tested in the SQLite "
            "run of the suite, not again in the PostgreSQL run"))
    for item in items:
        if str(item.fspath).startswith(HERE + os.sep):
            item.add_marker(skip)


@pytest.fixture
def demo_factory(tmp_path):
    "Start demos in tmp_path; those left running are stopped at the end"
    demos = []

    def start(*args):
        demo = Demo(tmp_path / 'demo', *args)
        demos.append(demo)
        return demo
    yield start
    for demo in demos:
        demo.interrupt()
