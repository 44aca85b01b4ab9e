"""A real headless Chromium driving the admin, the way Django's own admin tests use Selenium.

Debian's `chromium` and `chromedriver` are named explicitly, so Selenium Manager never looks for a browser on the
network. Waits are WebDriverWait conditions; a wait that fails saves a screenshot into the test's directory and names
it in the assertion message. `shoot` captures the README's screenshots into docs/screenshots/, keeping a file whose
picture barely moved (a session id, a clock), so a test run does not churn the repository.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.support.admin import STAFF_PASSWORD, STAFF_USER

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1400, 900)
README_SHOTS = ROOT / "docs" / "screenshots"
# AWSMCP_SCREENSHOTS: "keep" (default: rewrite a README screenshot only when more than SHOT_TOLERANCE of its pixels
# changed), "always" (rewrite every one: scripts/screenshots.py), "off" (write none).
SHOT_MODE = os.environ.get("AWSMCP_SCREENSHOTS", "keep")
SHOT_TOLERANCE = 0.03
WAIT = 15.0

# Chromium as root in a closed network: no sandbox, and none of the background fetches (updates, sync, safe browsing)
# that would each wait for a refused connection and slow every start.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    # Every name resolves to nothing but loopback's: the browser reaches the test's servers and nothing else.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--no-pings",
    "--disable-domain-reliability",
    "--disable-features=Translate,OptimizationGuideModelDownloading,MediaRouter",
    "--no-first-run",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--lang=en-US",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)

T = TypeVar("T")
# A page that changes under a condition (a reload, a form sent) leaves it holding elements of the page before: ask again.
IGNORED = (StaleElementReferenceException,)


class AdminBrowser:
    """One Chromium and the Daphne it browses; failures leave a screenshot in `failures`."""

    def __init__(self, driver: webdriver.Chrome, base: str, failures: Path) -> None:
        self.driver = driver
        self.base = base
        self.failures = failures
        self.logged_in = False
        self._failure_count = 0

    # --- waiting and failing -------------------------------------------------------------------------------------

    def failure_shot(self, what: str) -> Path:
        """Save what the browser shows now, for the assertion message of a failed step."""
        self._failure_count += 1
        name = re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")[:60] or "failure"
        path = self.failures / f"{self._failure_count:02d}-{name}.png"
        try:
            self.driver.save_screenshot(str(path))
        except WebDriverException:
            return self.failures / "(no screenshot: the browser did not answer)"
        return path

    def fail(self, what: str) -> AssertionError:
        return AssertionError(f"{what} (at {self.driver.current_url}; screenshot: {self.failure_shot(what)})")

    def check(self, condition: bool, what: str) -> None:
        """An assertion about the page that leaves a screenshot when it does not hold."""
        if not condition:
            raise self.fail(what)

    def wait(self, condition: Callable[[webdriver.Chrome], T], what: str, timeout: float = WAIT) -> T:
        try:
            return WebDriverWait(self.driver, timeout, 0.1, IGNORED).until(condition)
        except TimeoutException:
            raise self.fail(f"waited {timeout:g} s for {what}") from None

    def wait_reloading(self, condition: Callable[[webdriver.Chrome], T], what: str, timeout: float = WAIT) -> T:
        """Reload until the condition holds: for what the server writes behind (the connections table's batches)."""

        def reloaded(driver: webdriver.Chrome) -> T:
            found = condition(driver)
            if not found:
                driver.refresh()
            return found

        try:
            return WebDriverWait(self.driver, timeout, 0.3, IGNORED).until(reloaded)
        except TimeoutException:
            raise self.fail(f"reloaded for {timeout:g} s waiting for {what}") from None

    # --- pages ---------------------------------------------------------------------------------------------------

    def go(self, path: str) -> None:
        self.driver.get(self.base + path)

    def find(self, css: str) -> WebElement:
        return self.wait(ec.presence_of_element_located((By.CSS_SELECTOR, css)), f"an element {css!r}")

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def log_in(self, user: str = STAFF_USER, password: str = STAFF_PASSWORD) -> None:
        self.go("/admin/login/?next=/admin/")
        self.fill("#id_username", user)
        self.fill("#id_password", password)
        self.find("#login-form [type=submit]").click()
        self.wait(ec.presence_of_element_located((By.ID, "logout-form")), "the admin's log-out form (logged in)")
        # The admin's navigation sidebar closed, as an operator can: the pages' own content gets the window's width.
        self.driver.execute_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
        self.logged_in = True

    def ensure_logged_in(self) -> None:
        if not self.logged_in:
            self.log_in()

    def fill(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def select(self, css: str, value: str) -> None:
        """Choose an <option> by its value, never by its label (labels are for people and may change)."""
        Select(self.find(css)).select_by_value(value)

    def messages(self) -> str:
        """The admin's message list after an action or a save ("" when there is none)."""
        found = self.driver.find_elements(By.CSS_SELECTOR, "ul.messagelist")
        return found[0].text if found else ""

    def result_rows(self) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")

    def run_action(self, action: str, rows: list[WebElement]) -> None:
        """Tick these rows of a change list and run the action whose <option value> is `action`."""
        for row in rows:
            box = row.find_element(By.CSS_SELECTOR, "input[name=_selected_action]")
            if not box.is_selected():
                box.click()
        self.select("select[name=action]", action)
        self.find("#changelist-form button[name=index]").click()

    # --- README screenshots --------------------------------------------------------------------------------------

    def png(self) -> bytes:
        """The whole page, beyond the window's height, at the fixed window width."""
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        return base64.b64decode(shot["data"])

    def shoot(self, name: str) -> Path:
        """docs/screenshots/<name>, unless the file there shows nearly the same picture (AWSMCP_SCREENSHOTS)."""
        path = README_SHOTS / name
        assert SHOT_MODE in ("keep", "always", "off"), f"AWSMCP_SCREENSHOTS={SHOT_MODE!r}: keep, always or off"
        if SHOT_MODE == "off":
            return path
        self.driver.execute_script("document.activeElement && document.activeElement.blur()")  # no blinking caret
        picture = self.png()
        if SHOT_MODE != "always" and path.exists() and self.changed_share(path.read_bytes(), picture) <= SHOT_TOLERANCE:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(picture)
        return path

    def changed_share(self, old: bytes, new: bytes) -> float:
        """The share of pixels that differ between two PNGs (1.0 when their sizes differ), counted by the browser's
        own canvas: the project has no image library, and Chromium decodes PNGs anyway."""
        script = """
            const [a, b, done] = arguments;
            const load = (data) => new Promise((ok, bad) => {
                const image = new Image(); image.onload = () => ok(image); image.onerror = bad;
                image.src = "data:image/png;base64," + data;
            });
            const pixels = (image) => {
                const canvas = document.createElement("canvas");
                canvas.width = image.width; canvas.height = image.height;
                const context = canvas.getContext("2d"); context.drawImage(image, 0, 0);
                return context.getImageData(0, 0, image.width, image.height).data;
            };
            Promise.all([load(a), load(b)]).then(([x, y]) => {
                if (x.width !== y.width || x.height !== y.height) { done(1); return; }
                const p = pixels(x), q = pixels(y); let changed = 0;
                for (let i = 0; i < p.length; i += 4) {
                    if (p[i] !== q[i] || p[i + 1] !== q[i + 1] || p[i + 2] !== q[i + 2]) changed++;
                }
                done(changed / (p.length / 4));
            }, () => done(1));
        """
        share = self.driver.execute_async_script(script, base64.b64encode(old).decode(), base64.b64encode(new).decode())
        return float(share)


def chromium_options(profile: str) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    return options


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """Debian's Chromium under Debian's ChromeDriver, with a fresh profile; fails (not skips) when they are missing."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        assert Path(binary).exists(), f"{binary} is missing: run scripts/install-test-tools.sh (make test does)"
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download a driver or a browser
    os.environ.setdefault("SE_AVOID_STATS", "true")  # nor report usage statistics
    profile = tempfile.mkdtemp(prefix="awsmcp-chromium-")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=chromium_options(profile))
    try:
        driver.set_script_timeout(30)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def admin_browser(base: str, failures: Path) -> Iterator[AdminBrowser]:
    with chromium() as driver:
        yield AdminBrowser(driver, base, failures)
