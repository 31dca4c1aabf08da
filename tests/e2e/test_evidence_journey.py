"""Evidence end to end in a real browser at desktop width: an officer uploads two files at once and watches
the progress bar, an admin publishes one of them, and a visitor without an account finds it on the year's
public page and opens its stable link; the other stays internal."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD, unique
from tests.e2e.conftest import DESKTOP, TIMEOUT_MS, sign_in, submit

pytestmark = pytest.mark.e2e

YEAR = 2569


def big_pdf(label: str, size: int) -> bytes:
    """A PDF large enough for the browser to report upload progress along the way."""
    head = b"%PDF-1.4\n% " + label.encode() + b"\n"
    return head + b"%" + b"0" * (size - len(head) - 8) + b"\n%%EOF\n"


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def test_an_officer_uploads_two_files_an_admin_publishes_one_and_the_public_page_shows_it(
    browser, live_server, make_user
):
    officer = make_user(roles=["supply_officer"], name="นางสมศรี รักพัสดุ")
    admin = make_user(roles=["admin"], name="นายสมชาย ปลัดดี")
    public_title, internal_title = unique("คู่มือการยืมพัสดุ "), unique("บันทึกภายใน ")
    contexts = []

    def new_page():
        context = browser.new_context(locale="th-TH", **DESKTOP)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        return page

    try:
        # The officer chooses two files, gives each its title and sends them with the progress bar.
        page = new_page()
        progress: list[str] = []
        page.on("console", lambda m: progress.append(m.text) if m.text.startswith("kp-progress") else None)
        page.goto(f"{live_server}/login")
        sign_in(page, live_server, officer.username, PASSWORD)
        page.goto(f"{live_server}/evidence/new?year={YEAR}")
        page.set_input_files(
            "#files",
            [
                {"name": "คู่มือ.pdf", "mimeType": "application/pdf", "buffer": big_pdf("manual", 3_000_000)},
                {"name": "memo.pdf", "mimeType": "application/pdf", "buffer": big_pdf("memo", 2_000_000)},
            ],
        )
        titles = page.locator("#kp-file-list input[name=titles]")
        assert titles.count() == 2
        assert titles.nth(0).input_value() == "คู่มือ.pdf"
        assert page.locator("#kp-shared-title").is_hidden()
        titles.nth(0).fill(public_title)
        titles.nth(1).fill(internal_title)
        page.check("#ind-i20")
        page.check("#ind-o26")  # FY2569's measures-report item (o43 in FY2566)
        page.evaluate("""() => {
            const box = document.getElementById('kp-upload-progress');
            new MutationObserver(() => console.log('kp-progress ' + box.getAttribute('aria-valuenow') + ' '
                + (box.classList.contains('d-none') ? 'hidden' : 'shown')))
              .observe(box, {attributes: true, attributeFilter: ['aria-valuenow', 'class']});
        }""")
        no_sideways_scroll(page)
        with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/evidence/new")) as sent:
            page.click("#kp-upload-form button[type=submit]")
        page.wait_for_url(re.compile(r"/evidence\?year=2569$"))
        page.wait_for_load_state("load")

        assert sent.value.headers.get("x-requested-with") == "XMLHttpRequest", "sent by upload.js"
        assert any(p.endswith("shown") for p in progress), progress
        assert progress[-1].startswith("kp-progress 100"), progress
        flashes = page.locator(".alert-success").all_inner_texts()
        assert any("คู่มือ.pdf" in f for f in flashes) and any("memo.pdf" in f for f in flashes), flashes
        assert page.locator(f"text={public_title}").count() == 1
        assert page.locator(f"text={internal_title}").count() == 1

        # The admin opens the first item and publishes it.
        page = new_page()
        page.goto(f"{live_server}/login")
        sign_in(page, live_server, admin.username, PASSWORD)
        page.goto(f"{live_server}/evidence?year={YEAR}")
        submit(page, f"text={public_title}")
        submit(page, "#kp-publish")
        assert page.locator("#kp-withdraw").is_visible()
        public_url = page.locator(".kp-public-url").input_value()
        assert re.fullmatch(r"http://kp\.test/public/e/[A-Za-z0-9_-]{16}", public_url), public_url
        no_sideways_scroll(page)

        # Anyone, without an account, finds it on the year's page; the other file stays internal.
        page = new_page()
        page.goto(f"{live_server}/public/evidence/{YEAR}")
        assert page.locator(f"text={public_title}").count() == 2, "listed under i20 and under o26"
        assert page.locator(f"text={internal_title}").count() == 0
        assert page.locator(f"text={public_url}").count() == 2
        assert page.locator("#kp-nav-evidence").count() == 0
        no_sideways_scroll(page)
        path = public_url.removeprefix("http://kp.test")
        served = page.request.get(f"{live_server}{path}")
        assert served.status == 200
        assert served.headers["content-type"] == "application/pdf"
        assert served.body().startswith(b"%PDF-1.4\n% manual")
        internal = page.request.get(f"{live_server}/evidence", max_redirects=0)
        assert internal.status == 302 and "/login" in internal.headers["location"]
    finally:
        for context in contexts:
            context.close()
