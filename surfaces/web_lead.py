"""The lead's order page: what the order waits on, and which photos wait for QC review, with the way to the QC
review page (surfaces/web_qc.py), where the decision is given."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from qc.originals import ORIGINALS
from qc.review import QC
from record import work
from record.db import transaction
from surfaces.actions import gates
from record.models import Person
from surfaces.web_deps import Session, SignedIn, lead, page
from surfaces.web_errors import RecordId
from surfaces.web_session import WebSession

router = APIRouter(prefix="/orders/{order_id}")


def lead_of(order_id: RecordId, person: SignedIn) -> Person:
    """A lead, asked for an order id that can be one: an id no record can hold is no page (404), whoever asks."""
    return lead(person)


OrderLead = Annotated[Person, Depends(lead_of)]


def order_page(request: Request, session: WebSession, order_id: int) -> Response:
    with transaction() as db:
        try:
            order = work.get_order(db, order_id)
        except work.NotFound:
            raise work.NotFound(f"There is no order {order_id}.") from None
        counts = work.photo_counts(db, order_id)
    return page(request, "order.html", session, person=session.person, order=order,
                counts={s.value: n for s, n in counts.items()}, awaiting=gates.pending(QC, order_id),
                originals=len(gates.pending(ORIGINALS, order_id)))


@router.get("")
def order_view(request: Request, order_id: RecordId, session: Session, _lead: OrderLead) -> Response:
    return order_page(request, session, order_id)
