"""Outgoing mail over real SMTP from the settings; written to the log when no server is set.

Mail that cannot be sent (the server is down, the network is out) waits in an outbox — a folder of one JSON
file per mail under the instance — and goes out first on the next delivery, so a failed night's digests
are not lost: the demands they tell of are recorded only once and never prepared again.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import time
import uuid
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any

log = logging.getLogger("khruphan.mail")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    to_name: str = ""


@dataclass
class Delivery:
    sent: int = 0  # sent now (or logged), outbox included
    waiting: int = 0  # left in the outbox for the next delivery
    error: str = ""


def _message(sender: str, m: Mail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = formataddr((m.to_name, m.to)) if m.to_name else m.to
    msg["Subject"] = m.subject
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[-1] or "localhost")
    msg.set_content(m.body)
    return msg


def _spool(outbox: Path, m: Mail) -> None:
    outbox.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
    tmp = outbox / f".{name}.tmp"
    tmp.write_text(json.dumps(asdict(m), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, outbox / name)  # whole or not at all


def waiting(outbox: Path | None) -> list[tuple[Path, Mail]]:
    """The mails in the outbox, oldest first (a file that cannot be read is left for a person to see)."""
    if outbox is None or not outbox.is_dir():
        return []
    found = []
    for path in sorted(outbox.glob("*.json")):
        try:
            found.append((path, Mail(**json.loads(path.read_text(encoding="utf-8")))))
        except (OSError, ValueError, TypeError):
            log.warning("outbox: cannot read %s; left in place", path)
    return found


def deliver(config: dict[str, Any], mails: list[Mail], outbox: Path | None = None) -> Delivery:
    """Send what waits in the outbox, then `mails`, over one SMTP connection.

    When the server cannot be reached or fails part way, every mail not yet sent waits in the outbox (the
    ones already there stay) and `error` says why; a mail whose recipient the server refuses is logged and
    set aside in `outbox/refused/`, so that it does not hold up the others night after night."""
    queued = waiting(outbox)
    todo: list[tuple[Path | None, Mail]] = [*queued, *((None, m) for m in mails if m.to)]
    result = Delivery()
    if not todo:
        return result
    host = config.get("SMTP_HOST")
    if not host:
        for path, m in todo:
            log.info("mail (no SMTP_HOST set) to=%s subject=%s\n%s", m.to, m.subject, m.body)
            if path is not None:
                path.unlink(missing_ok=True)
        result.sent = len(todo)
        return result
    sender = config.get("SMTP_FROM") or "khruphan@localhost"
    done = 0
    try:
        with smtplib.SMTP(host, int(config.get("SMTP_PORT") or 25), timeout=30) as smtp:
            if config.get("SMTP_STARTTLS"):
                smtp.starttls()
            if config.get("SMTP_USER"):
                smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD", ""))
            for path, m in todo:
                try:
                    smtp.send_message(_message(sender, m))
                    result.sent += 1
                except smtplib.SMTPRecipientsRefused as err:
                    log.warning("mail to %s refused (%s); set aside", m.to, err.recipients)
                    if outbox is not None:
                        _spool(outbox / "refused", m)
                if path is not None:
                    path.unlink(missing_ok=True)
                done += 1
    except (OSError, smtplib.SMTPException) as err:
        result.error = str(err) or err.__class__.__name__
        for path, m in todo[done:]:
            if path is None and outbox is not None:
                _spool(outbox, m)
        result.waiting = len(todo) - done
    return result


def send_all(config: dict[str, Any], mails: list[Mail]) -> int:
    """Send each mail over one SMTP connection and return how many were sent (or logged); an error is
    raised, and nothing is kept for later (callers that must not lose mail use `deliver` with an outbox)."""
    result = deliver(config, mails, None)
    if result.error:
        raise OSError(result.error)
    return result.sent
