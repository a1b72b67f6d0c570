"""``GET /api/exports/{table}``: the analytics export of one space, streamed as the command
line writes it (agents/exports.py), redacted unless an admin asks ``raw=true`` (logged).

Admins and marketing agents only; another space is "not found", as one that does not exist.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import StreamingResponse

from agents.exports import TABLES, Export, stream
from agents.privacy import actor_of
from agents.rest import Call, Op, Param
from agents.teams import space_id_of
from chat.audit import record
from chat.clock import parse_iso
from chat.errors import InvalidRequest, NotAllowed, NotFound
from chat.logging import get_logger

__all__ = ["OPS"]

log = get_logger("causette.export")

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}


def _time(call: Call, name: str) -> Any:
    raw = call.query(name)
    if raw is None:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise InvalidRequest(
            f"{name}: an ISO 8601 time with its zone (2026-12-01T00:00:00Z)"
        ) from None


async def get_export(call: Call) -> StreamingResponse:
    if call.me.role not in ("admin", "marketing"):
        raise NotAllowed("Exports are for admin and marketing agents.")
    table = call.path("table")
    if table not in TABLES:
        raise NotFound(f"No such table: {', '.join(TABLES)}.", code="table_not_found")
    fmt = call.query("format", "csv") or "csv"
    if fmt not in MEDIA:
        raise InvalidRequest("format: csv, jsonl or parquet")
    key = call.query("space")
    if not key:
        raise InvalidRequest("space: a space's key is required")
    space_id_of(call.me, key)  # not one of the agent's: not found
    redact = call.query("redact", "mask") or "mask"
    if redact not in ("mask", "hash", "drop"):
        raise InvalidRequest("redact: mask, hash or drop")
    raw = call.query("raw", "false") in ("true", "1", "yes")
    if raw and call.me.role != "admin":
        raise NotAllowed("Only an admin may export raw text.")
    since, until = _time(call, "since"), _time(call, "until")
    if since and until and since >= until:
        raise InvalidRequest("since must be before until")
    job = Export(table=table, space=key, since=since, until=until, redact=redact, raw=raw)  # type: ignore[arg-type]
    if raw:
        log.warning("export_raw", agent_id=call.me.id, table=table, space=key)
        async with call.ctx.db.write() as conn:
            await record(
                conn,
                actor_of(call.request, call.me),
                "export.raw",
                space_id=space_id_of(call.me, key),
                target_kind="table",
                target_id=table,
                target={"format": fmt, "since": since, "until": until},
            )
    else:
        log.info("export", agent_id=call.me.id, table=table, space=key, redaction=redact)
    name = f"{table}-{key}.{fmt}"
    return StreamingResponse(
        stream(call.ctx.db, job, fmt),  # type: ignore[arg-type]
        media_type=MEDIA[fmt],
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "x-causette-schema-version": job.schema().metadata[b"causette.schema_version"].decode(),
            "x-causette-redaction": "raw" if raw else redact,
        },
    )


OPS = [
    Op(
        "GET",
        "/api/exports/{table}",
        get_export,
        "Stream a table of one space (messages, conversations, exposures, goal_events), redacted",
        "exports",
        query=(
            Param("space", "A space's key"),
            Param("format", "csv (default), jsonl or parquet"),
            Param("since", "From this time, ISO 8601 (inclusive)"),
            Param("until", "Up to this time, ISO 8601 (exclusive)"),
            Param("redact", "mask (default), hash or drop"),
            Param("raw", "true: no redaction (admins only; logged)"),
        ),
        errors=(400, 403, 404),
        scopes=("exports:read",),
    )
]
