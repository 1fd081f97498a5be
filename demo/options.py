# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The demo's command line options, shared by ``dev.py demo`` and
``python -m demo``.  Standard library only: ``dev.py`` imports it with the
system's Python before the virtual environment exists."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_DIR = os.path.join(ROOT, '.demo')


def add_arguments(parser):
    "Add the demo's options to an argparse parser"
    add = parser.add_argument
    add('--reset', action='store_true',
        help="delete the demo database and create it again")
    add('--port', type=int, default=8000,
        help="port of the Tryton server and web client (default 8000; "
        "0 picks a free one)")
    add('--sim-port', type=int, default=8099,
        help="port of the Daraja simulator (default 8099; 0 picks a free "
        "one)")
    add('--scripted', action='store_true',
        help="pay one sale through the whole flow without a browser, "
        "print each step and exit (0 on success)")
    add('--answer-delay', type=float, default=3.0, metavar='SECONDS',
        help="how long the simulated customer takes to answer the prompt "
        "(default 3)")
    add('--data-dir', default=DEMO_DIR, metavar='DIR',
        help="where the database and the configuration are kept "
        "(default .demo/)")
    add('--sao-dir', default=os.path.join(DEMO_DIR, 'sao'), metavar='DIR',
        help="where the sao web client is installed (default .demo/sao)")
    add('--no-sao', action='store_true',
        help="do not install nor serve the web client (use the desktop "
        "client)")
    return parser


def to_argv(options):
    "The command line that gives options to ``python -m demo``"
    argv = [
        '--port', str(options.port),
        '--sim-port', str(options.sim_port),
        '--answer-delay', str(options.answer_delay),
        '--data-dir', options.data_dir,
        '--sao-dir', options.sao_dir,
        ]
    for flag in ['reset', 'scripted', 'no_sao']:
        if getattr(options, flag):
            argv.append('--' + flag.replace('_', '-'))
    return argv
