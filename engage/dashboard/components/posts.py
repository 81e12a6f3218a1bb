"""The table of recent posts: when, where, label (``*`` corrected, ``…`` correction not stored
yet), confidence, text and the classifier's reason. Pages of ``PAGE_SIZE`` rows are appended as
the cursor nears the end; the app does the loading, this widget only shows rows."""

from __future__ import annotations

from datetime import tzinfo
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from engage.dashboard.model import PostsPage, PostViewLike, post_key, split_post_key

COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("when", "When", 11),
    ("where", "Where", 8),
    ("label", "Label", 11),
    ("conf", "Conf", 4),
    ("text", "Text", 34),
    ("reason", "Reason", 60),
)

LABEL_STYLES = {
    "auto_promo": "bold red",
    "share": "yellow",
    "ask": "bold green",
    "answer": "green",
    "comment": "cyan",
}


def one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def plain(text: str) -> Text:
    return Text(text, end="")


def label_cell(label: str | None, corrected: bool, pending: bool) -> Text:
    name = label or "unlabelled"
    mark = "…" if pending else ("*" if corrected else "")
    return Text(name + mark, style=LABEL_STYLES.get(name, "dim"))


class PostsTable(DataTable[str | Text]):
    """Rows keyed by ``post_key(platform, post_id)``; ``views`` keeps each row's post."""

    DEFAULT_CSS = """
    PostsTable { height: 1fr; }
    """
    # rows matter here, not columns: Home and End go to the first and the last post
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First post", show=False),
        Binding("end", "scroll_bottom", "Last post", show=False),
    ]

    def __init__(self, tz: tzinfo, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.tz = tz
        self.views: dict[str, PostViewLike] = {}
        self.loaded_filter: object = None
        self.complete = True

    def on_mount(self) -> None:
        for key, title, width in COLUMNS:
            self.add_column(title, key=key, width=width)

    def show_page(
        self, page: PostsPage, pending: dict[tuple[str, str], str | None], *, keep_cursor: bool
    ) -> None:
        """Replace the rows with ``page`` (offset 0) or append it (a later page)."""
        selected = self.selected_key() if keep_cursor else None
        if page.offset == 0:
            self.clear()
            self.views = {}
        for view in page.rows:
            key = post_key(view.post.platform, view.post.post_id)
            if key in self.views:
                continue
            self.views[key] = view
            self.add_row(*self._cells(view, pending), key=key)
        self.loaded_filter = page.filter
        self.complete = page.complete
        if selected is not None and selected in self.views:
            self.move_cursor(row=self.get_row_index(selected))

    def _cells(
        self, view: PostViewLike, pending: dict[tuple[str, str], str | None]
    ) -> list[str | Text]:
        p = view.post
        is_pending = (p.platform, p.post_id) in pending
        label = pending[(p.platform, p.post_id)] if is_pending else view.label
        if is_pending and label is None:
            label = view.model_label
        corrected = view.corrected if not is_pending else label is not None
        conf = "" if view.confidence is None or is_pending else f"{view.confidence * 100:.0f}%"
        if corrected and not is_pending:
            conf = "you"
        text = p.text or (f"(repost of {p.reposted_post})" if p.reposted_post else "(no text)")
        # Text, not str: DataTable reads a str as markup ("[/b]" in a post would break it, and
        # parsing 200 rows of it is a good part of the first frame)
        return [
            plain(p.created_at.astimezone(self.tz).strftime("%m-%d %H:%M")),
            plain(p.platform),
            label_cell(label, corrected, is_pending),
            plain(conf),
            plain(one_line(text, 200)),
            plain(one_line(view.reason or "", 200)),
        ]

    def redraw_post(self, key: str, pending: dict[tuple[str, str], str | None]) -> None:
        """Show a post's label as the user just set it (before or after it is stored)."""
        view = self.views.get(key)
        if view is None:
            return
        for (col, _, _), value in zip(COLUMNS, self._cells(view, pending), strict=True):
            self.update_cell(key, col, value)

    def replace_view(self, key: str, view: PostViewLike) -> None:
        self.views[key] = view

    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return str(row_key.value) if row_key.value is not None else None

    def selected_view(self) -> PostViewLike | None:
        key = self.selected_key()
        return self.views.get(key) if key else None

    def selected_post_id(self) -> tuple[str, str] | None:
        key = self.selected_key()
        return split_post_key(key) if key else None

    def near_end(self) -> bool:
        return self.row_count - self.cursor_row <= 20


def reason_line(view: PostViewLike | None) -> Text:
    """The selected post's reason, under the table (the Reason column is off screen at 80
    columns)."""
    t = Text(no_wrap=True, overflow="ellipsis")
    if view is None:
        return t
    if view.corrected:
        t.append("your correction", style="bold")
        t.append(f"; the model said {view.model_label or 'nothing'}: ", style="dim")
    else:
        t.append("why: ", style="bold")
    t.append(view.reason or "no reason recorded")
    return t


class PostsPanel(Vertical):
    """The table plus one line with the selected post's reason."""

    DEFAULT_CSS = """
    PostsPanel #post-reason { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, tz: tzinfo, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.tz = tz

    def compose(self) -> ComposeResult:
        yield PostsTable(self.tz)
        yield Static(id="post-reason")

    def show_reason(self, view: PostViewLike | None) -> None:
        self.query_one("#post-reason", Static).update(reason_line(view))
