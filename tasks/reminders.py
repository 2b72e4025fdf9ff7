"""Reminders of overdue client selections: the client's gallery link e-mailed again (tasks/mail.py) once their
selection is overdue (POSTLINE_SELECTION_DAYS after the link was made), then every POSTLINE_REMIND_EVERY_DAYS
until they send it or the link ends. Run by the scheduled `client-reminders` deployment (flows/reminders.py)."""

from __future__ import annotations

from prefect import task
from prefect.logging import get_run_logger
from sqlalchemy import update
from sqlmodel import col

from config.links import get_link_settings
from config.secret import installation_secret
from record import links, selection, work
from record.db import transaction
from record.models import ClientLink, utcnow
from tasks.mail import MailFailed, MailNotSet, link_message, send


def _take(link: ClientLink, now) -> bool:  # noqa: ANN001 - datetime
    """Mark ``link`` reminded now, unless another run did since it was read: a reminder goes out at most once."""
    with transaction() as session:
        guard = (col(ClientLink.reminded_at).is_(None) if link.reminded_at is None
                 else ClientLink.reminded_at == link.reminded_at)
        return session.execute(update(ClientLink).where(ClientLink.id == link.id, guard).values(
            reminded_at=now, reminders=ClientLink.reminders + 1)).rowcount == 1


def _give_back(link: ClientLink) -> None:
    """The e-mail did not go: the link is as if it had not been reminded now."""
    with transaction() as session:
        session.execute(update(ClientLink).where(ClientLink.id == link.id).values(
            reminded_at=link.reminded_at, reminders=link.reminders))


@task(name="remind-overdue-selections")
def remind_overdue_selections() -> int:
    """E-mail each overdue selection's gallery link to its client; how many were sent."""
    logger = get_run_logger()
    settings, now = get_link_settings(), utcnow()
    with transaction() as session:
        due = [(link, work.get_order(session, link.order_id)) for link in selection.due_reminders(
            session, now=now, selection_days=settings.selection_days, every_days=settings.remind_every_days)]
        by_hand = {order.id: work.order_line(session, order.id).change_stage is not None for _, order in due}
    if not due:
        return 0
    key, sent = installation_secret(), 0
    for link, order in due:
        if not _take(link, now):
            continue
        subject, body = link_message(purpose=link.purpose, client=order.client,
                                     url=links.url(key, link, settings.public_url), expires=links.expiry(link),
                                     pin=link.pin_hash is not None, reminder=True, album=order.package_count or 0,
                                     by_hand=by_hand[order.id])
        try:
            send(link.email, subject, body)
        except MailNotSet as exc:
            _give_back(link)
            logger.warning("%d overdue selection(s) not reminded: %s", len(due) - sent, exc)
            return sent
        except MailFailed as exc:
            _give_back(link)
            logger.error("order %s: %s", link.order_id, exc)
            continue
        sent += 1
        logger.info("order %s: reminder sent to %s", link.order_id, link.email)
    return sent
