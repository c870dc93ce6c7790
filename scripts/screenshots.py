"""Screenshots (PNG, full page) of the main pages for every demo role.

    .venv/bin/python scripts/screenshots.py DIR

Builds the demo into a database of its own (a temporary SQLite file: never yours), serves it with
``casework demo``, signs in as each demo account in Debian's Chromium (Playwright, no browser
download) and saves ``DIR/<role>-<page>.png`` for the start page, each page the navigation
offers, and the first case, learner and register those pages link to. Needs the test extras
(``pip install -e '.[test]'``) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "casework-demo"
ACCOUNTS = ("head", "tutor", "officer", "safeguarding", "admin", "learner")
# The first record of each kind the pages link to: one of each is enough to see the page.
DETAIL_LINKS = {
    "case": re.compile(r"^/cases/\d+$"),
    "learner": re.compile(r"^/learners/\d+$"),
    "register": re.compile(r"^/registers/sessions/\d+$"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_demo(database: Path, port: int) -> subprocess.Popen:
    casework = Path(sys.executable).with_name("casework")
    env = {**os.environ, "CASEWORK_DATABASE_URL": f"sqlite:///{database}"}
    server = subprocess.Popen(
        [str(casework), "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600  # the demo builds, scans and renders letters first
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("casework demo stopped before serving")
        try:
            urlopen(f"http://127.0.0.1:{port}/sign-in", timeout=2)
            return server
        except (URLError, ConnectionError):
            time.sleep(1)
    server.terminate()
    raise SystemExit("casework demo did not start serving within 10 minutes")


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


def local_links(page: Page) -> list[str]:
    hrefs = page.eval_on_selector_all(
        "main a[href], header a[href]", "els => els.map(e => e.getAttribute('href'))"
    )
    return [href.split("?")[0] for href in hrefs if href and href.startswith("/")]


def shoot(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print(f"  {name}.png")


def pages_of(page: Page, base: str, account: str, out: Path) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("Email address").fill(f"{account}@demo.example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    shoot(page, out, f"{account}-start")
    navigation = page.eval_on_selector_all(
        ".govuk-service-navigation__list a[href]", "els => els.map(e => e.getAttribute('href'))"
    )
    found: dict[str, str] = {}
    start = page.url.removeprefix(base)
    for path in dict.fromkeys(navigation):
        if path == start:
            continue
        page.goto(base + path)
        shoot(page, out, f"{account}-{slug(path)}")
        for link in local_links(page):
            for kind, pattern in DETAIL_LINKS.items():
                if kind not in found and pattern.match(link):
                    found[kind] = link
    for kind, path in found.items():
        page.goto(base + path)
        shoot(page, out, f"{account}-{kind}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        server = serve_demo(Path(folder) / "screenshots.sqlite", port)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                for account in ACCOUNTS:
                    print(account)
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    pages_of(context.new_page(), f"http://127.0.0.1:{port}", account, args.out)
                    context.close()
                browser.close()
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
