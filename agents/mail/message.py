"""The email a visitor gets: the new agent replies of its conversation, the space's name and
a link back to the page where it chatted; a text part and an HTML part, in English or
French. Pure: no I/O, no clock (``now`` is given).

No image, no tracking pixel, no remote content: the only link is the page the visitor was on.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import urlsplit

__all__ = ["Reply", "ReplyMail", "build", "language_of", "safe_link"]

TEXTS = {
    "en": {
        "subject_one": "{space}: a reply to your message",
        "subject_many": "{space}: {n} replies to your message",
        "hello": "Hello,",
        "intro_one": "You have a new reply from {space} to your message:",
        "intro_many": "You have {n} new replies from {space} to your message:",
        "link": "Continue the conversation where you left it:",
        "open": "Continue the conversation",
        "why": "You get this email because you left your address in the chat of {space}.",
    },
    "fr": {
        "subject_one": "{space} : une réponse à votre message",
        "subject_many": "{space} : {n} réponses à votre message",
        "hello": "Bonjour,",
        "intro_one": "Vous avez une nouvelle réponse de {space} à votre message :",
        "intro_many": "Vous avez {n} nouvelles réponses de {space} à votre message :",
        "link": "Poursuivez la conversation là où vous l'avez laissée :",
        "open": "Poursuivre la conversation",
        "why": "Vous recevez cet e-mail car vous avez laissé votre adresse dans la discussion "
        "de {space}.",
    },
}


@dataclass(frozen=True, slots=True)
class Reply:
    author: str | None  # the agent's name
    body: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReplyMail:
    sender: str  # CAUSETTE_MAIL_FROM
    to: str
    space_name: str
    replies: tuple[Reply, ...]
    link: str | None  # the page of the conversation
    language: str = "en"


def language_of(locale: str | None) -> str:
    """``fr-CA`` → fr; anything else → en."""
    return "fr" if (locale or "").lower()[:2] == "fr" else "en"


def safe_link(url: str | None) -> str | None:
    """An http(s) URL to put in an email as it is, or None."""
    if not url or len(url) > 2048 or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _texts(mail: ReplyMail) -> tuple[dict[str, str], dict[str, str | int]]:
    words = TEXTS.get(mail.language, TEXTS["en"])
    return words, {"space": _one_line(mail.space_name), "n": len(mail.replies)}


def _plain(mail: ReplyMail) -> str:
    words, values = _texts(mail)
    many = len(mail.replies) > 1
    lines = [words["hello"], "", words["intro_many" if many else "intro_one"].format(**values)]
    for reply in mail.replies:
        author = _one_line(reply.author or mail.space_name)
        lines += ["", f"{author}, {_stamp(reply.at)}:"]
        lines += ["  " + line for line in reply.body.splitlines() or [""]]
    if mail.link:
        lines += ["", words["link"], mail.link]
    lines += ["", "-- ", words["why"].format(**values)]
    return "\n".join(lines) + "\n"


def _html(mail: ReplyMail) -> str:
    words, values = _texts(mail)
    esc = html.escape
    many = len(mail.replies) > 1
    parts = [
        f'<!doctype html><html lang="{mail.language}"><head><meta charset="utf-8">',
        f"<title>{esc(words['subject_many' if many else 'subject_one'].format(**values))}</title>",
        '</head><body style="font-family:sans-serif;line-height:1.5;color:#1d1d1f">',
        f"<p>{esc(words['hello'])}</p>",
        f"<p>{esc(words['intro_many' if many else 'intro_one'].format(**values))}</p>",
    ]
    for reply in mail.replies:
        author = _one_line(reply.author or mail.space_name)
        parts.append(
            f"<p><strong>{esc(author)}</strong>, {esc(_stamp(reply.at))}</p>"
            '<blockquote style="margin:0 0 1em;padding:.5em 1em;border-left:3px solid #ccc;'
            f'white-space:pre-wrap">{esc(reply.body)}</blockquote>'
        )
    if mail.link:
        parts.append(f'<p><a href="{esc(mail.link, quote=True)}">{esc(words["open"])}</a></p>')
    parts.append(f'<p style="color:#6e6e73;font-size:small">{esc(words["why"].format(**values))}')
    parts.append("</p></body></html>")
    return "".join(parts)


def build(mail: ReplyMail, now: datetime) -> EmailMessage:
    words, values = _texts(mail)
    many = len(mail.replies) > 1
    msg = EmailMessage()
    msg["From"] = mail.sender
    msg["To"] = mail.to
    msg["Subject"] = words["subject_many" if many else "subject_one"].format(**values)
    msg["Date"] = format_datetime(now)
    domain = parseaddr(mail.sender)[1].rpartition("@")[2] or None
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office answers back
    msg.set_content(_plain(mail))
    msg.add_alternative(_html(mail), subtype="html")
    return msg
