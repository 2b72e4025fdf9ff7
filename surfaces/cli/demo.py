"""`postline demo`: write a small shoot of DNG files, run it end to end, print the delivery package."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from surfaces.cli.deliver import as_demo_studio
from surfaces.cli.errors import CliError
from surfaces.cli.orders import run_order, said_created
from surfaces.cli.status import print_order
from surfaces.terminal import shown
from tasks.files import sha256_of


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


DEMO_MARK = ".postline-demo"     # in a folder the demo wrote: each file it wrote, with its checksum (hidden: not ingested)
SCRATCH_AGE_S = 600             # a demo's scratch folder this old was left by a demo stopped while it wrote


def _write_card(folder: Path, make) -> list[Path]:  # noqa: ANN001 - tasks.synthetic.make_demo_shoot
    """The demo shoot written into ``folder``, which must be new, empty, or one a demo wrote before: every file in
    it one the demo wrote, unchanged since (its mark file lists them with their checksums; a folder from before
    the mark: the demo's own files, byte for byte). A folder of real photos is refused, not written over (a
    camera's DSC_0002.dng is a demo file's name too). In a folder the demo wrote, a scratch folder a stopped demo
    left is removed."""
    if folder.exists() and not folder.is_dir():
        raise CliError(f"--folder {shown(folder)} is a file: give a folder for the demo's card (a new or empty one)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        wrote = _marked(folder)
        if wrote:
            for left in folder.glob(".demo-*"):                # a demo stopped while it wrote: its scratch
                if left.is_dir() and time.time() - left.stat().st_mtime > SCRATCH_AGE_S:
                    shutil.rmtree(left, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix=".demo-", dir=folder) as scratch:
            made = {path.name: path for path in make(Path(scratch))}

            def ours(entry: Path) -> bool:
                if entry.name == DEMO_MARK or entry.name.startswith(".demo-") and entry.is_dir():
                    return True
                if entry.name not in made or not entry.is_file():
                    return False
                if entry.name in wrote:                     # the demo wrote it: unchanged since?
                    return sha256_of(entry) == wrote[entry.name]
                return entry.read_bytes() == made[entry.name].read_bytes()

            others = sorted(entry.name for entry in folder.iterdir() if not ours(entry))
            if others:
                raise CliError(f"{shown(folder)} holds other files ({', '.join(map(shown, others[:5]))}"
                               f"{', ...' if len(others) > 5 else ''}): the demo writes its shoot into a new or empty "
                               "folder, and writes over nothing. Give another --folder.")
            for name, path in made.items():
                os.replace(path, folder / name)
            (folder / DEMO_MARK).write_text(json.dumps(
                {"written_by": "postline demo", "files": {name: sha256_of(folder / name) for name in made}}, indent=1))
    except OSError as exc:
        raise CliError(f"cannot write the demo's card in {shown(folder)}: {exc.strerror or exc}; give another "
                       "--folder") from None
    return [folder / name for name in made]


def _marked(folder: Path) -> dict[str, str]:
    """The files the demo wrote in ``folder`` and their checksums, from its mark file (none without one)."""
    try:
        files = json.loads((folder / DEMO_MARK).read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(name): str(sha) for name, sha in files.items()} if isinstance(files, dict) else {}


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="make a small shoot of DNG files and run it end to end")
    demo.add_argument("--folder", help="where to write the demo card (default: $POSTLINE_HOME/demo-card)")
    demo.add_argument("--client", default="Demo Wedding", help="client name for the demo order")
    demo.set_defaults(func=cmd_demo)
