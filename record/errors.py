"""Errors raised by more than one module of the record (so that neither has to import the other for them), on
the tree of config/errors.py.

For now the stage queues' base error and the missing-skill one: :mod:`record.claims` raises them and
:mod:`record.queue` raises them too and re-exports them (callers catch ``queue.QueueError``, ``queue.NoSkill``).
"""

from __future__ import annotations

from config.errors import Forbidden, Refused


class QueueError(Refused):
    """A queue action that cannot be done; the message says why and what to do."""


class NoSkill(QueueError, Forbidden):
    """The person asked for a stage they do not have the skill for."""
