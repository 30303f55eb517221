"""A small self-contained HTML report builder (one file, images embedded as base64 PNG).

The HTML holds no time stamp, so that the same inputs give the same file byte for byte (PNG
images are written without a date either); run times belong in the caller's summary files.
"""
from __future__ import annotations

import base64
import html
import io as _io
from typing import List, Optional

import pandas as pd

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9} header{background:#1f3a5f;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:24px} header p{margin:4px 0 0;opacity:.85}
nav{background:#fff;border-bottom:1px solid #dde;padding:8px 32px;position:sticky;top:0}
nav a{margin-right:14px;color:#1f3a5f;text-decoration:none;font-size:14px}
main{padding:8px 32px 40px;max-width:1200px} section{background:#fff;border:1px solid #e1e4ea;
border-radius:8px;padding:14px 22px;margin:18px 0} h2{color:#1f3a5f;font-size:19px;margin-top:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border:1px solid #d8dce4;
padding:4px 8px;text-align:right} th{background:#eef1f6} td:first-child,th:first-child{text-align:left}
.figs{display:flex;flex-wrap:wrap;gap:14px} figure{margin:0;max-width:560px} figcaption{font-size:12px;color:#555;
max-width:560px} img{max-width:100%;border:1px solid #eee} .note{color:#555;font-size:13px}
.kpi{display:inline-block;background:#eef4fb;border-radius:6px;padding:8px 14px;margin:4px 8px 4px 0}
.kpi b{font-size:20px;display:block;color:#1f3a5f} .warn{color:#a4461a}
"""


def fig_to_base64(fig, dpi: int = 110) -> str:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # a bare Figure needs no closing
        pass
    return base64.b64encode(buf.getvalue()).decode("ascii")


class Report:
    """Sections of text, tables and figures, written as one HTML file."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title = title
        self.subtitle = subtitle
        self.sections: List[tuple] = []

    def section(self, anchor: str, title: str) -> "Report":
        self.sections.append((anchor, title, []))
        return self

    def _add(self, piece: str) -> "Report":
        if not self.sections:
            self.section("top", "")
        self.sections[-1][2].append(piece)
        return self

    def text(self, text: str, cls: str = "") -> "Report":
        c = f' class="{cls}"' if cls else ""
        return self._add(f"<p{c}>{html.escape(text)}</p>")

    def html(self, raw: str) -> "Report":
        return self._add(raw)

    def kpis(self, items) -> "Report":
        return self._add("".join(f'<span class="kpi"><b>{html.escape(str(v))}</b>'
                                 f'{html.escape(str(k))}</span>' for k, v in items))

    def table(self, df: pd.DataFrame, index: bool = True, float_format: str = "{:.3g}",
              caption: Optional[str] = None) -> "Report":
        fmt = df.copy()
        fmt.columns.name = None  # (crosstabs) would add an empty first column
        if index:  # the index as a first column: one header row instead of two
            fmt = fmt.reset_index()
            index = False
        for c in fmt.columns:
            if pd.api.types.is_float_dtype(fmt[c]):
                fmt[c] = [("" if pd.isna(v) else float_format.format(v)) for v in fmt[c]]
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        return self._add(fmt.to_html(index=index, escape=True, border=0).replace(
            "<table", "<table" + "", 1).replace("<thead>", cap + "<thead>", 1))

    def figure(self, fig, caption: str = "") -> "Report":
        b64 = fig_to_base64(fig)
        return self.figures([(b64, caption)])

    def figures(self, items) -> "Report":
        parts = []
        for b64, cap in items:
            parts.append(f'<figure><img src="data:image/png;base64,{b64}" alt="{html.escape(cap)}">'
                         f"<figcaption>{html.escape(cap)}</figcaption></figure>")
        return self._add('<div class="figs">' + "".join(parts) + "</div>")

    def render(self) -> str:
        nav = "".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t, _ in self.sections if t)
        body = "".join(f'<section id="{a}"><h2>{html.escape(t)}</h2>{"".join(p)}</section>'
                       for a, t, p in self.sections)
        return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
                f"<header><h1>{html.escape(self.title)}</h1><p>{html.escape(self.subtitle)}</p>"
                f"</header><nav>{nav}</nav>"
                f"<main>{body}</main></body></html>")

    def write(self, path) -> None:
        from .files import atomic_write_text
        from pathlib import Path

        atomic_write_text(Path(path), self.render())
