"""The summary as one self-contained HTML page: no external resource, no JavaScript.

Tiles for the headline figures, two inline SVG bar charts (messages per day, DMARC
compliance per day: UTC days, each report counted on the day its range begins), the sources,
the failures explained, the TLS reports, and what was refused. Every string from a report
(and every reverse name) is HTML-escaped: reports come from strangers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from mailstack import __version__
from mailstack.reports.render import dispositions, percent_text, plural
from mailstack.reports.summary import Failure, Source, Summary, TlsPolicySummary, share

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 34
MAX_LABELS = 12

STYLE = """
:root { --ink: #1d2430; --muted: #5b6474; --line: #d9dee7; --bg: #f5f7fa; --card: #fff;
  --good: #2e8540; --warn: #c77c02; --bad: #c0392b; --bar: #3c6fb4; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 15px/1.45 system-ui, -apple-system,
  "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 32px 0 12px; font-size: 19px; }
.period, .note { color: var(--muted); margin: 0; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
  gap: 12px; margin-top: 20px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px; }
.tile .value { font-size: 28px; font-weight: 650; }
.tile .label { color: var(--muted); font-size: 13px; }
.good .value, .good { color: var(--good); }
.warn .value, .warn { color: var(--warn); }
.bad .value, .bad { color: var(--bad); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 12px 16px; overflow-x: auto; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { font-size: 12px; fill: var(--muted); }
svg.chart .grid { stroke: var(--line); }
svg.chart rect.bar { fill: var(--bar); }
svg.chart rect.bar.good { fill: var(--good); }
svg.chart rect.bar.warn { fill: var(--warn); }
svg.chart rect.bar.bad { fill: var(--bad); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.why { font-weight: 600; }
code { font-size: 13px; }
footer { margin-top: 36px; color: var(--muted); font-size: 13px; }
"""


def _grade(percent: float | None) -> str:
    if percent is None:
        return ""
    return "good" if percent >= 98 else "warn" if percent >= 90 else "bad"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    tooltip: str
    grade: str = ""


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (1 for 0)."""
    if value <= 0:
        return 1
    power = 10.0 ** math.floor(math.log10(value))
    return next(float(m * power) for m in (1, 2, 5, 10) if m * power >= value)


def bar_chart(chart: str, bars: Sequence[Bar], top: float, unit: str = "") -> str:
    """An SVG bar chart, one `rect.bar` per bar, with a y axis from 0 to `top`."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" data-chart="{escape(chart)}" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' role="img" aria-label="{escape(chart)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for step in range(5):
        y = TOP + plot_h - plot_h * step / 4
        value = top * step / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}{unit}</text>'
        )
    slot = plot_w / max(len(bars), 1)
    every = math.ceil(len(bars) / MAX_LABELS) if bars else 1
    for i, bar in enumerate(bars):
        h = plot_h * min(bar.value / top, 1.0) if top else 0
        x = LEFT + i * slot + slot * 0.15
        cls = f"bar {bar.grade}".strip()
        parts.append(
            f'<rect class="{cls}" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}"'
            f' height="{h:.1f}"><title>{escape(bar.tooltip)}</title></rect>'
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 12}" text-anchor="middle">'
                f"{escape(bar.label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _charts(s: Summary) -> str:
    messages = [
        Bar(d.day.strftime("%m-%d"), d.messages, f"{d.day}: {d.messages} messages") for d in s.days
    ]
    compliance = [
        Bar(
            d.day.strftime("%m-%d"),
            d.compliant_percent or 0,
            f"{d.day}: {percent_text(d.compliant_percent)} DMARC pass"
            f" ({d.dmarc_pass} of {d.messages})",
            _grade(d.compliant_percent),
        )
        for d in s.days
    ]
    top = _nice_ceiling(max((d.messages for d in s.days), default=0))
    return (
        f'<h2>Messages per day</h2><div class="card">{bar_chart("messages", messages, top)}</div>'
        '<h2>DMARC compliance per day</h2><div class="card">'
        f"{bar_chart('compliance', compliance, 100, '%')}</div>"
        '<p class="note">UTC days; each report counts on the day its range begins.</p>'
    )


def _tile(value: str, label: str, tile_id: str, grade: str = "") -> str:
    return (
        f'<div class="tile {grade}" id="tile-{tile_id}"><div class="value">{escape(value)}</div>'
        f'<div class="label">{escape(label)}</div></div>'
    )


def _dmarc_tiles(s: Summary) -> list[str]:
    compliant = s.percent(s.dmarc_pass)
    return [
        _tile(str(s.messages), "messages", "messages"),
        _tile(
            percent_text(compliant), "fully compliant (DMARC pass)", "compliant", _grade(compliant)
        ),
        _tile(str(s.reports), f"reports from {plural(len(s.reporters), 'reporter')}", "reports"),
        _tile(percent_text(s.percent(s.dkim_aligned)), "DKIM aligned", "dkim-aligned"),
        _tile(percent_text(s.percent(s.dkim_passed)), "DKIM passed", "dkim-passed"),
        _tile(percent_text(s.percent(s.spf_aligned)), "SPF aligned", "spf-aligned"),
        _tile(percent_text(s.percent(s.spf_passed)), "SPF passed", "spf-passed"),
        *(
            _tile(str(n), f"disposition {d}", f"disposition-{d}")
            for d, n in dispositions(s).items()
        ),
    ]


def _tls_tiles(s: Summary) -> list[str]:
    failed = sum(p.failed for p in s.tls)
    return [
        _tile(str(sum(p.successful for p in s.tls)), "TLS sessions successful", "tls-successful"),
        _tile(str(failed), "TLS sessions failed", "tls-failed", "bad" if failed else ""),
    ]


def _tiles(s: Summary) -> str:
    tiles = (_dmarc_tiles(s) if s.reports else []) + (_tls_tiles(s) if s.tls_reports else [])
    return f'<section class="tiles">{"".join(tiles)}</section>'


def _table(head: Iterable[str], rows: Iterable[Iterable[str]], table_id: str) -> str:
    """A table; header cells named `#...` are numeric. Row cells are HTML already."""
    cells = "".join(
        f'<th class="n">{escape(h[1:])}</th>' if h.startswith("#") else f"<th>{escape(h)}</th>"
        for h in head
    )
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return (
        f'<div class="card"><table id="{table_id}"><thead><tr>{cells}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _td(text: str) -> str:
    return f"<td>{escape(text)}</td>"


def _n(number: int) -> str:
    return f'<td class="n">{number}</td>'


def _source_row(src: Source) -> list[str]:
    grade = _grade(share(src.dmarc_pass, src.messages))
    return [
        f"<td><code>{escape(src.ip)}</code></td>",
        _td(src.name or "-"),
        _n(src.messages),
        f'<td class="n {grade}">{src.dmarc_pass}</td>',
        _n(src.dkim_aligned),
        _n(src.spf_aligned),
        _td(", ".join(f"{d} {n}" for d, n in sorted(src.dispositions.items()))),
        _td(", ".join(sorted(src.header_from))),
    ]


def _failure_row(f: Failure) -> list[str]:
    k = f.key
    return [
        f"<td><code>{escape(k.source_ip)}</code><br>{escape(f.name or '')}</td>",
        _n(f.messages),
        _td(k.header_from),
        _td(k.dkim),
        _td(k.spf),
        _td(k.disposition),
        f'<td class="why">{escape(k.explanation)}</td>',
    ]


def _tls_row(p: TlsPolicySummary) -> list[str]:
    failures = ", ".join(f"{t} {n}" for t, n in p.failures.most_common())
    return [
        _td(p.domain),
        _td(p.policy_type),
        _n(p.reports),
        _n(p.successful),
        f'<td class="n {"bad" if p.failed else ""}">{p.failed}</td>',
        _td(failures or "-"),
    ]


def _dmarc_sections(s: Summary) -> str:
    sources = _table(
        [
            "address",
            "reverse name",
            "#messages",
            "#DMARC pass",
            "#DKIM aligned",
            "#SPF aligned",
            "dispositions",
            "From domains",
        ],
        (_source_row(src) for src in s.sources),
        "sources",
    )
    failures = (
        _table(
            ["source", "#messages", "From", "DKIM", "SPF", "disposition", "explanation"],
            (_failure_row(f) for f in s.failures),
            "failures",
        )
        if s.failures
        else '<p class="note">None: every message was aligned for both DKIM and SPF.</p>'
    )
    return f"{_charts(s)}<h2>Sources</h2>{sources}<h2>Failures</h2>{failures}"


def _tls_section(s: Summary) -> str:
    reporters = ", ".join(s.tls_reporters)
    table = _table(
        ["policy domain", "type", "#reports", "#successful", "#failed", "failures"],
        (_tls_row(p) for p in s.tls),
        "tls",
    )
    return (
        f'<h2>TLS reports (TLS-RPT)</h2><p class="note">{plural(s.tls_reports, "report")} from'
        f" {escape(reporters)}</p>{table}"
    )


def _problems(s: Summary) -> str:
    out = ""
    for title, items, css in (("Refused", s.refused, "bad"), ("Warnings", s.warnings, "warn")):
        if items:
            lis = "".join(f"<li>{escape(item)}</li>" for item in items)
            out += f'<h2 class="{css}">{title}</h2><div class="card"><ul>{lis}</ul></div>'
    return out


def page(s: Summary) -> str:
    """The whole page."""
    period = f"{s.begin:%Y-%m-%d %H:%M} to {s.end:%Y-%m-%d %H:%M} UTC" if s.begin and s.end else "-"
    domains = ", ".join(sorted({*s.domains, *(p.domain for p in s.tls)}))
    reporters = ", ".join(sorted({*s.reporters, *s.tls_reporters}))
    count = plural(s.reports, "DMARC report") + (
        f" and {plural(s.tls_reports, 'TLS report')}" if s.tls_reports else ""
    )
    body = (
        f"<header><h1>Reports for {escape(domains)}</h1>"
        f'<p class="period">{escape(period)} · {count} from {escape(reporters)}</p></header>'
        f"{_tiles(s)}"
        f"{_dmarc_sections(s) if s.reports else ''}"
        f"{_tls_section(s) if s.tls_reports else ''}"
        f"{_problems(s)}"
        f"<footer>mailstack {escape(__version__)} · mailstack dmarc report</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>DMARC report: {escape(domains)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )
