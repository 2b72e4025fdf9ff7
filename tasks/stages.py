"""Automatic stages, fused: the automatic stages in a row of an order's line (``Line.segment``) run as one pass
per photo. One decode, each stage's operation in turn on the image in memory, one write.

What a pass writes for a photo:
- the run's last stage writes a 16-bit working master: the photo's final output when the line ends there (QC and
  delivery read it; Zstandard), or the file a retoucher pulls when a manual stage comes next (Deflate, which
  Photoshop opens). When an assisted stage comes next, its preparation runs in the pass too, and only its result
  (``-prepared.tif``, Deflate) is written: what the retoucher pulls;
- every other stage of the run writes a preview instead (``tasks.operations.preview_path``): its output at the
  graded reference's size, recorded as the stage's output. QC compares those with the graded reference to find
  the stage that lost the look.

The record stays per stage: every stage gets its work item, its CLAIMED and SUBMITTED events and its own touch
seconds (its operation's time in the pass, with its reads and writes). The first stage's item is claimed when
the pass starts; the others are recorded when the pass ends, in one transaction, so a photo is either through
the whole run or (a crash, a full disk) back in the queue at the stage it started from, as it was.

A stage inside a run records as its input the file the run started from: the original, or the working master
people handed back. A stage queued again in the middle of a run (QC sent the photo back to it, or the client
asked for a revision there) starts from that file: the stages before it in the run are computed again, each as
it was last done (its round), not recorded and not counted, and the pass goes on from the stage sent back to.
When that file is gone (working files are removed after the revision window: tasks/retention.py) and the run
begins the line, it starts from the original.

A photo whose own file is bad is marked failed at the stage that could not process it (the stages before it in
the pass recorded as done); the batch goes on. A failure of the machine (full disk, permission, I/O, the record)
is no photo's fault: the photo's work item goes back to the queue as it was, and the batch stops with a
:class:`~tasks.errors.Retryable` error that Prefect retries and, when retrying does not help, stops the run with
a message saying what to fix. A crash between claim and record leaves a claim that the next run (or the next
attempt of the batch) releases."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from prefect import task
from prefect.logging import get_run_logger
from sqlmodel import col, select

from config.line import Line, StageMode, StageSpec
from presets.model import Preset
from record import moves, selection, work
from record.db import transaction
from record.models import Photo, PhotoStatus, WorkItem, WorkStatus, utcnow
from tasks.calibration import calibrations
from tasks.runners import give_back_memory
from tasks.errors import PhotoError, as_retryable, photo_reason, retry_only_retryable, transient_cause
from tasks.files import bytes_still_needed, sha256_of, work_path
from tasks.operations import OpContext, preview_path, reference_path, small, step
from tasks.pixels import imageio
from tasks.runs import line_of


def give_back(item_ids: list[int], stop: Exception) -> None:
    """After a batch stopped on the machine's failure ``stop`` (a full disk, the record away): its photos queued
    again as they were. When the record itself cannot take that, the next run's start does it; its error is not
    raised over ``stop`` (a second traceback, and the order's status named the wrong error)."""
    try:
        release_held(item_ids, f"queued again as it was: {str(stop)[:400]}")
    except Exception:  # noqa: BLE001
        pass


def release_held(item_ids: list[int], reason: str) -> int:
    """Put back in the queue the items of this batch the automatic worker still holds: claimed by an earlier
    attempt of the batch that stopped (or a run that died) before it could hand them back. Best effort: when
    the record itself is what failed, the next run's start releases them."""
    try:
        with transaction() as session:
            held = [item for item in work.items_by_id(session, item_ids)
                    if item.status is WorkStatus.CLAIMED and item.claimed_by == work.AUTO_WORKER]
            for item in held:
                moves.move_item(session, item, WorkStatus.QUEUED, actor=work.AUTO_WORKER, reason=reason)
            return len(held)
    except Exception as exc:  # noqa: BLE001
        if transient_cause(exc) is not None:
            raise
        return 0


@dataclass(frozen=True)
class _Done:
    """One stage's work in a pass: its recorded output (a master or a preview), checksum and touch seconds."""
    spec: StageSpec
    output: Path
    sha256: str
    seconds: float
    exposure_ev: float | None = None   # grading: the exposure it graded with (WorkItem.exposure_ev)
    kept_white: bool = False


@dataclass(frozen=True)
class _Start:
    """A claimed item and what its pass starts from."""
    item: WorkItem
    source: Path                                  # the file the pass reads
    replay: tuple[tuple[StageSpec, WorkItem | None], ...]  # stages computed again first, each as last done
    todo: tuple[StageSpec, ...]                   # the stages this pass does and records


def _plan(line: Line, segment: tuple[StageSpec, ...], item: WorkItem, original: str | None,
          done: dict[str, WorkItem | None]) -> _Start:
    """Where the pass of ``item`` starts (see the module's docstring). ``segment``: the item's run of stages as
    its order runs them (record.selection.run_of); ``done``: the latest recorded work of each stage before the
    item's in its run."""
    keys = [spec.key for spec in segment]
    at = keys.index(item.stage)
    source, start = Path(item.input_path), 0
    for earlier in range(at - 1, -1, -1):          # a master an earlier stage of the run wrote (before fusing)
        recorded = done.get(keys[earlier])
        if recorded is not None and recorded.output_path == item.input_path:
            start = earlier + 1
            break
    if not source.exists() and original and keys[0] == line.first.key:
        source, start = Path(original), 0          # removed after the revision window: from the original
    elif not source.exists():
        raise PhotoError(f"the file this stage starts from is gone ({source.name}; working files are removed after "
                         "the revision window): ask for a revision of the photo, which re-runs it from the original")
    replay = tuple((spec, done.get(spec.key)) for spec in segment[start:at])
    return _Start(item=item, source=source, replay=replay, todo=segment[at:])


@dataclass(frozen=True)
class _Pass:
    """What every photo of one batch is worked with."""
    order_id: int
    line: Line
    preset: Preset
    selects: bool              # the client picks favourites after grading: grading runs alone (record/selection.py)
    calibrations: Mapping[int, tuple[tuple[float, ...], ...]] = field(default_factory=dict)   # photo id -> its
    # camera body's session calibration (tasks.calibration.calibrations): a body without a chart has none

    @classmethod
    def of(cls, order_id: int) -> "_Pass":
        with transaction() as session:
            order = work.get_order(session, order_id)
            return cls(order_id=order_id, line=work.order_line(session, order_id),
                       preset=Preset.model_validate_json(order.preset_json),
                       selects=order.client_selection,
                       calibrations={photo: fit.matrix for photo, fit in calibrations(session, order).items()})

    def segment(self, key: str) -> tuple[StageSpec, ...]:
        """The automatic run of stages around ``key`` as this order runs it (record.selection.run_of)."""
        return self.line.segment(key, client_selection=self.selects)

    def context(self, spec: StageSpec, photo_id: int, round: int) -> OpContext:
        """The operation's context for a new pass; the first stage also writes the proof and the graded
        reference, and when people work a stage of the line it grades a frame QC's exposure check would send back
        as the rework would, at once (tasks.operations.grade_image): else QC would send the photo back to grading
        after they worked it, and they would work it again."""
        return self._context(spec, photo_id, round, again=False,
                             rescue_exposure=spec.key == self.line.first.key and self.line.reaches_people(spec.key))

    def again(self, spec: StageSpec, photo_id: int, done: WorkItem | None, round: int) -> OpContext:
        """The context of a stage computed again as it was ``done`` (to rebuild a later stage's input, or a gone
        file; None: not recorded yet, in ``round``): no proof or reference written, and grading with the
        exposure its pass recorded (WorkItem.exposure_ev), whatever the line or this version's rule would do
        now. Grading recorded without one (before postline recorded it) is made again as grading then did a
        first pass, with the preset's exposure (a rework round rescues its exposure as it always did)."""
        exposure = (done.exposure_ev, done.kept_white) if done is not None and done.exposure_ev is not None else None
        return self._context(spec, photo_id, done.round if done else round, again=True, exposure=exposure,
                             rescue_exposure=done is None and spec.key == self.line.first.key
                             and self.line.reaches_people(spec.key))

    def _context(self, spec: StageSpec, photo_id: int, round: int, *, again: bool, rescue_exposure: bool,
                 exposure: tuple[float, bool] | None = None) -> OpContext:
        proofs = spec.key == self.line.first.key and not again
        calibration = self.calibrations.get(photo_id)
        return OpContext(preset=self.preset, round=round, calibration=calibration, params=spec.params,
                         gate=self.line.qc_gate, rescue_exposure=rescue_exposure,
                         exposure=exposure,
                         proof_path=work_path(self.order_id, "proofs", photo_id, round, ".jpg") if proofs else None,
                         reference_path=reference_path(self.order_id, photo_id, round) if proofs else None)

    def _claim(self, item_id: int) -> tuple[WorkItem, Photo, dict[str, WorkItem | None]] | None:
        """Claim the item: it, its photo, and the latest work of the stages before it in its run."""
        with transaction() as session:
            item = work.claim_queued(session, item_id)
            if item is None:
                return None
            photo = session.get(Photo, item.photo_id)
            keys = [spec.key for spec in self.segment(item.stage)]
            done = {key: work.final_output(session, item.photo_id, key) for key in keys[:keys.index(item.stage)]}
        return item, photo, done

    def run(self, item_id: int) -> str:
        """Claim, work and record one photo's pass: "submitted", "failed" (its file is bad) or "skipped" (not
        queued any more). A failure of the machine is raised, the item still claimed: the caller puts it back."""
        claimed = self._claim(item_id)
        if claimed is None:
            return "skipped"
        item, photo, earlier = claimed
        start, prepare, done = None, None, []
        try:
            start = _plan(self.line, self.segment(item.stage), item, photo.original_path, earlier)
            after = self.line.next_after(start.todo[-1].key)
            waits = self.selects and start.todo[-1].key == self.line.first.key   # for the client's picks: no prepare
            prepare = after if after is not None and after.mode is StageMode.ASSISTED and not waits else None
            handed = self._work(start, prepare, done)
        except Exception as exc:  # noqa: BLE001  - one bad photo must not stop the order
            if transient_cause(exc) is not None:
                raise
            stages = start.todo + ((prepare,) if prepare else ()) if start else (self.line.stage(item.stage),)
            failed = stages[len(done)]
            source = start.source if start else Path(item.input_path)
            reason = f"{photo_reason(exc, photo.source_name, stored_name=source.name)} (stage: {failed.title})"
            get_run_logger().error("%s", reason, exc_info=not isinstance(exc, PhotoError))
            self._record(start or _Start(item, source, (), stages), done, failed=(failed, reason))
            return "failed"
        self._record(start, done, handed=handed)
        return "submitted"

    def _work(self, start: _Start, prepare: StageSpec | None, done: list[_Done]) -> Path:
        """The pass itself: each stage's work appended to ``done`` as it finishes; returns the file the next stage
        starts from (the last master, or the assisted stage's prepared file)."""
        item, source = start.item, start.source
        clock = time.perf_counter()
        image = None
        for spec, was in start.replay:
            image = step(spec.operation, image, source, self.again(spec, item.photo_id, was, item.round)).image
        for index, spec in enumerate(start.todo, start=1):
            master = index == len(start.todo) and prepare is None      # written next, which rounds it the same
            image, exposure_ev, kept_white = step(spec.operation, image, source,
                                                  self.context(spec, item.photo_id, item.round), stored=not master)
            output = self._write(spec, item, image, master=master)
            done.append(_Done(spec, output, sha256_of(output), time.perf_counter() - clock, exposure_ev, kept_white))
            clock = time.perf_counter()
        if prepare is None:
            return done[-1].output
        prepared = step(prepare.operation, image, source, self.context(prepare, item.photo_id, item.round),
                        stored=False).image
        return imageio.write_working_tiff(work_path(self.order_id, prepare.key, item.photo_id, item.round,
                                                    "-prepared.tif"), prepared, codec=imageio.Codec.DEFLATE)

    def _write(self, spec: StageSpec, item: WorkItem, image: np.ndarray, *, master: bool) -> Path:
        """The stage's recorded output: the working master (the run's last stage), else its preview."""
        if not master:   # 8 bits of precision are plenty for whole-frame colour statistics, and a quarter the size
            preview = np.round(small(image) * 255.0) / 255.0
            return imageio.write_working_tiff(preview_path(self.order_id, spec.key, item.photo_id, item.round),
                                              preview, codec=imageio.Codec.ZSTD)
        return imageio.write_working_tiff(work_path(self.order_id, spec.key, item.photo_id, item.round), image,
                                          codec=self.codec(spec))

    def codec(self, spec: StageSpec) -> imageio.Codec:
        """A master's compression: Deflate where a retoucher pulls it (Photoshop opens it), else Zstandard."""
        after = self.line.next_after(spec.key)
        return imageio.Codec.DEFLATE if after is not None and after.mode is StageMode.MANUAL else imageio.Codec.ZSTD

    def _record(self, start: _Start, done: list[_Done], *, failed: tuple[StageSpec, str] | None = None,
                handed: Path | None = None) -> None:
        """The pass in the record, in one transaction: each stage's item claimed (the first one already is) and
        submitted with its output and seconds (record.moves.record_pass); then the next stage's item queued with
        ``handed`` (where record.selection.next_stage says: after grading in an order with the client's selection,
        nowhere until the client picks), or the failing stage's item failed with the photo."""
        auto, lease = work.AUTO_WORKER, utcnow() + work.AUTO_LEASE
        with transaction() as session:
            current = session.get(WorkItem, start.item.id)
            if failed is None:
                then = selection.next_stage(session, self.line, current, done=done[-1].spec.key)
                moves.record_pass(session, current, [self._stage_done(d) for d in done], actor=auto,
                                  input_path=str(start.source), lease_expires_at=lease, then=then,
                                  then_input=str(handed))
                return
            for index, stage in enumerate(done):
                if index:
                    current = self._enqueue_claimed(session, current, stage.spec.key, start.source)
                moves.move_item(session, current, WorkStatus.SUBMITTED, actor=auto, seconds=stage.seconds,
                                output_path=str(stage.output), output_sha256=stage.sha256,
                                exposure_ev=stage.exposure_ev, kept_white=stage.kept_white)
            spec, reason = failed
            if done:
                current = self._enqueue_claimed(session, current, spec.key, start.source)
            moves.move_item(session, current, WorkStatus.FAILED, actor=auto, reason=reason)
            moves.move_photo(session, session.get(Photo, current.photo_id), PhotoStatus.FAILED, stage=spec.key,
                             round=current.round, actor=auto, reason=reason)

    @staticmethod
    def _stage_done(done: _Done) -> moves.StageDone:
        return moves.StageDone(stage=done.spec.key, output_path=str(done.output), output_sha256=done.sha256,
                               seconds=done.seconds, exposure_ev=done.exposure_ev, kept_white=done.kept_white)

    @staticmethod
    def _enqueue_claimed(session, previous: WorkItem, stage: str, source: Path) -> WorkItem:  # noqa: ANN001
        item = moves.enqueue(session, order_id=previous.order_id, photo_id=previous.photo_id, stage=stage,
                             round=previous.round, input_path=str(source), actor=work.AUTO_WORKER)
        return moves.move_item(session, item, WorkStatus.CLAIMED, actor=work.AUTO_WORKER,
                               lease_expires_at=utcnow() + work.AUTO_LEASE)


@task(name="stage-batch", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_only_retryable)
def run_stage_batch(order_id: int, stage: str, item_ids: list[int]) -> dict[str, int]:
    """A batch of photos queued in the automatic run of stages around ``stage``, each through the rest of the
    run in one pass; counts of photos submitted, failed and skipped."""
    logger = get_run_logger()
    line = line_of(order_id)
    release_held(item_ids, "an earlier attempt stopped before finishing it; queued again")
    batch = _Pass.of(order_id)
    counts = {"submitted": 0, "failed": 0, "skipped": 0}
    for item_id in item_ids:
        try:
            counts[batch.run(item_id)] += 1
        except Exception as exc:
            stop = as_retryable(exc, order_id=order_id, folder=work_path(order_id, stage, 0, 0).parent,
                                needed=lambda: bytes_still_needed(order_id, line.stages))
            if stop is None:
                raise
            give_back([item_id], stop)
            logger.error("%s batch stopped: %s", line.stage(stage).title, stop)
            raise stop from exc
    logger.info("%s batch of %d: %s", " + ".join(s.title for s in batch.segment(stage)), len(item_ids), counts)
    give_back_memory()
    return counts


def _replayed(item_id: int) -> tuple[_Pass, _Start | None, np.ndarray | None]:
    """Work item ``item_id``'s pass as it started: the stages before its own in its run computed again, each as it
    was last done (None for a stage people work: no run)."""
    with transaction() as session:
        item = session.get(WorkItem, item_id)
        line = work.order_line(session, item.order_id)
        original = session.get(Photo, item.photo_id).original_path
        if line.stage(item.stage).needs_people:
            return _Pass.of(item.order_id), None, None
        segment = selection.run_of(session, line, item.order_id, item.stage)
        keys = [spec.key for spec in segment]
        done = {key: work.final_output(session, item.photo_id, key) for key in keys[:keys.index(item.stage)]}
    batch, start = _Pass.of(item.order_id), _plan(line, segment, item, original, done)
    image = None
    for spec, was in start.replay:
        image = step(spec.operation, image, start.source, batch.again(spec, item.photo_id, was, item.round)).image
    return batch, start, image


def stage_input(item_id: int) -> np.ndarray:
    """The image work item ``item_id``'s stage works on: its input file, and for a stage inside an automatic run
    that file through the stages before it in the run, as they were last done (computed again, nothing written)."""
    _, start, image = _replayed(item_id)
    if image is not None:
        return image
    with transaction() as session:
        source = start.source if start is not None else Path(session.get(WorkItem, item_id).input_path)
    return imageio.read_working_tiff(source)


def _make_again(item: WorkItem) -> Path:
    """The master ``item``'s pass wrote (its run's last stage), made again from the file its pass started from:
    the same pass, so the same pixels."""
    batch, start, image = _replayed(item.id)
    spec = batch.line.stage(item.stage)
    image = step(spec.operation, image, start.source, batch.again(spec, item.photo_id, item, item.round),
                 stored=False).image
    return imageio.write_working_tiff(Path(item.output_path), image, codec=batch.codec(spec))


def _to_make_again(session, line: Line, item: WorkItem, name: str) -> list[WorkItem]:  # noqa: ANN001
    """The gone masters to make again for ``item``'s (gone) finished file, earliest first: its own, and the
    masters before it its pass started from (in an order with the client's selection, the graded master the
    favourite's retouch run started from), back to a file that is there (a person's hand-back, kept after the
    revision window: tasks/retention.py) or the original. :class:`PhotoError` when a file people made is gone
    on the way."""
    keys = [spec.key for spec in line.stages]
    chain = [item]
    while not line.stage(chain[0].stage).needs_people and \
            (first := selection.run_of(session, line, item.order_id, chain[0].stage)[0]).key != line.first.key:
        before = work.final_output(session, item.photo_id, keys[keys.index(first.key) - 1])
        if before is None or Path(before.output_path).exists():
            break
        chain.insert(0, before)
    if line.stage(chain[0].stage).needs_people:
        raise PhotoError(f"{name}: its finished file {item.output_path} is gone and people's work went into it "
                         f"({chain[0].output_path} is gone too), so postline cannot make it again: ask for a "
                         f"revision of {name} (it re-runs from the original), or put the file back")
    return chain


def _make_chains_again(order_id: int, chains: list[list[WorkItem]], names: dict[int, str]) -> None:
    """Make each chain's masters again (:func:`_to_make_again`), earliest first; a file made with other bytes (same
    pixels, another version of the codecs) has its checksum recorded anew. A failure of the machine stops as
    retryable."""
    logger = get_run_logger()
    for chain in chains:
        for item in chain:
            try:
                output = _make_again(item)
            except Exception as exc:
                stop = as_retryable(exc, order_id=order_id, folder=Path(item.output_path).parent)
                if stop is None:
                    raise
                raise stop from exc
            if sha256_of(output) != item.output_sha256:
                logger.warning("%s: its %s file was made again with other bytes; its checksum is recorded anew",
                               names[item.photo_id], item.stage)
                with transaction() as session:
                    work.record_output(session, item.id, sha256_of(output))


@task(name="restore-stage-inputs", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_only_retryable)
def restore_stage_inputs(order_id: int, stage: str) -> int:
    """Before a stage works its queue: make again, from its original, the file a queued photo starts from when it
    is gone and no person's work went into it. The graded file of a photo the client did not choose leaves the
    work folder at delivery; a change the client asks to it afterwards starts from that file
    (record.rounds.new_round). A file people made cannot be made again: the stage says so when it gets there.
    The count of photos whose file was made again."""
    with transaction() as session:
        line = work.order_line(session, order_id)
        gone = [item for status in (WorkStatus.QUEUED, WorkStatus.CLAIMED)
                for item in work.items_in(session, order_id, stage, status)
                if item.input_path and not Path(item.input_path).exists()]
        names = {p.id: p.source_name for p in work.photos(session, order_id)}
        chains = []
        for item in gone:
            maker = session.exec(select(WorkItem).where(WorkItem.photo_id == item.photo_id,
                                                        WorkItem.output_path == item.input_path)
                                 .order_by(col(WorkItem.id).desc())).first()
            if maker is None or maker.output_sha256 is None:
                continue                      # the original itself, or nothing recorded to make it again from
            try:
                chains.append(_to_make_again(session, line, maker, names[item.photo_id]))
            except PhotoError:
                continue                      # people's work: the stage's own refusal says what to do
    _make_chains_again(order_id, chains, names)
    if chains:
        get_run_logger().info("order %s, %s: the file %d photo(s) start from was gone (removed at delivery); made "
                              "again from the originals", order_id, line.stage(stage).title, len(chains))
    return len(chains)


@task(name="restore-finished-files", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_only_retryable)
def restore_finished_files(order_id: int) -> int:
    """Before a delivery: make again, from its original, the finished file of each photo to deliver whose file
    is gone (removed after the last delivery, tasks/deliver.py, or with the working files after the revision
    window, tasks/retention.py) and whose delivered files must be made anew (a changed recipe; a photo whose files
    are unchanged in the last package needs none: tasks/deliver.photos_needing_masters). The same passes as
    before, so the same pixels. Only for a photo whose finished file no person worked on
    (record.work.finished_output: the last stage's, or grading's for a photo the client did not choose); the
    count made."""
    from tasks.deliver import photos_needing_masters, to_deliver

    logger = get_run_logger()
    needed = photos_needing_masters(order_id)
    with transaction() as session:
        line = work.order_line(session, order_id)
        names = {p.id: p.source_name for p in work.photos(session, order_id)}
        ready, as_before, _ = to_deliver(session, work.get_order(session, order_id), [s.key for s in line.stages])
        missing = [item for _, item in ready + as_before if item.photo_id in needed
                   and not Path(item.output_path).exists()]
        chains = [_to_make_again(session, line, item, names[item.photo_id]) for item in missing]
    _make_chains_again(order_id, chains, names)
    if missing:
        logger.info("order %s: %d finished file(s) made again from the originals", order_id, len(missing))
    return len(missing)
