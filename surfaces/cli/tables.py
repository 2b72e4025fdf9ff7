"""Tables for the terminal, laid out by rich. Every cell is :func:`surfaces.terminal.shown` and handed to rich as
plain :class:`rich.text.Text`, never as markup: a client name holding a newline, an escape sequence or
``[bold]`` stays, as it reads, in its own cell of its own row. A table is plain text (no colour, ASCII rules),
one line per row however wide, so what scripts read from `postline status` is one row per line."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from typing import TYPE_CHECKING

if TYPE_CHECKING:                     # the figures' modules load the record: only when a table needs them
    from record.stats import StageRow
from surfaces.terminal import shown

# A rule of dashes under the header, one run per column: readable where the terminal is not UTF-8.
RULE = box.Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)
WIDE = 100_000        # wider than any row: rich never wraps or cuts a cell


def render(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    table = Table(box=RULE, show_edge=False, pad_edge=False, highlight=False)
    for i, header in enumerate(headers):
        table.add_column(Text(shown(header)), justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(Text("" if cell is None else shown(cell)) for cell in row))
    out = Console(file=io.StringIO(), width=WIDE, color_system=None, force_terminal=False, highlight=False,
                  markup=False, emoji=False, legacy_windows=False)
    out.print(table)
    return "\n".join(line.rstrip() for line in out.file.getvalue().rstrip("\n").split("\n"))


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def stage_summary(rows: list[StageRow]) -> str:
    """One order's (or period's) stages as `postline status N` shows them: photos, with the passes apart."""
    from record.figures.views import duration

    return render(
        ["stage", "photos in", "finished", "passes", "sent back", "failed", "rework rate", "first-pass yield",
         "touch median", "machine median"],
        [[r.title, r.entered, r.finished, r.finished_passes, r.sent_back, r.failed, pct(r.rework_rate),
          pct(r.first_pass_yield), duration(r.touch.median), duration(r.machine.median)] for r in rows],
    )


def size(count: int) -> str:
    """Bytes as a studio reads them: 0 B, 812 KB, 4.1 MB, 12.6 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}" if count < 100 * scale else f"{count / scale:.0f} {unit}"
    return f"{count} B"
