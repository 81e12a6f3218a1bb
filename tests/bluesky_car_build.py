"""Build small Bluesky repository CAR files for the tests: DAG-CBOR encoding (with CID links,
which libipld cannot encode), CIDv1 (dag-cbor, sha2-256), a hand-built Merkle Search Tree and the
CAR v1 framing. Not a full repo implementation: the MST layout here is valid for reading (sorted
keys, prefix-compressed, left and right subtrees), not the layout a PDS would pick."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import libipld


class Link(bytes):
    """A CID link (encoded as CBOR tag 42)."""


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    if n < 0x100:
        return bytes([major << 5 | 24, n])
    if n < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    if n < 0x100000000:
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    return bytes([major << 5 | 27]) + struct.pack(">Q", n)


def dag_cbor(value: Any) -> bytes:
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, Link):
        body = b"\x00" + bytes(value)
        return b"\xd8\x2a" + _head(2, len(body)) + body
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _head(3, len(data)) + data
    if isinstance(value, Sequence):
        return _head(4, len(value)) + b"".join(dag_cbor(v) for v in value)
    if isinstance(value, Mapping):
        items = sorted(
            ((k.encode("utf-8"), v) for k, v in value.items()), key=lambda kv: (len(kv[0]), kv[0])
        )
        return _head(5, len(items)) + b"".join(_head(3, len(k)) + k + dag_cbor(v) for k, v in items)
    raise TypeError(f"cannot encode {type(value).__name__}")


def cid_of(block: bytes) -> Link:
    return Link(b"\x01\x71\x12\x20" + hashlib.sha256(block).digest())


def cid_str(cid: bytes) -> str:
    return str(libipld.encode_cid(bytes(cid)))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def car_bytes(root: bytes, blocks: Sequence[tuple[bytes, bytes]]) -> bytes:
    header = dag_cbor({"version": 1, "roots": [Link(root)]})
    out = bytearray(_varint(len(header)) + header)
    for cid, data in blocks:
        out += _varint(len(cid) + len(data)) + bytes(cid) + data
    return bytes(out)


@dataclass
class Repo:
    """A repository of ``records`` ({"app.bsky.feed.post/<rkey>": record}) as a CAR file."""

    did: str
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 3
    #: leave these keys' blocks out: "commit", "mst-root", "mst-child", or a record key
    drop: set[str] = field(default_factory=set)

    def car(self) -> bytes:
        blocks: list[tuple[str, bytes, bytes]] = []  # (what, cid, data)

        def put(what: str, value: Any) -> Link:
            data = dag_cbor(value)
            cid = cid_of(data)
            blocks.append((what, cid, data))
            return cid

        keys = sorted(self.records)
        values = {k: put(k, self.records[k]) for k in keys}

        def node(entry_keys: list[str], left: Link | None, rights: dict[str, Link]) -> dict:
            entries = []
            previous = b""
            for k in entry_keys:
                kb = k.encode()
                p = 0
                while p < min(len(kb), len(previous)) and kb[p] == previous[p]:
                    p += 1
                entries.append({"p": p, "k": kb[p:], "v": values[k], "t": rights.get(k)})
                previous = kb
            return {"l": left, "e": entries}

        # Two levels: every third key goes to the root, the keys between them into subtrees
        # (the first run as the root's left subtree, the others as right subtrees of entries).
        top = keys[1::3]
        runs: list[list[str]] = [[]]
        for k in keys:
            if k in top:
                runs.append([])
            else:
                runs[-1].append(k)
        left = put("mst-child", node(runs[0], None, {})) if runs[0] else None
        rights = {}
        for k, run in zip(top, runs[1:], strict=True):
            if run:
                rights[k] = put("mst-child", node(run, None, {}))
        root = put("mst-root", node(top, left, rights))
        commit: dict[str, Any] = {
            "did": self.did,
            "version": self.version,
            "data": root,
            "prev": None,
            "sig": b"\x11" * 64,
        }
        if self.version == 3:
            commit["rev"] = "3lxyzabc2222a"
        commit_cid = put("commit", commit)
        kept = [(cid, data) for what, cid, data in blocks if what not in self.drop]
        return car_bytes(commit_cid, kept)
