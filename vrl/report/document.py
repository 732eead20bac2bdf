"""A report as a list of blocks (heading, text, table, image), rendered to markdown or plain text.

The markdown and the HTML page (`vrl.report.html`) render the same blocks, so they cannot differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Text:
    text: str  # one paragraph; `code` spans in backticks


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)  # column indices aligned right
    caption: str = ""


@dataclass
class Image:
    path: Path  # relative to the report directory
    alt: str
    width: int | None = None  # px in the HTML page (a small image shown small); None: the page's plot width


Block = Heading | Text | Table | Image


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Text):
            out += [block.text, ""]
        elif isinstance(block, Table):
            out += [*markdown_table(block), ""]
        elif isinstance(block, Image):
            out += [f"![{block.alt}]({block.path.as_posix()})", ""]
    return "\n".join(out).rstrip() + "\n"


def markdown_table(table: Table) -> list[str]:
    lines = []
    if table.caption:
        lines += [f"*{table.caption}*", ""]
    lines.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
    lines.append(
        "|" + "|".join("---:" if i in table.numeric else "---" for i in range(len(table.columns))) + "|"
    )
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return lines


def text_table(table: Table) -> str:
    """Fixed-width columns for a terminal (no colours, no wrapping: a log keeps it intact)."""
    cells = [table.columns, *table.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]

    def line(row: list[str]) -> str:
        parts = [
            c.rjust(w) if i in table.numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(table.columns), rule, *(line(r) for r in table.rows)])


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")
