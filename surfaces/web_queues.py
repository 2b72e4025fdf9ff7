"""The queues page: the stages a person sees with their depth and due dates, what they hold, and for a lead every
claim and every open order; claiming the next photo of a stage (:func:`surfaces.actions.queue.claim`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from record import queue, work
from record.db import transaction
from surfaces import web_views as views
from surfaces.actions import queue as actions
from surfaces.web_deps import Form, Session, SignedIn, page, to

router = APIRouter()


@router.get("/")
def home(request: Request, session: Session, person: SignedIn) -> Response:
    line = work.studio_line()
    lead = views.is_lead(person)
    with transaction() as db:
        stages = views.stage_rows(db, person, line_stages=[(s.key, s.title) for s in line.stages],
                                  people_stages=actions.human_stages())
        mine = views.item_rows(db, queue.mine(db, person.name))
        claims = views.item_rows(db, views.all_claims(db)) if lead else []
        orders = views.open_orders(db) if lead else []
    return page(request, "queues.html", session, stages=stages, mine=mine, claims=claims, orders=orders, lead=lead,
                lease_of=queue.lease_expiry)


@router.post("/claim")
async def claim(posted: Form) -> Response:
    stage = str(posted.form.get("stage", ""))
    item = await run_in_threadpool(lambda: actions.claim(person=posted.person.name, stage=stage))
    return to(f"/items/{item.id}" if item else "/?note=empty")
