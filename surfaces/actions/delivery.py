"""Delivery: pack a delivered order again (with its own recipe, if one is given), check a package against its
manifest, and the archive by client (what is kept until when, and removing what is past retention).
`postline deliver|verify|archive` call these."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from config.errors import Invalid
from record import work
from record.db import transaction
from record.models import OrderStatus
from tasks.archive import ArchivedOrder, expire


class NotDeliveredYet(Invalid):
    """The order named has no delivery to pack again; the message says how to get it delivered."""


@dataclass(frozen=True)
class Packed:
    """A delivery packed again: its folder, the recipe it was packed with when one was given, and what its
    read-back found different from its manifest (empty: whole)."""
    path: Path
    recipe: str | None
    problems: list[str]


def use_recipe(order_id: int, name_or_file: str) -> str:
    """Record ``name_or_file`` (checked) as the order's own recipe, in its archive folder; its name.
    :class:`presets.recipe.RecipeError` when it is not a valid recipe."""
    from presets.recipe import load_recipe, recipes_dir
    from tasks.deliver import RECIPE_FILE
    from tasks.files import order_archive

    recipe = load_recipe(name_or_file)
    source = Path(name_or_file) if name_or_file.endswith(".toml") or "/" in name_or_file else (
        recipes_dir() / f"{name_or_file}.toml")
    text = source.read_text(encoding="utf-8")
    if "name" not in tomllib.loads(text):                 # named by its file's stem: keep the name it had
        text = f'name = "{recipe.name}"\n' + text
    folder = order_archive(order_id)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{RECIPE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, folder / RECIPE_FILE)
    return recipe.name


def deliver_again(order_id: int, recipe: str | None = None) -> Packed:
    """Pack delivered order ``order_id`` again (no stage runs again), with ``recipe`` from now on if given, then
    verify the package. Refused while a run holds the order; a machine failure is a :class:`Retryable` that says
    to run `postline deliver` again."""
    from config.settings import get_settings
    from flows.delivery import repackage_flow
    from surfaces.terminal import quiet_prefect_console

    quiet_prefect_console()
    from tasks.errors import as_retryable
    from tasks.runs import ensure_free
    from tasks.verify import verify

    with transaction() as session:
        status = work.get_order(session, order_id).status
    if status is not OrderStatus.DELIVERED:
        raise NotDeliveredYet(f"order {order_id} is {status.value}, not delivered: `postline order run {order_id}` "
                              "takes it through the line to its delivery")
    ensure_free(order_id)
    name = use_recipe(order_id, recipe) if recipe else None
    try:
        path = Path(repackage_flow(order_id))
    except Exception as exc:
        stop = as_retryable(exc, order_id=order_id, folder=get_settings().archive_dir)
        if stop is None:
            raise
        raise type(stop)(f"order {order_id} was not packed again: {stop}".replace(
            f"run `postline order run {order_id}` again", f"run `postline deliver {order_id}` again")) from exc
    return Packed(path=path, recipe=name, problems=verify(path))


def expire_archive(*, apply: bool) -> list[ArchivedOrder]:
    """The orders past retention; ``apply``: their originals and delivery packages removed."""
    return expire(apply=apply)
