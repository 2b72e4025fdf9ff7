"""Text from people and files reaches the terminal escaped: a client name cannot spoof rows or send escape codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from record import work
from record.db import transaction
from record.models import Photo, PhotoStatus, ShootType
from surfaces.cli import main
from surfaces.terminal import has_control, shown
from tasks.synthetic import write_card

REPO = Path(__file__).resolve().parents[1]
HOSTILE = "Anna\n 99  Evil  wedding  delivered\x1b[2J\u202eneB"
HOSTILE_SHOWN = "Anna\\n 99  Evil  wedding  delivered\\x1b[2J\\u202eneB"


@pytest.fixture
def card(tmp_path):
    return write_card(tmp_path / "card", 1, size=(64, 48))


def _order(client: str, card: Path) -> int:
    """An order as the record may hold it (written before names were checked, or by another tool)."""
    with transaction() as session:
        order = work.create_order(session, client=client, shoot=ShootType.WEDDING, preset_name="neutral",
                                  preset_version=2, preset_hash="0" * 64, preset_json=None, due=None,
                                  card_folder=str(card))
        work.add_photo(session, Photo(order_id=order.id, source_name="DSC\n_0002.dng\x1b]0;pwned\x07", sha256="1" * 64,
                                      size_bytes=10, status=PhotoStatus.REJECTED,
                                      reason="DSC_0002.dng: unreadable\r\n  [delivered] all fine\x9b2J"),
                       first_stage=None)
        return order.id


def test_shown_writes_every_control_character_as_a_visible_escape():
    assert shown(HOSTILE) == HOSTILE_SHOWN
    assert shown("tab\there\x00\x7f\x85\u2028\u2066x\u2069") == "tab\\there\\x00\\x7f\\x85\\u2028\\u2066x\\u2069"
    for ordinary in ("Anna & Ben", "Zoë Müller", "王小明", "שרה כהן", "Ольга", "C:\\cards\\a.dng", "🎉 wedding"):
        assert shown(ordinary) == ordinary and not has_control(ordinary)
    assert has_control("Anna\n") and has_control("a\u202eb") and has_control("x\x1b[31m")


def test_a_client_name_with_control_characters_is_refused_at_order_create(home, card, capsys):
    code = main(["order", "create", "--client", HOSTILE, "--shoot", "wedding", "--from", str(card)])
    out, err = capsys.readouterr()
    assert code == 2 and "a client name is one line of visible text" in err
    assert HOSTILE_SHOWN in err and "\x1b" not in out + err and "\u202e" not in out + err
    assert err.count("\n") == 1                                 # one line of error, not a spoofed second one
    assert main(["status"]) == 0 and "No orders yet" in capsys.readouterr().out


def test_status_lists_a_hostile_client_name_escaped_in_its_own_single_row(home, card, capsys):
    _order("Chloe", card)
    hostile_id = _order(HOSTILE, card)
    _order("Dan", card)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    lines = out.rstrip("\n").split("\n")
    assert len(lines) == 2 + 3                                  # header, rule, one row per order
    assert sorted(line.split()[0] for line in lines[2:]) == ["1", "2", "3"]    # newest first
    (row,) = [line for line in lines if "Evil" in line]
    assert row.split()[0] == str(hostile_id) and HOSTILE_SHOWN in row
    assert "\x1b" not in out and "\u202e" not in out and "\r" not in out


def test_one_orders_status_shows_names_and_reasons_escaped(home, card, capsys):
    order_id = _order(HOSTILE, card)
    assert main(["status", str(order_id)]) == 0
    out = capsys.readouterr().out
    assert out.split("\n")[0].startswith(f"Order {order_id} · {HOSTILE_SHOWN} · wedding")
    assert "  [rejected] DSC_0002.dng: unreadable\\r\\n  [delivered] all fine\\x9b2J" in out
    assert not any(line.lstrip().startswith("[delivered]") for line in out.split("\n"))
    assert not any(c in out for c in "\x1b\x07\x9b\r\u202e")


def test_the_real_command_writes_no_raw_control_byte_from_the_record(home, card):
    """The bytes a terminal receives from `postline status` (a subprocess, as a lead runs it)."""
    order_id = _order(HOSTILE, card)
    env = {**os.environ, "POSTLINE_HOME": str(home)}
    for args in (["status"], ["status", str(order_id)]):
        out = subprocess.run([sys.executable, "-m", "surfaces.cli", *args], capture_output=True, env=env, cwd=REPO,
                             check=True, timeout=120).stdout
        assert b"\x1b" not in out and b"\r" not in out and "\u202e".encode() not in out and b"\xc2\x9b" not in out
        assert HOSTILE_SHOWN.encode() in out
        assert not any(line.lstrip().startswith(b"99  Evil") for line in out.split(b"\n"))


def test_a_persons_display_name_with_control_characters_is_refused(home, capsys):
    code = main(["people", "add", "ana", "--role", "retoucher", "--display-name", "Ana\x1b[2J", "--password-stdin"])
    assert code == 2 and "Ana\\x1b[2J" in capsys.readouterr().err
    assert main(["people", "list"]) == 0 and "Nobody yet" in capsys.readouterr().out


def test_prefects_terminal_lines_are_escaped_and_postlines_own_failures_come_without_a_traceback():
    """The command line's Prefect console: a warning naming a card file with escape codes prints them escaped; a
    failure postline has put in words (a PostlineError) prints its message without a traceback, a bug keeps its
    traceback; the record other handlers (the UI's) see keeps its traceback."""
    import io
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    from config.errors import Invalid
    from surfaces.terminal import quiet_prefect_console

    out = io.StringIO()
    console = PrefectConsoleHandler(stream=out)
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(logging.Formatter().format(record))

    logger = logging.getLogger("prefect.postline-test")
    logger.addHandler(console)
    logger.addHandler(Keep())
    try:
        quiet_prefect_console()
        logger.warning("evil\x1b[31mred\nline.NEF: not a readable RAW file")
        for error in (Invalid("the recipe is wrong: fix it"), ValueError("a bug")):
            try:
                raise error
            except Exception:
                logger.error("Encountered exception during execution", exc_info=True)
    finally:
        logger.handlers.clear()
    printed = out.getvalue()
    assert "evil\\x1b[31mred\nline.NEF" in printed and "\x1b[31m" not in printed
    assert printed.count("Traceback") == 1 and "ValueError: a bug" in printed
    assert "config.errors.Invalid: the recipe is wrong" not in printed
    assert sum("Traceback" in line for line in seen) == 2              # the UI's handler sees both
