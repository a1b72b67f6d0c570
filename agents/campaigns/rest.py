"""``/api/campaigns``: marketing's and admins' campaigns, in their spaces only.

A ``relation`` agent is refused (403) on every route; a campaign of a space the caller is
not in is "not found" (404), exactly as one that does not exist. Every change is announced to
every node, which tells its widgets within the tick (agents/campaigns/feed.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints
from starlette.responses import Response

from agents.apikeys import agent_id_of
from agents.campaigns import reviews
from agents.campaigns.definition import Arm, Caps, Definition, Goal
from agents.campaigns.feed import announce
from agents.campaigns.results import campaign_results, results_csv, results_svg
from agents.campaigns.store import Campaign, CampaignStore
from agents.privacy import actor_of
from agents.rest import Body, Call, Op, Param
from agents.scopes import SESSION_ONLY
from agents.teams import space_id_of
from chat.audit import record
from chat.clock import as_utc
from chat.errors import InvalidRequest, NotAllowed
from chat.frames import wire

__all__ = ["OPS"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

EXAMPLE: dict[str, Any] = {
    "space": "online",
    "name": "Free delivery nudge",
    "arms": [
        {"key": "a", "weight": 1, "message": "Questions about delivery? We're here."},
        {
            "key": "b",
            "weight": 1,
            "message": "Free delivery today on orders over 30 €. Any question?",
            "buttons": ["Yes, a question", "No thanks"],
            "sender": "Ada",
        },
    ],
    "holdout": 0.1,
    "rules": {"all": [{"url": "https://shop.example/promo/*"}, {"time_on_page": 10}]},
    "goal": {"event": "checkout", "window_hours": 72},
}


class NewCampaign(Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [dict(EXAMPLE)]})

    space: str
    name: Name
    arms: Annotated[list[Arm], Field(min_length=1, max_length=10)]
    holdout: Annotated[float, Field(strict=True)] = 0.0
    rules: dict[str, Any] = Field(default_factory=lambda: {"all": []})
    goal: Goal
    secondary_goals: list[Goal] = Field(default_factory=list)
    caps: Caps = Field(default_factory=Caps)
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 0
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class CampaignChange(Body):
    """Any of a campaign's fields; a change of arms, holdout or rules once launched starts
    a new phase (counted apart); goals are fixed at launch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"holdout": 0.2, "rules": {"url": "/promo/*"}}]},
    )

    name: Name | None = None
    arms: Annotated[list[Arm], Field(min_length=1, max_length=10)] | None = None
    holdout: Annotated[float, Field(strict=True)] | None = None
    rules: dict[str, Any] | None = None
    goal: Goal | None = None
    secondary_goals: list[Goal] | None = None
    caps: Caps | None = None
    priority: Annotated[int, Field(ge=-1000, le=1000)] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


def _marketing(call: Call) -> None:
    if call.me.role not in ("admin", "marketing"):
        raise NotAllowed("Campaigns are for marketing and admin agents.")


def _store(call: Call) -> CampaignStore:
    return CampaignStore(call.ctx.db)


async def _campaign(call: Call) -> Campaign:
    _marketing(call)
    return await _store(call).get(call.path("campaign_id"), set(call.me.spaces))


def _view(call: Call, campaign: Campaign) -> dict[str, Any]:
    return campaign.view(call.me.spaces[campaign.space_id])


def _definition(values: dict[str, Any]) -> Definition:
    try:
        return Definition.model_validate(values)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        errors = getattr(exc, "errors", None)
        if callable(errors):
            first = errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise InvalidRequest(f"{where}: {first['msg']}") from None
        raise InvalidRequest(str(exc)) from None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidRequest("starts_at and ends_at carry a time zone (e.g. Z).")
    return as_utc(value)


async def create_campaign(call: Call) -> dict[str, Any]:
    _marketing(call)
    body: NewCampaign = call.body
    space_id = space_id_of(call.me, body.space)
    definition = _definition(
        {
            "arms": [a.model_dump() for a in body.arms],
            "holdout": body.holdout,
            "rules": body.rules,
            "goal": body.goal.as_json(),
            "secondary_goals": [g.as_json() for g in body.secondary_goals],
            "caps": body.caps.model_dump(),
        }
    )
    campaign = await _store(call).create(
        space_id,
        agent_id_of(call.me),  # None when made with an API key (the audit names it)
        name=body.name,
        priority=body.priority,
        starts_at=_utc(body.starts_at),
        ends_at=_utc(body.ends_at),
        definition=definition,
    )
    return _view(call, campaign)


async def list_campaigns(call: Call) -> dict[str, Any]:
    _marketing(call)
    key = call.query("space")
    ids = [space_id_of(call.me, key)] if key else sorted(call.me.spaces)
    found: list[Campaign] = []
    for space_id in ids:
        found.extend(await _store(call).of_space(space_id))
    return {"campaigns": [_view(call, c) for c in found]}


async def get_campaign(call: Call) -> dict[str, Any]:
    campaign = await _campaign(call)
    store = _store(call)
    return {
        **_view(call, campaign),
        "versions": await store.versions(campaign),
        "phases": await store.phases(campaign),
    }


async def update_campaign(call: Call) -> dict[str, Any]:
    campaign = await _campaign(call)
    body: CampaignChange = call.body
    given = body.model_fields_set
    changes: dict[str, Any] = {}
    for field in ("name", "priority"):
        if field in given and getattr(body, field) is not None:
            changes[field] = getattr(body, field)
    for field in ("starts_at", "ends_at"):
        if field in given:
            changes[field] = _utc(getattr(body, field))
    parts = {
        "arms": lambda v: [a.model_dump() for a in v],
        "holdout": lambda v: v,
        "rules": lambda v: v,
        "goal": lambda v: v.as_json(),
        "secondary_goals": lambda v: [g.as_json() for g in v],
        "caps": lambda v: v.model_dump(),
    }
    if any(f in given and getattr(body, f) is not None for f in parts):
        merged = dict(campaign.definition)
        for field, dump in parts.items():
            if field in given and getattr(body, field) is not None:
                merged[field] = dump(getattr(body, field))
        checked = _definition(merged).as_json()
        for field in parts:
            if field in given and getattr(body, field) is not None:
                changes[field] = checked[field]
    updated = await _store(call).update(campaign, agent_id_of(call.me), changes)
    if updated.version != campaign.version:
        announce(call.ctx.hub, campaign.space_id)
    return _view(call, updated)


async def _transition(call: Call, action: Literal["launch", "pause", "kill"]) -> dict[str, Any]:
    campaign = await _campaign(call)
    updated = await _store(call).transition(
        campaign, agent_id_of(call.me), action, actor=actor_of(call.request, call.me)
    )
    announce(call.ctx.hub, campaign.space_id)
    return _view(call, updated)


async def launch_campaign(call: Call) -> dict[str, Any]:
    return await _transition(call, "launch")


async def pause_campaign(call: Call) -> dict[str, Any]:
    return await _transition(call, "pause")


async def kill_campaign(call: Call) -> dict[str, Any]:
    return await _transition(call, "kill")


def _phase(call: Call, campaign: Campaign) -> int:
    raw = call.query("phase")
    if raw is None:
        return campaign.phase
    if not raw.isdigit() or not 1 <= int(raw) <= max(campaign.phase, 1):
        raise InvalidRequest(f"phase: 1 to {max(campaign.phase, 1)}")
    return int(raw)


async def _results(call: Call, campaign: Campaign) -> dict[str, Any]:
    phase = _phase(call, campaign)
    with_series = call.query("series", "false") in ("true", "1", "yes")
    results = await campaign_results(call.ctx.db, campaign, phase, series=with_series)
    tagged = await reviews.arm_tag_counts(call.ctx.db, campaign, phase)
    for arm in results["arms"]:
        arm["reviews"] = tagged.get(arm["key"], {})
    return results


async def get_results(call: Call) -> Any:
    campaign = await _campaign(call)
    results = await _results(call, campaign)
    if call.query("format") == "csv":
        name = f"campaign-{campaign.id[:8]}-phase-{results['phase']}.csv"
        return Response(
            results_csv(results),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )
    return results


async def get_results_chart(call: Call) -> Response:
    campaign = await _campaign(call)
    chart = call.path("chart")
    if chart not in ("rate", "lift"):
        raise InvalidRequest("chart: rate or lift")
    results = await campaign_results(call.ctx.db, campaign, _phase(call, campaign))
    return Response(results_svg(results, chart), media_type="image/svg+xml")


# -- transcript review ----------------------------------------------------------------------


class ReviewTags(Body):
    tags: Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=30)]


def _space(call: Call) -> str:
    _marketing(call)
    key = call.query("space")
    if not key:
        raise InvalidRequest("space: a space's key is required")
    return space_id_of(call.me, key)


async def get_review_tags(call: Call) -> dict[str, Any]:
    space_id = _space(call)
    return {"space": call.me.spaces[space_id], "tags": await reviews.tags_of(call.ctx.db, space_id)}


async def set_review_tags(call: Call) -> dict[str, Any]:
    space_id = _space(call)
    tags = await reviews.set_tags(call.ctx.db, space_id, call.body.tags)
    return {"space": call.me.spaces[space_id], "tags": tags}


async def list_transcripts(call: Call) -> dict[str, Any]:
    """A sample of an arm's conversations, or (``blind``) of every arm mixed, arm hidden."""
    campaign = await _campaign(call)
    phase = _phase(call, campaign)
    blind = call.query("blind", "false") in ("true", "1", "yes")
    arm = None if blind else call.query("arm")
    limit_text = call.query("limit", "20") or "20"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        raise InvalidRequest("limit: 1 to 100")
    picked = await reviews.sample(
        call.ctx.db, campaign, phase, arm=arm, limit=int(limit_text), reviewer=call.me.id
    )
    tags = await reviews.transcript_tags(call.ctx.db, campaign.id, [cid for cid, _ in picked])
    out = []
    for conversation_id, arm_key in picked:
        history = await call.ctx.store.messages_before(conversation_id, None, 200)
        item: dict[str, Any] = {
            "conversation_id": conversation_id,
            "messages": [wire(m.frame()) for m in history],
            "tags": tags.get(conversation_id, []),
        }
        if not blind:
            item["arm"] = arm_key
        out.append(item)
    if out:  # transcripts read outside the inbox are on record
        async with call.ctx.db.write() as conn:
            await record(
                conn,
                actor_of(call.request, call.me),
                "transcript.read",
                space_id=campaign.space_id,
                target_kind="campaign",
                target_id=campaign.id,
                target={"name": campaign.name, "phase": phase, "blind": blind,
                        "conversations": [item["conversation_id"] for item in out]},
            )  # fmt: skip
    return {
        "phase": phase,
        "blind": blind,
        "review_tags": await reviews.tags_of(call.ctx.db, campaign.space_id),
        "transcripts": out,
    }


async def tag_transcript(call: Call) -> dict[str, Any]:
    campaign = await _campaign(call)
    tags = await reviews.review(
        call.ctx.db,
        campaign,
        _phase(call, campaign),
        call.path("conversation_id"),
        call.me.id,
        call.body.tags,
    )
    return {"conversation_id": call.path("conversation_id"), "tags": tags}


_ID = "/api/campaigns/{campaign_id}"
_PHASE = Param("phase", "Which phase (default: the current one)", {"type": "integer"})
_ERR = (403, 404)

OPS = [
    Op(
        "POST",
        "/api/campaigns",
        create_campaign,
        "Create a campaign, as a draft (marketing, admin)",
        "campaigns",
        body=NewCampaign,
        response="Campaign",
        status=201,
        errors=(400, 403, 404),
        scopes=("campaigns:write",),
    ),
    Op(
        "GET",
        "/api/campaigns",
        list_campaigns,
        "The campaigns of my spaces, or of one",
        "campaigns",
        response="CampaignList",
        query=(Param("space", "A space's key"),),
        errors=_ERR,
        scopes=("campaigns:write", "metrics:read"),
    ),
    Op(
        "GET",
        _ID,
        get_campaign,
        "One campaign, with its versions and phases",
        "campaigns",
        response="CampaignDetail",
        errors=_ERR,
        scopes=("campaigns:write", "metrics:read"),
    ),
    Op(
        "PATCH",
        _ID,
        update_campaign,
        "Change a campaign (arms, holdout or rules once launched: a new phase)",
        "campaigns",
        body=CampaignChange,
        response="Campaign",
        errors=(400, 403, 404, 409),
        scopes=("campaigns:write",),
    ),
    Op(
        "POST",
        f"{_ID}/launch",
        launch_campaign,
        "Launch (or resume) a campaign: live now, or scheduled for its start",
        "campaigns",
        response="Campaign",
        errors=(403, 404, 409),
        scopes=("campaigns:write",),
    ),
    Op(
        "POST",
        f"{_ID}/pause",
        pause_campaign,
        "Pause a campaign: withdrawn from every widget",
        "campaigns",
        response="Campaign",
        errors=(403, 404, 409),
        scopes=("campaigns:write",),
    ),
    Op(
        "POST",
        f"{_ID}/kill",
        kill_campaign,
        "Kill switch: end a campaign for good, withdrawn from every widget",
        "campaigns",
        response="Campaign",
        errors=(403, 404, 409),
        scopes=("campaigns:write",),
    ),
    Op(
        "GET",
        f"{_ID}/results",
        get_results,
        "A phase's results per arm, with intervals, sequential test, SRM and verdict",
        "campaigns",
        response="CampaignResults",
        query=(
            _PHASE,
            Param("format", "csv for the table as CSV"),
            Param("series", "true: the cumulative figures over time too (what the charts draw)"),
        ),
        errors=(400, 403, 404),
        scopes=("campaigns:write", "metrics:read"),
    ),
    Op(
        "GET",
        "/api/review-tags",
        get_review_tags,
        "The space's transcript review tags",
        "campaigns",
        response="ReviewTags",
        query=(Param("space", "A space's key"),),
        errors=(400, 403, 404),
        scopes=SESSION_ONLY,
    ),
    Op(
        "PUT",
        "/api/review-tags",
        set_review_tags,
        "Replace the space's transcript review tags",
        "campaigns",
        body=ReviewTags,
        response="ReviewTags",
        query=(Param("space", "A space's key"),),
        errors=(400, 403, 404),
        scopes=SESSION_ONLY,
    ),
    Op(
        "GET",
        f"{_ID}/transcripts",
        list_transcripts,
        "A sample of an arm's conversations, or of every arm blind (arm hidden)",
        "campaigns",
        response="Transcripts",
        query=(
            _PHASE,
            Param("arm", "An arm's key"),
            Param("blind", "true: every arm mixed, the arm hidden"),
            Param("limit", "1 to 100 (20)", {"type": "integer"}),
        ),
        errors=(400, 403, 404),
        scopes=SESSION_ONLY,
    ),
    Op(
        "PUT",
        f"{_ID}/transcripts/{{conversation_id}}/tags",
        tag_transcript,
        "Tag one transcript of the campaign from the space's review tags",
        "campaigns",
        body=ReviewTags,
        response="TranscriptTags",
        query=(_PHASE,),
        errors=(400, 403, 404),
        scopes=SESSION_ONLY,
    ),
    Op(
        "GET",
        f"{_ID}/charts/{{chart}}",
        get_results_chart,
        "A results chart as SVG: rate (cumulative rate per arm) or lift (with its band)",
        "campaigns",
        query=(_PHASE,),
        errors=(400, 403, 404),
        scopes=("campaigns:write", "metrics:read"),
    ),
]
