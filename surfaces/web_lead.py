"""The lead's pages: one order (what it waits on, which photos wait for QC review) and the QC decision,
given through :func:`surfaces.actions.gates.decide` (the same as `postline qc decide` and the Prefect UI form)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from record import work
from record.db import transaction
from surfaces import web_views as views
from surfaces.web_errors import RecordId


def add_lead_routes(app: FastAPI, *, posted: Callable, signed_in: Callable, page: Callable, to: Callable) -> None:
    from qc import review
    from qc.gates import DecisionError
    from qc.review import QC
    from surfaces.actions import gates
    from surfaces.web_app import Refused
    from tasks.runs import line_of

    def lead_only(person) -> None:  # noqa: ANN001
        if not views.is_lead(person):
            raise Refused(403, "Only a lead can see orders and give QC decisions.")

    def order_page(request: Request, session, person, order_id: int, *, status: int = 200,  # noqa: ANN001
                   error: str | None = None, done: str | None = None) -> Response:
        with transaction() as db:
            try:
                order = work.get_order(db, order_id)
            except work.NotFound:
                raise Refused(404, f"There is no order {order_id}.") from None
            counts = work.photo_counts(db, order_id)
        return page(request, "order.html", session, status=status, person=person, order=order,
                    counts={s.value: n for s, n in counts.items()}, error=error, done=done,
                    awaiting=gates.pending(QC, order_id), reasons=[r.value for r in review.ReviewReason],
                    stages=[(s.key, s.title) for s in line_of(order_id).stages])

    @app.get("/orders/{order_id}")
    def order_view(request: Request, order_id: RecordId) -> Response:
        who = signed_in(request)
        if who is None:
            return to("/signin")
        lead_only(who[1])
        return order_page(request, *who, order_id)

    @app.post("/orders/{order_id}/qc")
    async def qc_decide(request: Request, order_id: RecordId) -> Response:
        session, person, form = await posted(request)
        lead_only(person)
        try:
            decision = _decision(form, await run_in_threadpool(gates.pending, QC, order_id), person.name)
            done = await run_in_threadpool(gates.decide, order_id, decision)
        except ValidationError as exc:
            message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return await run_in_threadpool(order_page, request, session, person, order_id, status=422, error=message)
        except DecisionError as exc:
            return await run_in_threadpool(order_page, request, session, person, order_id, status=422, error=str(exc))
        return await run_in_threadpool(order_page, request, session, person, order_id, done=done)


def _decision(form: dict, waiting: list[str], lead: str):  # noqa: ANN202 - qc.review.QcDecision
    """The QC decision of the order page's form. Each row names its photo (``photo-N``): the photos the lead
    saw must be the ones waiting now, or the page is out of date and nothing is decided."""
    from qc.gates import DecisionError
    from qc.review import QC

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
