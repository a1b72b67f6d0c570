"""What a webhook delivery says: the event types, the JSON body of each delivery (the same
bytes on every try), its minimal form, and the payload schemas the OpenAPI document lists
in its ``webhooks`` section.

A body is ``{"type", "timestamp", "data"}`` (the Standard Webhooks shape); ``data`` always
names the space by its key. In minimal mode ``data`` keeps identifiers, sequence numbers,
statuses and times only: no message body, no name, no email, no rating or comment.
"""

from __future__ import annotations

import json
from typing import Any

from chat.clock import iso
from chat.outbox import EVENT_TYPES, OutboxEvent

__all__ = ["DESCRIPTIONS", "EVENT_TYPES", "body", "data_of", "minimal", "webhooks_section"]

DESCRIPTIONS = {
    "message.created": "A message was stored (a visitor's, an agent's or the system's).",
    "conversation.created": "A visitor's first message opened a conversation.",
    "conversation.assigned": "A conversation was assigned, transferred, or put back in the "
    "queue (assignee_id null).",
    "conversation.status_changed": "A conversation was resolved or reopened.",
    "csat.submitted": "A visitor rated a resolved conversation.",
    "campaign.exposure": "Visitors were shown a campaign's arm (or held out). Batched: one "
    "delivery carries the exposures of about a second (at most 500), in the order they "
    "happened.",
    "goal.converted": "A visitor reached a campaign's goal within its attribution window.",
    "visitor.erased": "A visitor was erased (GDPR art. 17): named by the SHA-256 digest of its "
    "id that the audit trail keeps, never by an identifier.",
    "retention.completed": "A retention run finished for the space: its policy, cut-offs and "
    "the rows deleted per table.",
    "webhook.test": "Sent by POST /api/webhooks/{id}/test, to this endpoint only.",
}

# what minimal mode keeps of each type's data: a key with None keeps its value, a dict its
# keys named there (of each item, for a list)
Spec = dict[str, Any]
_CONVERSATION: Spec = {
    "conversation": {
        k: None
        for k in (
            "id",
            "visitor_id",
            "status",
            "assignee_id",
            "team_id",
            "created_at",
            "updated_at",
        )
    }
}
MINIMAL: dict[str, Spec] = {
    "message.created": {
        "conversation_id": None,
        "visitor_id": None,
        "message": {
            "id": None,
            "seq": None,
            "created_at": None,
            "author": {"kind": None, "id": None},
        },
    },
    "conversation.created": {**_CONVERSATION, "visitor": {"id": None}},
    "conversation.assigned": _CONVERSATION,
    "conversation.status_changed": _CONVERSATION,
    "csat.submitted": {"conversation_id": None, "visitor_id": None, "agent_id": None, "at": None},
    "campaign.exposure": {
        "exposures": {k: None for k in ("campaign_id", "phase", "arm", "visitor_id", "at")}
    },
    "goal.converted": {
        k: None for k in ("campaign_id", "phase", "goal", "arm", "visitor_id", "at")
    },
    "visitor.erased": {"visitor_digest": None, "held": None},
    "retention.completed": {"policy": None, "cutoffs": None, "counts": None},
    "webhook.test": {"endpoint_id": None, "message": None},
}


def _pick(value: Any, spec: Spec) -> Any:
    if isinstance(value, list):
        return [_pick(v, spec) for v in value]
    if not isinstance(value, dict):
        return value
    return {
        k: value[k] if sub is None else _pick(value[k], sub)
        for k, sub in spec.items()
        if k in value
    }


def minimal(type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The data of minimal mode: identifiers, sequence numbers, statuses and times."""
    picked = _pick(data, MINIMAL.get(type, {}))
    return picked if isinstance(picked, dict) else {}


def data_of(event: OutboxEvent, members: list[OutboxEvent] | None = None) -> dict[str, Any]:
    """An event's data as stored; a batch of exposures, from the exposures it carries (those
    an erasure has deleted since are left out)."""
    if event.type == "campaign.exposure":
        if "batch" in event.payload:
            return {"exposures": [m.payload for m in members or ()]}
        return {"exposures": [event.payload]}  # one exposure, named by its own id
    return dict(event.payload)


def body(event: OutboxEvent, data: dict[str, Any], space_key: str, *, is_minimal: bool) -> bytes:
    shaped = minimal(event.type, data) if is_minimal else data
    envelope = {
        "type": event.type,
        "timestamp": iso(event.created_at),
        "data": {"space": space_key, **shaped},
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


# -- the payload schemas (OpenAPI 3.1 ``webhooks``) ---------------------------------------------

_str = {"type": "string"}
_nstr = {"type": ["string", "null"]}
_int = {"type": "integer"}
_time = {"type": "string", "format": "date-time"}


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


_CONV_SCHEMA = _obj(
    {
        "id": _str,
        "visitor_id": _str,
        "status": {"type": "string", "enum": ["open", "resolved"]},
        "assignee_id": {**_nstr, "description": "null: waiting in the queue"},
        "team_id": _nstr,
        "created_at": _time,
        "updated_at": _time,
    },
    ["id", "visitor_id", "status", "assignee_id", "team_id", "created_at", "updated_at"],
)
_PERSONAL = " (not in minimal mode)"
DATA: dict[str, dict[str, Any]] = {
    "message.created": _obj(
        {
            "conversation_id": _str,
            "visitor_id": _str,
            "message": _obj(
                {
                    "id": _str,
                    "seq": {**_int, "description": "its place in the conversation, from 1"},
                    "client_id": {
                        **_str,
                        "description": "the sender's idempotency key" + _PERSONAL,
                    },
                    "author": _obj(
                        {
                            "kind": {"type": "string", "enum": ["visitor", "agent", "system"]},
                            "id": _nstr,
                            "name": {**_nstr, "description": "not in minimal mode"},
                        },
                        ["kind", "id"],
                    ),
                    "body": {**_str, "description": "the text" + _PERSONAL},
                    "created_at": _time,
                },
                ["id", "seq", "author", "created_at"],
            ),
        },
        ["conversation_id", "visitor_id", "message"],
    ),
    "conversation.created": _obj(
        {
            "conversation": _CONV_SCHEMA,
            "visitor": _obj(
                {
                    "id": _str,
                    "name": {**_nstr, "description": "not in minimal mode"},
                    "email": {**_nstr, "description": "not in minimal mode"},
                },
                ["id"],
            ),
        },
        ["conversation", "visitor"],
    ),
    "conversation.assigned": _obj({"conversation": _CONV_SCHEMA}, ["conversation"]),
    "conversation.status_changed": _obj({"conversation": _CONV_SCHEMA}, ["conversation"]),
    "csat.submitted": _obj(
        {
            "conversation_id": _str,
            "visitor_id": _str,
            "agent_id": {**_nstr, "description": "the last agent who replied"},
            "score": {**_int, "minimum": 1, "maximum": 5, "description": "not in minimal mode"},
            "comment": {**_nstr, "description": "not in minimal mode"},
            "at": _time,
        },
        ["conversation_id", "visitor_id", "agent_id", "at"],
    ),
    "campaign.exposure": _obj(
        {
            "exposures": {
                "type": "array",
                "items": _obj(
                    {
                        "campaign_id": _str,
                        "phase": _int,
                        "arm": {**_str, "description": "holdout for the held-out visitors"},
                        "visitor_id": _str,
                        "at": _time,
                    },
                    ["campaign_id", "phase", "arm", "visitor_id", "at"],
                ),
            }
        },
        ["exposures"],
    ),
    "goal.converted": _obj(
        {
            "campaign_id": _str,
            "phase": _int,
            "goal": {**_int, "description": "0: the main goal; 1 and up: the secondary goals"},
            "arm": _str,
            "visitor_id": _str,
            "at": _time,
        },
        ["campaign_id", "phase", "goal", "arm", "visitor_id", "at"],
    ),
    "visitor.erased": _obj(
        {
            "visitor_digest": {
                "type": "string",
                "pattern": "^sha256:[0-9a-f]{64}$",
                "description": "SHA-256 of the visitor id, as the audit entry keeps it",
            },
            "counts": {
                "type": "object",
                "additionalProperties": _int,
                "description": "rows deleted per table" + _PERSONAL,
            },
            "held": {"type": "boolean", "description": "part of it was kept by a legal hold"},
        },
        ["visitor_digest", "held"],
    ),
    "retention.completed": _obj(
        {
            "policy": {"type": "object", "additionalProperties": _str},
            "cutoffs": {"type": "object", "additionalProperties": _time},
            "counts": {"type": "object", "additionalProperties": _int},
        },
        ["policy", "cutoffs", "counts"],
    ),
    "webhook.test": _obj({"endpoint_id": _str, "message": _str}, ["endpoint_id", "message"]),
}


def envelope_schema(type: str) -> dict[str, Any]:
    data = DATA[type]
    return _obj(
        {
            "type": {"const": type},
            "timestamp": {**_time, "description": "when it happened"},
            "data": {
                **data,
                "properties": {
                    "space": {**_str, "description": "the space's key"},
                    **data["properties"],
                },
                "required": ["space", *data["required"]],
            },
        },
        ["type", "timestamp", "data"],
    )


_HEADERS = [
    ("webhook-id", "the event's id (evt_...): the same on every try and redelivery"),
    ("webhook-timestamp", "when this try was signed, in Unix seconds"),
    (
        "webhook-signature",
        "v1,<base64 HMAC-SHA256 of id.timestamp.body>, space-separated: two during the day "
        "after a secret's rotation",
    ),
    ("causette-request-id", "the request id of what caused the event, when there was one"),
]


def webhooks_section() -> dict[str, Any]:
    """The ``webhooks`` object of the OpenAPI 3.1 document: one POST per event type."""
    out: dict[str, Any] = {}
    for type in EVENT_TYPES:
        out[type] = {
            "post": {
                "operationId": "webhook_" + type.replace(".", "_"),
                "summary": type,
                "description": DESCRIPTIONS[type],
                "tags": ["webhooks"],
                "parameters": [
                    {
                        "name": name,
                        "in": "header",
                        "required": name != "causette-request-id",
                        "description": text,
                        "schema": {"type": "string"},
                    }
                    for name, text in _HEADERS
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": envelope_schema(type)}},
                },
                "responses": {
                    "2XX": {"description": "Received: any 2xx ends the delivery"},
                    "410": {"description": "Gone: the endpoint is disabled, nothing more is sent"},
                    "default": {
                        "description": "Anything else (or no answer in time): tried again later, "
                        "after Retry-After when the answer has one"
                    },
                },
            }
        }
    return out
