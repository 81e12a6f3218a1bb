"""The three panels of the top row: today against the goal, the label mix per platform, and who
is waiting for an answer. Each takes ``engage.goals`` results (or the summary's, see
``model.py``) and draws them; none of them reads the database or imports DuckDB."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from engage.dashboard.model import TodaySummary, WaitingLike, WaitingSummaryLike
from engage.vocab import GENUINE_LABELS, LABELS, PLATFORM_NAMES, format_age

STATUS_WORDS = {"below": "below goal", "met": "goal met", "exceeded": "goal exceeded"}

# Each label has its own character as well as its own colour, so the mix reads with NO_COLOR.
MIX_CHARS = {
    "auto_promo": ("█", "red"),
    "share": ("▓", "yellow"),
    "ask": ("▒", "green"),
    "answer": ("░", "green"),
    "comment": ("▞", "cyan"),
    "unlabelled": ("·", "bright_black"),
}
MIX_SHORT = {"auto_promo": "pro", "share": "sha", "ask": "ask", "answer": "ans", "comment": "com"}


class TodayPanel(Vertical):
    """Today's genuine interactions against the goal (a progress bar), the streak and the
    rolling seven days."""

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=3, show_eta=False, show_percentage=False, id="today-bar")
        yield Static(Text("loading…", style="dim"), id="today-text")

    def show(self, today: TodaySummary) -> None:
        goal = today.goal
        bar = self.query_one("#today-bar", ProgressBar)
        bar.update(total=goal.target, progress=min(today.count, goal.target))
        t = Text()
        t.append(f"{today.count}/{goal.target}", style="bold")
        t.append(f" today · {STATUS_WORDS.get(today.status, today.status)}\n")
        t.append("streak ")
        if today.streak_days is None:
            t.append("…\n", style="dim")
        else:
            days = "day" if today.streak_days == 1 else "days"
            t.append(f"{today.streak_days} {days}\n", style="bold")
        t.append("7 days ")
        t.append(str(today.rolling_7d), style="bold")
        t.append(f" (goal {goal.min * 7}-{goal.target * 7})")
        if today.people:
            t.append("\nwith " + ", ".join(today.people[:4]), style="dim")
        self.query_one("#today-text", Static).update(t)


def mix_bar(counts: dict[str, int], width: int) -> Text:
    """A stacked bar of one platform's labels, ``width`` cells, largest remainders rounding."""
    keys = [*LABELS, "unlabelled"]
    total = sum(counts.get(k, 0) for k in keys)
    out = Text()
    if total == 0 or width <= 0:
        return out
    exact = [counts.get(k, 0) * width / total for k in keys]
    cells = [int(x) for x in exact]
    order = sorted(range(len(keys)), key=lambda i: exact[i] - cells[i], reverse=True)
    for i in order[: width - sum(cells)]:
        cells[i] += 1
    for k, n in zip(keys, cells, strict=True):
        ch, style = MIX_CHARS[k]
        out.append(ch * n, style=style)
    return out


def mix_lines(mix: dict[str, dict[str, int]], width: int) -> Text:
    """One line per platform (bar and share of genuine posts), then a legend."""
    t = Text(no_wrap=True, overflow="crop")
    if not mix:
        t.append("no posts in this range", style="dim")
        return t
    name_w = max(len(PLATFORM_NAMES.get(p, p)) for p in mix)
    bar_w = max(4, width - name_w - 6)
    for platform in sorted(mix):
        counts = mix[platform]
        labelled = sum(counts.get(lb, 0) for lb in LABELS)
        genuine = sum(counts.get(lb, 0) for lb in GENUINE_LABELS)
        pct = f"{100 * genuine / labelled:3.0f}%" if labelled else "  - "
        t.append(f"{PLATFORM_NAMES.get(platform, platform):<{name_w}} ")
        t.append_text(mix_bar(counts, bar_w))
        t.append(f" {pct}\n")
    sep = " " if width >= 24 else ""
    for i, lb in enumerate(LABELS):
        ch, style = MIX_CHARS[lb]
        t.append(ch, style=style)
        t.append(MIX_SHORT[lb] + (sep if i < len(LABELS) - 1 else ""), style="dim")
    return t


class MixPanel(Widget):
    """Posts per platform and label over the chart's range; % = genuine share of labelled."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.mix: dict[str, dict[str, int]] | None = None

    def show(self, mix: dict[str, dict[str, int]]) -> None:
        self.mix = mix
        self.refresh()

    def render(self) -> Text:
        if self.mix is None:
            return Text("loading…", style="dim")
        return mix_lines(self.mix, self.size.width)


def without_leading_mentions(text: str) -> str:
    """ "@pat @ana thanks!" -> "thanks!" (the list is about what they said, not to whom)."""
    words = text.split()
    while len(words) > 1 and words[0].startswith("@"):
        words.pop(0)
    return " ".join(words)


def waiting_prompt(item: WaitingLike) -> Text:
    """``@ana 3 h ? do you have a checklist…``: ``?`` marks a question, ``·`` anything else."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(item.who, style="bold")
    t.append(f" {format_age(item.age)}", style="dim")
    t.append(" ? " if item.is_question else " · ", style="bold magenta")
    t.append(without_leading_mentions(item.text))
    return t


class WaitingList(OptionList):
    """People whose mentions and replies the user has not answered, newest first; Enter or
    ``o`` opens the selected one."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.items: list[WaitingLike] = []

    def show(self, summary: WaitingSummaryLike) -> None:
        highlighted = self.highlighted
        self.items = list(summary.items)
        self.clear_options()
        if not self.items:
            self.add_option(Option(Text("nobody is waiting for you", style="dim"), disabled=True))
        else:
            self.add_options(Option(waiting_prompt(w), id=w.mention_id) for w in self.items)
            if highlighted is not None and self.has_focus:
                self.highlighted = min(highlighted, len(self.items) - 1)

    def on_focus(self) -> None:
        if self.highlighted is None and self.items:
            self.highlighted = 0

    def selected_item(self) -> WaitingLike | None:
        i = self.highlighted
        if i is None or not self.items or i >= len(self.items):
            return None
        return self.items[i]


def waiting_title(summary: WaitingSummaryLike) -> str:
    n = len(summary.items)
    return f"Waiting for you ({n})" if n else "Waiting for you"


def waiting_subtitle(summary: WaitingSummaryLike) -> str:
    if summary.median_answer is None:
        return ""
    return f"median answer {format_age(summary.median_answer)}"


def clock_text(now: datetime) -> str:
    return f"{now:%a %d %b %H:%M}"


def mix_subtitle(mix: dict[str, dict[str, int]]) -> str:
    """``% genuine``, and how many posts wait for a label (they count as not genuine yet)."""
    unlabelled = sum(m.get("unlabelled", 0) for m in mix.values())
    return f"% genuine · {unlabelled} unlabelled" if unlabelled else "% genuine"
