"""A report's blocks as one static, self-contained HTML page: PNGs inlined as data URIs, inline
CSS, no script. It opens from anywhere (a copied file, an archive, a browser offline)."""

from __future__ import annotations

import base64
import re
from html import escape
from pathlib import Path

from vrl.report.document import Block, Heading, Image, Table, Text

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.status-failed, td.status-missing { color: #b00020; }
td.status-interrupted { color: #b36b00; }
code { background: #f4f4f4; padding: 0 3px; }
.figures { display: flex; flex-wrap: wrap; gap: 8px; }
img { width: 600px; max-width: 100%; border: 1px solid #eee; }
img.small { image-rendering: pixelated; }
caption { caption-side: top; text-align: left; font-style: italic; padding: 4px 0; }
"""


def to_html(blocks: list[Block], title: str, root: Path) -> str:
    """The page; `root` is the directory images are relative to (read and inlined)."""
    body: list[str] = []
    figures: list[str] = []  # consecutive images, laid out side by side
    for block in [*blocks, None]:
        if not isinstance(block, Image) and figures:
            body.append('<div class="figures">' + "".join(figures) + "</div>")
            figures = []
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            body.append(_table(block))
        elif isinstance(block, Image):
            data = base64.b64encode((root / block.path).read_bytes()).decode("ascii")
            size = f' class="small" style="width: {block.width}px"' if block.width else ""
            figures.append(f'<img src="data:image/png;base64,{data}" alt="{escape(block.alt)}"{size}>')
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _table(table: Table) -> str:
    status = table.columns.index("status") if "status" in table.columns else -1
    # Long metric names may break after a "/" or ":" (and nowhere else).
    head = "".join("<th>" + re.sub(r"([/:])", r"\1<wbr>", escape(c)) + "</th>" for c in table.columns)
    rows = []
    for row in table.rows:
        cells = []
        for i, cell in enumerate(row):
            classes = ["num"] if i in table.numeric else []
            if i == status:
                classes.append(f"status-{cell.split()[0] if cell else 'none'}")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{escape(cell).replace(chr(10), '<br>')}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    body = "".join(rows)
    return f'<div class="scroll"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _inline(text: str) -> str:
    """Escape, then render markdown's `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))
