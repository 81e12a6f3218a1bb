"""engage report: every format (HTML parsed, JSON checked against its schema), the automation
alert, a failed --fetch, --out, and e-mail through a local SMTP server."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from engage import report
from engage.config import load_config
from engage.errors import ConnectorError
from engage.store import open_store
from tests.goals_support import build_db, make_mention, make_post, write_config

NOW = datetime.now(UTC)
YESTERDAY_NOON = (NOW - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)


def _db(tmp_path: Path) -> Path:
    posts = []
    for n in range(40):
        t = YESTERDAY_NOON - timedelta(days=n)
        posts.append((make_post(t, reply_to_user="ana@social.example", kind="reply"), "answer"))
        posts.append(
            (make_post(t + timedelta(hours=1), text="What do you use for <forms>?"), "ask")
        )
        for k in range(3):
            posts.append(
                (
                    make_post(
                        t + timedelta(hours=2, minutes=k),
                        "x",
                        client="dlvr.it",
                        urls=["https://blog.example/post"],
                        text="New post: https://blog.example/post",
                    ),
                    "auto_promo",
                )
            )
    mentions = [make_mention(NOW - timedelta(hours=2), "ben@hachyderm.example", text="@me why?")]
    return build_db(tmp_path / "r.duckdb", posts, mentions)


def _build(db: Path, **kw: Any) -> dict[str, Any]:
    with open_store(db, read_only=True) as store:
        return report.build_report(store, load_config(), now=NOW, **kw)


def test_json_report_matches_its_schema_and_the_story(tmp_path: Path) -> None:
    data = _build(_db(tmp_path))
    jsonschema.validate(data, report.schema())
    text = report.render(data, "json")
    assert json.loads(text) == data
    assert data["date"] == (NOW - timedelta(days=1)).date().isoformat()
    assert data["goal"] == {"min": 2, "target": 3}
    assert data["genuine"]["count"] == 2 and data["status"] == "met"
    assert data["genuine"]["by_label"] == {"ask": 1, "answer": 1, "comment": 0}
    assert data["genuine"]["people"] == ["@ana"]
    assert data["streak_days"] == 40 and data["rolling_7d"] == 14
    assert data["ratio_7d"] == pytest.approx(0.4) and data["ratio_30d"] == pytest.approx(0.4)
    assert data["labels_7d"]["auto_promo"] == 21 and data["by_platform"]["x"]["ratio"] == 0
    auto = data["automation"]
    assert auto["alert"] and auto["share_7d"] == pytest.approx(0.6)
    assert auto["apps"][0]["app"] == "dlvr.it" and auto["apps"][0]["known_automation"]
    assert auto["recycled_links"][0] == {
        **auto["recycled_links"][0],
        "url": "https://blog.example/post",
        "posts": 90,
    }
    assert data["waiting"]["count"] == 1 and data["waiting"]["items"][0]["question"]
    assert data["suggestions"][0]["kind"] == "answer"
    assert 2 <= len(data["suggestions"]) <= 3
    # the schema really checks: a missing field or a wrong status is refused
    broken = dict(data, status="great")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, report.schema())
    del broken["status"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, report.schema())


def test_text_and_markdown_reports(tmp_path: Path) -> None:
    data = _build(_db(tmp_path))
    text = report.render(data, "text")
    assert "2 genuine interactions (goal 2-3): goal met. Streak: 40 days." in text
    assert "AUTOMATION ALERT" in text and "dlvr.it [automation]" in text
    assert "90x https://blog.example/post" in text
    spark = report.sparkline([p["ratio"] for p in data["series_30d"]])
    assert len(spark) == 30 and spark in text
    assert "Answer @ben's question on Mastodon" in text
    md = report.render(data, "markdown")
    assert md.startswith("# engage daily report")
    assert "## AUTOMATION ALERT" in md and f"`{spark}`" in md
    assert "| platform | auto_promo | share | ask | answer | comment |" in md
    assert report.sparkline([0.0, 0.5, 1.0, None]) == "▁▅█·"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "line", "rect", "polyline"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("line", "rect", "polyline"):
            return
        assert self.open and self.open[-1] == tag, (self.open, tag)
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_report_is_self_contained_and_well_formed(tmp_path: Path) -> None:
    data = _build(_db(tmp_path))
    page = report.render(data, "html")
    parser = _Collect()
    parser.feed(page)
    parser.close()
    assert parser.open == []  # every element closed in order
    tags = [t for t, _ in parser.tags]
    assert "svg" in tags and tags.count("rect") == 60 and "polyline" in tags
    assert "script" not in tags and "img" not in tags and "link" not in tags
    ids = {a.get("id") for _, a in parser.tags}
    assert {"headline", "counted", "chart", "mix", "automation", "waiting", "suggestions"} <= ids
    assert any(t == "section" and a.get("class") == "alert" for t, a in parser.tags)
    text = "".join(parser.text)
    assert "What do you use for <forms>?" in text  # escaped in the page, intact as text
    assert "<forms>" not in page
    for _, attrs in parser.tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            assert key == "href" or value is None  # links to posts only, no fetched assets


def test_report_cli_formats_out_and_date(tmp_path: Path, engage_home: Path, run_cli: Any) -> None:
    db = _db(tmp_path)
    out = tmp_path / "out" / "report.html"
    r = run_cli("--db", str(db), "report", "--format", "html", "--out", str(out))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "" and out.read_text().startswith("<!DOCTYPE html>")
    day = (NOW - timedelta(days=3)).date().isoformat()
    r = run_cli("--db", str(db), "report", "--date", day, "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["date"] == day
    r = run_cli("--db", str(db), "report", "--date", "nope")
    assert r.exit_code == 2 and "YYYY-MM-DD" in r.stderr
    r = run_cli("--db", str(db), "report")
    assert r.stdout.startswith("engage daily report")


def test_report_fetch_failure_is_reported_and_the_report_still_written(
    tmp_path: Path, engage_home: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _db(tmp_path)

    def broken_fetch(*a: Any, **kw: Any) -> Any:
        raise ConnectorError("mastodon.example refused the token; run 'engage account add' again")

    monkeypatch.setattr("engage.fetch.fetch_accounts", broken_fetch)
    out = tmp_path / "r.json"
    r = run_cli("--db", str(db), "report", "--fetch", "--format", "json", "--out", str(out))
    assert r.exit_code == 4
    assert "fetch failed" in r.stderr
    data = json.loads(out.read_text())
    jsonschema.validate(data, report.schema())
    assert data["fetch"] == {"ran": True, "ok": False, "error": data["fetch"]["error"]}
    assert "refused the token" in data["fetch"]["error"]
    r = run_cli("--db", str(db), "report", "--fetch")
    assert "Fetch FAILED: mastodon.example refused the token" in r.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_report_by_email_through_a_local_smtp_server(
    tmp_path: Path, engage_home: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    received: list[Any] = []
    logins: list[tuple[bytes, bytes]] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret-pw")

    port = _free_port()
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        write_config(
            engage_home,
            '[smtp]\nenabled = true\nhost = "127.0.0.1"\n'
            f'port = {port}\nstarttls = false\nusername = "pat"\n'
            'password_env = "MY_SMTP_PW"\nfrom_addr = "engage@example.org"\n'
            'to_addr = "pat@example.org"\n',
        )
        db = _db(tmp_path)
        monkeypatch.setenv("MY_SMTP_PW", "s3cret-pw")
        r = run_cli("--db", str(db), "report", "--out", str(tmp_path / "r.txt"))
        assert r.exit_code == 0, r.stderr
        assert len(received) == 1
        env = received[0]
        assert env.mail_from == "engage@example.org" and env.rcpt_tos == ["pat@example.org"]
        body = env.content.decode()
        assert "Subject: engage: 2/3 genuine interactions on" in body
        assert "text/plain" in body and "text/html" in body
        assert logins == [(b"pat", b"s3cret-pw")]
        # no password in the environment: a clear config error naming the variable
        monkeypatch.delenv("MY_SMTP_PW")
        r = run_cli("--db", str(db), "report", "--no-email")
        assert r.exit_code == 0 and len(received) == 1
        r = run_cli("--db", str(db), "report")
        assert r.exit_code == 2 and "MY_SMTP_PW" in r.stderr
        # a server that is not there: the report is still written, one line, exit 1
        monkeypatch.setenv("MY_SMTP_PW", "s3cret-pw")
        cfg = (engage_home / "config.toml").read_text()
        (engage_home / "config.toml").write_text(cfg.replace(str(port), str(_free_port())))
        r = run_cli("--db", str(db), "report", "--out", str(tmp_path / "r2.txt"))
        assert r.exit_code == 1 and (tmp_path / "r2.txt").exists()
        assert "could not send the report through 127.0.0.1" in r.stderr
        assert "s3cret-pw" not in r.stderr + r.stdout
    finally:
        controller.stop()
