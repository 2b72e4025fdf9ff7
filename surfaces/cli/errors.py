"""How the command line ends when something is wrong: one line `error: ...` on stderr (the message escaped, see
surfaces/terminal.py) and an exit code chosen here, by the kind of error (config/errors.py), for every command:

- 1: refused or failed: not your claim, another run holds the order, a result that fails its checks, nothing
  delivered, the machine failed (the message says what to fix and to run it again);
- 2: a usage error: a bad value, an unknown order, item, person or preset, a decision naming photos that do not
  wait;
- 3 (`queue pull` only): nothing to pull; not an error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from pydantic import ValidationError

from config.errors import Invalid, Permanent, PostlineError, Refused, Retryable
from config.settings import url_without_password
from surfaces.terminal import shown

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_EMPTY = 3

EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (ValidationError, EXIT_USAGE),     # a decision or value that does not fit its model (pydantic)
    (Invalid, EXIT_USAGE),             # NotFound included
    (Refused, EXIT_FAILED),            # Forbidden included
    (Permanent, EXIT_FAILED),
    (Retryable, EXIT_FAILED),
)
HANDLED = (PostlineError, ValidationError)


class CliError(Invalid):
    """A problem with what was typed that the user can fix; printed without a traceback."""


def exit_code(exc: BaseException) -> int:
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), EXIT_FAILED)


def message(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        prefix = _setting_prefixes().get(exc.title)
        if prefix:                  # a setting: named as the studio writes it, in the environment or postline.env
            return "; ".join(_setting_said(prefix, e) for e in exc.errors()) + " (set in the environment or postline.env)"
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)


SECRET_WORDS = ("password", "secret", "token")


def _setting_said(prefix: str, error: dict) -> str:
    """One wrong setting: ``POSTLINE_X = 'value': what is wrong``. A check of several settings together (no key of
    its own) is its sentence alone, which names them; a password, secret or token is never shown, nor the password
    in a URL (POSTLINE_DATABASE_URL's)."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    name = prefix + "_".join(map(str, error["loc"])).upper()
    value = error.get("input")
    if any(word in name.lower() for word in SECRET_WORDS):
        shown_value = "(not shown)"
    elif isinstance(value, str) and "://" in value:
        shown_value = repr(url_without_password(value))
    else:
        shown_value = repr(value)
    return f"{name} = {shown_value}: {message}"


def _settings_classes() -> list[type]:
    """Every settings class loaded (pydantic-settings' BaseSettings with a POSTLINE_ prefix)."""
    from pydantic_settings import BaseSettings

    found, todo = [], list(BaseSettings.__subclasses__())
    while todo:
        kind = todo.pop()
        todo += kind.__subclasses__()
        if kind.model_config.get("env_prefix"):
            found.append(kind)
    return found


def _setting_prefixes() -> dict[str, str]:
    """Each settings class's name -> its variables' prefix (MailSettings -> POSTLINE_SMTP_)."""
    return {kind.__name__: kind.model_config["env_prefix"] for kind in _settings_classes()}


READ_ELSEWHERE = ("POSTLINE_LINE_FILE", "POSTLINE_FASTLUT", "POSTLINE_CODE_DIR")   # config/line.py, fastlut, prefect.yaml


WHERE_THE_RECORD_IS = ("POSTLINE_DATABASE_URL", "POSTLINE_HOME")


def misspelt_settings(given: Iterable[str]) -> list[str]:
    """A warning for each of ``given`` (POSTLINE_* names set in the environment or postline.env) that is no
    setting of postline's but one misspelt (`POSTLINE_RETENTION_YEAR`): it was ignored without a word, and the
    studio thought it set. A name like none of them is left alone (another tool's)."""
    return [f"warning: {name} is not a postline setting and is ignored: did you mean {meant}?"
            for name, meant in _misspelt(given).items()]


def record_misspelt(given: Iterable[str]) -> str | None:
    """Why a command must not run: ``given`` misspells the setting that says where the studio's record is
    (POSTLINE_DATABASE_URL, POSTLINE_HOME) and does not set it: postline would start a record of its own on this
    machine, and the orders made here would be in no one else's."""
    given = list(given)
    for name, meant in _misspelt(given).items():
        if meant in WHERE_THE_RECORD_IS and meant not in given:
            return (f"{name} is not a postline setting: did you mean {meant}? Without {meant} postline would use a "
                    "production record of its own on this machine, not the studio's: correct the name (in the "
                    "environment or postline.env)")
    return None


def _misspelt(given: Iterable[str]) -> dict[str, str]:
    """The POSTLINE_* names of ``given`` that are no setting, each with the setting it is close to."""
    import difflib

    import config.links  # noqa: F401  (their settings classes, found below)
    import config.mail  # noqa: F401
    import config.secret  # noqa: F401
    import config.settings  # noqa: F401

    given = sorted({name for name in given if name.startswith("POSTLINE_")})
    if any(name.startswith("POSTLINE_WEB_") for name in given):
        import surfaces.web_session  # noqa: F401  (its settings: POSTLINE_WEB_*)
    known = {kind.model_config["env_prefix"] + field.upper() for kind in _settings_classes()
             for field in kind.model_fields} | set(READ_ELSEWHERE)
    said = {}
    for name in (name for name in given if name not in known):
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.85)
        if close:
            said[name] = close[0]
    return said


def fail(exc: BaseException) -> int:
    """Say ``exc`` on stderr; its exit code."""
    print(f"error: {shown(message(exc))}", file=sys.stderr)
    return exit_code(exc)


def whole_number(low: int, high: int, what: str):  # noqa: ANN201 - an argparse type
    """An argparse type: a whole number from ``low`` to ``high`` (``what`` it counts, for the message)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} {what}: give {low} to {high}")
        return value
    return parse


def order_argument(parser: argparse.ArgumentParser) -> None:
    """The ORDER argument of a command: the order's number."""
    parser.add_argument("order_id", type=int, metavar="ORDER", help="the order's number (`postline status` lists "
                                                                    "the orders)")
