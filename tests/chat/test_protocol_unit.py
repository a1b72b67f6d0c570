"""The socket edge in isolation: ``parse_client_frame`` is strict (no coercion), says which
field is wrong, and ties the error to the client_id when there is one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat.errors import BodyTooLong, EmptyBody, FrameError, InvalidFrame, InvalidJSON, UnknownType
from chat.protocol import Hello, History, MessageIn, normalize_client_id, parse_client_frame

CID = "0b6f3c2e-6a57-4c38-9a6e-2f1d9b7e4a10"


def parse(frame: Any) -> Any:
    text = frame if isinstance(frame, (str, bytes)) else json.dumps(frame)
    return parse_client_frame(text, max_body_chars=4000)


def test_a_message_parses_into_its_typed_frame() -> None:
    frame = parse({"type": "message", "client_id": CID, "body": "hi", "extra": [1]})
    assert isinstance(frame, MessageIn)
    assert (frame.client_id, frame.body, frame.conversation_id) == (CID, "hi", None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", 5),
        ("body", 5.0),
        ("body", True),
        ("body", None),
        ("body", {"text": "hi"}),
        ("conversation_id", 7),
        ("conversation_id", ""),
        ("conversation_id", "x" * 37),
        ("client_id", 123),
        ("client_id", CID + "0"),
        ("client_id", CID[:-1]),
        ("client_id", "zzzzzzzz-6a57-4c38-9a6e-2f1d9b7e4a10"),
        ("client_id", CID + "\n"),
    ],
)
def test_message_fields_are_not_coerced(field: str, value: Any) -> None:
    frame = {"type": "message", "client_id": CID, "body": "hi", field: value}
    with pytest.raises(InvalidFrame) as info:
        parse(frame)
    assert field in info.value.message
    expected_ref = value if field == "client_id" and isinstance(value, str) else CID
    if field == "client_id" and not isinstance(value, str):
        expected_ref = None
    assert info.value.ref == expected_ref


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "history", "conversation_id": CID, "limit": "10"},
        {"type": "history", "conversation_id": CID, "limit": 10.0},
        {"type": "history", "conversation_id": CID, "limit": True},
        {"type": "history", "conversation_id": CID, "limit": 0},
        {"type": "history", "conversation_id": CID, "limit": 201},
        {"type": "history", "conversation_id": CID, "before_seq": -1},
        {"type": "history", "conversation_id": CID, "before_seq": 2**31},
        {"type": "hello", "token": "t", "resume": {CID: "3"}},
        {"type": "hello", "token": "t", "resume": {CID: True}},
        {"type": "hello", "token": "t", "resume": {CID: -1}},
        {"type": "hello", "token": "t", "resume": [CID]},
        {"type": "hello", "token": ""},
        {"type": "hello"},
    ],
)
def test_numbers_and_containers_are_strict(frame: dict[str, Any]) -> None:
    with pytest.raises(InvalidFrame):
        parse(frame)


def test_resume_and_history_parse() -> None:
    hello = parse({"type": "hello", "token": "t", "resume": {CID: 3}})
    assert isinstance(hello, Hello) and hello.resume == {CID: 3}
    history = parse({"type": "history", "conversation_id": CID, "before_seq": 2**31 - 1})
    assert isinstance(history, History) and history.limit == 50


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", InvalidJSON),
        ("{", InvalidJSON),
        (b"\xff\xfe", InvalidJSON),
        ("[]", InvalidJSON),
        ("1", InvalidJSON),
        ('{"type": "nope"}', UnknownType),
        ('{"type": ["message"]}', UnknownType),
        ("{}", UnknownType),
    ],
)
def test_not_a_frame(text: str | bytes, error: type[FrameError]) -> None:
    with pytest.raises(error):
        parse(text)


def test_bodies_empty_blank_and_too_long() -> None:
    for body in ("", " ", "\n\t ", "\u2003\u00a0"):
        with pytest.raises(EmptyBody) as empty:
            parse({"type": "message", "client_id": CID, "body": body})
        assert empty.value.ref == CID and empty.value.code == "empty_body"
    assert parse({"type": "message", "client_id": CID, "body": "x" * 4000}).body == "x" * 4000
    with pytest.raises(BodyTooLong) as long:
        parse({"type": "message", "client_id": CID, "body": "x" * 4001})
    assert long.value.code == "body_too_long" and long.value.ref == CID


def test_client_ids_have_one_spelling() -> None:
    spellings = [CID, CID.upper(), CID.replace("-", ""), CID.upper().replace("-", "")]
    assert {normalize_client_id(parse_ok(c)) for c in spellings} == {CID}


def parse_ok(client_id: str) -> str:
    frame = parse({"type": "message", "client_id": client_id, "body": "hi"})
    assert isinstance(frame, MessageIn)
    return frame.client_id
