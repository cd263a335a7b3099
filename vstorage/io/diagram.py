"""The schema as a diagram: SVG drawn here (no Graphviz needed) and Mermaid ER text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from sqlalchemy import Dialect, Table
from sqlalchemy.dialects import sqlite

_COLUMNS_PER_ROW = 3
_WIDTH = 280
_ROW = 20
_HEADER = 28
_GAP_X = 60
_GAP_Y = 50
_MARGIN = 20


def _type_name(column: object, dialect: Dialect | None) -> str:
    try:
        return str(column.type.compile(dialect=dialect or sqlite.dialect()))  # type: ignore[attr-defined]
    except Exception:
        return type(column.type).__name__.upper()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Box:
    table: Table
    x: int
    y: int

    @property
    def height(self) -> int:
        return _HEADER + _ROW * len(self.table.columns) + 8

    def row_y(self, column: str) -> int:
        names = [c.name for c in self.table.columns]
        return self.y + _HEADER + _ROW * names.index(column) + _ROW // 2 + 4


def _layout(tables: list[Table]) -> list[_Box]:
    boxes: list[_Box] = []
    y = _MARGIN
    for start in range(0, len(tables), _COLUMNS_PER_ROW):
        row = tables[start : start + _COLUMNS_PER_ROW]
        for index, table in enumerate(row):
            boxes.append(_Box(table, _MARGIN + index * (_WIDTH + _GAP_X), y))
        y += max(_Box(t, 0, 0).height for t in row) + _GAP_Y
    return boxes


def svg_diagram(tables: Iterable[Table], dialect: Dialect | None = None) -> str:
    """An SVG picture of ``tables``: columns with types, keys marked, foreign keys drawn.

    Column types are named as ``dialect`` (default SQLite) spells them: pass
    ``db.dialect`` for the database's own names (``TIMESTAMP WITH TIME ZONE``, ``JSONB``...).

    Example:
        >>> svg = svg_diagram(db.tables.values())

    """
    ordered = sorted(tables, key=lambda t: t.name)
    boxes = _layout(ordered)
    by_name = {box.table.name: box for box in boxes}
    width = _MARGIN * 2 + min(len(boxes), _COLUMNS_PER_ROW) * (_WIDTH + _GAP_X)
    height = max((b.y + b.height for b in boxes), default=0) + _MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">',
        "<style>.t{font-weight:bold;fill:#fff}.pk{font-weight:bold}.fk{fill:#1d4ed8}</style>",
    ]
    for box in boxes:
        parts.extend(_draw_box(box, dialect))
    for box in boxes:
        for fk in box.table.foreign_keys:
            target = by_name.get(fk.column.table.name)
            if target is not None and fk.parent.name in box.table.c:
                parts.append(_draw_link(box, fk.parent.name, target, fk.column.name))
    parts.append("</svg>")
    return "\n".join(parts)


def _draw_box(box: _Box, dialect: Dialect | None) -> list[str]:
    table = box.table
    out = [
        f'<g class="table" data-table="{escape(table.name)}">',
        f'<rect x="{box.x}" y="{box.y}" width="{_WIDTH}" height="{box.height}" '
        'fill="#f8fafc" stroke="#334155" rx="4"/>',
        f'<rect x="{box.x}" y="{box.y}" width="{_WIDTH}" height="{_HEADER}" '
        'fill="#334155" rx="4"/>',
        f'<text class="t" x="{box.x + 8}" y="{box.y + 19}">{escape(table.name)}</text>',
    ]
    for column in table.columns:
        y = box.row_y(column.name)
        marks = []
        if column.primary_key:
            marks.append("PK")
        if column.foreign_keys:
            marks.append("FK")
        css = "pk" if column.primary_key else ("fk" if column.foreign_keys else "")
        label = f"{column.name} : {_type_name(column, dialect)}"
        out.append(f'<text class="{css}" x="{box.x + 8}" y="{y}">{escape(label)}</text>')
        if marks:
            out.append(
                f'<text x="{box.x + _WIDTH - 8}" y="{y}" text-anchor="end">{" ".join(marks)}</text>'
            )
    out.append("</g>")
    return out


def _draw_link(source: _Box, column: str, target: _Box, target_column: str) -> str:
    y1, y2 = source.row_y(column) - 4, target.row_y(target_column) - 4
    if source.x > target.x:
        x1, x2 = source.x, target.x + _WIDTH
    elif source.x < target.x:
        x1, x2 = source.x + _WIDTH, target.x
    else:
        x1, x2 = source.x + _WIDTH, target.x + _WIDTH
    bend = max(x1, x2) + 30 if source.x == target.x else (x1 + x2) // 2
    return (
        f'<path class="link" d="M{x1},{y1} L{bend},{y1} L{bend},{y2} L{x2},{y2}" '
        f'fill="none" stroke="#1d4ed8" stroke-width="1.5" '
        f'data-from="{escape(source.table.name)}.{escape(column)}" '
        f'data-to="{escape(target.table.name)}.{escape(target_column)}"/>'
    )


def _word(text: str) -> str:
    return re.sub(r"\W+", "_", text).strip("_") or "x"


def mermaid_er(tables: Iterable[Table], dialect: Dialect | None = None) -> str:
    """The schema as Mermaid ``erDiagram`` text (types named as by ``dialect``, default SQLite).

    Example:
        >>> print(mermaid_er(db.tables.values()))

    """
    ordered = sorted(tables, key=lambda t: t.name)
    lines = ["erDiagram"]
    for table in ordered:
        lines.append(f"    {_word(table.name)} {{")
        for column in table.columns:
            keys = ",".join(
                k for k, on in (("PK", column.primary_key), ("FK", bool(column.foreign_keys))) if on
            )
            suffix = f" {keys}" if keys else ""
            lines.append(
                f"        {_word(_type_name(column, dialect))} {_word(column.name)}{suffix}"
            )
        lines.append("    }")
    names = {t.name for t in ordered}
    for table in ordered:
        for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name):
            parent = fk.column.table.name
            if parent in names:
                lines.append(
                    f'    {_word(parent)} ||--o{{ {_word(table.name)} : "{_word(fk.parent.name)}"'
                )
    return "\n".join(lines) + "\n"
