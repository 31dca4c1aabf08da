"""Status mails to an outside borrower who gave an e-mail address: the request received, approved or not,
handed over, returned (with the survey), cancelled. Thai first, English below, in one mail.

`status_mail` is pure (the loan, the event, the settings and the tracking link in, a Mail or None out);
`send` delivers through core.mail with the outbox, so a mail server that is down loses nothing (the mail
waits for the next delivery) and never undoes the change the mail tells of. The office-side services call
`on_status` after their commit (lending.outside.events, wired in `init_app`): approved, rejected, handed
over, returned, cancelled (the office's or the borrower's own); the request form sends "received" itself.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from core.dates import format_date
from core.mail import Mail, deliver

log = logging.getLogger("khruphan.eservice")

REQUESTED, APPROVED, REJECTED, CHECKED_OUT, RETURNED, CANCELLED = (
    "requested",
    "approved",
    "rejected",
    "checked_out",
    "returned",
    "cancelled",
)
EVENTS = (REQUESTED, APPROVED, REJECTED, CHECKED_OUT, RETURNED, CANCELLED)

_SUBJECT = {
    REQUESTED: ("ได้รับคำขอยืมพัสดุ {ref} แล้ว", "Request {ref} received"),
    APPROVED: ("คำขอยืมพัสดุ {ref} ได้รับอนุมัติ", "Request {ref} approved"),
    REJECTED: ("คำขอยืมพัสดุ {ref} ไม่ได้รับอนุมัติ", "Request {ref} not approved"),
    CHECKED_OUT: ("ส่งมอบพัสดุตามคำขอ {ref} แล้ว", "Items of request {ref} handed over"),
    RETURNED: ("ได้รับคืนพัสดุตามคำขอ {ref} แล้ว", "Items of request {ref} returned"),
    CANCELLED: ("คำขอยืมพัสดุ {ref} ถูกยกเลิก", "Request {ref} cancelled"),
}
_TEXT = {
    REQUESTED: (
        "{agency} ได้รับคำขอยืมพัสดุของท่านแล้ว เจ้าหน้าที่จะตรวจสอบและแจ้งผลการพิจารณาให้ทราบ",
        "{agency} has received your request. The office will check it and tell you its decision.",
    ),
    APPROVED: (
        "คำขอของท่านได้รับอนุมัติแล้ว โปรดติดต่อรับพัสดุที่{unit} ในวันที่ {start} พร้อมบัตรประจำตัวประชาชน และลงชื่อในใบรับพัสดุ",
        "Your request is approved. Collect the items at {unit_en} on {start_en}; bring your ID card and "
        "sign the receipt.",
    ),
    REJECTED: ("คำขอของท่านไม่ได้รับอนุมัติ{reason}", "Your request was not approved{reason_en}."),
    CHECKED_OUT: (
        "ท่านได้รับพัสดุแล้ว โปรดส่งคืนภายในวันที่ {due} ในสภาพเรียบร้อย",
        "You have received the items. Please return them in good order by {due_en}.",
    ),
    RETURNED: (
        "{agency} ได้รับคืนพัสดุแล้ว ขอบคุณที่ใช้บริการ ขอความกรุณาตอบแบบประเมินความพึงพอใจ 2 ข้อ ที่หน้าติดตามคำขอ",
        "{agency} has received the items back. Thank you; please answer the two questions of the "
        "satisfaction survey on the tracking page.",
    ),
    CANCELLED: ("คำขอของท่านถูกยกเลิกแล้ว", "Your request was cancelled."),
}
# the office cancelled the request (not the borrower): it says so, with the reason
_OFFICE_CANCEL = (
    "{agency} ขอยกเลิกคำขอของท่าน{reason} ขออภัยในความไม่สะดวก หากมีข้อสงสัยโปรดติดต่อ{unit}",
    "{agency} has cancelled your request{reason_en}. We are sorry for the inconvenience; please contact "
    "{unit_en} with any question.",
)


def _lines(loan: Any) -> tuple[list[str], list[str]]:
    th = [f"- {ln.group.name} {ln.count:,} รายการ" for ln in loan.lines]
    en = [f"- {ln.group.name} x {ln.count:,}" for ln in loan.lines]
    return th, en


def status_mail(loan: Any, event: str, settings: dict[str, Any], track_url: str) -> Mail | None:
    """The mail telling an outside borrower of `event` on their request, or None (no address, no party)."""
    party = getattr(loan, "party", None)
    if party is None or event not in EVENTS or not party.email or "@" not in party.email:
        return None
    agency = str(settings.get("agency_name") or "")
    unit = str(settings.get("supply_unit") or "งานพัสดุ")
    phone = str(settings.get("phone") or "")
    by_office = event == CANCELLED and getattr(loan, "cancelled_by_id", None) is not None
    reason = (loan.decision_note or "").strip() if event == REJECTED or by_office else ""
    ref = loan.public_ref or loan.ref
    values = {
        "agency": agency,
        "unit": unit,
        "unit_en": f"the supply unit ({unit})",
        "start": format_date(loan.start_on, "th", long=True),
        "start_en": format_date(loan.start_on, "en"),
        "due": format_date(loan.due_on, "th", long=True),
        "due_en": format_date(loan.due_on, "en"),
        "reason": f" เหตุผล: {reason}" if reason else "",
        "reason_en": f": {reason}" if reason else "",
    }
    subject_th, subject_en = (s.format(ref=ref) for s in _SUBJECT[event])
    text_th, text_en = (s.format(**values) for s in (_OFFICE_CANCEL if by_office else _TEXT[event]))
    items_th, items_en = _lines(loan)
    dates_th = f"วันที่ใช้: {format_date(loan.start_on, 'th', long=True)} ถึง {format_date(loan.due_on, 'th', long=True)}"
    dates_en = f"Dates: {format_date(loan.start_on, 'en')} to {format_date(loan.due_on, 'en')}"
    contact = f"{unit} {agency}" + (f" โทร {phone}" if phone else "")
    body = "\n".join(
        [
            f"เรียน {party.contact_person or party.name}",
            "",
            text_th,
            "",
            f"เลขที่คำขอ: {ref}",
            dates_th,
            *items_th,
            "",
            f"ติดตามคำขอด้วยเลขที่คำขอและหมายเลขโทรศัพท์ที่ให้ไว้: {track_url}",
            f"สอบถาม: {contact}",
            "",
            "อีเมลนี้ส่งจากระบบโดยอัตโนมัติ โปรดอย่าตอบกลับ",
            "",
            "-- English --",
            text_en,
            f"Reference: {ref}",
            dates_en,
            *items_en,
            f"Follow your request with its reference and your phone number: {track_url}",
        ]
    )
    return Mail(
        to=party.email, subject=f"{subject_th} / {subject_en}", body=body, to_name=party.contact_person or party.name
    )


def send(config: dict[str, Any], mails: list[Mail]) -> None:
    """Deliver now; what cannot go waits in the outbox for the next delivery (never raises)."""
    mails = [m for m in mails if m is not None]
    if not mails:
        return
    outbox = Path(config["OUTBOX_DIR"]) if config.get("OUTBOX_DIR") else None
    try:
        result = deliver(config, mails, outbox)
    except Exception:  # a status mail must never break the page or the service that changed the request
        log.exception("e-service: a status mail could not be prepared")
        return
    if result.error:
        log.warning("e-service: status mail waits in the outbox (%s)", result.error)


def track_url(config: dict[str, Any], ref: str) -> str:
    """The tracking page of a reference, from BASE_URL (also outside a request: the CLI, the job service)."""
    from urllib.parse import quote

    return f"{str(config.get('BASE_URL') or '').rstrip('/')}/e-service/track?ref={quote(ref or '')}"


def on_status(session: Any, loan: Any, event: str) -> None:
    """The listener the office-side services call after the commit of a change to an outside request."""
    from flask import current_app

    from core.people.services import get_settings

    try:
        config = current_app.config
        mail = status_mail(loan, event, get_settings(session), track_url(config, loan.public_ref or ""))
    except Exception:
        log.exception("e-service: no status mail for %s", event)
        return
    send(config, [mail] if mail is not None else [])  # (send leaves None out too)


def init_app(app: Any) -> None:
    """Listen to the outside loans' events (once per process; registering again changes nothing)."""
    from lending.outside import events

    events.register(on_status)
