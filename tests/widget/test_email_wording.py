"""What the widget promises a visitor when no agent is online: a reply by email only where
the server can send one (SMTP configured, told by the space's status), otherwise a reply in
the chat; in English and in French."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import new_database
from tests.inproc import inprocess_app

WIDGET = Path(__file__).resolve().parents[2] / "widget" / "widget.js"
SMTP = {"smtp_url": "smtp://127.0.0.1:9", "mail_from": "Shop <chat@shop.example>"}


@pytest.mark.parametrize(("settings", "by_email"), [({}, False), (SMTP, True)])
async def test_the_status_says_whether_replies_go_by_email(
    tmp_path: Path, settings: dict[str, str], by_email: bool
) -> None:
    with new_database("sqlite", tmp_path) as url:
        async with inprocess_app(url, **settings) as app:
            status = await app.http.get("/api/spaces/default/status")
            assert status.status_code == 200, status.text
            assert status.json()["email_replies"] is by_email


def _strings(language: str) -> dict[str, str]:
    source = WIDGET.read_text(encoding="utf-8")
    block = source.split(f"\n    {language}: {{\n", 1)[1].split("\n    },", 1)[0]
    return dict(re.findall(r'^\s+(\w+): "((?:[^"\\]|\\.)*)",$', block, re.M))


@pytest.mark.parametrize(
    ("language", "mail", "here"), [("en", "email", "here"), ("fr", "e-mail", "ici")]
)
def test_the_offline_wording_matches_what_the_server_can_do(
    language: str, mail: str, here: str
) -> None:
    strings = _strings(language)
    for key in ("away", "awayShort", "thanks"):
        assert mail in strings[key].lower() or "{email}" in strings[key], (key, strings[key])
        assert mail not in strings[f"{key}Here"].lower(), strings[f"{key}Here"]
        assert here in strings[f"{key}Here"], strings[f"{key}Here"]
    source = WIDGET.read_text(encoding="utf-8")
    assert 'options.email_replies ? key : key + "Here"' in source
    for key in ("away", "awayShort", "thanks"):
        assert f'byEmail("{key}")' in source  # every promise goes through the server's answer
