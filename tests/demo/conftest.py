# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The demo's tests: the demo always uses SQLite, so they run once, in the
SQLite run of the suite, and are skipped in the PostgreSQL run.

(This folder has no ``__init__.py`` on purpose: the package would be called
``demo`` and hide the demo itself.)
"""
import os

import pytest
from demo_runner import ARTEFACTS

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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    "A failed browser test leaves a screenshot of the page it was on"
    report = yield
    browser = item.funcargs.get('browser') if hasattr(
        item, 'funcargs') else None
    if report.when == 'call' and report.failed and browser is not None:
        os.makedirs(ARTEFACTS, exist_ok=True)
        path = os.path.join(ARTEFACTS, f'{item.name}-failed.png')
        browser.save_screenshot(path)
        print(f"screenshot of the failure: {path}")
    return report
