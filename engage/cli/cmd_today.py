from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from engage import goals
from engage.cli._common import AppContext, parse_date, pass_app

if TYPE_CHECKING:
    from engage.config import Config


def render(st: goals.DayStatus, now: datetime) -> list[str]:
    lines = []
    word = {"below": "below the goal", "met": "goal met", "exceeded": "goal exceeded"}
    when = "today" if st.is_open else st.day.isoformat()
    lines.append(
        f"{st.count} genuine interaction{'s' if st.count != 1 else ''} {when} "
        f"(goal {st.goal.min}-{st.goal.target}): {word[st.status]}."
    )
    lines.append(
        f"Streak: {st.streak_days} day{'s' if st.streak_days != 1 else ''}.  "
        f"Last 7 days: {st.rolling_7d}."
    )
    tz = st.timezone
    for it in st.interactions:
        local = it.created_at.astimezone(ZoneInfo(tz)).strftime("%H:%M")
        who = f" with {', '.join(goals.display_handle(it.platform, p) for p in it.people)}"
        text = " ".join(it.text.split())
        text = text if len(text) <= 70 else text[:69] + "…"
        lines.append(
            f"  {local}  {it.label:<7} {goals.PLATFORM_NAMES.get(it.platform, it.platform):<8}"
            f'{who if it.people else ""}  "{text}"'
        )
    if st.people:
        handles = {p: it.platform for it in st.interactions for p in it.people}
        lines.append("People: " + ", ".join(goals.display_handle(handles[p], p) for p in st.people))
    if st.unlabelled:
        lines.append(
            f"{st.unlabelled} post{'s' if st.unlabelled != 1 else ''} of this day "
            f"{'have' if st.unlabelled != 1 else 'has'} no label yet."
        )
    w = st.waiting
    median = (
        f"; you usually answer within {goals.format_age(w.median_answer)}"
        if w.median_answer is not None
        else ""
    )
    if w.items:
        lines.append(f"Waiting for you ({len(w.items)}{median}):")
        for item in w.items[:10]:
            text = " ".join(item.text.split())
            text = text if len(text) <= 70 else text[:69] + "…"
            lines.append(
                f"  {item.who} on {goals.PLATFORM_NAMES.get(item.platform, item.platform)}, "
                f'{goals.format_age(now - item.created_at)} ago: "{text}"'
            )
    else:
        lines.append(f"Nobody is waiting for an answer{median}.")
    return lines


def as_json(st: goals.DayStatus) -> dict[str, object]:
    return {
        "date": st.day.isoformat(),
        "timezone": st.timezone,
        "goal": {"min": st.goal.min, "target": st.goal.target},
        "count": st.count,
        "status": st.status,
        "by_label": st.by_label,
        "people": st.people,
        "streak_days": st.streak_days,
        "rolling_7d": st.rolling_7d,
        "unlabelled": st.unlabelled,
        "interactions": [
            {
                "platform": i.platform,
                "post_id": i.post_id,
                "url": i.url,
                "created_at": i.created_at.isoformat(),
                "label": i.label,
                "people": list(i.people),
            }
            for i in st.interactions
        ],
        "waiting": [
            {
                "platform": w.platform,
                "author": w.author,
                "created_at": w.created_at.isoformat(),
                "url": w.url,
                "question": w.is_question,
            }
            for w in st.waiting.items
        ],
        "median_answer_seconds": (
            None if st.waiting.median_answer is None else st.waiting.median_answer.total_seconds()
        ),
    }


@click.command("today")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Another local day instead of today.")
@click.option("--json", "as_json_flag", is_flag=True, help="Print JSON instead of text.")
@pass_app
def command(app: AppContext, day: str | None, as_json_flag: bool) -> None:
    """Today's genuine interactions against the goal, the people, the streak and who waits.

    Genuine interactions are posts labelled ask, answer or comment (your corrections win).
    """
    config = app.config
    d = parse_date(day, "--date") if day else None
    now = datetime.now(UTC)
    with app.open_store(read_only=True) as store:
        st = goals.day_status(store, config, d, now)
    if as_json_flag:
        click.echo(json.dumps(as_json(st), indent=2, ensure_ascii=False))
        return
    for line in render(st, now):
        click.echo(line)


def demo_lines(path: Path, config: Config, now: datetime | None = None) -> list[str]:
    """What ``engage demo`` shows of the goal tracker: today, the nudge and yesterday's report."""
    from engage import nudge, report
    from engage.store import open_store

    now = now or datetime.now(UTC)
    with open_store(path, read_only=True) as store:
        st = goals.day_status(store, config, None, now)
        view = nudge.live_view(store, config, now)
        data = report.build_report(store, config, None, now)
    lines = ["", f"$ engage --db {path} today"]
    lines += render(st, now)
    lines += ["", f"$ engage --db {path} nudge"]
    lines.append(nudge.compose(view, now.timestamp()))
    lines += ["", f"$ engage --db {path} report   (yesterday; --format markdown|html|json)"]
    lines += report.render(data, "text").rstrip("\n").splitlines()
    return lines
