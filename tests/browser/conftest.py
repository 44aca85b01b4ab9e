"""One Daphne (with the fixture origin) and one headless Chromium, shared by every browser flow of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.admin import create_staff
from tests.support.browser import AdminBrowser, admin_browser
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne


@pytest.fixture(scope="module")
def server(origin: OriginServer) -> Iterator[DaphneServer]:
    """Rules enforced (the rule flow edits one), activity and statistics written every half second."""
    with daphne(
        **origin.settings_env(),
        MCP_RATELIMIT_ENABLED="true",
        OPS_ACTIVITY_FLUSH="0.5",
        DOCS_STATS_FLUSH="0.5",
        OPS_RULES_POLL="0.5",
    ) as srv:
        create_staff(srv)
        yield srv


@pytest.fixture(scope="module")
def browser(server: DaphneServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminBrowser]:
    with admin_browser(server.base, tmp_path_factory.mktemp("browser-failures")) as chrome:
        yield chrome


@pytest.fixture
def admin(browser: AdminBrowser) -> AdminBrowser:
    """The browser, logged in as the staff user (each flow may run alone)."""
    browser.ensure_logged_in()
    return browser


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A flow that fails outside the browser's own checks (an MCP client's assertion) still leaves a screenshot of
    where the browser was, named in the report."""
    report = yield
    chrome = getattr(item, "funcargs", {}).get("admin") or getattr(item, "funcargs", {}).get("browser")
    named = call.excinfo is not None and "screenshot:" in str(call.excinfo.value)  # the browser's checks name one
    if report.when == "call" and report.failed and not named and isinstance(chrome, AdminBrowser):
        report.sections.append(("browser", f"screenshot: {chrome.failure_shot(item.name)}"))
    return report
