"""Email for visitors who left: agent replies reach a visitor who gave its address and has
had no chat open for its space's delay, through a persisted outbox that one node at a time
sends from, never in the way of the chat.

``outbox.py`` owns the table; ``listener.py`` hears the relay (replies, visitor sockets);
``worker.py`` claims and sends; ``draft.py`` reads what to say, ``message.py`` writes it
(pure), ``smtp.py`` sends it. ``Mail`` puts them together for the lifespan.
"""

from __future__ import annotations

import uuid

from agents.mail.listener import MailListener
from agents.mail.outbox import Outbox
from agents.mail.smtp import SmtpServer
from agents.mail.worker import MailWorker
from chat.context import AppContext

__all__ = ["Mail", "Outbox"]


class Mail:
    def __init__(self, listener: MailListener, worker: MailWorker) -> None:
        self.listener = listener
        self.worker = worker

    @classmethod
    def build(cls, ctx: AppContext) -> Mail | None:
        """None when no SMTP server is configured: nothing listens, nothing is queued."""
        settings = ctx.settings
        if not settings.smtp_url or not settings.mail_from:
            return None
        server = SmtpServer.from_url(
            settings.smtp_url,
            ca_file=settings.smtp_ca_file,
            timeout=settings.smtp_timeout_seconds,
        )
        outbox = Outbox(ctx.db)
        listener = MailListener(ctx.db, ctx.hub, outbox, uuid.uuid4().hex)
        worker = MailWorker(
            ctx.db,
            outbox,
            listener,
            server,
            settings.mail_from,
            retry=settings.email_retry_seconds,
            max_attempts=settings.email_max_attempts,
        )
        ctx.relay.listeners.append(listener)  # email listens to the relay, never the reverse
        ctx.relay.visitor_listeners.append(listener)
        return cls(listener, worker)

    async def start(self) -> None:
        await self.listener.start()
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.listener.stop()
