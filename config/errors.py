"""postline's one tree of exceptions, at the bottom layer so that every layer above raises from it.

Every error postline raises on purpose is a :class:`PostlineError`, of one of these kinds; each surface maps
the kinds in one place (the command line to exit codes, surfaces/cli/errors.py; the web page to HTTP statuses,
surfaces/web_errors.py):

- :class:`Retryable`: the machine failed (a full disk, a permission, an I/O error, a busy or unreachable
  record): worth another try as is; Prefect retries only these (tasks/errors.py has the kinds and how an
  OSError or a database error becomes one).
- :class:`Permanent`: trying again will not help: a corrupt or unsupported file, a result that fails its checks,
  a run that delivered nothing.
- :class:`Invalid`: a value someone gave is wrong (a name, a date, a decision naming photos that do not wait):
  they give it again. :class:`NotFound`: it names something that is not there (an order, a work item, a person).
- :class:`Refused`: the request is fine but cannot be done now (another run holds the order, the photo moved on,
  the line cannot change under it). :class:`Forbidden`: it is not this person's to do (not their claim, not
  their skill).

Each kind keeps the built-in exception it used to be (ValueError, LookupError, RuntimeError), so code that
catches those still catches it. Messages say what was wrong, with which file or value, and what to do.
"""

from __future__ import annotations


class PostlineError(Exception):
    """Base of every error postline raises on purpose."""


class Retryable(PostlineError):
    """Worth another try as is: a full disk being cleared, a busy database, a network share."""


class Permanent(PostlineError):
    """Trying again will not help: corrupt or unsupported file, a result that fails its checks, nothing delivered."""


class Invalid(PostlineError, ValueError):
    """A value given is wrong; the message names it and says what to give instead."""


class NotFound(Invalid, LookupError):
    """What was named is not there (an order, a work item, a person, a preset)."""


class Refused(PostlineError, RuntimeError):
    """The request cannot be done now; the message says why and what to do."""


class Forbidden(Refused):
    """It is not this person's to do (another's claim, a stage they lack the skill for)."""
