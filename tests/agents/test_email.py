"""Email for visitors who left, against a real SMTP server on loopback (aiosmtpd, in a thread
of this process) and a real causette server on each backend.

The SMTP server speaks STARTTLS with a certificate made here (openssl), requires AUTH over
TLS, and refuses a recipient when a test says so (a 4xx once, a 5xx for good). The delay
rule (nothing while the visitor has a socket open, at most one email per N minutes, 0: at
once), the retries, what agents see of a failure, and what the logs never say. Then the
sender alone: implicit TLS, a plain relay, a certificate it must not trust; the message
alone; and two nodes claiming one email.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy.ext.asyncio import create_async_engine

from agents.mail.message import Reply, ReplyMail, build
from agents.mail.outbox import Claimed, Outbox
from agents.mail.smtp import DeliveryFailed, SmtpServer, send
from agents.models import email_outbox
from chat.clock import as_utc, utcnow
from chat.db import Database
from chat.models import conversations
from chat.spaces import update_space
from tests.agents.consoleclient import ConsoleAgent, space_with_agents
from tests.clirun import causette
from tests.conftest import BACKENDS, running_server
from tests.servers import ServerProcess, free_port
from tests.wsclient import ChatClient, visitor_token

SMTP_USER = "causette"
SMTP_PASSWORD = "s3cret-smtp-pass"
MAIL_FROM = "Shoe Shop <chat@shoes.example>"
PAGE = "https://shoes.example/boots?size=38"


# -- a real SMTP server ---------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    to: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


class Mailbox:
    """The SMTP server's handler: what it received, and the answers it owes to whom."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.received: list[Received] = []
        self._refusals: dict[str, list[str]] = {}

    def refuse(self, address: str, *answers: str) -> None:
        """Answer these to the next RCPT TO of ``address``, one each, then accept it."""
        with self._cond:
            self._refusals[address] = list(answers)

    def to(self, address: str) -> list[Received]:
        with self._cond:
            return [r for r in self.received if address in r.to]

    async def wait_for(self, address: str, count: int = 1, timeout: float = 20.0) -> list[Received]:
        """The emails to ``address`` once there are ``count``: a bounded wait on the
        handler's condition, woken by each delivery."""

        def wait() -> bool:
            with self._cond:
                return self._cond.wait_for(lambda: len(self.to(address)) >= count, timeout)

        if not await asyncio.to_thread(wait):
            raise AssertionError(f"{len(self.to(address))} emails to {address}, not {count}")
        return self.to(address)

    # aiosmtpd's hooks (they run on the server's thread)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        with self._cond:
            answers = self._refusals.get(address)
            if answers:
                return answers.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if session.auth_data else None
        tls = bool(session.ssl) or server.transport.get_extra_info("sslcontext") is not None
        with self._cond:
            self.received.append(Received(list(envelope.rcpt_tos), message, tls, login))
            self._cond.notify_all()
        return "250 Message accepted"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (SMTP_USER, SMTP_PASSWORD)
    return AuthResult(success=ok, auth_data=auth_data if ok else None)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert, key)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _server_tls(certificate: tuple[Path, Path]) -> Any:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


@contextlib.contextmanager
def smtp_server(handler: Mailbox, **options: Any) -> Iterator[int]:
    """aiosmtpd on a free loopback port, in a thread of its own: its port."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def mailbox(certificate: tuple[Path, Path]) -> Iterator[tuple[Mailbox, int]]:
    """A STARTTLS server that takes AUTH only once encrypted: (its handler, its port)."""
    handler = Mailbox()
    with smtp_server(
        handler,
        server_hostname="localhost",
        tls_context=_server_tls(certificate),
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    ) as port:
        yield handler, port


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mailbox: tuple[Mailbox, int],
    certificate: tuple[Path, Path],
) -> Iterator[ServerProcess]:
    env = {
        "CAUSETTE_SMTP_URL": f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{mailbox[1]}",
        "CAUSETTE_MAIL_FROM": MAIL_FROM,
        "CAUSETTE_SMTP_CA_FILE": str(certificate[0]),
        "CAUSETTE_EMAIL_RETRY_SECONDS": "0.2",
        "CAUSETTE_EMAIL_MAX_ATTEMPTS": "3",
    }
    tmp = tmp_path_factory.mktemp(f"email-{request.param}")
    with running_server(request.param, tmp, env) as s:
        yield s


# -- helpers ----------------------------------------------------------------------------------


def _address() -> str:
    return f"bea-{uuid.uuid4().hex[:8]}@visitors.example"


async def _visitor(server: ServerProcess, space: str, address: str) -> tuple[ChatClient, str]:
    """A visitor on the page who leaves its address and a question: (socket, conversation);
    ``socket.hello_token`` opens another of its sockets."""
    token = await visitor_token(server.base_url, space)
    client = await ChatClient.connect(server.ws_url, "/ws/visitor", token["token"])
    await client.send({"type": "context", "url": PAGE, "locale": "en-GB", "title": "Boots"})
    await client.send({"type": "contact", "name": "Bea", "email": address})
    ack = await client.say("Do you ship to Lyon?")  # frames are taken in order: all stored
    return client, str(ack["conversation_id"])


async def _back(server: ServerProcess, visitor: ChatClient) -> ChatClient:
    return await ChatClient.connect(server.ws_url, "/ws/visitor", visitor.hello_token)


async def _delay(server: ServerProcess, space: str, minutes: int) -> None:
    db = Database(server.database_url)
    try:
        await update_space(db, space, name=None, origins=None, email_delay_minutes=minutes)
    finally:
        await db.dispose()


async def _rows(server: ServerProcess, conversation_id: str) -> list[sa.Row[Any]]:
    engine = create_async_engine(server.database_url)
    try:
        async with engine.connect() as conn:
            query = (
                sa.select(email_outbox)
                .where(email_outbox.c.conversation_id == conversation_id)
                .order_by(email_outbox.c.id)
            )
            return list((await conn.execute(query)).all())
    finally:
        await engine.dispose()


async def _shift(server: ServerProcess, conversation_id: str, **columns: datetime) -> None:
    """What the passing of time would do to the conversation's emails (behind the server's
    back, as a clock would): set these columns on its rows that have them."""
    engine = create_async_engine(server.database_url)
    try:
        async with engine.begin() as conn:
            for name, value in columns.items():
                column = email_outbox.c[name]
                await conn.execute(
                    email_outbox.update()
                    .where(email_outbox.c.conversation_id == conversation_id, column.is_not(None))
                    .values({name: value})
                )
    finally:
        await engine.dispose()


async def _until(
    check: Callable[[], Awaitable[list[sa.Row[Any]]]],
    ok: Callable[[list[sa.Row[Any]]], bool],
    timeout: float = 20.0,
) -> list[sa.Row[Any]]:
    """Poll another process's database until ``ok``: there is no event to await across it."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await check()
        if ok(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {rows}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _space(server: ServerProcess, minutes: int) -> AsyncIterator[tuple[str, ConsoleAgent]]:
    async with space_with_agents(server, "relation") as (space, [agent]):
        await _delay(server, space, minutes)
        yield space, agent


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()  # type: ignore[attr-defined]


# -- the server ---------------------------------------------------------------------------------


async def test_replies_reach_a_visitor_who_left_in_one_email_over_starttls(
    server: ServerProcess, mailbox: tuple[Mailbox, int]
) -> None:
    inbox, _ = mailbox
    address = _address()
    async with space_with_agents(server, "relation") as (space, [agent]):
        cli = await causette(
            "space", "update", space, "--email-delay-minutes", "0",
            database_url=server.database_url,
        )  # fmt: skip
        assert cli.code == 0, cli.output
        visitor, conv = await _visitor(server, space, address)
        await visitor.close()
        socket = await agent.socket()
        await socket.say("Yes, in 2 days <b>for free</b>.", conversation_id=conv)
        await socket.say("Anything else?", conversation_id=conv)  # within the same email

        [got] = await inbox.wait_for(address)
        assert got.tls and got.login == SMTP_USER  # STARTTLS, then AUTH
        message = got.message
        assert message["To"] == address and message["From"] == MAIL_FROM
        assert space.title() in message["Subject"] and "2 replies" in message["Subject"]
        assert message["Auto-Submitted"] == "auto-generated"
        text, html = _parts(message)
        for part in (text, html):
            assert PAGE in part
            assert "Anything else?" in part and space.title() in part
        assert "Yes, in 2 days <b>for free</b>." in text
        assert "&lt;b&gt;for free&lt;/b&gt;" in html  # the agent's text, never markup
        assert "<img" not in html.lower() and "src=" not in html.lower()  # no pixel

        rows = await _until(lambda: _rows(server, conv), lambda r: r[-1].status == "sent")
        assert [r.status for r in rows] == ["sent"] and rows[0].attempts == 1
        detail = await agent.ok("GET", f"/api/conversations/{conv}")
        assert detail["email"]["status"] == "sent" and detail["email"]["error"] is None
        assert len(inbox.to(address)) == 1


async def test_nothing_is_sent_while_the_visitor_has_a_socket_open(
    server: ServerProcess, mailbox: tuple[Mailbox, int]
) -> None:
    inbox, _ = mailbox
    address = _address()
    async with _space(server, minutes=0) as (space, agent):
        visitor, conv = await _visitor(server, space, address)
        socket = await agent.socket()
        await socket.say("Let me check.", conversation_id=conv)
        await visitor.expect("message", conversation_id=conv, seq=2)
        # held by the node that has the socket, past the moment it was due
        rows = await _until(lambda: _rows(server, conv), lambda r: bool(r))
        [row] = rows
        assert row.status == "pending" and row.held_until is not None
        assert as_utc(row.held_until) > as_utc(row.due_at)

        await visitor.close()  # away: due at once (a delay of 0)
        [got] = await inbox.wait_for(address)
        assert "Let me check." in _parts(got.message)[0]

        # a visitor who reads the reply in the chat gets no email for it
        again = await _back(server, visitor)
        await socket.say("Found it: size 38 is back.", conversation_id=conv)
        frame = await again.expect(
            "message", conversation_id=conv, body="Found it: size 38 is back."
        )
        await again.send({"type": "read", "conversation_id": conv, "seq": frame["seq"]})
        await socket.expect("read", conversation_id=conv, seq=frame["seq"])
        await again.close()
        await _until(lambda: _rows(server, conv), lambda r: r[-1].status == "skipped")
        assert len(inbox.to(address)) == 1


async def test_at_most_one_email_per_delay(
    server: ServerProcess, mailbox: tuple[Mailbox, int]
) -> None:
    inbox, _ = mailbox
    address = _address()
    async with _space(server, minutes=1) as (space, agent):
        visitor, conv = await _visitor(server, space, address)
        await visitor.close()
        socket = await agent.socket()
        await socket.say("First.", conversation_id=conv)
        [row] = await _until(lambda: _rows(server, conv), lambda r: bool(r))
        assert as_utc(row.due_at) - as_utc(row.created_at) >= timedelta(seconds=59)
        assert not inbox.to(address)

        await _shift(server, conv, due_at=utcnow())  # a minute went by
        await socket.say("Second.", conversation_id=conv)  # the worker looks again
        [first] = await inbox.wait_for(address)
        assert "First." in _parts(first.message)[0] and "Second." in _parts(first.message)[0]
        sent = await _until(lambda: _rows(server, conv), lambda r: r[-1].status == "sent")
        sent_at = as_utc(sent[-1].sent_at)

        await socket.say("Third.", conversation_id=conv)
        await _until(lambda: _rows(server, conv), lambda r: r[-1].status == "pending")
        await _shift(server, conv, due_at=utcnow())  # due, but the last email is too recent
        await socket.say("Fourth.", conversation_id=conv)
        await _until(
            lambda: _rows(server, conv),
            lambda r: (
                r[-1].status == "pending"
                and as_utc(r[-1].due_at) >= sent_at + timedelta(seconds=59)
            ),
        )
        assert len(inbox.to(address)) == 1

        await _shift(server, conv, sent_at=sent_at - timedelta(minutes=1), due_at=utcnow())
        await socket.say("Fifth.", conversation_id=conv)
        [_, second] = await inbox.wait_for(address, count=2)
        text = _parts(second.message)[0]
        assert "First." not in text and all(w in text for w in ("Third.", "Fourth.", "Fifth."))
        assert "3 replies" in second.message["Subject"]


async def test_a_refused_first_try_is_tried_again_and_arrives_once(
    server: ServerProcess, mailbox: tuple[Mailbox, int]
) -> None:
    inbox, _ = mailbox
    address = _address()
    inbox.refuse(address, "451 4.7.1 Greylisted, try again later")
    async with _space(server, minutes=0) as (space, agent):
        visitor, conv = await _visitor(server, space, address)
        await visitor.close()
        socket = await agent.socket()
        await socket.say("Your parcel left today.", conversation_id=conv)
        await inbox.wait_for(address)
        rows = await _until(lambda: _rows(server, conv), lambda r: r[-1].status == "sent")
        assert [(r.status, r.attempts) for r in rows] == [("sent", 2)]
        assert len(inbox.to(address)) == 1

    logs = server.logs()
    assert '"email_retry"' in logs and "451" in logs
    assert SMTP_PASSWORD not in logs
    for line in logs.splitlines():
        if '"causette.mail"' in line:
            assert address not in line and "Your parcel" not in line


async def test_a_failed_email_is_shown_to_the_agent(
    server: ServerProcess, mailbox: tuple[Mailbox, int]
) -> None:
    inbox, _ = mailbox
    refused, busy = _address(), _address()
    inbox.refuse(refused, f"550 5.1.1 <{refused}>: no such user")
    inbox.refuse(busy, *["452 4.2.2 Mailbox full"] * 3)  # every try (3)
    async with _space(server, minutes=0) as (space, agent):
        socket = await agent.socket()
        convs = []
        for address in (refused, busy):
            visitor, conv = await _visitor(server, space, address)
            await visitor.close()
            await socket.say("We have news.", conversation_id=conv)
            convs.append(conv)
        shown = []
        for conv, attempts, code in ((convs[0], 1, "550"), (convs[1], 3, "452")):
            await _until(lambda c=conv: _rows(server, c), lambda r: r[-1].status == "failed")
            email = (await agent.ok("GET", f"/api/conversations/{conv}"))["email"]
            assert email["status"] == "failed" and email["attempts"] == attempts
            assert email["error"].startswith(code)
            shown.append(email["error"])
        # the server's words, its addresses masked
        assert "no such user" in shown[0] and refused.split("@")[0] not in shown[0]
    assert not inbox.to(refused) and not inbox.to(busy)


async def test_two_nodes_claim_one_email_once(server: ServerProcess) -> None:
    async with _space(server, minutes=0) as (space, _):
        token = await visitor_token(server.base_url, space)
        visitor = await ChatClient.connect(server.ws_url, "/ws/visitor", token["token"])
        conv = str((await visitor.say("Hello?"))["conversation_id"])
        await visitor.close()
        nodes = [Database(server.database_url), Database(server.database_url)]
        try:
            async with nodes[0].read() as conn:
                space_id = (
                    await conn.execute(
                        sa.select(conversations.c.space_id).where(conversations.c.id == conv)
                    )
                ).scalar_one()
            later = utcnow() + timedelta(days=1)  # the server's own worker leaves it alone
            a, b = Outbox(nodes[0]), Outbox(nodes[1])
            held = ("c", later + timedelta(minutes=1))  # node c has a socket of the visitor
            assert await a.queue(conv, space_id, utcnow(), later, held)
            assert not await b.queue(conv, space_id, utcnow(), later)  # one waits already
            lease = timedelta(minutes=5)

            async def ours(*claims: list[Claimed]) -> list[Claimed]:
                """This test's claims; any other test's email goes back to the server."""
                mine = [c for got in claims for c in got if c.conversation_id == conv]
                for other in (c for got in claims for c in got if c.conversation_id != conv):
                    await a.again(other.id, utcnow(), utcnow())
                return mine

            assert not await ours(await a.claim("a", later + timedelta(seconds=1), lease))  # held
            soon = later + timedelta(minutes=2)
            won = await asyncio.gather(a.claim("a", soon, lease), b.claim("b", soon, lease))
            [claimed] = await ours(*won)  # one node only
            await a.skipped(claimed.id, "test", utcnow())
        finally:
            for db in nodes:
                await db.dispose()


# -- the sender alone ----------------------------------------------------------------------------


def _message(to: str) -> EmailMessage:
    mail = ReplyMail(MAIL_FROM, to, "Shoe Shop", (Reply("Ada", "Hello", utcnow()),), PAGE)
    return build(mail, utcnow())


async def test_implicit_tls_a_plain_relay_and_an_untrusted_certificate(
    certificate: tuple[Path, Path],
) -> None:
    inbox = Mailbox()
    to = _address()
    with smtp_server(
        inbox, server_hostname="localhost", ssl_context=_server_tls(certificate)
    ) as port:
        smtps = SmtpServer.from_url(f"smtps://127.0.0.1:{port}", ca_file=certificate[0])
        await send(smtps, _message(to))
        [got] = await inbox.wait_for(to)
        assert got.tls
        with pytest.raises(DeliveryFailed) as untrusted:  # the system's CAs do not know it
            await send(SmtpServer.from_url(f"smtps://127.0.0.1:{port}", timeout=5), _message(to))
        assert not untrusted.value.permanent

    relay = Mailbox()
    with smtp_server(relay, server_hostname="localhost") as port:  # no STARTTLS offered
        await send(SmtpServer.from_url(f"smtp://127.0.0.1:{port}"), _message(to))
        [got] = await relay.wait_for(to)
        assert not got.tls
        relay.refuse(to, "554 5.7.1 Relay access denied")
        with pytest.raises(DeliveryFailed) as refused:
            await send(SmtpServer.from_url(f"smtp://127.0.0.1:{port}"), _message(to))
        assert refused.value.permanent and refused.value.reason.startswith("554")

    with pytest.raises(DeliveryFailed) as closed:  # nobody listens there any more
        await send(SmtpServer.from_url(f"smtp://127.0.0.1:{port}", timeout=5), _message(to))
    assert not closed.value.permanent


def test_the_message_has_text_and_html_parts_and_no_markup_from_users() -> None:
    at = datetime(2026, 11, 24, 14, 5, tzinfo=UTC)
    mail = ReplyMail(
        MAIL_FROM,
        "bea@visitors.example",
        "Boutique <Lyon>",
        (Reply("Zoé", "Line one\n<script>x()</script>", at), Reply(None, "Bye", at)),
        PAGE,
        language="fr",
    )
    message = build(mail, at)
    assert message["Subject"] == "Boutique <Lyon> : 2 réponses à votre message"
    text, html = _parts(message)
    assert "Zoé, 2026-11-24 14:05 UTC:\n  Line one\n  <script>x()</script>" in text
    assert "Boutique <Lyon>, 2026-11-24 14:05 UTC:\n  Bye" in text  # no agent name: the space
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="https://shoes.example/boots?size=38"' in html
    assert "<img" not in html and "Poursuivre la conversation" in html

    from agents.mail.message import safe_link

    assert safe_link("javascript:alert(1)") is None and safe_link("https://a.example/ x") is None
    assert safe_link(PAGE) == PAGE
