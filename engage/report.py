"""The daily report: ``build_report`` gathers one local day's picture from ``engage.goals`` into a
plain dict (the JSON schema in ``engage/report_schema.json``, version ``engage-report/1``), and
``render(report, fmt)`` writes it as text, markdown, html or json.

Text and markdown show the ratio trend as a sparkline; HTML is one self-contained page with an
inline SVG chart and inline CSS (no scripts, fonts or images to fetch). Library code: no click.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engage import goals
from engage.vocab import GENUINE_LABELS, LABELS

if TYPE_CHECKING:
    from engage.config import Config
    from engage.store import Store

SCHEMA_ID = "engage-report/1"
FORMATS: tuple[str, ...] = ("text", "markdown", "html", "json")
SPARK = "▁▂▃▄▅▆▇█"
AUTOMATION_WINDOW_DAYS = 30


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def default_day(store: Store, config: Config, now: datetime | None = None) -> date:
    """Yesterday, in the user's local days."""
    clock = goals.DayClock.from_store(store, config, now)
    return clock.today(now) - timedelta(days=1)


def build_report(
    store: Store,
    config: Config,
    day: date | None = None,
    now: datetime | None = None,
    fetch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report for local ``day`` (default yesterday) as a JSON-ready dict."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    clock = goals.DayClock.from_store(store, config, now)
    day = day or clock.today(now) - timedelta(days=1)
    status = goals.day_status(store, config, day, now, with_waiting=False)
    series60 = goals.daily_series(store, config, 60, day, now=now, clock=clock)
    r7 = goals.ratio(store, config, 7, day, clock=clock, series=series60[-14:])
    r30 = goals.ratio(store, config, 30, day, clock=clock, series=series60)
    week_first = day - timedelta(days=6)
    mix = goals.label_mix(store, config, week_first, day, clock=clock)
    labels_7d = {lb: 0 for lb in (*LABELS, "unlabelled")}
    by_platform: dict[str, Any] = {}
    for platform, counts in sorted(mix.items()):
        total = sum(counts.values())
        genuine = sum(counts[g] for g in GENUINE_LABELS)
        for k, v in counts.items():
            labels_7d[k] += v
        by_platform[platform] = {
            "labels": counts,
            "total": total,
            "genuine": genuine,
            "ratio": _round(genuine / total if total else None),
        }
    labelled_7d = sum(labels_7d[lb] for lb in LABELS)
    not_genuine_7d = sum(labels_7d[lb] for lb in goals.NOT_GENUINE_LABELS)
    share_7d = not_genuine_7d / labelled_7d if labelled_7d else None
    threshold = float(config.values["report"]["automation_threshold"])
    auto = goals.automation_sources(
        store, config, day - timedelta(days=AUTOMATION_WINDOW_DAYS - 1), day, clock=clock
    )
    waiting = goals.waiting_for_you(store, config, now)
    lapsed = goals.lapsed_contacts(store, config, now)
    sugg = goals.suggestions(waiting, lapsed, now)
    platform_of = {p: it.platform for it in status.interactions for p in it.people}
    return {
        "schema": SCHEMA_ID,
        "date": day.isoformat(),
        "timezone": status.timezone,
        "day_start": _iso(status.start),
        "day_end": _iso(status.end),
        "generated_at": _iso(now),
        "goal": {"min": status.goal.min, "target": status.goal.target},
        "genuine": {
            "count": status.count,
            "people": [goals.display_handle(platform_of.get(p, ""), p) for p in status.people],
            "by_label": status.by_label,
            "posts": [
                {
                    "platform": it.platform,
                    "post_id": it.post_id,
                    "url": it.url,
                    "created_at": _iso(it.created_at),
                    "label": it.label,
                    "corrected": it.corrected,
                    "text": it.text,
                    "people": [goals.display_handle(it.platform, p) for p in it.people],
                }
                for it in status.interactions
            ],
        },
        "status": status.status,
        "streak_days": status.streak_days,
        "rolling_7d": status.rolling_7d,
        "total_posts": status.total_posts,
        "unlabelled": status.unlabelled,
        "ratio_7d": _round(r7.ratio),
        "ratio_30d": _round(r30.ratio),
        "trend": {
            "ratio_7d": {"previous": _round(r7.previous), "direction": r7.trend},
            "ratio_30d": {"previous": _round(r30.previous), "direction": r30.trend},
        },
        "series_30d": [
            {
                "date": p.day.isoformat(),
                "genuine": p.genuine,
                "total": p.total,
                "ratio": _round(p.ratio),
            }
            for p in series60[-30:]
        ],
        "labels_7d": labels_7d,
        "by_platform": by_platform,
        "automation": {
            "alert": share_7d is not None and share_7d > threshold,
            "threshold": threshold,
            "share_7d": _round(share_7d),
            "window_days": AUTOMATION_WINDOW_DAYS,
            "apps": [
                {
                    "app": a.app,
                    "platforms": a.platforms,
                    "posts": a.posts,
                    "by_label": a.by_label,
                    "known_automation": a.known_automation,
                    "suite": a.suite,
                }
                for a in auto.apps
            ],
            "recycled_links": [
                {
                    "url": link.url,
                    "posts": link.posts,
                    "platforms": link.platforms,
                    "first": _iso(link.first),
                    "last": _iso(link.last),
                }
                for link in auto.recycled_links
            ],
        },
        "waiting": {
            "count": len(waiting.items),
            "window_days": waiting.window_days,
            "median_answer_seconds": (
                None
                if waiting.median_answer is None
                else int(waiting.median_answer.total_seconds())
            ),
            "answered_30d": waiting.answered,
            "items": [
                {
                    "platform": w.platform,
                    "author": w.author,
                    "who": w.who,
                    "created_at": _iso(w.created_at),
                    "age_seconds": int(w.age.total_seconds()),
                    "kind": w.kind,
                    "question": w.is_question,
                    "text": w.text,
                    "url": w.url,
                }
                for w in waiting.items
            ],
        },
        "suggestions": [
            {
                "kind": s.kind,
                "text": s.text,
                "person": s.person,
                "platform": s.platform,
                "url": s.url,
            }
            for s in sugg
        ],
        "fetch": fetch or {"ran": False, "ok": True, "error": None},
    }


# -- rendering ----------------------------------------------------------------------------------


def sparkline(values: list[float | None]) -> str:
    """One character per value from 0 to 1 (``·`` for a day without posts)."""
    out = []
    for v in values:
        if v is None:
            out.append("·")
        else:
            out.append(SPARK[min(len(SPARK) - 1, int(max(0.0, min(1.0, v)) * len(SPARK)))])
    return "".join(out)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{round(x * 100)}%"


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    h, m = divmod(seconds // 60, 60)
    return f"{h} h {m} min" if h < 48 else f"{h // 24} d"


def _age(seconds: int) -> str:
    return goals.format_age(timedelta(seconds=seconds))


def _pname(platform: str) -> str:
    return goals.PLATFORM_NAMES.get(platform, platform)


def _headline(r: dict[str, Any]) -> str:
    g = r["genuine"]
    word = {"below": "below the goal", "met": "goal met", "exceeded": "goal exceeded"}[r["status"]]
    return (
        f"{g['count']} genuine interaction{'s' if g['count'] != 1 else ''} "
        f"(goal {r['goal']['min']}-{r['goal']['target']}): {word}. "
        f"Streak: {r['streak_days']} day{'s' if r['streak_days'] != 1 else ''}. "
        f"Last 7 days: {r['rolling_7d']}."
    )


def _trend_word(t: dict[str, Any]) -> str:
    d = t["direction"]
    if d == "none":
        return "no earlier figure"
    return f"{d} from {_pct(t['previous'])}"


def _local_time(iso: str, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return (
        datetime.fromisoformat(iso.replace("Z", "+00:00"))
        .astimezone(ZoneInfo(tz))
        .strftime("%H:%M")
    )


def _mix_rows(r: dict[str, Any]) -> list[list[str]]:
    rows = []
    for platform, d in r["by_platform"].items():
        rows.append(
            [_pname(platform)]
            + [str(d["labels"][lb]) for lb in (*LABELS, "unlabelled")]
            + [str(d["total"]), _pct(d["ratio"])]
        )
    return rows


MIX_HEADER = ["platform", *LABELS, "unlabelled", "total", "genuine"]


def _fetch_line(r: dict[str, Any]) -> str | None:
    f = r.get("fetch") or {}
    if not f.get("ran"):
        return None
    if f.get("ok"):
        return (
            f"Fetch: ok, {f.get('new_posts', 0)} new posts, "
            f"{f.get('new_mentions', 0)} new mentions."
        )
    return f"Fetch FAILED: {f.get('error')} (the figures below are from what was stored before)."


def render_text(r: dict[str, Any], markdown: bool = False) -> str:
    lines: list[str] = []
    h1, h2 = ("# ", "## ") if markdown else ("", "")
    bullet = "- " if markdown else "  "
    day = date.fromisoformat(r["date"])
    lines.append(f"{h1}engage daily report: {day:%A} {r['date']} ({r['timezone']})")
    lines.append("")
    fl = _fetch_line(r)
    if fl:
        lines += [("**" + fl + "**") if markdown else fl, ""]
    lines.append(_headline(r))
    lines.append("")
    g = r["genuine"]
    lines.append(f"{h2}What counted")
    if markdown:
        lines.append("")
    if not g["posts"]:
        lines.append(f"{bullet}No genuine interactions (ask, answer, comment) this day.")
    for p in g["posts"]:
        who = f" with {', '.join(p['people'])}" if p["people"] else ""
        text = " ".join(p["text"].split())
        text = text if len(text) <= 80 else text[:79] + "…"
        link = f" <{p['url']}>" if markdown and p["url"] else (f" {p['url']}" if p["url"] else "")
        corr = " (your label)" if p["corrected"] else ""
        lines.append(
            f"{bullet}{_local_time(p['created_at'], r['timezone'])} {p['label']}{corr} on "
            f'{_pname(p["platform"])}{who}: "{text}"{link}'
        )
    if g["people"]:
        lines.append(f"{bullet}People: {', '.join(g['people'])}")
    if r["unlabelled"]:
        lines.append(f"{bullet}{r['unlabelled']} post(s) of this day have no label yet.")
    lines.append("")
    lines.append(f"{h2}Interaction ratio (genuine / all posts)")
    if markdown:
        lines.append("")
    lines.append(f"{bullet}7 days:  {_pct(r['ratio_7d'])} ({_trend_word(r['trend']['ratio_7d'])})")
    lines.append(
        f"{bullet}30 days: {_pct(r['ratio_30d'])} ({_trend_word(r['trend']['ratio_30d'])})"
    )
    spark = sparkline([p["ratio"] for p in r["series_30d"]])
    first, last = r["series_30d"][0]["date"], r["series_30d"][-1]["date"]
    spark_txt = f"`{spark}`" if markdown else spark
    lines.append(f"{bullet}daily ratio {first} to {last}: {spark_txt}")
    lines.append("")
    lines.append(f"{h2}Label mix, last 7 days")
    lines.append("")
    rows = _mix_rows(r)
    if markdown:
        lines.append("| " + " | ".join(MIX_HEADER) + " |")
        lines.append("|" + "---|" * len(MIX_HEADER))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(x) for x in col) for col in zip(MIX_HEADER, *rows, strict=False)]
        fmt = lambda row: "  ".join(  # noqa: E731
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        lines.append(bullet + fmt(MIX_HEADER))
        lines += [bullet + fmt(row) for row in rows]
    if not rows:
        lines.append(f"{bullet}No posts in the last 7 days.")
    lines.append("")
    a = r["automation"]
    title = "AUTOMATION ALERT" if a["alert"] else "Automation"
    lines.append(f"{h2}{title}")
    if markdown:
        lines.append("")
    lines.append(
        f"{bullet}{_pct(a['share_7d'])} of the last 7 days' labelled posts were not genuine "
        f"(auto_promo or share); the alert threshold is {_pct(a['threshold'])}."
    )
    if a["alert"]:
        lines.append(
            f"{bullet}The first cure: stop automating messages. Switch off the apps below and "
            "stop re-posting the same links."
        )
    if a["apps"]:
        lines.append(f"{bullet}Posting apps of non-genuine posts, last {a['window_days']} days:")
        for app in a["apps"][:8]:
            name = app["app"] or "(app not recorded)"
            tag = (
                " [automation]" if app["known_automation"] else (" [suite]" if app["suite"] else "")
            )
            labels = ", ".join(f"{k} {v}" for k, v in app["by_label"].items())
            lines.append(
                f"{bullet}  {name}{tag}: {app['posts']} posts on "
                f"{', '.join(_pname(p) for p in app['platforms'])} ({labels})"
            )
    if a["recycled_links"]:
        lines.append(f"{bullet}Links posted again and again, last {a['window_days']} days:")
        for link in a["recycled_links"][:8]:
            lines.append(f"{bullet}  {link['posts']}x {link['url']}")
    lines.append("")
    w = r["waiting"]
    lines.append(
        f"{h2}Waiting for you ({w['count']}; median time to answer "
        f"{_duration(w['median_answer_seconds'])})"
    )
    if markdown:
        lines.append("")
    if not w["items"]:
        lines.append(f"{bullet}Nobody is waiting for an answer.")
    for it in w["items"][:10]:
        text = " ".join(it["text"].split())
        text = text if len(text) <= 80 else text[:79] + "…"
        link = (
            f" <{it['url']}>" if markdown and it["url"] else (f" {it['url']}" if it["url"] else "")
        )
        lines.append(
            f"{bullet}{it['who']} on {_pname(it['platform'])}, {_age(it['age_seconds'])} ago: "
            f'"{text}"{link}'
        )
    lines.append("")
    lines.append(f"{h2}Suggestions for today")
    if markdown:
        lines.append("")
    for i, s in enumerate(r["suggestions"], 1):
        lines.append(f"{i}. {s['text']}" if markdown else f"  {i}. {s['text']}")
    return "\n".join(lines).rstrip() + "\n"


def _svg_chart(series: list[dict[str, Any]]) -> str:
    """Daily posts as stacked bars (genuine over the rest) with the ratio as a line."""
    w, h, pad = 600, 180, 24
    n = max(1, len(series))
    bw = (w - 2 * pad) / n
    top = max([p["total"] for p in series] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" '
        f'height="{h}" role="img" aria-label="Genuine and other posts per day, with the '
        'interaction ratio">',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#999"/>',
    ]
    pts = []
    for i, p in enumerate(series):
        x = pad + i * bw
        tot_h = (h - 2 * pad) * p["total"] / top
        gen_h = (h - 2 * pad) * p["genuine"] / top
        title = f"{p['date']}: {p['genuine']} genuine of {p['total']} posts"
        parts.append(
            f'<rect class="other" x="{x + 1:.1f}" y="{h - pad - tot_h:.1f}" '
            f'width="{max(1.0, bw - 2):.1f}" height="{tot_h - gen_h:.1f}">'
            f"<title>{html.escape(title)}</title></rect>"
        )
        parts.append(
            f'<rect class="genuine" x="{x + 1:.1f}" y="{h - pad - gen_h:.1f}" '
            f'width="{max(1.0, bw - 2):.1f}" height="{gen_h:.1f}">'
            f"<title>{html.escape(title)}</title></rect>"
        )
        if p["ratio"] is not None:
            pts.append(f"{x + bw / 2:.1f},{h - pad - (h - 2 * pad) * p['ratio']:.1f}")
    if len(pts) > 1:
        parts.append(f'<polyline class="ratio" fill="none" points="{" ".join(pts)}"/>')
    if series:
        parts.append(
            f'<text x="{pad}" y="{h - 6}" font-size="10">{html.escape(series[0]["date"])}</text>'
        )
        parts.append(
            f'<text x="{w - pad}" y="{h - 6}" font-size="10" text-anchor="end">'
            f"{html.escape(series[-1]['date'])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;"
    "color:#222}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}"
    "table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;"
    "text-align:right}td:first-child,th:first-child{text-align:left}"
    ".alert{background:#fde8e8;border-left:4px solid #c0392b;padding:.4rem .8rem}"
    ".status-below{color:#b9770e}.status-met,.status-exceeded{color:#1e8449}"
    "rect.genuine{fill:#27ae60}rect.other{fill:#ccc}polyline.ratio{stroke:#2c3e50;"
    "stroke-width:2}.fetch-failed{color:#c0392b;font-weight:bold}"
)


def render_html(r: dict[str, Any]) -> str:
    e = html.escape
    out: list[str] = []
    add = out.append
    add("<!DOCTYPE html>")
    add('<html lang="en"><head><meta charset="utf-8">')
    add(f"<title>engage daily report {e(r['date'])}</title>")
    add(f"<style>{_CSS}</style></head><body>")
    day = date.fromisoformat(r["date"])
    add(f"<h1>engage daily report: {day:%A} {e(r['date'])} ({e(r['timezone'])})</h1>")
    fl = _fetch_line(r)
    if fl:
        cls = "fetch-ok" if r["fetch"].get("ok") else "fetch-failed"
        add(f'<p class="{cls}" id="fetch">{e(fl)}</p>')
    add(f'<p id="headline" class="status-{e(r["status"])}">{e(_headline(r))}</p>')
    add('<h2>What counted</h2><ul id="counted">')
    for p in r["genuine"]["posts"]:
        who = f" with {', '.join(p['people'])}" if p["people"] else ""
        link = f' <a href="{e(p["url"])}">link</a>' if p["url"] else ""
        add(
            f"<li>{e(_local_time(p['created_at'], r['timezone']))} <b>{e(p['label'])}</b> on "
            f"{e(_pname(p['platform']))}{e(who)}: “{e(p['text'])}”{link}</li>"
        )
    if not r["genuine"]["posts"]:
        add("<li>No genuine interactions (ask, answer, comment) this day.</li>")
    add("</ul>")
    add("<h2>Interaction ratio (genuine / all posts)</h2>")
    add(
        f"<p>7 days: <b>{_pct(r['ratio_7d'])}</b> ({e(_trend_word(r['trend']['ratio_7d']))}); "
        f"30 days: <b>{_pct(r['ratio_30d'])}</b> ({e(_trend_word(r['trend']['ratio_30d']))}).</p>"
    )
    add(
        f'<figure id="chart">{_svg_chart(r["series_30d"])}<figcaption>Last 30 days: genuine '
        "posts (green) over the others (grey), and the daily ratio (line).</figcaption></figure>"
    )
    add('<h2>Label mix, last 7 days</h2><table id="mix"><thead><tr>')
    add("".join(f"<th>{e(c)}</th>" for c in MIX_HEADER) + "</tr></thead><tbody>")
    for row in _mix_rows(r):
        add("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    add("</tbody></table>")
    a = r["automation"]
    alert_cls = ' class="alert"' if a["alert"] else ""
    add(f'<section id="automation"{alert_cls}>')
    add(f"<h2>{'Automation alert' if a['alert'] else 'Automation'}</h2>")
    add(
        f"<p>{_pct(a['share_7d'])} of the last 7 days' labelled posts were not genuine; the "
        f"alert threshold is {_pct(a['threshold'])}.</p>"
    )
    if a["alert"]:
        add(
            "<p>The first cure: stop automating messages. Switch off the apps below and stop "
            "re-posting the same links.</p>"
        )
    if a["apps"]:
        add(
            '<table id="apps"><thead><tr><th>posting app</th><th>posts</th><th>platforms</th>'
            "</tr></thead><tbody>"
        )
        for app in a["apps"]:
            add(
                f"<tr><td>{e(app['app'] or '(not recorded)')}</td><td>{app['posts']}</td>"
                f"<td>{e(', '.join(_pname(p) for p in app['platforms']))}</td></tr>"
            )
        add("</tbody></table>")
    if a["recycled_links"]:
        add('<p>Links posted again and again:</p><ul id="recycled">')
        for link in a["recycled_links"]:
            add(f'<li>{link["posts"]}× <a href="{e(link["url"])}">{e(link["url"])}</a></li>')
        add("</ul>")
    add("</section>")
    w = r["waiting"]
    add(
        f"<h2>Waiting for you ({w['count']}; median time to answer "
        f'{e(_duration(w["median_answer_seconds"]))})</h2><ul id="waiting">'
    )
    for it in w["items"]:
        link = f' <a href="{e(it["url"])}">open</a>' if it["url"] else ""
        add(
            f"<li>{e(it['who'])} on {e(_pname(it['platform']))}, {e(_age(it['age_seconds']))} "
            f"ago: “{e(it['text'])}”{link}</li>"
        )
    if not w["items"]:
        add("<li>Nobody is waiting for an answer.</li>")
    add('</ul><h2>Suggestions for today</h2><ol id="suggestions">')
    for s in r["suggestions"]:
        add(f"<li>{e(s['text'])}</li>")
    add("</ol></body></html>")
    return "\n".join(out) + "\n"


def render(report: dict[str, Any], fmt: str) -> str:
    """The report as ``text``, ``markdown``, ``html`` or ``json``."""
    if fmt == "text":
        return render_text(report)
    if fmt == "markdown":
        return render_text(report, markdown=True)
    if fmt == "html":
        return render_html(report)
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown report format {fmt!r}")


def subject(report: dict[str, Any]) -> str:
    g = report["genuine"]
    return (
        f"engage: {g['count']}/{report['goal']['target']} genuine interactions on "
        f"{report['date']} ({report['status']}), streak {report['streak_days']}"
    )


def schema() -> dict[str, Any]:
    """The JSON Schema of the report (``engage/report_schema.json``)."""
    from importlib.resources import files

    text = files("engage").joinpath("report_schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))
