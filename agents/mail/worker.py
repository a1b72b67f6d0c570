"""The outbox's worker, one per node, started by the lifespan: it sleeps until the next email
is due (or one is queued here, or 30 seconds pass: another node may have queued one), claims
the ready ones, and sends each in the background of the chat.

Before sending it looks again: a visitor back on this node keeps its email waiting; an email
sent to the conversation less than the space's delay ago makes this one wait for the rest;
nothing new to say (the visitor read the replies, or has no address now) skips it. A 4xx,
a timeout or a connection that fails is tried again after ``retry`` seconds, doubling each
time, up to ``max_attempts`` tries; a 5xx, or the last try failing, ends it ``failed``, which
agents see on the conversation. Logs say which conversation and the recipient's domain,
never a body, an address or a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from datetime import timedelta

from agents.mail.draft import draft
from agents.mail.listener import HOLD, MailListener
from agents.mail.message import ReplyMail, build
from agents.mail.outbox import Claimed, Outbox
from agents.mail.smtp import DeliveryFailed, SmtpServer, send
from chat.clock import utcnow
from chat.db import Database, is_outage
from chat.logging import get_logger

__all__ = ["MailWorker"]

log = get_logger("causette.mail")

IDLE = 30.0  # seconds: the longest sleep, for emails other nodes queue
PAUSE = 5.0  # seconds after the database failed
BATCH = 10  # emails claimed (and sent side by side) at once


class MailWorker:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        listener: MailListener,
        server: SmtpServer,
        sender: str,
        *,
        retry: float,
        max_attempts: int,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.listener = listener
        self.server = server
        self.sender = sender
        self.retry = retry
        self.max_attempts = max_attempts
        self.lease = timedelta(seconds=max(300.0, 10 * server.timeout))
        self._tls: ssl.SSLContext | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._tls = await asyncio.to_thread(self.server.tls_context)
        self._task = asyncio.create_task(self._run(), name="email-worker")
        log.info("email_worker_started", server=self.server.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        wake = self.listener.queued
        while True:
            wake.clear()
            try:
                rows = await self.outbox.claim(self.listener.node, utcnow(), self.lease, BATCH)
                if rows:
                    await asyncio.gather(*(self._deliver(row) for row in rows))
                    continue
                after = await self.outbox.next_ready(utcnow())
                pause = IDLE if after is None else (after - utcnow()).total_seconds()
                pause = min(IDLE, max(0.05, pause))
            except Exception as exc:  # the sender outlives any one failure: it tries later
                if is_outage(exc):
                    log.warning("email_outbox_unavailable", error=type(exc).__name__)
                else:
                    log.exception("email_worker_failed")
                pause = PAUSE
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), pause)

    async def _deliver(self, row: Claimed) -> None:
        try:
            await self._try(row)
        except Exception as exc:  # the row stays claimed: it is ready again past its lease
            if not is_outage(exc):
                log.exception("email_failed_unexpectedly", conversation_id=row.conversation_id)
            else:
                log.warning("email_outbox_unavailable", error=type(exc).__name__)

    async def _try(self, row: Claimed) -> None:
        now = utcnow()
        last = await self.outbox.last_sent(row.conversation_id)
        news = await draft(self.db, row.conversation_id, last[1] if last else 0)
        if news is None:
            return await self.outbox.skipped(row.id, "the conversation is gone", now)
        if self.listener.present(news.visitor_id):  # back, on this node: it reads them there
            held = (self.listener.node, now + HOLD)
            return await self.outbox.again(row.id, now, now, held=held)
        spacing = timedelta(minutes=news.delay_minutes)
        if last is not None and last[0] + spacing > now:  # one email per delay, at most
            return await self.outbox.again(row.id, now, last[0] + spacing)
        if not news.email:
            return await self.outbox.skipped(row.id, "no address", now)
        if not news.replies:
            return await self.outbox.skipped(row.id, "nothing unread", now)
        context = {"conversation_id": row.conversation_id, "to_domain": _domain(news.email)}
        attempt = row.attempts + 1
        try:
            message = build(
                ReplyMail(
                    sender=self.sender,
                    to=news.email,
                    space_name=news.space_name,
                    replies=news.replies,
                    link=news.link,
                    language=news.language,
                ),
                now,
            )
        except ValueError:  # an address the email package refuses: no try will do
            log.warning("email_failed", reason="invalid_address", **context)
            return await self.outbox.failed(row.id, "invalid address", now, attempt)
        try:
            await send(self.server, message, self._tls)
        except DeliveryFailed as exc:
            if exc.permanent or attempt >= self.max_attempts:
                log.warning("email_failed", reason=exc.reason, attempts=attempt, **context)
                return await self.outbox.failed(row.id, exc.reason, utcnow(), attempt)
            wait = self.retry * 2 ** (attempt - 1)
            log.info("email_retry", reason=exc.reason, attempts=attempt, wait=wait, **context)
            later = utcnow() + timedelta(seconds=wait)
            return await self.outbox.again(
                row.id, utcnow(), later, reason=exc.reason, attempts=attempt
            )
        await self.outbox.sent(row.id, news.last_seq, utcnow(), attempt)
        log.info("email_sent", replies=len(news.replies), attempts=attempt, **context)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()
