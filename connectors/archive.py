"""Reading files inside an export, whatever it came in (zip, tar/tar.gz, unpacked folder), and
streaming the large JSON arrays they hold without loading them whole.

``ExportFiles`` lists and opens the files of an export by their path inside it (``data/tweets.js``,
``outbox.json``). ``JSONStream`` reads JSON from a text stream piece by piece with the standard
library's C decoder (``JSONDecoder.raw_decode``): a 100,000-tweet ``tweets.js`` is read one tweet at
a time, so memory stays flat whatever the size of the export. Every problem is an
``ImportFormatError`` that names the export, the file inside it and the line.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from engage.errors import ImportFormatError

# 19 digits or more after a JSON delimiter: an integer that may lie beyond 64 bits, which orjson
# reads as a float without a word (json.loads keeps it exact). Digits inside a string can match
# as well, which only costs the slower decoder.
_LONG_INT_TEXT = re.compile(r"[\[:,\s-][0-9]{19}")
_LONG_INT_BYTES = re.compile(rb"[\[:,\s-][0-9]{19}")


def loads_exact(data: str | bytes) -> Any:
    """``orjson.loads``, or ``json.loads`` when ``data`` may hold an integer past 64 bits."""
    if may_hold_long_int(data):
        return json.loads(data)
    return orjson.loads(data)


def may_hold_long_int(data: str | bytes, start: int = 0, end: int | None = None) -> bool:
    """Whether ``data[start:end]`` may hold an integer past 64 bits (see ``loads_exact``)."""
    end = len(data) if end is None else end
    if isinstance(data, bytes):
        return _LONG_INT_BYTES.search(data, start, end) is not None
    return _LONG_INT_TEXT.search(data, start, end) is not None


# Errors that mean "the container or its compressed data is damaged".
CONTAINER_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    EOFError,
    UnicodeDecodeError,
)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"


def container_type(path: Path) -> str | None:
    """The container at ``path``: "dir", "zip" or "tar" (plain or compressed), else None.
    Cheap: looks at the first bytes only."""
    if path.is_dir():
        return "dir"
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        head = fh.read(512)
    if head[:4] in _ZIP_MAGIC:
        return "zip"
    if head[:2] == _GZIP_MAGIC or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return "tar"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


class ExportFiles:
    """The files of one export by their path inside it ("data/tweets.js"), read-only.

    A tar archive is scanned once when opened (``scan_limit`` caps how many members, for cheap
    detection); its members are then read by seeking in the archive.
    """

    def __init__(self, path: Path, *, scan_limit: int | None = None) -> None:
        self.path = Path(path)
        self.type = container_type(self.path)
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, Any] = {}
        try:
            if self.type == "dir":
                root = self.path
                for p in sorted(root.rglob("*")):
                    if p.is_file():
                        self._members[p.relative_to(root).as_posix()] = p
            elif self.type == "zip":
                self._zip = zipfile.ZipFile(self.path)
                for info in self._zip.infolist():
                    if not info.is_dir():
                        self._members[info.filename.lstrip("/")] = info
            elif self.type == "tar":
                self._tar = tarfile.open(self.path, "r:*")  # noqa: SIM115 (closed in close())
                for n, member in enumerate(self._tar):
                    if member.isfile():
                        self._members[member.name.lstrip("./")] = member
                    if scan_limit is not None and n + 1 >= scan_limit:
                        break
            else:
                raise ImportFormatError(
                    f"{self.path}: not a zip, tar.gz or folder; give the export you downloaded"
                )
        except CONTAINER_ERRORS as exc:
            self.close()
            kind = "zip" if self.type == "zip" else "tar archive"
            raise ImportFormatError(
                f"{self.path}: damaged or truncated {kind} ({_short(exc)}); "
                "download the export again"
            ) from None
        except OSError as exc:
            self.close()
            raise ImportFormatError(
                f"{self.path}: cannot read it ({exc.strerror or exc})"
            ) from None

    def __enter__(self) -> ExportFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        if self._tar is not None:
            self._tar.close()
            self._tar = None

    @property
    def names(self) -> list[str]:
        return list(self._members)

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def size(self, name: str) -> int:
        m = self._members[name]
        if isinstance(m, Path):
            return m.stat().st_size
        if isinstance(m, zipfile.ZipInfo):
            return m.file_size
        return int(m.size)

    def stamp(self, name: str) -> str:
        """Size, CRC or mtime of one member: what changes when the file does."""
        m = self._members[name]
        if isinstance(m, Path):
            st = m.stat()
            return f"{st.st_size}:{st.st_mtime_ns}"
        if isinstance(m, zipfile.ZipInfo):
            return f"{m.file_size}:{m.CRC:08x}"
        return f"{m.size}:{m.mtime}:{m.chksum}"

    def tail(self, name: str, n: int = 64) -> bytes | None:
        """The last ``n`` bytes of a member of an unpacked folder (None inside a zip or tar,
        where a cut-off member shows as a damaged archive instead)."""
        m = self._members[name]
        if not isinstance(m, Path):
            return None
        with m.open("rb") as fh:
            size = fh.seek(0, io.SEEK_END)
            fh.seek(max(0, size - n))
            return fh.read()

    def check_ends_with(self, name: str, closers: bytes) -> None:
        """Reject a file of an unpacked folder that was cut off (its last non-blank byte is
        not one of ``closers``) before anything of it is imported."""
        tail = self.tail(name)
        if tail is None:
            return
        last = tail.rstrip(b" \t\r\n;")[-1:]
        if last not in [closers[i : i + 1] for i in range(len(closers))] or not last:
            raise ImportFormatError(
                f"{self.path}: {name} is truncated (it does not end with "
                f"{' or '.join(repr(chr(c)) for c in closers)}); download the export again"
            )

    @contextmanager
    def open_binary(self, name: str) -> Iterator[IO[bytes]]:
        m = self._members[name]
        if isinstance(m, Path):
            with m.open("rb") as fh:
                yield fh
        elif self._zip is not None:
            with self._zip.open(m) as zfh:
                yield zfh
        else:
            assert self._tar is not None
            tfh = self._tar.extractfile(m)
            if tfh is None:
                raise ImportFormatError(f"{self.path}: {name} is not a regular file")
            with tfh:
                yield tfh

    @contextmanager
    def open_text(self, name: str) -> Iterator[IO[str]]:
        """The member as UTF-8 text (a byte-order mark is dropped)."""
        with self.open_binary(name) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            try:
                yield text
            finally:
                text.detach()

    def read_text(self, name: str) -> str:
        try:
            with self.open_text(name) as fh:
                return fh.read()
        except CONTAINER_ERRORS as exc:
            raise ImportFormatError(
                f"{self.path}: {name} cannot be read ({_short(exc)}); download the export again"
            ) from None

    def load_json(self, name: str) -> Any:
        """A small JSON file of the export, whole (``actor.json``), or a ``window.YTD.* = ...``
        file of an X archive, whose prefix is dropped."""
        text = self.read_text(name)
        body = text
        stripped = text.lstrip()
        if stripped.startswith("window."):
            eq = stripped.find("=")
            if eq < 0:
                raise ImportFormatError(f"{self.path}: {name} has no '=' after {stripped[:30]!r}")
            body = stripped[eq + 1 :].rstrip().rstrip(";")
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(
                f"{self.path}: {name} is not valid JSON (line {exc.lineno}: {exc.msg})"
            ) from None


_NO: Any = object()  # "no value" marker of JSONStream._pretty_value


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


class JSONStream:
    """JSON values read one by one from a text stream.

    Large arrays are consumed element by element (``iter_array``); everything else (``value``)
    is decoded whole. The buffer holds at most a few chunks, whatever the file's size.
    """

    CHUNK = 1 << 20
    #: the longest element (in characters) cut out for orjson; longer ones use ``json``
    PRETTY_LIMIT = 1 << 16
    #: a decode error this far before the end of the buffer is a real error, not a value that
    #: continues in the next chunk
    MARGIN = 1 << 18

    def __init__(self, fh: IO[str], where: str) -> None:
        self._fh = fh
        self.where = where  # "<export>: <member>" for messages
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._lines_before = 0  # newlines in the part of the file already dropped from _buf
        self._decode = json.JSONDecoder().raw_decode
        # iter_array_chunks: the text, first line and element closer of the last list, and
        # whether orjson refused the last span
        self._chunk: tuple[str, int, str] | None = None
        self._chunk_data = b""  # the text of the last list, UTF-8
        self._refused = False

    # -- buffer ----------------------------------------------------------------------------

    def _fill(self) -> bool:
        """Read another chunk; False at the end of the file."""
        if self._eof:
            return False
        try:
            chunk = self._fh.read(self.CHUNK)
        except CONTAINER_ERRORS as exc:
            raise self.error(f"cannot be read ({_short(exc)}); download the export again") from None
        if not chunk:
            self._eof = True
            return False
        if self._pos > 0:
            self._lines_before += self._buf.count("\n", 0, self._pos)
            self._buf = self._buf[self._pos :] + chunk
            self._pos = 0
        else:
            self._buf += chunk
        return True

    def line(self, pos: int | None = None) -> int:
        pos = self._pos if pos is None else pos
        return self._lines_before + self._buf.count("\n", 0, pos) + 1

    def error(self, message: str, pos: int | None = None) -> ImportFormatError:
        return ImportFormatError(f"{self.where}: {message} (line {self.line(pos)})")

    def skip_ws(self) -> None:
        buf = self._buf
        while True:
            n = len(buf)
            pos = self._pos
            while pos < n and buf[pos] in " \t\r\n":
                pos += 1
            self._pos = pos
            if pos < n or not self._fill():
                return
            buf = self._buf

    def peek(self) -> str:
        """The next non-blank character ("" at the end of the file)."""
        self.skip_ws()
        return self._buf[self._pos] if self._pos < len(self._buf) else ""

    def expect(self, char: str, what: str) -> None:
        got = self.peek()
        if got != char:
            found = repr(got) if got else "the end of the file"
            raise self.error(f"malformed JSON: expected {what} but found {found}")
        self._pos += 1

    def skip_past(self, char: str, what: str, limit: int = 4096) -> str:
        """Skip to just after the next ``char`` (within ``limit`` characters) and return what
        came before it."""
        while True:
            i = self._buf.find(char, self._pos, self._pos + limit)
            if i >= 0:
                before = self._buf[self._pos : i]
                self._pos = i + 1
                return before
            if len(self._buf) - self._pos >= limit or not self._fill():
                raise self.error(f"not an export file: no {what} found")

    def at_end(self) -> bool:
        return self.peek() == ""

    # -- values ----------------------------------------------------------------------------

    def _pretty_value(self) -> Any:
        """The next value decoded with orjson when the file is pretty-printed, else ``_NO``.

        In pretty-printed JSON an object that opens a line at indentation ``I`` is closed by the
        first ``"\n" + I + "}"`` after it (a string cannot hold a raw newline), so the element's
        text can be cut out without parsing and handed to orjson, several times faster than
        the standard decoder. Anything else (compact files, odd layouts, what orjson refuses)
        goes the standard way, so the result is always the same as ``json``'s."""
        buf = self._buf
        pos = self._pos
        opener = buf[pos : pos + 1]
        if opener not in ("{", "["):
            return _NO
        nl = buf.rfind("\n", 0, pos)
        indent = buf[nl + 1 : pos]
        if nl < 0 or (indent and not indent.isspace()):
            return _NO
        closer = "\n" + indent + ("}" if opener == "{" else "]")
        end = buf.find(closer, pos, pos + self.PRETTY_LIMIT)
        if end < 0:
            return _NO
        end += len(closer)
        if may_hold_long_int(buf, pos, end):
            return _NO  # the standard decoder reads it exactly
        try:
            obj = orjson.loads(buf[pos:end])
        except orjson.JSONDecodeError:
            return _NO
        self._pos = end
        return obj

    def value(self) -> Any:
        """The next JSON value, whole."""
        self.skip_ws()
        obj = self._pretty_value()
        if obj is not _NO:
            return obj
        while True:
            try:
                obj, end = self._decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                # An unterminated string, or an error close to the end of what is buffered, may
                # only mean the value goes on in the next chunk.
                unterminated = exc.msg.startswith("Unterminated string")
                if (unterminated or exc.pos >= len(self._buf) - self.MARGIN) and self._fill():
                    continue
                if self._eof and (unterminated or exc.pos >= len(self._buf.rstrip())):
                    raise self.error("truncated: the file ends in the middle of a value") from None
                raise self.error(f"malformed JSON: {exc.msg}", exc.pos) from None
            if len(self._buf) - end < 64 and not self._eof and self._fill():
                continue  # a number may go on in the next chunk ("1.5" of "1.5e-3")
            self._pos = end
            return obj

    def iter_array(self) -> Iterator[Any]:
        """Elements of the array that starts here, one at a time."""
        self.expect("[", "'['")
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            yield self.value()
            if not self._next_item():
                return

    def iter_array_chunks(self) -> Iterator[list[Any]]:
        """Elements of the array that starts here, several at a time: the same values, in the
        same order, as ``iter_array``, in lists.

        In a pretty-printed file every element closes with ``"\\n" + indent + "}"``, so all the
        whole elements in the buffer (about a ``CHUNK``) can be cut out together and decoded by
        one ``orjson`` call, wrapped in brackets: far fewer calls and no per-element Python work
        (a 100,000-tweet archive is read in about 150 calls). A span orjson refuses (a malformed
        file, values only ``json`` takes) is read again element by element, which gives the
        exact values and errors of ``iter_array``. ``chunk_item_line(k)`` is the line where the
        ``k``-th element (0-based) of the last list ends, for messages about one element."""
        self.expect("[", "'['")
        self._chunk = None
        slow = 0  # elements still to read one by one after orjson refused a span
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            items = None if slow else self._pretty_chunk()
            if items is None:
                slow = slow - 1 if slow else (1000 if self._refused else 0)
                start_line = self.line()
                text_start = self._pos
                items = [self.value()]
                self._chunk = (self._buf[text_start : self._pos], start_line, "")
            yield items
            if not self._next_item():
                return
            self.skip_ws()

    def _next_item(self) -> bool:
        """After an element of an array: True past a ``,`` (another element follows), False past
        the closing ``]``; anything else is a truncated or malformed file."""
        c = self.peek()
        if c == ",":
            self._pos += 1
            return True
        if c == "]":
            self._pos += 1
            return False
        if c == "":
            raise self.error("truncated: the file ends inside the list of items")
        raise self.error(f"malformed JSON: expected ',' or ']' but found {c!r}")

    def _pretty_chunk(self) -> list[Any] | None:
        """The whole pretty-printed elements from here to the end of the buffer (see
        ``iter_array_chunks``), or None when that layout is not found here or orjson refuses
        the span (the caller then reads one element the standard way)."""
        self._refused = False
        buf = self._buf
        pos = self._pos
        if buf[pos : pos + 1] != "{":
            return None
        nl = buf.rfind("\n", 0, pos)
        indent = buf[nl + 1 : pos]
        if nl < 0 or (indent and not indent.isspace()):
            return None
        closer = "\n" + indent + "}"
        while True:
            end = buf.rfind(closer, pos)
            if end >= 0 and end + len(closer) < len(buf):  # what follows it is buffered too
                break
            if not self._fill():
                return None
            buf = self._buf
            pos = self._pos
        end += len(closer)
        text = buf[pos:end]
        try:
            data = text.encode()  # once: orjson reads it, and chunk_item_bodies cuts it
            if may_hold_long_int(data):
                raise ValueError("an integer that orjson would read as a float")
            items = orjson.loads(b"[" + data + b"]")
        except (ValueError, UnicodeEncodeError):  # orjson.JSONDecodeError is a ValueError
            self._refused = True
            return None
        self._chunk = (text, self.line(pos), closer)
        self._chunk_data = data
        self._pos = end
        return items

    def chunk_item_bodies(self) -> list[bytes] | None:
        """The text (UTF-8) of each element of the last list of ``iter_array_chunks`` as the
        file has it (indented), up to its closing ``}`` (left out); None when the list was read
        element by element."""
        if self._chunk is None or not self._chunk[2]:
            return None
        closer = self._chunk[2]
        parts = self._chunk_data.split((closer + ",").encode())
        parts[-1] = parts[-1][: -len(closer)]
        return parts

    def chunk_item_line(self, k: int) -> int:
        """The line where element ``k`` (0-based) of the last list of ``iter_array_chunks``
        ends."""
        if self._chunk is None:
            return self.line()
        text, first_line, closer = self._chunk
        end = len(text) - 1
        if closer:
            at = 0
            for _ in range(k + 1):
                found = text.find(closer, at)
                if found < 0:
                    break
                end = found + len(closer) - 1
                at = end + 1
        return first_line + text.count("\n", 0, end)

    def iter_object(self) -> Iterator[str]:
        """Keys of the object that starts here; after each key, the caller must consume its
        value (``value()`` or ``iter_array()``) before asking for the next key."""
        self.expect("{", "'{'")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self.error("malformed JSON: expected a key in double quotes")
            key = self.value()
            self.expect(":", "':'")
            yield key
            c = self.peek()
            if c == ",":
                self._pos += 1
                continue
            if c == "}":
                self._pos += 1
                return
            if c == "":
                raise self.error("truncated: the file ends inside an object")
            raise self.error(f"malformed JSON: expected ',' or '}}' but found {c!r}")
