"""`postline deliver|verify|archive|recipe`: the delivery package, its check, the archive by client, recipes.

    postline deliver ORDER [--recipe NAME|FILE]   pack a delivered order again (no stage runs again)
    postline verify PACKAGE_OR_ZIP                re-hash everything against the manifest; exit 1 on any difference
    postline archive list [--client TEXT]         every order's archive folder, size and how long it is kept
    postline archive expire [--apply]             what is past retention (--apply removes it)
    postline recipe list | check FILE...          the delivery recipes
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path

from surfaces.terminal import shown

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(message: object, code: int = EXIT_FAILED) -> int:
    print(f"error: {shown(message)}", file=sys.stderr)
    return code


def _use_recipe(order_id: int, name_or_file: str) -> str:
    """Record ``name_or_file`` (checked) as the order's own recipe, in its archive folder; its name."""
    from config.recipe import load_recipe, recipes_dir
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


def cmd_deliver(args: argparse.Namespace) -> int:
    from config.recipe import RecipeError
    from config.settings import get_settings
    from flows.delivery import repackage_flow
    from record import work
    from record.db import transaction
    from record.models import OrderStatus
    from record.runs import OrderRunLive
    from tasks.errors import Permanent, as_retryable
    from tasks.runs import ensure_free
    from tasks.verify import verify

    with transaction() as session:
        try:
            order = work.get_order(session, args.order_id)
        except work.NotFound as exc:
            return _fail(exc, EXIT_USAGE)
        status = order.status
    if status is not OrderStatus.DELIVERED:
        return _fail(f"order {args.order_id} is {status.value}, not delivered: `postline order run {args.order_id}` "
                     "takes it through the line to its delivery", EXIT_USAGE)
    try:
        ensure_free(args.order_id)
        if args.recipe:
            print(f"Order {args.order_id} delivers with recipe {shown(_use_recipe(args.order_id, args.recipe))} "
                  "from now on.")
        path = Path(repackage_flow(args.order_id))
    except RecipeError as exc:
        return _fail(exc, EXIT_USAGE)
    except (OrderRunLive, Permanent) as exc:
        return _fail(exc)
    except Exception as exc:  # noqa: BLE001 - the machine's failure: say what to fix
        stop = as_retryable(exc, order_id=args.order_id, folder=get_settings().archive_dir)
        if stop is None:
            raise
        return _fail(f"order {args.order_id} was not packed again: {stop}".replace(
            f"run `postline order run {args.order_id}` again", f"run `postline deliver {args.order_id}` again"))
    problems = verify(path)
    for problem in problems:
        print(f"DIFFERS  {shown(problem)}")
    print(shown(path))
    return EXIT_FAILED if problems else EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    import json

    from tasks.verify import verify

    path = Path(args.path).expanduser()
    problems = verify(path)
    for problem in problems:
        print(f"DIFFERS  {shown(problem)}")
    if problems:
        print(f"{shown(path)}: {len(problems)} difference(s) from its manifest", file=sys.stderr)
        return EXIT_FAILED
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8")) if path.is_dir() else None
    count = len(manifest["files"]) + len(manifest["zips"]) + len(manifest["sheets"]) if manifest else None
    print(f"OK  {shown(path)}: " + (f"{count} files match the manifest" if count is not None
                                     else "every file matches the manifest inside it"))
    return EXIT_OK


def cmd_archive_list(args: argparse.Namespace) -> int:
    from surfaces import tables
    from tasks.archive import listing

    orders = listing(args.client)
    if not orders:
        print("No orders in the archive" + (f" for a client matching {shown(args.client)}." if args.client else "."))
        return EXIT_OK
    rows = [[a.client, a.year, a.order_id, a.status, a.last_delivered or "-", a.keep_until or "kept",
             f"{a.bytes_held / 1e6:.1f}", len(a.packages), a.folder] for a in orders]
    print(tables.render(["client", "year", "order", "status", "last delivered", "keep until", "MB", "packages",
                         "folder"], rows))
    return EXIT_OK


def cmd_archive_expire(args: argparse.Namespace) -> int:
    from config.settings import get_settings
    from tasks.archive import expire

    due = expire(apply=args.apply)
    years = get_settings().retention_years
    if not due:
        print(f"Nothing in the archive is past its retention ({years} years after the last delivery).")
        return EXIT_OK
    verb = "Removed" if args.apply else "Past retention (run with --apply to remove)"
    print(f"{verb}: originals and delivery packages of {len(due)} order(s), {years} years after their last delivery:")
    for archived in due:
        print(f"  order {archived.order_id} · {shown(archived.client)} · last delivered {archived.last_delivered} · "
              f"{archived.bytes_held / 1e6:.1f} MB · {shown(archived.folder)}")
    return EXIT_OK


def cmd_recipe_list(args: argparse.Namespace) -> int:
    from config.recipe import RecipeError, available, load_recipe

    for name in available():
        try:
            recipe = load_recipe(name)
        except RecipeError as exc:
            print(f"{shown(name):12} BROKEN: {shown(exc)}")
            continue
        keys = ", ".join(r.key for r in recipe.renditions)
        print(f"{name:12} v{recipe.version}  {keys}  ({len(recipe.sets)} ZIPs)  {shown(recipe.description)}")
    return EXIT_OK


def cmd_recipe_check(args: argparse.Namespace) -> int:
    from config.recipe import RecipeError, load_recipe_file

    failed = 0
    for file in args.files:
        try:
            recipe = load_recipe_file(Path(file))
        except RecipeError as exc:
            failed += 1
            print(f"error: {shown(exc)}", file=sys.stderr)
            continue
        print(f"OK  {shown(file)}: recipe {recipe.name} v{recipe.version}, "
              f"{len(recipe.renditions)} renditions in {len(recipe.sets)} ZIPs")
    return EXIT_FAILED if failed else EXIT_OK


DEMO_STUDIO = {"POSTLINE_STUDIO_NAME": "Demo Studio", "POSTLINE_STUDIO_COPYRIGHT": "© {year} Demo Studio",
               "POSTLINE_STUDIO_EMAIL": "hello@demo-studio.example", "POSTLINE_STUDIO_PHONE": "+1 555 0100",
               "POSTLINE_STUDIO_WEBSITE": "https://demo-studio.example"}


def as_demo_studio(action):  # noqa: ANN001, ANN202
    """``action()`` with the demo's studio settings (those not set already): in every file the demo delivers."""
    from config.settings import get_settings

    unset = [key for key in DEMO_STUDIO if key not in os.environ]
    os.environ.update({key: DEMO_STUDIO[key] for key in unset})
    get_settings.cache_clear()
    try:
        return action()
    finally:
        for key in unset:
            os.environ.pop(key, None)
        get_settings.cache_clear()


def add_parser(sub: argparse._SubParsersAction) -> None:
    deliver = sub.add_parser("deliver", help="pack a delivered order's package again (no stage runs again); "
                             "prints the package's folder last")
    deliver.add_argument("order_id", type=int)
    deliver.add_argument("--recipe", metavar="NAME|FILE", help="deliver this order with another recipe (a name in "
                         "config/recipes, or a .toml file), from now on")
    deliver.set_defaults(func=cmd_deliver)

    verify = sub.add_parser("verify", help="re-hash a delivery package (or one of its ZIPs) against its manifest; "
                            "exit 1 naming every difference")
    verify.add_argument("path", metavar="PACKAGE_OR_ZIP")
    verify.set_defaults(func=cmd_verify)

    archive = sub.add_parser("archive", help="the archive by client: list, and retention").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    listing = archive.add_parser("list", help="every order's archive folder, its size and how long it is kept")
    listing.add_argument("--client", help="only clients whose name holds this (any case)")
    listing.set_defaults(func=cmd_archive_list)
    expire = archive.add_parser("expire", help="orders past POSTLINE_RETENTION_YEARS after their last delivery")
    expire.add_argument("--apply", action="store_true", help="remove their originals and delivery packages "
                        "(default: only list them)")
    expire.set_defaults(func=cmd_archive_expire)

    recipe = sub.add_parser("recipe", help="delivery recipes (config/recipes/*.toml)").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    recipe.add_parser("list", help="every recipe with its renditions").set_defaults(func=cmd_recipe_list)
    check = recipe.add_parser("check", help="validate recipe files; errors name the file, the key and the range")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=cmd_recipe_check)
