"""Outgoing mail over real SMTP from the settings; written to the log when no server is set."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

log = logging.getLogger("khruphan.mail")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    to_name: str = ""


def send_all(config: dict[str, Any], mails: list[Mail]) -> int:
    """Send each mail over one SMTP connection; return how many were sent (or logged)."""
    mails = [m for m in mails if m.to]
    if not mails:
        return 0
    host = config.get("SMTP_HOST")
    if not host:
        for m in mails:
            log.info("mail (no SMTP_HOST set) to=%s subject=%s\n%s", m.to, m.subject, m.body)
        return len(mails)
    sender = config.get("SMTP_FROM") or "khruphan@localhost"
    with smtplib.SMTP(host, int(config.get("SMTP_PORT") or 25), timeout=30) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD", ""))
        for m in mails:
            msg = EmailMessage()
            msg["From"] = sender
            msg["To"] = formataddr((m.to_name, m.to)) if m.to_name else m.to
            msg["Subject"] = m.subject
            msg["Message-ID"] = make_msgid(domain=sender.split("@")[-1] or "localhost")
            msg.set_content(m.body)
            smtp.send_message(msg)
    return len(mails)
