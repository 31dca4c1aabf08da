"""A live server on a free local port and a headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Reduced motion: Bootstrap then collapses and fades without a transition (and app.css turns off the
# rest), so a test waits for a state (a class, a URL, a visible element), never for an animation to end.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
    "reduced_motion": "reduce",
}
DESKTOP = {"viewport": {"width": 1366, "height": 900}, "reduced_motion": "reduce"}
# Generous, because a busy machine (CI beside other work) is slow, and a wait for a state ends as soon as
# the state is there: the limit only decides how long a real failure takes to report.
TIMEOUT_MS = 45000


@pytest.fixture(scope="session")
def live_server(app):
    """The test app served over real HTTP on 127.0.0.1."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(autouse=True)
def job_service(app):
    """The job service beside the live server (huey's consumer in threads), for each browser test only: the
    other tests run their jobs themselves and must not meet a consumer."""
    from core import jobs

    jobs.queue_of(app).huey.flush()  # messages of other tests, whose jobs they ran themselves
    consumer = jobs.start_consumer_thread(app, workers=1)
    yield
    consumer.stop(graceful=True)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, for the whole session; expect() waits as long as actions do."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(locale="th-TH", **PHONE)
    context.set_default_timeout(TIMEOUT_MS)  # every page of the context, a second tab included
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def desktop(browser):
    context = browser.new_context(locale="th-TH", **DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)  # every page of the context, a second tab included
    page = context.new_page()
    yield page
    context.close()


def submit(page, target) -> None:
    """Click something (a selector or a locator) that loads a new page, and wait until it has loaded.

    Waiting for the navigation the click starts, not for "network idle" after it: on a busy machine the
    click may return before the request leaves, and an idle network then still shows the old page."""
    with page.expect_navigation(wait_until="load"):
        if isinstance(target, str):
            page.click(target)
        else:
            target.click()


def sign_in(page, base: str, username: str, password: str) -> None:
    """Fill the login form the way a person does."""
    page.fill("#username", username)
    page.fill("#password", password)
    submit(page, "button[type=submit]")
