"""The dashboard's pop-up screens: help (every key), correct a label, and a post's details."""

from __future__ import annotations

from datetime import tzinfo
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from engage.dashboard.model import LABELS, PostViewLike

# One line per label, from LABELS.md.
LABEL_HELP = {
    "auto_promo": "broadcast about yourself: machine-made posts, one-way self-promotion",
    "share": "passing on someone else's content with no real words of your own",
    "ask": "a hand-written question to a person or to the audience",
    "answer": "a reply that answers or helps with what someone asked or said",
    "comment": "hand-written words of your own: reaction, opinion, thanks, news",
}

KEYS: tuple[tuple[str, str], ...] = (
    ("?", "this help"),
    ("q", "quit"),
    ("r", "chart range: last 30 or 90 days"),
    ("l / L", "filter posts by label: next / previous (all, auto_promo, share, ask, ...)"),
    ("p / P", "filter posts by platform: next / previous"),
    ("a", "show all posts again (clear both filters)"),
    ("↑ ↓ PgUp PgDn Home End", "move in the posts table (more posts load at the end)"),
    ("c", "correct the selected post's label (stored as your correction)"),
    ("o or Enter", "open the selected post in the browser"),
    ("v", "details of the selected post: full text, reason, link"),
    ("Tab / Shift+Tab", "move between the posts table and the waiting list"),
    ("Ctrl+R", "reload from the database now"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "close"),
    ]

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold", no_wrap=True)
        keys.add_column()
        for key, what in KEYS:
            keys.add_row(key, what)
        labels = Table.grid(padding=(0, 2))
        labels.add_column(style="bold", no_wrap=True)
        labels.add_column()
        for name in LABELS:
            labels.add_row(name, LABEL_HELP[name])
        with VerticalScroll(id="help-box"):
            yield Static(Text("Keys", style="bold underline"))
            yield Static(keys)
            yield Static(
                Text("\nLabels (ask, answer, comment are genuine)", style="bold underline")
            )
            yield Static(labels)
            yield Static(
                Text(
                    "\nIn the table, * marks your correction and … one not stored yet (the "
                    "database was busy; it is retried). Escape closes this help.",
                    style="dim",
                )
            )

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)


class RelabelScreen(ModalScreen[str | None]):
    """Pick a label with 1-5; 0 goes back to the model's label; Escape cancels. Dismisses with
    the label, ``""`` for "back to the model's label", or ``None`` when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel"),
        *[Binding(str(i + 1), f"pick('{name}')", name) for i, name in enumerate(LABELS)],
        Binding("0", "pick('')", "model's label"),
    ]

    def __init__(self, view: PostViewLike) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        v = self.view
        lines = Text()
        lines.append("Correct the label of\n", style="bold")
        lines.append(" ".join((v.post.text or "(no text)").split())[:160] + "\n\n")
        lines.append(f"now: {v.label or 'unlabelled'}")
        if v.corrected:
            lines.append(f" (your correction; the model said {v.model_label or 'nothing'})")
        lines.append("\n\n")
        for i, name in enumerate(LABELS):
            lines.append(f" {i + 1} ", style="reverse")
            lines.append(f" {name:<11}", style="bold")
            lines.append(f"{LABEL_HELP[name]}\n")
        lines.append(" 0 ", style="reverse")
        lines.append(" back to the model's label\n")
        lines.append(" Esc ", style="reverse")
        lines.append(" cancel")
        with Vertical(id="relabel-box"):
            yield Static(lines)

    def action_pick(self, label: str) -> None:
        self.dismiss(label)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DetailsScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,v,q", "close", "close")]

    def __init__(self, view: PostViewLike, tz: tzinfo) -> None:
        super().__init__()
        self.view = view
        self.tz = tz

    def compose(self) -> ComposeResult:
        v = self.view
        p = v.post
        t = Text()
        t.append(f"{p.platform} · {p.account} · {p.kind}", style="bold")
        t.append(f" · {p.created_at.astimezone(self.tz):%Y-%m-%d %H:%M}\n\n")
        t.append((p.text or "(no text)") + "\n\n")
        t.append("label: ", style="bold")
        t.append(v.label or "unlabelled")
        if v.corrected:
            t.append(f" (your correction; the model said {v.model_label or 'nothing'})")
        elif v.confidence is not None:
            t.append(f" ({v.confidence * 100:.0f}% sure)")
        t.append("\nreason: ", style="bold")
        t.append(v.reason or "-")
        if p.client:
            t.append("\nposted with: ", style="bold")
            t.append(p.client)
        t.append("\nlink: ", style="bold")
        t.append(p.url or "-")
        t.append("\n\nEscape closes.", style="dim")
        with VerticalScroll(id="details-box"):
            yield Static(t)

    def action_close(self) -> None:
        self.dismiss(None)
