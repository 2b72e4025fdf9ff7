"""`postline gallery`, `postline download-link` and `postline links`: the links handed to clients, through
:mod:`surfaces.actions.client`. Each prints the link's address last, alone on its line.

    postline gallery 7 [--days 30] [--pin 4821] [--email anna@example.com]
    postline download-link 7 [--days 14] [--pin 4821] [--email anna@example.com]
    postline links list 7
    postline links revoke 12
"""

from __future__ import annotations

import argparse

from surfaces.cli import tables
from surfaces.cli.errors import order_argument
from surfaces.terminal import shown


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 365:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of days from 1 to 365")
    return int(text)


def _said(made, what: str) -> None:  # noqa: ANN001 - surfaces.actions.client.MadeLink
    from record import links

    link = made.link
    print(f"{what} for order {link.order_id}, link {link.id}: works until {links.expiry(link):%Y-%m-%d %H:%M} UTC"
          + ("; asks for the PIN (give it to the client another way: it is not in the link, nor e-mailed)"
             if link.pin_hash else "") + ".")
    if made.emailed:
        print(shown(made.emailed[:1].upper() + made.emailed[1:]) + ".")
    print(made.url)


def cmd_gallery(args: argparse.Namespace) -> int:
    from surfaces.actions import client

    made = client.make_link(order_id=args.order_id, purpose=client.LinkPurpose.GALLERY, days=args.days, pin=args.pin,
                            email=args.email, actor=args.actor)
    view = client.gallery(args.order_id)
    now = {client.GalleryMode.SELECTING: f"{len(view.photos)} graded photo(s) to choose from",
           client.GalleryMode.CHOSEN: "the selection the client sent",
           client.GalleryMode.DELIVERED: "the delivered photos, to ask for changes",
           client.GalleryMode.REVISING: "that the changes asked for are being made",
           client.GalleryMode.PREPARING: "that the photos are being prepared (grading is not done, or the order has "
                                         "no client selection and is not delivered yet)"}[view.mode]
    print(f"The gallery shows now: {now}.")
    if view.preparing:
        print(f"{view.preparing} more photo(s) are still being graded: they appear in the gallery as they are done. "
              "A selection the client sends before then covers the photos shown, and they choose among the others "
              f"when those are ready (`postline status {args.order_id}` says when every photo waits for them).")
    _said(made, "Gallery link")
    return 0


def cmd_download_link(args: argparse.Namespace) -> int:
    from surfaces.actions import client

    made = client.download_link(args.order_id, days=args.days, pin=args.pin, email=args.email, actor=args.actor)
    print(f"Serves {shown(client.delivery_of(args.order_id).name)} (downloads resume where they stopped).")
    _said(made, "Download link")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from record import links
    from record.models import utcnow
    from surfaces.actions import client

    found = client.order_links(args.order_id)
    if not found:
        print(f"Order {args.order_id} has no client links. `postline gallery {args.order_id}` makes one.")
        return 0
    now = utcnow()
    rows = [[link.id, link.purpose.value, f"{links.expiry(link):%Y-%m-%d %H:%M}",
             "yes" if link.pin_hash else "-", link.email or "-",
             _state(link, now),
             link.reminders or "-", url] for link, url in found]
    print(tables.render(["link", "for", "until (UTC)", "PIN", "e-mail", "state", "reminders", "address"], rows))
    return 0


def _state(link, now) -> str:  # noqa: ANN001 - record.models.ClientLink, a datetime
    """withdrawn, expired, live, or live but refusing PINs for a while after too many wrong ones."""
    from record import links

    if link.revoked_at:
        return "withdrawn"
    if not links.live(link, now):
        return "expired"
    locked = links.utc(link.pin_locked_until)
    return f"live, PIN locked until {locked:%H:%M} UTC (wrong PINs)" if locked and locked > now else "live"


def cmd_revoke(args: argparse.Namespace) -> int:
    from surfaces.actions import client

    link = client.revoke(args.link_id, actor=args.actor)
    print(f"Link {link.id} ({link.purpose.value}, order {link.order_id}) is withdrawn: it opens nothing any more.")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    def link_options(p: argparse.ArgumentParser, default_days: str) -> None:
        order_argument(p)
        p.add_argument("--days", type=_days, help=f"how long the link works (default {default_days})")
        p.add_argument("--pin", help="a PIN the link asks for (4 to 32 letters or digits); give it to the client "
                       "another way")
        p.add_argument("--email", metavar="ADDRESS", help="e-mail the link to this address (POSTLINE_SMTP_*); "
                       "reminders of an overdue selection go there too")
        p.add_argument("--as", dest="actor", default="studio", help="who makes it (recorded)")

    gallery = sub.add_parser("gallery", help="make the client's gallery link: favourites, album, notes; later, "
                             "change requests; prints the address last")
    link_options(gallery, "POSTLINE_GALLERY_DAYS, 30")
    gallery.set_defaults(func=cmd_gallery)
    download = sub.add_parser("download-link", help="make a download link to an order's delivery (resumable); "
                              "prints the address last")
    link_options(download, "POSTLINE_DOWNLOAD_DAYS, 14")
    download.set_defaults(func=cmd_download_link)

    group = sub.add_parser("links", help="an order's client links: list them, withdraw one").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    listing = group.add_parser("list", help="an order's links: purpose, expiry, PIN, e-mail, state, address")
    order_argument(listing)
    listing.set_defaults(func=cmd_list)
    revoke = group.add_parser("revoke", help="withdraw a link: it opens nothing any more")
    revoke.add_argument("link_id", type=int, metavar="LINK")
    revoke.add_argument("--as", dest="actor", default="studio", help="who withdraws it (recorded)")
    revoke.set_defaults(func=cmd_revoke)
