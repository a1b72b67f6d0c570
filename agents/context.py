"""What the console adds to a running server: its sessions, its router, its campaign
feed and its webhooks, opened by the lifespan beside the core's AppContext and reaching
every console handler as ``Call.console``."""

from __future__ import annotations

from dataclasses import dataclass

from agents.apikeys import ApiKeys
from agents.campaigns.feed import CampaignFeed
from agents.csat import CsatListener
from agents.mail import Mail
from agents.privacy import Privacy
from agents.routing import Router
from agents.session import Sessions
from agents.webhooks import Webhooks
from chat.context import AppContext

__all__ = ["ConsoleContext"]


@dataclass(slots=True)
class ConsoleContext:
    sessions: Sessions
    router: Router
    campaigns: CampaignFeed
    privacy: Privacy
    keys: ApiKeys  # API keys: one lookup per request that carries one, no cache
    webhooks: Webhooks
    mail: Mail | None = None  # email to visitors who left, when SMTP is configured

    @classmethod
    def build(cls, ctx: AppContext, secret: str) -> ConsoleContext:
        settings = ctx.settings
        router = Router(
            ctx.db, ctx.store, ctx.relay, ctx.presence, grace=settings.agent_offline_grace_seconds
        )
        ctx.relay.listeners.append(router)  # routing listens to the relay, never the reverse
        feed = CampaignFeed(ctx.db, ctx.hub, ctx.store)
        events = ctx.store.outbox  # the core's, whose interest the webhooks keep
        csat = CsatListener(ctx.db, ctx.hub, goals=feed, outbox=events)
        ctx.relay.visitor_listeners += [feed, csat]
        privacy = Privacy.build(ctx.db, ctx.hub, settings, ctx.metrics, outbox=events)
        privacy.erasure.after.append(ctx.limits.forget_visitor)
        keys = ApiKeys.of(ctx.db, ctx.signer)
        ctx.metrics_guard = keys.guard("metrics:read")  # /metrics on the main port, with a key
        return cls(
            sessions=Sessions(secret, ttl=settings.session_ttl),
            router=router,
            campaigns=feed,
            privacy=privacy,
            keys=keys,
            webhooks=Webhooks(ctx),
            mail=Mail.build(ctx),
        )

    async def start(self) -> None:
        await self.webhooks.start()  # first: the interest is read before any traffic
        await self.router.start()
        await self.campaigns.start()
        await self.privacy.job.start()
        if self.mail is not None:
            await self.mail.start()

    async def stop(self) -> None:
        await self.privacy.job.stop()
        if self.mail is not None:
            await self.mail.stop()
        await self.campaigns.stop()
        await self.router.stop()
        await self.webhooks.stop()
