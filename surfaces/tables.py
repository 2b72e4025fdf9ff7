"""Plain-text tables for the terminal. Every cell is :func:`surfaces.terminal.shown`: a client name holding a
newline or an escape sequence stays in its own cell of its own row."""

from __future__ import annotations

from collections.abc import Sequence

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
    return render(
        ["stage", "photos in", "passed", "rejected", "rework rate", "mean s/photo"],
        [[r.title, r.photos_in, r.passed, r.rejected, pct(r.rework_rate), num(r.mean_seconds)] for r in rows],
    )


def throughput(rows: list[StageRow]) -> str:
    return render(
        ["stage", "finished", "touch hours", "photos/hour", "sent back", "rework rate"],
        [[r.title, r.passed, num(r.touch_seconds / 3600, "{:.3f}"), num(r.photos_per_hour, "{:.0f}"),
          r.reworked, pct(r.rework_rate)] for r in rows],
    )


def size(count: int) -> str:
    """Bytes as a studio reads them: 0 B, 812 KB, 4.1 MB, 12.6 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}" if count < 100 * scale else f"{count / scale:.0f} {unit}"
    return f"{count} B"
