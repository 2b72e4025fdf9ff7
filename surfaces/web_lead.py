"""The lead's pages: one order (what it waits on, which photos wait for QC review) and the QC decision, given
through :func:`surfaces.actions.gates.decide` (the same as `postline qc decide` and the Prefect UI form)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from qc.gates import DecisionError
from qc.review import QC, ReviewReason
from record import work
from record.db import transaction
from surfaces.actions import gates
from record.models import Person
from surfaces.web_deps import LeadForm, Session, SignedIn, lead, page
from surfaces.web_errors import RecordId
from surfaces.web_session import WebSession

router = APIRouter(prefix="/orders/{order_id}")


def lead_of(order_id: RecordId, person: SignedIn) -> Person:
    """A lead, asked for an order id that can be one: an id no record can hold is no page (404), whoever asks."""
    return lead(person)


OrderLead = Annotated[Person, Depends(lead_of)]


def order_page(request: Request, session: WebSession, order_id: int, *, status: int = 200,
               error: str | None = None, done: str | None = None) -> Response:
    from tasks.runs import line_of

    with transaction() as db:
        try:
            order = work.get_order(db, order_id)
        except work.NotFound:
            raise work.NotFound(f"There is no order {order_id}.") from None
        counts = work.photo_counts(db, order_id)
    return page(request, "order.html", session, status=status, person=session.person, order=order,
                counts={s.value: n for s, n in counts.items()}, error=error, done=done,
                awaiting=gates.pending(QC, order_id), reasons=[r.value for r in ReviewReason],
                stages=[(s.key, s.title) for s in line_of(order_id).stages])


@router.get("")
def order_view(request: Request, order_id: RecordId, session: Session, _lead: OrderLead) -> Response:
    return order_page(request, session, order_id)


@router.post("/qc")
async def qc_decide(request: Request, order_id: RecordId, posted: LeadForm) -> Response:
    session = posted.session
    try:
        decision = _decision(posted.form, await run_in_threadpool(gates.pending, QC, order_id), posted.person.name)
        done = await run_in_threadpool(gates.decide, order_id, decision)
    except ValidationError as exc:
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return await run_in_threadpool(order_page, request, session, order_id, status=422, error=message)
    except DecisionError as exc:
        return await run_in_threadpool(order_page, request, session, order_id, status=422, error=str(exc))
    return await run_in_threadpool(order_page, request, session, order_id, done=done)


def _decision(form: dict, waiting: list[str], lead: str):  # noqa: ANN202 - qc.review.QcDecision
    """The QC decision of the order page's form. Each row names its photo (``photo-N``): the photos the lead
    saw must be the ones waiting now, or the page is out of date and nothing is decided."""
    rows = []
    for index in range(len(form)):
        if f"photo-{index}" not in form:
            break
        rows.append((str(form[f"photo-{index}"]), str(form.get(f"reason-{index}", "pass")),
                     str(form.get(f"stage-{index}", "")), str(form.get(f"note-{index}", ""))[:500]))
    if sorted(name for name, *_ in rows) != sorted(waiting):
        raise DecisionError("The photos waiting for review changed since this page was loaded (or the "
                            "form is incomplete): nothing was decided. Look at them again below.")
    rejections = [{"photo": name, "reason": reason, "send_back_to": stage, "note": note}
                  for name, reason, stage, note in rows if reason != "pass"]
    return QC.build(listed=rejections, by=lead)
