"""The client's side: the links the studio hands out (their gallery, their download, a photo's preview), made,
listed, revoked and e-mailed; a link opened and its PIN given; what the gallery shows, the selection sent from
it (the client selection gate's decision, as :mod:`surfaces.actions.gates` gives every gate's) and the changes
asked for on a delivery (a client revision round, as `postline order revise`); the file a download link serves.
`postline gallery|download-link|links` and the client's pages of `postline web` call these.

Links are signed and checked in one place, record/links.py; the key is the installation's (config/secret.py).
"""

from __future__ import annotations

import logging
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path, PurePosixPath

from config.errors import NotFound, Refused
from config.links import LinkSettings, get_link_settings
from config.mail import MailSettings
from config.secret import installation_secret
from config.settings import get_settings
from qc.gates import DecisionError, NotTakenNow
from qc.selection import CLIENT, Favourite, SelectionDecision, offers_black_and_white
from record import black_and_white, clocks, links, ratings, rounds, selection, work
from record.db import transaction
from record.models import ClientLink, LinkPurpose, OrderStatus, Photo, PhotoStatus, utcnow
from surfaces.actions import gates
from tasks.files import work_path
from tasks.deliver import AS_BEFORE, delivered_names, in_package_as_before
from tasks.deliver_render import shown
from tasks.download import Download
from tasks.package import clean_name
from tasks.mail import MailFailed, MailNotSet, check_address, link_message, send


logger = logging.getLogger("postline.web")


@dataclass(frozen=True)
class MadeLink:
    link: ClientLink
    url: str
    emailed: str | None        # what became of the e-mail asked for (None: none was)


def url_of(link: ClientLink, key: bytes | None = None, settings: LinkSettings | None = None) -> str:
    return links.url(key or installation_secret(), link, (settings or get_link_settings()).public_url)


def make_link(*, order_id: int, purpose: LinkPurpose, days: int | None = None, pin: str | None = None,
              email: str | None = None, actor: str = "studio", target: str | None = None,
              now: datetime | None = None) -> MadeLink:
    """A new link to order ``order_id`` for ``purpose``, working ``days`` days (default: the setting's), with
    ``pin`` if given; e-mailed to ``email`` if given and SMTP is set (the PIN never is)."""
    settings, now = get_link_settings(), now or utcnow()
    lasts = timedelta(days=days) if days else {
        LinkPurpose.GALLERY: timedelta(days=settings.gallery_days),
        LinkPurpose.DOWNLOAD: timedelta(days=settings.download_days),
        LinkPurpose.PREVIEW: timedelta(minutes=settings.preview_minutes)}[purpose]
    email = check_address(email) if email else None
    mail = MailSettings() if email else None     # a wrong SMTP setting is said before any link is made
    with transaction() as session:
        order = work.get_order(session, order_id)
        link = links.create(session, order_id=order_id, purpose=purpose, expires_at=now + lasts, actor=actor, pin=pin,
                            email=email, target=target)
    url = url_of(link, settings=settings)
    emailed = None
    if email:
        shows = gallery(order_id).mode.value if purpose is LinkPurpose.GALLERY else "selecting"
        subject, body = link_message(purpose=purpose, client=order.client, url=url, expires=links.expiry(link),
                                     pin=pin is not None, gallery=shows, album=order.package_count or 0,
                                     by_hand=_by_hand(order_id))
        try:
            send(email, subject, body, settings=mail)
            emailed = f"e-mailed to {email}"
        except (MailNotSet, MailFailed) as exc:
            emailed = f"not e-mailed: {exc}"
    return MadeLink(link=link, url=url, emailed=emailed)


def download_link(order_id: int, **options) -> MadeLink:  # noqa: ANN003 - make_link's
    """A download link to the order's delivery; refused while the order has none."""
    delivery_of(order_id)
    return make_link(order_id=order_id, purpose=LinkPurpose.DOWNLOAD, **options)


def preview_link(photo_id: int, **options) -> MadeLink:  # noqa: ANN003 - make_link's
    """A preview link to one photo (``/p/<token>``: its finished file, or its original before any), for its
    order; valid POSTLINE_PREVIEW_MINUTES unless ``days``."""
    with transaction() as session:
        photo = session.get(Photo, photo_id)
        if photo is None:
            raise NotFound(f"no photo {photo_id}; `postline status ORDER` lists an order's photos")
    return make_link(order_id=photo.order_id, purpose=LinkPurpose.PREVIEW, target=str(photo_id), **options)


def order_links(order_id: int) -> list[tuple[ClientLink, str]]:
    """The order's links, newest first, each with its address."""
    key, settings = installation_secret(), get_link_settings()
    with transaction() as session:
        work.get_order(session, order_id)
        return [(link, url_of(link, key, settings)) for link in links.of_order(session, order_id)]


def revoke(link_id: int, *, actor: str) -> ClientLink:
    with transaction() as session:
        return links.revoke(session, link_id, actor=actor)


# --- opening a link -------------------------------------------------------------------------------------------

def open_link(key: bytes, token: str, purpose: LinkPurpose, *, now: datetime) -> ClientLink:
    """The link ``token`` opens, or one of record.links' refusals (unknown, expired, revoked)."""
    with transaction() as session:
        return links.opened(session, key, token, purpose, now=now)


def give_pin(key: bytes, token: str, purpose: LinkPurpose, pin: str, *, now: datetime) -> ClientLink:
    """Check ``pin`` for the link: the link, or :class:`record.links.WrongPin` (saying how many tries are left)
    or :class:`record.links.PinLocked`. The attempt is counted before the (slow) check, in a transaction of its
    own, so it counts even when the check is refused."""
    settings = get_link_settings()
    with transaction() as session:
        link = links.opened(session, key, token, purpose, now=now)
        if link.pin_hash is None:
            return link
        links.count_pin_attempt(session, link, now=now, limit=settings.pin_attempts,
                                lock=timedelta(minutes=settings.pin_lock_minutes))
    if not links.pin_matches(link, pin):
        if link.pin_locked_until is not None:
            raise links.PinLocked(f"Wrong PIN, and too many in a row: this link takes no PIN for "
                                  f"{links.locked_for(link, now)}.", links.utc(link.pin_locked_until))
        left = settings.pin_attempts - link.pin_failures
        raise links.WrongPin(f"That PIN is not right: {left} more tr{'y' if left == 1 else 'ies'} before this link "
                             "pauses for a while.")
    with transaction() as session:
        link = links.get(session, link.id)
        links.pin_accepted(session, link)
    return link


# --- the gallery ----------------------------------------------------------------------------------------------

SHOWN = (PhotoStatus.INGESTED, PhotoStatus.PASSED, PhotoStatus.DELIVERED)   # what a gallery may show a picture of


class GalleryMode(StrEnum):
    SELECTING = "selecting"    # photos await the client's selection
    CHOSEN = "chosen"          # the selection was sent; the studio is working on it
    DELIVERED = "delivered"    # delivered: the client may ask for changes
    REVISING = "revising"      # changes were asked for; the studio is working on them
    PREPARING = "preparing"    # nothing to choose yet (grading, or an order without a selection)


@dataclass(frozen=True)
class GalleryPhoto:
    id: int
    name: str
    favourite: bool | None
    album: bool
    note: str
    pick: bool = False         # one of the photographer's picks, marked while the client chooses
    black_and_white: bool = False   # asked for in black and white too
    in_download: bool = False       # ... delivered, and its black-and-white files in the download
    adding: bool = False            # ... delivered, and its black-and-white files not in the download yet
    unchanged: bool = False         # ... delivered, the change asked for not made: the download has it as before
    delivered: str = ""             # ... delivered: its name in the client's download (``Anna_&_Ben-0007``)
    label: str = ""                 # what its caption says: its file's name, without the card's folders


@dataclass(frozen=True)
class GalleryView:
    order_id: int
    client: str
    studio: str
    mode: GalleryMode
    photos: list[GalleryPhoto]
    package: int               # album photos the package holds (0: no album)
    revisions: int
    picks: int = 0             # photos marked as the photographer's picks
    black_and_white: bool = False   # the order's recipe offers black and white (the gallery's tick)
    preparing: int = 0         # photos of the order still being prepared (not graded yet): the client chooses later
    sent_before: bool = False  # the client sent a selection of earlier photos: these were ready since
    by_hand: bool = True       # people work a stage of the order's line: a note or a change request reaches one
    contact: str = ""          # the studio's e-mail (POSTLINE_STUDIO_EMAIL), where a client writes otherwise


def gallery(order_id: int) -> GalleryView:
    with transaction() as session:
        order = work.get_order(session, order_id)
        waiting = CLIENT.waiting(session, order_id)
        picks = selection.picks(session, order_id)
        photos = work.photos(session, order_id)
        in_order = clocks.shooting_order(clocks.shifts(session, order_id))
        spec, rated = work.order_line(session, order_id).cull, ratings.of_order(session, order_id)
        grey = black_and_white.requested(session, order_id)
        offered = offers_black_and_white(session, order_id)
        by_hand = work.order_line(session, order_id).change_stage is not None
    unchanged: set[int] = set()
    if order.status is OrderStatus.DELIVERED and any(p.status in AS_BEFORE for p in photos):
        unchanged = _as_before(order, photos)
    if waiting:
        mode, shown = GalleryMode.SELECTING, [photo for photo, _ in waiting.values()]
    elif order.status is OrderStatus.DELIVERED:
        mode, shown = GalleryMode.DELIVERED, [p for p in photos if p.status is PhotoStatus.DELIVERED
                                              or p.id in unchanged]
    elif order.status is OrderStatus.REVISION:
        mode, shown = GalleryMode.REVISING, [p for p in photos if p.id in picks]
    elif picks:
        mode, shown = GalleryMode.CHOSEN, [p for p in photos if p.id in picks]
    else:
        mode, shown = GalleryMode.PREPARING, []
    chosen = _photographers_picks(shown, rated, spec) if mode is GalleryMode.SELECTING else set()
    preparing = 0
    if mode in (GalleryMode.SELECTING, GalleryMode.CHOSEN):   # in the line, neither shown nor picked: not graded yet
        ready = {p.id for p in shown} | set(picks)
        preparing = sum(p.status is PhotoStatus.INGESTED and p.id not in ready for p in photos)
    packed: set[int] = set()
    names = delivered_names(Path(order.delivery_path)) if mode is GalleryMode.DELIVERED and order.delivery_path \
        else {}
    if mode is GalleryMode.DELIVERED and grey:
        from surfaces.actions.black_and_white import in_package   # the package's manifest, read only then

        packed = in_package(order.delivery_path)
    files = Counter(PurePosixPath(p.source_name).name.casefold() for p in shown)
    rows = [GalleryPhoto(id=p.id, name=p.source_name, favourite=picks[p.id].favourite if p.id in picks else None,
                         album=p.id in picks and picks[p.id].album, note=picks[p.id].note if p.id in picks else "",
                         pick=p.id in chosen, black_and_white=p.id in grey, in_download=p.id in packed,
                         adding=mode is GalleryMode.DELIVERED and offered and p.id in grey and p.id not in packed,
                         unchanged=mode is GalleryMode.DELIVERED and p.id in unchanged, delivered=names.get(p.id, ""),
                         label=_label(p.source_name, files))
            for p in sorted(shown, key=in_order)]           # as the day went, each camera's clock set right
    return GalleryView(order_id=order_id, client=order.client, studio=get_settings().studio_name, mode=mode,
                       photos=rows, package=order.package_count or 0, revisions=order.revisions, picks=len(chosen),
                       black_and_white=offered, preparing=preparing,
                       sent_before=mode is GalleryMode.SELECTING and bool(picks), by_hand=by_hand,
                       contact=get_settings().studio_email)


def _label(name: str, files: Counter) -> str:
    """A photo's caption for its client: its file's name (``IMG_0001.dng``), not the card's folders
    (``DCIM/100CANON/``), unless another photo shown has that file name too."""
    file = PurePosixPath(name).name
    return file if files[file.casefold()] == 1 else name


def _as_before(order, photos: list[Photo]) -> set[int]:  # noqa: ANN001 - record.models.Order
    """The photos the order's delivery has as delivered before, their change (a revision) failed or held
    (tasks/deliver.to_deliver): the client has them, so their gallery shows them."""
    return in_package_as_before(order, photos)


def _photographers_picks(photos: list[Photo], rated: dict, spec) -> set[int]:  # noqa: ANN001 - CullSpec
    """The photos among ``photos`` the gallery marks as the photographer's picks (record.ratings.picked): none when
    POSTLINE_GALLERY_PICKS is off, or when every photo or none is one (the mark would tell the client nothing)."""
    if not get_link_settings().gallery_picks:
        return set()
    chosen = {p.id for p in photos if ratings.picked(rated.get(p.id), spec)}
    return chosen if 0 < len(chosen) < len(photos) else set()


def gallery_image(order_id: int, photo_id: int) -> Path:
    """The watermarked picture of a photo the order's gallery shows: its proof while the client chooses, its
    finished file once it has one (once that is removed after delivery, the picture its delivery made)."""
    from surfaces.web_images import watermarked

    with transaction() as session:
        photo = session.get(Photo, photo_id)
        if photo is None or photo.order_id != order_id:
            raise NotFound("There is no such photo in this gallery.")
        order = work.get_order(session, order_id)
        as_before = (photo.status in AS_BEFORE and order.status is OrderStatus.DELIVERED
                     and photo_id in _as_before(order, [photo]))
        if photo.status not in SHOWN and not as_before:
            raise NotFound("There is no such photo in this gallery.")
        line = work.order_line(session, order_id)
        finished = work.finished_output(session, photo_id, [s.key for s in line.stages])
    if as_before:                  # its newest round's files are not what the client has: the delivery's picture
        delivered = shown(order_id, photo_id)
        if delivered is None:
            raise NotFound("This photo has no picture yet.")
        return watermarked(delivered, get_settings().work_dir / f"order-{order_id}" / "gallery",
                           get_settings().studio_name)
    if finished is None or not finished.output_path:
        raise NotFound("This photo has no picture yet.")
    source = Path(finished.output_path)
    proof = work_path(order_id, "proofs", photo_id, finished.round, ".jpg")
    if finished.stage == line.first.key and proof.is_file():
        source = proof                               # the proof grading made: smaller than the working TIFF
    elif not source.is_file():                       # removed after delivery: the picture the delivery made
        source = shown(order_id, photo_id) or source
    return watermarked(source, get_settings().work_dir / f"order-{order_id}" / "gallery", get_settings().studio_name)


def write_to_us(said: str) -> str:
    """``said``, then where the client writes to the studio: for what the gallery does not take (a change, a note)
    when people work no stage of the order's line."""
    email = get_settings().studio_email
    return f"{said} Write to us{f' at {email}' if email else ''}, naming the photo and what you would like."


def write_to_us_if_stuck(said: str) -> str:
    """``said``, then where the client writes if it keeps failing."""
    email = get_settings().studio_email
    return f"{said} If it still does not go, write to us{f' at {email}' if email else ''}."


GALLERY_CHANGED = ("Your gallery changed since you opened it: nothing was sent. Look at it again below and send "
                   "once more.")


def _selection(order_id: int, favourites: list[dict], client: str, shown: list[str] | None) -> SelectionDecision:
    """The client's selection as the gate's decision, once what the client can mend is said in their words (the
    gate's own refusals name the order and the gate: for the studio)."""
    if not favourites and not _sent_before(order_id):
        raise DecisionError("Mark at least one favourite: your favourites are the photos we retouch.")
    if any(f.get("note") for f in favourites) and not _by_hand(order_id):
        raise DecisionError(write_to_us("This gallery takes no notes (it was changed since you opened it): nothing "
                                        "was sent."))
    album = sum(bool(f.get("album")) for f in favourites)
    with transaction() as session:
        package = work.get_order(session, order_id).package_count or 0
        before = sum(pick.album for pick in selection.picks(session, order_id).values())
    if album and album + before > package:
        raise DecisionError(
            f"You picked {album} photo{'s' if album != 1 else ''} for your album"
            + (f" (and {before} in the selection you sent before)" if before else "")
            + f", and your package holds {package}: untick {album + before - package}. Nothing was sent."
            if package else GALLERY_CHANGED)
    return SelectionDecision(approve_all=False, favourites=[Favourite(**f) for f in favourites], client=client[:80],
                             shown=sorted(shown or []))


def check_selection(order_id: int, *, favourites: list[dict], client: str, shown: list[str] | None = None) -> None:
    """What :func:`submit_selection` checks, without sending: the gallery asks the client to confirm a selection
    that would be taken (it is sent once). :class:`DecisionError` in the client's words otherwise."""
    decision = _selection(order_id, favourites, client, shown)
    try:
        gates.gate_of(decision).validate(order_id, decision)
    except DecisionError as exc:
        logger.info("order %s: the client's selection was refused: %s", order_id, exc)
        raise DecisionError(GALLERY_CHANGED) from None


def submit_selection(order_id: int, *, favourites: list[dict], client: str, shown: list[str] | None = None) -> str:
    """The client's selection (``favourites``: photo, album, black_and_white, note each), given to the order's run as its
    decision at the client selection gate (or recorded directly when no run waits). ``shown``: the photos on the
    page the client sent (the others graded since wait on for them); None: every photo waiting.
    :class:`DecisionError` says what is wrong with it, in the client's words (no order number, no server); nothing
    is applied then."""
    decision = _selection(order_id, favourites, client, shown)
    try:
        return gates.decide(order_id, decision)
    except NotTakenNow as exc:    # the studio's side (its Prefect server, a busy run): logged for the studio
        logger.warning("order %s: the client's selection could not be taken: %s", order_id, exc)
        raise DecisionError(write_to_us_if_stuck(
            "We could not take your selection just now: nothing was sent, and your ticks are kept below. Please "
            "send it again in a few minutes.")) from None
    except DecisionError as exc:
        logger.info("order %s: the client's selection was refused: %s", order_id, exc)
        raise DecisionError(GALLERY_CHANGED) from None


def _by_hand(order_id: int) -> bool:
    """Whether people work a stage of the order's line (a client's note or change reaches one)."""
    with transaction() as session:
        return work.order_line(session, order_id).change_stage is not None


def _sent_before(order_id: int) -> bool:
    """Whether the client chose favourites among the order's earlier photos (then none among later ones is fine)."""
    with transaction() as session:
        return any(pick.favourite for pick in selection.picks(session, order_id).values())


def ask_black_and_white(order_id: int, names: list[str], *, client: str) -> list[str]:
    """The client asks for delivered photos ``names`` in black and white too (record/black_and_white.py); the
    studio adds their files to the delivery (`postline status` says which orders lack them). Returns the names
    not asked for before. :class:`DecisionError` when the order's recipe offers no black and white."""
    with transaction() as session:
        return _ask_black_and_white(session, order_id, names, client=client)


def _ask_black_and_white(session, order_id: int, names: list[str], *, client: str) -> list[str]:  # noqa: ANN001
    if not offers_black_and_white(session, order_id):
        raise DecisionError("Black and white is not offered for this order: nothing was sent.")
    delivered = {p.source_name: p.id for p in work.photos(session, order_id, PhotoStatus.DELIVERED)}
    unknown = [name for name in names if name not in delivered]
    if unknown:
        raise DecisionError(f"{', '.join(unknown)}: not among your delivered photos. Nothing was sent.")
    added = set(black_and_white.ask(session, order_id, [delivered[n] for n in names], actor=client[:80]))
    return [name for name in names if delivered[name] in added]


def request_changes(order_id: int, *, changes: list[tuple[str, str]], client: str,
                    in_black_and_white: list[str] = ()) -> int:
    """The client's change requests on delivered photos, (photo, note) each: each goes back into the line at the
    first retouch stage (config.line.Line.change_stage: people work it or a stage after it), as a counted client
    revision round (record/rounds.py); and ``in_black_and_white``: delivered photos they ask for in black and white
    too. All of it or, when any part is refused, nothing. Refused when people work no stage of the order's line
    (the photos would come back as they were). Returns the round's number."""
    if not changes:
        raise DecisionError("Tick at least one photo to change, and say what to change.")
    with transaction() as session:
        line = work.order_line(session, order_id)
        if (stage := line.change_stage) is None:
            raise DecisionError(write_to_us("Changes are made on request: nothing was sent."))
        if in_black_and_white:          # first: the photos sent back are not delivered any more
            _ask_black_and_white(session, order_id, list(in_black_and_white), client=client)
        stages = [s.key for s in line.stages]
        return rounds.request_revision(session, order_id=order_id, requests=[(name, stage, note)
                                                                             for name, note in changes],
                                       stages=stages, actor=client[:80])


def delivery_of(order_id: int) -> Download:
    """What a download link to the order serves: its delivery package as recorded (Order.delivery_path) in one ZIP,
    made as it is served (tasks/download.py), or the delivery zip an earlier postline recorded there;
    :class:`Refused` while there is none."""
    with transaction() as session:
        order = work.get_order(session, order_id)
    path = Path(order.delivery_path) if order.delivery_path else None
    try:
        if path is not None and path.is_dir():
            return Download.of_package(path)
        if path is not None and path.is_file():
            return Download.of_file(path)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise Refused(f"Order {order_id}'s delivery package cannot be read ({exc}): `postline verify {path}` "
                      f"names what is wrong, `postline deliver {order_id}` packs it again.") from None
    raise Refused(f"Order {order_id} has no delivery to download yet: run it to the end first "
                  f"(`postline order run {order_id}`).")


def client_download(order_id: int) -> Download:
    """:func:`delivery_of` for the client's download link: a refusal in the client's words (the studio's, with
    its commands, goes to the web server's log)."""
    try:
        return delivery_of(order_id)
    except Refused as exc:
        logger.warning("a client's download of order %s: %s", order_id, exc)
        email = get_settings().studio_email
        raise Refused("Your photos cannot be downloaded just now. Please try again later"
                      + (f", or write to us at {email}." if email else ".")) from None


def download_of(order_id: int, key: bytes | None = None) -> str | None:
    """The address (from this site's root) of the order's newest download link still working, for the delivered
    gallery's download button; None when the studio made none (or each expired or was withdrawn)."""
    key, now = key or installation_secret(), utcnow()
    with transaction() as session:
        working = [link for link in links.of_order(session, order_id, LinkPurpose.DOWNLOAD) if links.live(link, now)]
    return f"/d/{links.token(key, working[0])}" if working else None


def download_name(order_id: int, name: str) -> str:
    """The name a client's browser saves the download as: the client and the order before the package's ZIP
    (``Anna_&_Ben-order-7-delivery.zip``: the name as the client wrote it, made safe for a file name)."""
    with transaction() as session:
        client = work.get_order(session, order_id).client
    return f"{clean_name(client)}-order-{order_id}-{name}" if name.startswith("delivery") else name


def preview_of(link: ClientLink) -> tuple[Path, bool]:
    """The picture a preview link shows, and whether it is the original: its photo's finished file (once that is
    removed after delivery, the picture its delivery made), or its original (a RAW file) before any."""
    with transaction() as session:
        photo = session.get(Photo, int(link.target or 0))
        if photo is None or photo.order_id != link.order_id:
            raise NotFound("This preview's photo is not there any more.")
        stages = [stage.key for stage in work.order_line(session, photo.order_id).stages]
        finished = work.finished_output(session, photo.id, stages)
    if finished and finished.output_path:
        path = Path(finished.output_path)
        return (path if path.is_file() else shown(photo.order_id, photo.id) or path), False
    return Path(photo.original_path or ""), True
