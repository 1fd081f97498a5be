# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The demo in a browser: headless Chromium, 1280 by 800, logs in to the sao
web client, opens a quotation, presses Request M-Pesa Payment, confirms
the wizard, is notified when the payment settles and after a reload sees
the sale confirmed and its payment succeeded.  Then a customer pays an
invoice with a mistyped number on the simulator's Pay Bill page; the
receipt waits in Unmatched; the Match wizard puts it on the invoice, which
is paid.  The wizards' forms must fit their dialog: no horizontal scroll
bar, no field cut off.

The screenshots of the main steps are written to ``doc/_static/
screenshots`` on every run (the usage pages show them, so they never go
stale; commit them when they change); others go to ``build/artefacts``.

It needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them), ``selenium`` and ``Pillow``, and sao (the demo installs it with
npm).  Without them the test is skipped, saying what is missing; in CI
(``CI=true``) it fails instead.
"""
import io
import os
import shutil
import time

import pytest
from demo_runner import ARTEFACTS, CI, ROOT

SCREENSHOTS = os.path.join(ROOT, 'doc', '_static', 'screenshots')
SAO_INDEX = os.path.join(ROOT, '.demo', 'sao', 'index.html')
CHROMIUM_FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
    '--window-size=1280,800',
    ]
WEB_CLIENT = r'Tryton web client\s+(http://\S+?)/?$|desktop client'
PAY_PAGE = r'pay as a customer\s+(http://\S+)$'
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
    # The page 1280 by 800, whatever the window around it takes
    driver.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', {
            'width': 1280, 'height': 800, 'deviceScaleFactor': 1,
            'mobile': False})
    yield driver
    driver.quit()


def screenshot(driver, name, folder=ARTEFACTS):
    """Save a screenshot (a test artefact, or for the documentation);
    fail when it is blank.  It is stored in 256 colours, optimised: a
    small file that shows the client as it is."""
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with Image.open(io.BytesIO(driver.get_screenshot_as_png())) as image:
        colours = image.convert('RGB').getcolors(1 << 24)
        assert image.width >= 800 and image.height >= 600, image.size
        assert len(colours) > 50, (
            f"{path} looks blank: {len(colours)} colours")
        image.convert('RGB').quantize(256).save(path, optimize=True)
    print(f"screenshot: {path} ({len(colours)} colours, "
        f"{os.path.getsize(path)} bytes)")
    return path


def assert_fits(sao, what):
    "The wizard's dialog shows its whole form, without scrolling sideways"
    fit = sao.dialog_fit()
    assert fit['scroll'] <= fit['client'], (
        f"{what} scrolls sideways: {fit}")
    assert not fit['wide'], f"{what} has horizontal scroll bars: {fit}"
    assert not fit['cut'], f"{what} cuts fields off: {fit}"


def assert_no_javascript_error(driver):
    "sao met no error in the browser since the last call"
    errors = [e['message'] for e in driver.get_log('browser')
        if e['level'] == 'SEVERE' and e['source'] == 'javascript']
    assert not errors, f"the web client failed: {errors}"


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """One demo for the module's tests, with the web client; it must stop
    cleanly at the end"""
    from demo_runner import Demo

    browser_tools()
    demo = Demo(tmp_path_factory.mktemp('demo') / 'demo')
    found = demo.wait_for(WEB_CLIENT, URL_TIMEOUT)
    try:
        assert found, f"the demo did not start:\n{demo.output}"
        require(found.group(1),
            "the demo could not install the sao web client")
        demo.url = found.group(1) + '/'
        demo.pay_page = demo.wait_for(PAY_PAGE, 10).group(1)
        yield demo
    finally:
        code = demo.interrupt()
    assert code == 0, demo.output
    assert "==> Stopped" in demo.output


def test_pay_a_quotation_in_the_web_client(demo, browser):
    from sao_page import Sao
    from selenium.common.exceptions import TimeoutException

    sao = Sao(browser, demo.url)
    sao.login('admin', 'mpesa-demo')
    sao.open_menu('Sales', 'Sales')
    sao.list_tab('Quotation')
    sao.open_row('1', 'Wanjiku Kamau')
    assert sao.field('state') == 'quotation'
    unread = int(sao.badge() or 0)

    sao.button('mpesa_request_payment')
    assert sao.dialog_field('phone') == '254712345678'
    assert sao.dialog_field('amount') == '1,750.00'
    assert_fits(sao, "Request M-Pesa Payment")
    screenshot(browser, 'request_payment.png', SCREENSHOTS)
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

    # Told by the bus when the payment settles, before any reload
    sao.wait(PAID_TIMEOUT).until(
        lambda d: sao.badge() == str(unread + 1))
    labels = sao.notifications()
    assert any(t.startswith("M-Pesa:") and t.endswith("1,750.00 paid")
        for t in labels), labels
    screenshot(browser, 'notification.png', SCREENSHOTS)
    sao.clickable("//*[@id='user-preferences']/a").click()

    # sale_payment confirms the sale in a task of its own, after that
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
    assert sao.field_becomes('state', 'processing') == 'processing'
    sao.shows("Cooking oil 1 L")
    sao.link_count('sale_payment.act_payments_relate', '1')
    sao.link_count('sale.act_invoice_form', '1')
    screenshot(browser, 'sale_paid.png')
    assert_no_javascript_error(browser)


def pay_on_the_page(browser, url, phone, account, amount):
    """Pay the paybill on the simulator's page, in a tab of its own, as a
    customer would from the phone; the receipt"""
    import re

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    sao_tab = browser.current_window_handle
    browser.switch_to.new_window('tab')
    browser.get(url)
    for name, value in [
            ('phone', phone), ('account', account), ('amount', amount)]:
        browser.find_element(By.NAME, name).send_keys(value)
    browser.find_element(By.XPATH, "//button[@type='submit']").click()
    # The answer page comes once the simulator's C2B callbacks were sent
    result = WebDriverWait(browser, 60).until(
        lambda b: b.find_elements(By.TAG_NAME, 'strong'))[0].text
    browser.close()
    browser.switch_to.window(sao_tab)
    found = re.search(r'M-Pesa receipt (\w+)', result)
    assert found, result
    return found.group(1)


def test_match_a_mistyped_payment(demo, browser):
    "Financial > Payments > M-Pesa: Unmatched, the Match wizard, paid"
    from sao_page import Sao
    from selenium.common.exceptions import TimeoutException

    receipt = pay_on_the_page(
        browser, demo.pay_page, '0733 444 555', 'INV/OOO1', '660')
    sao = Sao(browser, demo.url)
    sao.login('admin', 'mpesa-demo')
    sao.open_menu('Financial', 'Payments', 'M-Pesa', 'M-Pesa Transactions')
    # Pull confirms the receipt before it is matched, or not
    deadline = time.monotonic() + PAID_TIMEOUT
    while True:
        sao.list_tab('Unmatched')
        try:
            sao.row_text(receipt, timeout=1)
            break
        except TimeoutException:
            assert time.monotonic() < deadline, f"{receipt} is not Unmatched"
            sao.reload()
    sao.show_menu(False)
    screenshot(browser, 'unmatched.png', SCREENSHOTS)
    sao.open_row(receipt, form_field='receipt')
    assert sao.field('state') == 'unmatched'
    assert sao.field('account_number') == 'INV/OOO1'

    sao.button('match_wizard')
    dialog = "//div[contains(@class, 'wizard-dialog')]"
    sao.choose('party', 'Achieng', 'Achieng Odhiambo', dialog)
    sao.wait().until(lambda d: sao.read(
            f"{dialog}//table//tr[.//*[normalize-space(.)='INV/0001']]",
            lambda e: e.text))
    assert_fits(sao, "Match M-Pesa Receipts")
    screenshot(browser, 'match_wizard.png', SCREENSHOTS)
    sao.dialog_button('Match').click()
    assert sao.dialog_gone()
    # sao reloads the record once the wizard ends; a Reload clicked while
    # it did found the record modified and asked to save it (seen in CI)
    sao.idle()
    assert sao.field_becomes('state', 'matched') == 'matched'
    assert_no_javascript_error(browser)

    sao.show_menu()
    sao.open_menu('Financial', 'Invoices', 'Customer Invoices')
    sao.list_tab('All')
    sao.open_row('INV/0001', 'Achieng Odhiambo')
    assert sao.field('state') == 'paid'
    sao.show_menu(False)
    sao.scroll_to('state')
    screenshot(browser, 'invoice_paid.png', SCREENSHOTS)
    assert_no_javascript_error(browser)
