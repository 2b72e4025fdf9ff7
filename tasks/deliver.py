"""Delivery: every photo that passed QC, in the renditions of the order's recipe (config/recipes/), packed
into the order's delivery package in the archive (tasks/package.py): a ZIP per rendition set, contact sheets,
the album PDF when the order has spreads, and manifest.json, which lists every file with its size and SHA-256,
its rendition, its original's SHA-256, the preset and its version, and the stages and rounds the photo passed
and who worked them; and each photo not delivered with the reason. A photo delivered before whose change (a client's
revision) failed or was held is delivered as it was, not dropped: the client had it (:func:`to_deliver`).

Tasks: :func:`plan_delivery` (the photos, in batches), :func:`render_batch` (their files, one pass per photo:
tasks/deliver_render.py), :func:`package_order` (the package, then the record). What holds: nothing is marked
delivered that is not in the package, read back and verified; a full disk, a permission or the record failing
is a :class:`~tasks.errors.Retryable` error that marks nothing; no photo passed -> :class:`NothingDelivered`,
and no package is written."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from prefect import task
from prefect.logging import get_run_logger

from presets.recipe import Recipe, load_recipe, load_recipe_file
from config.settings import get_settings
from presets.model import Preset
from record import black_and_white, clocks, history, moves, work
from record.db import transaction
from record.models import AS_BEFORE, DELIVERY, Order, OrderStatus, Photo, PhotoStatus, WorkItem, utcnow
from tasks import package
from tasks.deliver_render import (ALBUM, CONTACT, Job, Packed, Studio, cache_folder, file_for, needs_master,
                                  packed_files, render, render_key)
from tasks.runners import give_back_memory
from tasks.errors import Permanent, as_retryable, retry_only_retryable
from tasks.files import bytes_still_needed, order_folder, remove_files, work_path
from tasks.runs import current_run, line_of

MANIFEST_VERSION = 2
RECIPE_FILE = "recipe.toml"          # an order's own recipe, in its archive folder (`postline deliver --recipe`)
EXIF_TIME = "%Y:%m:%d %H:%M:%S"


class NothingDelivered(Permanent):
    """No photo of the order passed: there is nothing to deliver, and no package is written. Carries the order's
    summary and the photos not delivered, for the run's summary."""

    def __init__(self, message: str, summary: dict | None = None, not_delivered: list[dict] | None = None) -> None:
        super().__init__(message)
        self.summary, self.not_delivered = summary or {}, not_delivered or []


@dataclass(frozen=True)
class Delivery:
    """One delivery of an order, as the record has it: who, what, with which recipe, where it goes."""
    order: dict
    recipe: Recipe
    studio: Studio
    album: bool
    jobs: list[Job]                       # by sequence number (numbers): in shooting order, but for photos added later
    not_delivered: list[dict]
    worked: dict[int, list[dict]]
    folder: Path                          # the order's archive folder
    target: Path                          # the package
    packed: dict[tuple[str, str], Packed] = field(default_factory=dict)   # the files of the order's last package
    as_before: list[dict] = field(default_factory=list)   # delivered as before: their change failed or was held
    numbers: dict[int, int] = field(default_factory=dict)   # photo id -> its sequence number (:func:`numbered`)
    clock_shifts: dict[str, float] = field(default_factory=dict)   # each body's clock shift, s (the manifest's)
    kept_as_before: frozenset[int] = frozenset()    # the photos of ``as_before``: their finished files stay

    def render(self, order_id: int, job: Job) -> dict[str, Path]:
        return render(order_id, job, self.recipe, self.studio, self.album, self.packed)


def order_recipe(order: Order, folder: Path, *, resolved: bool = True) -> Recipe:
    """The order's recipe: its own (``recipe.toml`` in its archive folder) or its shoot type's; ``resolved``: a
    colour space of "preset" resolved to the order preset's output space."""
    own = folder / RECIPE_FILE
    recipe = load_recipe_file(own) if own.is_file() else load_recipe(order.shoot.value)
    if not resolved:
        return recipe
    space = Preset.model_validate_json(order.preset_json).output.colour_space if order.preset_json else None
    if any(r.colour_space == "preset" for r in recipe.renditions):
        recipe = recipe.model_copy(update={"renditions": tuple(
            r.model_copy(update={"colour_space": space or "srgb"}) if r.colour_space == "preset" else r
            for r in recipe.renditions)})
    return recipe


def recipe_of(order: Order, *, resolved: bool = True) -> Recipe:
    """The order's recipe (:func:`order_recipe`), its archive folder found from the order."""
    return order_recipe(order, order_folder(order.id, order.client, order.created_at.year), resolved=resolved)


def _fallback(photo: Photo) -> dict[str, str]:
    """The EXIF the record knows of a photo, for a delivered file whose original libexiv2 cannot read."""
    values = {"Exif.Image.Make": photo.camera_make, "Exif.Image.Model": photo.camera_model,
              "Exif.Photo.LensModel": photo.lens,
              "Exif.Photo.DateTimeOriginal": photo.capture_time.strftime(EXIF_TIME) if photo.capture_time else None}
    return {k: v for k, v in values.items() if v}


DELIVERABLE = (PhotoStatus.PASSED, PhotoStatus.DELIVERED)


def _manifest(package: Path | None) -> dict:
    """The manifest of the package at ``package``; empty when there is none to read."""
    try:
        found = json.loads((package / "manifest.json").read_text(encoding="utf-8")) if package is not None else {}
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def _packed_entries(package: Path | None, manifest: dict | None = None) -> list[dict]:
    """The files the manifest of the package at ``package`` lists (``manifest``: that manifest, read already);
    none when there is no manifest to read."""
    entries = (manifest if manifest is not None else _manifest(package)).get("files", [])
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("photo_id"), int)] \
        if isinstance(entries, list) else []


def delivered_masters(package: Path | None) -> dict[int, str]:
    """The finished file each photo of the package at ``package`` was made from (photo id -> its SHA-256), from
    its manifest; empty when there is no manifest to read."""
    return {e["photo_id"]: e["master_sha256"] for e in _packed_entries(package) if e.get("master_sha256")}


def delivered_names(package: Path | None) -> dict[int, str]:
    """Each photo's name in the package at ``package`` (photo id -> the stem of its first file, the largest
    rendition's: ``Anna_&_Ben-0007``), the name the client's download gives it; empty when there is no manifest."""
    names: dict[int, str] = {}
    for entry in _packed_entries(package):
        if isinstance(entry.get("path"), str):
            names.setdefault(entry["photo_id"], PurePosixPath(entry["path"]).stem)
    return names


def photo_of_delivered(package: Path | None, name: str) -> int | None:
    """The photo a name from the client's download names (``Anna_&_Ben-0007``, with or without its folder,
    suffix or extension: ``web/Anna_&_Ben-0007-web.jpg``); None when no file of the package is so named."""
    wanted = PurePosixPath(name).name.lower()
    for entry in _packed_entries(package):
        if isinstance(entry.get("path"), str):
            file = PurePosixPath(entry["path"])
            if wanted in (file.name.lower(), file.stem.lower()):
                return entry["photo_id"]
    return None


def named(order: Order, photos: Collection[Photo], name: str) -> list[Photo]:
    """The photos among ``photos`` that ``name`` names (record.work.named: its name on the card, or its file name
    alone), or else the one the order's delivery names so: the client's name for it (:func:`photo_of_delivered`)."""
    if (found := work.named(photos, name)) or not order.delivery_path:
        return found
    photo_id = photo_of_delivered(Path(order.delivery_path), name)
    return [p for p in photos if p.id == photo_id]


def in_package_as_before(order: Order, photos: Collection[Photo]) -> set[int]:
    """Of ``photos``, those the order's last package holds though they failed or were held since (a revision's
    change not made: :func:`to_deliver` delivers them as before), by id; what status, the order's summary and the
    client's gallery show as delivered as before."""
    if not order.delivery_path or not any(p.status in AS_BEFORE for p in photos):
        return set()
    packed = delivered_masters(Path(order.delivery_path))
    return {p.id for p in photos if p.status in AS_BEFORE and p.id in packed}


def numbered(jobs: list[Job], before: dict[int, int], gave_way: dict[int, int], *,
             clocks_set_right: bool = False) -> dict[int, int]:
    """Each photo's sequence number in the package (the ``{seq}`` of its delivered file names), ``jobs`` in
    shooting order. A photo the order's last package had keeps its number (``before``: photo id -> number), and
    a photo that took the place of one it had (``gave_way``: the one set aside -> the one in its place, a camera
    JPEG that stood in for its RAW) takes that one's: the client has those names, and a photo added since (a file
    copied again, a failed photo retried) numbered in among them would give a name they have to another photo.
    New photos are numbered after the last number given, as the day went. ``clocks_set_right`` (a camera's clock
    set right since the last package, `postline order clock`): all are numbered again as the day went."""
    if clocks_set_right:
        return {job.photo_id: n for n, job in enumerate(jobs, start=1)}
    ids = {job.photo_id for job in jobs}
    kept = {job.photo_id: before[job.photo_id] for job in jobs if job.photo_id in before}
    for old, new in gave_way.items():
        if old in before and new in ids and new not in kept:
            kept[new] = before[old]
    if len(set(kept.values())) != len(kept):       # a package that gave one number twice: numbered again
        return {job.photo_id: n for n, job in enumerate(jobs, start=1)}
    last = max(before.values(), default=0)
    for job in jobs:
        if job.photo_id not in kept:
            last += 1
            kept[job.photo_id] = last
    return kept


def to_deliver(session, order: Order, stages: list[str],  # noqa: ANN001 - sqlmodel.Session
               photo_ids: Collection[int] | None = None
               ) -> tuple[list[tuple[Photo, WorkItem]], list[tuple[Photo, WorkItem]], list[Photo]]:
    """The order's photos (of ``photo_ids`` only, when given) as a delivery takes them: those that passed, each
    with its finished file (record.work.finished_outputs); those delivered as before, each with the finished file
    the order's last package was made from (a photo the client had whose change, a revision round, failed or was
    held: the revised delivery is the whole order again, and leaving it out would take it from the client and
    renumber the photos after it); and the rest, not delivered."""
    everything = work.photos(session, order.id, photo_ids=photo_ids)
    finals = work.finished_outputs(session, order.id, stages, photo_ids)
    ready = [(p, finals[p.id]) for p in everything if p.status in DELIVERABLE and p.id in finals]
    changed = [p for p in everything if p.status in AS_BEFORE]
    earlier: dict[int, WorkItem] = {}
    if changed and order.delivery_path:
        masters = delivered_masters(Path(order.delivery_path))
        earlier = work.finished_as_delivered(session, order.id, stages,
                                             {p.id: masters[p.id] for p in changed if p.id in masters})
    taken = {p.id for p, _ in ready} | set(earlier)
    return ready, [(p, earlier[p.id]) for p in changed if p.id in earlier], \
        [p for p in everything if p.id not in taken]


def _left_out(photo: Photo) -> dict:
    return {"source_name": photo.source_name, "source_sha256": photo.sha256 or None, "status": photo.status.value,
            "reason": photo.reason}


def delivery(order_id: int, photo_ids: Collection[int] | None = None) -> Delivery:
    """The order's delivery as the record has it now; with ``photo_ids``, only those photos' jobs, and no history
    (what one batch renders: an order of thousands is not read whole for each batch). :class:`NothingDelivered`
    when no photo passed."""
    settings = get_settings()
    line = line_of(order_id)
    with transaction() as session:
        order = work.get_order(session, order_id)
        ready, as_before, left_out = to_deliver(session, order, [s.key for s in line.stages], photo_ids)
        worked = history.worked(session, order_id) if photo_ids is None else {}
        shifts = clocks.shifts(session, order_id)
        in_black_and_white = black_and_white.requested(session, order_id, photo_ids)
    not_delivered = [_left_out(p) for p in left_out]
    summary = {"id": order.id, "client": order.client, "shoot": order.shoot.value,
               "due": order.due.isoformat() if order.due else None, "revision": order.revisions,
               "status": order.status.value, "delivery_path": order.delivery_path,
               "preset": {"name": order.preset, "version": order.preset_version, "sha256": order.preset_hash}}
    delivered_as_before = [_left_out(p) for p, _ in as_before]
    ready += as_before
    if not ready:
        raise NothingDelivered(
            f"Order {order_id}: nothing was delivered: no photo passed ({len(not_delivered)} not delivered; "
            f"`postline status {order_id}` gives each one's reason). No package was written.", summary, not_delivered)
    folder = order_folder(order.id, order.client, order.created_at.year)
    recipe = order_recipe(order, folder)
    in_order = clocks.shooting_order(shifts)      # each body's clock set right: the sequence numbers follow the day
    ready.sort(key=lambda pair: in_order(pair[0]))
    jobs = [Job(photo_id=p.id, source_name=p.source_name, source_sha256=p.sha256, original_path=p.original_path,
                master_path=final.output_path, master_sha256=final.output_sha256, fallback=_fallback(p),
                clock_shift=clocks.shift_of(p, shifts).total_seconds(),
                black_and_white=recipe.offers_black_and_white and p.id in in_black_and_white)
            for p, final in ready]
    numbers: dict[int, int] = {}
    clock_shifts = {camera: shift.total_seconds() for camera, shift in sorted(shifts.items()) if shift}
    if photo_ids is None:          # a batch renders its photos' files: their numbers are the package's business
        last = _manifest(Path(order.delivery_path) if order.delivery_path else None)
        before = {e["photo_id"]: e["seq"] for e in _packed_entries(None, last) if isinstance(e.get("seq"), int)}
        numbers = numbered(jobs, before, {p.id: p.duplicate_of for p in left_out
                                          if p.status is PhotoStatus.DUPLICATE and p.duplicate_of},
                           clocks_set_right=bool(last) and last.get("clock_shifts", {}) != clock_shifts)
        jobs.sort(key=lambda job: numbers[job.photo_id])
    studio = Studio(name=settings.studio_name, artist=settings.artist, copyright=settings.studio_copyright,
                    email=settings.studio_email, phone=settings.studio_phone, website=settings.studio_website,
                    client=order.client, order_id=order.id, order_year=order.created_at.year)
    return Delivery(order=summary, recipe=recipe, studio=studio,
                    album=line.makes_album or settings.album_proofs, jobs=jobs, not_delivered=not_delivered,
                    as_before=delivered_as_before, numbers=numbers, clock_shifts=clock_shifts,
                    kept_as_before=frozenset(p.id for p, _ in as_before),
                    worked=worked, folder=folder, target=folder / package.package_name(order.revisions),
                    packed=packed_files(Path(order.delivery_path)) if order.delivery_path else {})


def _retryable(exc: Exception, order_id: int, folder: Path) -> Exception | None:
    needed = lambda: bytes_still_needed(order_id, line_of(order_id).stages)  # noqa: E731
    return as_retryable(exc, order_id=order_id, folder=folder, needed=needed)


@task(name="plan-delivery")
def plan_delivery(order_id: int) -> list[list[int]]:
    """The photos to deliver, by id, in batches (tasks.planning.batches). No photo passed: the order is marked
    failed (the flow publishes its summary) and :class:`NothingDelivered` raised."""
    try:
        plan = delivery(order_id)
    except NothingDelivered as nothing:
        run = current_run()          # asks Prefect: not while holding the record (see package_order)
        with transaction() as session:
            work.set_order_status(session, work.get_order(session, order_id), OrderStatus.FAILED, run=run,
                                  reason=str(nothing)[:1000])
        raise
    from tasks.planning import batches

    return batches([job.photo_id for job in plan.jobs])


@task(name="render-deliveries", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_only_retryable)
def render_batch(order_id: int, photo_ids: list[int]) -> int:
    """Every rendition of each photo of the batch, one pass per photo (batches run POSTLINE_WORKERS at a time, or
    on the Dask cluster); returns how many photos it had."""
    try:
        plan = delivery(order_id, photo_ids)
    except NothingDelivered:               # none of them passed any more: nothing of theirs to make
        return 0
    jobs = plan.jobs
    try:
        for job in jobs:
            plan.render(order_id, job)
    except Exception as exc:
        if (stop := _retryable(exc, order_id, work_path(order_id, "delivery", 0, 0).parent)) is None:
            raise
        raise stop from exc
    get_run_logger().info("delivery files of %d photos ready", len(jobs))
    give_back_memory()
    return len(jobs)


def _members(plan: Delivery, files: dict[int, dict[str, Path]]) -> list[package.Member]:
    books: dict[str, package.NameBook] = {}
    members = []
    preset = plan.order["preset"]
    for job in plan.jobs:
        seq = plan.numbers[job.photo_id]
        fields = {"client": plan.order["client"], "order": plan.order["id"], "seq": seq,
                  "original": Path(job.source_name).stem, "studio": plan.studio.name,
                  "revision": plan.order["revision"]}
        for rendition in plan.recipe.for_photo(job.black_and_white):
            book = books.setdefault(rendition.zip_set, package.NameBook())
            arcname = book.claim(rendition.key, rendition.name.format(**{**fields, "rendition": rendition.key}),
                                 rendition.extension)
            members.append(package.Member(rendition.zip_set, arcname, files[job.photo_id][rendition.key], {
                "rendition": rendition.key, "seq": seq, "photo_id": job.photo_id, "source_name": job.source_name,
                "source_sha256": job.source_sha256, "master_sha256": job.master_sha256,
                "render_key": render_key(job, plan.recipe, plan.studio, plan.album),
                "preset": {"name": preset["name"], "version": preset["version"]},
                "worked": plan.worked.get(job.photo_id, [])}))
    return members


def _header(plan: Delivery) -> dict:
    settings = get_settings()
    order = plan.order
    return {"manifest_version": MANIFEST_VERSION,
            "order": {k: order[k] for k in ("id", "client", "shoot", "due")}, "revision": order["revision"],
            "package": f"order-{order['id']}/{plan.target.name}", "preset": order["preset"],
            "clock_shifts": plan.clock_shifts,
            "recipe": {"name": plan.recipe.name, "version": plan.recipe.version, "sha256": plan.recipe.digest()},
            "studio": {"name": settings.studio_name, "contact": settings.studio_contact},
            "created_at": utcnow().isoformat()}


def _write(plan: Delivery, order_id: int) -> dict:
    from tasks.deliver_sheets import album_pdf, contact_sheets

    files = {job.photo_id: plan.render(order_id, job) for job in plan.jobs}
    members = _members(plan, files)
    first = plan.recipe.renditions[0].key
    labels = [f"{m.entry['seq']:04d}  {Path(m.arcname).name}" for m in members if m.entry["rendition"] == first]
    heading = f"{plan.studio.name} · {plan.order['client']} · order {order_id}" + (
        f" · revision {plan.order['revision']}" if plan.order["revision"] else "")
    sheets = contact_sheets(order_id, [files[job.photo_id][CONTACT] for job in plan.jobs], labels, heading,
                            plan.recipe)
    if plan.album:
        sheets["album.pdf"] = album_pdf(order_id, [files[job.photo_id][ALBUM] for job in plan.jobs], plan.recipe)
    for leftover in package.leftovers(plan.folder):      # a killed run's half-written package (one run per order)
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    return package.write_package(plan.target, _header(plan), members, sheets, plan.not_delivered, plan.as_before)


@task(name="package-delivery", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_only_retryable)
def package_order(order_id: int) -> str:
    """The order's delivery package (written, read back, verified), then its photos marked delivered; returns
    the package's path."""
    logger = get_run_logger()
    plan = delivery(order_id)
    try:
        manifest = _write(plan, order_id)
        per_photo = Counter(f["photo_id"] for f in manifest["files"])
        complete = {job.photo_id: len(plan.recipe.for_photo(job.black_and_white)) for job in plan.jobs}
        # Which run this is, asked of Prefect (a sub-run's root takes a few requests) before the transaction: asked
        # inside it, a busy Prefect server held the record's write lock for a minute, and everyone else's writes
        # (a retoucher's pull, another run) gave up after SQLITE_BUSY_SECONDS.
        run = current_run()
        with transaction() as session:
            passed = work.photos(session, order_id, PhotoStatus.PASSED, photo_ids=[job.photo_id for job in plan.jobs])
            moves.move_photos(session, [photo for photo in passed if per_photo[photo.id] == complete[photo.id]],
                              PhotoStatus.DELIVERED, stage=DELIVERY, actor=work.AUTO_WORKER, reason=f"in {plan.target}")
            order = work.get_order(session, order_id)
            if order.status is not OrderStatus.DELIVERED or order.delivery_path != str(plan.target):
                work.set_order_status(session, order, OrderStatus.DELIVERED, delivery_path=str(plan.target),
                                      run=run)
    except Exception as exc:
        if (stop := _retryable(exc, order_id, plan.folder)) is None:
            raise
        raise stop from exc
    logger.info("delivered %d photos in %s; %d not delivered", len(plan.jobs), plan.target, len(plan.not_delivered))
    for photo in plan.as_before:
        logger.warning("%s: delivered as before: its change was not made (%s: %s); `postline status %s` says what "
                       "to do", photo["source_name"], photo["status"], photo["reason"], order_id)
    try:
        freed = _tidy(plan, order_id)
    except OSError as exc:       # the delivery is done: what could not be removed now goes with the revision window
        logger.warning("after the delivery, files that can be made again were not all removed: %s", exc)
    else:
        logger.info("removed %.1f MB of files the package or the originals can give again", freed / 1e6)
    return str(plan.target)


def _tidy(plan: Delivery, order_id: int) -> int:
    """After the package is written and verified, what can be had again goes from the work folder: the recipe's
    files made for it (the package holds them, and a later delivery takes them from there) and, unless
    POSTLINE_KEEP_REMAKEABLE_FILES, the finished files of the photos no person worked on (a later delivery that
    needs one makes it again from the original, bit for bit: tasks/stages.restore_finished_files). Bytes freed."""
    from tasks.retention import people_made

    gone = [file_for(cache_folder(order_id, job, plan.recipe, plan.studio, plan.album), rendition)
            for job in plan.jobs for rendition in plan.recipe.for_photo(job.black_and_white)]
    if not get_settings().keep_remakeable_files:
        kept = people_made(order_id)
        gone += [Path(job.master_path) for job in plan.jobs
                 if Path(job.master_path) not in kept and job.photo_id not in plan.kept_as_before]
    return remove_files(gone)


def photos_needing_masters(order_id: int) -> set[int]:
    """The photos whose finished file delivering the order needs decoded: those with files neither made already
    nor, unchanged, in the order's last package. Empty when nothing is to be delivered."""
    try:
        plan = delivery(order_id)
    except NothingDelivered:
        return set()
    return {job.photo_id for job in plan.jobs
            if needs_master(order_id, job, plan.recipe, plan.studio, plan.album, plan.packed)}

