"""`postline demo`: write a small shoot of DNG files, run it end to end, print the delivery package."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from surfaces.cli.deliver import as_demo_studio
from surfaces.cli.errors import CliError
from surfaces.cli.orders import run_order, said_created
from surfaces.cli.status import print_order
from surfaces.terminal import shown


def cmd_demo(args: argparse.Namespace) -> int:
    from config.settings import get_settings
    from surfaces.actions import orders
    from tasks.synthetic import make_demo_shoot

    folder = Path(args.folder or get_settings().home / "demo-card").expanduser().resolve()
    paths = _write_card(folder, make_demo_shoot)
    print(f"Wrote a demo shoot of {len(paths)} DNG files to {shown(folder)}")
    order = orders.create_order(client=args.client, shoot="wedding", card=folder, preset_name=None, due=None,
                                same_card=True)     # the same demo shoot each time: `make demo` again is a new order
    said_created(order)
    print("Running it through the line...")
    path = as_demo_studio(lambda: run_order(order.id))
    print()
    print_order(order.id, brief=True)
    print(f"\nDelivery package: {shown(path)}")
    return 0


DEMO_MARK = ".postline-demo"     # in a folder the demo wrote: its files are the demo's (a hidden file: not ingested)


def _write_card(folder: Path, make) -> list[Path]:  # noqa: ANN001 - tasks.synthetic.make_demo_shoot
    """The demo shoot written into ``folder``, which must be new, empty, or one a demo wrote before (its mark
    file; or, from before the mark, nothing but the demo's own files, byte for byte): a folder of real photos is
    refused, not written over (a camera's DSC_0002.dng is a demo file's name too). A scratch folder a demo left
    when it was stopped is removed."""
    if folder.exists() and not folder.is_dir():
        raise CliError(f"--folder {shown(folder)} is a file: give a folder for the demo's card (a new or empty one)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        marked = (folder / DEMO_MARK).is_file()
        for left in folder.glob(".demo-*"):                    # a demo stopped while it wrote: its scratch
            if left.is_dir():
                shutil.rmtree(left, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix=".demo-", dir=folder) as scratch:
            made = {path.name: path for path in make(Path(scratch))}
            others = sorted(entry.name for entry in folder.iterdir()
                            if entry.name not in (Path(scratch).name, DEMO_MARK)
                            and (entry.name not in made or not entry.is_file()
                                 or not marked and entry.read_bytes() != made[entry.name].read_bytes()))
            if others:
                raise CliError(f"{shown(folder)} holds other files ({', '.join(map(shown, others[:5]))}"
                               f"{', ...' if len(others) > 5 else ''}): the demo writes its shoot into a new or empty "
                               "folder, and writes over nothing. Give another --folder.")
            for name, path in made.items():
                os.replace(path, folder / name)
            (folder / DEMO_MARK).write_text("written by `postline demo`: it writes its shoot here again\n")
    except OSError as exc:
        raise CliError(f"cannot write the demo's card in {shown(folder)}: {exc.strerror or exc}; give another "
                       "--folder") from None
    return [folder / name for name in made]


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="make a small shoot of DNG files and run it end to end")
    demo.add_argument("--folder", help="where to write the demo card (default: $POSTLINE_HOME/demo-card)")
    demo.add_argument("--client", default="Demo Wedding", help="client name for the demo order")
    demo.set_defaults(func=cmd_demo)
