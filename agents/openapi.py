"""``GET /api/openapi.json``: the console's REST API as OpenAPI 3.1, made from the same table
of operations that makes the routes (agents/rest.py), with the shapes of what they return,
and for each operation how it is called: the cookie session, and an API key with which
scopes (``security``, and ``x-scopes``: any one of them)."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from agents.rest import Op
from agents.scopes import SCOPES, describe
from agents.webhooks.events import webhooks_section
from agents.webhooks.rest import SCHEMAS as WEBHOOK_SCHEMAS
from chat.types import ROLES

__all__ = ["document", "openapi_endpoint"]

_PATH_PARAM = re.compile(r"{([a-z_]+)}")

_STATUS_TEXT = {
    400: "Invalid request",
    401: "Not signed in, wrong email or password, or an unknown, expired or revoked API key",
    403: "Not allowed (role, team, CSRF, or an API key without the scope: missing_scope)",
    404: "Not found (or not in your spaces: the same answer)",
    409: "Conflict with the current state",
    415: "Not JSON",
    423: "Account locked after too many failed sign-ins",
    429: "Too many requests: wait for Retry-After seconds",
}

_str = {"type": "string"}
_nstr = {"type": ["string", "null"]}
_int = {"type": "integer"}
_time = {"type": "string", "format": "date-time"}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required or list(props)}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(key: str, item: str) -> dict[str, Any]:
    return _obj({key: {"type": "array", "items": _ref(item)}})


_num = {"type": "number"}
_nnum = {"type": ["number", "null"]}
_pair = {"type": ["array", "null"], "items": _nnum, "minItems": 2, "maxItems": 2}
_json = {"type": "object"}

_CAMPAIGN = _obj(
    {
        "id": _str,
        "space": _str,
        "name": _str,
        "status": {"type": "string", "enum": ["draft", "scheduled", "live", "paused", "ended"]},
        "priority": _int,
        "starts_at": {"type": ["string", "null"], "format": "date-time"},
        "ends_at": {"type": ["string", "null"], "format": "date-time"},
        "phase": {**_int, "description": "0 until launched; a new one per change once launched"},
        "version": _int,
        "arms": {
            "type": "array",
            "items": _obj(
                {
                    "key": _str,
                    "weight": _num,
                    "message": _str,
                    "buttons": {"type": "array", "items": _str},
                    "sender": _nstr,
                }
            ),
        },
        "holdout": {**_num, "description": "the holdout's share of all visitors"},
        "rules": {**_json, "description": "a rule tree: see docs/experiments.md"},
        "goal": _json,
        "secondary_goals": {"type": "array", "items": _json},
        "caps": _json,
        "created_at": _time,
        "updated_at": _time,
    }
)

_CSAT_FIGURES = {
    "asked": {**_int, "description": "resolved conversations in which an agent replied"},
    "ratings": _int,
    "response_rate": _nnum,
    "score": {**_nnum, "description": "share of ratings of 4 or 5"},
    "mean": _nnum,
}

# what analyse() gives for 97 of 1,210 (holdout, 10 %), 502 of 5,410 (a) and 611 of 5,380 (b):
# tests/agents/test_campaigns_api.py computes it again
RESULTS_EXAMPLE: dict[str, Any] = {
    "campaign_id": "3f0c3c9e-7d0b-4a47-9a57-2b9c1c5b8e11",
    "phase": 1,
    "control": "holdout",
    "arms": [
        {
            "key": "holdout",
            "exposed": 1210,
            "converted": 97,
            "rate": 0.080165,
            "ci": [0.06616, 0.096828],
            "metrics": {
                "event checkout": {"converted": 97, "rate": 0.080165, "ci": [0.06616, 0.096828]}
            },
        },
        {
            "key": "a",
            "exposed": 5410,
            "converted": 502,
            "rate": 0.092791,
            "ci": [0.085346, 0.100814],
            "metrics": {
                "event checkout": {"converted": 502, "rate": 0.092791, "ci": [0.085346, 0.100814]}
            },
        },
        {
            "key": "b",
            "exposed": 5380,
            "converted": 611,
            "rate": 0.113569,
            "ci": [0.105365, 0.122324],
            "metrics": {
                "event checkout": {"converted": 611, "rate": 0.113569, "ci": [0.105365, 0.122324]}
            },
        },
    ],
    "lift": [
        {
            "arm": "a",
            "metric": "event checkout",
            "control": "holdout",
            "absolute": 0.012626,
            "absolute_ci": [-0.005624, 0.028766],
            "relative": 0.157498,
            "relative_ci": [-0.060112, 0.42549],
            "sequential_ci": [-0.013957, 0.039209],
            "p_value": 1.0,
            "p_adjusted": 1.0,
            "significant": False,
        },
        {
            "arm": "b",
            "metric": "event checkout",
            "control": "holdout",
            "absolute": 0.033403,
            "absolute_ci": [0.014831, 0.04992],
            "relative": 0.416683,
            "relative_ci": [0.154164, 0.738912],
            "sequential_ci": [0.00628, 0.060527],
            "p_value": 0.005665,
            "p_adjusted": 0.01133,
            "significant": True,
        },
    ],
    "srm": {"chi2": 0.1759, "dof": 2, "p_value": 0.9158, "warn": False, "flag": False},
    "verdict": {
        "code": "better",
        "arm": "b",
        "text": "b is better than holdout: +3.3 points (95 % always-valid interval +0.6 to +6.1).",
        "warn": None,
    },
    "method": {
        "rate_interval": "Wilson score, 95 %",
        "lift_interval": "Newcombe hybrid score",
        "relative_interval": "log risk ratio, delta method (Katz)",
        "sequential": (
            "asymptotic confidence sequence (Waudby-Smith et al. 2023), N* = 5000, alpha = 0.05"
        ),
        "srm": "Pearson chi-square, warn p < 0.01, flag p < 0.001",
        "multiple_comparisons": "Benjamini-Hochberg across arms x metrics",
        "minimum": "100 exposed and 25 conversions per arm",
    },
}

CAMPAIGN_SCHEMAS: dict[str, Any] = {
    "Report": _obj(
        {
            "report": _str,
            "space": _str,
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "time_zone": _str,
            "group": {"type": ["string", "null"]},
            "by": {"type": ["string", "null"]},
            "scope": {**_str, "description": "space, or mine for a relation agent"},
            "total": {
                **_json,
                "description": "the figures of the whole range (see docs/reports.md); "
                "durations in seconds as median_s, p90_s, mean_s and _bh within business hours",
            },
            "rows": {
                "type": "array",
                "items": {
                    **_obj({"period": _nstr, "key": _nstr}),
                    "additionalProperties": True,
                },
            },
        }
    ),
    "CsatReport": _obj(
        {
            "space": _str,
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "overall": _obj(_CSAT_FIGURES),
            "agents": {
                "type": "array",
                "items": _obj({"agent_id": _str, "name": _nstr, **_CSAT_FIGURES}),
            },
            "teams": {
                "type": "array",
                "items": _obj({"team_id": _str, "name": _nstr, **_CSAT_FIGURES}),
            },
        },
        ["space", "from", "to", "agents"],
    ),
    "ReviewTags": _obj({"space": _str, "tags": {"type": "array", "items": _str}}),
    "TranscriptTags": _obj({"conversation_id": _str, "tags": {"type": "array", "items": _str}}),
    "Transcripts": _obj(
        {
            "phase": _int,
            "blind": {"type": "boolean"},
            "review_tags": {"type": "array", "items": _str},
            "transcripts": {
                "type": "array",
                "items": _obj(
                    {
                        "conversation_id": _str,
                        "arm": {**_str, "description": "absent in blind review"},
                        "messages": {"type": "array", "items": _ref("Message")},
                        "tags": {"type": "array", "items": _str},
                    },
                    ["conversation_id", "messages", "tags"],
                ),
            },
        }
    ),
    "Campaign": _CAMPAIGN,
    "CampaignList": _list("campaigns", "Campaign"),
    "CampaignDetail": {
        "allOf": [
            _ref("Campaign"),
            _obj(
                {
                    "versions": {
                        "type": "array",
                        "items": _obj(
                            {
                                "version": _int,
                                "phase": _int,
                                "agent_id": _nstr,
                                "at": _time,
                                "action": _str,
                                "changes": _json,
                            }
                        ),
                    },
                    "phases": {"type": "array", "items": _json},
                }
            ),
        ]
    },
    "CampaignResults": _obj(
        {
            "campaign_id": _str,
            "phase": _int,
            "control": {**_str, "description": "holdout, or the first arm without one"},
            "arms": {
                "type": "array",
                "items": _obj(
                    {
                        "key": _str,
                        "exposed": _int,
                        "converted": _int,
                        "rate": _nnum,
                        "ci": _pair,
                    }
                ),
            },
            "lift": {"type": "array", "items": _json},
            "srm": _obj(
                {"p_value": _num, "warn": {"type": "boolean"}, "flag": {"type": "boolean"}},
                ["p_value", "warn", "flag"],
            ),
            "method": _json,
            "verdict": _obj({"code": _str, "text": _str}, ["code", "text"]),
            "goals": {"type": "array", "items": _json},
            "series": _json,
        },
        ["phase", "arms", "lift", "srm", "method", "verdict"],
    )
    | {"examples": [RESULTS_EXAMPLE]},
}

_API_KEY = {
    "id": _str,
    "name": _str,
    "space": _str,
    "scopes": {"type": "array", "items": {"type": "string", "enum": list(SCOPES)}},
    "created_at": _time,
    "created_by": _nstr,
    "expires_at": _time,
    "last_used_at": {"type": ["string", "null"], "format": "date-time"},
    "last_used_ip": _nstr,
    "revoked_at": {"type": ["string", "null"], "format": "date-time"},
    "status": {"type": "string", "enum": ["active", "expired", "revoked"]},
}

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": _obj({"code": _str, "message": _str})}),
    "ApiKey": _obj(_API_KEY),
    "ApiKeyList": _list("keys", "ApiKey"),
    "NewApiKey": _obj(
        {
            **_API_KEY,
            "key": {**_str, "description": "the key (cst_...), in this answer only: keep it"},
        }
    ),
    "Session": _obj(
        {
            "agent": _obj({"id": _str, "name": _str, "email": _str, "role": _str}),
            "spaces": {"type": "array", "items": _obj({"id": _str, "key": _str})},
            "teams": {"type": "array", "items": _str},
            "views": {"type": "array", "items": _str},
            "csrf_token": {**_str, "description": "send it as X-CSRF-Token"},
            "ws_token": {**_str, "description": "the hello token of /ws/agent"},
            "max_body": _int,
        }
    ),
    "Setup": _obj({"has_agents": {"type": "boolean", "description": "false on a first run"}}),
    "Space": _obj({"id": _str, "key": _str, "name": _str}),
    "SpaceList": _list("spaces", "Space"),
    "Agent": _obj(
        {
            "id": _str,
            "name": _str,
            "email": {**_str, "description": "to admins and to the agent itself"},
            "role": {"type": "string", "enum": list(ROLES)},
            "status": {"type": "string", "enum": ["online", "away", "offline"]},
            "spaces": {"type": "array", "items": _str},
            "teams": {"type": "array", "items": _str},
            "max_chats": _int,
            "open_chats": _int,
        },
        ["id", "name", "role", "status", "spaces", "teams", "max_chats", "open_chats"],
    ),
    "AgentList": _list("agents", "Agent"),
    "Team": _obj(
        {
            "id": _str,
            "space": _str,
            "space_id": _str,
            "name": _str,
            "members": {"type": "array", "items": _str},
            "created_at": _time,
        }
    ),
    "TeamList": _list("teams", "Team"),
    "Canned": _obj(
        {
            "id": _str,
            "space": _str,
            "team_id": _nstr,
            "shortcut": _str,
            "body": _str,
            "updated_at": _time,
        }
    ),
    "CannedList": _list("canned", "Canned"),
    "Counts": _obj({"counts": {"type": "object", "additionalProperties": _int}}),
    "InboxEntry": _obj(
        {
            "id": _str,
            "space": _str,
            "space_id": _str,
            "status": {"type": "string", "enum": ["open", "resolved"]},
            "visitor": _obj({"id": _str, "name": _nstr, "email": _nstr, "external_id": _nstr}),
            "assignee_id": _nstr,
            "team_id": _nstr,
            "tags": {"type": "array", "items": _str},
            "last_seq": _int,
            "unread": _int,
            "last_message": {
                "oneOf": [
                    {"type": "null"},
                    _obj({"body": _str, "author_kind": _str, "created_at": _time}),
                ]
            },
            "created_at": _time,
            "updated_at": _time,
            "campaign": {
                "description": "the proactive campaign whose invitation the visitor answered",
                "oneOf": [{"type": "null"}, _obj({"id": _str, "phase": _int, "arm": _str})],
            },
        }
    ),
    "ConversationList": _list("conversations", "InboxEntry"),
    "Message": _obj(
        {
            "type": {"const": "message"},
            "conversation_id": _str,
            "seq": _int,
            "id": _str,
            "client_id": _str,
            "author": _obj({"kind": _str, "id": _nstr, "name": _nstr}),
            "body": _str,
            "created_at": _time,
        }
    ),
    "Note": _obj(
        {
            "id": _str,
            "conversation_id": _str,
            "author": _obj({"kind": _str, "id": _nstr, "name": _nstr}),
            "body": _str,
            "created_at": _time,
        }
    ),
    "Tags": _obj(
        {
            "type": {"const": "tags"},
            "conversation_id": _str,
            "tags": {"type": "array", "items": _str},
        }
    ),
    "ConversationDetail": _obj(
        {
            "conversation": _ref("InboxEntry"),
            "visitor": {
                "type": "object",
                "description": "id, name, email, external_id, attributes, context",
            },
            "messages": {"type": "array", "items": _ref("Message")},
            "notes": {"type": "array", "items": _ref("Note")},
            "reads": {
                "type": "array",
                "items": _obj(
                    {"reader": _obj({"kind": _str, "id": _str}), "seq": _int, "at": _time}
                ),
            },
            "campaign": {
                "description": "the campaign whose invitation opened the conversation",
                "oneOf": [
                    {"type": "null"},
                    _obj({"id": _str, "name": _nstr, "phase": _int, "arm": _str}),
                ],
            },
            "csat": {
                "description": "the visitor's rating, once given",
                "oneOf": [
                    {"type": "null"},
                    _obj(
                        {"score": _int, "comment": _nstr, "at": _time, "agent_id": _nstr},
                        ["score", "comment", "at"],
                    ),
                ],
            },
            "email": {
                "description": "the latest email of agent replies to the visitor (when SMTP "
                "is configured and the visitor left an address): pending, sent, or failed "
                "(refused, or out of tries; error says why)",
                "oneOf": [
                    {"type": "null"},
                    _obj(
                        {
                            "status": {"type": "string", "enum": ["pending", "sent", "failed"]},
                            "due_at": {"type": ["string", "null"], "format": "date-time"},
                            "sent_at": {"type": ["string", "null"], "format": "date-time"},
                            "attempts": _int,
                            "error": _nstr,
                            "updated_at": _time,
                        }
                    ),
                ],
            },
        }
    ),
    **CAMPAIGN_SCHEMAS,
    **WEBHOOK_SCHEMAS,
}


def _operation(op: Op) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(op.path)
    ]
    params += [
        {
            "name": p.name,
            "in": "query",
            "required": False,
            "description": p.description,
            "schema": p.schema,
        }
        for p in op.query
    ]
    if op.changes_state and op.signed_in:
        params.append(
            {
                "name": "X-CSRF-Token",
                "in": "header",
                "required": not op.scopes,
                "description": "csrf_token of GET /api/session, with the session cookie "
                "(never with an API key)",
                "schema": {"type": "string"},
            }
        )
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.body.model_json_schema()}},
        }
    ok: dict[str, Any] = {"description": "Done" if op.status == 204 else "OK"}
    if op.response is not None and op.status != 204:
        ok["content"] = {"application/json": {"schema": _ref(op.response)}}
    responses: dict[str, Any] = {str(op.status): ok}
    codes = set(op.errors) | ({401, 403} if op.signed_in else set())
    if op.body is not None:
        codes |= {400, 415}
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _STATUS_TEXT[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    out["responses"] = responses
    scopes = list(op.scopes or ()) if op.signed_in else []
    out["security"] = (
        [{"cookieSession": []}, *({"bearerAuth": [s]} for s in scopes)] if op.signed_in else []
    )
    out["x-scopes"] = scopes  # any one lets an API key in; none: the cookie session only
    return out


def document(ops: list[Op], version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "causette console API",
            "version": version,
            "description": (
                "What the agent console uses. Sign in with POST /api/session: the session is "
                "an HttpOnly cookie; calls that change state also send X-CSRF-Token. Messages "
                "go over the /ws/agent WebSocket with the session's ws_token. A server calls "
                "it with an API key of a space instead (Authorization: Bearer cst_..., no "
                "cookie, no CSRF token), on the operations one of the key's scopes allows "
                "(x-scopes): see docs/integrations.md."
            ),
            "x-scopes": {s: describe(s) for s in SCOPES},
        },
        "paths": paths,
        "webhooks": webhooks_section(),  # what a space's webhooks receive (docs/integrations.md)
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "cookieSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "causette_session",
                    "description": "the console's sign-in (POST /api/session); "
                    "__Host-causette_session over https",
                },
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "cst_ followed by 43 characters",
                    "description": "an API key of a space (POST /api/keys, causette key "
                    "create); the scopes each operation accepts are in its security",
                },
            },
        },
        "security": [{"cookieSession": []}],
    }


def openapi_endpoint(ops: list[Op], version: str) -> Any:
    doc = document(ops, version)

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(doc)

    return openapi_json
