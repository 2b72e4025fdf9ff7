"""Every command postline's own messages tell a user to run (`postline ...` in a hint, a status line, an error)
is a command the command line takes: a hint naming a subcommand or a flag that does not exist sends a studio
nowhere (`postline links 7` was one)."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from surfaces.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "flows", "presets", "qc", "record", "surfaces", "tasks")
HINT = re.compile(r"`postline ([^`]*)`")


def _hints() -> list[tuple[str, str]]:
    """(where, hint) for every hint with no alternatives (``a|b``), elision (``...``) or optional part (``[--x]``)."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                for hint in HINT.findall(line):
                    if not any(mark in hint for mark in ("|", "...", "[")):
                        found.append((f"{path.relative_to(ROOT)}:{number}", hint))
    return found


HINTS = _hints()
WHOLE = re.compile(r"\{[^}]*\}|\b(N|ORDER|ITEM|\d+)\b")    # a placeholder or a number: a command to run as it is


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def test_the_hints_are_found():
    assert len(HINTS) > 40
    assert ("tasks/next_steps.py:48", "links list {oid}") in HINTS


@pytest.mark.parametrize("where, hint", HINTS, ids=[f"{w} postline {h}" for w, h in HINTS])
def test_a_hint_is_a_command_postline_takes(where, hint):
    """A whole command (with its order, photo...) parses as it is; a command named in passing (`postline cull`,
    `postline deliver --recipe`) names commands and flags that exist."""
    parser = build_parser()
    if WHOLE.search(hint):
        command, said = WHOLE.sub("7", hint), io.StringIO()
        try:
            with contextlib.redirect_stderr(said):
                parser.parse_args(shlex.split(command))
        except SystemExit as stop:         # a hint may leave a required flag to the reader (`order clock N`)
            if stop.code and "required" not in said.getvalue():
                pytest.fail(f"{where}: `postline {command}` is refused: {said.getvalue().splitlines()[-1]}")
        return
    words = shlex.split(hint)
    while words and not words[0].startswith("-") and words[0] in _subcommands(parser):
        parser = _subcommands(parser)[words.pop(0)]
    flags = {flag for action in parser._actions for flag in action.option_strings}
    unknown = [flag for w in words if w.startswith("-") for flag in w.split("=")[0].split("/") if flag not in flags]
    assert not unknown, f"{where}: `postline {hint}`: {unknown} not among {parser.prog}'s flags"
    assert not words or words[0].startswith("-") or not _subcommands(parser) or words[0].isupper(), (
        f"{where}: `postline {hint}`: {parser.prog} has no command {words[0]!r}")
