"""Text from people and files, made safe to print in a terminal.

A client name, a note, a reason, a file name from a card or a preset's description can hold control
characters: a newline starts a fake row in `postline status`, an escape sequence (ESC [ 2 J) clears the
screen or recolours what follows, a bidi override (U+202E) shows the rest of the line backwards. Everything
the command line prints that came from a person or a file goes through :func:`shown`, which writes each such
character as a visible escape (``\\n``, ``\\x1b``, ``\\u202e``). Letters, accents and scripts of every
language stay as they are; a backslash stays a backslash (``shown`` is for reading, not for reversing).
"""

from __future__ import annotations

import re

# C0 controls (newline, tab, ESC ...), DEL and the C1 controls (CSI 0x9b starts an escape sequence on some
# terminals); the line and paragraph separators; the bidi marks, embeddings, overrides and isolates.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def shown(value: object) -> str:
    """``value`` as text, every control character written as a visible escape: one line, as it reads."""
    return CONTROL.sub(_escape, str(value))


def shown_lines(text: object) -> str:
    """Text of several lines that postline composed (a report, a TOML listing): each line :func:`shown`, the
    line breaks kept."""
    return "\n".join(shown(line) for line in str(text).split("\n"))


def has_control(value: str) -> bool:
    """Whether ``value`` holds a character :func:`shown` would escape: a name must not (it is shown on one line
    everywhere: the status table, the web page, the delivery's file names)."""
    return CONTROL.search(value) is not None


def quiet_events_at_exit() -> None:
    """Prefect's events worker says "Still processing items: 1 items remaining..." (a WARNING) when a command ends
    while it is still sending an event, such as the order's progress artifact updated by a pull or a hand-back:
    it sends it before the process exits, nothing is wrong, and retouchers read the line as an error. That line
    is dropped; the worker's failures are still said."""
    import logging

    logging.getLogger("EventsWorker").addFilter(
        lambda record: not record.getMessage().startswith("Still processing items"))


def quiet_prefect_console() -> None:
    """Prefect's log lines on this terminal: each line :func:`shown` (a card's file name in a warning cannot drive
    the terminal; line breaks stay, as Prefect's own messages have them), and a failure postline has put in words
    (a :class:`config.errors.PostlineError`: the disk, the file, the recipe, and what to do) without its
    traceback, which the command's last line says again. The Prefect UI's logs keep every traceback; a failure
    that is not postline's own (a bug) keeps its traceback here."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *(found for found in logging.Logger.manager.loggerDict.values()
                                      if isinstance(found, logging.Logger))]
    for handler in {h for logger in loggers for h in logger.handlers if isinstance(h, PrefectConsoleHandler)}:
        if not getattr(handler, "postline_quiet", False):
            handler.format = _quiet(handler.format)
            handler.postline_quiet = True


def _quiet(format):  # noqa: ANN001, ANN202 - a handler's bound format method
    from config.errors import PostlineError

    def quiet(record) -> str:  # noqa: ANN001 - logging.LogRecord
        said = record.exc_info[1] if record.exc_info else None
        kept = record.msg, record.args, record.exc_info, record.exc_text   # shared with the UI's handler: put back
        record.msg, record.args = shown_lines(record.getMessage()), ()    # its line breaks kept (Prefect's own)
        if isinstance(said, PostlineError):
            record.exc_info = record.exc_text = None
        try:
            return shown_lines(format(record))
        finally:
            record.msg, record.args, record.exc_info, record.exc_text = kept

    return quiet
