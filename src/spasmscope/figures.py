"""What every report page shares: figures as PNG bytes, the page's style and the colours of the two classes.

Reports are self-contained HTML pages; figures are embedded, so a page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")  # no screen; before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402

SPASM, NONE, GREY = "#c0392b", "#2e86c1", "#bbbbbb"

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}.na{color:#999}img{max-width:100%;display:block;margin:1em 0}
details{margin:1em 0}.note{color:#555;font-size:13px}"""


def png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (110 dpi, tight); the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def page(title: str, parts: list[str]) -> str:
    """A whole HTML page of ``parts`` under ``title``, with the shared style."""
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>"


def img(data: bytes, alt: str) -> str:
    """An ``<img>`` embedding PNG ``data``."""
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
