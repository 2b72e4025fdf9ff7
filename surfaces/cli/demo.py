"""`postline demo`: write a small shoot of DNG files, run it end to end, print the delivery package."""

from __future__ import annotations

import argparse
from pathlib import Path

from surfaces.cli.deliver import as_demo_studio
from surfaces.cli.orders import run_order, said_created
from surfaces.cli.status import print_order
from surfaces.terminal import shown


def cmd_demo(args: argparse.Namespace) -> int:
    from config.settings import get_settings
    from surfaces.actions import orders
    from tasks.synthetic import make_demo_shoot

    folder = Path(args.folder or get_settings().home / "demo-card").expanduser().resolve()
    paths = make_demo_shoot(folder)
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


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="make a small shoot of DNG files and run it end to end")
    demo.add_argument("--folder", help="where to write the demo card (default: $POSTLINE_HOME/demo-card)")
    demo.add_argument("--client", default="Demo Wedding", help="client name for the demo order")
    demo.set_defaults(func=cmd_demo)
