# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The sao web client: tryton-sao 8.0 from the npm registry, installed once
into a folder that the Tryton server then serves at ``/``."""
import os
import shutil
import subprocess
import tarfile
import tempfile

from . import console

PACKAGE = 'tryton-sao@~8.0'
NPM_FLAGS = ['--no-audit', '--no-fund', '--loglevel=error']
# What index.html loads: sao itself and one of its dependencies
NEEDED = ['index.html', 'dist/tryton-sao.js', 'node_modules/jquery/dist/jquery.js']
DESKTOP_CLIENT = (
    "Use the Tryton 8.0 desktop client instead: install it (it needs GTK; "
    "see tryton.org's download page, or `pip install 'tryton>=8.0,<8.1'` "
    "where PyGObject is available), start `tryton` and connect to "
    "host {host}, database {database}.")


def installed(folder):
    "Whether sao is completely installed in folder"
    return all(os.path.exists(os.path.join(folder, n)) for n in NEEDED)


def npm(*args, cwd):
    subprocess.run(
        ['npm', *args, *NPM_FLAGS], cwd=cwd, check=True,
        stdin=subprocess.DEVNULL)


def install(folder):
    """Download tryton-sao 8.0 and install its dependencies in folder; the
    folder appears only once complete, so an interrupted install leaves
    nothing behind"""
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix='.sao-') as work:
        npm('pack', PACKAGE, '--pack-destination', work, cwd=work)
        tarball, = [n for n in os.listdir(work) if n.endswith('.tgz')]
        console.detail(f"{tarball[:-4]} downloaded; installing the "
            "libraries it loads")
        with tarfile.open(os.path.join(work, tarball)) as archive:
            if hasattr(tarfile, 'data_filter'):
                archive.extractall(work, filter='data')
            else:
                archive.extractall(work)
        package = os.path.join(work, 'package')
        # sao's build tools ask for an old grunt as a peer: not needed to run
        npm('install', '--omit=dev', '--legacy-peer-deps', '--ignore-scripts',
            cwd=package)
        if os.path.exists(folder):
            shutil.rmtree(folder)
        os.rename(package, folder)


def ensure(folder):
    """Return the folder of the installed web client, installing it when
    npm is there; None when it cannot be had (the reason is printed)"""
    if installed(folder):
        return os.path.abspath(folder)
    if not shutil.which('npm'):
        console.warn("npm is not installed: the demo runs without the web "
            "client.")
        return None
    console.step(f"Installing the sao web client ({PACKAGE} from npm) into "
        f"{folder} (once; about half a minute)")
    try:
        install(folder)
    except (subprocess.CalledProcessError, OSError, ValueError) as error:
        console.warn(f"The web client could not be installed ({error}): "
            "the demo runs without it.")
        return None
    return os.path.abspath(folder)
