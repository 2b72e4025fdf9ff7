"""Plain-text tables for the terminal. Every cell is :func:`surfaces.terminal.shown`: a client name holding a
newline or an escape sequence stays in its own cell of its own row."""

from __future__ import annotations

from collections.abc import Sequence

from record.figures.views import duration
from record.stats import StageRow
from surfaces.terminal import shown


def render(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[shown(h) for h in headers]] + [["" if c is None else shown(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def stage_summary(rows: list[StageRow]) -> str:
    """One order's (or period's) stages as `postline status N` shows them: photos, with the passes apart."""
    return render(
        ["stage", "photos in", "finished", "passes", "sent back", "failed", "rework rate", "first-pass yield",
         "touch median", "machine median"],
        [[r.title, r.entered, r.finished, r.finished_passes, r.sent_back, r.failed, pct(r.rework_rate),
          pct(r.first_pass_yield), duration(r.touch.median), duration(r.machine.median)] for r in rows],
    )
