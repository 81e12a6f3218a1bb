"""Pure text helpers shared by connectors, importers and the classifier."""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser
from urllib.parse import urlsplit

# Look-alike letters seen in real posting-app names ("Tweetbot for iΟS" with a Greek Omicron).
_CONFUSABLES = str.maketrans(
    {
        "Α": "A",
        "Β": "B",
        "Ε": "E",
        "Ζ": "Z",
        "Η": "H",
        "Ι": "I",
        "Κ": "K",
        "Μ": "M",
        "Ν": "N",
        "Ο": "O",
        "Ρ": "P",
        "Τ": "T",
        "Υ": "Y",
        "Χ": "X",
        "ο": "o",
        "α": "a",
        "ν": "v",
        "ρ": "p",
        "А": "A",
        "В": "B",
        "Е": "E",
        "К": "K",
        "М": "M",
        "Н": "H",
        "О": "O",
        "Р": "P",
        "С": "C",
        "Т": "T",
        "Х": "X",
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "х": "x",
        "у": "y",
        "і": "i",
        "ӏ": "l",
        "\u00a0": " ",
        "\u200b": "",
        "\u200c": "",
        "\u200d": "",
        "\ufeff": "",
    }
)

_ANCHOR = re.compile(r"<a\b[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def normalise_app_name(name: str | None) -> str | None:
    """A posting app's name, cleaned: HTML anchor removed, look-alikes folded, spaces squeezed."""
    if not name:
        return None
    m = _ANCHOR.search(name)
    if m:
        name = m.group(1)
    name = html.unescape(_TAG.sub("", name))
    name = unicodedata.normalize("NFKC", name).translate(_CONFUSABLES)
    name = _SPACES.sub(" ", name).strip()
    return name or None


def app_key(name: str | None) -> str:
    """The case-insensitive key under which an app name is matched against lists."""
    return (normalise_app_name(name) or "").casefold()


class _HTMLToText(HTMLParser):
    """Mastodon status HTML to plain text: paragraphs and <br> become newlines, invisible link
    parts are dropped, entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._span_stack: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")
        elif tag == "span":
            classes = (dict(attrs).get("class") or "").split()
            invisible = "invisible" in classes
            self._span_stack.append(invisible)
            if invisible:
                self._skip_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._span_stack and self._span_stack.pop():
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._skip_depth == 0:
            self.parts.append(data)


def html_to_text(content: str | None) -> str:
    """Plain text of Mastodon/ActivityPub HTML content. Text without tags is returned unescaped."""
    if not content:
        return ""
    if "<" not in content:
        return html.unescape(content).strip()
    parser = _HTMLToText()
    parser.feed(content)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def url_domain(url: str) -> str:
    """Host of a URL without ``www.``, lower-case ("" when there is none)."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    host = host.lower()
    return host[4:] if host.startswith("www.") else host
