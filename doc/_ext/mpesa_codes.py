# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The ``mpesa-result-codes`` directive: a table of Daraja result codes and
the message the client gives for each, read from the client's own table
(``modules/account_mpesa/daraja/codes.py``) at build time so that it never
drifts from the code.

The file is loaded on its own (it imports nothing), so building the
documentation needs neither Tryton nor the client's dependencies.
"""
import importlib.util
import os

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList

CODES = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..',
    'modules', 'account_mpesa', 'daraja', 'codes.py')


def load_codes():
    spec = importlib.util.spec_from_file_location('_mpesa_codes', CODES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ResultCodes(Directive):
    """A list-table of every code the client knows, with the message of
    ``result_message(code, api)``.  Option ``:api:`` (default ``stk``)."""
    has_content = False
    option_spec = {'api': directives.unchanged}

    def run(self):
        env = self.state.document.settings.env
        env.note_dependency(os.path.abspath(CODES))
        codes = load_codes()
        api = self.options.get('api', 'stk')
        known = set(codes._MESSAGES)
        for messages in codes._API_MESSAGES.values():
            known.update(messages)
        # Numbers first, in order, then the other codes: a stable order
        # whatever the hash seed
        known = sorted(known, key=lambda c: (
                (0, int(c), '') if c.isdigit() else (1, 0, c)))
        lines = [
            '.. list-table::',
            '   :header-rows: 1',
            '   :widths: 20 80',
            '',
            '   * - Code',
            '     - Message',
            ]
        for code in known:
            lines += [
                f'   * - ``{code}``',
                f'     - {codes.result_message(code, api=api)}',
                ]
        lines += [
            '   * - any other code',
            '     - ' + codes.result_message('CODE', api=api).replace(
                'CODE', '<code>'),
            '   * - no code',
            f'     - {codes.result_message(None, api=api)}',
            ]
        container = nodes.container()
        self.state.nested_parse(
            StringList(lines, source=CODES), self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive('mpesa-result-codes', ResultCodes)
    return {
        'version': '1',
        'parallel_read_safe': True,
        'parallel_write_safe': True,
        }
