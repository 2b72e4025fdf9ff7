"""What an order's run waits on and what to do now, said for the lead: `postline status N` and the order run's
progress artifact (tasks/progress.py) say it alike. Without Prefect: `postline status` does not load it (three
seconds of a command's start)."""

from __future__ import annotations

from config.line import Line
from config.links import get_link_settings
from record.models import CLIENT_SELECTION, ORIGINAL_REVIEW, QC_GATE, Order, OrderStatus


def web_url() -> str:
    """Where people reach `postline web` (POSTLINE_PUBLIC_URL), without a trailing slash."""
    return get_link_settings().public_url


def review_url(order_id: int) -> str:
    """The order's QC review page on `postline web`."""
    return f"{web_url()}/orders/{order_id}/qc"


def waiting_title(line: Line, key: str | None) -> str:
    """What an order's run waits on, as people say it."""
    if key is None:
        return "nothing: postline's own workers are on it"
    if key == ORIGINAL_REVIEW:
        return "the review of the originals (the senior photographer)"
    if key == QC_GATE:
        return "the QC gate (the QC lead's review)"
    if key == CLIENT_SELECTION:
        return "the client's selection (their gallery)"
    return f"{_title(line, key)[0]} (retouchers)"


def next_step(order: Order, line: Line, waiting: int | None = None) -> str:
    """What to do for ``order`` now, as the command to run (Markdown code spans): by what its run waits on."""
    n = f"{waiting} " if waiting is not None else ""
    oid = order.id
    if order.status is OrderStatus.FAILED:       # stopped where it waited or worked: nothing carries it on alone
        return (f"The run stopped: `postline status {oid}` says why; `postline order run {oid}` carries on"
                + (" (work handed back meanwhile is kept)." if order.waiting_on else "."))
    if order.waiting_on == ORIGINAL_REVIEW:
        return (f"The senior photographer reviews the {n}original(s): `postline review pending {oid}`, then "
                f"`postline review decide {oid} --accept-suggestions` (or `--approve-all`, or `--cull PHOTO:REASON`), "
                "or this run's Resume form.")
    if order.waiting_on == CLIENT_SELECTION:
        return (f"The client picks their favourites in their gallery: `postline gallery {oid}` makes or shows the link "
                f"(`postline links list {oid}` lists them); the run goes on when the selection is sent.")
    if order.waiting_on == QC_GATE:
        return (f"The QC lead decides on {n}photo(s): the review page {review_url(oid)}, or `postline qc pending "
                f"{oid}`, then `postline qc decide {oid} --approve-all` (or `--reject PHOTO:REASON:STAGE[:NOTE]`), or "
                "this run's Resume form.")
    if order.waiting_on:
        try:
            title = line.stage(order.waiting_on).title
        except KeyError:
            title = order.waiting_on
        return (f"Retouchers work the {n}photo(s) of {title}: `postline queue pull --stage {order.waiting_on} "
                f"--as NAME`, then `postline queue submit ITEM FILE --as NAME` (or the web page, {web_url()}). "
                "The run goes on by itself when the last one is handed back.")
    if order.status is OrderStatus.DELIVERED:
        return f"Nothing: delivered (`postline status {oid}`)."
    if order.status is OrderStatus.REVISION:
        return (f"The client asked for changes: `postline order run {oid}` works them and makes the revised "
                "delivery.")
    if order.status is OrderStatus.CREATED:
        return f"Run it: `postline order run {oid}`."
    return "Nothing: postline's own workers are on it."


def _title(line: Line, key: str) -> tuple[str, str]:
    """(title, who works it) of a stage or gate."""
    if key == QC_GATE:
        return "QC gate", "QC lead" if line.qc_gate.human_review else "automatic"
    try:
        spec = line.stage(key)
    except KeyError:
        return key, "?"
    return spec.title, f"people ({spec.mode.value})" if spec.needs_people else "automatic"
