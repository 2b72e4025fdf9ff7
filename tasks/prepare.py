"""An assisted stage's preparation of one photo: the stage's operation run on what the photo starts from, written as
``<stage>/<photo>-r<round>-prepared.tif``, which is what the retoucher pulls.

The pass before the stage prepares its photos (tasks/stages.py), and the stage's run prepares those queued
unprepared (tasks/handoff.prepare_batch: a photo sent back, or handed back at a people's stage just before).
A retoucher may pull a photo before the run got to it (the run waits on the stage before): the pull prepares it
then (:func:`prepare_claimed`), and the run leaves a photo someone holds as it is."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from record import rounds, work
from record.db import transaction
from record.models import WorkItem, WorkStatus


def prepared_path(item: WorkItem) -> Path:
    """Where ``item``'s prepared file is written."""
    from tasks.files import work_path

    return work_path(item.order_id, item.stage, item.photo_id, item.round, "-prepared.tif")


def needs_preparing(session: Session, item: WorkItem) -> bool:
    """Whether ``item`` (at an assisted stage) is still to be prepared: not when it starts from its prepared file,
    nor when it was sent back to the stage (it starts from what its earlier round was prepared to:
    record.rounds.new_round; preparing it again would apply the operation twice)."""
    if item.input_path == str(prepared_path(item)):
        return False
    earlier = rounds.previous_item(session, item.photo_id, item.stage, item.round)
    return not (earlier is not None and earlier.input_path == item.input_path)


def prepare(item: WorkItem, *, operation, preset, params) -> Path:  # noqa: ANN001 - config.line.Operation, ...
    """Run the stage's operation on ``item``'s input; the prepared file's path (written atomically)."""
    from tasks.operations import OPERATIONS, OpContext

    target = prepared_path(item)
    OPERATIONS[operation](Path(item.input_path), target, OpContext(preset=preset, round=item.round, params=params))
    return target


def starts_from(item_id: int, target: Path, *, unless_held: bool) -> bool:
    """Record that the item starts from its prepared file ``target``. ``unless_held``: only while it is still
    queued with the input it was prepared from (the run's preparation: a retoucher who pulled it meanwhile has their
    copy, prepared by the pull). Whether it was recorded."""
    with transaction() as session:
        row = session.get(WorkItem, item_id, with_for_update=True)
        if row is None or (unless_held and (row.status is not WorkStatus.QUEUED or not needs_preparing(session, row))):
            return False
        row.input_path = str(target)
        session.add(row)
        return True


def prepare_claimed(item: WorkItem) -> WorkItem:
    """The item a person just claimed, prepared first when its stage is assisted and nobody prepared it yet (the
    stage's run had not got to it): the person gets the operation's result, as from the run. An error of the
    operation (an unreadable input) propagates; the caller gives the claim back."""
    from config.line import StageMode
    from presets.model import Preset

    with transaction() as session:
        spec = work.order_line(session, item.order_id).stage(item.stage)
        if spec.mode is not StageMode.ASSISTED or not needs_preparing(session, item):
            return item
        preset = Preset.model_validate_json(work.get_order(session, item.order_id).preset_json)
    target = prepare(item, operation=spec.operation, preset=preset, params=spec.params)
    starts_from(item.id, target, unless_held=False)
    with transaction() as session:
        return session.get(WorkItem, item.id)
