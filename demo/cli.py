# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The demo from start to stop: the web client, the database (created or
reused), the services, then either the guided tour until Ctrl-C or the
scripted flow."""
import argparse
import errno
import logging
import signal
import threading

from . import console, database, options, settings, webclient


def prepare(db, scripted, no_sao, port, sao_dir, reset):
    "Install the web client, create the database when needed; the web root"
    web_root = None
    if not scripted and not no_sao:
        web_root = webclient.ensure(sao_dir)
    if reset and db.ready:
        console.step(f"Removing the demo database in {db.path}")
    if reset or not db.ready:
        db.remove()
    db.write_config(port, web_root)
    if db.ready:
        console.step(f"Reusing the demo database in {db.path} "
            "(--reset to start afresh)")
        return web_root, False
    console.step(f"Creating the database {db.file} with account_mpesa, "
        "sale_payment and what they need (a minute or two)")
    db.create()
    return web_root, True


def connect(db):
    "Work in the demo database as admin, from this process"
    from proteus import config
    return config.set_trytond(
        database=settings.DATABASE, config_file=db.config_file)


def populate():
    "The books and the shop, in a new database"
    from . import books, shop
    console.step("Setting up the shop: company in KES, chart of accounts, "
        "fiscal year, M-Pesa clearing account and journals")
    company, accounts, clearing, journal = books.create_books()
    console.step("Adding the M-Pesa account, three customers, products, "
        "quotations and an invoice")
    quotations, invoices = shop.create_shop(accounts, clearing, journal)
    console.detail("quotations " + ', '.join(s.number for s in quotations)
        + "; invoices " + ', '.join(i.number for i in invoices))


def wait_until_stopped():
    "Block until Ctrl-C (or SIGTERM)"
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(1):
            pass
    except KeyboardInterrupt:
        pass


def run(arguments):
    from . import books, shop
    from .services import Services

    db = database.Database(arguments.data_dir)
    web_root, created = prepare(
        db, arguments.scripted, arguments.no_sao, arguments.port,
        arguments.sao_dir, arguments.reset)
    connect(db)
    if created:
        populate()
        db.mark_ready()
    books.ensure_fiscal_year(books.the_company())
    console.step("Starting the Daraja simulator, the Tryton server"
        + (" and the cron" if not arguments.scripted else ""))
    with Services(arguments.port, arguments.sim_port,
            arguments.answer_delay, cron=not arguments.scripted) as services:
        console.detail(f"Tryton at {services.tryton_url}, simulator at "
            f"{services.simulator_url}")
        account = shop.point_at(services.simulator_url, services.tryton_url)
        console.detail(f"paybill {account.business_shortcode}: C2B URLs "
            f"registered ({account.c2b_registration}), Pull Transactions "
            + ("registered" if account.pull_registered else "NOT registered"))
        if arguments.scripted:
            from . import scripted
            return scripted.run(services)
        from . import guide
        guide.show(services, web_root)
        wait_until_stopped()
        console.step("Stopping the cron, the Tryton server and the simulator")
    console.step("Stopped")
    return 0


def main(argv=None):
    parser = options.add_arguments(argparse.ArgumentParser(
            prog='python -m demo', description=__doc__.splitlines()[0]))
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    # Not every request of the web client, only warnings and errors
    logging.getLogger('werkzeug').setLevel(logging.WARNING)
    database.isolate()
    try:
        return run(arguments)
    except KeyboardInterrupt:
        console.warn("Interrupted: nothing is left running.")
        return 130
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        console.warn(f"A port is taken ({error.strerror}): choose others "
            "with --port and --sim-port, or 0 for any free one.")
        return 1
