"""Text a person types into postline (a client's note in the gallery, a lead's note on a rejection, a reason), as
postline keeps it: line breaks and tabs kept, Windows' and old Macs' line ends made one ``\\n``, the line and
paragraph separators made ``\\n`` too; every other control character removed: NUL (which PostgreSQL refuses in
a text column: the client's whole selection was lost with it), escape sequences, and the bidi embeddings,
overrides and isolates that show a line in another order than it is written. Letters and marks of every script
stay as typed. Removing, not refusing: a client pasting a note from a word processor brings such characters
without knowing."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def cleaned(text: object) -> str:
    """``text`` as postline keeps it (see the module's docstring), surrounding whitespace stripped."""
    value = str(text).replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    return _UNWANTED.sub("", value).strip()


# A note field of a decision's model: cleaned before its length is checked.
Note = Annotated[str, BeforeValidator(lambda value: cleaned(value) if isinstance(value, str) else value)]
