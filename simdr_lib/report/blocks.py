"""The report as a list of :class:`Block` s, and their rendering as HTML and Markdown.

The HTML page is self-contained (figures embedded as base64 ``data:`` URIs, inline CSS, no
external references: it opens from disk without a server); the Markdown page links the figures
under ``figures/``. Text blocks may use ``**bold**`` and ```code```.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

from simdr_lib.report.tables import Table


@dataclass
class Block:
    """One report element: ``kind`` in h2 | h3 | p | table | figure | pre | note."""

    kind: str
    text: str = ""
    table: Table | None = None
    path: Path | None = None


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #4c72b0;padding-bottom:.2em}h2{margin-top:1.6em;color:#2a4d8f}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#eef2f8}td:first-child,th:first-child,table.left td,table.left th{text-align:left}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.85em;color:#555}pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.8em}
.note{color:#666;font-size:.9em}.headline{font-size:1.15em}
"""

_PAGE = Template(
    "<!DOCTYPE html>\n"
    '<html lang="en"><head><meta charset="utf-8">\n'
    "<title>$title</title><style>$css</style></head><body>\n"
    "<h1>$title</h1>\n"
    "$body"
    "</body></html>"
)


def _inline_md(text: str) -> str:
    """Escape ``text`` for HTML and render ``**bold**`` and ```code```."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _block_html(blk: Block, first: bool) -> str | None:
    """One block as HTML (None: nothing to show)."""
    if blk.kind in ("h2", "h3"):
        return f"<{blk.kind}>{html.escape(blk.text)}</{blk.kind}>"
    if blk.kind == "p":
        cls = ' class="headline"' if first else ""
        return f"<p{cls}>{_inline_md(blk.text)}</p>"
    if blk.kind == "note":
        return f'<p class="note">{_inline_md(blk.text)}</p>'
    if blk.kind == "table" and blk.table is not None:
        return blk.table.html()
    if blk.kind == "figure" and blk.path is not None:
        data = base64.b64encode(blk.path.read_bytes()).decode("ascii")
        alt = html.escape(blk.text)
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption>{alt}</figcaption></figure>"
        )
    if blk.kind == "pre":
        return f"<pre>{html.escape(blk.text)}</pre>"
    return None


def render_html(title: str, blocks: Sequence[Block]) -> str:
    """The self-contained HTML page of ``blocks`` under the heading ``title``."""
    parts = [_block_html(blk, i == 0) for i, blk in enumerate(blocks)]
    body = "".join(p + "\n" for p in parts if p is not None)
    return _PAGE.substitute(title=html.escape(title), css=_CSS, body=body)


def _block_markdown(blk: Block, run_dir: Path) -> list[str]:
    """One block as Markdown lines (each block ends with an empty line)."""
    if blk.kind == "h2":
        return [f"## {blk.text}", ""]
    if blk.kind == "h3":
        return [f"### {blk.text}", ""]
    if blk.kind == "p":
        return [blk.text, ""]
    if blk.kind == "note":
        return [f"*{blk.text}*", ""]
    if blk.kind == "table" and blk.table is not None:
        return [blk.table.markdown(), ""]
    if blk.kind == "figure" and blk.path is not None:
        rel = blk.path.relative_to(run_dir).as_posix()
        return [f"![{blk.text}]({rel})", "", f"*{blk.text}*", ""]
    if blk.kind == "pre":
        return ["```", blk.text.rstrip("\n"), "```", ""]
    return []


def render_markdown(title: str, blocks: Sequence[Block], run_dir: Path) -> str:
    """The Markdown page of ``blocks``; figure links relative to ``run_dir``."""
    parts = [f"# {title}", ""]
    for blk in blocks:
        parts += _block_markdown(blk, run_dir)
    return "\n".join(parts)
