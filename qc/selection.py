"""The client's selection: after grading, the client picks their favourites in the gallery (the link `postline
gallery` makes), marks album photos up to the order's package count and leaves a note per photo for the
retoucher. Their favourites go through the retouch stages; the other photos are delivered as graded
(record/selection.py says how, in the record's terms).

The order's run waits here like at any gate (flows/client_selection.py: paused, or suspended when run from a
deployment); the gallery's submit gives the decision through :func:`surfaces.actions.gates.decide`, as the
Prefect UI's form of the paused run does (where the studio may decide for the client)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prefect.input import RunInput
from pydantic import BaseModel, Field, model_validator
from sqlmodel import Session

from config.line import Line
from config.text import Note
from qc.gates import DecisionError, Gate, approve_all_or_list, listing_problems, register
from record import black_and_white, selection, work
from record.models import CLIENT_SELECTION

MAX_NOTE = 1000


class Favourite(BaseModel):
    photo: str = Field(description="The photo's file name as on the card")
    album: bool = Field(False, description="Also in the album")
    black_and_white: bool = Field(False, description="Also in black and white")
    note: Note = Field("", max_length=MAX_NOTE, description="What the client asks the retoucher for")


class SelectionDecision(RunInput):
    """Retouch every photo, or only the favourites listed (the others are delivered as graded)."""
    approve_all: bool = Field(True, description="Every photo is a favourite: every photo is retouched")
    favourites: list[Favourite] = Field(default_factory=list, description="The favourites (untick approve_all)")
    client: str = Field("client", max_length=80, description="Who chose (recorded)")
    shown: list[str] = Field(default_factory=list, description="The photos the client saw and decided on (the "
                             "gallery sends them): a photo waiting but not among them waits on. Empty: every photo "
                             "waiting")

    @model_validator(mode="after")
    def _consistent(self) -> "SelectionDecision":
        approve_all_or_list(self.approve_all, self.favourites)
        return self


@dataclass(frozen=True)
class Plan:
    """What a selection does, checked against the record and the order's package."""
    favourites: tuple[str, ...]
    graded_only: tuple[str, ...]
    album: tuple[str, ...]
    notes: int
    photo_ids: tuple[int, ...] = field(repr=False)
    black_and_white: tuple[str, ...] = ()

    def summary(self) -> str:
        extra = [f"{len(self.album)} in the album"] if self.album else []
        extra += [f"{len(self.black_and_white)} also in black and white"] if self.black_and_white else []
        extra += [f"{self.notes} with a note"] if self.notes else []
        return (f"{len(self.favourites)} favourite(s) to retouch" + (f" ({', '.join(extra)})" if extra else "")
                + f"; {len(self.graded_only)} delivered as graded")

    def counts(self) -> dict[str, int]:
        return {"favourites": len(self.favourites), "graded_only": len(self.graded_only)}


def offers_black_and_white(session: Session, order_id: int) -> bool:
    """Whether the order's delivery recipe gives photos asked for in black and white their twins. A broken recipe
    file offers none: the gallery goes on working without the tick (the delivery names the file and its fault)."""
    from presets.recipe import RecipeError
    from tasks.deliver import recipe_of

    try:
        return recipe_of(work.get_order(session, order_id), resolved=False).offers_black_and_white
    except RecipeError:
        return False


class ClientSelection(Gate):
    key = CLIENT_SELECTION
    title = "Client selection"
    waits = "photo waiting for the client's selection"
    decision = SelectionDecision
    listed, by = "favourites", "client"
    by_a_lead = False

    def enabled(self, line: Line) -> bool:
        """Never the line's to say: each order says it (``Order.client_selection``, `order create --no-selection`)."""
        return False

    def waiting(self, session: Session, order_id: int) -> dict[str, tuple]:
        return selection.awaiting(session, order_id)

    def decided_on(self, session: Session, order_id: int, decision: SelectionDecision) -> dict[str, tuple]:
        """The photos waiting that ``decision`` decides: those the client saw (``shown``), or every one waiting. A
        photo graded while the client chose, after their page was made, is not theirs to have passed over."""
        waiting = self.waiting(session, order_id)
        return {name: waiting[name] for name in decision.shown if name in waiting} if decision.shown else waiting

    def check(self, session: Session, order_id: int, decision: SelectionDecision) -> Plan:
        """Photos not waiting, listed twice, or more album photos than the package holds are refused."""
        waiting = self.decided_on(session, order_id, decision)
        names = [f.photo for f in decision.favourites]
        problems = listing_problems(list(waiting), names)
        gone = [name for name in decision.shown if name not in waiting]
        if gone:
            problems.append(f"{len(gone)} photo(s) shown are not waiting for the selection any more "
                            f"({', '.join(gone[:10])})")
        album = tuple(f.photo for f in decision.favourites if f.album)
        package = work.get_order(session, order_id).package_count or 0
        before = sum(p.album for p in selection.picks(session, order_id).values())   # chosen in an earlier send
        if len(album) + before > package:
            problems.append(f"{len(album)} album photos chosen" + (f" (and {before} before)" if before else "")
                            + f", and the package holds {package}: "
                            + ("untick some" if package else "this order has no album"))
        grey = tuple(f.photo for f in decision.favourites if f.black_and_white)
        if grey and not offers_black_and_white(session, order_id):
            problems.append(f"{len(grey)} photo(s) asked for in black and white, and this order's delivery recipe "
                            "offers no black and white (its [black_and_white] names no rendition): untick them")
        if problems:
            raise DecisionError(f"order {order_id}: " + "; ".join(problems) + ". Nothing was applied.")
        chosen = set(waiting) if decision.approve_all else set(names)
        return Plan(favourites=tuple(sorted(chosen)), graded_only=tuple(sorted(set(waiting) - chosen)), album=album,
                    notes=sum(bool(f.note.strip()) for f in decision.favourites), black_and_white=grey,
                    photo_ids=tuple(photo.id for photo, _ in waiting.values()))

    def record(self, session: Session, order_id: int, decision: SelectionDecision) -> None:
        line = work.order_line(session, order_id)
        listed = {f.photo: f for f in decision.favourites}
        grey = []
        for name, (photo, graded) in self.decided_on(session, order_id, decision).items():
            pick = listed.get(name)
            favourite = decision.approve_all or pick is not None
            selection.record_pick(session, line=line, photo=photo, graded=graded, favourite=favourite,
                                  album=bool(pick and pick.album), note=pick.note.strip() if pick else "",
                                  actor=decision.client)
            if pick is not None and pick.black_and_white:
                grey.append(photo.id)
        black_and_white.ask(session, order_id, grey, actor=decision.client)

    def decided(self, session: Session, plan: Plan) -> bool:
        return selection.decided(session, list(plan.photo_ids))

    def describe(self, order_id: int, photos: list[str]) -> str:
        listing = "\n".join(f"- {name}" for name in photos)
        return (f"## Client selection, order {order_id}\n\n{len(photos)} graded photo(s) wait for the client's "
                f"favourites:\n\n{listing}\n\nThe client chooses in the gallery (`postline gallery {order_id}` makes "
                "the link). To decide for them here: *approve_all* retouches every photo; or untick it and list the "
                "favourites (each may go in the album, be asked for in black and white too and carry a note for the "
                "retoucher): the others are "
                "delivered as graded.")


CLIENT = register(ClientSelection())
