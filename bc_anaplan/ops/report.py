"""The run report: one self-contained HTML page that says at a glance what a run moved.

For finance analysts as much as for operators: the run's outcome, its timeline, counts, the
per-period reconciliation of a load (table and bar chart), the list drift fixed, every
quarantined or rejected record with its reason (the first ``SAMPLE_ROWS`` of each kind, with
totals over all of them), and for a writeback the plan totals per account next to BC's draft
lines.

The page loads nothing: styles are inline, charts are inline SVG, and a Content-Security-Policy
forbids anything else, so it can be mailed, archived or opened offline. Every value that comes
from a run (names, reasons, error texts, codes -- any of which BC or Anaplan users typed) is
HTML-escaped on the way in; nothing is inserted unescaped.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from bc_anaplan.ops.views import RecordSample, ReportData

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"
MAX_CHART_GROUPS = 36

STATE_COLOURS = {
    "succeeded": "#1a7f37",
    "unchanged": "#57606a",
    "partially_succeeded": "#9a6700",
    "failed": "#cf222e",
    "terminated": "#8250df",
    "running": "#0969da",
}
SERIES_COLOURS = ("#0969da", "#1a7f37", "#cf222e")

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
#d0d7de;padding-bottom:4px}h3{font-size:14px;margin:16px 0 6px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:12px 0}
.meta dt{color:#57606a}.meta dd{margin:0;word-break:break-all}
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{background:#fff;border:1px solid #d0d7de;
border-radius:6px;padding:8px 12px;min-width:110px}.card b{display:block;font-size:18px}
.card span{color:#57606a;font-size:12px}
table{border-collapse:collapse;background:#fff;width:100%;margin:6px 0}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eaeef2;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.muted{color:#57606a}
pre{background:#fff;border:1px solid #d0d7de;padding:8px;white-space:pre-wrap;word-break:break-all}
svg{background:#fff;border:1px solid #d0d7de;max-width:100%;height:auto}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;
height:10px;margin-right:4px}
footer{margin-top:32px;color:#57606a;font-size:12px}
"""


def esc(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def money(value: Any) -> str:
    amount = _decimal(value)
    return "" if amount is None else f"{amount:,.2f}"


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _instant(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _duration(ms: float) -> str:
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """A table from already-escaped cell HTML."""
    numeric = numeric or set()
    head = "".join(
        f"<th{' class=n' if i in numeric else ''}>{h}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _yes_no(flag: Any) -> str:
    return '<span class="ok">yes</span>' if flag else '<span class="bad">no</span>'


# --- charts --------------------------------------------------------------------------------------


def bar_chart(
    chart_id: str,
    title: str,
    groups: list[tuple[str, list[Decimal]]],
    series: list[str],
) -> str:
    """Grouped bars (one group per label, one bar per series) with a zero line; inline SVG."""
    groups = groups[:MAX_CHART_GROUPS]
    values = [v for _, vs in groups for v in vs] or [Decimal(0)]
    top, bottom = max(max(values), Decimal(0)), min(min(values), Decimal(0))
    span = (top - bottom) or Decimal(1)
    left, plot_h, label_h = 96, 220, 56
    bar_w, gap = 12, 14
    group_w = bar_w * len(series) + gap
    width = left + group_w * len(groups) + 16
    height = 20 + plot_h + label_h

    def y(value: Decimal) -> float:
        return 20 + float((top - value) / span) * plot_h

    parts = [
        f'<svg id="{esc(chart_id)}" role="img" aria-label="{esc(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-size="11" font-family="system-ui,sans-serif">',
        f"<title>{esc(title)}</title>",
    ]
    for tick in (top, (top + bottom) / 2, bottom):
        ty = y(tick)
        parts.append(
            f'<line x1="{left}" x2="{width - 8}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#eaeef2"/>'
            f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end" fill="#57606a">'
            f"{esc(_short(tick))}</text>"
        )
    zero = y(Decimal(0))
    for index, (label, vs) in enumerate(groups):
        x0 = left + index * group_w + gap / 2
        for s, value in enumerate(vs):
            y1, y2 = sorted((y(value), zero))
            parts.append(
                f'<rect class="bar" x="{x0 + s * bar_w:.1f}" y="{y1:.1f}" width="{bar_w - 1}" '
                f'height="{max(y2 - y1, 0.5):.1f}" fill="{SERIES_COLOURS[s % 3]}">'
                f"<title>{esc(label)}: {esc(series[s])} {esc(money(value))}</title></rect>"
            )
        lx, ly = x0 + group_w / 2 - gap / 2, 20 + plot_h + 12
        parts.append(
            f'<text x="{lx:.1f}" y="{ly}" text-anchor="end" '
            f'transform="rotate(-45 {lx:.1f} {ly})">{esc(label)}</text>'
        )
    parts.append(
        f'<line x1="{left}" x2="{width - 8}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#57606a"/>'
    )
    parts.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{SERIES_COLOURS[s % 3]}"></i>{esc(name)}</span>'
        for s, name in enumerate(series)
    )
    return f'<div class="legend">{legend}</div>' + "".join(parts)


def _short(value: Decimal) -> str:
    magnitude = abs(value)
    for limit, suffix in ((Decimal(10) ** 9, "bn"), (Decimal(10) ** 6, "m"), (Decimal(1000), "k")):
        if magnitude >= limit:
            return f"{value / limit:,.1f}{suffix}"
    return f"{value:,.0f}"


def timeline(steps: list[dict[str, Any]], started_at: str) -> str:
    """One bar per step from its start to its end, on a shared time axis (inline SVG)."""
    origin = _instant(started_at)
    spans = []
    for step in steps:
        begin = _instant(step["started_at"])
        if origin is None or begin is None:
            continue
        offset = max((begin - origin).total_seconds(), 0.0)
        spans.append((step, offset, step["duration_ms"] / 1000))
    if not spans:
        return '<p class="muted">No steps were recorded.</p>'
    end = max(offset + length for _, offset, length in spans) or 1.0
    left, right, row_h = 240, 110, 18
    plot_w = 560
    height = 24 + row_h * len(spans)
    width = left + plot_w + right
    parts = [
        f'<svg id="timeline-chart" role="img" aria-label="timeline of the steps" '
        f'xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-size="11" font-family="system-ui,sans-serif">',
        "<title>timeline of the steps</title>",
        f'<text x="{left}" y="12" fill="#57606a">0 s</text>',
        f'<text x="{left + plot_w}" y="12" text-anchor="end" fill="#57606a">'
        f"{esc(_duration(end * 1000))}</text>",
    ]
    for row, (step, offset, length) in enumerate(spans):
        ty = 20 + row * row_h
        x = left + offset / end * plot_w
        w = max(length / end * plot_w, 1.5)
        parts.append(
            f'<text x="{left - 6}" y="{ty + 12}" text-anchor="end">{esc(step["name"][:38])}</text>'
            f'<rect x="{x:.1f}" y="{ty + 2}" width="{w:.1f}" height="{row_h - 5}" fill="#0969da">'
            f"<title>{esc(step['name'])}: {esc(_duration(step['duration_ms']))}</title></rect>"
            f'<text x="{left + plot_w + 6}" y="{ty + 12}" fill="#57606a">'
            f"{esc(_duration(step['duration_ms']))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


# --- sections ------------------------------------------------------------------------------------


def _header(data: ReportData, generated_at: str) -> str:
    run = data.run
    state = run["state"]
    colour = STATE_COLOURS.get(state, "#57606a")
    start, end = _instant(run["started_at"]), _instant(run["ended_at"])
    took = _duration((end - start).total_seconds() * 1000) if start and end else "still running"
    runtime = data.runtime or {}
    facts = [
        ("run", run["run_id"]),
        ("pipeline", run["pipeline"]),
        ("started by", run["trigger"]),
        ("started", run["started_at"]),
        ("ended", run["ended_at"] or "—"),
        ("took", took),
        ("Durable status", runtime.get("runtime_status") or "not known (history purged?)"),
        ("report made", generated_at),
    ]
    meta = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    html = (
        f"<h1>{esc(run['flow'])} "
        f'<span class="badge" style="background:{colour}">{esc(state)}</span></h1>'
        f'<dl class="meta">{meta}</dl>'
    )
    if run["error"]:
        html += f"<h3>Error</h3><pre>{esc(run['error'])}</pre>"
    return html


def _counts(counts: dict[str, Any]) -> str:
    if not counts:
        return ""
    cards = "".join(
        f'<div class="card"><b>{esc(f"{int(v):,}")}</b>'
        f"<span>{esc(k.replace('_', ' '))}</span></div>"
        for k, v in sorted(counts.items())
        if isinstance(v, int)
    )
    return f'<h2>Counts</h2><div class="cards">{cards}</div>'


def _reconciliation(data: ReportData) -> str:
    """The per-period reconciliation of a load: BC = accepted by Anaplan + quarantined + rejected.

    Every figure comes from the run record: what BC's entries add up to, the net of the cells the
    import file carried, what was quarantined, and what Anaplan's import reported (success, and
    the rows it rejected, summed per period from the failure dump). The load does not read the
    cells back out of Anaplan, so "accepted by Anaplan" is the cells sent less the rows Anaplan
    said it rejected -- nothing else is claimed.
    """
    periods = data.run["summary"].get("reconciliation")
    if not isinstance(periods, list) or not periods:
        return ""
    imported = data.run["summary"].get("import")
    rejected = data.rejected.by_period
    rows, groups = [], []
    for r in sorted(periods, key=lambda p: p.get("period", "")):
        period = r.get("period", "")
        bc_net = _decimal(r.get("bc_net")) or Decimal(0)
        sent = _decimal(r.get("sent_net")) or Decimal(0)
        quarantined = _decimal(r.get("quarantined_net")) or Decimal(0)
        refused = rejected.get(period, Decimal(0))
        accepted = _accepted(imported, sent, refused)
        trial = r.get("trial_balance") or {}
        rows.append(
            [
                esc(period),
                esc(f"{int(r.get('entries', 0)):,}"),
                esc(money(r.get("bc_debit"))),
                esc(money(r.get("bc_credit"))),
                esc(money(bc_net)),
                esc(money(sent)),
                esc(money(refused)) if refused else "",
                esc(money(accepted)) if accepted is not None else _not_accepted(imported),
                esc(f"{int(r.get('quarantined_entries', 0)):,}"),
                esc(money(quarantined)),
                _yes_no(r.get("balanced")),
                _yes_no(trial.get("matches"))
                + (
                    f" <span class=muted>({esc(len(trial.get('mismatches') or []))}"
                    " accounts)</span>"
                    if trial.get("mismatches")
                    else ""
                ),
            ]
        )
        groups.append((period, [bc_net, accepted or Decimal(0), quarantined]))
    table = _table(
        [
            "period",
            "BC entries",
            "BC debit",
            "BC credit",
            "BC net change",
            "sent to Anaplan (net of cells)",
            "rejected by Anaplan (net)",
            "accepted by Anaplan (net)",
            "quarantined entries",
            "quarantined (net)",
            "balanced",
            "BC trial balance matches",
        ],
        rows,
        {1, 2, 3, 4, 5, 6, 7, 8, 9},
    )
    chart = bar_chart(
        "reconciliation-chart",
        "Net change per period: BC, accepted by Anaplan, quarantined",
        groups,
        [
            "BC net change (entries read)",
            "accepted by Anaplan (cells sent less rows rejected)",
            "quarantined in BC (not sent)",
        ],
    )
    return (
        "<h2>Reconciliation per period, BC vs Anaplan</h2>"
        '<p class="muted">Every period must balance: BC net change = accepted by Anaplan + '
        "quarantined + rejected by Anaplan. All entries of a period net to zero in a balanced "
        "ledger, so bars away from zero show what did not land. Anaplan's side is the cells the "
        "import file carried less the rows its import rejected (the load does not read cells "
        "back). Independently, the net change per account must equal BC's trial balance. Amounts "
        "in BC's sign (debit positive).</p>" + chart + table
    )


def _accepted(imported: Any, sent: Decimal, refused: Decimal) -> Decimal | None:
    """What Anaplan's import accepted of a period, or None if it accepted nothing."""
    if not isinstance(imported, dict) or not imported.get("successful"):
        return None
    return sent - refused


def _not_accepted(imported: Any) -> str:
    if not isinstance(imported, dict):
        return '<span class="muted">not imported</span>'
    return f'<span class="bad">import {esc(imported.get("state") or "failed")}</span>'


def _imports(summary: dict[str, Any]) -> str:
    result = summary.get("import")
    if not isinstance(result, dict):
        return ""
    facts = [
        ("state", result.get("state")),
        ("successful", result.get("successful")),
        ("rows Anaplan rejected", result.get("rejected")),
        ("file rows", (summary.get("file") or {}).get("rows")),
        ("file SHA-256", (summary.get("file") or {}).get("sha256")),
        ("cursor moved", "yes" if summary.get("committed") else "no"),
    ]
    meta = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts if v is not None)
    return f'<h2>Anaplan import</h2><dl class="meta">{meta}</dl>'


def _drift(data: ReportData) -> str:
    if not data.drift and not data.member_changes.total:
        return ""
    rows = []
    for line in data.drift:
        drift = line["drift"]
        rows.append(
            [esc(line["list"])]
            + [esc(drift.get(k, 0)) for k in ("missing", "changed", "gone", "unchanged")]
            + [esc(line["rows_sent"]), esc(line["missing_after"])]
        )
    html = "<h2>List drift fixed</h2>"
    if rows:
        html += _table(
            ["list", "added", "changed", "gone from BC", "unchanged", "rows sent", "still missing"],
            rows,
            {1, 2, 3, 4, 5, 6},
        )
    changes = data.member_changes
    if changes.total:
        html += f"<h3>Member changes ({_shown(changes)})</h3>" + _table(
            ["list : code", "what happened", "details"],
            [
                [esc(r.key), esc(r.reason), esc(json.dumps(r.data, sort_keys=True))]
                for r in changes.rows
            ],
        )
    return html


def _shown(sample: RecordSample) -> str:
    if sample.total > len(sample.rows):
        return f"first {len(sample.rows):,} of {sample.total:,}"
    return f"{sample.total:,}"


def _records(title: str, sample: RecordSample, explain: str, amounts: bool = True) -> str:
    if not sample.total:
        return ""
    reasons = _table(
        ["reason", "records", *(["amount"] if amounts else [])],
        [
            [esc(reason), esc(f"{count:,}"), *([esc(money(amount))] if amounts else [])]
            for reason, (count, amount) in sample.reasons()
        ],
        {1, 2},
    )
    rows = []
    for record in sample.rows:
        data = dict(record.data)
        amount = data.pop("amount", None)
        if amount is None:
            amount = (data.get("values") or {}).get("Amount")
        rows.append(
            [
                esc(record.key),
                esc(record.period),
                *([esc(money(amount))] if amounts else []),
                esc(record.reason),
                esc(json.dumps(data, sort_keys=True)),
            ]
        )
    headers = ["key", "period", *(["amount"] if amounts else []), "reason", "details"]
    return (
        f"<h2>{esc(title)} ({esc(f'{sample.total:,}')})</h2><p class=muted>{esc(explain)}</p>"
        + reasons
        + f"<h3>Records ({_shown(sample)})</h3>"
        + _table(headers, rows, {2} if amounts else set())
    )


def _writeback(data: ReportData) -> str:
    facts = data.writeback
    if facts is None:
        return ""
    meta = "".join(
        f"<dt>{esc(k.replace('_', ' '))}</dt><dd>{esc(v)}</dd>"
        for k, v in facts.items()
        if v not in (None, "")
    )
    html = f'<h2>Plan writeback</h2><dl class="meta">{meta}</dl>'
    accounts = data.plan_accounts
    if not accounts:
        return html
    groups = sorted(
        (
            (a["account"], [_decimal(a["plan"]) or Decimal(0), _decimal(a["bc"]) or Decimal(0)])
            for a in accounts
        ),
        key=lambda g: -abs(g[1][0]),
    )
    html += bar_chart(
        "plan-chart",
        "Plan totals per account vs BC draft lines (largest accounts)",
        groups[:24],
        ["plan (Anaplan export)", "BC draft lines"],
    )
    plan_total = sum((_decimal(a["plan"]) or Decimal(0) for a in accounts), Decimal(0))
    html += "<h3>Plan totals by account vs BC draft journal lines</h3>" + _table(
        ["account", "plan", "BC drafts", "status"],
        [
            [esc(a["account"]), esc(money(a["plan"])), esc(money(a["bc"])), esc(a["status"])]
            for a in accounts
        ]
        + [["<b>total</b>", f"<b>{esc(money(plan_total))}</b>", "", ""]],
        {1, 2},
    )
    return html


def _steps(data: ReportData) -> str:
    rows = [
        [
            esc(s["step_id"]),
            esc(s["name"]),
            esc(s["started_at"]),
            esc(_duration(s["duration_ms"])),
            esc(_count_list(s["counts"])),
        ]
        for s in data.steps
    ]
    return (
        "<h2>Timeline</h2>"
        + timeline(data.steps, data.run["started_at"])
        + (_table(["step", "what", "started", "took", "counts"], rows, {3}) if rows else "")
    )


def _count_list(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()) if isinstance(v, int))


def _input(data: ReportData) -> str:
    text = json.dumps(data.run["input"], indent=2, sort_keys=True)
    return f"<h2>Input</h2><pre>{esc(text)}</pre>"


def render(data: ReportData, generated_at: str) -> str:
    """The report of one run as an HTML document (a ``str``)."""
    run = data.run
    summary = run["summary"]
    title = f"{run['flow']} {run['state']} — {run['run_id']} · BC ⇄ Anaplan run report"
    sections = [
        _header(data, generated_at),
        _counts(summary.get("counts") or {}),
        _steps(data),
        _reconciliation(data),
        _imports(summary),
        _writeback(data),
        _drift(data),
        _records(
            "Quarantined records",
            data.quarantined,
            "BC records left out because they could not be mapped to an Anaplan member; "
            "a replay re-sends them once the cause is fixed.",
        ),
        _records(
            "Rejected records",
            data.rejected,
            "Rows Anaplan refused on import, or plan lines that failed validation or that BC "
            "refused.",
        ),
        _records(
            "Events", data.events, "Other things worth knowing about this run.", amounts=False
        ),
        _input(data),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(sections)}"
        "<footer>Generated by the Business Central ⇄ Anaplan connector from its audit trail. "
        "Amounts are in BC's sign convention (debit positive).</footer>"
        "</main></body></html>\n"
    )
