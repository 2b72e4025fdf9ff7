"""`postline`: the command line of the studio's post-production line.

One module per command group, each with ``add_parser(sub)``: they parse, call :mod:`surfaces.actions`, and print.
What goes wrong is said, and given its exit code, in one place (:mod:`surfaces.cli.errors`).
"""

from __future__ import annotations

import argparse
import os
import sys

from surfaces.prefect_env import settle_temporary_server, use_server_settings

use_server_settings()   # before Prefect is imported, which reads the temporary server's startup wait once

from surfaces.cli import cull, deliver, demo, errors, gates, links, orders, people, presets, queue, report, status  # noqa: E402
from surfaces.terminal import quiet_events_at_exit, quiet_prefect_console  # noqa: E402
from tasks.pixels.memory import keep_freed_memory  # noqa: E402


def _commands() -> tuple:
    """The command groups, in the order `postline --help` lists them; a new group adds its module here."""
    from surfaces import web

    return (orders, status, report, demo, presets, queue, people, gates, cull, deliver, links, web)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postline",
        description="The post-production line of a photo studio: ingest, RAW grading, retouch stages, "
                    "QC gate and delivery, recorded in the production record and run on Prefect.",
        epilog="Settings come from POSTLINE_* environment variables (POSTLINE_HOME, POSTLINE_DATABASE_URL, ...).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _commands():
        command.add_parser(sub)
    return parser


def _connect_prefect() -> None:
    """Every command that may wake a waiting run (queue submit, qc/review decide, web) must reach the same
    Prefect server as the run: the one in PREFECT_API_URL, else the local one if it is up."""
    from surfaces.prefect_env import choose_prefect_server

    choose_prefect_server()


def _settings_file_names() -> list[str]:
    """The names postline.env (in the working folder) sets."""
    from dotenv import dotenv_values

    from config.settings import SETTINGS_FILE

    try:
        return list(dotenv_values(SETTINGS_FILE))
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "web":   # before any thread starts (tasks.pixels.memory); the web server serves, not grades
        keep_freed_memory()
    _connect_prefect()
    quiet_events_at_exit()             # by name: Prefect need not be loaded yet
    given = [*os.environ, *_settings_file_names()]
    if (refused := errors.record_misspelt(given)) is not None:
        print(f"error: {refused}", file=sys.stderr)
        return errors.EXIT_USAGE
    for warning in errors.misspelt_settings(given):
        print(warning, file=sys.stderr)
    if "prefect" in sys.modules:       # else a command that runs a flow quiets it once loaded: status, queue,
        quiet_prefect_console()        # people and the like do not load Prefect at all (seconds a command)
    try:
        return args.func(args)
    except errors.HANDLED as exc:
        return errors.fail(exc)
    except KeyboardInterrupt:          # Ctrl-C: a sentence, not a traceback (`order run` says more of its own)
        print("Stopped (Ctrl-C). What was done before it is kept; anything half done was not recorded.",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # `postline ... | head`: the reader has gone, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        settle_temporary_server()
