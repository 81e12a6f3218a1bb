"""The Bluesky repository export: a CAR file (``com.atproto.sync.getRepo``, or Settings > Export
my data in the app).

A CAR (v1) is a header naming the root block, then content-addressed blocks in DAG-CBOR. The root
is the signed commit (``did``, ``version`` 3, or 2 in older repos, ``data``: the root of the Merkle
Search Tree). The MST maps every record's key ``<collection>/<rkey>`` to the record's block; this
module walks it itself, so each record gets its collection and rkey and thus its AT-URI, the same
id the API connector gives it. Nodes are ``{"l": left subtree, "e": [entries]}``; an entry is
``{"p": bytes shared with the previous key, "k": the rest of the key, "v": the record, "t": the
subtree right of it}``. An in-order walk yields the keys sorted, which is the stable order the
import framework needs to resume.

Posts and reposts become ``Post`` records through ``connectors.bluesky.record_to_post``, the one
conversion the API connector uses too. The export has no handle: the account is the handle
engage has seen for the repository's DID (``engage account add bluesky``), else the DID.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import libipld

from connectors.base import Importer, Mention, Post
from connectors.bluesky import (
    OWN_COLLECTIONS,
    PLATFORM,
    cid_text,
    json_form,
    known_handle,
    record_to_post,
)
from engage.errors import ImportFormatError

log = logging.getLogger(__name__)

_MAX_HEADER = 1 << 16


def _read_varint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """An unsigned LEB128 varint at ``pos``: ``(value, position after it)``."""
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("bad varint")


def car_header(head: bytes) -> dict[str, Any] | None:
    """The CAR v1 header decoded from the first bytes of a file, or None if it is not one."""
    try:
        length, pos = _read_varint(head)
    except ValueError:
        return None
    if not 0 < length <= _MAX_HEADER or pos + length > len(head):
        return None
    try:
        header = libipld.decode_dag_cbor(head[pos : pos + length])
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("version") != 1:
        return None
    roots = header.get("roots")
    return header if isinstance(roots, list) else None


class Repository:
    """The decoded blocks of one repository CAR, its commit, and a walk of its MST."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImportFormatError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        if car_header(data[: _MAX_HEADER + 16]) is None:
            raise ImportFormatError(
                f"{path}: not a CAR file (no CAR v1 header); give the repository export "
                "(repo.car) from Bluesky's Settings > Export my data"
            )
        try:
            header, blocks = libipld.decode_car(data)
        except ValueError as exc:
            detail = str(exc).strip().rstrip(".")
            what = "truncated" if "end of data" in detail else "damaged"
            raise ImportFormatError(
                f"{path}: {what} CAR file ({detail}); download the repository export again"
            ) from None
        self.blocks: dict[bytes, Any] = blocks
        roots = header.get("roots") or []
        if not roots or not isinstance(roots[0], bytes):
            raise ImportFormatError(f"{path}: the CAR file names no root (commit) block")
        commit = blocks.get(roots[0])
        if commit is None:
            raise ImportFormatError(
                f"{path}: the commit block {self._cid(roots[0])} is missing; this is not a "
                "complete repository export"
            )
        if not isinstance(commit, dict) or not isinstance(commit.get("did"), str):
            raise ImportFormatError(f"{path}: the root block is not a repository commit")
        version = commit.get("version")
        if version not in (2, 3):
            raise ImportFormatError(
                f"{path}: repository commit version {version!r} is not supported (2 and 3 are)"
            )
        data_cid = commit.get("data")
        if not isinstance(data_cid, bytes):
            raise ImportFormatError(f"{path}: the commit has no data (MST root) link")
        self.did: str = commit["did"]
        self.version: int = int(version)
        self.rev: str | None = commit.get("rev") if isinstance(commit.get("rev"), str) else None
        self.mst_root: bytes = data_cid

    @staticmethod
    def _cid(cid: bytes) -> str:
        return cid_text(cid) or cid.hex()

    def _node(self, cid: bytes) -> dict[str, Any]:
        node = self.blocks.get(cid)
        if node is None:
            raise ImportFormatError(
                f"{self.path}: MST block {self._cid(cid)} is missing; this is not a complete "
                "repository export (download it again)"
            )
        if not isinstance(node, dict) or not isinstance(node.get("e"), list):
            raise ImportFormatError(f"{self.path}: block {self._cid(cid)} is not an MST node")
        return node

    def walk(self) -> Iterator[tuple[str, bytes]]:
        """Every ``(key, record CID)`` of the MST, keys in sorted order."""
        # An explicit stack (a deep tree must not hit Python's recursion limit): each item is a
        # node to expand, or a finished (key, cid) to yield.
        stack: list[tuple[str, Any]] = [("node", self.mst_root)]
        seen: set[bytes] = set()
        while stack:
            what, item = stack.pop()
            if what == "entry":
                yield item
                continue
            if item in seen:
                raise ImportFormatError(f"{self.path}: the MST has a cycle")
            seen.add(item)
            node = self._node(item)
            todo: list[tuple[str, Any]] = []
            if node.get("l") is not None:
                todo.append(("node", node["l"]))
            previous = b""
            for entry in node["e"]:
                try:
                    prefix = int(entry["p"])
                    suffix = entry["k"]
                    value = entry["v"]
                except (KeyError, TypeError, ValueError):
                    raise ImportFormatError(
                        f"{self.path}: malformed MST entry in block {self._cid(item)}"
                    ) from None
                if not isinstance(suffix, bytes) or not isinstance(value, bytes):
                    raise ImportFormatError(
                        f"{self.path}: malformed MST entry in block {self._cid(item)}"
                    )
                key = previous[:prefix] + suffix
                previous = key
                todo.append(("entry", (key.decode("utf-8", "replace"), value)))
                if entry.get("t") is not None:
                    todo.append(("node", entry["t"]))
            stack.extend(reversed(todo))

    def record(self, key: str, cid: bytes) -> Any:
        block = self.blocks.get(cid)
        if block is None:
            raise ImportFormatError(
                f"{self.path}: the block of record {key} ({self._cid(cid)}) is missing; this is "
                "not a complete repository export"
            )
        return block


class BlueskyCarImporter(Importer):
    """Posts and reposts of a Bluesky repository export (CAR, repo versions 3 and 2)."""

    kind: ClassVar[str] = "bluesky-car"
    platform: ClassVar[str] = PLATFORM

    def __init__(self, path: Path) -> None:
        super().__init__(Path(path))
        self._repo: Repository | None = None

    @classmethod
    def detect(cls, path: Path) -> bool:
        path = Path(path)
        if not path.is_file():
            return False
        if path.suffix.lower() == ".car":
            return True  # named like one: a broken one gets a clear error, not "unknown kind"
        with path.open("rb") as fh:
            head = fh.read(512)
        return car_header(head) is not None

    @property
    def repo(self) -> Repository:
        if self._repo is None:
            self._repo = Repository(self.path)
        return self._repo

    def account(self) -> str:
        did = self.repo.did
        return known_handle(did) or did

    def iter_items(self) -> Iterator[Post | Mention]:
        repo = self.repo
        handle = self.account()
        source = f"archive:{self.path.name}"
        for key, cid in repo.walk():
            collection, _, rkey = key.partition("/")
            if collection not in OWN_COLLECTIONS or not rkey:
                continue
            block = repo.record(key, cid)
            if not isinstance(block, Mapping):
                raise ImportFormatError(f"{self.path}: record {key} is not a DAG-CBOR map")
            record = json_form(block)
            try:
                post = record_to_post(
                    record,
                    did=repo.did,
                    handle=handle,
                    collection=collection,
                    rkey=rkey,
                    source=source,
                )
            except ValueError as exc:
                log.warning("%s: skipped record %s: %s", self.path, key, exc)
                continue
            if post is not None:
                yield post
