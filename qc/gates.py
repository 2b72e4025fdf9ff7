"""Gates where a person decides on a list of an order's photos: the QC lead's review (qc/review.py), the
senior photographer's review of the originals (qc/originals.py) and the client's selection (qc/selection.py).
One :class:`Gate` each, used alike by the order's flow (flows/waiting.wait_for_decision: pause with the gate's
form, apply what comes back), the command line (`postline qc|review pending|decide`) and the web pages
(surfaces/actions/gates.py gives a decision).

A gate knows its key (what the order's run waits on, ``Order.waiting_on``), its title, its decision form (a
Prefect RunInput), which photos await it, how to check a decision against the record and the order's line
(:meth:`Gate.check`: one function for the check before a decision is given and the one, in the same
transaction, that applies it) and apply it, and how to wake the order's paused run with a decision.

A new gate is a subclass with its decision model, :meth:`Gate.waiting`, :meth:`Gate.check`, :meth:`Gate.record`,
:meth:`Gate.decided` and :meth:`Gate.describe`, an instance passed to :func:`register`, and its module imported
in :func:`gates`; its flow waits with ``flows.waiting.wait_for_decision(order_id, GATE)`` and
`surfaces.actions.gates.decide` gives it decisions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from prefect import task
from prefect.input import RunInput
from prefect.logging import get_run_logger
from sqlmodel import Session

from config.errors import Invalid
from config.line import Line
from record.db import ORDER_LOCK, one_at_a_time, transaction


class DecisionError(Invalid):
    """The decision names a photo or stage that is not waiting / not there; nothing was applied."""


class NotTakenNow(DecisionError):
    """The decision was right, but the order's run could not take it now (its Prefect server unreachable, or the
    run busy): nothing was applied; give it again in a minute."""


class Plan(Protocol):
    """What a checked decision does."""

    def summary(self) -> str: ...             # one sentence: '1 passed; DSC_0003.dng sent back to ...'

    def counts(self) -> dict[str, int]: ...   # what the flow run adds up: {'passed': 1, 'rejected': 1}


def shown(text: str) -> str:
    """A name from a decision as an error message quotes it: short, control characters escaped."""
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


def approve_all_or_list(approve_all: bool, listed: list) -> None:
    """A decision approves everything, or lists exceptions: not both (a validator of every gate's decision)."""
    if approve_all and listed:
        raise ValueError("untick approve_all to list photos, or remove the list")


LISTED = 10          # waiting photos a refusal names, at most


def listing_problems(waiting: Sequence[str], listed: list[str]) -> list[str]:
    """What is wrong with the photos a decision lists, against those waiting."""
    problems = []
    if not waiting:
        problems.append("no photo of this order is waiting for this decision (it was given already, or the "
                        "order has not reached this gate)")
    unknown = [name for name in dict.fromkeys(listed) if name not in waiting]
    if unknown and waiting:
        first = sorted(waiting)[:LISTED]
        more = (f" and {len(waiting) - len(first)} more: the gate's `pending` command lists them, e.g. `postline "
                "qc pending ORDER`" if len(waiting) > len(first) else "")
        problems.append(f"not waiting for review: {', '.join(map(shown, unknown))} "
                        f"(waiting: {', '.join(first)}{more})")
    twice = [name for name in dict.fromkeys(listed) if listed.count(name) > 1]
    if twice:
        problems.append(f"listed more than once: {', '.join(map(shown, twice))}")
    return problems


MAX_PICTURES = 48       # thumbnails a form shows at most; the review page shows every photo
PICTURES_PER_ROW = 3    # what fits the Prefect UI's Resume dialog (about 470 px wide) at 120 px with their names


def pictures(order_id: int, photos: dict[str, int], *, link_to: str) -> str:
    """Markdown thumbnails of ``photos`` (card name -> photo id) for a gate's form in the Prefect UI: a table of
    :data:`PICTURES_PER_ROW`, each cell the photo's small picture (a signed preview link's ``/small.jpg`` on
    `postline web`, record/links.py: the photo's finished file, or its original before any, 120 px; valid
    POSTLINE_PREVIEW_MINUTES) with its card name under it, a link to ``link_to`` (the review page). Empty when there
    is none.

    The picture itself is no link: the Prefect UI (3.8) shows an image inside a link as its raw Markdown text
    (``[![name](...)](...)``), and a plain image at its natural size (so the small one, not the 900 px preview)."""
    from datetime import timedelta

    from config.links import get_link_settings
    from config.secret import installation_secret
    from record import links
    from record.models import LinkPurpose, utcnow

    if not photos:
        return ""
    settings, key = get_link_settings(), installation_secret()
    shown_here = list(photos.items())[:MAX_PICTURES]
    with transaction() as session:
        cells = []
        for name, photo_id in shown_here:
            link = links.create(session, order_id=order_id, purpose=LinkPurpose.PREVIEW, target=str(photo_id),
                                expires_at=utcnow() + timedelta(minutes=settings.preview_minutes), actor="postline")
            label = name.replace("|", "\\|").replace("[", "").replace("]", "")
            small = f"{links.url(key, link, settings.public_url)}/small.jpg"    # surfaces/web_client.preview_small
            cells.append(f"![{label}]({small}) [{label}]({link_to})")
    rows = [cells[i:i + PICTURES_PER_ROW] for i in range(0, len(cells), PICTURES_PER_ROW)]
    width = min(PICTURES_PER_ROW, len(cells))
    table = ["| " + " | ".join([""] * width) + " |", "|" + "---|" * width]
    table += ["| " + " | ".join(row + [""] * (width - len(row))) + " |" for row in rows]
    more = (f"\n\n{len(photos) - len(shown_here)} more on the review page." if len(photos) > len(shown_here) else "")
    return "\n".join(table) + more


class Gate(ABC):
    key: ClassVar[str]                   # what the order's run waits on while it waits here (Order.waiting_on)
    title: ClassVar[str]                 # what people call it, e.g. 'QC gate'
    waits: ClassVar[str]                 # what waits, one of them: 'photo waiting for QC review'
    decision: ClassVar[type[RunInput]]   # the form the paused run shows, and what `decide` gives
    listed: ClassVar[str]                # the decision's field listing the exceptions ('rejections', 'cull')
    by: ClassVar[str]                    # the decision's field naming who decides ('lead', 'reviewer')
    by_a_lead: ClassVar[bool] = True     # who decides is one of the studio's leads (not so: the client's selection)

    # --- what each gate says for itself ---------------------------------------------------------------------

    @abstractmethod
    def enabled(self, line: Line) -> bool:
        """Whether an order of ``line`` waits at this gate."""

    @abstractmethod
    def waiting(self, session: Session, order_id: int) -> dict[str, Any]:
        """The order's photos awaiting this gate, by card name (to the row the decision moves)."""

    @abstractmethod
    def check(self, session: Session, order_id: int, decision: RunInput) -> Plan:
        """The decision's plan, or :class:`DecisionError` saying everything wrong with it. Changes nothing."""

    @abstractmethod
    def record(self, session: Session, order_id: int, decision: RunInput) -> None:
        """Apply a decision :meth:`check` passed, in the caller's transaction."""

    @abstractmethod
    def decided(self, session: Session, plan: Plan) -> bool:
        """Whether the photos ``plan`` decides have been decided (by the order's run, once it took it)."""

    @abstractmethod
    def describe(self, order_id: int, photos: list[str]) -> str:
        """The form's text in the Prefect UI (Markdown): what waits, how to decide, the codes to use."""

    def initial(self, order_id: int, photos: list[str]) -> dict[str, Any]:
        """The form's values when it opens."""
        return {"approve_all": True}

    # --- the same for every gate ----------------------------------------------------------------------------

    def build(self, *, listed: list[dict] | None, by: str) -> RunInput:
        """A decision: approve every photo waiting (``listed`` empty), or the exceptions ``listed``, by ``by``.
        Raises pydantic's ValidationError for a row that does not fit the form."""
        return self.decision(**{"approve_all": not listed, self.listed: listed or [], self.by: by})

    def form(self, order_id: int, photos: list[str], *, refused: str | None = None) -> type[RunInput]:
        """The paused run's form. ``refused``: why the decision given in the form before was not applied, said at
        its top: the run pauses again with the same form, and the Prefect UI showed no sign of the refusal outside
        the run's logs (a lead thought it given)."""
        said = (f"**Your last decision was not applied**, nothing of it: {refused} Decide again below.\n\n"
                if refused else "")
        return self.decision.with_initial_data(description=said + self.describe(order_id, photos),
                                               **self.initial(order_id, photos))

    def awaiting(self, order_id: int) -> list[str]:
        with transaction() as session:
            return list(self.waiting(session, order_id))

    def validate(self, order_id: int, decision: RunInput) -> Plan:
        """:meth:`check` in a transaction of its own: what the decision would do, before it is given."""
        with transaction() as session:
            self._check_decider(session, decision)
            return self.check(session, order_id, decision)

    def apply(self, order_id: int, decision: RunInput) -> Plan:
        """Check and apply the decision in one transaction."""
        with transaction() as session:
            return self.apply_in(session, order_id, decision)

    def apply_in(self, session: Session, order_id: int, decision: RunInput) -> Plan:
        """:meth:`apply` in ``session``'s transaction: one decision on the order at a time (two sends of one
        selection, two leads at once: the second finds it decided)."""
        one_at_a_time(session, ORDER_LOCK, order_id)
        self._check_decider(session, decision)
        plan = self.check(session, order_id, decision)
        self.record(session, order_id, decision)
        return plan

    def _check_decider(self, session: Session, decision: RunInput) -> None:
        """Whoever gives the decision (the CLI's --as, the web page's signed-in lead, the Prefect UI's Resume form)
        is one of the studio's leads once it has listed its people (record.people.not_a_lead): the form took any
        name, a retoucher's too, who could pass their own work."""
        from record.people import not_a_lead

        if self.by_a_lead and (why := not_a_lead(session, str(getattr(decision, self.by)))):
            raise DecisionError(f"{self.by} {shown(str(getattr(decision, self.by)))}: {why}")

    def applied(self, plan: Plan) -> bool:
        with transaction() as session:
            return self.decided(session, plan)

    def wake(self, order_id: int, decision: RunInput):  # noqa: ANN201 - tasks.handoff.Wake
        """Resume the order's run if it waits at this gate, with ``decision`` as its input."""
        from tasks.handoff import wake_order

        return wake_order(order_id, self.key, run_input=decision.model_dump(mode="json"))


_REGISTERED: dict[str, Gate] = {}


def register(gate: Gate) -> Gate:
    """Make ``gate`` known by its key (to the flows' tasks, which are given the key, and to the surfaces)."""
    _REGISTERED[gate.key] = gate
    return gate


def gates() -> dict[str, Gate]:
    """Every gate, by key. Each gate's module registers its gate; they are imported here, not at the top, as
    they import this module."""
    import qc.originals  # noqa: F401
    import qc.review  # noqa: F401
    import qc.selection  # noqa: F401

    return dict(_REGISTERED)


# --- Prefect tasks of a gate's wait (flows/waiting.py) --------------------------------------------------------------

@task(name="awaiting-decision", task_run_name="awaiting-{gate}")
def awaiting_task(gate: str, order_id: int) -> list[str]:
    return gates()[gate].awaiting(order_id)


@task(name="apply-decision", task_run_name="apply-{gate}")
def apply_task(gate: str, order_id: int, decision: RunInput) -> tuple[dict[str, int], str | None]:
    """Apply the decision: what it did, added up, and None; one naming photos or stages that are not there (or
    given by someone who is not a lead) is logged and changes nothing: ``{"refused": 1}`` and why, which the
    flow's next form says as it asks again."""
    try:
        plan = gates()[gate].apply(order_id, decision)
    except DecisionError as exc:
        get_run_logger().error("%s: decision not applied: %s Decide again.", gates()[gate].title, exc)
        return {"refused": 1}, str(exc)
    get_run_logger().info("%s: %s", gates()[gate].title, plan.summary())
    return plan.counts(), None
