"""`postline web`: the retoucher web page.

    postline web [--host 127.0.0.1] [--port 8765]

Retouchers sign in with the password `postline people add` asked for, see the queues of their stages, claim
the next photo, download its working file, upload their result (checked like `postline queue submit`) and see
before/after; a lead sees every stage, every claim, and what each order waits on. The routes are in
:mod:`surfaces.web_app`; sessions in :mod:`surfaces.web_session`. Settings: ``POSTLINE_WEB_*`` (see
:class:`surfaces.web_session.WebSettings`).
"""

from __future__ import annotations

import argparse
import logging
import re


def create_app(**kwargs):  # noqa: ANN003, ANN201 - fastapi.FastAPI
    """The web app over the current settings' production record (see :func:`surfaces.web_app.create_app`)."""
    from surfaces.web_app import create_app as make

    return make(**kwargs)


class HideLinkTokens(logging.Filter):
    """The access log without the secret of a client's link: ``GET /g/eyJpIjo…/photos/7.jpg`` (the token's first
    eight characters: enough to tell two links apart). The log is read by more people, and kept longer, than the
    links live: a token in it opens the client's gallery or download."""

    LINK = re.compile(r"^(/[gdp]/[A-Za-z0-9_\-]{8})[A-Za-z0-9_.\-]*")

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], self.LINK.sub(r"\1…", args[2]), *args[3:])
        return True


def serve(host: str = "127.0.0.1", port: int = 8765) -> None:
    import uvicorn

    app = create_app()
    print(f"postline web page on http://{host}:{port}/ (Ctrl-C stops it)")
    config = uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=False, server_header=False)
    logging.getLogger("uvicorn.access").addFilter(HideLinkTokens())    # after the Config set uvicorn's logging up
    uvicorn.Server(config).run()


def cmd_web(args: argparse.Namespace) -> int:
    serve(args.host, args.port)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `postline web` on the `postline` command's subparsers."""
    from surfaces.cli.errors import whole_number

    web = sub.add_parser("web", help="the retoucher web page: sign in, claim, download, upload, before/after",
                         description=__doc__.split("\n\n")[0])
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    web.add_argument("--port", type=whole_number(1, 65535, "port"), default=8765, help="port (default 8765)")
    web.set_defaults(func=cmd_web)
