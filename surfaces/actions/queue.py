"""The retouchers' actions over the stage queues: claim the next photo (or pull it into a folder), hand the
result back, release, extend, and what a person holds. `postline queue ...` and the web page call these.

One hand-back, going down once through each layer: :func:`hand_back` checks the claim (record.queue), checks
the file against the working file (qc.results), keeps it in the work area (tasks.files), records it and
queues the photo in the next stage in one transaction (record.queue.submit), and, when that was the stage's
last open photo of the order, wakes the order's waiting run (tasks.handoff.wake_order).
"""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from config.errors import Forbidden
from config.settings import get_settings
from record import marks, people, queue, rounds, runs, selection, work
from record.db import transaction
from record.models import CLIENT_SELECTION, ORIGINAL_REVIEW, QC_GATE, OrderStatus, Photo, WorkItem, WorkStatus
from record.queue import DEFAULT_LEASE, NoSkill, QueueError, StageDepth, SubmitResult
from tasks.files import safe_name, sha256_of, store_result

logger = logging.getLogger("postline.actions")


class NotPeoplesStage(QueueError, Forbidden):
    """A person asked for a stage postline works by itself (or one not in the line)."""


class NotOnTheLine(Forbidden):
    """Who a request says it is (`--as NAME`, or a signed-in person removed since) does not work on the line."""


@contextmanager
def acting(person: str) -> Iterator[None]:
    """Inside it, a person unknown to the record is the one asking, not one asked about: refused
    (:class:`NotOnTheLine`), not 'not found'."""
    try:
        yield
    except people.UnknownPerson as exc:
        raise NotOnTheLine(str(exc)) from None


def human_stages() -> list[str]:
    """The stages people work in: the line's stages whose mode is not 'automatic', in line order, then any
    other stage an order waits on people in now (its own line, recorded when it started, has people there).
    Automatic stages are left to postline's workers: a person pulling from them would take work from a batch."""
    current = [s.key for s in work.studio_line().stages if s.needs_people]
    with transaction() as session:
        waited = work.stages_waited_on(session)
    return current + sorted(waited - set(current))


def default_folder(person: str) -> Path:
    return Path.home() / "postline-work" / person


def _stages_to_claim(person: str, stage: str | None) -> list[str]:
    """The stages ``person`` claims from: ``stage`` if people work there, else every people's stage they
    have the skills for. :class:`NotPeoplesStage`, :class:`NoSkill` or UnknownPerson otherwise."""
    open_stages = human_stages()
    if stage is not None:
        if stage not in open_stages:
            raise NotPeoplesStage(f"stage {stage!r} is not worked by people (the line's people stages: "
                                  f"{', '.join(open_stages) or 'none'}); `postline queue stages` lists them")
        return [stage]
    with transaction() as session:
        skills = people.skills_named(session, person)
        skilled = queue.stages_for(session, person)
    stages = [s for s in skilled if s in open_stages]
    if not stages:
        raise NoSkill(f"{person} has the skills for none of the stages people work in (their skills: "
                      f"{', '.join(skills) or 'none'}; people's stages: {', '.join(open_stages) or 'none'}; "
                      f"`postline queue stages` shows what each needs)")
    return stages


def held_at_wip_limit(person: str, stage: str | None = None) -> list[str]:
    """Why a pull found nothing though photos wait: each of ``person``'s stages (``stage``, else every people's
    stage they have the skills for) at its WIP limit with photos queued, said as 'Liquify & skin: 3 being worked,
    its limit; 298 waiting'."""
    from record.claims import at_wip_limit

    with transaction() as session:
        held = at_wip_limit(session, _stages_to_claim(person, stage))
    line = work.studio_line()
    return [f"{line.stage(key).title}: {limit} being worked, its WIP limit; {waiting} waiting"
            for key, limit, waiting in held]


def claim(*, person: str, stage: str | None = None, lease: timedelta = DEFAULT_LEASE) -> WorkItem | None:
    """Claim ``person``'s next photo (of ``stage``, else of every people's stage they have the skills for),
    after returning expired claims to the queue. None when those queues are empty."""
    with acting(person):
        item = queue.pull(person=person, stages=_stages_to_claim(person, stage), lease=lease)
    if item is None:
        return None
    item = _prepared(item, person)
    publish_progress(item.order_id)            # the order run's artifact: who holds what now
    return item


def _prepared(item: WorkItem, person: str) -> WorkItem:
    """An item of an assisted stage claimed before the order's run prepared it (the run waits on the stage before):
    prepared now (tasks/prepare.py), so the person gets the operation's result. If that fails, the claim is given
    back and the run's preparation says why."""
    from tasks.prepare import prepare_claimed

    try:
        return prepare_claimed(item)
    except KeyboardInterrupt:    # Ctrl-C while preparing (the slow step of an assisted stage's pull): given back
        with transaction() as session:
            queue.release(session, item_id=item.id, person=person, reason="the pull was stopped (Ctrl-C)")
        raise
    except Exception as exc:     # an unreadable input, a full disk: the run's own preparation reports it properly
        logging.getLogger("postline.queue").exception("work item %s: preparing it at the pull failed", item.id)
        with transaction() as session:
            queue.release(session, item_id=item.id, person=person, reason=f"could not be prepared: {exc}"[:1000])
        raise QueueError(f"work item {item.id}: postline could not prepare it for you ({exc}); it went back to the "
                         "queue. Tell the lead: the order's run prepares it when it reaches the stage, or says what "
                         "is wrong") from None


def pull_to_folder(*, person: str, stage: str | None = None, folder: Path | None = None,
                   lease: timedelta | None = None) -> tuple[WorkItem, Path] | None:
    """:func:`claim`, then copy the item's working file into ``folder`` (default ~/postline-work/PERSON) as
    ``<item>-<photo>-<stage>-r<round>``, with the mask of the regions QC marked beside it when there are some
    (:func:`mask_beside`), and, for a photo sent back to the stage, the person's hand-back of the round before
    (:func:`hand_back_beside`). Returns (item, copied path), or None when the queues are empty. If a copy fails, the
    claim is released."""
    item = claim(person=person, stage=stage, lease=lease or DEFAULT_LEASE)
    if item is None:
        return None
    with transaction() as session:
        photo = session.get(Photo, item.photo_id)
    source = Path(item.input_path or "")
    target_dir = Path(folder) if folder else default_folder(person)
    target = target_dir / f"{item.id}-{safe_name(Path(photo.source_name).stem)}-{item.stage}-r{item.round}{source.suffix}"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        if not worked_on(target, source):      # a file there holding work (the same item pulled again) is kept
            part = target.with_name(target.name + ".part")    # whole or not there: a half copy is nobody's work
            try:
                shutil.copyfile(source, part)
                os.replace(part, target)
            finally:
                part.unlink(missing_ok=True)
        _write_mask(item, target)
        if (earlier := earlier_hand_back(item)) is not None:
            shutil.copyfile(earlier.output_path, hand_back_beside(target))
    except KeyboardInterrupt:        # Ctrl-C while copying: the photo is not left claimed with no file to work on
        with transaction() as session:
            queue.release(session, item_id=item.id, person=person, reason="the pull was stopped (Ctrl-C)")
        raise
    except OSError as exc:
        with transaction() as session:
            queue.release(session, item_id=item.id, person=person,
                          reason=f"the working file could not be copied: {exc}")
        raise QueueError(f"work item {item.id}: cannot copy the working file {source} to {target_dir} "
                         f"({exc.strerror or exc}); the item went back to the queue. Check the folder, "
                         "or tell the lead if the working file is missing") from None
    return item, target


def worked_on(target: Path, working: Path) -> bool:
    """Whether ``target`` (where a pull copies a working file) holds something other than ``working``: the
    person's work on it, kept when the same item is pulled again (their lease lapsed, or they released it, and
    took it back): a pull wrote the untouched working file over an edited one."""
    try:
        return target.is_file() and not filecmp.cmp(target, working, shallow=False)
    except OSError:
        return False


def rework_note(item: WorkItem) -> str | None:
    """Why QC sent a rework item's photo back (the web page and `queue pull` show it); None for a first round."""
    from record.progress import rework_reason

    with transaction() as session:
        return rework_reason(session, item)


def earlier_hand_back(item: WorkItem) -> WorkItem | None:
    """For a photo sent back to ``item``'s stage (by QC or the client): the item of the round before, whose output
    is the person's hand-back, to go on from rather than start over (record.rounds.last_hand_back)."""
    with transaction() as session:
        return rounds.last_hand_back(session, item)


def hand_back_beside(working: Path) -> Path:
    """Where :func:`pull_to_folder` writes the hand-back of the round before beside the working file:
    ``<its name>-handed-back<suffix>``."""
    return working.with_name(f"{working.stem}-handed-back{working.suffix}")


def mask_beside(working: Path) -> Path:
    """Where :func:`pull_to_folder` writes the mask of a pulled working file: ``<its name>-qc-mask.png``."""
    return working.with_name(f"{working.stem}-qc-mask.png")


def _write_mask(item: WorkItem, target: Path) -> Path | None:
    """The regions QC marked for ``item`` as a mask PNG beside ``target`` (white marked, black not; the working
    file's size, read from its header); None when nothing is marked."""
    from qc.results import image_facts
    from tasks.pixels import mask

    with transaction() as session:
        found = marks.marks_on(session, item.id)
    if not found:
        return None
    outlines = [marks.outline_points(m) for m in found]
    boxes = [(m.x, m.y, m.w, m.h) for m, outline in zip(found, outlines) if outline is None]
    facts = image_facts(target, decode=False, max_pixels=None)
    return mask.write_png(mask_beside(target), mask.apply(facts.width, facts.height, boxes,
                                                          [outline for outline in outlines if outline]))


def hand_back(*, item_id: int, person: str, file: Path) -> SubmitResult:
    """``person`` hands back ``file`` as their result for ``item_id``: the claim checked, the file checked
    (outside any transaction, so a slow decode holds no lock), stored by content, recorded with the photo queued
    in the next stage in one transaction, and the order's flow run woken if that was the stage's last photo.
    Raises NotYourClaim, NoSuchItem, :class:`qc.results.ResultRefused`."""
    from qc.results import ResultRefused, another_photos, check_result
    from tasks.handoff import WakeError, look_again_seconds, wake_order

    file = Path(file)
    with transaction() as session:
        item = queue.ensure_claimant(session, item_id=item_id, person=person)
        line = work.order_line(session, item.order_id)
    if not item.input_path:
        raise QueueError(f"work item {item_id} has no working file recorded; tell the lead")
    check_result(file, Path(item.input_path), allow_crop=line.stage(item.stage).allow_crop,
                 max_pixels=get_settings().max_result_pixels, spec=line.qc_gate)
    refused = _handed_back_already(item, file)
    if refused:
        raise ResultRefused([refused])
    if (other := another_photos(file, Path(item.input_path), _others_held(item, person))) is not None:
        with transaction() as session:
            mine = session.get(Photo, item.photo_id).source_name
        raise ResultRefused([f"{file.name} is the work on {other}, another photo you hold, not on {mine} (item "
                             f"{item.id}): it is clearly more alike to {other}'s working file than to {mine}'s. Hand "
                             f"back each photo's own file; if this is {mine}, tell the lead"])
    stored, sha = store_result(file, order_id=item.order_id, stage=item.stage)
    with transaction() as session:
        result = queue.submit(session, item_id=item_id, person=person, output_path=str(stored), output_sha256=sha,
                              enqueue_next=selection.next_stage(session, line, item))
    publish_progress(item.order_id)
    if result.stage_done:
        with transaction() as session:      # a hold run out (a killed run, a deployment's run suspended): woken
            stopped = work.get_order(session, item.order_id).status is OrderStatus.FAILED \
                or runs.holder(session, item.order_id) is None
        if stopped:                # its run stopped (an error, Ctrl-C, a kill), or none was started (a revision
            #                        asked for before `order run`): nobody waits to be woken
            return replace(result, run_stopped=True)
        try:
            wake_order(item.order_id, item.stage)
        except WakeError as exc:   # the work is handed back and recorded all the same: say what is left to do
            logger.warning("order %s: %s is done, but %s. A run paused in place (`postline order run`) looks "
                           "again by itself within %d s; a run from a deployment: resume it in the Prefect UI",
                           item.order_id, item.stage, exc, look_again_seconds())
    return result


OTHERS_COMPARED = 8     # a hand-back is compared with the working files of 8 other photos its person holds at most


def _others_held(item: WorkItem, person: str) -> list[tuple[str, Path]]:
    """The other photos ``person`` holds now (name on the card, working file), the latest lease first: what a file
    handed back for ``item`` may be the work on instead (each read whole: 0.3 s a 24 MP working file)."""
    from sqlmodel import select

    with transaction() as session:
        held = session.exec(select(WorkItem, Photo).join(Photo, Photo.id == WorkItem.photo_id).where(
            WorkItem.claimed_by == person, WorkItem.id != item.id,
            WorkItem.status == WorkStatus.CLAIMED, WorkItem.photo_id != item.photo_id)
            .order_by(WorkItem.lease_expires_at.desc()).limit(OTHERS_COMPARED)).all()
    return [(photo.source_name, Path(other.input_path)) for other, photo in held if other.input_path]


def _handed_back_already(item: WorkItem, file: Path) -> str | None:
    """Why ``file`` is not ``item``'s work when it was handed back before: for another photo of the order, or of
    another order worked from another working file (the same RAW in two orders graded alike gives the same working
    file, and the same work on it is that photo's too); or for this photo in an earlier round QC sent back. None
    when it was not."""
    sha = sha256_of(file)
    with transaction() as session:
        others = work.handed_back_for_another(session, item, sha)
        earlier = work.handed_back_before(session, item, sha)
    for name, order_id, working, made in others:
        if made:                    # postline's own output: the other photo's working file, as pulled
            return (f"{file.name} is the working file of {name}" + (f" of order {order_id}" if order_id != item.order_id
                                                                     else "") + ", not edited: hand back this "
                    "photo's own (its working file, edited)")
        if order_id == item.order_id:
            return (f"{file.name} is the file handed back for {name} already: one file cannot be two photos' work. "
                    "Hand back this photo's own (its working file, edited)")
        same = _same_file(Path(working), Path(item.input_path)) if working and item.input_path else None
        if same is None:            # a working file gone (removed after its revision window): nothing to compare
            return (f"{file.name} is the file handed back for {name} of order {order_id} already: hand back this "
                    "photo's own (its working file, edited)")
        if not same:
            return (f"{file.name} is the file handed back for {name} of order {order_id} already, worked from "
                    "another working file than this photo's: hand back this photo's own (its working file, edited)")
    if earlier is not None:
        qc = rework_note(item)
        why = f" (sent back by QC: {qc})" if qc else (f" (the client asks: {note})" if
                                                      (note := client_notes([item]).get(item.id)) else "")
        return (f"{file.name} is the file handed back in round {earlier.round} already, and round {item.round} asks "
                f"for a change{why}: hand back your work on it")
    return None


def _same_file(a: Path, b: Path) -> bool | None:
    """Whether two files hold the same bytes; None when one cannot be read (gone)."""
    try:
        return a == b or (a.stat().st_size == b.stat().st_size and sha256_of(a) == sha256_of(b))
    except OSError:
        return None


def still_coming(order_id: int, stage: str) -> list[tuple[str, int]]:
    """The order's photos still in a stage before ``stage`` in its line (queued or being worked), which come to
    ``stage`` after: (stage title, photos) of each such stage, in line order."""
    with transaction() as session:
        line = work.order_line(session, order_id)
        keys = [s.key for s in line.stages]
        before = line.stages[:keys.index(stage)] if stage in keys else ()
        found = [(s.title, queue.open_items(session, order_id=order_id, stage=s.key)) for s in before]
    return [(title, n) for title, n in found if n]


def client_notes(items: list[WorkItem]) -> dict[int, str]:
    """What the client asked for each item's photo (their gallery note, a revision's note), by item id."""
    with transaction() as session:
        return selection.client_notes(session, items)


def release(*, item_id: int, person: str, reason: str | None = None) -> None:
    """Give a claimed photo back to its queue."""
    with transaction() as session:
        queue.release(session, item_id=item_id, person=person, reason=reason)
        order_id = session.get(WorkItem, item_id).order_id
    publish_progress(order_id)


def extend(*, item_id: int, person: str, lease: timedelta = DEFAULT_LEASE) -> WorkItem:
    """Start ``person``'s lease on ``item_id`` again (a heartbeat)."""
    with transaction() as session:
        return queue.heartbeat(session, item_id=item_id, person=person, lease=lease)


def held_by(person: str) -> list[WorkItem]:
    """What ``person`` holds now, the soonest-expiring lease first (:class:`NotOnTheLine` for a name not on it)."""
    with acting(person), transaction() as session:
        people.get_person(session, person)
        return queue.mine(session, person)


def reap() -> int:
    """Return every claim whose lease ran out to its queue; how many."""
    with transaction() as session:
        return queue.reap_expired(session)


def publish_progress(order_id: int) -> None:
    """The order run's progress artifact, updated (tasks.progress; it loads Prefect, so only when it is needed:
    `queue stages` and `queue mine` do not)."""
    from tasks.progress import publish_progress as publish

    publish(order_id)


GATES = {QC_GATE: "QC gate", ORIGINAL_REVIEW: "Review of the originals", CLIENT_SELECTION: "Client selection"}


def depths() -> list[tuple[StageDepth, str, str, tuple[str, ...]]]:
    """Every stage of the line (then the gates and any other with open work): its depth, title, who works it
    (``people``, ``auto``, or at a gate who decides: a photo claimed there waits for that decision), and the
    skills a person needs there."""
    line = work.studio_line()
    titles = {s.key: s.title for s in line.stages} | GATES
    people_stages = set(human_stages())
    deciders = {QC_GATE: "QC lead" if line.qc_gate.human_review else "auto", ORIGINAL_REVIEW: "photographer",
                CLIENT_SELECTION: "client"}
    with transaction() as session:
        found = queue.queue_depths(session, [s.key for s in line.stages])
    return [(d, titles.get(d.stage, d.stage),
             deciders.get(d.stage) or ("people" if d.stage in people_stages else "auto"),
             line.required_skills(d.stage) if d.stage in people_stages else ())
            for d in found]