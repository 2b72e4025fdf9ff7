"""The photos of an order asked for in black and white too (record/black_and_white.py): which they are, and the
studio asking (or no longer asking) for more, as when a client writes in after the gallery. `postline order bw N`
is its command; the client's own ticks come through the gallery's selection (qc/selection.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from config.errors import Invalid
from record import black_and_white, work
from record.clocks import NOT_SHOT
from record.db import transaction
from presets.recipe import BW_SUFFIX, RecipeError
from record.models import OrderStatus, PhotoStatus


@dataclass(frozen=True)
class Asked:
    order_id: int
    recipe: str
    twins: tuple[str, ...]               # the renditions a photo asked for gets in black and white
    photos: tuple[tuple[str, str], ...]  # (photo, who asked), in the order the photos were recorded
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    delivered: bool = False              # the order is delivered (changes reach its package once packed again)
    not_packed: tuple[str, ...] = ()     # delivered photos asked for whose twins its package does not hold yet
    not_asked: tuple[str, ...] = ()      # of ``remove``, those that had not been asked for


NOT_DELIVERED = {PhotoStatus.CULLED: "was culled in the review of the originals",
                 PhotoStatus.CHART: "is the colour chart frame the session was calibrated on",
                 PhotoStatus.FAILED: "failed in the line (`postline order retry` puts it back once its cause is "
                                     "fixed; ask for it in black and white then)"}


def asked(order_id: int, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = (), actor: str = "studio") -> Asked:
    """The order's photos asked for in black and white, after asking for ``add`` and no longer for ``remove``
    (names on the card, file names alone, or names in the delivery). Nothing is changed when a name does not fit, or when the order's
    recipe offers no black and white and photos are to be added."""
    from tasks.deliver import named, recipe_of       # the delivery's tasks load Prefect: only when asked

    with transaction() as session:
        order = work.get_order(session, order_id)
        recipe = recipe_of(order, resolved=False)
        every = work.photos(session, order_id)
        photos = [p for p in every if p.status not in NOT_SHOT]
        if (add or remove) and not every:
            raise Invalid(f"order {order_id}'s photos are not in the record yet: its run records them as it ingests "
                          f"the card (`postline order run {order_id}`); ask for them in black and white then. "
                          "Nothing was changed.")
        wanted = {}
        for name in (*add, *remove):
            found = named(order, photos, name)     # its name on the card, or in the client's download
            if (wrong := work.which_photo(order_id, name, found)) is not None:
                raise Invalid(wrong + ". Nothing was changed.")
            wanted[name] = found[0]
        left_out = [f"{name} {NOT_DELIVERED[wanted[name].status]}" for name in add
                    if wanted[name].status in NOT_DELIVERED]
        if left_out:
            raise Invalid("; ".join(left_out) + ": it is not delivered, so it has no black-and-white files to "
                          "make. Nothing was changed.")
        if add and not recipe.offers_black_and_white:
            other = (f"give the order a recipe that does (`postline deliver {order_id} --recipe NAME`)"
                     if order.status is OrderStatus.DELIVERED else
                     "put one that does in the order's archive folder as recipe.toml, as `postline deliver "
                     "--recipe` does once it is delivered")
            raise Invalid(f"order {order_id}'s delivery recipe {recipe.name!r} offers no black and white: its "
                          "[black_and_white] names no rendition. Add one (renditions = [\"full\", \"web\"]: "
                          f"config/recipes/README.md), or {other}. Nothing was changed.")
        added = black_and_white.ask(session, order_id, [wanted[n].id for n in add], actor=actor)
        removed = black_and_white.withdraw(session, order_id, [wanted[n].id for n in remove if n not in add])
        by_id = {p.id: p for p in photos}
        listed = tuple((by_id[r.photo_id].source_name, r.actor) for r in black_and_white.of_order(session, order_id)
                       if r.photo_id in by_id)
        delivered = order.status is OrderStatus.DELIVERED
        missing = _not_packed(session, order, recipe)
    gone = tuple(by_id[i].source_name for i in removed)
    return Asked(order_id=order_id, recipe=recipe.name, twins=tuple(t.key for t in recipe.twins), photos=listed,
                 added=tuple(by_id[i].source_name for i in added), removed=gone, delivered=delivered,
                 not_packed=missing, not_asked=tuple(wanted[n].source_name for n in remove
                                                     if n not in add and wanted[n].source_name not in gone))


def not_packed(order_id: int) -> tuple[str, ...]:
    """The order's delivered photos asked for in black and white whose twins its delivery package does not hold
    (asked for after it was made: `postline deliver N` adds them)."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        if not black_and_white.requested(session, order_id):
            return ()
        try:
            from tasks.deliver import recipe_of

            recipe = recipe_of(order, resolved=False)
        except RecipeError:
            return ()
        return _not_packed(session, order, recipe)


def _not_packed(session, order, recipe) -> tuple[str, ...]:  # noqa: ANN001 - a record session, Order, Recipe
    asked = black_and_white.requested(session, order.id)
    if not asked or not order.delivery_path or not recipe.offers_black_and_white:
        return ()
    packed = in_package(order.delivery_path, {t.key for t in recipe.twins})
    return tuple(p.source_name for p in work.photos(session, order.id, PhotoStatus.DELIVERED, photo_ids=asked)
                 if p.id not in packed)


def in_package(delivery_path: str | None, twins: set[str] | None = None) -> set[int]:
    """The photos whose black-and-white files the delivery package at ``delivery_path`` holds (its manifest's
    files of the renditions ``twins``, or of any twin's key, ``-bw`` at the end): none when there is no package
    to read."""
    if not delivery_path:
        return set()
    try:
        files = json.loads((Path(delivery_path) / "manifest.json").read_text(encoding="utf-8"))["files"]
        return {e["photo_id"] for e in files if isinstance(e.get("rendition"), str)
                and (e["rendition"] in twins if twins is not None else e["rendition"].endswith(BW_SUFFIX))}
    except (OSError, ValueError, KeyError, TypeError):
        return set()
