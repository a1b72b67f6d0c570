"""docs/protocol.md is exact: every JSON example in it parses as the frame it illustrates,
with every field of that frame and no other (chat/frames.py for the server's, chat/protocol.py
for the client's), and every server line of the bad-input table is a valid error frame."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from chat.errors import CausetteError
from chat.frames import ErrorFrame, parse_server_frame, wire
from chat.protocol import parse_client_frame

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _blocks() -> list[str]:
    return re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.S)


def _objects() -> list[dict[str, Any]]:
    out = []
    for block in _blocks():
        for line in block.splitlines():
            if line.strip():
                out.append(json.loads(line))
    return out


def _as_frame(example: dict[str, Any]) -> object:
    """The frame an example is: a server frame, or a client frame; raise if neither."""
    try:
        return parse_server_frame(example)
    except ValueError as server_error:
        try:
            return parse_client_frame(json.dumps(example), max_body_chars=4000)
        except CausetteError as client_error:
            raise AssertionError(f"{example}: {server_error}; {client_error.message}") from None


def test_every_json_example_is_a_frame_or_an_error_envelope() -> None:
    examples = _objects()
    assert len(examples) >= 30
    kinds = set()
    for example in examples:
        if "error" in example:  # an HTTP answer
            assert set(example) == {"error"} and set(example["error"]) == {"code", "message"}
            continue
        frame = _as_frame(example)
        kinds.add(type(frame).__name__)
        if not hasattr(frame, "model_dump"):  # a server frame: it serializes back to the example
            assert wire(frame) == example
    # the document shows every frame of both sides
    assert {"VisitorWelcome", "AgentWelcome", "Ack", "MessageFrame", "HistoryFrame"} <= kinds
    assert {"ConversationState", "PresenceFrame", "ReadFrame", "TrackFrame", "Pong"} <= kinds
    assert {"Hello", "MessageIn", "Context", "Identify", "Attributes", "Track"} <= kinds
    assert {"CampaignOffer", "CampaignWithdrawn", "CsatFrame", "Exposure", "Csat"} <= kinds


def test_every_server_line_of_the_exchanges_is_an_error_frame() -> None:
    lines = [ln[2:] for ln in DOC.read_text().splitlines() if ln.startswith("< {")]
    assert len(lines) >= 20
    for line in lines:
        frame = parse_server_frame(json.loads(line.split("  ")[0]))
        assert isinstance(frame, ErrorFrame), line
