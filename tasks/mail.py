"""E-mail to clients through the studio's SMTP server (config/mail.py): a link to their gallery or download, and
the reminder of an overdue selection. A PIN is never put in an e-mail: the studio gives it another way."""

from __future__ import annotations

import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from config.errors import Invalid, Retryable
from config.mail import MailSettings
from config.settings import get_settings
from record.models import LinkPurpose


class MailNotSet(Invalid):
    """No SMTP server is set (POSTLINE_SMTP_HOST): nothing can be e-mailed."""


class MailFailed(Retryable):
    """The SMTP server could not be reached or refused the message; nothing was sent."""


def check_address(address: str) -> str:
    """A plain e-mail address (one line, one @, no spaces or angle brackets), else :class:`Invalid`."""
    address = address.strip()
    local, _, domain = address.partition("@")
    if (not local or "." not in domain or len(address) > 254
            or any(c.isspace() or c in "<>,;\"()[]\\" or ord(c) < 32 for c in address)):
        raise Invalid(f"{address[:80]!r} is not an e-mail address; give one like anna@example.com")
    return address


def link_message(*, purpose: LinkPurpose, client: str, url: str, expires: datetime, pin: bool,
                 reminder: bool = False, gallery: str = "selecting", album: int = 0,
                 by_hand: bool = True) -> tuple[str, str]:
    """Subject and body of the e-mail that carries a link. ``gallery``: what the gallery shows now (the value of
    surfaces.actions.client.GalleryMode: selecting, preparing, chosen, revising, delivered); ``album``: the photos
    the client picks for the album (0: the order has no album); ``by_hand``: people work a stage of the order's
    line (else the gallery takes no notes nor change requests: the client writes to the studio)."""
    studio = get_settings().studio_name
    what = {LinkPurpose.GALLERY: {
                "selecting": "your photos are ready for you to choose your favourites",
                "preparing": "your gallery is ready: your photos appear in it as they are prepared",
                "chosen": "your gallery: we are working on your favourites",
                "revising": "your gallery: we are making the changes you asked for",
                "delivered": "your photos are delivered: here is your gallery"}.get(gallery, "your gallery"),
            LinkPurpose.DOWNLOAD: "your photos are ready to download",
            LinkPurpose.PREVIEW: "a photo is ready for you to look at"}[purpose]
    if reminder:
        subject = f"Reminder: your selection for {studio}"
        opening = ("We are still waiting for your selection: until we have it, we cannot start retouching your "
                   "favourites. Your gallery is here:")
    else:
        subject = f"{studio}: {what}"
        opening = f"Hello {client}, {what}:"
    lines = [opening, "", url, "", f"The link works until {expires:%d %B %Y}."]
    if pin:
        lines.append("It asks for the PIN we gave you (it is not in this e-mail, for your privacy).")
    if purpose is LinkPurpose.GALLERY and (reminder or gallery == "selecting"):
        picks = f", pick up to {album} of them for your album" if album else ""
        note = ", leave a note on a favourite for the retoucher if you like" if by_hand else ""
        lines += ["", f"Mark your favourites (we retouch those){picks}{note}, then press Send my selection."]
    elif purpose is LinkPurpose.GALLERY and gallery == "preparing":
        lines += ["", "Come back to it soon: once they are ready you choose your favourites there (we retouch "
                      "those)."]
    elif purpose is LinkPurpose.GALLERY and gallery == "delivered" and by_hand:
        lines += ["", "Would you like something changed? Tick the photo in the gallery, say what to change, and "
                      "send."]
    elif purpose is LinkPurpose.GALLERY and gallery == "delivered":
        email = get_settings().studio_email
        lines += ["", f"Would you like something changed? Write to us{f' at {email}' if email else ''}, naming the "
                      "photo and what you would like."]
    lines += ["", f"— {studio}"]
    return subject, "\n".join(lines) + "\n"


def send(to: str, subject: str, body: str, settings: MailSettings | None = None) -> str:
    """Send one plain-text e-mail; returns its Message-ID. :class:`MailNotSet` when no server is set,
    :class:`MailFailed` when it cannot be sent."""
    settings = settings or MailSettings()
    if not settings.host:
        raise MailNotSet("no e-mail was sent: set POSTLINE_SMTP_HOST and POSTLINE_SMTP_SENDER (see README, "
                         "Settings) to e-mail links to clients")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.sender, check_address(to), subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2].strip("> ") or None)
    message.set_content(body)
    try:
        if settings.security == "tls":
            server = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with server:
            if settings.security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if settings.user:
                server.login(settings.user, settings.password or "")
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailFailed(f"the e-mail to {to} was not sent: {settings.host}:{settings.port} answered "
                         f"{type(exc).__name__}: {exc}. Check POSTLINE_SMTP_* and try again") from None
    return message["Message-ID"]
