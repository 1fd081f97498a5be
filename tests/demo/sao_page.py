# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Driving the sao web client with selenium the way a person uses it:
log in, open a menu entry, a list tab, a record, press buttons."""
from selenium.common.exceptions import (
    StaleElementReferenceException, TimeoutException)
from selenium.webdriver import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

TAB = "//div[@id='tabcontent']/div[contains(@class, 'active')]"


def text_is(value):
    "An XPath test that the element's text is value"
    return f"normalize-space(.)='{value}'"


class Sao:
    "The web client in a browser"

    def __init__(self, driver, url, timeout=30):
        self.driver = driver
        self.url = url
        self.timeout = timeout

    def wait(self, timeout=None):
        "Wait, trying again when sao re-drew an element meanwhile"
        return WebDriverWait(
            self.driver, timeout or self.timeout,
            ignored_exceptions=[StaleElementReferenceException])

    def read(self, xpath, read, timeout=None):
        "read(element) of the visible element at xpath, once it is drawn"
        def attempt(driver):
            element = driver.find_element(By.XPATH, xpath)
            return element.is_displayed() and [read(element)]
        return self.wait(timeout).until(attempt)[0]

    def visible(self, xpath, timeout=None):
        return self.wait(timeout).until(
            EC.visibility_of_element_located((By.XPATH, xpath)))

    def clickable(self, xpath, timeout=None):
        return self.wait(timeout).until(
            EC.element_to_be_clickable((By.XPATH, xpath)))

    def gone(self, xpath, timeout=None):
        self.wait(timeout).until(
            EC.invisibility_of_element_located((By.XPATH, xpath)))

    def idle(self):
        "Wait until sao shows no 'Processing' notice"
        self.gone("//div[@id='processing']")

    def login(self, user, password):
        "The login dialog asks the user name, then the password"
        self.driver.get(self.url)
        self.visible("//div[contains(@class, 'login-dialog')]"
            "//input[@id='login']").send_keys(user)
        self.clickable("//div[contains(@class, 'login-dialog')]"
            "//button[@type='submit']").click()
        self.visible("//div[contains(@class, 'ask-dialog')]"
            "//input[@type='password']").send_keys(password)
        self.clickable("//div[contains(@class, 'ask-dialog')]"
            "//button[contains(@class, 'btn-primary')]").click()
        self.visible("//div[@id='menu']//div[@title='Sales']")

    def menu_rows(self, name):
        "The menu's visible rows of the entries called name"
        return [r for r in self.driver.find_elements(
                By.XPATH, f"//div[@id='menu']//tr[.//div[@title='{name}']]")
            if r.is_displayed()]

    def open_menu(self, *path):
        """Expand the menu down path (what is not expanded yet) and open
        its last entry"""
        *parents, leaf = path
        for index, name in enumerate(parents):
            below = path[index + 1]
            if len(self.menu_rows(below)) > path[:index + 1].count(below):
                continue
            row = self.clickable(
                f"//div[@id='menu']//tr[.//div[@title='{name}']]")
            row.find_element(By.CSS_SELECTOR, '.expander img').click()
        rows = self.wait().until(
            lambda d: self.menu_rows(leaf)[parents.count(leaf):] or False)
        self.double_click(rows[0].find_element(
                By.CSS_SELECTOR, 'div.column-char'))

    def double_click(self, element):
        ActionChains(self.driver).double_click(element).perform()

    def list_tab(self, name):
        "Click a tab of a list (e.g. the Quotation filter of the sales)"
        self.clickable(f"{TAB}//a[starts-with(normalize-space(.), "
            f"'{name}')]").click()
        self.idle()

    def row_text(self, *texts, timeout=None):
        "The text of the list row showing all texts"
        tests = ' and '.join(f".//*[{text_is(t)}]" for t in texts)
        return self.read(
            f"{TAB}//table//tr[{tests}]", lambda e: ' '.join(e.text.split()),
            timeout)

    def open_row(self, *texts, form_field='number'):
        """Open the record of the list row showing all texts, by a double
        click on the first (not a link: that would open the linked record);
        its form has form_field, which shows a value once the record is
        loaded.  A list drawn again just then may miss the double click:
        it is tried again."""
        tests = ' and '.join(f".//*[{text_is(t)}]" for t in texts)
        cell = (f"{TAB}//table//tr[{tests}]"
            f"//td[.//*[{text_is(texts[0])}]]")
        form = (f"{TAB}//div[contains(@class, 'form')]"
            f"//input[@name='{form_field}']")
        for attempt in range(3):
            try:
                self.double_click(self.visible(cell))
                self.visible(form, timeout=5)
                self.wait().until(lambda d: self.read(
                        form, lambda e: e.get_attribute('value')))
                return
            except (StaleElementReferenceException, TimeoutException):
                if attempt == 2:
                    raise

    def field(self, name, xpath=TAB):
        "The value shown by a field of the form (selections: their key)"
        return self.read(
            f"{xpath}//*[(self::input or self::select or self::textarea) "
            f"and @name='{name}']",
            lambda e: (e.get_attribute('value') or '').strip('"'))

    def field_becomes(self, name, expected, xpath=TAB):
        """The value a field of the form shows once it shows expected, or
        the last one read if it does not within the timeout: sao draws a
        reloaded form in steps, a selection showing its first key first"""
        try:
            self.wait().until(lambda d: self.field(name, xpath) == expected)
        except TimeoutException:
            pass
        return self.field(name, xpath)

    def scroll_to(self, name, xpath=TAB):
        "Scroll the form until the field is in the middle of the view"
        element = self.visible(
            f"{xpath}//*[(self::input or self::select) and @name='{name}']")
        self.driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center'});", element)

    def page(self, label):
        "Show a page of the form's notebook"
        self.clickable(f"{TAB}//ul[contains(@class, 'nav-tabs')]"
            f"//a[{text_is(label)}]").click()

    def button(self, name):
        "Press a button of the form"
        self.clickable(f"{TAB}//button[@name='{name}']").click()

    def reload(self):
        self.clickable(f"{TAB}//button[@title='Reload/Undo']").click()
        self.idle()

    def link_count(self, name, expected):
        "Wait until the badge of a relate link of the form shows expected"
        self.wait().until(lambda d: self.read(
                f"{TAB}//button[@name='{name}']//span[@class='badge']",
                lambda e: e.text) == expected)

    def shows(self, text):
        "Wait until the tab shows text"
        return self.visible(f"{TAB}//*[{text_is(text)}]")

    def dialog(self, kind='wizard-dialog'):
        return self.visible(f"//div[contains(@class, '{kind}')]")

    def dialog_field(self, name, kind='wizard-dialog'):
        "The value shown by a field of a dialog"
        return self.field(name, f"//div[contains(@class, '{kind}')]")

    def dialog_button(self, label, kind='wizard-dialog', timeout=None):
        return self.clickable(
            f"//div[contains(@class, '{kind}')]//button[{text_is(label)}]",
            timeout)

    def invalid_inputs(self, kind='wizard-dialog'):
        "The browser's complaints about the fields of a dialog"
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll("
            f"'.{kind} input, .{kind} textarea'))"
            ".filter(e => !e.checkValidity())"
            ".map(e => e.name + ' (' + e.type + '): ' + e.validationMessage);")

    def dialog_gone(self, kind='wizard-dialog', timeout=None):
        try:
            self.gone(f"//div[contains(@class, '{kind}')]", timeout)
            return True
        except TimeoutException:
            return False

    def dialog_fit(self, kind='wizard-dialog'):
        """How the dialog's form fits: the body's scroll and client widths,
        the elements in it that scroll sideways, and the fields whose
        widget is not wholly inside the body's visible width"""
        return self.driver.execute_script("""
            const body = document.querySelector(
                '.' + arguments[0] + ' .modal-body');
            const box = body.getBoundingClientRect();
            const named = e => e.getAttribute('name') || e.id || e.className;
            const wide = Array.from(body.querySelectorAll('*')).filter(e =>
                ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)
                && e.scrollWidth > e.clientWidth + 1).map(named);
            const cut = Array.from(body.querySelectorAll(
                    'input, select, textarea')).filter(e => {
                if (!e.offsetParent || e.type == 'hidden') {
                    return false;
                }
                const r = e.getBoundingClientRect();
                return r.width > 0 && (
                    r.left < box.left - 1 || r.right > box.right + 1);
            }).map(named);
            return {scroll: body.scrollWidth, client: body.clientWidth,
                wide: wide, cut: cut};""", kind)

    def type_in(self, name, text, xpath=TAB):
        "Type text into a field and leave it (Tab), as a person does"
        from selenium.webdriver.common.keys import Keys
        element = self.visible(f"{xpath}//input[@name='{name}']")
        element.clear()
        element.send_keys(text + Keys.TAB)
        self.idle()

    def choose(self, name, typed, chosen, xpath=TAB):
        """Set a many-to-one field as a person does: type the start of
        the name and leave the field; when sao opens its search dialog,
        pick the record shown as chosen there"""
        search = ("//div[contains(@class, 'modal') and .//*[contains("
            "@class, 'modal-title') and starts-with(normalize-space(.), "
            "'Search')]]")
        field = f"{xpath}//input[@name='{name}']"
        self.type_in(name, typed, xpath)

        def settled(driver):
            dialogs = [e for e in driver.find_elements(By.XPATH, search)
                if e.is_displayed()]
            if dialogs:
                return dialogs[0]
            return self.read(
                field, lambda e: e.get_attribute('value')) == chosen
        found = self.wait().until(settled)
        if found is not True:
            self.double_click(found.find_element(By.XPATH,
                    f".//table//tr//td[.//*[{text_is(chosen)}]]"))
            self.gone(search)
            self.wait().until(lambda d: self.read(
                    field, lambda e: e.get_attribute('value')) == chosen)
        self.idle()

    def show_menu(self, shown=True):
        "Show or hide the menu, by the button at the top left"
        hidden = self.driver.execute_script(
            "return document.getElementById('menu')"
            ".classList.contains('hidden');")
        if hidden == shown:
            self.clickable("//a[@data-toggle='menu']").click()

    def badge(self):
        "The count of unread notifications by the user's name, '' if none"
        return self.driver.execute_script("""
            const badge = document.querySelector(
                '#user-preferences .notification-badge');
            return badge && badge.offsetParent ? badge.textContent : '';""")

    def notifications(self):
        "Open the user's menu: the labels of the notifications it lists"
        self.clickable("//*[@id='user-preferences']/a").click()
        return self.wait().until(lambda d: [e.text for e in d.find_elements(
                    By.CSS_SELECTOR, '.notification-menu .notification-label')
                if e.text] or False)

    def switch_tab(self, title):
        "Bring the tab with title to the front"
        self.clickable(f"//ul[@id='tablist']//a[.//*[{text_is(title)}] "
            f"or {text_is(title)}]").click()
        self.idle()
