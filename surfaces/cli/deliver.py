"""`postline deliver|verify|archive|recipe`: the delivery package, its check, the archive by client, recipes.

    postline deliver ORDER [--recipe NAME|FILE]   pack a delivered order again (no stage runs again)
    postline verify PACKAGE_OR_ZIP                re-hash everything against the manifest; exit 1 on any difference
    postline verify ORDER_ARCHIVE_FOLDER          its originals as archived, and each of its packages
    postline archive list [--client TEXT]         every order's archive folder, size and how long it is kept
    postline archive expire [--apply]             what is past retention (--apply removes it)
    postline recipe list | check FILE...          the delivery recipes
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from surfaces.cli.errors import EXIT_FAILED, EXIT_USAGE, order_argument
from surfaces.terminal import shown

EXIT_OK = 0


def _print_problems(problems: list[str]) -> None:
    for problem in problems:
        print(f"DIFFERS  {shown(problem)}")


def cmd_deliver(args: argparse.Namespace) -> int:
    from surfaces.actions.delivery import deliver_again

    packed = deliver_again(args.order_id, args.recipe)
    if packed.recipe:
        print(f"Order {args.order_id} delivers with recipe {shown(packed.recipe)} from now on.")
    _print_problems(packed.problems)
    print(shown(packed.path))
    return EXIT_FAILED if packed.problems else EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    import json

    from tasks.verify import is_order_folder, packages_in, verify

    path = Path(args.path).expanduser()
    if not path.exists():
        print(f"error: {shown(path)}: no such file or folder; give a delivery package folder or one of its ZIPs "
              "(`postline archive list` shows where each order's is)", file=sys.stderr)
        return EXIT_USAGE
    order = path.is_dir() and is_order_folder(path)
    if path.is_dir() and not order and not (path / "manifest.json").is_file():   # the wrong folder: a usage error
        print(f"error: {shown(path)} holds no manifest.json: it is not a delivery package; give the package folder "
              "or the order's archive folder (`postline archive list` shows where each order's is) or one of its "
              "ZIPs", file=sys.stderr)
        return EXIT_USAGE
    problems = verify(path)
    _print_problems(problems)
    if problems:
        print(f"{shown(path)}: {len(problems)} difference(s) from "
              + ("what was archived and delivered" if order else "its manifest"), file=sys.stderr)
        return EXIT_FAILED
    if order:
        originals = sum(1 for p in (path / "originals").iterdir() if p.is_file())
        print(f"OK  {shown(path)}: {originals} originals as archived, {len(packages_in(path))} package(s) match "
              "their manifests")
        return EXIT_OK
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8")) if path.is_dir() else None
    count = len(manifest["files"]) + len(manifest["zips"]) + len(manifest["sheets"]) if manifest else None
    print(f"OK  {shown(path)}: " + (f"{count} files match the manifest" if count is not None
                                     else "every file matches the manifest inside it"))
    return EXIT_OK


def cmd_archive_list(args: argparse.Namespace) -> int:
    from surfaces.cli import tables
    from tasks.archive import listing

    orders = listing(args.client)
    if not orders:
        print("No orders in the archive" + (f" for a client matching {shown(args.client)}." if args.client else "."))
        return EXIT_OK
    rows = [[a.client, a.year, a.order_id, a.status, a.last_delivered or "-", a.keep_until or "kept",
             f"{a.bytes_held / 1e6:.1f}", sum(p.is_dir() for p in a.packages), a.folder] for a in orders]
    print(tables.render(["client", "year", "order", "status", "last delivered", "keep until", "MB", "packages",
                         "folder"], rows))
    return EXIT_OK


def cmd_archive_expire(args: argparse.Namespace) -> int:
    from config.settings import get_settings
    from surfaces.actions.delivery import expire_archive

    due = expire_archive(apply=args.apply)
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
    from presets.recipe import RecipeError, available, load_recipe

    for name in available():
        try:
            recipe = load_recipe(name)
        except RecipeError as exc:
            print(f"{shown(name):12} BROKEN: {shown(exc)}")
            continue
        keys = ", ".join(r.key for r in recipe.renditions)
        grey = f"; in black and white on request: {', '.join(t.key for t in recipe.twins)}" if recipe.twins else ""
        print(f"{name:12} v{recipe.version}  {keys}{grey}  ({len(recipe.sets)} ZIPs)  {shown(recipe.description)}")
    return EXIT_OK


def cmd_recipe_check(args: argparse.Namespace) -> int:
    from presets.recipe import RecipeError, load_recipe_file

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
    order_argument(deliver)
    deliver.add_argument("--recipe", metavar="NAME|FILE", help="deliver this order with another recipe (a name in "
                         "config/recipes, or a .toml file), from now on")
    deliver.set_defaults(func=cmd_deliver)

    said = ("re-hash a delivery package (or one of its ZIPs) against its manifest, or an order's archive folder (its "
            "originals and its packages); exit 1 naming every difference")
    verify = sub.add_parser("verify", help=said, description=said[0].upper() + said[1:] + ", 0 when it is whole, "
                            "2 when the path is not there or not a package.")
    verify.add_argument("path", metavar="PACKAGE_OR_ZIP", help="the package folder or the order's archive folder "
                        "(`postline archive list` shows each order's), or a ZIP of it, e.g. the client's download")
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
