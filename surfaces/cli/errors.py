"""How the command line ends when something is wrong: one line `error: ...` on stderr (the message escaped, see
surfaces/terminal.py) and an exit code chosen here, by the kind of error (config/errors.py), for every command:

- 1: refused or failed: not your claim, another run holds the order, a result that fails its checks, nothing
  delivered, the machine failed (the message says what to fix and to run it again);
- 2: a usage error: a bad value, an unknown order, item, person or preset, a decision naming photos that do not
  wait;
- 3 (`queue pull` only): nothing to pull; not an error.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

from config.errors import Invalid, Permanent, PostlineError, Refused, Retryable
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
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)


def fail(exc: BaseException) -> int:
    """Say ``exc`` on stderr; its exit code."""
    print(f"error: {shown(message(exc))}", file=sys.stderr)
    return exit_code(exc)
