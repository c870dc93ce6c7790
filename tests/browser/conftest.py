"""Browser tests: the app served on 127.0.0.1 by a real server thread against the test database,
driven by Playwright in the system's Chromium, with axe-core checking every page visited.

Without /usr/bin/chromium these tests skip, saying so; under CI=true they fail instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from casework.extensions import limiter
from tests.views.conftest import opened, with_letters, written  # noqa: F401  (the pages' data)

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# WCAG 2.2 A and AA, with the rules of the earlier versions they build on.
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# CASEWORK_SCREENSHOTS=DIR keeps a full-page PNG of each page the tests name, to look at.
SCREENSHOTS = os.environ.get("CASEWORK_SCREENSHOTS")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = (
            f"the browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def buffered(app: Flask):
    """The app with each response read whole (and its file closed) before werkzeug writes it.

    When the browser drops a connection mid-response (a page navigates away while app.mjs is
    still being sent), werkzeug's dev server can raise before it closes the response's file,
    leaving an unclosed file for the garbage collector: a ResourceWarning, which the suite treats
    as an error. Static files and pages are small, so reading them whole costs nothing here.
    """

    def serve(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return serve


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The app served by a real HTTP server in a thread: each request in its own app context."""
    server = make_server("127.0.0.1", 0, buffered(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture(scope="session")
def browser(chromium_path: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path))
        yield browser
        browser.close()


class Visit:
    """One person's browser tab on the served app, with the checks every page gets."""

    def __init__(self, page, base_url: str, *, javascript: bool):
        self.page, self.base_url, self.javascript = page, base_url, javascript
        self.console_errors: list[str] = []  # a CSP violation or a missing file shows here
        self.refused: set[str] = set()  # pages the test expects an error status from
        page.on("console", self._console)

    def _console(self, message) -> None:
        if message.type == "error" and message.location.get("url") not in self.refused:
            self.console_errors.append(f"{message.text} ({message.location.get('url')})")

    def goto(self, path: str, *, status: int = 200):
        url = self.base_url + path
        if status >= 400:
            self.refused.add(url)
        response = self.page.goto(url)
        assert response.status == status, f"{path}: {response.status}"
        return response

    def check_accessible(self) -> None:
        """axe-core on the page as it is: no WCAG 2.2 A or AA violation. (Run through the
        DevTools protocol, which the page's CSP does not govern: the page's own rules stay on.)"""
        assert self.javascript, "axe-core needs JavaScript: check the page in a tab with it on"
        if not self.page.evaluate("typeof axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0")
        violations = self.page.evaluate(
            "async (tags) => (await axe.run(document, {runOnly: tags})).violations"
            ".map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target).join(', ')})`)",
            WCAG,
        )
        assert violations == [], f"{self.page.url}: {violations}"

    def screenshot(self, name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)

    def download(self, link) -> tuple[str, bytes]:
        """Follow a download link: (the file name the browser is given, the bytes it saves)."""
        with self.page.expect_download() as download:
            link.click()
        return download.value.suggested_filename, Path(download.value.path()).read_bytes()

    def sign_in(self, email: str, password: str) -> None:
        self.page.get_by_label("Email address").fill(email)
        self.page.get_by_label("Password", exact=True).fill(password)
        self.page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def visit(browser, live_server: str, app_context) -> Iterator[callable]:
    """``visit(javascript=True)``: a fresh browser context (no cookies) on the served app. Every
    tab must end with no console errors."""
    limiter.reset()
    contexts, visits = [], []

    def open_tab(*, javascript: bool = True) -> Visit:
        context = browser.new_context(java_script_enabled=javascript)
        contexts.append(context)
        visits.append(Visit(context.new_page(), live_server, javascript=javascript))
        return visits[-1]

    yield open_tab
    for context in contexts:
        context.close()
    for tab in visits:
        assert tab.console_errors == [], tab.console_errors
