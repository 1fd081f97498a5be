# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The demo in a browser: headless Chromium logs in to the sao web client,
opens a quotation, presses Request M-Pesa Payment, confirms the wizard,
and after a reload sees the sale confirmed and its payment succeeded.
The final sale form is saved as ``build/artefacts/sale_paid.png``.

It needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them), ``selenium`` and ``Pillow``, and sao (the demo installs it with
npm).  Without them the test is skipped, saying what is missing; in CI
(``CI=true``) it fails instead.
"""
import os
import shutil
import time

import pytest
from demo_runner import CI, ROOT

ARTEFACTS = os.environ.get(
    'ARTEFACTS_DIR', os.path.join(ROOT, 'build', 'artefacts'))
SAO_INDEX = os.path.join(ROOT, '.demo', 'sao', 'index.html')
CHROMIUM_FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
    '--window-size=1600,1100',
    ]
WEB_CLIENT = r'Tryton web client\s+(http://\S+?)/?$|desktop client'
URL_TIMEOUT = 900
PAID_TIMEOUT = 60


def require(condition, reason):
    "Skip when a browser bit is missing; in CI, fail"
    if not condition:
        if CI:
            pytest.fail(f"{reason} (CI must have it)", pytrace=False)
        pytest.skip(reason)


def browser_tools():
    "The paths of chromium and chromedriver, once everything is there"
    chromium = shutil.which('chromium')
    driver = shutil.which('chromedriver')
    require(chromium, "chromium is not installed (apt-get install chromium)")
    require(driver, "chromedriver is not installed "
        "(apt-get install chromium-driver)")
    for module, package in [('selenium', 'selenium'), ('PIL', 'Pillow')]:
        try:
            __import__(module)
        except ImportError:
            require(False, f"{package} is not installed "
                f"(pip install -e '.[test]')")
    require(os.path.exists(SAO_INDEX) or shutil.which('npm'),
        "the sao web client is not in .demo/sao and npm is not there to "
        "install it")
    return chromium, driver


@pytest.fixture
def browser(tmp_path):
    chromium, driver_path = browser_tools()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    for flag in CHROMIUM_FLAGS + [f'--user-data-dir={tmp_path / "chrome"}']:
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=Service(executable_path=driver_path))
    yield driver
    driver.quit()


def screenshot(driver, name):
    "Save a screenshot as a test artefact; fail when it is blank"
    from PIL import Image

    os.makedirs(ARTEFACTS, exist_ok=True)
    path = os.path.join(ARTEFACTS, name)
    assert driver.save_screenshot(path), path
    with Image.open(path) as image:
        colours = image.convert('RGB').getcolors(1 << 24)
        assert image.width >= 800 and image.height >= 600, image.size
    assert len(colours) > 50, f"{path} looks blank: {len(colours)} colours"
    print(f"screenshot: {path} ({len(colours)} colours)")
    return path


def assert_no_javascript_error(driver):
    "sao met no error in the browser since the last call"
    errors = [e['message'] for e in driver.get_log('browser')
        if e['level'] == 'SEVERE' and e['source'] == 'javascript']
    assert not errors, f"the web client failed: {errors}"


def test_pay_a_quotation_in_the_web_client(demo_factory, browser):
    from sao_page import Sao
    from selenium.common.exceptions import TimeoutException

    demo = demo_factory()
    found = demo.wait_for(WEB_CLIENT, URL_TIMEOUT)
    assert found, f"the demo did not start:\n{demo.output}"
    require(found.group(1), "the demo could not install the sao web client")
    sao = Sao(browser, found.group(1) + '/')

    sao.login('admin', 'mpesa-demo')
    sao.open_menu('Sales', 'Sales')
    sao.list_tab('Quotation')
    sao.open_row('1', 'Wanjiku Kamau')
    assert sao.field('state') == 'quotation'

    sao.button('mpesa_request_payment')
    assert sao.dialog_field('phone') == '254712345678'
    assert sao.dialog_field('amount') == '1,750.00'
    sao.dialog_button('Request').click()
    try:
        close = sao.dialog_button('Close', timeout=30)
    except TimeoutException:
        refused = sao.invalid_inputs()
        screenshot(browser, 'wizard_refused.png')
        pytest.fail("the wizard did not go on to its result; the browser "
            f"refuses its form: {refused}", pytrace=False)
    message = sao.dialog_field('message')
    assert ("sent to 2547*****678" in message
        or "paid 1750 KES" in message), message
    close.click()
    assert sao.dialog_gone()

    deadline = time.monotonic() + PAID_TIMEOUT
    while sao.field('state') != 'processing':
        assert time.monotonic() < deadline, (
            f"the sale is still {sao.field('state')}")
        time.sleep(1)
        sao.reload()
    sao.link_count('sale_payment.act_payments_relate', '1')

    assert_no_javascript_error(browser)

    sao.button('sale_payment.act_payments_relate')
    assert sao.row_text('Receivable', 'Wanjiku Kamau').endswith('Succeeded')
    sao.open_row('Receivable', 'Wanjiku Kamau', form_field='amount')
    assert_no_javascript_error(browser)
    assert sao.field('state') == 'succeeded'
    sao.page('M-Pesa')
    assert sao.field('mpesa_state') == 'done'
    assert sao.field('mpesa_receipt')
    screenshot(browser, 'payment_succeeded.png')

    sao.switch_tab('Sales')
    sao.reload()
    assert sao.field('state') == 'processing'
    sao.shows("Cooking oil 1 L")
    sao.link_count('sale_payment.act_payments_relate', '1')
    sao.link_count('sale.act_invoice_form', '1')
    screenshot(browser, 'sale_paid.png')
    assert_no_javascript_error(browser)

    assert demo.interrupt() == 0, demo.output
    assert "==> Stopped" in demo.output
